"""Notebook 00 under papermill, retraining the teacher from scratch with the full recipe."""

import pytest


@pytest.mark.notebook
def test_retrained_teacher_meets_the_bar(run_notebook):
    r = run_notebook("00_data_and_teacher", retrain_teacher=True, n_show=10, seed=1)
    assert r["retrained"] is True
    assert r["split_sizes"] == {"train": 1079, "val": 359, "test": 359}
    assert r["num_parameters"] == 85_002
    assert r["test_accuracy"] >= 0.975, f"retrained teacher scored {r['test_accuracy']:.4f} < 0.975"
    assert r["test_errors"] == round((1 - r["test_accuracy"]) * 359)
    assert len(r["runner_up"]) == 10 and all(d != i for i, d in enumerate(r["runner_up"]))
    assert r["seconds"] < 60 * 3  # generous: it is a runaway guard, not a speed target
