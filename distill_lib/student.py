"""The workbook's student and its training recipe (used by notebooks 01-05).

The default student is an MLP 64-128-10 (9,610 parameters, 8.8x fewer than the teacher).
Notebooks 04 and 05 compress the student that :func:`train_student` distils.
"""

from __future__ import annotations

from functools import partial

from torch import Tensor, nn

from ._validation import check_recipe
from .losses import UNLABELLED, cross_entropy_loss, distillation_loss, transfer_set_loss
from .models import mlp
from .training import History, fit, set_seed

__all__ = ["STUDENT_SIZES", "STUDENT_RECIPE", "train_student", "train_on_transfer_set"]

#: The workbook's student: 64 inputs, one hidden layer of 128 ReLU units, 10 logits.
STUDENT_SIZES: list[int] = [64, 128, 10]
#: Full-batch Adam settings shared by every student in notebooks 01-05.
STUDENT_RECIPE: dict = {"epochs": 300, "lr": 1e-2, "weight_decay": 0.0}


def train_student(
    X: Tensor,
    targets: Tensor,
    *,
    teacher_logits: Tensor | None = None,
    temperature: float = 4.0,
    lam: float = 0.9,
    sizes: list[int] | None = None,
    seed: int = 0,
    epochs: int | None = None,
    progress: bool | None = False,
) -> tuple[nn.Module, History]:
    """Train a fresh student, distilled if ``teacher_logits`` is given, else on labels only.

    Args:
        X: training inputs ``(N, 64)``.
        targets: class indices ``(N,)``. When distilling, a row may be :data:`UNLABELLED`:
            it then contributes to the soft term only (see :func:`transfer_set_loss`).
        teacher_logits: the teacher's logits on ``X``, ``(N, 10)``; ``None`` trains from scratch.
        temperature, lam: the distillation loss's ``T`` and ``λ`` (ignored from scratch).
        sizes: layer widths (default :data:`STUDENT_SIZES`).
        seed: seeds the initialisation, so a seed gives the same student every time.
        epochs: full-batch Adam steps (default ``STUDENT_RECIPE["epochs"]``).
        progress: show a progress bar.

    Returns:
        ``(student, history)``, the student in eval mode.

    Raises:
        ValueError: bad ``temperature``/``lam``/``epochs``; an :data:`UNLABELLED` target
            without ``teacher_logits`` (train from scratch on the labelled rows only).

    Example::

        >>> v = predict_logits(teacher, split.X_train)
        >>> student, _ = train_student(split.X_train, split.y_train, teacher_logits=v, seed=0)
    """
    temperature, lam, epochs = check_recipe(temperature, lam, epochs)
    epochs = epochs if epochs is not None else STUDENT_RECIPE["epochs"]
    partly_labelled = isinstance(targets, Tensor) and bool((targets == UNLABELLED).any())
    if teacher_logits is None:
        if partly_labelled:
            raise ValueError(
                f"targets contain UNLABELLED={UNLABELLED} rows but no teacher_logits were given; "
                "a student trained from scratch needs a label on every row (pass only the labelled rows)"
            )
        loss_fn, extras = cross_entropy_loss, {}
    else:
        loss = transfer_set_loss if partly_labelled else distillation_loss
        loss_fn = partial(loss, temperature=temperature, lam=lam)
        extras = {"teacher_logits": teacher_logits}
    set_seed(seed)
    student = mlp(sizes if sizes is not None else STUDENT_SIZES)
    history = fit(
        student, X, targets, loss_fn=loss_fn, epochs=epochs,
        lr=STUDENT_RECIPE["lr"], weight_decay=STUDENT_RECIPE["weight_decay"], seed=seed,
        progress=progress, desc="student", **extras,
    )
    return student, history


def train_on_transfer_set(
    X: Tensor, targets: Tensor, teacher_logits: Tensor, *, temperature: float, lam: float, **kwargs
) -> tuple[nn.Module, History]:
    """:func:`train_student` on a transfer set; at ``lam = 0`` a student from scratch on its labelled rows.

    At ``λ = 0`` the loss is the cross-entropy on the labelled rows alone and the
    unlabelled rows (and ``T``) play no part. ``kwargs`` go to :func:`train_student`.
    """
    if lam == 0.0:
        keep = targets != UNLABELLED  # (N,)
        return train_student(X[keep], targets[keep], **kwargs)
    return train_student(X, targets, teacher_logits=teacher_logits, temperature=temperature, lam=lam, **kwargs)
