r"""Structured pruning: remove whole hidden units, and time the result (notebook 05, section 4).

Masks leave a model as big and as slow as before. Removing a hidden unit (a row
of one weight matrix, the matching bias, and the matching column of the next)
gives a genuinely smaller dense network, e.g. 64-128-10 -> 64-64-10, which
:func:`time_forward` and :func:`speedup` compare with the dense one.

Reference: H. Li, A. Kadav, I. Durdanovic, H. Samet, H. P. Graf, *Pruning
Filters for Efficient ConvNets*, ICLR 2017 (remove whole units by the L1 norm
of their weights).
"""

from __future__ import annotations

import math
import numbers
import statistics
import time
from collections.abc import Mapping, Sequence

import torch
from torch import Tensor, nn

from .._validation import check_finite_tensor, check_int
from .apply import _check_model, copy_model
from .masks import _keep_mask, check_sparsity

__all__ = ["units_to_keep", "remove_hidden_units", "time_forward", "speedup"]


def units_to_keep(weight: Tensor, sparsity: float) -> Tensor:
    r"""Indices of the hidden units to keep: the rows of ``weight`` with the largest L1 norm.

    A layer's unit ``j`` owns row ``j`` of its weight (its incoming weights).
    Removing a fraction ``sparsity`` of the units keeps the ``n - round(sparsity * n)``
    rows with the largest :math:`\|W_{j,:}\|_1`, the rows that
    :func:`torch.nn.utils.prune.ln_structured` (``n=1, dim=0``) keeps. Ties: the
    unit that comes first is removed first.

    Args:
        weight: a linear layer's weight ``(out_features, in_features)``.
        sparsity: fraction of units (rows) to remove, in ``[0, 1)``.

    Returns:
        Increasing row indices, int64, ``(n_kept,)``.

    Raises:
        TypeError: ``weight`` is not a floating-point tensor; ``sparsity`` is not a number.
        ValueError: ``weight`` not 2-D, empty or not finite; ``sparsity`` outside
            ``[0, 1)``; the rounding would remove every unit.

    Example::

        >>> units_to_keep(torch.tensor([[1.0, 1.0], [0.1, 0.0], [-3.0, 0.0]]), sparsity=1 / 3)
        tensor([0, 2])
    """
    check_finite_tensor("weight", weight, what="weights")
    if weight.ndim != 2:
        raise ValueError(f"weight must be 2-D (out_features, in_features), got shape {tuple(weight.shape)}")
    sparsity = check_sparsity(sparsity)
    n = weight.shape[0]
    k = round(sparsity * n)
    if k >= n:
        raise ValueError(f"sparsity={sparsity!r} would remove all {n} units of a layer; keep at least one")
    norms = weight.detach().abs().to(torch.float64).sum(dim=1)  # (out_features,)
    keep = _keep_mask(norms, k, torch.bool)  # (out_features,)
    return torch.nonzero(keep).flatten()


def remove_hidden_units(model: nn.Sequential, sparsity: float) -> nn.Sequential:
    """Structured pruning: a new, smaller MLP without the weakest units of each hidden layer.

    For every hidden ``nn.Linear`` (all but the last), the units chosen by
    :func:`units_to_keep` survive: their rows of the weight and entries of the
    bias are copied, and so are the matching *columns* of the next linear
    layer. The new network computes exactly what the old one computes with
    those units' outputs set to zero; it has fewer parameters and does fewer
    multiplications. ``model`` is not changed.

    Args:
        model: an ``nn.Sequential`` of ``Linear``, ``ReLU`` and ``Dropout`` layers,
            as made by :func:`distill_lib.models.mlp`, with at least one hidden layer.
            Pruning masks, if any, are honoured (the effective weights are used).
        sparsity: fraction of each hidden layer's units to remove, in ``[0, 1)``.

    Returns:
        A new ``nn.Sequential`` of the same kinds of layers, in eval mode.

    Raises:
        TypeError: ``model`` is not an ``nn.Sequential`` of those layers.
        ValueError: ``sparsity`` out of range, or no hidden layer.

    Example::

        >>> small = remove_hidden_units(mlp([64, 128, 10]), sparsity=0.5)
        >>> [m.out_features for m in small if isinstance(m, nn.Linear)]
        [64, 10]
    """
    if not isinstance(model, nn.Sequential):
        raise TypeError(f"model must be an nn.Sequential MLP (see distill_lib.models.mlp), got {type(model).__name__}")
    for i, m in enumerate(model):
        if not isinstance(m, (nn.Linear, nn.ReLU, nn.Dropout)):
            raise TypeError(
                f"layer {i} is a {type(m).__name__}; remove_hidden_units handles Linear, ReLU and Dropout only"
            )
    sparsity = check_sparsity(sparsity)
    linear_positions = [i for i, m in enumerate(model) if isinstance(m, nn.Linear)]
    if len(linear_positions) < 2:
        raise ValueError("model has no hidden layer: there are no units to remove")
    new_layers = [copy_model(m) for m in model]  # ReLU and Dropout as they are; the linears are replaced below
    previous_keep: Tensor | None = None
    for position in linear_positions:
        old = model[position]
        weight = old.weight.detach()  # (out, in), the effective weight if masked
        bias = old.bias.detach() if old.bias is not None else None
        if previous_keep is not None:
            weight = weight[:, previous_keep]  # drop the columns of removed inputs
        keep = units_to_keep(old.weight, sparsity) if position != linear_positions[-1] else None
        if keep is not None:
            weight = weight[keep]
            bias = bias[keep] if bias is not None else None
        layer = nn.Linear(weight.shape[1], weight.shape[0], bias=bias is not None)
        with torch.no_grad():
            layer.weight.copy_(weight)
            if bias is not None:
                layer.bias.copy_(bias)
        new_layers[position] = layer
        previous_keep = keep
    return nn.Sequential(*new_layers).eval()


