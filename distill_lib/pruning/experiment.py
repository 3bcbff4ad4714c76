"""Notebook 05's bookkeeping: per-image outcomes of a group of models, one per seed.

Every arm of notebook 05 (dense students, each pruning arm, the structured
students, small dense students) is a list of models, one per seed. The
statistics of :mod:`distill_lib.stats` need each model's per-image correctness
on the same evaluation set: :func:`runs_of` computes it.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from .._validation import check_eval_set
from ..stats import Runs
from ..training import predict_logits
from .apply import _check_model

__all__ = ["runs_of"]


def runs_of(models: Sequence[nn.Module], eval_set: tuple[Tensor, Tensor], seeds: Sequence[int]) -> Runs:
    """Per-image correctness of each model on ``eval_set``: a :class:`~distill_lib.stats.Runs`.

    Args:
        models: one trained model per seed, in the order of ``seeds``.
        eval_set: ``(X, targets)``: the validation set to choose, the test set to report.
        seeds: the seeds, as many as ``models``.

    Returns:
        ``Runs`` with ``correct`` of shape ``(len(seeds), N)``.

    Raises:
        TypeError: a model is not an ``nn.Module``; a bad ``eval_set``.
        ValueError: ``models`` and ``seeds`` differ in length or are empty.

    Example::

        >>> dense = runs_of(students, (split.X_test, split.y_test), seeds)
        >>> print(dense.interval())
    """
    if isinstance(models, nn.Module) or not isinstance(models, Sequence):
        raise TypeError(f"models must be a list of models (one per seed), got {type(models).__name__}")
    for i, m in enumerate(models):
        _check_model(m, f"models[{i}]")
    seeds = tuple(seeds)
    if not models or len(models) != len(seeds):
        raise ValueError(f"got {len(models)} models for {len(seeds)} seeds; give one model per seed (at least one)")
    outputs = [m.out_features for m in models[0].modules() if isinstance(m, nn.Linear)]
    X, targets = check_eval_set(eval_set, num_classes=outputs[-1] if outputs else 10)
    return Runs.from_predictions([predict_logits(m, X).argmax(dim=1) for m in models], targets, seeds)
