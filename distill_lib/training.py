"""Training: seeding, a small ``fit`` loop for any loss, and evaluation.

``fit`` passes the loss function the student's logits and, *by name*, whichever
of ``targets`` and ``teacher_logits`` you gave it. So every loss in
:mod:`distill_lib.losses` plugs in as it is::

    fit(student, X, targets=y, loss_fn=cross_entropy_loss)                 # labels
    fit(student, X, teacher_logits=v, loss_fn=mse_logit_loss)              # logit matching
    fit(student, X, targets=y, teacher_logits=v,
        loss_fn=partial(distillation_loss, temperature=4.0, lam=0.9))      # KD
"""

from __future__ import annotations

import math
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor, nn

from ._validation import check_int, check_real
from .losses import cross_entropy_loss

__all__ = ["History", "set_seed", "fit", "evaluate", "predict_logits", "confusion_matrix", "progress_enabled"]

LossFn = Callable[..., Tensor]

#: Set this environment variable to 1 to hide progress bars (CI, papermill, nbval do).
QUIET_ENV = "DISTILL_LIB_QUIET"


@dataclass
class History:
    """What ``fit`` recorded: the mean training loss of each epoch, optional validation accuracy."""

    loss: list[float] = field(default_factory=list)
    val_accuracy: list[float] = field(default_factory=list)
    seconds: float = 0.0


def set_seed(seed: int) -> None:
    """Seed Python's, NumPy's and PyTorch's random number generators."""
    seed = check_int("seed", seed, low=0, high=2**32 - 1)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def progress_enabled() -> bool:
    """Progress bars show unless ``DISTILL_LIB_QUIET`` or ``CI`` is set to a true value."""
    for name in (QUIET_ENV, "CI"):
        if os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no"):
            return False
    return True


def _check_inputs(X: Tensor, targets: Tensor | None, teacher_logits: Tensor | None) -> None:
    if not isinstance(X, Tensor) or not X.is_floating_point() or X.ndim != 2:
        raise TypeError(f"X must be a floating-point tensor of shape (N, F), got {X!r:.60}")
    if len(X) == 0:
        raise ValueError("X is empty; need at least one training example")
    if targets is None and teacher_logits is None:
        raise ValueError("give targets, teacher_logits or both: the loss needs something to match")
    for name, t in (("targets", targets), ("teacher_logits", teacher_logits)):
        if t is not None and (not isinstance(t, Tensor) or len(t) != len(X)):
            raise ValueError(f"{name} must be a tensor with {len(X)} rows (one per row of X)")


