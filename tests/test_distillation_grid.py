"""distill_lib.distillation.grid: the T x lambda grid on validation, compared with labels only."""

import numpy as np
import pytest
import torch

from distill_lib.distillation import GridResult, temperature_lam_grid
from distill_lib.stats import Runs, compare, holm
from distill_lib.student import train_on_transfer_set
from distill_lib.training import predict_logits


def test_grid_cells_are_students(split, full):
    val = (split.X_val, split.y_val)
    grid = temperature_lam_grid(full, val, temperatures=[2.0, 4.0], lams=[0.0, 0.5], seeds=[0, 1], epochs=5)
    assert grid.cells == [(2.0, 0.0), (2.0, 0.5), (4.0, 0.5)]  # lambda = 0 once: T plays no part
    student, _ = train_on_transfer_set(*full, temperature=4.0, lam=0.5, seed=1, epochs=5)
    expected = (predict_logits(student, split.X_val).argmax(1) == split.y_val).numpy()
    assert np.array_equal(grid.cell(4.0, 0.5).correct[1], expected)
    assert grid.cell(4.0, 0.0) is grid.cell(2.0, 0.0)
    assert grid.mean().shape == (2, 2)


def test_grid_reuses_trained_students(split, full):
    val = (split.X_val, split.y_val)
    students = [train_on_transfer_set(*full, temperature=4.0, lam=0.9, seed=s, epochs=3)[0] for s in (0, 1)]
    grid = temperature_lam_grid(full, val, temperatures=[4.0], lams=[0.9], seeds=[0, 1], epochs=3,
                                trained={(4.0, 0.9): students})
    for k, student in enumerate(students):
        expected = (predict_logits(student, split.X_val).argmax(1) == split.y_val).numpy()
        assert np.array_equal(grid.cell(4.0, 0.9).correct[k], expected)
    with pytest.raises(ValueError, match=r"not a cell of the grid"):
        temperature_lam_grid(full, val, temperatures=[4.0], lams=[0.9], seeds=[0], trained={(8.0, 0.9): students})
    with pytest.raises(ValueError, match=r"one student \(nn.Module\) per seed, 3 at least"):
        temperature_lam_grid(full, val, temperatures=[4.0], lams=[0.9], seeds=[0, 1, 2],
                             trained={(4.0, 0.9): students})


def _runs(accuracies, n=100, seeds=(0, 1, 2)):
    """Hand-made Runs: seed s gets the first round(a * n) images right."""
    correct = np.zeros((len(seeds), n), dtype=bool)
    for s, a in enumerate(accuracies):
        correct[s, : round(a * n)] = True
    return Runs(correct, seeds)


def test_grid_result_conclusions_on_hand_made_results():
    runs = {(1.0, 0.0): _runs([0.80, 0.81, 0.79]), (1.0, 0.9): _runs([0.81, 0.80, 0.80]),
            (4.0, 0.9): _runs([0.95, 0.96, 0.95])}
    grid = GridResult((1.0, 4.0), (0.0, 0.9), (0, 1, 2), runs)
    assert grid.best == (4.0, 0.9)
    versus = grid.versus_labels_only()
    assert list(versus) == [(1.0, 0.9), (4.0, 0.9)]
    raw = holm({str(c): compare(runs[c], runs[(1.0, 0.0)]) for c in versus})
    assert versus[(4.0, 0.9)].p_value == raw["(4.0, 0.9)"].p_value and versus[(4.0, 0.9)].beyond_noise
    assert not versus[(1.0, 0.9)].beyond_noise
    assert grid.ties_with_best() == [(4.0, 0.9)]
    with pytest.raises(ValueError, match=r"\(T=2.0, lam=0.9\) is not a cell of this grid"):
        grid.cell(2.0, 0.9)
    no_labels_only = GridResult((1.0,), (0.9,), (0, 1, 2), {(1.0, 0.9): runs[(1.0, 0.9)]})
    with pytest.raises(ValueError, match="no lam = 0 column"):
        no_labels_only.versus_labels_only()


def test_grid_bad_input(split, full):
    val = (split.X_val, split.y_val)
    with pytest.raises(ValueError, match="must not repeat"):
        temperature_lam_grid(full, val, temperatures=[4.0, 4.0], lams=[0.9])
    with pytest.raises(ValueError, match="must both be non-empty"):
        temperature_lam_grid(full, val, temperatures=[], lams=[0.9])
    with pytest.raises(ValueError, match=r"lam=1.5"):
        temperature_lam_grid(full, val, temperatures=[4.0], lams=[1.5])
    with pytest.raises(TypeError, match="transfer must be a TransferSet"):
        temperature_lam_grid(tuple(full), val, temperatures=[4.0], lams=[0.9])
    with pytest.raises(ValueError, match=r"eval_set\[1\] \(targets\) must have shape \(359,\)"):
        temperature_lam_grid(full, (split.X_val, split.y_val[:-1]), temperatures=[4.0], lams=[0.9])
