"""Notebook 05 under papermill with small parameters: the numbers it records, and the logic of its verdicts.

Small parameters: two students (both compare the learning rates), a three-step schedule to 90 %, two
learning rates, one small dense student, a short one-shot scan. Timings are recorded by the notebook
but never asserted here (see tools/bench_nb05.py).
"""

from pathlib import Path

import pytest

from tools.notebook_runner import execute_notebook  # the repository root is on sys.path (root conftest.py)

NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "05_pruning.ipynb"

SMALL = dict(
    n_seeds=2,
    n_tune_seeds=2,
    scan_sparsities=[0.0, 0.5, 0.7, 0.9, 0.99],
    schedule=[0.5, 0.8, 0.9],
    epochs_per_step=30,
    finetune_lrs=[0.03, 0.1],
    structured_epochs=40,
    small_hidden=[16],
    timing_repeats=3,
)
STUDENT_WEIGHTS = 64 * 128 + 128 * 10  # 9,472 prunable weights (biases are not pruned)
KEPT_90 = STUDENT_WEIGHTS - round(0.9 * STUDENT_WEIGHTS) + 128 + 10  # non-zero parameters at 90 %


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """Run the notebook once for all the tests below."""
    out = tmp_path_factory.mktemp("nb05") / "05_pruning.ipynb"
    seconds, values = execute_notebook(NOTEBOOK, out, SMALL)
    values["_seconds"] = seconds
    return values


def holds_up_to(means, sparsities, reference, tolerance=1.0):
    """The notebook's rule: the highest sparsity up to which every mean stays within 1 point of reference."""
    held = 0.0
    for sp, acc in zip(sparsities, means):
        if acc < reference - tolerance:
            break
        held = sp
    return held


@pytest.mark.notebook
def test_validation_chooses_the_scope_and_the_scans_are_sane(results):
    r = results
    dense_val = sum(r["dense_val_per_seed"]) / len(r["dense_val_per_seed"])
    assert len(r["dense_val_per_seed"]) == 2 and 96.0 <= dense_val <= 100.0
    assert r["one_shot_val_global"][0] == pytest.approx(dense_val, abs=1e-6)  # sparsity 0 changes nothing
    at_90 = r["scan_sparsities"].index(0.9)
    assert r["one_shot_val_global"][at_90] < 50.0  # one-shot 90 % without fine-tuning collapses
    assert r["chosen_scope"] == max(r["scope_score"], key=r["scope_score"].get)
    chosen_curve = r[f"one_shot_val_{r['chosen_scope']}"]
    assert r["one_shot_holds"] == holds_up_to(chosen_curve, r["scan_sparsities"], dense_val)
    for name, curve in r["sensitivity_val"].items():
        assert curve[0] == pytest.approx(dense_val, abs=1e-6), name
        assert r["sensitivity_holds"][name] == holds_up_to(curve, r["scan_sparsities"], dense_val), name
    # global scope shares the zeros unevenly between the layers; together exactly the target
    shares = r["global_share"]
    assert shares["0"] != shares["2"]
    assert round(shares["0"] * 8192) + round(shares["2"] * 1280) == round(0.9 * STUDENT_WEIGHTS)


@pytest.mark.notebook
def test_masks_during_fine_tuning_and_ties(results):
    r = results
    assert r["naive_sparsity_after_finetune"] < 0.5  # zeroed once, the weights grew back
    zeros = r["naive_zeros_after_finetune"]
    assert zeros == round(r["naive_sparsity_after_finetune"] * 8192)
    # the ones that stayed 0 are mostly those with no gradient: blank pixels, units that never fire
    assert 0.5 * zeros < r["naive_zeros_blank_pixels"] + r["naive_zeros_silent_units"] <= zeros
    assert r["masked_sparsity_after_finetune"] == round(0.9 * 8192) / 8192  # the mask kept them at 0
    assert r["achieved_sparsity"] == [round(0.9 * STUDENT_WEIGHTS) / STUDENT_WEIGHTS]
    assert abs(r["naive_threshold_sparsity"] - 0.5) > 0.005  # the appendix: a threshold misses with ties
    assert r["exact_tie_zeros"] == 4096


@pytest.mark.notebook
def test_learning_rates_chosen_on_validation_with_equal_budgets(results):
    r = results
    assert set(r["arm_epochs"].values()) == {len(SMALL["schedule"]) * SMALL["epochs_per_step"]}
    for arm, lr in r["chosen_lr"].items():
        scores = {float(key.split(" | ")[1]): v for key, v in r["val_accuracy"].items() if key.startswith(arm + " |")}
        assert len(scores) == len(SMALL["finetune_lrs"])
        assert lr == max(SMALL["finetune_lrs"], key=lambda x: scores[x]), arm
    assert r["structured_lr"] == max(SMALL["finetune_lrs"], key=lambda x: r["structured_val"][f"{x:g}"])
    # fine-tuning recovers most of what one-shot pruning loses, on validation
    at_90 = r["scan_sparsities"].index(0.9)
    assert min(r["val_accuracy"].values()) > r["one_shot_val_global"][at_90] + 40


