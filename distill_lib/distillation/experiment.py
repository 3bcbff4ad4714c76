"""The experiment loop of notebook 03: every arm trained once per seed, scored image by image.

An *arm* is one way to train a student, written as a function ``seed -> (student, record)``,
usually ``functools.partial(train_student, X, targets, ...)``. :func:`run_arms` (shown in the
notebook) trains every arm with every seed and scores each student on an evaluation set,
keeping per-image correctness (:class:`~distill_lib.stats.Runs`, via
:func:`~distill_lib.training.runs_of`), so that two arms can be
compared with :func:`~distill_lib.stats.compare` (paired by seed and by image).
:func:`run_experiment` is the public entry point: it checks its inputs, then calls
:func:`run_arms`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import NamedTuple

from torch import Tensor, nn

from .._validation import check_eval_set, check_int
from ..stats import Runs
from ..training import runs_of

__all__ = ["Arm", "Experiment", "check_seeds", "run_experiment"]

#: One way to train a student: ``arm(seed=s) -> (student, record)``.
Arm = Callable[..., tuple[nn.Module, object]]


class Experiment(NamedTuple):
    """What :func:`run_arms` returns: per-image results and the trained students, per arm."""

    runs: dict[str, Runs]  # arm -> correctness on the evaluation set, (S, N_eval)
    students: dict[str, list[nn.Module]]  # arm -> one trained student per seed


def run_arms(arms, seeds, eval_set):
    """Train every arm once per seed; score each student on ``eval_set = (X, y)``, image by image."""
    runs, students = {}, {}
    for name, arm in arms.items():
        students[name] = [arm(seed=seed)[0] for seed in seeds]  # one fresh student per seed
        runs[name] = runs_of(students[name], eval_set, seeds)  # correct[s, i]: seed s got image i right
    return Experiment(runs, students)


def check_seeds(seeds: object) -> tuple[int, ...]:
    """At least one seed, all distinct, each in ``[0, 2**32)``, as a tuple."""
    if isinstance(seeds, (str, bytes)) or not isinstance(seeds, Sequence):
        raise TypeError(f"seeds must be a sequence of integers (e.g. range(5)), got {type(seeds).__name__}")
    out = tuple(check_int(f"seeds[{i}]", s, low=0, high=2**32 - 1) for i, s in enumerate(seeds))
    if not out or len(set(out)) != len(out):
        raise ValueError(f"seeds={list(out)} must hold at least one seed and no repeats")
    return out


def run_experiment(
    arms: Mapping[str, Arm], seeds: Sequence[int], eval_set: tuple[Tensor, Tensor]
) -> Experiment:
    """Train every arm once per seed and score it on ``eval_set``: one :class:`~distill_lib.stats.Runs` per arm.

    Args:
        arms: name -> a function ``arm(seed=s) -> (student, record)``, e.g.
            ``partial(train_student, X, y, teacher_logits=v)``.
        seeds: distinct seeds, the same for every arm (so arms compare seed by seed).
        eval_set: ``(X, targets)``: the validation set while choosing, the test set once at the end.

    Returns:
        An :class:`Experiment`: ``.runs[name]`` per-image correctness, ``.students[name]`` the students.

    Raises:
        TypeError, ValueError: an empty ``arms``, an arm that is not callable, bad ``seeds``
            or ``eval_set``; all before the first student is trained.

    Example::

        >>> arms = {"scratch": partial(train_student, X, y),
        ...         "distilled": partial(train_student, X, y, teacher_logits=v)}
        >>> result = run_experiment(arms, range(5), (split.X_test, split.y_test))
        >>> print(stats.table(result.runs))
    """
    if not isinstance(arms, Mapping) or not arms:
        raise TypeError(f"arms must be a non-empty mapping of names to training functions, got {arms!r:.60}")
    for name, arm in arms.items():
        if not isinstance(name, str) or not callable(arm):
            raise TypeError(f"arms[{name!r}] must be a function seed -> (student, record), got {type(arm).__name__}")
    seeds = check_seeds(seeds)
    eval_set = check_eval_set(eval_set)
    return run_arms(arms, seeds, eval_set)
