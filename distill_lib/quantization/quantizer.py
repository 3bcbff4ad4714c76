r"""The affine quantizer: quantize, dequantize, fake-quantize with the straight-through gradient (notebook 04, §1-2).

A real number :math:`x` is stored as an integer code :math:`q` in ``[quant_min, quant_max]``:

.. math::

    q = \operatorname{clamp}\big(\operatorname{round}(x \cdot s^{-1}) + z,\; q_{\min},\; q_{\max}\big),
    \qquad \hat x = (q - z)\, s

with a **scale** :math:`s > 0` (the step between neighbouring grid points) and an integer
**zero_point** :math:`z` (the code of the real number 0, which is always exactly representable).
*Fake quantization* is :math:`x \mapsto \hat x`: the float value the integer code stands for.
Inside the clipping range :math:`[(q_{\min} - z)s,\; (q_{\max} - z)s]` the rounding error is
at most :math:`s / 2`. The parameters come from :mod:`distill_lib.quantization.qparams`.

The arithmetic mirrors PyTorch's CPU kernels exactly (``torch.fake_quantize_per_tensor_affine``
and ``torch.fake_quantize_per_channel_affine``, checked bit for bit by the tests):

* ``round`` is round-half-to-even (C's ``nearbyint``, :func:`torch.round`): 2.5 -> 2, 3.5 -> 4;
* the input is *multiplied* by ``inv_scale = 1 / scale`` computed in float32, not divided by
  ``scale`` (``x * (1/s)`` and ``x / s`` differ in the last bit for some inputs, and a last-bit
  difference can move a value across a rounding tie);
* the zero point is added *after* rounding, then the code is clamped;
* the gradient is the *clipped* straight-through estimator: 1 where the unclamped code lies in
  ``[quant_min, quant_max]``, 0 outside. The straight-through estimator is Bengio, Léonard &
  Courville (2013); its clipped form is Hubara et al. (2016, Binarized / Quantized Neural
  Networks), and it is what Jacob et al. (2018) and PyTorch's fake quantizers use.

Only float32 input is accepted (see :mod:`distill_lib.quantization.qparams` for why).
"""

from __future__ import annotations

import torch
from torch import Tensor

from .._validation import check_int
from ._checks import check_float_tensor
from .qparams import QParams

__all__ = ["FakeQuantizeSTE", "quantize", "dequantize", "fake_quantize", "quantization_error"]


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


def affine_codes(x: Tensor, qparams: QParams) -> tuple[Tensor, Tensor]:
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
    x = check_float_tensor("x", x)
    qparams = _check_qparams(qparams)
    return affine_codes(x.detach(), qparams)[1].to(torch.int32)


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


class FakeQuantizeSTE(torch.autograd.Function):
    """Forward: dequantize(quantize(x)). Backward: the clipped straight-through estimator."""

    @staticmethod
    def forward(ctx, x, qparams):
        scale, zero_point = qparams.scale, qparams.zero_point
        if qparams.axis is not None:  # per channel: one scale per index along axis
            shape = [-1 if d == qparams.axis % x.ndim else 1 for d in range(x.ndim)]
            scale, zero_point = scale.reshape(shape), zero_point.reshape(shape)
        raw = torch.round(x * (1.0 / scale)) + zero_point  # times 1/s, round half to even, then + z
        inside = (raw >= qparams.quant_min) & (raw <= qparams.quant_max)  # not clipped
        ctx.save_for_backward(inside)
        q = raw.clamp(qparams.quant_min, qparams.quant_max)  # the integer codes (held in float32)
        return (q - zero_point) * scale

    @staticmethod
    def backward(ctx, grad_output):
        (inside,) = ctx.saved_tensors
        return grad_output * inside, None  # 1 inside the clipping range, 0 where clipped


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
    gradient almost everywhere, so it is "passed straight through" (the straight-through estimator of
    Bengio, Léonard & Courville 2013, clipped as in Hubara et al. 2016).

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
    x = check_float_tensor("x", x)
    qparams = _check_qparams(qparams)
    _broadcast(qparams, x)  # checks axis and channels before any work
    return FakeQuantizeSTE.apply(x, qparams)


def quantization_error(x: Tensor, qparams: QParams) -> dict[str, float]:
    """How far ``fake_quantize(x)`` is from ``x``: mean squared error, max error, fraction clipped.

    Example::

        >>> w = torch.randn(128, 64)
        >>> qp = choose_qparams(w, 8, symmetric=True)
        >>> quantization_error(w, qp)["max_abs"] <= qp.scale.item() / 2   # nothing is clipped
        True
    """
    x = check_float_tensor("x", x).detach()
    qparams = _check_qparams(qparams)
    raw, _ = affine_codes(x, qparams)
    error = fake_quantize(x, qparams) - x
    clipped = ((raw < qparams.quant_min) | (raw > qparams.quant_max)).float().mean()
    return {"mse": error.pow(2).mean().item(), "max_abs": error.abs().max().item(), "clipped": clipped.item()}
