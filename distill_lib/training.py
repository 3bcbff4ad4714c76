"""Training: seeding, the training loop every notebook uses, and evaluation.

The loop itself is two short functions, shown in notebook 00: :func:`train_step`
(one optimiser step on one batch) and :func:`train_epoch` (one pass over the
data, full-batch or in shuffled mini-batches). :func:`fit` checks its inputs
once, then calls :func:`train_epoch` once per epoch and keeps the books
(history, validation accuracy, a progress bar).

``fit`` passes the loss function the student's logits and, *by name*, whichever
of ``targets`` and ``teacher_logits`` you gave it. So every loss in
:mod:`distill_lib.losses` plugs in as it is::

    fit(student, X, targets=y)                                             # labels (cross-entropy)
    fit(student, X, teacher_logits=v, loss_fn=mse_logit_loss)              # logit matching
    fit(student, X, targets=y, teacher_logits=v,
        loss_fn=make_loss(temperature=4.0, lam=0.9))                       # distillation
"""

from __future__ import annotations

import math
import os
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor, nn

from ._validation import check_eval_set, check_finite_tensor, check_int, check_logits, check_module, check_real
from .losses import UNLABELLED, cross_entropy_loss
from .stats import Runs

__all__ = [
    "runs_of",
    "History",
    "set_seed",
    "train_step",
    "train_epoch",
    "fit",
    "evaluate",
    "predict_logits",
    "confusion_matrix",
    "progress_enabled",
]

LossFn = Callable[..., Tensor]

#: Set this environment variable to 1 to hide progress bars (CI, papermill, nbval do).
QUIET_ENV = "DISTILL_LIB_QUIET"


@dataclass
class History:
    """What ``fit`` recorded: the mean training loss of each epoch, and accuracy on ``eval_set`` in [0, 1]."""

    loss: list[float] = field(default_factory=list)
    eval_accuracy: list[float] = field(default_factory=list)
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


def train_step(model, optimizer, loss_fn, X, **loss_inputs):
    """One optimiser step on one batch: forward, loss, backward, update. Returns the loss."""
    optimizer.zero_grad(set_to_none=True)
    loss = loss_fn(model(X), **loss_inputs)  # (B, C) logits -> a scalar
    loss.backward()  # gradients of the loss with respect to every parameter
    optimizer.step()  # the update, e.g. Adam's
    return loss.item()


def train_epoch(model, optimizer, loss_fn, X, loss_inputs, batch_size, generator):
    """One pass over ``X``: one full-batch step, or shuffled mini-batches. Returns the mean loss."""
    model.train()  # dropout on
    n = len(X)
    if batch_size is None or batch_size >= n:
        return train_step(model, optimizer, loss_fn, X, **loss_inputs)
    order = torch.randperm(n, generator=generator)  # (N,) a new shuffle every epoch
    total = 0.0
    for i in range(0, n, batch_size):
        idx = order[i : i + batch_size]  # (B,)
        batch = {name: values[idx] for name, values in loss_inputs.items()}
        total += train_step(model, optimizer, loss_fn, X[idx], **batch) * len(idx)
    return total / n


def _num_classes(model: nn.Module) -> int | None:
    """The output width of the model's last layer that has ``out_features`` (None if there is none)."""
    for module in reversed(list(model.modules())):
        width = getattr(module, "out_features", None)
        if isinstance(width, int):
            return width
    return None


def _in_features(model: nn.Module) -> int | None:
    """The input width of the model's first layer that has ``in_features`` (None if there is none)."""
    for module in model.modules():
        width = getattr(module, "in_features", None)
        if isinstance(width, int):
            return width
    return None


def _check_features(X: Tensor, model: nn.Module, name: str = "X") -> Tensor:
    """``X`` must have as many columns as the model's first layer takes (a clear error, not torch's mat1/mat2)."""
    width = _in_features(model)
    if width is not None and X.shape[1] != width:
        raise ValueError(f"{name} has shape {tuple(X.shape)} but the model's first layer takes {width} features: "
                         f"need shape (N, {width})")
    return X


