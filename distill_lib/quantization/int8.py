"""Real int8 execution of the quantized student on the CPU (notebook 04, §5).

Two integer implementations of a calibrated 8-bit :class:`~distill_lib.quantization.fake_quant_mlp.FakeQuantMLP`,
both checked against its codes by the tests:

* :class:`Int8MLP`: written out here on ``torch._int_mm`` (int8 x int8 -> int32), so every
  step of integer inference (codes, zero-point correction, rescaling) can be read;
* :func:`torch_ao_int8_mlp`: the same qparams on PyTorch's own quantized kernels
  (``torch.ao.nn.quantized``).

What they save is measured by :mod:`distill_lib.quantization.measure`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import Tensor, nn

from .fake_quant_mlp import FakeQuantMLP
from .qparams import QParams, _check_float_tensor, qparams_from_range
from .quantizer import _codes, quantize

__all__ = ["Int8MLP", "torch_ao_int8_mlp", "cpu_int8_features", "INT8_DOT_PRODUCT_FLAGS"]

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
        self.activations = ["relu" if relu else "none" for relu in _relu_after(qmodel)]  # after each Linear
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