@pytest.mark.notebook
def test_final_test_table_and_comparisons(results):
    r = results
    names = r["test_names"]
    assert names[:5] == ["dense", "iterative 90%, KD", "iterative 90%, CE", "one-shot 90%, KD", "50% units removed, KD"]
    dense, it_kd, it_ce, one_kd, units = (r["test_per_seed"][n] for n in names[:5])
    mean = lambda xs: sum(xs) / len(xs)  # noqa: E731
    assert 96.0 <= mean(dense) <= 100.0
    assert mean(units) >= mean(dense) - 1.5  # units removed and fine-tuned stay close to dense
    assert mean(it_kd) >= 85.0 and mean(it_ce) >= 85.0 and mean(one_kd) >= 80.0
    for name, (m, low, high) in r["test_interval"].items():
        assert low <= m <= high and m == pytest.approx(mean(r["test_per_seed"][name])), name
    primary = r["primary"]
    assert set(primary) == {"goal", "recovery loss", "iteration"}
    assert primary["goal"]["mean"] == pytest.approx(mean(it_kd) - mean(dense), abs=1e-6)
    assert primary["recovery loss"]["mean"] == pytest.approx(mean(it_kd) - mean(it_ce), abs=1e-6)
    assert primary["iteration"]["mean"] == pytest.approx(mean(it_kd) - mean(one_kd), abs=1e-6)
    for d in list(primary.values()) + list(r["secondary"].values()):
        assert d["beyond_noise"] == (d["p"] < 0.05)
        assert d["low"] <= d["mean"] <= d["high"]
    for d in primary.values():  # unadjusted: beyond noise exactly when the interval excludes 0 (up to the bootstrap)
        assert d["beyond_noise"] == (d["low"] > 0 or d["high"] < 0) or d["p"] == pytest.approx(0.05, abs=0.01)
    # Holm only raises p values: a secondary comparison is never beyond noise where its interval holds 0
    for d in r["secondary"].values():
        assert not d["beyond_noise"] or d["low"] > 0 or d["high"] < 0
    goal = primary["goal"]
    expected = "met" if goal["low"] > -1 else ("NOT met" if goal["high"] < -1 else "undecided")
    assert r["goal_status"] == expected


@pytest.mark.notebook
def test_sizes_and_structured_pruning(results):
    r = results
    sizes = r["sizes"]
    dense, masked = sizes["dense"], sizes["masked 90% (hooks)"]
    permanent, units = sizes["masked, made permanent"], sizes["50% units removed"]
    assert dense["parameters"] == masked["parameters"] == permanent["parameters"] == 9_610
    assert masked["nonzero"] == permanent["nonzero"] == KEPT_90
    assert masked["dense bytes"] == dense["dense bytes"] == 4 * 9_610
    # held as it is, the hooked model keeps weight_orig and a float32 weight_mask for both weight matrices
    assert dense["held bytes"] == permanent["held bytes"] == 4 * 9_610
    assert masked["held bytes"] == dense["held bytes"] + 4 * (8192 + 1280)
    assert masked["csr bytes"] < dense["dense bytes"] / 4
    assert units["parameters"] == units["nonzero"] == 64 * 64 + 64 + 64 * 10 + 10
    assert r["teacher_small_parameters"] == 64 * 128 + 128 + 128 * 128 + 128 + 128 * 10 + 10
    assert r["structured_logit_gap"] < 1e-5
    trade = r["trade"]
    assert trade["small 64-16-10, KD"]["nonzero"] == 64 * 16 + 16 + 16 * 10 + 10
    assert trade["iterative 90%, KD"]["bytes"] == masked["csr bytes"]
    assert set(r["speedups"]) == {"masked 90% (hooks)", "masked, made permanent", "50% units removed"}
    for low_med_high in list(r["speedups"].values()) + [r["teacher_speedup"]]:
        assert low_med_high[1] <= low_med_high[0] <= low_med_high[2]  # median within [min, max]


@pytest.mark.notebook
def test_widget_rendered_once_and_exercise_reference(results):
    r = results
    # the widget's first rendering used the default values: 90 %, global scope, validation set, first student
    assert r["widget_accuracy"] == pytest.approx(r["one_shot_val_first_student"][r["scan_sparsities"].index(0.9)])
    assert r["widget_layer_sparsity"] == pytest.approx(r["global_share"]["0"])
    assert r["exercise_used_reference"] is True  # headless, the skeleton still returns None
    assert r["_seconds"] < 60 * 3  # a runaway guard, not a speed target
