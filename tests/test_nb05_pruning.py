"""Notebook 05 under papermill with small parameters: its results, and the logic of its printed verdicts.

Small parameters: two students, a three-step schedule to 90 %, a short one-shot scan and few
timing rounds. The students are the notebook's first two (same seeds, same recipe), so the
one-shot and sensitivity numbers are the default run's for those students. Every result-dependent
sentence the notebook prints is built from its numbers; test_printed_verdicts_follow_the_numbers
checks that logic. Timings are recorded by the notebook but never asserted here.
"""

from pathlib import Path

import pytest

from distill_lib.results import execute_notebook

NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "05_pruning.ipynb"

SMALL = dict(
    n_seeds=2,
    scan_sparsities=[0.0, 0.5, 0.7, 0.9, 0.99],
    schedule=[0.5, 0.8, 0.9],
    epochs_per_step=40,
    structured_epochs=30,
    latency_repeats=3,
)
STUDENT_WEIGHTS = 64 * 128 + 128 * 10  # 9,472 prunable weights (biases are not pruned)


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """Run the notebook once for all the tests below (like the run_notebook fixture, module-scoped)."""
    out = tmp_path_factory.mktemp("nb05") / "05_pruning.ipynb"
    seconds, values = execute_notebook(NOTEBOOK, out, SMALL)
    values["_seconds"] = seconds
    return values


@pytest.mark.notebook
def test_dense_students_and_one_shot_pruning(results):
    r = results
    assert r["n_seeds"] == 2 and len(r["dense_accuracy"]) == 2
    assert 0.965 <= r["dense_mean"] <= 0.99, f"distilled students at {r['dense_mean']:.4f}, expected ~0.979"
    one_shot = dict(zip(r["scan_sparsities"], r["one_shot_global"]))
    assert one_shot[0.0] == pytest.approx(r["dense_mean"], abs=1e-9)  # sparsity 0 changes nothing
    # one-shot pruning (no retraining) survives half the weights, and is close to guessing at 90 %
    assert one_shot[0.5] >= r["dense_mean"] - 0.05
    assert one_shot[0.9] < 0.3 and one_shot[0.99] < 0.3
    for name, curve in r["sensitivity"].items():
        assert curve[0] == pytest.approx(r["dense_mean"], abs=1e-9)
        assert curve[r["scan_sparsities"].index(0.9)] < r["dense_mean"] - 0.2, f"layer {name} survives 90 %?"


@pytest.mark.notebook
def test_ties_and_masks_during_fine_tuning(results):
    r = results
    assert r["naive_threshold_sparsity"] != pytest.approx(0.5, abs=0.005)  # the threshold misses with ties
    assert r["naive_sparsity_after_finetune"] < 0.5  # zeroed once, the weights grew back
    assert r["masked_sparsity_after_finetune"] == round(0.9 * 8192) / 8192  # the mask kept them at 0
    assert r["achieved_sparsity"] == [round(0.9 * STUDENT_WEIGHTS) / STUDENT_WEIGHTS]


def holds_up_to(sparsities, accuracies, dense_mean, tolerance=0.01):
    """The notebook's rule: the highest sparsity up to which every accuracy stays within 1 point of dense."""
    held = 0.0
    for sp, acc in zip(sparsities, accuracies):
        if acc < dense_mean - tolerance:
            break
        held = sp
    return held


@pytest.mark.notebook
def test_iterative_pruning_goal_numbers(results):
    r = results
    assert r["schedule"] == SMALL["schedule"]
    one_shot_90 = r["one_shot_global"][r["scan_sparsities"].index(0.9)]
    # fine-tuning recovers most of what one-shot pruning loses
    assert r["ce_final_mean"] > one_shot_90 + 0.5 and r["kd_final_mean"] > one_shot_90 + 0.5
    # Goal: within 1 point of dense at 90 %. This small student falls short of it with the short
    # schedule used here (and, in our runs, with the defaults too: the notebook prints the verdict).
    # The tolerance is for this shorter schedule, not a lower bar.
    assert r["drop_kd_mean"] <= 0.01 + 0.025, f"distillation-fine-tuned drop {r['drop_kd_mean']:.4f}"
    # distillation is the better recovery loss at 90 % with these two students
    assert r["kd_minus_ce_mean"] > 0.0, f"KD - CE = {r['kd_minus_ce_mean']:.4f}"
    assert r["kd_final_mean"] == pytest.approx(r["kd_curve_mean"][-1])
    assert r["highest_within_1pt_kd"] >= 0.5 and r["highest_within_1pt_kd"] >= r["highest_within_1pt_ce"]


