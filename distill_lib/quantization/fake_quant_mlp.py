"""A student with fake-quantized weights and activations: calibration, PTQ and QAT (notebook 04, §3-4).

:class:`FakeQuantMLP` wraps an MLP so that every ``Linear`` layer sees
:class:`~distill_lib.quantization.quantizer.FakeQuantizeSTE`-d weights (symmetric, per output
channel or per tensor) and inputs (asymmetric, per tensor, with ranges calibrated on the float
network). Evaluating it is post-training quantization (PTQ); training it with
:func:`quantization_aware_training` is quantization-aware training (QAT), the gradient passing
through the straight-through estimator. Its calibrated 8-bit form is what
:mod:`distill_lib.quantization.int8` runs in integers only.

The notebook shows three unchecked cores, kept here verbatim: :func:`calibrate_inputs` (observe
every layer's input on the float network), :func:`fake_quant_forward` (the forward pass) and
:func:`qat_loop` (the training loop). The public :class:`FakeQuantMLP` and
:func:`quantization_aware_training` validate their inputs, then call them.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._validation import check_eval_set, check_int, check_logits, check_real
from ..losses import make_loss
from ..training import set_seed
from ._checks import MAX_BITS, check_bits, check_float_tensor, check_method
from .qparams import MIN_SCALE, QParams, calibration_range, qparams_from_range, quant_range
from .quantizer import FakeQuantizeSTE, affine_codes

__all__ = ["FakeQuantMLP", "calibrate_inputs", "fake_quant_forward", "qat_loop", "quantization_aware_training"]


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
    for i, layer in enumerate(linears):
        bad = [name for name, p in layer.named_parameters() if not torch.isfinite(p.detach()).all()]
        if bad:
            raise ValueError(f"Linear layer {i} of model has NaN or infinite values in its {bad} "
                             "(did training diverge?); quantize a model with finite weights")
    return linears


# ------------------------------------------------------------------------- the shown cores


@torch.no_grad()
def calibrate_inputs(net, X, bits, method="minmax", percentile=99.99):
    """Run the float network on X; fix an asymmetric grid for every Linear layer's input."""
    input_qparams, h = [], X  # h: (N, F)
    for layer in net:
        if isinstance(layer, nn.Linear):
            low, high = calibration_range(h, method=method, percentile=percentile)  # observe
            input_qparams.append(qparams_from_range(low, high, bits))  # codes [0, 2**bits - 1]
        if not isinstance(layer, nn.Dropout):
            h = layer(h)
    return input_qparams, h  # one QParams per Linear layer; h: the float logits (N, C)


def fake_quant_forward(net, x, input_qparams, weight_qparams):
    """The float network, every Linear layer's input and weight fake-quantized (None: float)."""
    i = 0
    for layer in net:
        if isinstance(layer, nn.Linear):
            if input_qparams is not None:
                x = FakeQuantizeSTE.apply(x, input_qparams[i])  # (N, in)
            weight = layer.weight  # (out, in)
            if weight_qparams is not None:
                weight = FakeQuantizeSTE.apply(weight, weight_qparams[i])
            x = F.linear(x, weight, layer.bias)  # (N, out), the bias stays float
            i += 1
        else:
            x = layer(x)  # ReLU, Dropout
    return x


def qat_loop(qmodel, loss_fn, epochs, lr):
    """Full-batch Adam through the fake quantizers: the float "shadow" weights learn."""
    optimizer = torch.optim.Adam(qmodel.parameters(), lr=lr)
    losses = []
    qmodel.train()
    for _ in range(epochs):
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(qmodel)  # forward through fake_quant_forward, then the loss
        loss.backward()  # through FakeQuantizeSTE.backward: 1 inside the range, 0 where clipped
        optimizer.step()  # the float weights move; the next forward re-quantizes them
        losses.append(loss.item())
    qmodel.eval()
    return losses


# ------------------------------------------------------------------------------ the module


