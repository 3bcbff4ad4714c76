r"""Integer-only int8 execution of the quantized student (notebook 04, §5; Jacob et al. 2018, §2.2-2.4).

:class:`Int8MLP` runs a calibrated 8-bit :class:`~distill_lib.quantization.fake_quant_mlp.FakeQuantMLP`
with integers only between its input and its logits:

* activations are int8 codes with a zero point (the fake-quant model's uint8 codes minus 128),
  weights int8 codes (symmetric, zero point 0, per channel or per tensor);
* each layer accumulates :math:`\sum_k (q_x - z_x)(q_w - z_w) + q_b` in int32, with the
  zero-point terms folded into precomputed sums (the paper's eq. 7-8) and the bias quantized to
  int32 at scale :math:`s_x s_w`, zero point 0 (:func:`integer_linear`);
* the int32 accumulator is brought to the next layer's int8 grid by the fixed-point multiplier
  :math:`M = s_x s_w / s_y = M_0 \cdot 2^{-31-n}` (:func:`quantize_multiplier`), an integer
  multiply and a rounding right shift as in gemmlowp (:func:`requantize`); ReLU is the clamp at
  the output zero point;
* only the quantization of the input and the dequantization of the final int32 logits touch float.

:func:`torch_ao_int8_mlp` puts the same qparams on PyTorch's own quantized kernels
(``torch.ao.nn.quantized``). The notebook shows :func:`quantize_multiplier`,
:func:`integer_linear`, :func:`requantize`, :func:`fold_linear` (the per-layer conversion that
:func:`integer_layers` runs after its checks) and :func:`integer_forward`, kept here verbatim.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import NamedTuple

import torch
from torch import Tensor, nn

from .fake_quant_mlp import FakeQuantMLP
from ._checks import check_float_tensor
from .qparams import QParams, qparams_from_range
from .quantizer import affine_codes, quantize

__all__ = ["IntegerLinear", "quantize_multiplier", "integer_linear", "requantize", "fold_linear", "integer_forward",
           "integer_layers", "Int8MLP", "torch_ao_int8_mlp", "cpu_int8_features", "INT8_DOT_PRODUCT_FLAGS"]

#: CPU flags (as Linux's ``/proc/cpuinfo`` spells them) of x86 instructions that multiply uint8 x int8
#: and add the products in 32 bits without saturating: AVX-512 VNNI, AVX-VNNI, AMX-INT8.
INT8_DOT_PRODUCT_FLAGS = ("avx512_vnni", "avx_vnni", "amx_int8")


def cpu_int8_features(cpuinfo: str | None = None) -> list[str] | None:
    """Which of :data:`INT8_DOT_PRODUCT_FLAGS` this CPU reports, or ``None`` if that is unknown.

    Args:
        cpuinfo: the text of ``/proc/cpuinfo``; ``None`` reads it (Linux only: elsewhere, or
            when no ``flags`` line is found, the answer is ``None``, not "no").

    Returns:
        The flags found, in the order of :data:`INT8_DOT_PRODUCT_FLAGS` (``[]``: none of them).

    Example::

        >>> cpu_int8_features("flags : fpu avx2 avx512_vnni")
        ['avx512_vnni']
        >>> cpu_int8_features("flags : fpu avx2")
        []
    """
    if cpuinfo is None:
        try:
            with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
                cpuinfo = f.read()
        except OSError:
            return None
    if not isinstance(cpuinfo, str):
        raise TypeError(f"cpuinfo must be a string (the text of /proc/cpuinfo) or None, got {type(cpuinfo).__name__}")
    for line in cpuinfo.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() == "flags":
            flags = set(value.split())
            return [f for f in INT8_DOT_PRODUCT_FLAGS if f in flags]
    return None


def _check_int8_ready(qmodel: object, activation_bits: tuple[int, ...] = (8,)) -> FakeQuantMLP:
    if not isinstance(qmodel, FakeQuantMLP):
        raise TypeError(f"qmodel must be a FakeQuantMLP, got {type(qmodel).__name__}")
    if qmodel.weight_bits != 8 or qmodel.activation_bits not in activation_bits:
        raise ValueError(f"int8 execution needs weight_bits=8 and activation_bits in {activation_bits}, got "
                         f"weight_bits={qmodel.weight_bits}, activation_bits={qmodel.activation_bits}")
    if qmodel.input_qparams is None:
        raise ValueError("qmodel is not calibrated: call qmodel.calibrate(X) first")
    return qmodel


def _relu_after(qmodel: FakeQuantMLP) -> list[bool]:
    """For each Linear layer of ``qmodel``, in order: is it followed by a ReLU (Dropout skipped)?"""
    modules = [m for m in qmodel.net if not isinstance(m, nn.Dropout)]
    return [i + 1 < len(modules) and isinstance(modules[i + 1], nn.ReLU)
            for i, m in enumerate(modules) if isinstance(m, nn.Linear)]


class IntegerLinear(NamedTuple):
    r"""One Linear layer in integers (built by :func:`integer_layers`).

    Attributes:
        weight: int8 codes ``(out, in)``.
        weight_zero_point: int32 ``(out,)`` (0 for the workbook's symmetric weights).
        bias: int32 ``(out,)``: the quantized bias with the zero-point terms folded in,
            :math:`q_b - z_x \sum_k q_w + K z_x z_w`.
        multiplier, shift: int64 ``(out,)``: :math:`M = M_0 \cdot 2^{-31-n}` (see :func:`quantize_multiplier`).
        output_zero_point: the int8 code of 0.0 on the output grid.
        output_min: the smallest output code: ``output_zero_point`` after a ReLU, else -128.
    """

    weight: Tensor
    weight_zero_point: Tensor
    bias: Tensor
    multiplier: Tensor
    shift: Tensor
    output_zero_point: int
    output_min: int


# ------------------------------------------------------------------------- the shown cores


def quantize_multiplier(M):
    """M = M0 * 2**-(31 + shift), M0 an integer in [2**30, 2**31): the fixed-point multiplier."""
    mantissa, exponent = torch.frexp(M.to(torch.float64))  # M = mantissa * 2**exponent, mantissa in [0.5, 1)
    M0 = torch.round(mantissa * 2**31).to(torch.int64)  # in [2**30, 2**31]
    carry = M0 == 2**31  # the mantissa rounded up to 1.0
    return torch.where(carry, 2**30, M0), -(exponent.to(torch.int64) + carry)  # shift >= 0 when M < 1


def integer_linear(q_x, layer):
    """sum_k (q_x - z_x)(q_w - z_w) + q_b in int32, the zero-point terms folded (eq. 7-8)."""
    acc = torch._int_mm(q_x, layer.weight.t())  # (N, out) int32: sum_k q_x q_w, exact
    input_sums = q_x.sum(dim=1, keepdim=True, dtype=torch.int32)  # (N, 1): the one per-input sum
    return acc - layer.weight_zero_point * input_sums + layer.bias  # bias: q_b - z_x sum q_w + K z_x z_w


def requantize(acc, multiplier, shift, zero_point, low):
    """int32 -> int8 codes: round(acc * M0 / 2**(31 + shift)) + z, clamped to [low, 127]."""
    x = acc.to(torch.int64) * multiplier  # (N, out), exact: |acc| < 2**31 and M0 < 2**31
    nudge = torch.where(x >= 0, 2**30, 1 - 2**30)
    x = torch.div(x + nudge, 2**31, rounding_mode="trunc")  # gemmlowp's SaturatingRoundingDoublingHighMul
    mask = (1 << shift) - 1  # gemmlowp's RoundingDivideByPOT: / 2**shift, round half away from 0
    threshold = (mask >> 1) + (x < 0)
    x = (x >> shift) + ((x & mask) > threshold)
    return (x + zero_point).clamp(low, 127).to(torch.int8)  # ReLU: low = zero_point


def fold_linear(weight, z_w, bias, s_x, z_x, s_w, s_y):
    """One Linear layer, once per model: the folded int32 bias and M = s_x s_w / s_y per output channel."""
    K = weight.shape[1]  # weight: (out, K) int8 codes; z_w, bias, s_w: (out,); s_x, z_x, s_y: the activation grids
    q_b = torch.round(bias / (s_x * s_w))  # (out,): the bias in int32 at scale s_x * s_w, zero point 0
    folded = q_b - z_x * weight.to(torch.int64).sum(dim=1) + K * z_x * z_w  # q_b - z_x sum_k q_w + K z_x z_w
    M = None if s_y is None else s_x * s_w / s_y  # (out,); None: the last layer's logits are dequantized
    return folded, M


def integer_forward(q, layers):
    """int8 input codes (N, F) -> int32 logit accumulators (N, C); integers only in between."""
    for layer in layers[:-1]:
        acc = integer_linear(q, layer)  # (N, out) int32
        q = requantize(acc, layer.multiplier, layer.shift, layer.output_zero_point, layer.output_min)  # int8
    return integer_linear(q, layers[-1])  # (N, C) int32; logits = acc * s_x * s_w


# -------------------------------------------------------------------- building the layers


def integer_layers(qmodel: FakeQuantMLP) -> tuple[list[IntegerLinear], Tensor, QParams]:
    """Convert a calibrated 8-bit :class:`FakeQuantMLP` into :class:`IntegerLinear` layers.

    Weights become int8 codes (the fake-quant model's symmetric grid), the bias an int32 at
    scale ``s_x * s_w`` with the zero-point terms folded in, and each output channel's
    ``M = s_x * s_w / s_y`` a fixed-point ``(M0, shift)`` pair; a layer followed by ReLU clamps
    its output at the output zero point.

    Args:
        qmodel: a :class:`FakeQuantMLP` with ``weight_bits=8``, ``activation_bits=8``, calibrated.

    Returns:
        ``(layers, logit_scale, input_qparams)``: the integer layers; ``s_x * s_w`` of the last
        layer, float32 ``(C,)`` (logits = int32 accumulator * logit_scale); the first layer's
        input grid, in int8 codes (``[-128, 127]``, zero point shifted by -128).

    Raises:
        TypeError, ValueError: ``qmodel`` not a calibrated W8A8 ``FakeQuantMLP``; a multiplier
            ``M`` outside ``(0, 1)`` or a bias that does not fit int32 (nothing is clamped).

    Example::

        >>> layers, logit_scale, grid = integer_layers(q8)
        >>> acc = integer_forward(quantize(X, grid).to(torch.int8), layers)   # (N, C) int32
    """
    qmodel = _check_int8_ready(qmodel)
    linears, relus = qmodel.linears, _relu_after(qmodel)
    grids = [_int8_grid(qp) for qp in qmodel.input_qparams]  # the uint8 grids, shifted to int8 codes
    layers: list[IntegerLinear] = []
    logit_scale = None
    for i, (layer, relu) in enumerate(zip(linears, relus)):
        wq = qmodel.weight_qparams(layer)
        weight = quantize(layer.weight.detach(), wq).to(torch.int8)  # (out, in), in [-127, 127]
        out_features = weight.shape[0]
        s_x, z_x = grids[i].scale.to(torch.float64), int(grids[i].zero_point)
        s_w = wq.scale.to(torch.float64).expand(out_features)  # (out,)
        z_w = wq.zero_point.to(torch.int64).expand(out_features)  # (out,), zeros (symmetric)
        bias = layer.bias.detach().to(torch.float64) if layer.bias is not None else torch.zeros(out_features,
                                                                                                dtype=torch.float64)
        last = i + 1 == len(linears)
        s_y, z_y = (None, 0) if last else (grids[i + 1].scale.to(torch.float64), int(grids[i + 1].zero_point))
        folded, M = fold_linear(weight, z_w, bias, s_x, z_x, s_w, s_y)  # (out,), (out,) or None
        if folded.abs().max() > 2**31 - 1:
            raise ValueError(f"layer {i}: the folded bias reaches {folded.abs().max().item():.3g}, beyond int32; "
                             "the bias is too large for its scale s_x * s_w")
        if not last:
            if not ((M > 0) & (M < 1)).all():
                raise ValueError(f"layer {i}: the multiplier M = s_x * s_w / s_y must lie in (0, 1) for a right "
                                 f"shift, got values in [{M.min().item():.3g}, {M.max().item():.3g}]")
            multiplier, shift = quantize_multiplier(M)
            if (shift < 0).any():  # M within 2**-32 of 1 rounds to 1.0: no right shift represents it
                raise ValueError(f"layer {i}: the multiplier M = s_x * s_w / s_y rounds to 1.0 in 31-bit fixed point "
                                 "(a right shift needs M < 1); widen the output grid")
            output_min = z_y if relu else -128
        else:
            multiplier = shift = torch.zeros(out_features, dtype=torch.int64)  # the logits are dequantized
            output_min = -128
            logit_scale = (s_x * s_w).to(torch.float32)
        layers.append(IntegerLinear(weight, z_w.to(torch.int32).contiguous(), folded.to(torch.int32),
                                    multiplier, shift, z_y, output_min))
    return layers, logit_scale, grids[0]


def _int8_grid(qparams: QParams) -> QParams:
    """An asymmetric 8-bit grid ``[0, 255]``, as int8 codes ``[-128, 127]`` (zero point - 128)."""
    return QParams(qparams.scale, qparams.zero_point - 128, -128, 127)


class Int8MLP(nn.Module):
    """Integer-only execution of a calibrated 8-bit :class:`FakeQuantMLP` (Jacob et al. 2018).

    The input is quantized to int8 codes (float -> int8, the one step in float besides the
    last); :func:`integer_forward` runs every layer in integers (int8 x int8 -> int32 with
    ``torch._int_mm``, int32 bias, fixed-point requantization, ReLU as a clamp), int8 between
    layers; the final int32 accumulators are dequantized to float32 logits. The stored model holds
    int8 weights, int32 biases and int64 multipliers and shifts.

    ``torch._int_mm`` is a private PyTorch operator (no stability promise, though not deprecated
    in torch 2.13); torchao builds its int8 layers on it.

    Args:
        qmodel: a :class:`FakeQuantMLP` with ``weight_bits=8``, ``activation_bits=8``, calibrated.

    Raises:
        TypeError, ValueError: see :func:`integer_layers`.

    Example::

        >>> int8 = Int8MLP(FakeQuantMLP(student, weight_bits=8, activation_bits=8).calibrate(X_cal))
        >>> int8(split.X_val).argmax(1)
    """

    def __init__(self, qmodel: FakeQuantMLP) -> None:
        super().__init__()
        layers, logit_scale, input_grid = integer_layers(qmodel)
        for i, layer in enumerate(layers):
            for name in ("weight", "weight_zero_point", "bias", "multiplier", "shift"):
                self.register_buffer(f"{name}_{i}", getattr(layer, name).clone())
        self.output_zero_points = [layer.output_zero_point for layer in layers]
        self.output_mins = [layer.output_min for layer in layers]
        self.register_buffer("logit_scale", logit_scale)
        self.register_buffer("input_scale", input_grid.scale.clone())
        self.register_buffer("input_zero_point", input_grid.zero_point.clone())
        self.num_layers = len(layers)

    @property
    def layers(self) -> list[IntegerLinear]:
        names = ("weight", "weight_zero_point", "bias", "multiplier", "shift")
        return [IntegerLinear(*(getattr(self, f"{n}_{i}") for n in names), self.output_zero_points[i],
                              self.output_mins[i]) for i in range(self.num_layers)]

    def quantize_input(self, x: Tensor) -> Tensor:
        """Float32 ``(N, F)`` -> int8 codes, on the first layer's calibrated grid."""
        grid = QParams(self.input_scale, self.input_zero_point, -128, 127)
        return affine_codes(check_float_tensor("x", x), grid)[1].to(torch.int8)

    @torch.no_grad()
    def forward(self, x: Tensor) -> Tensor:
        """Float32 logits ``(N, C)``: quantize the input, integers only, dequantize the logits."""
        acc = integer_forward(self.quantize_input(x), self.layers)  # (N, C) int32
        return acc.to(torch.float32) * self.logit_scale

    @torch.no_grad()
    def input_codes(self, x: Tensor) -> list[Tensor]:
        """Every layer's input codes, on the fake-quant model's ``[0, 255]`` scale (int32)."""
        q, codes = self.quantize_input(x), []
        for layer in self.layers[:-1]:
            codes.append(q.to(torch.int32) + 128)
            q = requantize(integer_linear(q, layer), layer.multiplier, layer.shift, layer.output_zero_point,
                           layer.output_min)
        return codes + [q.to(torch.int32) + 128]


def torch_ao_int8_mlp(qmodel: FakeQuantMLP, *, engine: str | None = None) -> nn.Module:
    """The same quantized student on PyTorch's own int8 kernels (``torch.ao.nn.quantized``).

    Uses our qparams exactly: int8 weights (per-channel or per-tensor), uint8 inputs, a
    ``LinearReLU`` for each hidden layer whose output codes are the next layer's input codes,
    and an 8-bit output over the calibrated logits range, dequantized at the end.

    **Engines.** On x86 CPUs without VNNI instructions (see :func:`cpu_int8_features`), the
    ``"x86"`` and ``"fbgemm"`` engines add pairs of uint8 x int8 products in a *saturating* int16
    (AVX2's ``vpmaddubsw``): with full 8-bit activations a pair can exceed 32,767 and is clipped,
    and the codes that follow can be off by many steps (notebook 04 measures how many on the
    machine it runs on). PyTorch's default qconfigs for these engines therefore use 7-bit
    activations (``reduce_range=True``): pass a ``FakeQuantMLP`` with ``activation_bits=7``.
    ``"qnnpack"`` accumulates in int32 and takes 8-bit activations.

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
    output_qparams = qparams_from_range(*qmodel.output_range, 8)
    layers: list[nn.Module] = []
    with _quantized_engine(engine):
        for i, (layer, relu) in enumerate(zip(linears, _relu_after(qmodel))):
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


@contextmanager
def _quantized_engine(engine: str) -> Iterator[None]:
    """``torch.backends.quantized.engine = engine`` inside the ``with`` block, restored after."""
    previous = torch.backends.quantized.engine
    torch.backends.quantized.engine = engine
    try:
        yield
    finally:
        torch.backends.quantized.engine = previous


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
