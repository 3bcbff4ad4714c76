"""Notebook 06 under papermill (three seeds of the cached sweep): the numbers it records, and its logic.

Timings are recorded by the notebook but never asserted here (see tools/bench_nb06.py).
"""

from pathlib import Path

import pytest

from distill_lib.compression import best_within_budget, load_sweep, smallest_within
from tools.notebook_runner import execute_notebook  # the repository root is on sys.path (root conftest.py)

NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "06_compression_pipeline.ipynb"
SMALL = dict(n_seeds=3, timing_repeats=3)


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """Run the notebook once for all the tests below."""
    out = tmp_path_factory.mktemp("nb06") / "06_compression_pipeline.ipynb"
    seconds, values = execute_notebook(NOTEBOOK, out, SMALL)
    values["_seconds"] = seconds
    return values


@pytest.mark.notebook
def test_the_live_run_is_the_cached_run(results):
    assert results["live_matches_cache"] is True
    assert min(results["live_agreement"]) >= 358 and len(results["live_agreement"]) >= 7  # every snapshot


@pytest.mark.notebook
def test_every_stage_is_a_real_file_that_reads_back(results):
    assert all(results["files_identical"].values())
    sizes = [size for _, size in results["file_bytes"]]  # teacher, student, units removed, pruned, codes, Huffman
    assert sizes[0] == results["teacher_bytes"] > 4 * 85_002  # the teacher: every float32 parameter and a header
    assert sizes == sorted(sizes, reverse=True) and len(set(sizes)) == len(sizes)  # each stage smaller
    for stream, symbols, width, entropy, mean in results["huffman"]:
        assert entropy <= mean < entropy + 1 and mean <= width, (stream, entropy, mean)


@pytest.mark.notebook
def test_the_choices_follow_the_validation_rules(results, teacher, split):
    sweep = load_sweep(teacher, split)
    chosen = results["choices_val"]
    for order in "ab":
        arms = sweep.stages(order)
        for rule, arm in (("line", smallest_within(arms, sweep.teacher)),
                          ("40x", best_within_budget(arms, sweep.teacher, 40)),
                          ("100x", best_within_budget(arms, sweep.teacher, 100))):
            if order == "a" and rule == "line" and arm is None:
                continue  # the notebook's fallback: the most accurate snapshot
            assert chosen[f"{order} {rule}"]["name"] == arm.name
    for rule, ratio in (("40x", 40), ("100x", 100)):
        assert results["teacher_bytes"] / chosen[f"a {rule}"]["bytes"] >= ratio
    if results["holds_line"]:
        assert chosen["a line"]["val"] >= results["teacher_val"] - 1.0
    assert results["teacher_choice"] == sweep.teacher_choice


@pytest.mark.notebook
def test_the_test_table_and_the_verdicts(results):
    per_seed = results["test_per_seed"]
    assert all(len(v) == 3 for v in per_seed.values())
    assert len(set(per_seed["teacher"])) == 1  # one teacher, repeated for each seed
    assert results["ratio_goal"] >= 100
    assert results["goal_met"] == (results["ratio_goal"] >= 100 and results["goal"]["mean"] >= -1)
    assert results["goal"]["low"] <= results["goal"]["mean"] <= results["goal"]["high"]
    for d in results["order"].values():
        assert d["beyond_noise"] == (d["p"] < 0.05)
    assert results["bytes_front"] and results["latency_front"]


@pytest.mark.notebook
def test_deployment_on_onnx_runtime(results):
    agreement = results["agreement"]
    assert agreement["student ORT fp32"] == 1.0
    assert agreement["student ORT int8 (workbook codes)"] >= 0.99
    assert agreement["student ORT int8 (dynamic)"] >= 0.95
    rows = results["latency"]
    assert {(r[1], r[2]) for r in rows} >= {(1, 1), (256, 1)}
    assert all(r[3] > 0 and r[4] > 0 and r[5] <= r[4] <= r[6] for r in rows)


@pytest.mark.notebook
def test_the_widget_and_the_exercises(results):
    view = results["widget_view"]
    assert view["bytes"] > 0 and view["ratio"] == pytest.approx(results["teacher_bytes"] / view["bytes"])
    assert 0 <= view["accuracy"] <= 100
    assert results["used_reference"] is True
