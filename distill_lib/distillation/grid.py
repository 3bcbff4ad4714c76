"""Choosing ``T`` and ``λ`` on the validation set: a ``T x λ`` grid (notebook 03, section 7)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from .._validation import check_int, check_lam, check_temperature
from ..training import evaluate
from .student import _check_recipe, _train_on_transfer_set

__all__ = ["temperature_lam_grid"]


def temperature_lam_grid(
    X: Tensor,
    targets: Tensor,
    teacher_logits: Tensor,
    X_eval: Tensor,
    y_eval: Tensor,
    *,
    temperatures: Sequence[float],
    lams: Sequence[float],
    seed: int = 0,
    sizes: list[int] | None = None,
    epochs: int | None = None,
) -> Tensor:
    """Accuracy on ``(X_eval, y_eval)`` of one distilled student per ``(T, λ)`` pair, all with one seed.

    At ``λ = 0`` the loss is the cross-entropy on the labelled rows alone and ``T`` plays
    no part, so that column is one student trained from scratch on the labelled rows,
    repeated down the column.

    Args:
        X, targets, teacher_logits: the transfer set (targets may be :data:`UNLABELLED`).
        X_eval, y_eval: where to measure (the validation set: this grid chooses ``T`` and ``λ``).
        temperatures, lams: the grid's axes.
        seed, sizes, epochs: as :func:`train_student`.

    Shape:
        output ``(len(temperatures), len(lams))``, accuracies in ``[0, 1]``.

    Example::

        >>> acc = temperature_lam_grid(ts.X, ts.targets, ts.teacher_logits, split.X_val, split.y_val,
        ...                            temperatures=[1, 4], lams=[0.5, 0.9])
    """
    temps = [check_temperature(t) for t in temperatures]
    lams = [check_lam(lam) for lam in lams]
    if not temps or not lams:
        raise ValueError(f"temperatures={list(temperatures)} and lams={list(lams)} must both be non-empty")
    check_int("seed", seed, low=0)
    _check_recipe(1.0, 0.0, epochs)
    grid = torch.empty(len(temps), len(lams))
    for j, lam in enumerate(lams):
        for i, t in enumerate(temps):
            if lam == 0.0 and i > 0:  # cross-entropy on the labelled rows: the same student whatever T
                grid[i, j] = grid[0, j]
                continue
            student, _ = _train_on_transfer_set(X, targets, teacher_logits, temperature=t, lam=lam, seed=seed,
                                                sizes=sizes, epochs=epochs)
            grid[i, j] = evaluate(student, X_eval, y_eval)
    return grid
