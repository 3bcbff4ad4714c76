"""The widget of notebook 04 (§6 "Explore"): a weight matrix, its ``bits``-bit grid and the error.

The bits slider calls :func:`plot_weight_quantization`; the tests call it (and
:func:`weight_quantization_view`, the numbers without the drawing) directly.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .._validation import check_int
from ._checks import MAX_BITS, check_float_tensor
from .qparams import QParams, choose_qparams
from .quantizer import dequantize, quantization_error

__all__ = ["weight_quantization_view", "plot_weight_quantization"]


def weight_quantization_view(weight: Tensor, bits: int, *, per_channel: bool = False) -> dict:
    """What the widget shows: the symmetric grid for ``weight`` at ``bits`` and the error.

    Args:
        weight: a layer's weight ``(out, in)``, float32.
        bits: 2..16.
        per_channel: one grid per output channel; the grid returned is then row 0's.

    Returns:
        ``{"grid": the representable values (1-d float32, ascending; row 0's if per-channel),
        "scale": float (row 0's if per-channel), "levels": 2**bits - 1, "mse", "max_abs",
        "clipped", "bound": the largest scale / 2}``.

    Raises:
        TypeError: ``bits`` not an integer, ``per_channel`` not a bool, ``weight`` not a float32 tensor.
        ValueError: ``bits`` outside ``[2, 16]``; ``weight`` not 2-d, empty or not finite.
    """
    bits = check_int("bits", bits)
    if not 2 <= bits <= MAX_BITS:  # the widget's grid is symmetric: 1 bit has no code for -w, 0 and w at once
        raise ValueError(f"bits={bits} is out of range; allowed: [2, {MAX_BITS}] (the widget shows a symmetric "
                         "grid, which needs codes for -w, 0 and w)")
    if not isinstance(per_channel, bool):
        raise TypeError(f"per_channel must be True or False, got {per_channel!r}")
    weight = check_float_tensor("weight", weight).detach()
    if weight.ndim != 2:
        raise ValueError(f"weight must be a layer's weight of shape (out, in), got shape {tuple(weight.shape)}")
    qp = choose_qparams(weight, bits, symmetric=True, axis=0 if per_channel else None)
    codes = torch.arange(qp.quant_min, qp.quant_max + 1, dtype=torch.int32)  # (levels,)
    first = QParams(qp.scale.reshape(-1)[0], qp.zero_point.reshape(-1)[0], qp.quant_min, qp.quant_max)
    error = quantization_error(weight, qp)
    return {
        "grid": dequantize(codes, first),
        "scale": first.scale.item(),
        "levels": qp.quant_max - qp.quant_min + 1,
        "bound": qp.scale.max().item() / 2,
        **error,
    }


def plot_weight_quantization(weight: Tensor, bits: int, *, per_channel: bool = False, ax=None) -> dict:
    """Draw ``weight``'s histogram, the ``bits``-bit grid and the error; return the view's numbers.

    This is the widget's callback: a bits slider calls it. With ``per_channel=True`` the grid
    drawn is the first output channel's (each channel has its own).
    """
    import matplotlib.pyplot as plt

    view = weight_quantization_view(weight, bits, per_channel=per_channel)
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 3))
    values = weight.detach().flatten()
    ax.hist(values.numpy(), bins=120, color="tab:blue", alpha=0.7)
    grid = view["grid"]
    if len(grid) <= 129:  # beyond that the lines merge into a block
        for g in grid.tolist():
            ax.axvline(g, color="tab:red", lw=0.6, alpha=0.6)
    grid_of = "output channel 0's grid; every row has its own" if per_channel else "the grid"
    ax.set_xlabel(f"weight value (red: {grid_of})")
    ax.set_ylabel("count")
    ax.set_title(f"{bits} bits, {'per-channel' if per_channel else 'per-tensor'}: {view['levels']} levels, "
                 f"scale {view['scale']:.3g}, max error {view['max_abs']:.3g} (bound: largest scale/2 = "
                 f"{view['bound']:.3g}), MSE {view['mse']:.2e}", fontsize=9)
    ax.figure.tight_layout()  # keeps the axis labels and the title inside the picture (a widget's PNG has no margin)
    return view
