r"""The accuracy-size trade-off: the Pareto frontier, and choosing a model on validation (notebook 06).

A model is on the **Pareto frontier** when no other model is at least as small *and* at least as
accurate, and strictly better in one of the two. :func:`pareto_front` finds those points (the
shown core is :func:`_pareto_front`, one pass over the points sorted by cost).

The notebook's choices are made on the **validation** set only, with the two rules of issue 9's goals:

* :func:`smallest_within`: the smallest model (mean bytes) whose mean validation accuracy is within
  ``tolerance`` points of the teacher's: "the largest ratio that holds the 1-point line";
* :func:`best_within_budget`: the most accurate model (validation) whose mean bytes are at most the
  teacher's bytes divided by ``ratio``: "the accuracy at 40x and at 100x".

Both take a list of :class:`~distill_lib.compression.sweep.Arm` and return one of them; the test set
then reports the chosen arms once.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from .._validation import check_real
from .sweep import Arm

__all__ = ["pareto_front", "smallest_within", "best_within_budget"]


def _pareto_front(costs, accuracies):
    """Indices of the points no other point beats on both cost (lower) and accuracy (higher), by cost."""
    order = sorted(range(len(costs)), key=lambda i: (costs[i], -accuracies[i]))  # cheapest first
    front, best = [], -math.inf
    for i in order:
        if accuracies[i] > best:  # more accurate than everything at least as cheap
            front.append(i)
            best = accuracies[i]
    return front


def pareto_front(costs: Sequence[float], accuracies: Sequence[float]) -> list[int]:
    """Indices of the Pareto-optimal points: cheaper or more accurate than every other, sorted by cost.

    A point is dropped when another costs no more and is at least as accurate (of two identical
    points, the first in input order is kept).

    Args:
        costs: one finite cost per point (bytes, seconds): lower is better.
        accuracies: one finite accuracy per point: higher is better.

    Returns:
        The indices of the frontier, cheapest first (so accuracy increases along it).

    Raises:
        TypeError: not sequences of numbers. ValueError: different lengths, empty, or not finite.

    Example::

        >>> pareto_front([1, 2, 3, 4], [90.0, 89.0, 95.0, 95.0])
        [0, 2]
    """
    for name, values in (("costs", costs), ("accuracies", accuracies)):
        if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
            raise TypeError(f"{name} must be a sequence of numbers, got {type(values).__name__}")
        for i, v in enumerate(values):
            check_real(f"{name}[{i}]", v)
            if not math.isfinite(v):
                raise ValueError(f"{name}[{i}]={v!r} is not finite")
    if len(costs) != len(accuracies) or not costs:
        raise ValueError(f"costs and accuracies must be non-empty and of equal length, got {len(costs)} and {len(accuracies)}")
    return _pareto_front(list(costs), list(accuracies))


def _check_arms(arms: object, teacher: object) -> list[Arm]:
    if not isinstance(teacher, Arm):
        raise TypeError(f"teacher must be an Arm (sweep.teacher), got {type(teacher).__name__}")
    if isinstance(arms, Arm) or not isinstance(arms, Sequence) or not arms:
        raise TypeError(f"arms must be a non-empty list of Arm, got {type(arms).__name__}")
    for i, arm in enumerate(arms):
        if not isinstance(arm, Arm):
            raise TypeError(f"arms[{i}] must be an Arm, got {type(arm).__name__}")
    return list(arms)


def smallest_within(arms: Sequence[Arm], teacher: Arm, tolerance: float = 1.0) -> Arm | None:
    """The smallest arm (mean bytes) whose mean **validation** accuracy is within ``tolerance`` points of the teacher's.

    Ties in size go to the more accurate arm.

    Args:
        arms: the candidates.
        teacher: the reference (its validation accuracy sets the line).
        tolerance: points below the teacher still allowed, finite and >= 0.

    Returns:
        The arm, or ``None`` when no arm holds the line.

    Raises:
        TypeError: not arms. ValueError: a bad ``tolerance``.

    Example::

        >>> best = smallest_within(sweep.find(kind="pipeline", order="a"), sweep.teacher)
    """
    arms = _check_arms(arms, teacher)
    tolerance = check_real("tolerance", tolerance)
    if not (math.isfinite(tolerance) and tolerance >= 0):
        raise ValueError(f"tolerance={tolerance!r} must be a finite number of points >= 0")
    within = [a for a in arms if a.val.mean >= teacher.val.mean - tolerance]
    return min(within, key=lambda a: (a.mean_bytes, -a.val.mean)) if within else None


def best_within_budget(arms: Sequence[Arm], teacher: Arm, ratio: float) -> Arm | None:
    """The most accurate arm on **validation** whose mean bytes are at most ``teacher bytes / ratio``.

    Ties in accuracy go to the smaller arm.

    Args:
        arms: the candidates.
        teacher: the reference (its file size sets the budget).
        ratio: the compression ratio to reach, finite and > 0 (e.g. 40 or 100).

    Returns:
        The arm, or ``None`` when no arm is that small.

    Raises:
        TypeError: not arms. ValueError: a bad ``ratio``.

    Example::

        >>> at_100x = best_within_budget(sweep.find(kind="pipeline", order="a"), sweep.teacher, 100)
    """
    arms = _check_arms(arms, teacher)
    ratio = check_real("ratio", ratio)
    if not (math.isfinite(ratio) and ratio > 0):
        raise ValueError(f"ratio={ratio!r} must be a finite number > 0")
    budget = teacher.mean_bytes / ratio
    small = [a for a in arms if a.mean_bytes <= budget]
    return max(small, key=lambda a: (a.val.mean, -a.mean_bytes)) if small else None