class FakeQuantMLP(nn.Module):
    """An MLP whose Linear layers see fake-quantized weights and (optionally) inputs.

    Weights are quantized symmetrically from their current values at every forward pass
    (per output channel, or per tensor), so the same module serves post-training quantization
    (PTQ: just evaluate it) and quantization-aware training (QAT: train it with
    :func:`quantization_aware_training`; the float weights are the trainable "shadow" weights and
    the gradient flows through the straight-through estimator). The input of every Linear
    layer is quantized asymmetrically, per tensor, with a range observed by :meth:`calibrate`
    on the *float* network (as PyTorch's eager post-training quantization does). Biases and
    the output logits stay in float32.

    Args:
        model: an ``nn.Sequential`` of ``Linear``/``ReLU``/``Dropout`` with finite weights (e.g.
            the distilled student); it is deep-copied, never modified.
        weight_bits: 2..16 (weights are symmetric, which needs 2 bits), or ``None`` for float weights.
        activation_bits: 1..16, or ``None`` for float activations.
        per_channel: one scale per output channel (``True``) or one per weight tensor.

    Raises:
        TypeError: ``model`` is not such an ``nn.Sequential``; ``per_channel`` not a bool.
        ValueError: bits out of range; non-finite weights.

    Example::

        >>> qmodel = FakeQuantMLP(student, weight_bits=8, activation_bits=8).calibrate(split.X_train[:256])
        >>> evaluate(qmodel, split.X_val, split.y_val)
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
            check_bits(weight_bits, "weight_bits")
            if weight_bits < 2:
                raise ValueError(f"weight_bits={weight_bits} is out of range; allowed: [2, {MAX_BITS}] (the weights "
                                 "are quantized symmetrically, which needs codes for -w, 0 and w)")
        if activation_bits is not None:
            check_bits(activation_bits, "activation_bits")
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
        absmax = weight.abs().amax(dim=1) if self.per_channel else weight.abs().amax()  # (out,) or ()
        scale = (absmax.to(torch.float64) / quant_max).clamp(min=MIN_SCALE).to(torch.float32)
        zero_point = torch.zeros_like(scale, dtype=torch.int32)
        return QParams(scale, zero_point, quant_min, quant_max, 0 if self.per_channel else None)

    def calibrate(self, X: Tensor, *, method: str = "minmax", percentile: float = 99.99) -> FakeQuantMLP:
        """Observe every Linear layer's input on ``X`` (float network) and fix its qparams.

        Validates, then calls :func:`calibrate_inputs`. Without ``activation_bits`` the grids are
        8-bit (used only by :meth:`activation_errors`).

        Args:
            X: a calibration set, ``(N, F)`` float32, e.g. a few hundred training images.
            method, percentile: see :func:`~distill_lib.quantization.qparams.calibration_range`.

        Returns:
            ``self``, so that ``FakeQuantMLP(...).calibrate(X)`` reads as one step.

        Raises:
            TypeError, ValueError: ``X`` not a finite float32 ``(N, F)`` tensor; a bad method or percentile.
        """
        X = check_float_tensor("X", X)
        if X.ndim != 2 or X.shape[1] != self.linears[0].in_features:
            raise ValueError(f"X must have shape (N, {self.linears[0].in_features}), got {tuple(X.shape)}")
        check_method(method, percentile)
        bits = self.activation_bits if self.activation_bits is not None else 8
        self.input_qparams, logits = calibrate_inputs(self.net, X.detach(), bits, method, percentile)
        low, high = calibration_range(logits, method=method, percentile=percentile)
        self.output_range = (low.item(), high.item())
        return self

    def _weight_qparams_list(self) -> list[QParams] | None:
        return None if self.weight_bits is None else [self.weight_qparams(layer) for layer in self.linears]

    def forward(self, x: Tensor) -> Tensor:
        if self.activation_bits is not None and self.input_qparams is None:
            raise RuntimeError("activation_bits is set but the ranges are unknown: call calibrate(X) first")
        input_qparams = self.input_qparams if self.activation_bits is not None else None
        return fake_quant_forward(self.net, x, input_qparams, self._weight_qparams_list())

    @torch.no_grad()
    def activation_errors(self, X: Tensor) -> list[float]:
        """Relative error ``||fq(h) - h||^2 / ||h||^2`` of each Linear layer's input ``h`` on ``X``.

        ``h`` is taken from the float network (as in :meth:`calibrate`), so this measures how
        well the calibrated grids fit *other* data, e.g. the validation set.
        """
        if self.input_qparams is None:
            raise RuntimeError("the activation ranges are unknown: call calibrate(X) first")
        X = check_float_tensor("X", X)
        errors, h, i = [], X, 0
        for layer in self.net:
            if isinstance(layer, nn.Linear):
                error = (FakeQuantizeSTE.apply(h, self.input_qparams[i]) - h).pow(2).sum()
                errors.append((error / h.pow(2).sum().clamp(min=1e-30)).item())
                i += 1
            if not isinstance(layer, nn.Dropout):
                h = layer(h)
        return errors

    @torch.no_grad()
    def input_codes(self, x: Tensor) -> list[Tensor]:
        """The integer codes (int32) of every Linear layer's input, as this network computes them.

        What an integer implementation of the same model must reproduce (see
        :class:`~distill_lib.quantization.int8.Int8MLP`).
        """
        if self.activation_bits is None or self.input_qparams is None:
            raise ValueError("input codes need quantized, calibrated activations (activation_bits and calibrate(X))")
        x = check_float_tensor("x", x)
        weight_qparams = self._weight_qparams_list()
        codes, i = [], 0
        for layer in self.net:
            if isinstance(layer, nn.Linear):
                codes.append(affine_codes(x, self.input_qparams[i])[1].to(torch.int32))
                x = FakeQuantizeSTE.apply(x, self.input_qparams[i])
                weight = layer.weight if weight_qparams is None else FakeQuantizeSTE.apply(layer.weight,
                                                                                         weight_qparams[i])
                x = F.linear(x, weight, layer.bias)
                i += 1
            else:
                x = layer(x)
        return codes


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
) -> list[float]:
    """Fine-tune ``qmodel`` through its fake quantizers (QAT with the straight-through estimator).

    Validates everything, then runs :func:`qat_loop`: full-batch Adam on the distillation loss of
    :func:`~distill_lib.losses.make_loss` (the student's ``T`` and ``lam``; cross-entropy alone if
    ``teacher_logits`` is ``None``). The float "shadow" weights are updated; every forward pass
    re-quantizes them; the activation grids stay as calibrated.

    Args:
        qmodel: a :class:`FakeQuantMLP` (calibrated if it quantizes activations); trained in place.
        X, targets, teacher_logits: the training data ``(N, F)``, ``(N,)``, ``(N, C)``.
        epochs, lr: Adam steps (>= 1) and learning rate (finite, > 0).
        temperature, lam: the distillation loss's ``T`` and ``lam`` (checked even without
            ``teacher_logits``, where they are unused: a typo is a bug).
        seed: seeds the run (dropout, if any).

    Returns:
        The loss of every step.

    Raises:
        TypeError: ``qmodel`` is not a :class:`FakeQuantMLP`; bad data types.
        ValueError: bad ``temperature``/``lam``/``epochs``/``lr``/data (nothing is changed).
        RuntimeError: ``qmodel`` quantizes activations but is not calibrated.

    Example::

        >>> q = FakeQuantMLP(student, weight_bits=3, activation_bits=3).calibrate(X_cal)
        >>> losses = quantization_aware_training(q, split.X_train, split.y_train, teacher_logits=v)
    """
    if not isinstance(qmodel, FakeQuantMLP):
        raise TypeError(f"qmodel must be a FakeQuantMLP, got {type(qmodel).__name__}")
    X, targets = check_eval_set((X, targets), name="(X, targets)", num_classes=qmodel.linears[-1].out_features)
    if X.shape[1] != qmodel.linears[0].in_features:
        raise ValueError(f"X must have shape (N, {qmodel.linears[0].in_features}), got {tuple(X.shape)}")
    if teacher_logits is not None:
        check_logits("teacher_logits", teacher_logits)
        if teacher_logits.shape != (len(X), qmodel.linears[-1].out_features):
            raise ValueError(f"teacher_logits must have shape ({len(X)}, {qmodel.linears[-1].out_features}), "
                             f"got {tuple(teacher_logits.shape)}")
    epochs = check_int("epochs", epochs, low=1)
    lr = check_real("lr", lr)
    if not 0 < lr < float("inf"):
        raise ValueError(f"lr={lr} is out of range; allowed: finite and > 0")
    seed = check_int("seed", seed, low=0, high=2**32 - 1)
    loss = make_loss(temperature, lam if teacher_logits is not None else 0.0)  # checks T and lam
    make_loss(temperature, lam)  # lam is checked even when it is unused
    if qmodel.activation_bits is not None and qmodel.input_qparams is None:
        raise RuntimeError("qmodel quantizes activations but is not calibrated: call qmodel.calibrate(X) first")
    extras = {"targets": targets} if teacher_logits is None else {"targets": targets, "teacher_logits": teacher_logits}

    def loss_fn(model: nn.Module) -> Tensor:
        return loss(model(X), **extras)

    set_seed(seed)
    return qat_loop(qmodel, loss_fn, epochs, lr)
