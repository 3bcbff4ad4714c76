r"""Logit matching (notebook 01): train a student to regress the teacher's logits.

Ba & Caruana (2014), "Do Deep Nets Really Need to be Deep?", train a *mimic*
student on the mean squared error between its logits ``z`` and the teacher's
logits ``v`` (:func:`distill_lib.losses.mse_logit_loss`) instead of on labels.

Logits are awkward regression targets in one respect: softmax is
shift-invariant, ``softmax(v + c) = softmax(v)`` for any per-example constant
``c``, so each example's *mean* logit changes no probability and no prediction,
yet the squared error charges for it. The mean squared error splits exactly
into the two parts (the centred part is orthogonal to constants)::

    mse(z, v) = mean_n (zbar_n - vbar_n)**2  +  mse(z - zbar, v - vbar)
              =        offset part           +       shape part

:func:`center_logits` removes the offset from the targets; :func:`mse_parts`
measures both parts. Their unchecked cores, :func:`subtract_row_means` and
:func:`offset_and_shape`, and the experiment of notebook 01 (:func:`mse_student`,
:func:`train_arms`) are shown in the notebook; the public functions check their
inputs once and call them. Notebook 02 shows that the high-temperature limit of the
distillation loss is exactly half the shape part.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple

import torch
from torch import Tensor, nn

from ._validation import check_eval_set, check_int, check_logits, check_same_shape, check_targets
from .losses import mse_logit_loss
from .models import mlp
from .stats import Runs
from .student import STUDENT_RECIPE, STUDENT_SIZES, train_student
from .training import fit, predict_logits, runs_of, set_seed

__all__ = [
    "METHODS",
    "MSEParts",
    "subtract_row_means",
    "center_logits",
    "offset_and_shape",
    "mse_parts",
    "mse_student",
    "train_logit_matching_student",
    "train_arms",
    "train_per_method",
    "runs_on",
]

#: What a student can be trained on, in the order notebook 01 shows them.
METHODS: tuple[str, ...] = ("labels", "hard_labels", "logits", "centered_logits")


class MSEParts(NamedTuple):
    """``mse_logit_loss`` split into a part softmax ignores and a part it does not."""

    offset: Tensor  #: mean over examples of the squared difference of mean logits
    shape: Tensor  #: ``mse_logit_loss`` of the centred logits


def subtract_row_means(logits):
    """Each example's logits minus their mean: the same softmax, and every row sums to 0."""
    return logits - logits.mean(dim=1, keepdim=True)  # (N, C) - (N, 1)


def offset_and_shape(student_logits, teacher_logits):
    """The squared error split into the part softmax ignores (offset) and the rest (shape)."""
    diff = student_logits - teacher_logits  # (N, C)
    mean_diff = diff.mean(dim=1, keepdim=True)  # (N, 1): each example's offset
    offset = (mean_diff**2).mean()  # what no probability depends on
    shape = ((diff - mean_diff) ** 2).mean()  # the error of the centred logits
    return MSEParts(offset, shape)  # offset + shape == mse_logit_loss(student, teacher)


def center_logits(logits: Tensor) -> Tensor:
    r"""Subtract each example's mean logit: ``logits - logits.mean(dim=1, keepdim=True)``.

    The result gives the same softmax at every temperature (softmax is
    shift-invariant) and each row sums to zero. Checks ``logits``, then calls
    :func:`subtract_row_means`.

    Args:
        logits: unnormalised scores (not probabilities), floating point.

    Shape:
        ``(N, C)`` in, ``(N, C)`` out.

    Raises:
        TypeError: ``logits`` is not a floating-point tensor.
        ValueError: ``logits`` is not 2-D, is empty, or holds NaN or infinite values.

    Example::

        >>> center_logits(torch.tensor([[1.0, 2.0, 6.0]]))
        tensor([[-2., -1.,  3.]])
    """
    check_logits("logits", logits)
    return subtract_row_means(logits)


