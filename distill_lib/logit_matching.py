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
measures both parts. Notebook 02 shows that the high-temperature limit of the
distillation loss is exactly half the shape part.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import Tensor, nn

from ._validation import check_int, check_logits, check_same_shape, check_targets
from .student import STUDENT_RECIPE, STUDENT_SIZES, train_student
from .losses import mse_logit_loss
from .models import mlp
from .training import History, evaluate, fit, set_seed

__all__ = [
    "METHODS",
    "MSEParts",
    "Comparison",
    "center_logits",
    "mse_parts",
    "train_logit_matching_student",
    "compare_targets",
]

#: What a student can be trained on, in the order notebook 01 shows them.
METHODS: tuple[str, ...] = ("labels", "hard_labels", "logits", "centered_logits")


def center_logits(logits: Tensor) -> Tensor:
    r"""Subtract each example's mean logit: ``logits - logits.mean(dim=1, keepdim=True)``.

    The result gives the same softmax at every temperature (softmax is
    shift-invariant) and each row sums to zero.

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
    return logits - logits.mean(dim=1, keepdim=True)  # (N, C) - (N, 1)


class MSEParts(NamedTuple):
    """``mse_logit_loss`` split into a part softmax ignores and a part it does not."""

    offset: Tensor  #: mean over examples of the squared difference of mean logits
    shape: Tensor  #: ``mse_logit_loss`` of the centred logits


def mse_parts(student_logits: Tensor, teacher_logits: Tensor) -> MSEParts:
    r"""Split the logit-matching loss into its offset part and its shape part.

    .. math::

        \underbrace{\frac{1}{NC}\sum_{n,c}(z_{nc}-v_{nc})^2}_{\texttt{mse\_logit\_loss}}
        = \underbrace{\frac{1}{N}\sum_n(\bar z_n-\bar v_n)^2}_{\text{offset}}
        + \underbrace{\frac{1}{NC}\sum_{n,c}\big((z_{nc}-\bar z_n)-(v_{nc}-\bar v_n)\big)^2}_{\text{shape}}

    with :math:`\bar z_n = \frac1C\sum_c z_{nc}`. Only the shape part changes
    the student's probabilities.

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
    diff = student_logits - teacher_logits  # (N, C)
    mean_diff = diff.mean(dim=1, keepdim=True)  # (N, 1)
    offset = (mean_diff**2).mean()
    shape = ((diff - mean_diff) ** 2).mean()
    return MSEParts(offset, shape)


def train_logit_matching_student(
    X: Tensor,
    teacher_logits: Tensor,
    *,
    center: bool = False,
    sizes: Sequence[int] | None = None,
    seed: int = 0,
    epochs: int | None = None,
    progress: bool | None = False,
) -> tuple[nn.Module, History]:
    """Train a fresh student on ``mse_logit_loss`` against the teacher's logits (no labels).

    Same student and recipe as :func:`distill_lib.distillation.train_student`
    (:data:`~distill_lib.distillation.STUDENT_SIZES`, full-batch Adam,
    :data:`~distill_lib.distillation.STUDENT_RECIPE`), so only the targets differ.

    Args:
        X: training inputs ``(N, F)``.
        teacher_logits: the teacher's logits on ``X``, ``(N, C)``: the regression targets.
        center: subtract each row's mean from the targets first (:func:`center_logits`).
        sizes: layer widths (default ``STUDENT_SIZES``).
        seed: seeds the initialisation.
        epochs: full-batch Adam steps (default ``STUDENT_RECIPE["epochs"]``).
        progress: show a progress bar.

    Returns:
        ``(student, history)``, the student in eval mode.

    Raises:
        TypeError, ValueError: bad logits, ``X`` and ``teacher_logits`` with
            different numbers of rows, ``center`` not a bool, bad ``seed`` or ``epochs``.

    Example::

        >>> v = predict_logits(teacher, split.X_train)
        >>> student, _ = train_logit_matching_student(split.X_train, v, center=True, seed=0)
    """
    check_logits("teacher_logits", teacher_logits)
    if not isinstance(center, bool):
        raise TypeError(f"center must be True or False, got {center!r}")
    if not isinstance(X, Tensor) or X.ndim != 2 or len(X) != len(teacher_logits):
        shape = tuple(X.shape) if isinstance(X, Tensor) else type(X).__name__
        raise ValueError(f"X must be (N, F) with N={len(teacher_logits)} rows like teacher_logits, got {shape}")
    seed = check_int("seed", seed, low=0, high=2**32 - 1)
    if epochs is not None:
        epochs = check_int("epochs", epochs, low=1)
    targets = center_logits(teacher_logits) if center else teacher_logits  # (N, C)
    set_seed(seed)
    student = mlp(list(sizes) if sizes is not None else STUDENT_SIZES)
    history = fit(
        student, X, teacher_logits=targets.detach(), loss_fn=mse_logit_loss,
        epochs=epochs or STUDENT_RECIPE["epochs"], lr=STUDENT_RECIPE["lr"],
        weight_decay=STUDENT_RECIPE["weight_decay"], seed=seed, progress=progress, desc="logit matching",
    )
    return student, history


