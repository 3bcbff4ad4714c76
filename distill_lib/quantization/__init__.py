r"""Uniform affine quantization: from scratch, per-tensor and per-channel, PTQ, QAT, int8 (notebook 04).

A real number :math:`x` is stored as an integer code
:math:`q = \operatorname{clamp}(\operatorname{round}(x \cdot s^{-1}) + z, q_{\min}, q_{\max})` and
stands for :math:`\hat x = (q - z)\, s`, with a **scale** :math:`s > 0` and an integer **zero_point**
:math:`z`; ``bits`` from 1 to 16, bit for bit the same as PyTorch's ``torch.fake_quantize_per_*_affine``.

One file per step of the notebook, each importable on its own; everything is re-exported here,
so ``from distill_lib.quantization import fake_quantize`` works:

- :mod:`~distill_lib.quantization.qparams`: ``QParams``, ``quant_range``, ``qparams_from_range``,
  ``calibration_range``, ``choose_qparams``: the grid (§1 from scratch, §2 per-tensor vs per-channel)
- :mod:`~distill_lib.quantization.quantizer`: ``quantize``, ``dequantize``, ``fake_quantize`` with
  the straight-through gradient, ``quantization_error`` (§1, §2)
- :mod:`~distill_lib.quantization.fake_quant_mlp`: ``FakeQuantMLP`` (calibration, PTQ) and
  ``quantization_aware_training`` (§3 post-training quantization, §4 QAT)
- :mod:`~distill_lib.quantization.int8`: ``Int8MLP`` on ``torch._int_mm``, ``torch_ao_int8_mlp``
  on PyTorch's quantized kernels, ``cpu_int8_features`` (§5 real int8 execution)
- :mod:`~distill_lib.quantization.experiments`: the experiments over seeds (``weight_only_experiment``,
  ``ptq_experiment``, ``calibration_experiment``, ``qat_experiment``) and ``compare``, which tells
  a clear difference from seed-to-seed noise (§2-4)
- :mod:`~distill_lib.quantization.measure`: ``weight_bytes``, ``median_latency``, ``describe_ratio``
  (§5 size, latency)
- :mod:`~distill_lib.quantization.widget`: ``weight_quantization_view``, ``plot_weight_quantization``
  (§6 explore)
"""

from . import experiments, fake_quant_mlp, int8, measure, qparams, quantizer, widget
from .fake_quant_mlp import FakeQuantMLP, quantization_aware_training
from .experiments import (
    MIN_SEEDS_FOR_VERDICT,
    Comparison,
    calibration_experiment,
    compare,
    distilled_students,
    ptq_experiment,
    qat_experiment,
    seed_accuracy,
    weight_only_experiment,
)
from .int8 import INT8_DOT_PRODUCT_FLAGS, Int8MLP, cpu_int8_features, torch_ao_int8_mlp
from .measure import describe_ratio, median_latency, weight_bytes
from .qparams import MAX_BITS, METHODS, QParams, calibration_range, choose_qparams, qparams_from_range, quant_range
from .quantizer import dequantize, fake_quantize, quantization_error, quantize
from .widget import plot_weight_quantization, weight_quantization_view

__all__ = [
    *qparams.__all__, *quantizer.__all__, *fake_quant_mlp.__all__, *int8.__all__,
    *experiments.__all__, *measure.__all__, *widget.__all__,
]
