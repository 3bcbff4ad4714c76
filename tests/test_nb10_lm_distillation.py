"""Notebook 10 under papermill (three seeds of the cached sweep, a short live run): the numbers it records.

Timings are recorded by the notebook but never asserted here (see tools/bench_nb10.py).
"""

from pathlib import Path

import pytest

from distill_lib.lm.students import LM_STUDENTS
from distill_lib.lm.sweep import load_lm_sweep
from distill_lib.lm.train import ARMS
from distill_lib.stats import over_seeds, paired_t
from tools.notebook_runner import execute_notebook  # the repository root is on sys.path (root conftest.py)

NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "10_lm_distillation.ipynb"
SMALL = dict(n_seeds=3, live_steps=10, speed_length=50)


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """Run the notebook once for all the tests below."""
    out = tmp_path_factory.mktemp("nb10") / "10_lm_distillation.ipynb"
    seconds, values = execute_notebook(NOTEBOOK, out, SMALL)
    values["_seconds"] = seconds
    return values


@pytest.fixture(scope="module")
def sweep():
    return load_lm_sweep()


@pytest.mark.notebook
def test_the_teacher_and_its_cache(results):
    assert results["teacher_cache_matches"] is True
    assert results["teacher_check"] == pytest.approx(results["teacher_meta_check"], abs=1e-3)
    assert 0 <= results["tail_mass"] < 0.2


@pytest.mark.notebook
def test_the_students_are_ten_times_smaller(results):
    for name in LM_STUDENTS:
        assert results["n_teacher"] / results["n_params"][name] >= 10


@pytest.mark.notebook
def test_the_live_run_ran_every_arm(results):
    assert set(results["live"]) == set(ARMS)
    for arm, r in results["live"].items():
        assert 0 < r["val_bits"] < 8, arm


@pytest.mark.notebook
def test_the_tables_are_the_sweeps_first_three_seeds(results, sweep):
    for key, values in results["test_per_seed"].items():
        student, arm = key.split()
        runs = sweep.find(student=student, arm=arm)[:3]
        assert [r["seed"] for r in runs] == [0, 1, 2]
        assert values == pytest.approx([r["test_bits"] for r in runs]), key
        interval = over_seeds(values)
        assert results["test"][key]["mean"] == pytest.approx(interval.mean)
        val = over_seeds([r["val_bits"] for r in runs])
        assert results["val"][key]["low"] == pytest.approx(val.low)


@pytest.mark.notebook
def test_validation_chooses_and_the_differences_are_paired(results, sweep):
    for student in LM_STUDENTS:
        means = {a: results["val"][f"{student} {a}"]["mean"] for a in ARMS}
        assert results["chosen"][student] == min(means, key=means.get)
        assert results["distilled"][student] == min((a for a in ARMS if a != "text"), key=means.get)
    for key, d in results["differences"].items():
        student, arm = key.split()[:2]
        raw = paired_t(results["test_per_seed"][f"{student} {arm}"], results["test_per_seed"][f"{student} text"])
        assert d["mean"] == pytest.approx(raw.mean) and d["p"] >= raw.p_value - 1e-12  # Holm never lowers p
        assert d["beyond_noise"] == (d["p"] < 0.05)


@pytest.mark.notebook
def test_the_goals_cell_reads_the_numbers(results):
    for student, g in results["goals"].items():
        arm = results["distilled"][student]
        assert g["arm"] == arm
        assert g["test_bits"] == pytest.approx(results["test"][f"{student} {arm}"]["mean"])
        assert g["faster"] == pytest.approx(results["speedups"][f"{student} {arm}"]["median"])
        d = results["differences"][f"{student} {arm} - text"]
        assert g["closer"] == (d["mean"] < 0 and d["beyond_noise"])


@pytest.mark.notebook
def test_the_exercises_run_the_reference_solutions(results):
    assert results["used_reference"] is True
