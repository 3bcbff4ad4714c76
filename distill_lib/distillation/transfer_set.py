r"""Transfer sets and their loss (notebook 03, sections 5-8).

A **transfer set** is what the student is distilled on: inputs, the teacher's logits on
them, and labels where we have them. Unlabelled rows carry the target :data:`UNLABELLED`
(``-100``, PyTorch's default ``ignore_index``); :func:`transfer_set_loss` applies the
cross-entropy to the labelled rows only and the soft-target term to every row.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn

from .._validation import check_lam, check_logits, check_same_shape, check_targets, check_temperature
from ..data import limited_labels, omit_class
from ..losses import cross_entropy_loss, distillation_loss, kd_kl_loss
from ..training import predict_logits

__all__ = ["UNLABELLED", "transfer_set_loss", "TransferSet", "make_transfer_set"]

#: The target of an unlabelled row in a transfer set (PyTorch's ``ignore_index`` default).
UNLABELLED: int = -100


def _check_transfer_targets(targets: object, num_examples: int, num_classes: int) -> Tensor:
    """Class indices in ``[0, C)`` or :data:`UNLABELLED`, shape ``(N,)``."""
    # Type, dtype and shape as check_targets; its range check cannot know UNLABELLED, so it sees zeros.
    check_targets(torch.zeros_like(targets) if isinstance(targets, Tensor) else targets, num_examples, num_classes)
    bad = targets[(targets != UNLABELLED) & ((targets < 0) | (targets >= num_classes))]
    if len(bad):
        raise ValueError(
            f"targets contain class index {int(bad[0])}; allowed: [0, {num_classes - 1}] "
            f"or UNLABELLED={UNLABELLED} for a row without a label"
        )
    return targets


def transfer_set_loss(
    student_logits: Tensor,
    teacher_logits: Tensor,
    targets: Tensor,
    temperature: float,
    lam: float,
) -> Tensor:
    r"""The distillation loss on a partly labelled transfer set.

    .. math::

        (1 - \lambda)\, \frac{1}{|L|} \sum_{n \in L} \mathrm{CE}(z_n, y_n)
        \;+\; \lambda\, T^2\, \frac{1}{N} \sum_{n=1}^{N} \mathrm{KL}\big(p^T_n \,\|\, q^T_n\big)

    where ``L`` is the set of labelled rows (``targets != UNLABELLED``): the
    cross-entropy is averaged over the labelled rows, the soft-target term
    (:func:`~distill_lib.losses.kd_kl_loss`) over all ``N`` rows. When every row
    is labelled it *is* :func:`~distill_lib.losses.distillation_loss`.

    Args:
        student_logits: the student's logits ``z`` (not probabilities).
        teacher_logits: the teacher's logits ``v`` at temperature 1 (detached inside).
        targets: class indices, or :data:`UNLABELLED` (``-100``) for a row without a label.
        temperature: ``T`` > 0 for the soft term.
        lam: ``λ`` in ``[0, 1]``; below 1 at least one row must be labelled.

    Shape:
        student_logits, teacher_logits: ``(N, C)``, exactly equal; targets ``(N,)``; output a scalar.

    Raises:
        TypeError, ValueError: as :func:`~distill_lib.losses.distillation_loss`; also a
        ``ValueError`` when ``lam < 1`` and no row is labelled (the CE would be 0/0).

    Example::

        >>> z, v = torch.zeros(3, 10), torch.randn(3, 10)
        >>> transfer_set_loss(z, v, torch.tensor([4, UNLABELLED, UNLABELLED]), 4.0, 0.9)
    """
    t = check_temperature(temperature)
    lam = check_lam(lam)
    check_logits("student_logits", student_logits)
    check_logits("teacher_logits", teacher_logits)
    check_same_shape("student_logits", student_logits, "teacher_logits", teacher_logits)
    _check_transfer_targets(targets, *student_logits.shape)
    labelled = targets != UNLABELLED  # (N,)
    if bool(labelled.all()):
        return distillation_loss(student_logits, teacher_logits, targets, t, lam)
    kd = kd_kl_loss(student_logits, teacher_logits, t)
    if lam == 1.0:
        return kd
    if not bool(labelled.any()):
        raise ValueError(f"lam={lam} < 1 needs at least one labelled row, but every target is UNLABELLED")
    ce = cross_entropy_loss(student_logits[labelled], targets[labelled].long())  # mean over labelled rows
    return (1.0 - lam) * ce + lam * kd


class TransferSet(NamedTuple):
    """What a student is distilled on: inputs, targets (or :data:`UNLABELLED`), teacher logits."""

    X: Tensor  # (N, 64)
    targets: Tensor  # (N,) class index or UNLABELLED
    teacher_logits: Tensor  # (N, 10)

    @property
    def num_labelled(self) -> int:
        """Rows that carry a label."""
        return int((self.targets != UNLABELLED).sum())


def make_transfer_set(
    X: Tensor, y: Tensor, teacher: nn.Module, *, per_class: int | None = None, omit_digit: int | None = None
) -> TransferSet:
    """Build a transfer set from labelled data and the teacher.

    Args:
        X: inputs ``(N, 64)``; y: their class indices ``(N,)``.
        teacher: the model whose logits become the soft targets.
        per_class: keep the labels of only this many images per class
            (:func:`~distill_lib.data.limited_labels`); the other rows stay in the set
            with the target :data:`UNLABELLED`. ``None`` keeps every label.
        omit_digit: drop every image of this digit first
            (:func:`~distill_lib.data.omit_class`). ``None`` keeps all digits.

    Returns:
        A :class:`TransferSet`; with ``per_class`` the labelled rows come first.

    Example::

        >>> ts = make_transfer_set(split.X_train, split.y_train, teacher, per_class=10)
        >>> ts.num_labelled, len(ts.X)
        (100, 1079)
    """
    if per_class is None:
        if omit_digit is not None:
            X, y = omit_class(X, y, omit_digit)
        return TransferSet(X, y, predict_logits(teacher, X))
    X_lab, y_lab, X_unl, y_unl = limited_labels(X, y, per_class)
    if omit_digit is not None:
        X_lab, y_lab = omit_class(X_lab, y_lab, omit_digit)
        X_unl, y_unl = omit_class(X_unl, y_unl, omit_digit)
    X = torch.cat([X_lab, X_unl])  # (N, 64)
    y = torch.cat([y_lab, torch.full_like(y_unl, UNLABELLED)])  # (N,)
    return TransferSet(X, y, predict_logits(teacher, X))