def mse_parts(student_logits: Tensor, teacher_logits: Tensor) -> MSEParts:
    r"""Split the logit-matching loss into its offset part and its shape part.

    .. math::

        \underbrace{\frac{1}{NC}\sum_{n,c}(z_{nc}-v_{nc})^2}_{\texttt{mse\_logit\_loss}}
        = \underbrace{\frac{1}{N}\sum_n(\bar z_n-\bar v_n)^2}_{\text{offset}}
        + \underbrace{\frac{1}{NC}\sum_{n,c}\big((z_{nc}-\bar z_n)-(v_{nc}-\bar v_n)\big)^2}_{\text{shape}}

    with :math:`\bar z_n = \frac1C\sum_c z_{nc}`. Only the shape part changes
    the student's probabilities. Checks the inputs, then calls :func:`offset_and_shape`.

    Args:
        student_logits: the student's logits ``z`` (not probabilities).
        teacher_logits: the teacher's logits ``v``.

    Shape:
        both ``(N, C)``, exactly equal (no broadcasting); each part is a scalar.

    Returns:
        ``MSEParts(offset, shape)``; ``offset + shape == mse_logit_loss(z, v)``
        up to rounding.

    Raises:
        TypeError, ValueError: non-float or non-tensor input, mismatched shapes,
            an empty batch, NaN or infinite logits.

    Example::

        >>> mse_parts(torch.tensor([[3.0, 1.0]]), torch.tensor([[0.0, 0.0]]))
        MSEParts(offset=tensor(4.), shape=tensor(1.))
    """
    check_logits("student_logits", student_logits)
    check_logits("teacher_logits", teacher_logits)
    check_same_shape("student_logits", student_logits, "teacher_logits", teacher_logits)
    return offset_and_shape(student_logits, teacher_logits.detach())


def mse_student(X, logit_targets, *, seed, epochs, sizes=STUDENT_SIZES):
    """A fresh student fitted to ``logit_targets`` (the teacher's logits) by squared error, no labels."""
    set_seed(seed)  # the same initial weights as the label student of this seed
    student = mlp(sizes)
    fit(student, X, teacher_logits=logit_targets, loss_fn=mse_logit_loss, epochs=epochs,
        lr=STUDENT_RECIPE["lr"], weight_decay=STUDENT_RECIPE["weight_decay"], seed=seed, progress=False)
    return student


def train_arms(X, targets, teacher_logits, *, seeds, methods, epochs):
    """One student per method and seed, same recipe: only what the student is trained on differs."""
    students = {method: [] for method in methods}
    for seed in seeds:
        for method in methods:
            if method == "labels":  # cross-entropy on the true labels
                student, _ = train_student(X, targets, seed=seed, epochs=epochs)
            elif method == "hard_labels":  # cross-entropy on the teacher's argmax
                student, _ = train_student(X, teacher_logits.argmax(dim=1), seed=seed, epochs=epochs)
            elif method == "logits":  # squared error to the raw logits
                student = mse_student(X, teacher_logits, seed=seed, epochs=epochs)
            elif method == "centered_logits":  # squared error to the centred logits
                student = mse_student(X, subtract_row_means(teacher_logits), seed=seed, epochs=epochs)
            else:
                raise ValueError(f"method={method!r} is not a training method; allowed: {METHODS}")
            students[method].append(student)
    return students  # method -> one student per seed, in the order of seeds


def _check_X(X: object, n: int) -> Tensor:
    if not isinstance(X, Tensor) or not X.is_floating_point() or X.ndim != 2 or len(X) != n:
        shape = tuple(X.shape) if isinstance(X, Tensor) else type(X).__name__
        raise ValueError(f"X must be a floating-point (N, F) tensor with N={n} rows like teacher_logits, got {shape}")
    return X


def _check_seeds(seeds: object) -> list[int]:
    if isinstance(seeds, (str, bytes)) or not isinstance(seeds, (Sequence, range)):
        raise TypeError(f"seeds must be a sequence of integers, got {type(seeds).__name__}")
    seeds = [check_int("seed", s, low=0, high=2**32 - 1) for s in seeds]
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds={seeds!r} must hold at least one seed and no repeats")
    return seeds


def train_logit_matching_student(
    X: Tensor,
    teacher_logits: Tensor,
    *,
    center: bool = False,
    sizes: Sequence[int] | None = None,
    seed: int = 0,
    epochs: int | None = None,
) -> nn.Module:
    """Train a fresh student on ``mse_logit_loss`` against the teacher's logits (no labels).

    Same student and recipe as :func:`distill_lib.student.train_student`
    (:data:`~distill_lib.student.STUDENT_SIZES`, full-batch Adam,
    :data:`~distill_lib.student.STUDENT_RECIPE`), so only the targets differ.
    Checks every argument, then calls :func:`mse_student`.

    Args:
        X: training inputs ``(N, F)``.
        teacher_logits: the teacher's logits on ``X``, ``(N, C)``: the regression targets.
        center: subtract each row's mean from the targets first (:func:`center_logits`).
        sizes: layer widths (default ``STUDENT_SIZES``).
        seed: seeds the initialisation.
        epochs: full-batch Adam steps (default ``STUDENT_RECIPE["epochs"]``).

    Returns:
        The student, in eval mode.

    Raises:
        TypeError, ValueError: bad logits, ``X`` and ``teacher_logits`` with
            different numbers of rows, ``center`` not a bool, bad ``sizes``, ``seed`` or ``epochs``.

    Example::

        >>> v = predict_logits(teacher, split.X_train)
        >>> student = train_logit_matching_student(split.X_train, v, center=True, seed=0)
    """
    check_logits("teacher_logits", teacher_logits)
    if not isinstance(center, bool):
        raise TypeError(f"center must be True or False, got {center!r}")
    _check_X(X, len(teacher_logits))
    seed = check_int("seed", seed, low=0, high=2**32 - 1)
    epochs = STUDENT_RECIPE["epochs"] if epochs is None else check_int("epochs", epochs, low=1)
    sizes = list(sizes) if sizes is not None else list(STUDENT_SIZES)
    mlp(sizes)  # checks the widths before any training
    if sizes[0] != X.shape[1] or sizes[-1] != teacher_logits.shape[1]:
        raise ValueError(f"sizes={sizes} must start with X's {X.shape[1]} features and end with "
                         f"teacher_logits' {teacher_logits.shape[1]} classes")
    logit_targets = subtract_row_means(teacher_logits) if center else teacher_logits  # (N, C)
    return mse_student(X, logit_targets.detach(), seed=seed, epochs=epochs, sizes=sizes)


