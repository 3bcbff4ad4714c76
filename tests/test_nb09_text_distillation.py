"""Notebook 09 under papermill (three seeds of the cached sweep): the numbers it records, and its logic.

Timings are recorded by the notebook but never asserted here (see tools/bench_nb09.py).
"""

from pathlib import Path

import pytest

from distill_lib.text.data import load_text_split
from distill_lib.text.sweep import load_text_sweep
from distill_lib.text.teacher import load_text_teacher
from tools.notebook_runner import execute_notebook  # the repository root is on sys.path (root conftest.py)

NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "09_text_distillation.ipynb"
SMALL = dict(n_seeds=3)


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """Run the notebook once for all the tests below."""
    out = tmp_path_factory.mktemp("nb09") / "09_text_distillation.ipynb"
    seconds, values = execute_notebook(NOTEBOOK, out, SMALL)
    values["_seconds"] = seconds
    return values


@pytest.mark.notebook
def test_the_caches_are_this_code(results):
    assert results["teacher_cache_matches"] is True
    assert results["live_matches_cache"] is True
    assert abs(results["live_val"] - results["cached_val"]) <= 0.5


@pytest.mark.notebook
def test_the_test_table_uses_the_cached_runs(results):
    sweep, split = load_text_sweep(), load_text_split()
    y = split.y_test
    per_seed = results["test_per_seed"]
    assert len(set(per_seed["teacher"])) == 1 and len(per_seed["teacher"]) == 3
    for key, values in per_seed.items():
        if key == "teacher":
            continue
        name, arm, setting = key.replace("(", "").replace(")", "").split()
        runs = sweep.find(student=name, setting=setting, arm=arm)[:3]
        assert [r["seed"] for r in runs] == [0, 1, 2]
        expected = [100.0 * float((r["test_pred"].long() == y).float().mean()) for r in runs]
        assert values == pytest.approx(expected), key
    teacher = load_text_teacher()
    assert per_seed["teacher"][0] == pytest.approx(
        100.0 * float((teacher.logits_of(list(split.texts_test)).argmax(1) == y).float().mean()))


@pytest.mark.notebook
def test_the_comparisons_and_the_verdicts(results):
    diffs = results["differences"]
    assert len(diffs) == 12
    for d in diffs.values():
        assert d["low"] <= d["mean"] <= d["high"]
        assert d["beyond_noise"] == (d["p"] < 0.05)  # Holm-adjusted p; the interval is the unadjusted one
    goal = results["goal"]
    assert goal["accuracy_met"] == (goal["gap"] <= 3.0)
    assert goal["speed_met"] == (goal["speedup"] >= 50.0)
    assert results["best_student"] in results["test_per_seed"]


@pytest.mark.notebook
def test_the_cost_table(results):
    rows = {r["name"]: r for r in results["cost"]}
    teacher = rows["teacher fp32"]
    for name, r in rows.items():
        if name.startswith("teacher"):
            continue
        assert teacher["macs"] / r["macs"] >= 50, name  # the issue: each student >= 50x cheaper
        assert r["params"] < teacher["params"]


@pytest.mark.notebook
def test_the_exercises_pass_with_the_reference_solutions(results):
    assert results["used_reference"] is True
