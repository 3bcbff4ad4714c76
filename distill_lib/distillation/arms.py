"""The arms of notebook 03's experiments, and a scratch student given its best chance (sections 4-5).

A fair comparison gives the student trained from scratch everything it could have had
without a teacher: the teacher's own augmentation (:func:`~distill_lib.data.augment`),
label smoothing and early stopping on the validation set. :func:`choose_scratch_recipe`
chooses the first two on the validation set (a small grid, each student with early
stopping); :func:`full_label_arms` and :func:`few_label_arms` build the arms that
:func:`~distill_lib.distillation.run_experiment` trains. Distilling from a teacher trained
*without* augmentation (:func:`~distill_lib.teacher.train_teacher` with ``augment_copies=0``)
separates what the soft targets give from what the teacher's augmentation gives.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import NamedTuple

from torch import Tensor

from .._validation import check_eval_set, check_int, check_logits, check_real, check_recipe
from ..losses import UNLABELLED
from ..stats import Runs
from ..student import check_training_data, train_student
from .experiment import Arm, check_seeds, run_arms
from .transfer_set import TransferSet

__all__ = ["SCRATCH_AUGMENT_COPIES", "SCRATCH_LABEL_SMOOTHING", "ScratchChoice", "choose_scratch_recipe",
           "full_label_arms", "few_label_arms"]

#: Candidate augmentation for the scratch student: none, or the teacher's 9 jittered copies.
SCRATCH_AUGMENT_COPIES: tuple[int, ...] = (0, 9)
#: Candidate label smoothing for the scratch student.
SCRATCH_LABEL_SMOOTHING: tuple[float, ...] = (0.0, 0.15, 0.3)


class ScratchChoice(NamedTuple):
    """The scratch recipe chosen on validation, and the validation results of every candidate."""

    recipe: dict  # {"augment_copies": ..., "label_smoothing": ...}: train_student keywords
    runs: dict[str, Runs]  # candidate name -> validation correctness (each student early-stopped)


def _candidate_name(copies: int, smoothing: float) -> str:
    return f"aug {copies}, ls {smoothing:g}"


def choose_scratch_recipe(
    X: Tensor,
    targets: Tensor,
    eval_set: tuple[Tensor, Tensor],
    *,
    seeds: Sequence[int] = (0, 1),
    augment_copies: Sequence[int] = SCRATCH_AUGMENT_COPIES,
    label_smoothing: Sequence[float] = SCRATCH_LABEL_SMOOTHING,
    epochs: int | None = None,
) -> ScratchChoice:
    """Choose augmentation and label smoothing for a student trained from scratch, on validation.

    Every candidate ``(augment_copies, label_smoothing)`` trains one student per seed with
    early stopping on ``eval_set`` (the weights of its best evaluation, every 10 epochs);
    the candidate with the highest mean accuracy on ``eval_set`` wins (the first on a tie).
    The same validation set stops and chooses, so the winner's validation accuracy is
    optimistic: report it on the test set.

    Args:
        X, targets: labelled training data (every row labelled).
        eval_set: ``(X_val, y_val)``: the validation set.
        seeds: seeds per candidate.
        augment_copies, label_smoothing: the candidates (each axis non-empty).
        epochs: as :func:`~distill_lib.student.train_student`.

    Returns:
        A :class:`ScratchChoice`; ``.recipe`` goes to ``train_student(..., eval_set=..., **recipe)``.

    Example::

        >>> choice = choose_scratch_recipe(split.X_train, split.y_train, (split.X_val, split.y_val))
        >>> choice.recipe
        {'augment_copies': 9, 'label_smoothing': 0.3}
    """
    seeds = check_seeds(seeds)
    eval_set = check_eval_set(eval_set)
    check_recipe(1.0, 0.0, epochs)
    copies = [check_int("augment_copies", c, low=0, high=100) for c in augment_copies]
    smoothing = [check_real("label_smoothing", s) for s in label_smoothing]
    if not copies or not smoothing or any(not 0.0 <= s < 1.0 for s in smoothing):
        raise ValueError(f"augment_copies={copies} must be non-empty and label_smoothing={smoothing} "
                         "non-empty with values in [0, 1)")
    if isinstance(targets, Tensor) and bool((targets == UNLABELLED).any()):
        raise ValueError("targets contain UNLABELLED rows: a scratch student needs a label on every row")
    candidates = {_candidate_name(c, s): {"augment_copies": c, "label_smoothing": s} for c in copies for s in smoothing}
    check_training_data(X, targets, None, None, distilled=False)
    arms = {name: partial(train_student, X, targets, epochs=epochs, eval_set=eval_set, **recipe)
            for name, recipe in candidates.items()}
    runs = run_arms(arms, seeds, eval_set).runs
    best = max(runs, key=lambda name: runs[name].mean)  # max keeps the first on a tie
    return ScratchChoice(dict(candidates[best]), runs)


def _check_common(temperature: float, lam: float, epochs: int | None, eval_set: object) -> tuple:
    temperature, lam, epochs = check_recipe(temperature, lam, epochs)
    return temperature, lam, epochs, check_eval_set(eval_set)


def full_label_arms(
    transfer: TransferSet,
    plain_teacher_logits: Tensor,
    scratch_recipe: dict,
    eval_set: tuple[Tensor, Tensor],
    *,
    temperature: float = 4.0,
    lam: float = 0.9,
    epochs: int | None = None,
) -> dict[str, Arm]:
    """The four arms of experiment 1 (every training label), for :func:`run_experiment`.

    * ``"scratch"``: cross-entropy on the labels, the workbook's recipe;
    * ``"scratch_best"``: the same with ``scratch_recipe`` (from :func:`choose_scratch_recipe`)
      and early stopping on ``eval_set`` (the validation set);
    * ``"distilled_plain_teacher"``: distilled from a teacher trained without augmentation;
    * ``"distilled"``: distilled from the workbook's teacher (trained with augmentation).

    Args:
        transfer: every training image, labelled, with the teacher's logits.
        plain_teacher_logits: the un-augmented teacher's logits on ``transfer.X``.
        scratch_recipe: ``train_student`` keywords for ``"scratch_best"``.
        eval_set: the validation set, for early stopping.
        temperature, lam, epochs: the distilled arms' recipe.
    """
    temperature, lam, epochs, eval_set = _check_common(temperature, lam, epochs, eval_set)
    _check_transfer(transfer, plain_teacher_logits)
    X, y = transfer.X, transfer.targets
    kd = dict(temperature=temperature, lam=lam, epochs=epochs)
    return {
        "scratch": partial(train_student, X, y, epochs=epochs),
        "scratch_best": partial(train_student, X, y, epochs=epochs, eval_set=eval_set, **_recipe(scratch_recipe)),
        "distilled_plain_teacher": partial(train_student, X, y, teacher_logits=plain_teacher_logits, **kd),
        "distilled": partial(train_student, X, y, teacher_logits=transfer.teacher_logits, **kd),
    }


def few_label_arms(
    transfer: TransferSet,
    scratch_recipe: dict,
    eval_set: tuple[Tensor, Tensor],
    *,
    temperature: float = 4.0,
    lam: float = 0.9,
    epochs: int | None = None,
) -> dict[str, Arm]:
    """The four arms of experiment 2 (few labels and an unlabelled transfer set).

    * ``"scratch"``: cross-entropy on the labelled rows only;
    * ``"scratch_best"``: the same with ``scratch_recipe`` and early stopping on ``eval_set``;
    * ``"distilled_labelled_only"``: distilled on the labelled rows alone (soft targets, no extra images);
    * ``"distilled"``: :func:`~distill_lib.losses.transfer_set_loss` on every row.
    """
    temperature, lam, epochs, eval_set = _check_common(temperature, lam, epochs, eval_set)
    _check_transfer(transfer, getattr(transfer, "teacher_logits", None))
    keep = transfer.targets != UNLABELLED  # (N,)
    if not bool(keep.any()):
        raise ValueError("the transfer set has no labelled row; few_label_arms needs some labels")
    X_lab, y_lab, v_lab = transfer.X[keep], transfer.targets[keep], transfer.teacher_logits[keep]
    kd = dict(temperature=temperature, lam=lam, epochs=epochs)
    return {
        "scratch": partial(train_student, X_lab, y_lab, epochs=epochs),
        "scratch_best": partial(train_student, X_lab, y_lab, epochs=epochs, eval_set=eval_set,
                                **_recipe(scratch_recipe)),
        "distilled_labelled_only": partial(train_student, X_lab, y_lab, teacher_logits=v_lab, **kd),
        "distilled": partial(train_student, transfer.X, transfer.targets, teacher_logits=transfer.teacher_logits, **kd),
    }


def _recipe(recipe: object) -> dict:
    if not isinstance(recipe, dict) or not set(recipe) <= {"augment_copies", "label_smoothing"}:
        raise ValueError(f"scratch_recipe must be a dict with keys augment_copies and/or label_smoothing "
                         f"(ScratchChoice.recipe), got {recipe!r:.80}")
    return recipe


def _check_transfer(transfer: object, teacher_logits: object) -> None:
    if not isinstance(transfer, TransferSet):
        raise TypeError(f"transfer must be a TransferSet (see make_transfer_set), got {type(transfer).__name__}")
    check_logits("plain_teacher_logits" if teacher_logits is not transfer.teacher_logits else "teacher_logits",
                 teacher_logits)
    if teacher_logits.shape != transfer.teacher_logits.shape:
        raise ValueError(f"plain_teacher_logits has shape {tuple(teacher_logits.shape)}; the transfer set needs "
                         f"{tuple(transfer.teacher_logits.shape)} (one row per image)")
