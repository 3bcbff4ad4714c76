r"""Structured pruning: remove whole hidden units (notebook 05, section 4).

Masks leave a model as big and as slow as before. Removing a hidden unit (a row
of one weight matrix, the matching bias, and the matching column of the next)
gives a genuinely smaller dense network, e.g. 64-128-10 -> 64-64-10, which
:mod:`distill_lib.timing` then compares with the dense one.

The shown core (notebook 05's cell ``# Saved in distill_lib/pruning/structured.py``)
is :func:`_units_to_keep` and :func:`_remove_hidden_units`: the row and column
slicing. The public :func:`units_to_keep` and :func:`remove_hidden_units`
validate everything first, then call them.

Reference: H. Li, A. Kadav, I. Durdanovic, H. Samet, H. P. Graf, *Pruning
Filters for Efficient ConvNets*, ICLR 2017 (remove whole units by the L1 norm
of their weights).
"""

from __future__ import annotations

import copy

import torch
from torch import Tensor, nn

from .._validation import check_finite_tensor
from .masks import check_sparsity, smallest_k_mask

__all__ = ["units_to_keep", "remove_hidden_units"]


# ---------------------------------------------------------------- the core (shown in notebook 05)


def _units_to_keep(weight: Tensor, sparsity: float) -> Tensor:
    """Rows of ``weight`` (out, in) to keep: all but the round(sparsity * out) of smallest L1 norm."""
    norms = weight.detach().abs().double().sum(dim=1)  # (out,) each unit's incoming weights
    k = round(sparsity * len(norms))
    return torch.nonzero(smallest_k_mask(norms, k)).flatten()  # (out - k,) increasing indices


def _remove_hidden_units(model: nn.Sequential, sparsity: float) -> nn.Sequential:
    """A smaller copy of an MLP: each hidden layer keeps its units of largest L1 norm."""
    layers = [m if isinstance(m, nn.Linear) else copy.deepcopy(m) for m in model]  # linears replaced below
    linears = [i for i, m in enumerate(model) if isinstance(m, nn.Linear)]
    kept = None  # the units the previous linear layer kept
    for i in linears:
        weight, bias = model[i].weight.detach(), model[i].bias.detach()  # (out, in), (out,)
        rows = _units_to_keep(weight, sparsity) if i != linears[-1] else torch.arange(len(weight))
        if kept is not None:
            weight = weight[:, kept]  # drop the columns that read removed units
        layers[i] = nn.Linear(weight.shape[1], len(rows))
        with torch.no_grad():
            layers[i].weight.copy_(weight[rows])  # drop the rows of removed units
            layers[i].bias.copy_(bias[rows])
        kept = rows
    return nn.Sequential(*layers).eval()


# ---------------------------------------------------------------- public, validated


def units_to_keep(weight: Tensor, sparsity: float) -> Tensor:
    r"""Indices of the hidden units to keep: the rows of ``weight`` with the largest L1 norm.

    A layer's unit ``j`` owns row ``j`` of its weight (its incoming weights).
    Removing a fraction ``sparsity`` of the units keeps the ``n - round(sparsity * n)``
    rows with the largest :math:`\|W_{j,:}\|_1`, the rows that
    :func:`torch.nn.utils.prune.ln_structured` (``n=1, dim=0``) keeps. Ties: the
    unit that comes first is removed first.

    Args:
        weight: a linear layer's weight ``(out_features, in_features)``, finite.
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
    if round(sparsity * n) >= n:
        raise ValueError(f"sparsity={sparsity!r} would remove all {n} units of a layer; keep at least one")
    return _units_to_keep(weight, sparsity)


def remove_hidden_units(model: nn.Sequential, sparsity: float) -> nn.Sequential:
    """Structured pruning: a new, smaller MLP without the weakest units of each hidden layer.

    For every hidden ``nn.Linear`` (all but the last), the units chosen by
    :func:`units_to_keep` (ranked on the layer's own incoming weights) survive:
    their rows of the weight and entries of the bias are copied, and so are the
    matching *columns* of the next linear layer. The new network computes exactly
    what the old one computes with those units' outputs set to zero; it has fewer
    parameters and does fewer multiplications. ``model`` is not changed.

    Args:
        model: an ``nn.Sequential`` of ``Linear`` (with bias), ``ReLU`` and ``Dropout`` layers,
            as made by :func:`distill_lib.models.mlp`, with at least one hidden layer and
            finite weights. Pruning masks, if any, are honoured (the effective weights are used).
        sparsity: fraction of each hidden layer's units to remove, in ``[0, 1)``.

    Returns:
        A new ``nn.Sequential`` of the same kinds of layers, in eval mode.

    Raises:
        TypeError: ``model`` is not an ``nn.Sequential`` of those layers.
        ValueError: ``sparsity`` out of range or removing every unit; no hidden layer;
            a linear layer without bias; a weight or bias not finite.

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
    linears = [i for i, m in enumerate(model) if isinstance(m, nn.Linear)]
    if len(linears) < 2:
        raise ValueError("model has no hidden layer: there are no units to remove")
    for i in linears:
        if model[i].bias is None:
            raise ValueError(f"layer {i} has no bias; remove_hidden_units expects the Linear layers of mlp(), with bias")
        check_finite_tensor(f"model layer {i} weight", model[i].weight, what="weights to prune")
        check_finite_tensor(f"model layer {i} bias", model[i].bias, what="biases")
    for i in linears[:-1]:
        n = model[i].out_features
        if round(sparsity * n) >= n:
            raise ValueError(f"sparsity={sparsity!r} would remove all {n} units of layer {i}; keep at least one")
    return _remove_hidden_units(model, sparsity)
