r"""Uniform affine quantization: from scratch, per-tensor and per-channel, PTQ, QAT, int8 (notebook 04).

A real number :math:`x` is stored as an integer code
:math:`q = \operatorname{clamp}(\operatorname{round}(x \cdot s^{-1}) + z, q_{\min}, q_{\max})` and
stands for :math:`\hat x = (q - z)\, s`, with a **scale** :math:`s > 0` and an integer **zero_point**
:math:`z`; ``bits`` from 1 to 16, bit for bit the same as PyTorch's ``torch.fake_quantize_per_*_affine``.

One file per step of the notebook, each importable on its own; everything is re-exported here,
so ``from distill_lib.quantization import fake_quantize`` works:

- :mod:`~distill_lib.quantization.qparams`: ``QParams``, ``quant_range``, ``qparams_from_range``,
  ``calibration_range``, ``choose_qparams``: the grid (§1 from scratch, §2 per-tensor vs per-channel)
- :mod:`~distill_lib.quantization.quantizer`: ``quantize``, ``dequantize``, ``fake_quantize`` and
  ``FakeQuantizeSTE`` (the straight-through estimator as an ``autograd.Function``),
  ``quantization_error`` (§1, §2, §4)
- :mod:`~distill_lib.quantization.fake_quant_mlp`: ``calibrate_inputs``, ``fake_quant_forward``,
  ``qat_loop`` (the shown cores), ``FakeQuantMLP`` and ``quantization_aware_training`` (§3 PTQ, §4 QAT)
- :mod:`~distill_lib.quantization.int8`: the integer-only path of Jacob et al. (2018):
  ``quantize_multiplier``, ``integer_linear``, ``requantize``, ``integer_forward`` (the shown cores),
  ``Int8MLP``; ``torch_ao_int8_mlp`` on PyTorch's quantized kernels, ``cpu_int8_features`` (§5)
- :mod:`~distill_lib.quantization.experiments`: students, PTQ and QAT models over seeds and their
  per-image results as :class:`~distill_lib.stats.Runs` (``evaluate_runs``, ``weight_only_experiment``,
  ``calibration_experiment``, ``choose_calibration``, ``ptq_models``, ``qat_models``) (§2-5); every
  comparison goes through :func:`distill_lib.stats.compare`
- :mod:`~distill_lib.quantization.measure`: ``weight_bytes`` (§5 size; latency is measured with
  :mod:`distill_lib.timing`)
- :mod:`~distill_lib.quantization.widget`: ``weight_quantization_view``, ``plot_weight_quantization``
  (§6 explore)
"""

from . import experiments, fake_quant_mlp, int8, measure, qparams, quantizer, widget
from .fake_quant_mlp import FakeQuantMLP, calibrate_inputs, fake_quant_forward, qat_loop, quantization_aware_training
from .experiments import (
    CALIBRATION_CHOICES,
    SCHEMES,
    calibration_experiment,
    calibration_set,
    choose_calibration,
    distilled_students,
    evaluate_runs,
    ptq_models,
    qat_models,
    weight_only_experiment,
)
from .int8 import (
    INT8_DOT_PRODUCT_FLAGS,
    Int8MLP,
    IntegerLinear,
    cpu_int8_features,
    fold_linear,
    integer_forward,
    integer_layers,
    integer_linear,
    quantize_multiplier,
    requantize,
    torch_ao_int8_mlp,
)
from .measure import weight_bytes
from .qparams import (
    CALIBRATION_METHODS,
    MAX_BITS,
    QParams,
    calibration_range,
    choose_qparams,
    qparams_from_range,
    quant_range,
)
from .quantizer import FakeQuantizeSTE, dequantize, fake_quantize, quantization_error, quantize
from .widget import plot_weight_quantization, weight_quantization_view

__all__ = [
    *qparams.__all__, *quantizer.__all__, *fake_quant_mlp.__all__, *int8.__all__,
    *experiments.__all__, *measure.__all__, *widget.__all__,
]
