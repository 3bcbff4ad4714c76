"""Training a student: from scratch on labels, or distilled from the teacher (notebook 03).

The default student is an MLP 64-128-10 (9,610 parameters, 8.8x fewer than the teacher).
Notebooks 04 and 05 compress the student that :func:`train_student` distils.
"""

from __future__ import annotations

from functools import partial

from torch import Tensor, nn

from ._validation import check_lam, check_temperature
from .losses import cross_entropy_loss, distillation_loss
from .models import mlp
from .training import History, fit, set_seed

__all__ = ["STUDENT_SIZES", "STUDENT_RECIPE", "train_student"]

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
        targets: class indices ``(N,)``.
        teacher_logits: the teacher's logits on ``X``, ``(N, 10)``; ``None`` trains from scratch.
        temperature, lam: the distillation loss's ``T`` and ``λ`` (ignored from scratch).
        sizes: layer widths (default :data:`STUDENT_SIZES`).
        seed: seeds the initialisation, so a seed gives the same student every time.
        epochs: full-batch Adam steps (default ``STUDENT_RECIPE["epochs"]``).
        progress: show a progress bar.

    Returns:
        ``(student, history)``, the student in eval mode.

    Example::

        >>> v = predict_logits(teacher, split.X_train)
        >>> student, _ = train_student(split.X_train, split.y_train, teacher_logits=v, seed=0)
    """
    temperature = check_temperature(temperature)
    lam = check_lam(lam)
    set_seed(seed)
    student = mlp(sizes if sizes is not None else STUDENT_SIZES)
    if teacher_logits is None:
        loss_fn, extras = cross_entropy_loss, {}
    else:
        loss_fn = partial(distillation_loss, temperature=temperature, lam=lam)
        extras = {"teacher_logits": teacher_logits}
    history = fit(
        student, X, targets, loss_fn=loss_fn, epochs=epochs or STUDENT_RECIPE["epochs"],
        lr=STUDENT_RECIPE["lr"], weight_decay=STUDENT_RECIPE["weight_decay"], seed=seed,
        progress=progress, desc="student", **extras,
    )
    return student, history
