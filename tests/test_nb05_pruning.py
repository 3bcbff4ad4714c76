"""Notebook 05 under papermill with small parameters: the pruning results it claims.

Small parameters: two students, a three-step schedule to 90 %, a short one-shot scan and few
timing rounds. Timings are recorded by the notebook but never asserted here.
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
    # "holds up to about half the weights, then collapses: at 90 % close to guessing"
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


@pytest.mark.notebook
def test_iterative_pruning_goal_numbers(results):
    r = results
    assert r["schedule"] == SMALL["schedule"]
    one_shot_90 = r["one_shot_global"][r["scan_sparsities"].index(0.9)]
    # fine-tuning recovers most of what one-shot pruning loses
    assert r["ce_final_mean"] > one_shot_90 + 0.5 and r["kd_final_mean"] > one_shot_90 + 0.5
    # Goal: within 1 point of dense at 90 %. With the default parameters (5 seeds, 6 steps of 60
    # epochs) this small student falls short by about 1.5 points; with the short schedule used
    # here about 2.2. The tolerance is for that shorter schedule, not a lower bar.
    assert r["drop_kd_mean"] <= 0.01 + 0.025, f"distillation-fine-tuned drop {r['drop_kd_mean']:.4f}"
    assert r["goal_met"] == (r["drop_kd_mean"] <= 0.01)
    # distillation is the better recovery loss at 90 % (about +1.4 points with 5 seeds)
    assert r["kd_minus_ce_mean"] > 0.0, f"KD - CE = {r['kd_minus_ce_mean']:.4f}"
    assert r["kd_final_mean"] == pytest.approx(r["kd_curve_mean"][-1])
    assert r["highest_within_1pt_kd"] >= 0.5 and r["highest_within_1pt_kd"] >= r["highest_within_1pt_ce"]
    assert r["drop_kd_std"] >= 0 and r["kd_final_std"] >= 0


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
    # speed-ups are recorded, not asserted: see tools/bench_nb05.py
    assert r["student_speedup"] > 0 and r["teacher_speedup"] > 0


@pytest.mark.notebook
def test_widget_rendered_once(results):
    assert 0.0 <= results["widget_accuracy"] <= 1.0
    assert results["_seconds"] < 60 * 3  # a runaway guard, not a speed target
