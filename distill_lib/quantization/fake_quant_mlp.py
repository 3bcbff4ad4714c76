"""A student with fake-quantized weights and activations: calibration, PTQ and QAT (notebook 04, §3-4).

:class:`FakeQuantMLP` wraps an MLP so that every ``Linear`` layer sees
:func:`~distill_lib.quantization.quantizer.fake_quantize`-d weights (symmetric, per output
channel or per tensor) and inputs (asymmetric, per tensor, with ranges calibrated on the float
network). Evaluating it is post-training quantization (PTQ); training it with
:func:`quantization_aware_training` is quantization-aware training (QAT), the gradient passing
through the straight-through estimator. Its calibrated 8-bit form is what
:mod:`distill_lib.quantization.int8` runs on integer kernels.
"""

from __future__ import annotations

import copy
from functools import partial

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._validation import check_lam, check_temperature
from ..losses import cross_entropy_loss, distillation_loss
from ..training import History, fit
from .qparams import (
    _EPS,
    MAX_BITS,
    QParams,
    _check_bits,
    _check_float_tensor,
    _check_method,
    calibration_range,
    qparams_from_range,
    quant_range,
)
from .quantizer import _codes, _FakeQuantize

__all__ = ["FakeQuantMLP", "quantization_aware_training"]


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
        if weight_bits is not None:  # weights are symmetric: 1 bit has no code for -w, 0 and w at once
            _check_bits(weight_bits, "weight_bits")
            if weight_bits < 2:
                raise ValueError(f"weight_bits={weight_bits} is out of range; allowed: [2, {MAX_BITS}] (the weights "
                                 "are quantized symmetrically, which needs codes for -w, 0 and w)")
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
        _check_method(method, percentile)
        bits = self.activation_bits if self.activation_bits is not None else 8
        inputs, logits = self._float_linear_inputs(X)
        observed: list[QParams] = []
        for h in inputs:
            lo, hi = calibration_range(h, method=method, percentile=percentile)
            observed.append(qparams_from_range(lo, hi, bits))
        self.input_qparams = observed
        lo, hi = calibration_range(logits, method=method, percentile=percentile)
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
        inputs, _ = self._float_linear_inputs(_check_float_tensor("X", X))
        errors = []
        for h, qparams in zip(inputs, self.input_qparams):
            error = (_FakeQuantize.apply(h, qparams) - h).pow(2).sum()
            errors.append((error / h.pow(2).sum().clamp(min=1e-30)).item())
        return errors

    def _float_linear_inputs(self, X: Tensor) -> tuple[list[Tensor], Tensor]:
        """Every Linear layer's input on ``X`` in the float network (no dropout), and its logits."""
        inputs, h = [], X
        for layer in self.net:
            if isinstance(layer, nn.Linear):
                inputs.append(h)  # (N, in)
            h = layer(h) if not isinstance(layer, nn.Dropout) else h
        return inputs, h  # logits (N, C)

    @torch.no_grad()
    def input_codes(self, x: Tensor) -> list[Tensor]:
        """The integer codes (int32) of every Linear layer's input, as this network computes them.

        What an integer implementation of the same model must reproduce (see
        :class:`~distill_lib.quantization.int8.Int8MLP`).
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

    Raises:
        TypeError: ``qmodel`` is not a :class:`FakeQuantMLP`.
        ValueError: ``temperature`` not finite and > 0, or ``lam`` outside ``[0, 1]`` (checked
            even without ``teacher_logits``, where they are unused), bad ``epochs``/``lr``/data.
        RuntimeError: ``qmodel`` quantizes activations but is not calibrated.

    Example::

        >>> q = FakeQuantMLP(student, weight_bits=4, activation_bits=4).calibrate(X_cal)
        >>> quantization_aware_training(q, split.X_train, split.y_train, teacher_logits=v)
    """
    if not isinstance(qmodel, FakeQuantMLP):
        raise TypeError(f"qmodel must be a FakeQuantMLP, got {type(qmodel).__name__}")
    temperature, lam = check_temperature(temperature), check_lam(lam)  # always, even if unused: a typo is a bug
    if qmodel.activation_bits is not None and qmodel.input_qparams is None:
        raise RuntimeError("qmodel quantizes activations but is not calibrated: call qmodel.calibrate(X) first")
    if teacher_logits is None:
        loss_fn = cross_entropy_loss
    else:
        loss_fn = partial(distillation_loss, temperature=temperature, lam=lam)
    return fit(qmodel, X, targets, teacher_logits=teacher_logits, loss_fn=loss_fn, epochs=epochs, lr=lr,
               seed=seed, progress=False, desc="QAT")
