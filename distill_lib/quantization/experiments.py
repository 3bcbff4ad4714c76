"""Notebook 04's experiments over seeds (§2-5): students, PTQ and QAT models, their per-image results.

Every accuracy that depends on a random initialisation is measured on several distilled
students, one per seed, and returned as a :class:`~distill_lib.stats.Runs` (per-image
correctness per seed, accuracy in %), so that :func:`distill_lib.stats.compare` can count both
the seed noise and the evaluation set's sampling noise. The validation set chooses (per-channel
or per-tensor, the calibration method and size); the test set reports once, at the end of the
notebook. The notebook and the tests call the same functions with the same settings.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence

import torch
from torch import Tensor, nn

from .._validation import check_eval_set, check_int, check_recipe
from ..data import DigitsSplit
from ..stats import Runs, compare
from ..student import train_student
from ..training import predict_logits, runs_of
from .fake_quant_mlp import FakeQuantMLP, quantization_aware_training
from ._checks import check_bits, check_method
from .qparams import choose_qparams
from .quantizer import quantization_error

__all__ = [
    "SCHEMES",
    "CALIBRATION_CHOICES",
    "distilled_students",
    "evaluate_runs",
    "calibration_set",
    "weight_only_experiment",
    "ptq_models",
    "calibration_experiment",
    "choose_calibration",
    "qat_models",
]

#: Weight quantization schemes of section 2.
SCHEMES = ("per-tensor", "per-channel")
#: The calibration methods the validation set chooses from: name -> (method, percentile).
CALIBRATION_CHOICES: dict[str, tuple[str, float]] = {
    "min/max": ("minmax", 100.0),
    "percentile 99.99": ("percentile", 99.99),
    "percentile 99.9": ("percentile", 99.9),
}


def _check_models(models: object, name: str = "students") -> dict[int, nn.Module]:
    if not isinstance(models, Mapping):
        raise TypeError(f"{name} must be a dict {{seed: model}}, got {type(models).__name__}")
    if len(models) < 2:
        raise ValueError(f"{name} holds {len(models)} model(s); need at least 2 seeds (an interval needs two)")
    for seed, model in models.items():
        check_int(f"{name} seed", seed, low=0, high=2**32 - 1)
        if not isinstance(model, nn.Module):
            raise TypeError(f"{name}[{seed}] must be an nn.Module, got {type(model).__name__}")
    return dict(models)


def _check_split(split: object) -> DigitsSplit:
    if not isinstance(split, DigitsSplit):
        raise TypeError(f"split must be a DigitsSplit (see distill_lib.data.load_split), got {type(split).__name__}")
    return split


def distilled_students(
    split: DigitsSplit, teacher_logits: Tensor, seeds: Sequence[int], *, temperature: float = 4.0, lam: float = 0.9
) -> dict[int, nn.Module]:
    """One distilled student per seed, trained as in notebook 03 (``train_student``, its recipe).

    Args:
        split: the data split (trains on ``split.X_train, split.y_train``).
        teacher_logits: the teacher's logits on ``split.X_train``.
        seeds: distinct integer seeds, at least 2.
        temperature, lam: the distillation loss's ``T`` and ``λ`` (notebook 03's 4.0 and 0.9 by default).

    Returns:
        ``{seed: student}``, in the order of ``seeds``.

    Raises:
        TypeError, ValueError: a bad split, seeds that are not distinct integers in ``[0, 2**32)``
            (at least 2).
    """
    split = _check_split(split)
    seeds = [check_int(f"seeds[{i}]", s, low=0, high=2**32 - 1) for i, s in enumerate(seeds)]
    if len(seeds) < 2 or len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds={seeds} must hold at least 2 distinct seeds (an interval needs two)")
    check_recipe(temperature, lam, None)
    return {s: train_student(split.X_train, split.y_train, teacher_logits=teacher_logits, temperature=temperature,
                             lam=lam, seed=s)[0] for s in seeds}


def evaluate_runs(models: Mapping[int, nn.Module], eval_set: tuple[Tensor, Tensor]) -> Runs:
    """Per-image correctness of each model of ``{seed: model}`` on ``eval_set = (X, targets)``.

    Example::

        >>> print(evaluate_runs(students, (split.X_val, split.y_val)))   # 97.9 % [97.4, 98.4]
    """
    models = _check_models(models, "models")
    return runs_of(list(models.values()), eval_set, tuple(models))


def calibration_set(X_train: Tensor, n: int, seed: int) -> Tensor:
    """The first ``n`` images of a permutation of ``X_train`` drawn with ``seed``.

    A student's calibration sets are nested (a larger one holds the smaller ones), and every
    method sees the same images. Training images only: the validation and test sets are never
    used to calibrate.
    """
    if not isinstance(X_train, Tensor) or X_train.ndim != 2:
        raise TypeError(f"X_train must be a 2-d tensor of training images, got {X_train!r:.60}")
    n = check_int("n", n, low=1, high=len(X_train))
    seed = check_int("seed", seed, low=0, high=2**32 - 1)
    order = torch.randperm(len(X_train), generator=torch.Generator().manual_seed(seed))
    return X_train[order[:n]]


def weight_only_experiment(
    students: Mapping[int, nn.Module], eval_set: tuple[Tensor, Tensor], bit_widths: Sequence[int]
) -> dict[tuple[int, str], dict]:
    """Section 2: quantize only the weights (symmetric), per tensor and per output channel.

    Returns:
        ``{(bits, "per-tensor" | "per-channel"): {"accuracy": Runs on eval_set, "mse": the weight
        mean squared error, averaged over layers and students}}``.
    """
    students = _check_models(students)
    check_eval_set(eval_set)
    bit_widths = [check_bits(b, f"bit_widths[{i}]") for i, b in enumerate(bit_widths)]
    for i, b in enumerate(bit_widths):  # the weights are symmetric: 1 bit has no code for -w, 0 and w
        if b < 2:
            raise ValueError(f"bit_widths[{i}]={b} is out of range; allowed: [2, 16] (symmetric weights)")
    out = {}
    for bits in bit_widths:
        for scheme in SCHEMES:
            per_channel = scheme == "per-channel"
            models = {s: FakeQuantMLP(m, weight_bits=bits, per_channel=per_channel) for s, m in students.items()}
            errors = [quantization_error(layer.weight.detach(), choose_qparams(
                layer.weight.detach(), bits, symmetric=True, axis=0 if per_channel else None))["mse"]
                for q in models.values() for layer in q.linears]
            out[bits, scheme] = {"accuracy": evaluate_runs(models, eval_set), "mse": sum(errors) / len(errors)}
    return out


def ptq_models(
    students: Mapping[int, nn.Module],
    X_train: Tensor,
    *,
    n_calibration: int,
    bits: int,
    method: str = "minmax",
    percentile: float = 99.99,
    weight_bits: int | None = None,
) -> dict[int, FakeQuantMLP]:
    """Post-training quantization: each student, weights per channel and activations at ``bits``.

    Args:
        students: ``{seed: student}`` (at least 2); never modified (each is deep-copied).
        X_train: the pool of training images; student ``s`` is calibrated on
            :func:`calibration_set` ``(X_train, n_calibration, s)``.
        n_calibration: calibration images, in ``[1, len(X_train)]``.
        bits: activation bits (1..16); ``weight_bits`` defaults to ``bits`` (W4A4 etc.).
        method, percentile: see :func:`~distill_lib.quantization.qparams.calibration_range`.

    Returns:
        ``{seed: FakeQuantMLP}``, calibrated.

    Example::

        >>> q8 = ptq_models(students, split.X_train, n_calibration=256, bits=8)
        >>> print(evaluate_runs(q8, (split.X_val, split.y_val)))
    """
    students = _check_models(students)
    bits = check_bits(bits)
    check_method(method, percentile)
    weight_bits = bits if weight_bits is None else weight_bits
    return {s: FakeQuantMLP(m, weight_bits=weight_bits, activation_bits=bits)
            .calibrate(calibration_set(X_train, n_calibration, s), method=method, percentile=percentile)
            for s, m in students.items()}


def calibration_experiment(
    students: Mapping[int, nn.Module],
    X_train: Tensor,
    eval_set: tuple[Tensor, Tensor],
    *,
    sizes: Sequence[int],
    bits: int,
    choices: Sequence[str] = tuple(CALIBRATION_CHOICES),
    weight_bits: int | None = None,
) -> dict[tuple[str, int], dict]:
    """Section 3: calibrate on training subsets of each size with each method; score on ``eval_set``.

    Args:
        students: ``{seed: student}``.
        X_train: the pool the calibration sets are drawn from (training images).
        eval_set: ``(X, targets)``, the validation set (it chooses; the test set never does).
        sizes: calibration set sizes, each in ``[1, len(X_train)]``.
        bits: activation bits; ``weight_bits``: weight bits (default ``bits``: the model that is
            deployed, W8A8, W4A4, ...).
        choices: names in :data:`CALIBRATION_CHOICES`.

    Returns:
        ``{(choice, n): {"accuracy": Runs on eval_set, "error": mean over students of the last
        Linear layer's input error on eval_set, ||fq(h) - h||^2 / ||h||^2}}``.
    """
    students = _check_models(students)
    X, _ = check_eval_set(eval_set)
    bits = check_bits(bits)
    sizes = [check_int(f"sizes[{i}]", n, low=1, high=len(X_train)) for i, n in enumerate(sizes)]
    if not sizes:
        raise ValueError("sizes is empty; give at least one calibration set size")
    unknown = [c for c in choices if c not in CALIBRATION_CHOICES]
    if unknown or not choices:
        raise ValueError(f"choices={list(choices)!r}: each must be one of {list(CALIBRATION_CHOICES)}")
    out = {}
    for choice in choices:
        method, percentile = CALIBRATION_CHOICES[choice]
        for n in sizes:
            models = ptq_models(students, X_train, n_calibration=n, bits=bits, method=method, percentile=percentile,
                                weight_bits=weight_bits)
            errors = [q.activation_errors(X)[-1] for q in models.values()]
            out[choice, n] = {"accuracy": evaluate_runs(models, eval_set), "error": sum(errors) / len(errors)}
    return out


def choose_calibration(
    results: Mapping[tuple[str, int], dict], *, default: tuple[str, int] | None = None
) -> tuple[str, int]:
    """The validation set's choice: the highest mean accuracy; ties go to the lower activation
    error, then to the smaller calibration set.

    With a ``default``, the best setting replaces it only when it beats it **beyond noise**
    (:func:`~distill_lib.stats.compare`, paired by seed and image): picking the best of many
    settings that tie within noise is a tie-break, not evidence.

    Args:
        results: from :func:`calibration_experiment` on the validation set.
        default: a key of ``results`` to keep unless beaten beyond noise, or ``None``.

    Returns:
        ``(choice, n)``, a key of ``results``.

    Raises:
        ValueError: ``results`` empty, or ``default`` not one of its keys.

    Example::

        >>> choose_calibration(rows, default=("min/max", 256))
    """
    if not isinstance(results, Mapping) or not results:
        raise ValueError("results must be a non-empty dict from calibration_experiment")
    if default is not None and default not in results:
        raise ValueError(f"default={default!r} is not one of the settings tried: {sorted(results)}")
    best = min(results, key=lambda k: (-round(results[k]["accuracy"].mean, 9), results[k]["error"], k[1]))
    if default is None or best == default:
        return best
    d = compare(results[best]["accuracy"], results[default]["accuracy"])
    return best if d.beyond_noise and d.mean > 0 else default


def qat_models(
    models: Mapping[int, FakeQuantMLP],
    split: DigitsSplit,
    *,
    teacher_logits: Tensor | None,
    epochs: int = 60,
    lr: float = 1e-2,
    temperature: float = 4.0,
    lam: float = 0.9,
) -> dict[int, FakeQuantMLP]:
    """Section 4: quantization-aware training of a copy of each PTQ model, on the training set.

    Each copy keeps its calibrated activation grids and is fine-tuned with
    :func:`quantization_aware_training` (seeded with its seed); ``models`` are left unchanged.

    Args:
        models: ``{seed: FakeQuantMLP}``, e.g. from :func:`ptq_models`.
        split: the data split; QAT trains on ``split.X_train, split.y_train``.
        teacher_logits: the teacher's logits on ``split.X_train`` (the distillation loss), or
            ``None`` (cross-entropy).
        epochs, lr, temperature, lam: see :func:`quantization_aware_training`.

    Returns:
        ``{seed: FakeQuantMLP}``, the trained copies.

    Raises:
        TypeError, ValueError: a model that is not a ``FakeQuantMLP``; bad training settings
            (checked before the first copy is trained).

    Example::

        >>> qat = qat_models(ptq_models(students, split.X_train, n_calibration=16, bits=3), split,
        ...                  teacher_logits=teacher_logits)
    """
    models = _check_models(models, "models")
    split = _check_split(split)
    for seed, q in models.items():
        if not isinstance(q, FakeQuantMLP):
            raise TypeError(f"models[{seed}] must be a FakeQuantMLP, got {type(q).__name__}")
    out = {}
    for seed, q in models.items():
        trained = copy.deepcopy(q)
        quantization_aware_training(trained, split.X_train, split.y_train, teacher_logits=teacher_logits,
                                    epochs=epochs, lr=lr, temperature=temperature, lam=lam, seed=seed)
        out[seed] = trained
    return out
