"""Notebook 04's experiments over seeds, and how to tell a difference from noise (§2-4).

Every accuracy that depends on a random initialisation is measured on several distilled
students, one per seed, and returned as a :class:`~distill_lib.distillation.SeedStats`
(accuracies are fractions in ``[0, 1]``, on the test set). The notebook and the tests call the
same functions with the same settings, so a claim printed by the notebook is checked by a test.

:func:`compare` decides whether two such results differ *clearly*: every seed must agree on the
sign of the paired difference (a rule of thumb, not a significance test).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from .._validation import check_int, check_lam, check_temperature
from ..data import DigitsSplit
from ..distillation import SeedStats
from ..student import train_student
from ..training import evaluate
from .fake_quant_mlp import FakeQuantMLP, quantization_aware_training
from .qparams import _check_bits, _check_float_tensor, _check_method, choose_qparams
from .quantizer import quantization_error

__all__ = [
    "MIN_SEEDS_FOR_VERDICT",
    "Comparison",
    "compare",
    "distilled_students",
    "seed_accuracy",
    "weight_only_experiment",
    "ptq_experiment",
    "calibration_experiment",
    "qat_experiment",
]

#: Fewer seeds than this never give a "clear" verdict (two coins agree half the time).
MIN_SEEDS_FOR_VERDICT = 3
SCHEMES = ("per-tensor", "per-channel")


# ------------------------------------------------------------------------------ noise or not


@dataclass(frozen=True)
class Comparison:
    """The paired comparison of two results on the same seeds: ``a - b`` per seed.

    Attributes:
        difference: ``a - b`` for each seed (mean, sample std).
        higher, lower: how many seeds have ``a > b``, and ``a < b`` (ties count in neither).
    """

    difference: SeedStats
    higher: int
    lower: int

    @property
    def n(self) -> int:
        return len(self.difference.values)

    @property
    def verdict(self) -> str:
        """``"higher"`` or ``"lower"`` if *every* seed agrees (and there are at least
        :data:`MIN_SEEDS_FOR_VERDICT`), else ``"within noise"``."""
        if self.n >= MIN_SEEDS_FOR_VERDICT and self.higher == self.n:
            return "higher"
        if self.n >= MIN_SEEDS_FOR_VERDICT and self.lower == self.n:
            return "lower"
        return "within noise"


def compare(a: SeedStats, b: SeedStats) -> Comparison:
    """Compare ``a`` with ``b`` seed by seed (paired): is ``a`` clearly higher, lower, or neither?

    Args:
        a, b: results on the *same* seeds, e.g. per-channel and per-tensor accuracy.

    Returns:
        A :class:`Comparison`; ``.verdict`` is ``"higher"`` when ``a > b`` for every seed,
        ``"lower"`` when ``a < b`` for every seed (at least :data:`MIN_SEEDS_FOR_VERDICT` seeds),
        and ``"within noise"`` otherwise, ties included. With 5 seeds, a difference that is pure
        noise (as likely positive as negative) passes this rule 1 time in 16 (1 in 32 each way).

    Raises:
        TypeError: ``a`` or ``b`` is not a ``SeedStats``.
        ValueError: they were measured on different seeds.

    Example::

        >>> compare(SeedStats((0, 1, 2), (0.9, 0.8, 0.7)), SeedStats((0, 1, 2), (0.5, 0.6, 0.6))).verdict
        'higher'
    """
    if not isinstance(a, SeedStats) or not isinstance(b, SeedStats):
        raise TypeError(f"compare needs two SeedStats, got {type(a).__name__} and {type(b).__name__}")
    difference = a.minus(b)  # checks the seeds
    return Comparison(difference, sum(d > 0 for d in difference.values), sum(d < 0 for d in difference.values))


# ---------------------------------------------------------------------------------- students


def _check_students(students: object) -> dict[int, nn.Module]:
    if not isinstance(students, Mapping):
        raise TypeError(f"students must be a dict {{seed: student}}, got {type(students).__name__}")
    if len(students) < 2:
        raise ValueError(f"students holds {len(students)} student(s); need at least 2 students (a std needs two)")
    for seed, student in students.items():
        check_int("seed", seed, low=0)
        if not isinstance(student, nn.Module):
            raise TypeError(f"students[{seed}] must be an nn.Module, got {type(student).__name__}")
    return dict(students)


def _check_split(split: object) -> DigitsSplit:
    if not isinstance(split, DigitsSplit):
        raise TypeError(f"split must be a DigitsSplit (see distill_lib.data.load_split), got {type(split).__name__}")
    return split


def distilled_students(split: DigitsSplit, teacher_logits: Tensor, seeds: Sequence[int]) -> dict[int, nn.Module]:
    """One distilled student per seed, trained exactly as in notebook 03 (``train_student`` defaults).

    Returns:
        ``{seed: student}``, in the order of ``seeds``.
    """
    split = _check_split(split)
    seeds = [check_int(f"seeds[{i}]", s, low=0, high=2**32 - 1) for i, s in enumerate(seeds)]
    if len(seeds) < 2 or len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds={seeds} must hold at least 2 distinct seeds (a std needs two)")
    return {s: train_student(split.X_train, split.y_train, teacher_logits=teacher_logits, seed=s)[0] for s in seeds}


def seed_accuracy(models: Mapping[int, nn.Module], X: Tensor, targets: Tensor) -> SeedStats:
    """Accuracy in ``[0, 1]`` of each model of ``{seed: model}`` on ``(X, targets)``."""
    models = _check_students(models)
    return SeedStats(tuple(models), tuple(evaluate(m, X, targets) for m in models.values()))


# ------------------------------------------------------------------------------- experiments


def weight_only_experiment(
    students: Mapping[int, nn.Module], split: DigitsSplit, bit_widths: Sequence[int]
) -> dict[tuple[int, str], dict[str, SeedStats]]:
    """Section 2: quantize only the weights (symmetric), per tensor and per output channel.

    Returns:
        ``{(bits, "per-tensor" | "per-channel"): {"accuracy": test accuracy, "mse": the weight
        mean squared error, averaged over the student's Linear layers}}``.
    """
    students, split = _check_students(students), _check_split(split)
    bit_widths = [_check_bits(b, f"bit_widths[{i}]") for i, b in enumerate(bit_widths)]
    for i, b in enumerate(bit_widths):  # the weights are symmetric: 1 bit has no code for -w, 0 and w
        if b < 2:
            raise ValueError(f"bit_widths[{i}]={b} is out of range; allowed: [2, 16] (symmetric weights)")
    seeds = tuple(students)
    out = {}
    for bits in bit_widths:
        for scheme in SCHEMES:
            per_channel = scheme == "per-channel"
            accuracy, mse = [], []
            for student in students.values():
                q = FakeQuantMLP(student, weight_bits=bits, per_channel=per_channel)  # validates bits >= 2
                accuracy.append(evaluate(q, split.X_test, split.y_test))
                errors = [quantization_error(layer.weight.detach(), choose_qparams(
                    layer.weight.detach(), bits, symmetric=True, axis=0 if per_channel else None))["mse"]
                    for layer in q.linears]
                mse.append(sum(errors) / len(errors))
            out[bits, scheme] = {"accuracy": SeedStats(seeds, tuple(accuracy)), "mse": SeedStats(seeds, tuple(mse))}
    return out


def ptq_experiment(
    students: Mapping[int, nn.Module],
    split: DigitsSplit,
    X_cal: Tensor,
    *,
    weight_bits: int = 8,
    activation_bits: int = 8,
    method: str = "minmax",
    percentile: float = 99.99,
) -> SeedStats:
    """Section 3: post-training quantization, calibrated on ``X_cal``; test accuracy per seed."""
    students, split = _check_students(students), _check_split(split)
    _check_method(method, percentile)
    values = [evaluate(FakeQuantMLP(s, weight_bits=weight_bits, activation_bits=activation_bits)
                       .calibrate(X_cal, method=method, percentile=percentile), split.X_test, split.y_test)
              for s in students.values()]
    return SeedStats(tuple(students), tuple(values))


def calibration_experiment(
    students: Mapping[int, nn.Module],
    split: DigitsSplit,
    *,
    sizes: Sequence[int],
    activation_bits: int,
    method: str = "minmax",
    percentile: float = 99.99,
    weight_bits: int = 8,
) -> list[dict[str, SeedStats]]:
    """Section 3: calibrate on random training subsets of each size; what the test set sees.

    The student of seed ``s`` is calibrated on the first ``n`` images of a permutation of the
    training set drawn with seed ``s``, so the subsets of one student are nested (a larger
    set contains the smaller ones) and every method sees the same images.

    Returns:
        One dict per size: ``"error"``, the relative error of the hidden layer's input on the
        test set, :math:`\\lVert \\hat h - h \\rVert^2 / \\lVert h \\rVert^2` (see
        :meth:`FakeQuantMLP.activation_errors`), and ``"accuracy"``, the test accuracy.
    """
    students, split = _check_students(students), _check_split(split)
    activation_bits = _check_bits(activation_bits, "activation_bits")
    _check_method(method, percentile)
    n_train = len(split.X_train)
    sizes = [check_int(f"sizes[{i}]", n, low=1, high=n_train) for i, n in enumerate(sizes)]
    if not sizes:
        raise ValueError("sizes is empty; give at least one calibration set size")
    seeds = tuple(students)
    orders = {s: torch.randperm(n_train, generator=torch.Generator().manual_seed(s)) for s in seeds}
    out = []
    for n in sizes:
        errors, accuracies = [], []
        for seed, student in students.items():
            q = FakeQuantMLP(student, weight_bits=weight_bits, activation_bits=activation_bits)
            q.calibrate(split.X_train[orders[seed][:n]], method=method, percentile=percentile)
            errors.append(q.activation_errors(split.X_test)[-1])  # the last Linear layer's input
            accuracies.append(evaluate(q, split.X_test, split.y_test))
        out.append({"error": SeedStats(seeds, tuple(errors)), "accuracy": SeedStats(seeds, tuple(accuracies))})
    return out


def qat_experiment(
    students: Mapping[int, nn.Module],
    split: DigitsSplit,
    X_cal: Tensor,
    *,
    bits: int,
    teacher_logits: Tensor | None,
    epochs: int = 60,
    lr: float = 1e-2,
    temperature: float = 4.0,
    lam: float = 0.9,
) -> dict[str, SeedStats]:
    """Section 4: weights (per channel) and activations at ``bits``; PTQ, then QAT from there.

    Each student is calibrated on ``X_cal``, evaluated (PTQ), then fine-tuned with
    :func:`quantization_aware_training` on the training set (seeded with the student's seed)
    and evaluated again.

    Returns:
        ``{"ptq": test accuracy before, "qat": test accuracy after}``, paired by seed.
    """
    students, split = _check_students(students), _check_split(split)
    _check_float_tensor("X_cal", X_cal)
    bits = _check_bits(bits)
    epochs = check_int("epochs", epochs, low=1)
    temperature, lam = check_temperature(temperature), check_lam(lam)
    ptq, qat = [], []
    for seed, student in students.items():
        q = FakeQuantMLP(student, weight_bits=bits, activation_bits=bits).calibrate(X_cal)
        ptq.append(evaluate(q, split.X_test, split.y_test))
        quantization_aware_training(q, split.X_train, split.y_train, teacher_logits=teacher_logits, epochs=epochs,
                                    lr=lr, temperature=temperature, lam=lam, seed=seed)
        qat.append(evaluate(q, split.X_test, split.y_test))
    seeds = tuple(students)
    return {"ptq": SeedStats(seeds, tuple(ptq)), "qat": SeedStats(seeds, tuple(qat))}