def _check_inputs(X: object, name: str = "X") -> Tensor:
    if not isinstance(X, Tensor) or not X.is_floating_point() or X.ndim != 2:
        shape = tuple(X.shape) if isinstance(X, Tensor) else type(X).__name__
        raise TypeError(f"{name} must be a floating-point tensor of shape (N, F), got {shape}")
    if len(X) == 0:
        raise ValueError(f"{name} is empty; need at least one example")
    return check_finite_tensor(name, X, what="inputs")


def _check_training_targets(targets: object, n: int, num_classes: int | None) -> Tensor:
    """Class indices ``(N,)`` in ``[0, C)``, or :data:`~distill_lib.losses.UNLABELLED` for a row without a label."""
    if not isinstance(targets, Tensor) or targets.dtype.is_floating_point or targets.dtype in (torch.bool,):
        what = getattr(targets, "dtype", type(targets).__name__)
        raise TypeError(f"targets must be an integer tensor of class indices, got {what}")
    if targets.shape != (n,):
        raise ValueError(f"targets must have shape ({n},), one class index per row of X, got {tuple(targets.shape)}")
    labelled = targets[targets != UNLABELLED]
    high = num_classes - 1 if num_classes is not None else None
    bad = labelled[(labelled < 0) | (labelled > high)] if high is not None else labelled[labelled < 0]
    if len(bad):
        allowed = f"[0, {high}]" if high is not None else "[0, C - 1]"
        raise ValueError(f"targets contain class index {int(bad[0])}; allowed: {allowed} or UNLABELLED={UNLABELLED}")
    return targets


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
    eval_set: tuple[Tensor, Tensor] | None = None,
    seed: int | None = None,
    progress: bool | None = None,
    desc: str = "training",
) -> History:
    """Train ``model`` with Adam, full-batch (default) or in shuffled mini-batches.

    Checks every argument first, then runs :func:`train_epoch` ``epochs`` times.

    Args:
        model: the network to train; it is left in ``eval()`` mode.
        X: inputs, finite, ``(N, F)``.
        targets: class indices ``(N,)`` in ``[0, C)`` (or ``UNLABELLED`` rows for a
            transfer-set loss), or ``None`` for a teacher-only loss.
        teacher_logits: precomputed teacher logits ``(N, C)``, or ``None``.
        loss_fn: called as ``loss_fn(student_logits, targets=..., teacher_logits=...)``
            with only the keywords you gave; defaults to cross-entropy on ``targets``.
        epochs: passes over ``X`` (>= 1).
        lr, weight_decay: Adam's learning rate (finite, > 0) and L2 penalty (finite, >= 0).
        batch_size: ``None`` for one full-batch step per epoch, else the mini-batch size (>= 1).
        eval_set: ``(X_eval, targets_eval)`` to record accuracy (in [0, 1]) after every epoch.
        seed: if given, seeds the initial RNG state and the shuffling, for repeatability.
        progress: show a tqdm bar; ``None`` means unless ``DISTILL_LIB_QUIET``/``CI`` is set.
        desc: the progress bar's label.

    Returns:
        A :class:`History` with one loss per epoch (and one accuracy per epoch with ``eval_set``).

    Raises:
        TypeError, ValueError: a bad argument, named in the message; nothing has
            changed (weights, mode, random state) when one is raised.

    Example::

        >>> model = mlp([64, 32, 10])
        >>> history = fit(model, split.X_train, split.y_train, epochs=50, eval_set=(split.X_val, split.y_val))
        >>> history.eval_accuracy[-1]
    """
    check_module("model", model)
    X = _check_features(_check_inputs(X), model)
    if targets is None and teacher_logits is None:
        raise ValueError("give targets, teacher_logits or both: the loss needs something to match")
    num_classes = _num_classes(model)
    if teacher_logits is not None:
        check_logits("teacher_logits", teacher_logits)
        if len(teacher_logits) != len(X):
            raise ValueError(f"teacher_logits has {len(teacher_logits)} rows but X has {len(X)}; need one per row of X")
        if num_classes is not None and teacher_logits.shape[1] != num_classes:
            raise ValueError(f"teacher_logits has {teacher_logits.shape[1]} classes but the model outputs {num_classes}")
        num_classes = teacher_logits.shape[1]
    if targets is not None:
        _check_training_targets(targets, len(X), num_classes)
    if loss_fn is None:
        if targets is None:
            raise ValueError("loss_fn is required when no targets are given (the default is cross-entropy on targets)")
        loss_fn = cross_entropy_loss
    if not callable(loss_fn):
        raise TypeError(f"loss_fn must be callable, got {type(loss_fn).__name__}")
    epochs = check_int("epochs", epochs, low=1)
    lr = check_real("lr", lr)
    if not 0 < lr < math.inf:
        raise ValueError(f"lr={lr} must be finite and > 0")
    weight_decay = check_real("weight_decay", weight_decay)
    if not 0 <= weight_decay < math.inf:
        raise ValueError(f"weight_decay={weight_decay} must be finite and >= 0")
    if batch_size is not None:
        batch_size = check_int("batch_size", batch_size, low=1)
    if eval_set is not None:
        eval_set = check_eval_set(eval_set, num_classes=num_classes or 10)
        _check_features(eval_set[0], model, "eval_set[0] (X)")
    if seed is not None:
        seed = check_int("seed", seed, low=0, high=2**32 - 1)
    if progress is not None and not isinstance(progress, bool):
        raise TypeError(f"progress must be True, False or None, got {progress!r}")
    if not any(p.requires_grad for p in model.parameters()):
        raise ValueError("model has no trainable parameters (every requires_grad is False): nothing to fit")

    loss_inputs = {k: v for k, v in (("targets", targets), ("teacher_logits", teacher_logits)) if v is not None}
    if seed is not None:
        set_seed(seed)
    generator = torch.Generator().manual_seed(seed if seed is not None else int(torch.initial_seed() % 2**63))
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    history = History()
    show = progress_enabled() if progress is None else progress
    bar = _progress_bar(epochs, desc) if show else None
    start = time.perf_counter()
    was_training = model.training
    try:
        for epoch in range(epochs):
            epoch_loss = train_epoch(model, optimizer, loss_fn, X, loss_inputs, batch_size, generator)
            history.loss.append(epoch_loss)
            if eval_set is not None:
                history.eval_accuracy.append(evaluate(model, *eval_set))
            if bar is not None:
                if epoch % max(1, epochs // 20) == 0 or epoch == epochs - 1:
                    bar.set_postfix(loss=f"{epoch_loss:.4f}", refresh=False)
                bar.update(1)
    except BaseException:
        model.train(was_training)  # e.g. a loss_fn that refused its inputs at the first step
        raise
    finally:
        if bar is not None:
            bar.close()
    model.eval()
    history.seconds = time.perf_counter() - start
    return history


def _progress_bar(total: int, desc: str):
    from tqdm.auto import tqdm  # a widget in JupyterLab, text in a terminal

    return tqdm(total=total, desc=desc, unit="epoch", leave=True)


def predict_logits(model: nn.Module, X: Tensor) -> Tensor:
    """The model's logits for ``X`` in eval mode and without gradients; the model's mode is restored.

    Shape:
        ``(N, F) -> (N, C)``.

    Raises:
        TypeError, ValueError: ``model`` not a module; ``X`` not a finite, non-empty ``(N, F)`` float tensor.
    """
    check_module("model", model)
    X = _check_features(_check_inputs(X), model)
    return _logits(model, X)


def _logits(model: nn.Module, X: Tensor) -> Tensor:
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            return model(X)
    finally:
        model.train(was_training)


def _checked_eval_logits(model: object, X: object, targets: object) -> tuple[Tensor, Tensor]:
    """Validate ``(model, X, targets)``, then return ``(logits, targets)``; the range is checked against C."""
    check_module("model", model)
    X = _check_features(_check_inputs(X), model)
    if not isinstance(targets, Tensor) or targets.dtype.is_floating_point or targets.dtype == torch.bool:
        what = getattr(targets, "dtype", type(targets).__name__)
        raise TypeError(f"targets must be an integer tensor of class indices, got {what}")
    if targets.shape != (len(X),):
        raise ValueError(f"X has {len(X)} rows and targets has shape {tuple(targets.shape)}; need ({len(X)},)")
    logits = _logits(model, X)  # (N, C); the model's mode is restored
    num_classes = logits.shape[1]
    bad = targets[(targets < 0) | (targets >= num_classes)]
    if len(bad):
        raise ValueError(f"targets contain class index {int(bad[0])}; the model has {num_classes} classes, "
                         f"so allowed: [0, {num_classes - 1}]")
    return logits, targets


def evaluate(model: nn.Module, X: Tensor, targets: Tensor) -> float:
    """Accuracy in ``[0, 1]`` of ``model`` on ``(X, targets)`` (eval mode; the model's mode is restored).

    Raises:
        TypeError, ValueError: ``model`` not a module; ``X`` not a finite ``(N, F)``
            float tensor; ``targets`` not integer class indices ``(N,)`` in ``[0, C)``.

    Example::

        >>> evaluate(teacher, split.X_test, split.y_test)
        0.98...
    """
    logits, targets = _checked_eval_logits(model, X, targets)
    return (logits.argmax(dim=1) == targets).float().mean().item()


def runs_of(models: Sequence[nn.Module], eval_set: tuple[Tensor, Tensor], seeds: Sequence[int]) -> Runs:
    """Per-image correctness of one model per seed on ``eval_set``: the input of :mod:`distill_lib.stats`.

    The one way every notebook turns trained models into results over seeds.

    Args:
        models: one trained model per seed, in the order of ``seeds``.
        eval_set: ``(X, targets)``: the validation set to choose, the test set to report.
        seeds: the seeds, as many as ``models``.

    Returns:
        A :class:`~distill_lib.stats.Runs` with ``correct`` of shape ``(len(seeds), N)``.

    Raises:
        TypeError: ``models`` not a sequence of modules; a bad ``eval_set``.
        ValueError: ``models`` and ``seeds`` differ in length or are empty; targets out of range.

    Example::

        >>> dense = runs_of(students, (split.X_test, split.y_test), seeds)
        >>> print(dense.interval())
    """
    if isinstance(models, nn.Module) or not isinstance(models, Sequence):
        raise TypeError(f"models must be a list of models (one per seed), got {type(models).__name__}")
    for i, m in enumerate(models):
        check_module(f"models[{i}]", m)
    seeds = tuple(seeds)
    if not models or len(models) != len(seeds):
        raise ValueError(f"got {len(models)} models for {len(seeds)} seeds; give one model per seed (at least one)")
    X, targets = check_eval_set(eval_set, num_classes=_num_classes(models[0]) or 10)
    X = _check_features(_check_inputs(X, "eval_set[0] (X)"), models[0], "eval_set[0] (X)")
    return Runs.from_predictions([predict_logits(m, X).argmax(dim=1) for m in models], targets, seeds)


def confusion_matrix(model: nn.Module, X: Tensor, targets: Tensor) -> Tensor:
    """Counts ``M[true, predicted]`` of ``model``'s predictions on ``(X, targets)``.

    Shape:
        output ``(C, C)``, int64, ``C`` the model's number of classes; rows sum to the class counts.

    Raises:
        TypeError, ValueError: as :func:`evaluate`.

    Example::

        >>> M = confusion_matrix(teacher, split.X_test, split.y_test)
        >>> M.trace().item() / M.sum().item()  # the accuracy
    """
    logits, targets = _checked_eval_logits(model, X, targets)
    c = logits.shape[1]
    flat = targets.long() * c + logits.argmax(dim=1)  # (N,) index into the flattened matrix
    return torch.bincount(flat, minlength=c * c).reshape(c, c)
