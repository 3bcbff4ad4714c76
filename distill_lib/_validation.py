"""Small input checks shared by every module.

Each helper raises a ``TypeError`` (wrong kind of object) or a ``ValueError``
(right kind, wrong value) whose message names the bad value and the allowed
range, *before* any work is done. Nothing is clamped or broadcast silently.
"""

from __future__ import annotations

import math
import numbers

import torch
from torch import Tensor, nn

__all__ = [
    "check_real",
    "check_temperature",
    "check_lam",
    "check_int",
    "check_finite_tensor",
    "check_logits",
    "check_same_shape",
    "check_targets",
    "check_recipe",
    "check_eval_set",
    "check_module",
]


def check_real(name: str, value: object) -> float:
    """Return ``value`` as a float, or raise ``TypeError`` if it is not a real number.

    Booleans are refused: ``temperature=True`` is a bug, not ``1.0``.
    A 0-d tensor is accepted and read with ``.item()``.
    """
    if isinstance(value, Tensor) and value.ndim == 0 and not value.dtype.is_complex:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__} ({value!r})")
    return float(value)


def check_temperature(temperature: object) -> float:
    """Validate a softmax temperature: a finite real number > 0."""
    t = check_real("temperature", temperature)
    if not math.isfinite(t) or t <= 0.0:
        raise ValueError(f"temperature={t!r} must be a finite number > 0 (allowed range: 0 < temperature < inf)")
    return t


def check_lam(lam: object) -> float:
    """Validate the distillation weight λ: a real number in [0, 1]."""
    value = check_real("lam", lam)
    if not (0.0 <= value <= 1.0):  # also catches NaN
        raise ValueError(f"lam={value!r} must be in the range [0, 1] (0 = labels only, 1 = teacher only)")
    return value


def check_int(name: str, value: object, *, low: int | None = None, high: int | None = None) -> int:
    """Validate an integer (not a bool, not a float) within ``[low, high]``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__} ({value!r})")
    value = int(value)
    if (low is not None and value < low) or (high is not None and value > high):
        lo = "-inf" if low is None else str(low)
        hi = "inf" if high is None else str(high)
        raise ValueError(f"{name}={value} is out of range; allowed: [{lo}, {hi}]")
    return value


def check_finite_tensor(
    name: str, x: object, *, dtype: torch.dtype | None = None, what: str = "values"
) -> Tensor:
    """Validate a non-empty floating-point tensor of finite values (any shape).

    Args:
        name: the argument's name, for the message.
        x: the object to check.
        dtype: if given, the one dtype accepted (e.g. ``torch.float32``).
        what: what the values are, for the message ("weights must be finite").

    Raises:
        TypeError: not a tensor, not floating point, or not ``dtype``.
        ValueError: empty, or holds NaN or infinite values.
    """
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if dtype is not None and x.dtype != dtype:
        raise TypeError(f"{name} must be a {str(dtype).replace('torch.', '')} tensor, got dtype={x.dtype}")
    if not x.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got dtype={x.dtype}")
    if x.numel() == 0:
        raise ValueError(f"{name} is empty (shape {tuple(x.shape)}); need at least one element")
    bad = (~torch.isfinite(x.detach())).sum().item()
    if bad:
        raise ValueError(f"{name} contains {bad} NaN or infinite value(s); {what} must be finite")
    return x


def check_logits(name: str, logits: object, *, ndim: int | None = 2) -> Tensor:
    """Validate a floating-point tensor of logits, by default of shape ``(N, C)``.

    Raises:
        TypeError: if ``logits`` is not a floating-point ``torch.Tensor``.
        ValueError: if it has the wrong number of dimensions, is empty, or holds
            NaN or infinite values.
    """
    if isinstance(logits, Tensor) and ndim is not None and logits.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions (N, C), got shape {tuple(logits.shape)}")
    return check_finite_tensor(name, logits, what="logits")


def check_same_shape(name_a: str, a: Tensor, name_b: str, b: Tensor) -> None:
    """Refuse to broadcast: both tensors must have exactly the same shape."""
    if a.shape != b.shape:
        raise ValueError(
            f"{name_a} has shape {tuple(a.shape)} but {name_b} has shape {tuple(b.shape)}; "
            "they must match exactly (no broadcasting)"
        )


def check_targets(targets: object, num_examples: int, num_classes: int, *, name: str = "targets") -> Tensor:
    """Validate class-index targets of shape ``(N,)`` with values in ``[0, C)``.

    ``name`` is how the message calls the argument (e.g. ``"y_val"``).
    """
    if not isinstance(targets, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of class indices, got {type(targets).__name__}")
    if targets.dtype not in (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8):
        raise TypeError(f"{name} must be an integer tensor of class indices, got dtype={targets.dtype}")
    if targets.shape != (num_examples,):
        raise ValueError(f"{name} must have shape ({num_examples},) to match the logits, got {tuple(targets.shape)}")
    if num_examples:
        lo, hi = int(targets.min()), int(targets.max())
        if lo < 0 or hi >= num_classes:
            bad = lo if lo < 0 else hi
            raise ValueError(f"{name} contain class index {bad}; allowed range is [0, {num_classes - 1}]")
    return targets


def check_recipe(temperature: object, lam: object, epochs: object) -> tuple[float, float, int | None]:
    """Check a student recipe's ``temperature``, ``lam`` and ``epochs`` (``None`` = the default)."""
    epochs = check_int("epochs", epochs, low=1) if epochs is not None else None
    return check_temperature(temperature), check_lam(lam), epochs


def check_eval_set(eval_set: object, *, name: str = "eval_set", num_classes: int = 10) -> tuple[Tensor, Tensor]:
    """An evaluation set ``(X, targets)``: floating-point inputs ``(N, F)``, one class index in ``[0, C)`` per row.

    The one way the workbook passes a validation or test set: a tuple, checked here.
    """
    if not isinstance(eval_set, tuple) or len(eval_set) != 2:
        raise TypeError(f"{name} must be a tuple (X, targets), got {type(eval_set).__name__}")
    X, targets = eval_set
    if not isinstance(X, Tensor) or not X.is_floating_point() or X.ndim != 2 or len(X) == 0:
        raise TypeError(f"{name}[0] (X) must be a non-empty floating-point tensor of shape (N, F), got {X!r:.60}")
    check_finite_tensor(f"{name}[0] (X)", X, what="inputs")
    check_targets(targets, len(X), num_classes, name=f"{name}[1] (targets)")
    return X, targets


def check_module(name: str, model: object) -> nn.Module:
    """Any ``torch.nn.Module``; a ``TypeError`` naming ``name`` for anything else."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"{name} must be a torch.nn.Module, got {type(model).__name__}")
    return model
