r"""Uniform affine quantization: from scratch, per-tensor and per-channel, PTQ, QAT, int8 (notebook 04).

A real number :math:`x` is stored as an integer code :math:`q` in ``[quant_min, quant_max]``:

.. math::

    q = \operatorname{clamp}\big(\operatorname{round}(x \cdot s^{-1}) + z,\; q_{\min},\; q_{\max}\big),
    \qquad \hat x = (q - z)\, s

with a **scale** :math:`s > 0` (the step between neighbouring grid points) and an integer
**zero_point** :math:`z` (the code of the real number 0, which is always exactly representable).
*Fake quantization* is :math:`x \mapsto \hat x`: the float value the integer code stands for.
Inside the clipping range :math:`[(q_{\min} - z)s,\; (q_{\max} - z)s]` the rounding error is
at most :math:`s / 2`.

The arithmetic mirrors PyTorch's CPU kernels exactly (``torch.fake_quantize_per_tensor_affine``
and ``torch.fake_quantize_per_channel_affine``, checked bit for bit by the tests):

* ``round`` is round-half-to-even (C's ``nearbyint``, :func:`torch.round`): 2.5 -> 2, 3.5 -> 4;
* the input is *multiplied* by ``inv_scale = 1 / scale`` computed in float32, not divided by
  ``scale`` (``x * (1/s)`` and ``x / s`` differ in the last bit for some inputs, and a last-bit
  difference can move a value across a rounding tie);
* the zero point is added *after* rounding, then the code is clamped;
* the gradient is the clipped straight-through estimator: 1 where the unclamped code lies in
  ``[quant_min, quant_max]``, 0 outside (Bengio et al. 2013; Jacob et al. 2018).

Only float32 input is accepted: for float64 PyTorch's per-tensor kernel dequantizes in float32
and its per-channel kernel in float64, so there is no single float64 behaviour to match.

Two schemes are provided (``bits`` from 1 to 16):

* asymmetric (affine): codes ``[0, 2**bits - 1]``, the range ``[min(x_min, 0), max(x_max, 0)]``;
* symmetric: codes ``[-(2**(bits-1) - 1), 2**(bits-1) - 1]`` (the "narrow" range, so that
  ``-x`` is representable whenever ``x`` is), ``zero_point = 0``; needs ``bits >= 2``.
"""

from __future__ import annotations

import copy
import io
import statistics
import time
import zipfile
from collections.abc import Callable
from functools import partial
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ._validation import check_int, check_lam, check_real, check_temperature
from .losses import cross_entropy_loss, distillation_loss
from .training import History, fit

__all__ = [
    "MAX_BITS",
    "METHODS",
    "QParams",
    "quant_range",
    "qparams_from_range",
    "calibration_range",
    "choose_qparams",
    "quantize",
    "dequantize",
    "fake_quantize",
    "quantization_error",
    "FakeQuantMLP",
    "quantization_aware_training",
    "Int8MLP",
    "torch_ao_int8_mlp",
    "median_latency",
    "weight_bytes",
    "weight_quantization_view",
    "plot_weight_quantization",
]

#: The widest code this module builds (16 bits: codes up to 65,535 fit int32 and float32 exactly).
MAX_BITS = 16
#: Calibration methods for :func:`calibration_range`.
METHODS = ("minmax", "percentile")
#: Smallest scale (float32 machine epsilon, as PyTorch's observers use), so ``1 / scale`` is finite.
_EPS = torch.finfo(torch.float32).eps


# ------------------------------------------------------------------------------------------ checks


def _check_bits(bits: object, name: str = "bits") -> int:
    return check_int(name, bits, low=1, high=MAX_BITS)