class Comparison(NamedTuple):
    """What :func:`compare_targets` measured."""

    accuracy: dict[str, list[float]]  #: method -> accuracy on the evaluation set, one per seed
    students: dict[str, nn.Module]  #: method -> the student trained with the first seed


def compare_targets(
    X: Tensor,
    targets: Tensor,
    teacher_logits: Tensor,
    X_eval: Tensor,
    y_eval: Tensor,
    *,
    seeds: Sequence[int],
    epochs: int | None = None,
    methods: Sequence[str] = METHODS,
) -> Comparison:
    """Train the same student on different targets, once per seed, and evaluate each.

    The methods (all with the shared student recipe, only the targets differ):

    - ``"labels"``: cross-entropy on the true labels ``targets`` (from scratch);
    - ``"hard_labels"``: cross-entropy on the teacher's argmax, ``teacher_logits.argmax(1)``;
    - ``"logits"``: :func:`~distill_lib.losses.mse_logit_loss` on the raw teacher logits;
    - ``"centered_logits"``: the same on :func:`center_logits` of them.

    Args:
        X: training inputs ``(N, F)``.
        targets: true class indices ``(N,)``.
        teacher_logits: the teacher's logits on ``X``, ``(N, C)``.
        X_eval, y_eval: where accuracy is measured (e.g. the test set).
        seeds: one student per method and seed (at least one seed, no repeats).
        epochs: full-batch Adam steps (default ``STUDENT_RECIPE["epochs"]``).
        methods: a subset of :data:`METHODS`.

    Returns:
        A :class:`Comparison`: accuracies in ``[0, 1]`` per method and seed (in
        the order of ``seeds``), and the first seed's students.

    Raises:
        ValueError: an unknown method, no seeds or a repeated seed, mismatched rows.

    Example::

        >>> result = compare_targets(split.X_train, split.y_train, v, split.X_test, split.y_test, seeds=range(5))
        >>> result.accuracy["centered_logits"]
    """
    check_logits("teacher_logits", teacher_logits)
    check_targets(targets, *teacher_logits.shape)
    unknown = [m for m in methods if m not in METHODS]
    if unknown or not methods:
        raise ValueError(f"methods={list(methods)!r}: each must be one of {METHODS}")
    seeds = [check_int("seed", s, low=0, high=2**32 - 1) for s in seeds]
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds={seeds!r} must hold at least one seed and no repeats")
    hard = teacher_logits.argmax(dim=1)  # (N,) the teacher's hard labels
    accuracy: dict[str, list[float]] = {m: [] for m in methods}
    students: dict[str, nn.Module] = {}
    for seed in seeds:
        for method in methods:
            if method == "labels":
                student, _ = train_student(X, targets, seed=seed, epochs=epochs)
            elif method == "hard_labels":
                student, _ = train_student(X, hard, seed=seed, epochs=epochs)
            else:
                student, _ = train_logit_matching_student(
                    X, teacher_logits, center=(method == "centered_logits"), seed=seed, epochs=epochs
                )
            accuracy[method].append(evaluate(student, X_eval, y_eval))
            students.setdefault(method, student)
    return Comparison(accuracy, students)