@pytest.mark.notebook
def test_printed_verdicts_follow_the_numbers(results):
    """Every result-dependent sentence of the notebook is printed from its numbers: check that logic."""
    r = results
    verdicts = r["verdicts"]
    assert r["one_shot_holds"] == holds_up_to(r["scan_sparsities"], r["one_shot_global"], r["dense_mean"])
    assert f"up to {r['one_shot_holds']:.0%} sparsity" in verdicts["one-shot"]
    # recovery loss: the sign of the paired difference, and the count of students it holds for
    paired = [k - c for k, c in zip(r["kd_final"], r["ce_final"])]
    assert r["kd_minus_ce_mean"] == pytest.approx(sum(paired) / len(paired))
    assert r["kd_better"] == (r["kd_minus_ce_mean"] > 0)
    assert ("distillation recovers more on average" in verdicts["recovery"]) == r["kd_better"]
    assert ("does NOT recover more" in verdicts["recovery"]) == (not r["kd_better"])
    assert r["kd_wins"] == sum(d > 0 for d in paired)
    assert f"more in {r['kd_wins']} of {r['n_seeds']} students" in verdicts["recovery"]
    # the goal
    drops = [d - k for d, k in zip(r["dense_accuracy"], r["kd_final"])]
    assert r["drop_kd_mean"] == pytest.approx(sum(drops) / len(drops))
    assert r["goal_met"] == (r["drop_kd_mean"] <= 0.01)
    assert ("NOT met" in verdicts["goal"]) == (not r["goal_met"])
    for key, curve in (("highest_within_1pt_kd", "kd_curve_mean"), ("highest_within_1pt_ce", "ce_curve_mean")):
        assert r[key] == holds_up_to(r["schedule"], r[curve], r["dense_mean"]), key
    # speed, on this machine
    assert ("the teacher gained more" in verdicts["speed"]) == (r["teacher_speedup"] > r["student_speedup"])
    assert ("was reached" in verdicts["speed"]) == (r["student_speedup"] >= 1.5)
    assert f"student {r['student_speedup']:.2f}x" in verdicts["speed"]


@pytest.mark.notebook
def test_masks_against_removing_units(results):
    r = results
    sizes = r["sizes"]
    dense, masked = sizes["dense"], sizes["masked (hooks)"]
    permanent, small = sizes["masked, made permanent"], sizes["50% units removed"]
    assert dense["parameters"] == masked["parameters"] == permanent["parameters"] == 9_610
    assert masked["bytes"] > 1.8 * dense["bytes"]  # weight_orig and weight_mask are both stored
    assert abs(permanent["bytes"] - dense["bytes"]) < 200
    assert small["parameters"] == 64 * 64 + 64 + 64 * 10 + 10 == 4_810
    assert small["bytes"] < 0.6 * dense["bytes"]
    assert r["teacher_small_parameters"] == 64 * 128 + 128 + 128 * 128 + 128 + 128 * 10 + 10
    # structured pruning with distillation fine-tuning stays close to the dense student
    assert r["structured_mean"] >= r["dense_mean"] - 0.015
    assert r["structured_one_shot_mean"] < r["structured_mean"]
    # speed-ups are recorded, not asserted: see tools/bench_nb05.py (their verdict logic is checked above)


@pytest.mark.notebook
def test_widget_rendered_once_and_exercise_reference(results):
    r = results
    # the widget's first rendering used the default values: 90 %, global scope, validation set
    assert r["widget_accuracy"] == r["val_curve_global"][r["scan_sparsities"].index(0.9)]
    assert r["exercise_used_reference"] is True  # headless, the skeleton still returns None
    assert r["_seconds"] < 60 * 3  # a runaway guard, not a speed target