def train_per_method(
    X: Tensor,
    targets: Tensor,
    teacher_logits: Tensor,
    *,
    seeds: Sequence[int],
    epochs: int | None = None,
    methods: Sequence[str] = METHODS,
) -> dict[str, list[nn.Module]]:
    """Train the same student on different targets, once per seed (notebook 01's experiment).

    The methods (all with the shared student recipe, only the targets differ):

    - ``"labels"``: cross-entropy on the true labels ``targets`` (from scratch);
    - ``"hard_labels"``: cross-entropy on the teacher's argmax, ``teacher_logits.argmax(1)``;
    - ``"logits"``: :func:`~distill_lib.losses.mse_logit_loss` on the raw teacher logits;
    - ``"centered_logits"``: the same on :func:`center_logits` of them.

    Checks every argument, then calls :func:`train_arms`. Score the students with
    :func:`runs_on` on a validation or test set.

    Args:
        X: training inputs ``(N, F)``.
        targets: true class indices ``(N,)`` in ``[0, C)``.
        teacher_logits: the teacher's logits on ``X``, ``(N, C)``.
        seeds: one student per method and seed (at least one seed, no repeats).
        epochs: full-batch Adam steps (default ``STUDENT_RECIPE["epochs"]``).
        methods: a non-empty subset of :data:`METHODS`, no repeats.

    Returns:
        method -> one student per seed, in the order of ``seeds``.

    Raises:
        TypeError, ValueError: an unknown method, no seeds or a repeated seed,
            mismatched rows, bad logits or targets.

    Example::

        >>> students = train_per_method(split.X_train, split.y_train, v, seeds=range(5))
        >>> runs = runs_on(students, eval_set=(split.X_val, split.y_val), seeds=range(5))
    """
    check_logits("teacher_logits", teacher_logits)
    n, c = teacher_logits.shape
    check_targets(targets, n, c)
    _check_X(X, n)
    if isinstance(methods, str) or not isinstance(methods, Sequence):
        raise TypeError(f"methods must be a sequence of names from {METHODS}, got {methods!r}")
    unknown = [m for m in methods if m not in METHODS]
    if unknown or not methods or len(set(methods)) != len(methods):
        raise ValueError(f"methods={list(methods)!r}: each must be one of {METHODS}, at least one, no repeats")
    seeds = _check_seeds(seeds)
    epochs = STUDENT_RECIPE["epochs"] if epochs is None else check_int("epochs", epochs, low=1)
    return train_arms(X, targets, teacher_logits.detach(), seeds=seeds, methods=list(methods), epochs=epochs)


def runs_on(
    students: Mapping[str, Sequence[nn.Module]], *, eval_set: tuple[Tensor, Tensor], seeds: Sequence[int]
) -> dict[str, Runs]:
    """Per-image correctness of every student on ``eval_set``, as :class:`~distill_lib.stats.Runs` per method.

    Args:
        students: method -> one student per seed (what :func:`train_per_method` returns).
        eval_set: ``(X, targets)``, the validation or the test set.
        seeds: the seeds, in the order of each method's students.

    Returns:
        method -> :class:`~distill_lib.stats.Runs` (accuracies in %).

    Raises:
        TypeError, ValueError: a bad ``eval_set``, seeds, or a method with another number of students.
    """
    X, y = check_eval_set(eval_set)
    seeds = _check_seeds(seeds)
    if not isinstance(students, Mapping) or not students:
        raise TypeError("students must be a non-empty mapping of method -> list of students (one per seed)")
    for method, models in students.items():
        if len(models) != len(seeds) or not all(isinstance(m, nn.Module) for m in models):
            raise ValueError(f"students[{method!r}] must hold {len(seeds)} modules, one per seed")
    return {method: runs_of(list(models), (X, y), seeds) for method, models in students.items()}
