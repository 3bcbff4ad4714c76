"""Notebook 03 under papermill with small parameters (about 10 s).

The claims the notebook makes at its *default* parameters (five seeds, 300 epochs: the
all-labels gap, the few-label gap of at least 5 points, the omitted digit recovered by a
validation-chosen bias) are asserted through the same library calls in
tests/test_distillation_experiments.py ("notebook 03's claims"), which is cheaper than a second full run.
"""

import math
from pathlib import Path

import pytest

from distill_lib.results import execute_notebook

NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "03_kl_ce_distillation.ipynb"

SMALL = dict(n_seeds=2, epochs=40, grid_temperatures=[1.0, 4.0], grid_lams=[0.0, 1.0], grid_epochs=20,
             widget_epochs=20)


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """Run the notebook once for every test in this file (like the run_notebook fixture, module-scoped)."""
    _, recorded = execute_notebook(NOTEBOOK, tmp_path_factory.mktemp("nb03") / NOTEBOOK.name, SMALL)
    return recorded


@pytest.mark.notebook
def test_pitfalls_show_their_symptoms(results):
    r = results
    assert r["mean_over_batchmean"] == pytest.approx(10.0, rel=1e-5)  # C = 10 classes
    assert r["probs_as_input_kl"] < 0  # a KL divergence is never negative
    assert r["log_target_forgotten_is_nan"] is True
    assert r["soft_ce_minus_kl"] == pytest.approx(r["teacher_entropy"], abs=1e-5)
    assert r["teacher_entropy"] > 0.1
    assert r["soft_ce_kl_grad_diff"] < 1e-6
    # float32 from probabilities at T = 1000 keeps ~4 of 7 digits; the library keeps them all.
    assert r["float32_library_rel_error"] < 1e-6
    assert r["float32_naive_rel_error"] > 100 * r["float32_library_rel_error"]
    assert -math.log10(r["float32_naive_rel_error"]) < 5.5


@pytest.mark.notebook
def test_t_squared_keeps_the_soft_gradient_scale(results):
    r = results
    temps, with_t2, without = r["grad_temperatures"], r["grad_with_t2"], r["grad_without_t2"]
    for t, a, b in zip(temps, with_t2, without):
        assert a == pytest.approx(b * t * t, rel=1e-9)
    assert with_t2[-1] == pytest.approx(r["grad_limit"], rel=0.05)  # T = 128: at the logit-matching limit
    high = [a for t, a in zip(temps, with_t2) if t >= 4]
    assert max(high) / min(high) < 2  # with T^2: about constant once T is large
    assert without[-1] < without[temps.index(4)] / 1000  # without: vanishes like 1 / T^2
    assert 0.1 < with_t2[temps.index(4)] / r["grad_cross_entropy"] < 10  # same order as the CE term


@pytest.mark.notebook
def test_experiments_ran_with_the_small_parameters(results):
    r = results
    assert r["n_seeds"] == 2 and r["epochs"] == 40
    for key in ("full_scratch", "full_distilled", "few_scratch", "few_distilled", "few_labelled_only",
                "omitted_before", "omitted_after"):
        assert 0.0 <= r[f"{key}_mean"] <= 1.0 and r[f"{key}_std"] >= 0.0, key
    # Even after 40 epochs, soft targets on 979 unlabelled images beat 100 labels alone.
    assert r["few_distilled_mean"] > r["few_scratch_mean"]
    # Adding b >= 0 to the omitted digit's logit can only turn predictions into that digit.
    assert r["omitted_after_mean"] >= r["omitted_before_mean"]
    assert r["omitted_bias_mean"] >= 0
    assert r["omitted_scratch_before_mean"] == r["omitted_scratch_after_mean"] == 0.0
    grid = r["grid"]
    assert len(grid) == 2 and all(len(row) == 2 for row in grid)
    assert grid[0][0] == grid[1][0]  # lambda = 0: the temperature plays no part
    assert (r["best_temperature"], r["best_lam"]) in [(t, lam) for t in (1.0, 4.0) for lam in (0.0, 1.0)]
    assert 0.5 < r["widget_accuracy"] <= 1.0
    assert r["seconds"] < 60 * 3  # generous: a runaway guard, not a speed target