def fit(
    model: nn.Module,
    X: Tensor,
    targets: Tensor | None = None,
    *,
    teacher_logits: Tensor | None = None,
    loss_fn: LossFn | None = None,
    epochs: int = 100,
    lr: float = 1e-2,
    weight_decay: float = 0.0,
    batch_size: int | None = None,
    val: tuple[Tensor, Tensor] | None = None,
    seed: int | None = None,
    progress: bool | None = None,
    desc: str = "training",
) -> History:
    """Train ``model`` with Adam, full-batch (default) or in shuffled mini-batches.

    Args:
        model: the network to train; it is left in ``eval()`` mode.
        X: inputs, ``(N, F)``.
        targets: class indices ``(N,)``, or ``None`` for a teacher-only loss.
        teacher_logits: precomputed teacher logits ``(N, C)``, or ``None``.
        loss_fn: called as ``loss_fn(student_logits, targets=..., teacher_logits=...)``
            with only the keywords you gave; defaults to cross-entropy on ``targets``.
        epochs: passes over ``X`` (>= 1).
        lr, weight_decay: Adam's learning rate (> 0) and L2 penalty (>= 0).
        batch_size: ``None`` for one full-batch step per epoch, else the mini-batch size.
        val: ``(X_val, y_val)`` to record validation accuracy after every epoch.
        seed: if given, seeds the shuffling of mini-batches (and dropout) for repeatability.
        progress: show a tqdm bar; ``None`` means unless ``DISTILL_LIB_QUIET``/``CI`` is set.
        desc: the progress bar's label.

    Returns:
        A :class:`History` with one loss per epoch.

    Example::

        >>> model = mlp([64, 32, 10])
        >>> history = fit(model, split.X_train, split.y_train, epochs=50)
        >>> evaluate(model, split.X_test, split.y_test)
    """
    _check_inputs(X, targets, teacher_logits)
    epochs = check_int("epochs", epochs, low=1)
    lr = check_real("lr", lr)
    weight_decay = check_real("weight_decay", weight_decay)
    if not (0 < lr < math.inf) or not (0 <= weight_decay < math.inf):
        raise ValueError(f"lr={lr} must be finite and > 0, weight_decay={weight_decay} finite and >= 0")
    if batch_size is not None:
        batch_size = check_int("batch_size", batch_size, low=1)
    if loss_fn is None:
        if targets is None:
            raise ValueError("loss_fn is required when no targets are given")
        loss_fn = cross_entropy_loss
    extras = {k: v for k, v in (("targets", targets), ("teacher_logits", teacher_logits)) if v is not None}
    if seed is not None:
        set_seed(seed)
    generator = torch.Generator().manual_seed(seed if seed is not None else int(torch.initial_seed() % 2**63))

    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    history = History()
    show = progress_enabled() if progress is None else bool(progress)
    bar = _progress_bar(epochs, desc) if show else None
    n = len(X)
    start = time.perf_counter()
    model.train()
    for epoch in range(epochs):
        if batch_size is None or batch_size >= n:
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(X), **extras)  # (N, C) logits -> scalar
            loss.backward()
            optimizer.step()
            epoch_loss = loss.item()
        else:
            order = torch.randperm(n, generator=generator)
            total = 0.0
            for i in range(0, n, batch_size):
                idx = order[i : i + batch_size]
                optimizer.zero_grad(set_to_none=True)
                loss = loss_fn(model(X[idx]), **{k: v[idx] for k, v in extras.items()})
                loss.backward()
                optimizer.step()
                total += loss.item() * len(idx)
            epoch_loss = total / n
        history.loss.append(epoch_loss)
        if val is not None:
            history.val_accuracy.append(evaluate(model, *val))
            model.train()
        if bar is not None:
            if epoch % max(1, epochs // 20) == 0 or epoch == epochs - 1:
                bar.set_postfix(loss=f"{epoch_loss:.4f}", refresh=False)
            bar.update(1)
    if bar is not None:
        bar.close()
    history.seconds = time.perf_counter() - start
    model.eval()
    return history


def _progress_bar(total: int, desc: str):
    from tqdm.auto import tqdm  # a widget in JupyterLab, text in a terminal

    return tqdm(total=total, desc=desc, unit="epoch", leave=True)


@torch.no_grad()
def predict_logits(model: nn.Module, X: Tensor) -> Tensor:
    """The model's logits for ``X`` in eval mode, without gradients. ``(N, F) -> (N, C)``."""
    model.eval()
    return model(X)


def evaluate(model: nn.Module, X: Tensor, targets: Tensor) -> float:
    """Accuracy in ``[0, 1]`` of ``model`` on ``(X, targets)``, in eval mode.

    Example::

        >>> evaluate(teacher, split.X_test, split.y_test)
        0.98...
    """
    _check_eval_targets(X, targets)
    predictions = predict_logits(model, X).argmax(dim=1)  # (N,)
    return (predictions == targets).float().mean().item()


def _check_eval_targets(X: Tensor, targets: Tensor) -> None:
    if not isinstance(targets, Tensor) or targets.dtype.is_floating_point or targets.dtype == torch.bool:
        raise TypeError(f"targets must be an integer tensor of class indices, got {getattr(targets, 'dtype', type(targets))}")
    if len(X) != len(targets) or len(X) == 0:
        raise ValueError(f"X has {len(X)} rows and targets {len(targets)}; need the same, non-zero number")


def confusion_matrix(model: nn.Module, X: Tensor, targets: Tensor, num_classes: int = 10) -> Tensor:
    """Counts ``M[true, predicted]`` of ``model``'s predictions on ``(X, targets)``.

    Shape:
        output ``(num_classes, num_classes)``, int64; rows sum to the class counts.

    Example::

        >>> M = confusion_matrix(teacher, split.X_test, split.y_test)
        >>> M.trace().item() / M.sum().item()  # the accuracy
    """
    _check_eval_targets(X, targets)
    predictions = predict_logits(model, X).argmax(dim=1)  # (N,)
    flat = targets.long() * num_classes + predictions  # (N,) index into the flattened matrix
    return torch.bincount(flat, minlength=num_classes * num_classes).reshape(num_classes, num_classes)
