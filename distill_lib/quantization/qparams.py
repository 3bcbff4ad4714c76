r"""Quantization parameters: the integer codes, the range to cover, the scale and zero point (notebook 04, §1-2).

A ``bits``-bit quantizer is fixed by a :class:`QParams`: a **scale** :math:`s > 0`, an integer
**zero_point** :math:`z`, and the codes ``[quant_min, quant_max]`` (see
:mod:`distill_lib.quantization.quantizer` for what they do to a tensor). This file chooses them.

Two schemes are provided (``bits`` from 1 to 16):

* asymmetric (affine): codes ``[0, 2**bits - 1]``, the range ``[min(x_min, 0), max(x_max, 0)]``;
* symmetric: codes ``[-(2**(bits-1) - 1), 2**(bits-1) - 1]`` (the "narrow" range, so that
  ``-x`` is representable whenever ``x`` is), ``zero_point = 0``; needs ``bits >= 2``.

The range ``[x_min, x_max]`` is observed by :func:`calibration_range` (min/max or percentiles),
per tensor or per channel (one scale per index along ``axis``, e.g. per output channel of a
``Linear`` weight); :func:`choose_qparams` does both steps.

Only float32 tensors are accepted: for float64 PyTorch's per-tensor kernel dequantizes in float32
and its per-channel kernel in float64, so there is no single float64 behaviour to match.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from .._validation import check_int, check_real
# MAX_BITS and CALIBRATION_METHODS are defined next to the checks that enforce them, and re-exported here.
from ._checks import CALIBRATION_METHODS, MAX_BITS, check_bits, check_float_tensor, check_method

__all__ = ["MAX_BITS", "CALIBRATION_METHODS", "QParams", "quant_range", "qparams_from_range", "calibration_range",
           "choose_qparams"]

#: Smallest scale (float32 machine epsilon, as PyTorch's observers use), so ``1 / scale`` is finite.
MIN_SCALE = torch.finfo(torch.float32).eps


# ------------------------------------------------------------------------------------------ checks


def _check_axis(axis: object, ndim: int) -> int | None:
    if axis is None:
        return None
    if ndim == 0:
        check_int("axis", axis)  # a TypeError for a non-integer axis first
        raise ValueError(f"axis={axis} given but x is 0-d (a single number): it has no channel axis; use axis=None")
    axis = check_int("axis", axis, low=-ndim, high=ndim - 1)
    return axis % ndim


# ------------------------------------------------------------------------------------ parameters


class QParams(NamedTuple):
    """Everything that defines a uniform affine quantizer.

    Attributes:
        scale: float32, shape ``()`` per-tensor or ``(C,)`` per-channel; every entry > 0.
        zero_point: int32, same shape as ``scale``; every entry in ``[quant_min, quant_max]``.
        quant_min, quant_max: the smallest and largest integer code.
        axis: ``None`` per-tensor, else the dimension of the tensor that ``scale`` runs along
            (``axis=0`` is the output channel of a ``Linear`` weight).
    """

    scale: Tensor
    zero_point: Tensor
    quant_min: int
    quant_max: int
    axis: int | None = None

    @property
    def per_channel(self) -> bool:
        return self.axis is not None


def quant_range(bits: int, *, symmetric: bool = False) -> tuple[int, int]:
    """The integer codes ``(quant_min, quant_max)`` of a ``bits``-bit quantizer.

    Args:
        bits: 1 to 16 (an ``int``: ``8.0`` is refused).
        symmetric: ``False``: unsigned codes ``[0, 2**bits - 1]``; ``True``: the narrow signed
            range ``[-(2**(bits-1) - 1), 2**(bits-1) - 1]``, which needs ``bits >= 2``.

    Raises:
        TypeError: ``bits`` is not an integer.
        ValueError: ``bits`` outside ``[1, 16]``, or ``bits=1`` with ``symmetric=True``.

    Example::

        >>> quant_range(8), quant_range(8, symmetric=True), quant_range(2, symmetric=True)
        ((0, 255), (-127, 127), (-1, 1))
    """
    bits = check_bits(bits)
    if symmetric:
        if bits < 2:
            raise ValueError(f"bits={bits}: symmetric quantization needs bits in [2, {MAX_BITS}] (1 bit has no "
                             "code for -x, x and 0 at once); use symmetric=False")
        half = 2 ** (bits - 1) - 1
        return -half, half
    return 0, 2**bits - 1


def _as_range_tensor(name: str, value: object) -> Tensor:
    if isinstance(value, Tensor):
        if not value.is_floating_point():
            raise TypeError(f"{name} must be a floating-point tensor or a real number, got dtype={value.dtype}")
        if value.ndim > 1 or value.numel() == 0:
            raise ValueError(f"{name} must be a number or a non-empty 1-d tensor (one per channel), "
                             f"got shape {tuple(value.shape)}")
        return value.detach().to(torch.float64)
    return torch.tensor(check_real(name, value), dtype=torch.float64)


def qparams_from_range(
    x_min: float | Tensor,
    x_max: float | Tensor,
    bits: int,
    *,
    symmetric: bool = False,
    axis: int | None = None,
) -> QParams:
    r"""Scale and zero point that map ``[x_min, x_max]`` onto ``bits``-bit codes.

    The range is first widened to contain 0, so that zero (ReLU outputs, padding) is exact.

    * asymmetric: :math:`s = (\max(x_{\max},0) - \min(x_{\min},0)) / (q_{\max} - q_{\min})`,
      :math:`z = q_{\min} - \operatorname{round}(\min(x_{\min},0) / s)`;
    * symmetric: :math:`s = \max(|x_{\min}|, |x_{\max}|) / q_{\max}`, :math:`z = 0`.

    The scale is computed in float64, stored in float32, and is at least float32's machine
    epsilon (as in PyTorch's observers), so an all-zero tensor gets ``scale = 1.19e-07``.

    Args:
        x_min, x_max: the clipping range; numbers (per-tensor) or 1-d tensors of equal length
            ``C`` (per-channel), finite, ``x_min <= x_max``.
        bits: 1 to 16.
        symmetric: see :func:`quant_range`.
        axis: the channel dimension the result will be applied along (required when the
            range is per-channel, refused when it is per-tensor).

    Returns:
        A :class:`QParams`.

    Raises:
        TypeError, ValueError: bad ``bits``; a non-finite or inverted range; mismatched shapes.

    Example::

        >>> qp = qparams_from_range(-1.0, 3.0, bits=8)
        >>> qp.scale.item(), qp.zero_point.item()
        (0.01568627543747425, 64)
    """
    quant_min, quant_max = quant_range(bits, symmetric=symmetric)
    lo, hi = _as_range_tensor("x_min", x_min), _as_range_tensor("x_max", x_max)
    if lo.shape != hi.shape:
        raise ValueError(f"x_min has shape {tuple(lo.shape)} but x_max has shape {tuple(hi.shape)}; they must match")
    if not (torch.isfinite(lo).all() and torch.isfinite(hi).all()):
        raise ValueError(f"x_min={lo.tolist()} and x_max={hi.tolist()} must be finite")
    if (lo > hi).any():
        raise ValueError(f"x_min={lo.tolist()} must be <= x_max={hi.tolist()}")
    if lo.ndim == 1 and axis is None:
        raise ValueError("a per-channel range (1-d x_min, x_max) needs the channel axis: pass axis=")
    if lo.ndim == 0 and axis is not None:
        raise ValueError(f"axis={axis} given but the range is per-tensor (x_min and x_max are numbers)")
    lo, hi = lo.clamp(max=0.0), hi.clamp(min=0.0)  # widen the range to contain 0
    if symmetric:
        scale64 = torch.maximum(-lo, hi) / quant_max
    else:
        scale64 = (hi - lo) / (quant_max - quant_min)
    scale = scale64.clamp(min=MIN_SCALE).to(torch.float32)  # the floor keeps 1 / scale finite
    if symmetric:
        zero_point = torch.zeros_like(scale, dtype=torch.int32)
    else:
        zp = quant_min - torch.round(lo / scale.to(torch.float64))
        # lo <= 0 <= hi puts zp in [quant_min, quant_max] up to float32 rounding of the scale
        zero_point = zp.clamp(quant_min, quant_max).to(torch.int32)
    ends = torch.stack([quant_min - zero_point, quant_max - zero_point]).to(torch.float32) * scale
    if not torch.isfinite(ends).all():  # e.g. [-3e38, 3e38] on 1 bit: a step of 6e38 overflows float32
        raise ValueError(f"the range [{lo.min().item():.3g}, {hi.max().item():.3g}] on {bits} bit(s) needs a grid "
                         "beyond float32's largest value (3.4e38); use more bits or a narrower range")
    return QParams(scale, zero_point, quant_min, quant_max, axis)


def calibration_range(
    x: Tensor, *, method: str = "minmax", percentile: float = 99.99, axis: int | None = None
) -> tuple[Tensor, Tensor]:
    """The range ``(x_min, x_max)`` a quantizer should cover, observed on ``x``.

    Args:
        x: observed values (weights, or a layer's inputs on a calibration set), float32.
        method: ``"minmax"`` (the extremes: nothing is clipped, one outlier stretches the
            grid) or ``"percentile"`` (the ``100 - percentile`` and ``percentile`` percentiles:
            robust to outliers, clips the tails).
        percentile: in ``(50, 100]``; used by ``"percentile"`` only.
        axis: ``None`` for one range; else one range per index along ``axis``.

    Shape:
        ``x``: any non-empty shape; outputs ``()`` or ``(x.shape[axis],)``, float32.

    Example::

        >>> x = torch.cat([torch.linspace(0, 1, 9999), torch.tensor([100.0])])
        >>> calibration_range(x)[1].item()
        100.0
        >>> round(calibration_range(x, method="percentile", percentile=99.9)[1].item(), 3)
        0.999
    """
    x = check_float_tensor("x", x).detach()
    p = check_method(method, percentile)
    axis = _check_axis(axis, x.ndim)
    flat = x.reshape(1, -1) if axis is None else x.movedim(axis, 0).reshape(x.shape[axis], -1)  # (C, M)
    if method == "minmax" or p == 100.0:
        lo, hi = flat.amin(dim=1), flat.amax(dim=1)
    else:
        q = torch.tensor([1.0 - p / 100.0, p / 100.0], dtype=torch.float64)
        lo, hi = torch.quantile(flat.to(torch.float64), q, dim=1).to(torch.float32)  # (2, C)
    return (lo[0], hi[0]) if axis is None else (lo, hi)


def choose_qparams(
    x: Tensor,
    bits: int,
    *,
    symmetric: bool = False,
    axis: int | None = None,
    method: str = "minmax",
    percentile: float = 99.99,
) -> QParams:
    """Quantization parameters for ``x``: :func:`calibration_range`, then :func:`qparams_from_range`.

    Example::

        >>> w = torch.randn(128, 64)
        >>> qp = choose_qparams(w, bits=4, symmetric=True, axis=0)   # per output channel
        >>> qp.scale.shape, qp.quant_min, qp.quant_max
        (torch.Size([128]), -7, 7)
    """
    bits = check_bits(bits)
    lo, hi = calibration_range(x, method=method, percentile=percentile, axis=axis)
    return qparams_from_range(lo, hi, bits, symmetric=symmetric, axis=None if axis is None else axis % x.ndim)