# ---------------------------------------------------------------- timing


def time_forward(
    models: Mapping[str, nn.Module],
    X: Tensor,
    *,
    repeats: int = 21,
    number: int = 20,
) -> dict[str, list[float]]:
    """Seconds per forward pass of each model on ``X``, timed in alternation.

    Each of ``repeats`` rounds times ``number`` forward passes (``torch.no_grad``,
    eval mode) of every model in turn, so that a machine that gets busier or
    quieter slows or speeds them all alike. The order alternates: forward in
    even rounds, reversed in odd ones, so that no model always runs first (with
    cold caches) or last. A first warm-up round is discarded. Compare two models
    with :func:`speedup`, the median of their per-round ratios.

    Every model is put in eval mode for the timing and given back in the mode
    it had (``model.training`` is restored, also if a forward pass raises).

    Args:
        models: ``{name: model}``, each taking ``X``.
        X: a batch of inputs, e.g. ``(1024, 64)``.
        repeats: timed rounds (>= 1).
        number: forward passes per model per round (>= 1).

    Returns:
        ``{name: [seconds per forward pass in each round]}``, in the order of ``models``.

    Raises:
        TypeError: ``models`` is not a mapping of ``nn.Module``; ``X`` is not a tensor;
            ``repeats`` or ``number`` not an integer.
        ValueError: ``models`` is empty; ``repeats`` or ``number`` below 1.

    Example::

        >>> timings = time_forward({"dense": student, "small": small}, torch.rand(1024, 64))
        >>> speedup(timings, "dense", "small")   # > 1: "small" is faster
    """
    if not isinstance(models, Mapping):
        raise TypeError(f"models must be a {{name: model}} mapping, got {type(models).__name__}")
    if not models:
        raise ValueError("models is empty; give at least one {name: model}")
    for name, m in models.items():
        if not isinstance(m, nn.Module):
            raise TypeError(f"models[{name!r}] must be a torch.nn.Module, got {type(m).__name__}")
    if not isinstance(X, Tensor):
        raise TypeError(f"X must be a torch.Tensor, got {type(X).__name__}")
    repeats = check_int("repeats", repeats, low=1)
    number = check_int("number", number, low=1)
    names = list(models)
    modes = {name: models[name].training for name in names}
    times: dict[str, list[float]] = {name: [] for name in names}
    try:
        for m in models.values():
            m.eval()
        with torch.no_grad():
            for r in range(repeats + 1):
                for name in names if r % 2 == 0 else reversed(names):
                    m = models[name]
                    start = time.perf_counter()
                    for _ in range(number):
                        m(X)
                    elapsed = (time.perf_counter() - start) / number
                    if r:  # round 0 warms up
                        times[name].append(elapsed)
    finally:
        for name, training in modes.items():
            models[name].train(training)
    return times


def speedup(timings: Mapping[str, Sequence[float]], baseline: str, name: str) -> float:
    """Median over rounds of ``baseline``'s time divided by ``name``'s: > 1 means ``name`` is faster.

    Args:
        timings: what :func:`time_forward` returned.
        baseline, name: two of its keys.

    Raises:
        ValueError: ``baseline`` or ``name`` is not a key of ``timings``; their lists
            are empty or of different lengths; a time is not a finite number > 0.

    Example::

        >>> speedup({"dense": [2.0, 4.0], "small": [1.0, 1.0]}, "dense", "small")
        3.0
    """
    for key in (baseline, name):
        if key not in timings:
            raise ValueError(f"{key!r} is not one of the timed models {list(timings)}")
        if len(timings[key]) == 0:
            raise ValueError(f"timings[{key!r}] is empty; need at least one timed round")
        bad = [t for t in timings[key]
               if isinstance(t, bool) or not isinstance(t, numbers.Real) or not (math.isfinite(t) and t > 0)]
        if bad:
            raise ValueError(f"timings[{key!r}] holds {bad[0]!r}; every time must be a finite number of seconds > 0")
    if len(timings[baseline]) != len(timings[name]):
        raise ValueError(
            f"timings[{baseline!r}] has {len(timings[baseline])} rounds but timings[{name!r}] has "
            f"{len(timings[name])}; the ratios pair rounds, so they must match"
        )
    return statistics.median(b / t for b, t in zip(timings[baseline], timings[name]))
