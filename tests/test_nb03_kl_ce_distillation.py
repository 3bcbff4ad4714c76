"""Notebook 03 under papermill with small parameters, asserting on the numbers it records.

The claims the notebook makes at its *default* parameters (five seeds, 300 epochs: distillation
no better than the fair scratch baseline with all labels, clearly better with 10 labels per class)
are asserted through the same library calls in tests/test_distillation_arms.py, which is cheaper
than a second full run. Here the logic the notebook prints from its numbers (Holm-adjusted
verdicts, the grid's best cell and ties, the bias search that turns over) is checked at any
parameters.
"""

import math
import statistics
import pytest

SMALL = dict(n_seeds=2, epochs=40, select_n_seeds=1, plain_teacher_epochs=5, grid_temperatures=[1.0, 4.0],
             grid_lams=[0.0, 0.9], grid_n_seeds=2, widget_epochs=20)


@pytest.fixture(scope="module")
def results(run_notebook):
    """Run the notebook once for every test in this file."""
    return run_notebook("03_kl_ce_distillation", **SMALL)


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


@pytest.mark.notebook
def test_transfer_set_loss_is_one_core(results):
    assert results["transfer_set_loss_error"] < 1e-6
    assert results["transfer_equals_distillation"] == 0.0
    assert results["demo_loss_last"] < results["demo_loss_first"] / 2  # the shown loop trains


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


@pytest.mark.notebook
def test_scratch_recipes_were_chosen_on_validation(results):
    r = results
    candidates = r["scratch_candidates_full"]
    best = max(candidates, key=candidates.get)
    copies, smoothing = best.removeprefix("aug ").split(", ls ")
    assert r["scratch_recipe_full"] == {"augment_copies": int(copies), "label_smoothing": float(smoothing)}
    assert set(r["scratch_recipe_few"]) == {"augment_copies", "label_smoothing"}


@pytest.mark.notebook
def test_test_table_and_verdicts_follow_from_the_numbers(results):
    r = results
    for name, values in r["test_per_seed"].items():
        assert len(values) == SMALL["n_seeds"]
        assert statistics.fmean(values) == pytest.approx(r["test_means"][name], abs=0.01)
    # Even after 40 epochs, soft targets on 979 unlabelled images beat 100 labels alone.
    assert r["few_distilled"] > r["few_scratch"] + 2.0
    family = r["primary"] + r["decomposition"]
    for name, mean, low, high, p, beyond in family:
        assert low <= mean <= high, name
        assert beyond == (p < 0.05), name  # the one rule, after Holm
    assert all(0.0 <= row[4] <= 1.0 for row in family)
    names = [row[0] for row in r["primary"]]
    assert len(names) == 3 and names[0].startswith("all labels") and "omitted 3" in names[2]


@pytest.mark.notebook
def test_omitted_digit(results):
    r = results
    assert r["omitted_curve_turned_over"] == {"distilled": True, "scratch": True}
    assert r["omitted_bias_mean"]["distilled"] > 1.0
    assert r["omitted_after"]["distilled"] > r["omitted_before"]["distilled"] + 20  # points
    assert r["omitted_before"]["scratch"] == 0.0  # never saw the digit: never predicts it
    assert r["omitted_auroc"]["distilled"] > 0.8 > r["omitted_auroc"]["scratch"]
    assert r["omitted_margin_auroc"]["distilled"] >= r["omitted_auroc"]["distilled"] - 0.05


@pytest.mark.notebook
def test_grid_conclusions_follow_from_the_numbers(results):
    r = results
    cells, means = [tuple(c) for c in r["grid_cells"]], r["grid_means"]
    assert cells == [(1.0, 0.0), (1.0, 0.9), (4.0, 0.9)] and r["grid_seeds"] == [0, 1]
    best = cells[means.index(max(means))]
    assert tuple(r["grid_best"]) == best and list(best) in r["grid_ties"]
    assert [tuple(row[:2]) for row in r["grid_versus_labels_only"]] == [(1.0, 0.9), (4.0, 0.9)]
    for t, lam, mean, low, high, p, beyond in r["grid_versus_labels_only"]:
        assert mean == pytest.approx(means[cells.index((t, lam))] - means[0], abs=1e-6)
        assert beyond == (p < 0.05) and low <= mean <= high
    assert r["experiment_cell_ties_with_best"] == ([4.0, 0.9] in r["grid_ties"])


@pytest.mark.notebook
def test_widget_rendered_its_default_student(results):
    assert 0.5 < results["widget_accuracy"] <= 1.0 and results["widget_temperature"] == 4.0
    assert results["cpu_seconds"] > 0 and math.isfinite(results["seconds"])