def _check_float_tensor(name: str, x: object) -> Tensor:
    """A non-empty, finite float32 tensor (no NaN, no infinities)."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.dtype != torch.float32:
        raise TypeError(f"{name} must be a float32 tensor, got dtype={x.dtype}")
    if x.numel() == 0:
        raise ValueError(f"{name} is empty (shape {tuple(x.shape)}); need at least one element")
    bad = (~torch.isfinite(x.detach())).sum().item()
    if bad:
        raise ValueError(f"{name} contains {bad} NaN or infinite value(s); quantization needs finite values")
    return x


def _check_axis(axis: object, ndim: int) -> int | None:
    if axis is None:
        return None
    axis = check_int("axis", axis, low=-ndim if ndim else 0, high=ndim - 1 if ndim else -1)
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
    bits = _check_bits(bits)
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
    scale = scale64.clamp(min=_EPS).to(torch.float32)  # the floor keeps 1 / scale finite
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
    x = _check_float_tensor("x", x).detach()
    if method not in METHODS:
        raise ValueError(f"method={method!r} is not one of {METHODS}")
    p = check_real("percentile", percentile)
    if not 50.0 < p <= 100.0:
        raise ValueError(f"percentile={p!r} must be in the range (50, 100]")
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
    bits = _check_bits(bits)
    lo, hi = calibration_range(x, method=method, percentile=percentile, axis=axis)
    return qparams_from_range(lo, hi, bits, symmetric=symmetric, axis=None if axis is None else axis % x.ndim)


# ------------------------------------------------------------------------------- the quantizer


def _check_qparams(qparams: object) -> QParams:
    if not isinstance(qparams, QParams):
        raise TypeError(f"qparams must be a QParams (see choose_qparams), got {type(qparams).__name__}")
    scale, zp, qmin, qmax, axis = qparams
    if not isinstance(scale, Tensor) or scale.dtype != torch.float32:
        raise TypeError("qparams.scale must be a float32 tensor")
    if not isinstance(zp, Tensor) or zp.dtype != torch.int32 or zp.shape != scale.shape:
        raise TypeError(f"qparams.zero_point must be an int32 tensor shaped like scale {tuple(scale.shape)}")
    qmin, qmax = check_int("quant_min", qmin), check_int("quant_max", qmax)
    if not (-(2**31) <= qmin <= qmax <= 2**31 - 1):
        raise ValueError(f"quant_min={qmin}, quant_max={qmax}: need quant_min <= quant_max within int32")
    if not (torch.isfinite(scale).all() and (scale > 0).all()):
        raise ValueError(f"qparams.scale must be finite and > 0, got {scale.flatten()[:8].tolist()}")
    if (zp < qmin).any() or (zp > qmax).any():
        raise ValueError(f"qparams.zero_point {zp.flatten()[:8].tolist()} must lie in "
                         f"[quant_min, quant_max] = [{qmin}, {qmax}]")
    if (axis is None) != (scale.ndim == 0):
        raise ValueError(f"qparams.axis={axis} does not fit scale of shape {tuple(scale.shape)} "
                         "(per-tensor: axis=None and a 0-d scale; per-channel: an axis and a 1-d scale)")
    return qparams


def _broadcast(qparams: QParams, x: Tensor) -> tuple[Tensor, Tensor]:
    """scale and zero_point viewed so that they broadcast along ``qparams.axis`` of ``x``."""
    scale, zp, _, _, axis = qparams
    if axis is None:
        return scale, zp
    if not -x.ndim <= axis < x.ndim:
        raise ValueError(f"qparams.axis={axis} but the tensor has {x.ndim} dimension(s)")
    axis = axis % x.ndim
    if x.shape[axis] != scale.numel():
        raise ValueError(f"the tensor has {x.shape[axis]} channels along axis {axis} but qparams hold "
                         f"{scale.numel()} scales; they must match (no broadcasting)")
    shape = [1] * x.ndim
    shape[axis] = -1
    return scale.reshape(shape), zp.reshape(shape)


def _codes(x: Tensor, qparams: QParams) -> tuple[Tensor, Tensor]:
    """Unclamped codes (float32, as PyTorch's kernels compute them) and the clamped ones."""
    scale, zp = _broadcast(qparams, x)
    inv_scale = 1.0 / scale  # float32, like the kernel's `1.0f / scale`
    raw = torch.round(x * inv_scale) + zp  # multiply (not divide), round half to even, then + z
    return raw, raw.clamp(qparams.quant_min, qparams.quant_max)


def quantize(x: Tensor, qparams: QParams) -> Tensor:
    r"""Integer codes :math:`q = \operatorname{clamp}(\operatorname{round}(x \cdot s^{-1}) + z, q_{\min}, q_{\max})`.

    Args:
        x: real values, float32, finite, non-empty.
        qparams: from :func:`choose_qparams` or :func:`qparams_from_range`.

    Shape:
        ``x``: any; output: same shape, int32. Per-channel ``qparams`` need
        ``x.shape[qparams.axis] == C``.

    Raises:
        TypeError: ``x`` not a float32 tensor, ``qparams`` not a :class:`QParams`.
        ValueError: empty, NaN or infinite ``x``; channels that do not match.

    Example::

        >>> qp = qparams_from_range(-1.0, 3.0, bits=8)
        >>> quantize(torch.tensor([-1.0, 0.0, 3.0, 9.0]), qp)
        tensor([  0,  64, 255, 255], dtype=torch.int32)
    """
    x = _check_float_tensor("x", x)
    qparams = _check_qparams(qparams)
    return _codes(x.detach(), qparams)[1].to(torch.int32)


def dequantize(q: Tensor, qparams: QParams) -> Tensor:
    r"""The real values the codes stand for: :math:`\hat x = (q - z)\, s`, float32.

    Raises:
        TypeError: ``q`` is not an integer tensor.
        ValueError: ``q`` empty, or a code outside ``[quant_min, quant_max]``.

    Example::

        >>> qp = qparams_from_range(-1.0, 3.0, bits=8)
        >>> dequantize(torch.tensor([0, 64, 255], dtype=torch.int32), qp)
        tensor([-1.0039,  0.0000,  2.9961])
    """
    if not isinstance(q, Tensor) or q.is_floating_point() or q.is_complex() or q.dtype == torch.bool:
        raise TypeError(f"q must be an integer tensor of codes, got {type(q).__name__}"
                        + (f" of dtype {q.dtype}" if isinstance(q, Tensor) else ""))
    qparams = _check_qparams(qparams)
    if q.numel() == 0:
        raise ValueError(f"q is empty (shape {tuple(q.shape)}); need at least one code")
    lo, hi = int(q.min()), int(q.max())
    if lo < qparams.quant_min or hi > qparams.quant_max:
        raise ValueError(f"q holds codes in [{lo}, {hi}], outside [quant_min, quant_max] = "
                         f"[{qparams.quant_min}, {qparams.quant_max}]")
    scale, zp = _broadcast(qparams, q)
    return (q.to(torch.int64) - zp).to(torch.float32) * scale  # (q - z) exact in integers, then * s


class _FakeQuantize(torch.autograd.Function):
    """Forward: dequantize(quantize(x)). Backward: the clipped straight-through estimator."""

    @staticmethod
    def forward(ctx, x: Tensor, qparams: QParams) -> Tensor:  # type: ignore[override]
        scale, zp = _broadcast(qparams, x)
        raw, clamped = _codes(x, qparams)
        mask = (raw >= qparams.quant_min) & (raw <= qparams.quant_max)  # inside the clipping range
        ctx.save_for_backward(mask)
        return (clamped - zp) * scale  # codes are exact small integers in float32

    @staticmethod
    def backward(ctx, grad_output: Tensor):  # type: ignore[override]
        (mask,) = ctx.saved_tensors
        return grad_output * mask, None


def fake_quantize(x: Tensor, qparams: QParams) -> Tensor:
    r"""Quantize then dequantize, :math:`\hat x = (q - z)s`, with the straight-through gradient.

    Bit for bit the same as ``torch.fake_quantize_per_tensor_affine(x, scale, zero_point,
    quant_min, quant_max)`` (per-tensor ``qparams``) and
    ``torch.fake_quantize_per_channel_affine(x, scale, zero_point, axis, quant_min, quant_max)``
    (per-channel), forward and backward, on float32 CPU tensors. Two inputs where PyTorch's
    kernels are not defined are handled here, not matched: NaN/inf is refused (PyTorch returns
    a clamped number), and per-channel codes beyond ``2**63`` (e.g. ``x=1e30``, ``scale=1e-5``)
    are clamped to ``quant_max`` (PyTorch's per-channel kernel overflows an int64 and returns
    ``quant_min``).

    The gradient with respect to ``x`` is ``1`` where the unclamped code lies in
    ``[quant_min, quant_max]`` and ``0`` where it was clipped: rounding itself has zero
    gradient almost everywhere, so it is "passed straight through" (Bengio et al. 2013).

    Args:
        x: float32, finite, non-empty; may require grad.
        qparams: a :class:`QParams`.

    Shape:
        output: same as ``x``, float32.

    Example::

        >>> qp = qparams_from_range(-1.0, 1.0, bits=2, symmetric=True)   # codes -1, 0, 1
        >>> fake_quantize(torch.tensor([-0.7, 0.2, 0.5, 1.5]), qp)
        tensor([-1., 0., 0., 1.])
    """
    x = _check_float_tensor("x", x)
    qparams = _check_qparams(qparams)
    _broadcast(qparams, x)  # checks axis and channels before any work
    return _FakeQuantize.apply(x, qparams)


def quantization_error(x: Tensor, qparams: QParams) -> dict[str, float]:
    """How far ``fake_quantize(x)`` is from ``x``: mean squared error, max error, fraction clipped.

    Example::

        >>> w = torch.randn(128, 64)
        >>> qp = choose_qparams(w, 8, symmetric=True)
        >>> quantization_error(w, qp)["max_abs"] <= qp.scale.item() / 2   # nothing is clipped
        True
    """
    x = _check_float_tensor("x", x).detach()
    qparams = _check_qparams(qparams)
    raw, _ = _codes(x, qparams)
    error = fake_quantize(x, qparams) - x
    clipped = ((raw < qparams.quant_min) | (raw > qparams.quant_max)).float().mean()
    return {"mse": error.pow(2).mean().item(), "max_abs": error.abs().max().item(), "clipped": clipped.item()}


# ------------------------------------------------------------------------- a quantized student


def _linear_layers(model: nn.Module) -> list[nn.Linear]:
    if not isinstance(model, nn.Sequential):
        raise TypeError(f"model must be an nn.Sequential MLP (see distill_lib.models.mlp), got {type(model).__name__}")
    allowed = (nn.Linear, nn.ReLU, nn.Dropout)
    odd = [type(m).__name__ for m in model if not isinstance(m, allowed)]
    if odd:
        raise TypeError(f"model holds {odd}; only Linear, ReLU and Dropout layers can be quantized here")
    linears = [m for m in model if isinstance(m, nn.Linear)]
    if not linears:
        raise ValueError("model has no Linear layer to quantize")
    return linears


class FakeQuantMLP(nn.Module):
    """An MLP whose Linear layers see fake-quantized weights and (optionally) inputs.

    Weights are quantized symmetrically from their current values at every forward pass
    (per output channel, or per tensor), so the same module serves post-training quantization
    (PTQ: just evaluate it) and quantization-aware training (QAT: train it with
    :func:`distill_lib.training.fit`; the float weights are the trainable "shadow" weights and
    the gradient flows through the straight-through estimator). The input of every Linear
    layer is quantized asymmetrically, per tensor, with a range observed by :meth:`calibrate`
    on the *float* network (as PyTorch's eager post-training quantization does). Biases and
    the output logits stay in float32.

    Args:
        model: an ``nn.Sequential`` of ``Linear``/``ReLU``/``Dropout`` (e.g. the distilled
            student); it is deep-copied, never modified.
        weight_bits: 2..16 (weights are symmetric, which needs 2 bits), or ``None`` for float weights.
        activation_bits: 1..16, or ``None`` for float activations.
        per_channel: one scale per output channel (``True``) or one per weight tensor.

    Example::

        >>> qmodel = FakeQuantMLP(student, weight_bits=8, activation_bits=8).calibrate(split.X_train[:256])
        >>> evaluate(qmodel, split.X_test, split.y_test)
    """

    def __init__(
        self,
        model: nn.Module,
        *,
        weight_bits: int | None = 8,
        activation_bits: int | None = None,
        per_channel: bool = True,
    ) -> None:
        super().__init__()
        _linear_layers(model)
        if weight_bits is not None:
            quant_range(weight_bits, symmetric=True)  # validates: 2..16
        if activation_bits is not None:
            _check_bits(activation_bits, "activation_bits")
        if not isinstance(per_channel, bool):
            raise TypeError(f"per_channel must be True or False, got {per_channel!r}")
        self.net = copy.deepcopy(model)
        self.weight_bits = weight_bits
        self.activation_bits = activation_bits
        self.per_channel = per_channel
        self.input_qparams: list[QParams] | None = None  # one per Linear layer, set by calibrate()
        self.output_range: tuple[float, float] | None = None  # logits' range, for torch_ao_int8_mlp

    @property
    def linears(self) -> list[nn.Linear]:
        return [m for m in self.net if isinstance(m, nn.Linear)]

    def weight_qparams(self, layer: nn.Linear) -> QParams:
        """Symmetric qparams of ``layer.weight`` as it is now, ``(out,)`` scales if per-channel.

        The same numbers as ``choose_qparams(weight, weight_bits, symmetric=True, axis=0)``
        (or ``axis=None``), computed without re-validating at every forward pass.
        """
        if self.weight_bits is None:
            raise ValueError("weight_bits is None: the weights are not quantized")
        quant_min, quant_max = quant_range(self.weight_bits, symmetric=True)
        weight = layer.weight.detach()  # (out, in)
        if not torch.isfinite(weight).all():
            raise ValueError("the weights hold NaN or infinite values (did training diverge?)")
        absmax = weight.abs().amax(dim=1) if self.per_channel else weight.abs().amax()  # (out,) or ()
        scale = (absmax.to(torch.float64) / quant_max).clamp(min=_EPS).to(torch.float32)
        zero_point = torch.zeros_like(scale, dtype=torch.int32)
        return QParams(scale, zero_point, quant_min, quant_max, 0 if self.per_channel else None)

    @torch.no_grad()
    def calibrate(self, X: Tensor, *, method: str = "minmax", percentile: float = 99.99) -> FakeQuantMLP:
        """Observe every Linear layer's input on ``X`` (float network) and fix its qparams.

        Args:
            X: a calibration set, ``(N, F)`` float32, e.g. a few hundred training images.
            method, percentile: see :func:`calibration_range`.

        Returns:
            ``self``, so that ``FakeQuantMLP(...).calibrate(X)`` reads as one step.
        """
        X = _check_float_tensor("X", X)
        if X.ndim != 2 or X.shape[1] != self.linears[0].in_features:
            raise ValueError(f"X must have shape (N, {self.linears[0].in_features}), got {tuple(X.shape)}")
        bits = self.activation_bits if self.activation_bits is not None else 8
        observed: list[QParams] = []
        h = X
        for layer in self.net:
            if isinstance(layer, nn.Linear):
                lo, hi = calibration_range(h, method=method, percentile=percentile)
                observed.append(qparams_from_range(lo, hi, bits))
            h = layer(h) if not isinstance(layer, nn.Dropout) else h
        self.input_qparams = observed
        lo, hi = calibration_range(h, method=method, percentile=percentile)
        self.output_range = (lo.item(), hi.item())
        return self

    @torch.no_grad()
    def activation_errors(self, X: Tensor) -> list[float]:
        """Relative error ``||fq(h) - h||^2 / ||h||^2`` of each Linear layer's input ``h`` on ``X``.

        ``h`` is taken from the float network (as in :meth:`calibrate`), so this measures how
        well the calibrated grids fit *other* data, e.g. the test set.
        """
        if self.input_qparams is None:
            raise RuntimeError("the activation ranges are unknown: call calibrate(X) first")
        X = _check_float_tensor("X", X)
        errors, h, i = [], X, 0
        for layer in self.net:
            if isinstance(layer, nn.Linear):
                error = (_FakeQuantize.apply(h, self.input_qparams[i]) - h).pow(2).sum()
                errors.append((error / h.pow(2).sum().clamp(min=1e-30)).item())
                i += 1
            h = layer(h) if not isinstance(layer, nn.Dropout) else h
        return errors

    @torch.no_grad()
    def input_codes(self, x: Tensor) -> list[Tensor]:
        """The integer codes (int32) of every Linear layer's input, as this network computes them.

        What an integer implementation of the same model must reproduce (see :class:`Int8MLP`).
        """
        if self.activation_bits is None:
            raise ValueError("activation_bits is None: the activations are not quantized")
        codes: list[Tensor] = []
        self._run(_check_float_tensor("x", x), codes)
        return codes

    def forward(self, x: Tensor) -> Tensor:
        return self._run(x, None)

    def _run(self, x: Tensor, codes: list[Tensor] | None) -> Tensor:
        if self.activation_bits is not None and self.input_qparams is None:
            raise RuntimeError("activation_bits is set but the ranges are unknown: call calibrate(X) first")
        i = 0
        for layer in self.net:
            if isinstance(layer, nn.Linear):
                if self.activation_bits is not None:
                    if codes is not None:
                        codes.append(_codes(x, self.input_qparams[i])[1].to(torch.int32))
                    x = _FakeQuantize.apply(x, self.input_qparams[i])  # (N, in), qparams checked by calibrate
                weight = layer.weight  # (out, in)
                if self.weight_bits is not None:
                    weight = _FakeQuantize.apply(weight, self.weight_qparams(layer))
                x = F.linear(x, weight, layer.bias)  # (N, out)
                i += 1
            else:
                x = layer(x)
        return x


def quantization_aware_training(
    qmodel: FakeQuantMLP,
    X: Tensor,
    targets: Tensor,
    *,
    teacher_logits: Tensor | None = None,
    epochs: int = 60,
    lr: float = 1e-2,
    temperature: float = 4.0,
    lam: float = 0.9,
    seed: int = 0,
) -> History:
    """Fine-tune ``qmodel`` through its fake quantizers (QAT with the straight-through estimator).

    Full-batch Adam via :func:`distill_lib.training.fit` on the distillation loss (the same
    ``T`` and ``lam`` as the student; cross-entropy alone if ``teacher_logits`` is ``None``).
    The float "shadow" weights are updated; every forward pass re-quantizes them.

    Args:
        qmodel: a :class:`FakeQuantMLP` (calibrated if it quantizes activations); trained in place.
        X, targets, teacher_logits: the training data ``(N, F)``, ``(N,)``, ``(N, C)``.
        epochs, lr: Adam steps and learning rate.
        temperature, lam: the distillation loss's ``T`` and ``lam``.
        seed: seeds the run.

    Returns:
        The :class:`~distill_lib.training.History` of the fine-tuning.

    Example::

        >>> q = FakeQuantMLP(student, weight_bits=4, activation_bits=4).calibrate(X_cal)
        >>> quantization_aware_training(q, split.X_train, split.y_train, teacher_logits=v)
    """
    if not isinstance(qmodel, FakeQuantMLP):
        raise TypeError(f"qmodel must be a FakeQuantMLP, got {type(qmodel).__name__}")
    if qmodel.activation_bits is not None and qmodel.input_qparams is None:
        raise RuntimeError("qmodel quantizes activations but is not calibrated: call qmodel.calibrate(X) first")
    if teacher_logits is None:
        loss_fn = cross_entropy_loss
    else:
        loss_fn = partial(distillation_loss, temperature=check_temperature(temperature), lam=check_lam(lam))
    return fit(qmodel, X, targets, teacher_logits=teacher_logits, loss_fn=loss_fn, epochs=epochs, lr=lr,
               seed=seed, progress=False, desc="QAT")


def _check_int8_ready(qmodel: object, activation_bits: tuple[int, ...] = (8,)) -> FakeQuantMLP:
    if not isinstance(qmodel, FakeQuantMLP):
        raise TypeError(f"qmodel must be a FakeQuantMLP, got {type(qmodel).__name__}")
    if qmodel.weight_bits != 8 or qmodel.activation_bits not in activation_bits:
        raise ValueError(f"int8 execution needs weight_bits=8 and activation_bits in {activation_bits}, got "
                         f"weight_bits={qmodel.weight_bits}, activation_bits={qmodel.activation_bits}")
    if qmodel.input_qparams is None:
        raise ValueError("qmodel is not calibrated: call qmodel.calibrate(X) first")
    return qmodel


class Int8MLP(nn.Module):
    """Integer execution of a calibrated 8-bit :class:`FakeQuantMLP` with ``torch._int_mm``.

    Each Linear layer: quantize its input to 8-bit codes (asymmetric, shifted by -128 into
    int8), multiply by the int8 weight codes with ``torch._int_mm`` (int8 x int8 -> int32
    accumulators, exact), subtract the zero point's contribution ``z_x * sum_k w_q[m, k]``,
    then rescale by ``s_x * s_w`` and add the float32 bias (the float "requantization" step
    that fbgemm also uses). The stored model holds int8 weights, float32 scales and biases.

    ``torch._int_mm`` is a private PyTorch operator (the leading underscore: no stability
    promise, though not deprecated in torch 2.13); torchao builds its int8 layers on it.

    Args:
        qmodel: a :class:`FakeQuantMLP` with ``weight_bits=8``, ``activation_bits=8``, calibrated.

    Example::

        >>> int8 = Int8MLP(FakeQuantMLP(student, weight_bits=8, activation_bits=8).calibrate(X_cal))
        >>> int8(split.X_test).argmax(1)
    """

    def __init__(self, qmodel: FakeQuantMLP) -> None:
        super().__init__()
        qmodel = _check_int8_ready(qmodel)
        self.activations: list[str] = []  # what follows each Linear: "relu" or "none"
        modules = [m for m in qmodel.net if not isinstance(m, nn.Dropout)]
        for i, layer in enumerate(qmodel.linears):
            wq = qmodel.weight_qparams(layer)
            codes = quantize(layer.weight.detach(), wq).to(torch.int8)  # (out, in), in [-127, 127]
            xq = qmodel.input_qparams[i]
            self.register_buffer(f"weight_{i}", codes)
            self.register_buffer(f"weight_row_sum_{i}", codes.to(torch.int32).sum(dim=1), persistent=False)  # (out,)
            self.register_buffer(f"weight_scale_{i}", wq.scale.clone())
            self.register_buffer(f"bias_{i}", layer.bias.detach().clone() if layer.bias is not None
                                 else torch.zeros(layer.out_features))
            self.register_buffer(f"input_scale_{i}", xq.scale.clone())
            self.register_buffer(f"input_zero_point_{i}", xq.zero_point.clone())
            position = modules.index(layer)
            following = modules[position + 1] if position + 1 < len(modules) else None
            self.activations.append("relu" if isinstance(following, nn.ReLU) else "none")
        self.num_layers = len(self.activations)

    @torch.no_grad()
    def forward(self, x: Tensor, *, return_codes: bool = False):
        """Logits ``(N, C)``; with ``return_codes=True`` also every layer's input codes (int32)."""
        x = _check_float_tensor("x", x)
        codes = []
        for i in range(self.num_layers):
            qparams = QParams(getattr(self, f"input_scale_{i}"), getattr(self, f"input_zero_point_{i}"), 0, 255)
            q = _codes(x, qparams)[1].to(torch.int32)  # (N, in) in [0, 255], as quantize() gives them
            codes.append(q)
            weight = getattr(self, f"weight_{i}")  # (out, in) int8
            acc = torch._int_mm((q - 128).to(torch.int8), weight.t())  # (N, out) int32, exact
            zp = qparams.zero_point - 128
            acc = acc - zp * getattr(self, f"weight_row_sum_{i}")  # = sum_k (q - z) * w_q
            scale = getattr(self, f"input_scale_{i}") * getattr(self, f"weight_scale_{i}")  # () or (out,)
            x = acc.to(torch.float32) * scale + getattr(self, f"bias_{i}")  # (N, out)
            if self.activations[i] == "relu":
                x = torch.relu(x)
        return (x, codes) if return_codes else x


def torch_ao_int8_mlp(qmodel: FakeQuantMLP, *, engine: str | None = None) -> nn.Module:
    """The same quantized student on PyTorch's own int8 kernels (``torch.ao.nn.quantized``).

    Uses our qparams exactly: int8 weights (per-channel or per-tensor), uint8 inputs, a
    ``LinearReLU`` for each hidden layer whose output codes are the next layer's input codes,
    and an 8-bit output over the calibrated logits range, dequantized at the end.

    **Engines.** On CPUs without VNNI, the ``"x86"`` and ``"fbgemm"`` engines add pairs of
    uint8 x int8 products in a *saturating* int16 (AVX2's ``vpmaddubsw``), so with full 8-bit
    activations some sums are clipped (measured in notebook 04: about 1 % of the hidden codes);
    PyTorch's default qconfigs for these engines therefore use 7-bit activations
    (``reduce_range=True``): pass a ``FakeQuantMLP`` with ``activation_bits=7``. ``"qnnpack"``
    accumulates in int32 and takes 8-bit activations.

    **Status.** The eager-mode workflow ``torch.ao.quantization`` (``prepare``, ``convert``,
    ``quantize_dynamic``) raises a ``DeprecationWarning`` in torch 2.13 ("deprecated and will be
    removed"); the modules of ``torch.ao.nn.quantized`` used here belong to the same stack, and
    creating the quantized tensors they take (``torch.quantize_per_tensor``, ``torch.qint8``)
    raises a ``UserWarning`` ("will be removed in a future PyTorch release", pytorch#184982).
    The successor is torchao. These kernels are still the fastest int8 CPU path in PyTorch itself.

    Args:
        qmodel: a calibrated :class:`FakeQuantMLP` with ``weight_bits=8`` and ``activation_bits``
            8 or 7.
        engine: one of ``torch.backends.quantized.supported_engines``; ``None`` keeps the current
            one. The module switches to it while it is built and while it runs.

    Returns:
        A module mapping float32 ``(N, F)`` to float32 logits ``(N, C)``; its ``codes(x)``
        returns the integer codes of the input, of each layer's output and of the logits.
    """
    qmodel = _check_int8_ready(qmodel, activation_bits=(7, 8))
    engine = torch.backends.quantized.engine if engine is None else engine
    if engine not in torch.backends.quantized.supported_engines:
        raise ValueError(f"engine={engine!r} is not one of {torch.backends.quantized.supported_engines}")
    import torch.ao.nn.intrinsic.quantized as nniq
    import torch.ao.nn.quantized as nnq

    linears = qmodel.linears
    modules = [m for m in qmodel.net if not isinstance(m, nn.Dropout)]
    output_qparams = qparams_from_range(*qmodel.output_range, 8)
    layers: list[nn.Module] = []
    with _quantized_engine(engine):
        for i, layer in enumerate(linears):
            position = modules.index(layer)
            relu = position + 1 < len(modules) and isinstance(modules[position + 1], nn.ReLU)
            wq = qmodel.weight_qparams(layer)
            weight = layer.weight.detach()
            if wq.per_channel:
                qweight = torch.quantize_per_channel(weight, wq.scale.double(), wq.zero_point.long(), 0, torch.qint8)
            else:
                qweight = torch.quantize_per_tensor(weight, wq.scale.item(), 0, torch.qint8)
            out = qmodel.input_qparams[i + 1] if i + 1 < len(linears) else output_qparams
            q_layer = (nniq.LinearReLU if relu else nnq.Linear)(layer.in_features, layer.out_features)
            q_layer.set_weight_bias(qweight, None if layer.bias is None else layer.bias.detach())
            q_layer.scale, q_layer.zero_point = out.scale.item(), int(out.zero_point)
            layers.append(q_layer)
    return _AoInt8MLP(qmodel.input_qparams[0], nn.Sequential(*layers), engine)


class _quantized_engine:
    """Context manager: ``torch.backends.quantized.engine = engine`` inside, restored after."""

    def __init__(self, engine: str) -> None:
        self.engine = engine

    def __enter__(self) -> None:
        self.previous = torch.backends.quantized.engine
        torch.backends.quantized.engine = self.engine

    def __exit__(self, *exc) -> None:
        torch.backends.quantized.engine = self.previous


class _AoInt8MLP(nn.Module):
    def __init__(self, input_qparams: QParams, layers: nn.Sequential, engine: str) -> None:
        super().__init__()
        self.input_scale, self.input_zero_point = input_qparams.scale.item(), int(input_qparams.zero_point)
        self.layers = layers
        self.engine = engine

    @torch.no_grad()
    def codes(self, x: Tensor) -> list[Tensor]:
        """The uint8 codes (as int32) of the input, of every layer's output, and of the logits."""
        with _quantized_engine(self.engine):
            h = torch.quantize_per_tensor(x, self.input_scale, self.input_zero_point, torch.quint8)
            codes = [h.int_repr().to(torch.int32)]
            for layer in self.layers:
                h = layer(h)
                codes.append(h.int_repr().to(torch.int32))
        return codes

    @torch.no_grad()
    def forward(self, x: Tensor) -> Tensor:
        with _quantized_engine(self.engine):
            q = torch.quantize_per_tensor(x, self.input_scale, self.input_zero_point, torch.quint8)
            return self.layers(q).dequantize()


# ------------------------------------------------------------------------- size and speed


def median_latency(
    functions: dict[str, Callable[[], object]], *, repeats: int = 7, number: int = 10
) -> dict[str, dict[str, float]]:
    """Time each function in alternating rounds; report medians, and ratios to the first one.

    Each round times ``number`` calls of every function, in alternating order (so that a
    machine getting busier or quieter affects all of them alike); the first round is a
    warm-up. The ratio is the median over rounds of ``time(f) / time(first)`` in the same round.

    Returns:
        ``{name: {"seconds": median seconds per call, "ratio": median ratio to the first}}``.
    """
    if not isinstance(functions, dict) or not functions or not all(callable(f) for f in functions.values()):
        raise TypeError("functions must be a non-empty dict of name -> callable taking no arguments")
    repeats = check_int("repeats", repeats, low=1)
    number = check_int("number", number, low=1)
    names = list(functions)
    seconds: dict[str, list[float]] = {n: [] for n in names}
    ratios: dict[str, list[float]] = {n: [] for n in names}
    for r in range(repeats + 1):
        took = {}
        for name in names if r % 2 == 0 else names[::-1]:
            start = time.perf_counter()
            for _ in range(number):
                functions[name]()
            took[name] = (time.perf_counter() - start) / number
        if r == 0:
            continue  # warm-up
        for name in names:
            seconds[name].append(took[name])
            ratios[name].append(took[name] / took[names[0]])
    return {n: {"seconds": statistics.median(seconds[n]), "ratio": statistics.median(ratios[n])} for n in names}


def weight_bytes(tensors: dict[str, Tensor]) -> dict[str, int]:
    """What ``torch.save(tensors)`` costs: the whole file, and the tensor payload inside it.

    ``torch.save`` writes a zip archive: a pickle of the structure, one record per tensor
    storage (its raw bytes), and headers. ``"payload"`` sums the storage records alone, so it is
    ``numel * element_size`` of every (distinct) storage; ``"file"`` is every byte written.

    Example::

        >>> weight_bytes({"w": torch.zeros(128, 64)})["payload"]
        32768
        >>> weight_bytes({"w": torch.zeros(128, 64, dtype=torch.int8)})["payload"]
        8192
    """
    if not isinstance(tensors, dict) or not tensors or not all(isinstance(t, Tensor) for t in tensors.values()):
        raise TypeError("tensors must be a non-empty dict of name -> torch.Tensor")
    buffer = io.BytesIO()
    torch.save(dict(tensors), buffer)
    with zipfile.ZipFile(buffer) as archive:  # records "<archive>/data/<n>" hold the storages
        payload = sum(info.file_size for info in archive.infolist() if "/data/" in info.filename)
    return {"file": buffer.getbuffer().nbytes, "payload": payload}


# --------------------------------------------------------------------------------- the widget


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
    """
    weight = _check_float_tensor("weight", weight).detach()
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
    return view
