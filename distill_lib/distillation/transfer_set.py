r"""Transfer sets (notebook 03, sections 1.1 and 4-11).

A **transfer set** is what the student is distilled on: inputs, the teacher's logits on
them, and labels where we have them. Unlabelled rows carry the target
:data:`~distill_lib.losses.UNLABELLED` (``-100``, PyTorch's default ``ignore_index``);
:func:`~distill_lib.losses.transfer_set_loss` applies the cross-entropy to the labelled
rows only and the soft-target term to every row.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn

from ..data import limited_labels, omit_class
from ..losses import UNLABELLED
from ..training import predict_logits

__all__ = ["TransferSet", "make_transfer_set"]

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
