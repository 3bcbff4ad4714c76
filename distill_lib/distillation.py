r"""Training a student: from scratch on labels, or distilled from the teacher (notebook 03).

The default student is an MLP 64-128-10 (9,610 parameters, 8.8x fewer than the teacher).
Notebooks 04 and 05 compress the student that :func:`train_student` distils.

Besides :func:`train_student`, this module holds notebook 03's experiments, each one call
that trains several students and returns numbers (accuracies are fractions in ``[0, 1]``):

* :func:`accuracy_over_seeds`: one student per seed, mean ± sample standard deviation;
* :func:`full_label_experiment`, :func:`few_label_experiment`: scratch against distilled;
* :func:`omitted_class_experiment`: Hinton et al.'s omitted digit and its bias correction,
  chosen on the validation set by :func:`choose_bias`;
* :func:`temperature_lam_grid`: validation accuracy over a ``T x λ`` grid;
* :func:`soft_term_gradient_norms`: why the soft term is multiplied by ``T**2``;
* :func:`train_and_score`: the plain function behind the notebook's widget.

A **transfer set** is what the student is distilled on: inputs, the teacher's logits on
them, and labels where we have them. Unlabelled rows carry the target :data:`UNLABELLED`
(``-100``, PyTorch's default ``ignore_index``); :func:`transfer_set_loss` applies the
cross-entropy to the labelled rows only and the soft-target term to every row.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import NamedTuple

import torch
from torch import Tensor, nn

from ._validation import check_int, check_lam, check_logits, check_same_shape, check_temperature
from .data import NUM_CLASSES, DigitsSplit, limited_labels, omit_class
from .losses import cross_entropy_loss, distillation_loss, kd_kl_loss
from .models import mlp
from .training import History, confusion_matrix, evaluate, fit, predict_logits, set_seed

__all__ = [
    "STUDENT_SIZES",
    "STUDENT_RECIPE",
    "UNLABELLED",
    "WIDGET_EPOCHS",
    "DEFAULT_BIASES",
    "train_student",
    "transfer_set_loss",
    "TransferSet",
    "make_transfer_set",
    "SeedStats",
    "accuracy_over_seeds",
    "full_label_experiment",
    "few_label_experiment",
    "choose_bias",
    "OmittedClassArm",
    "omitted_class_experiment",
    "temperature_lam_grid",
    "GradientNorms",
    "soft_term_gradient_norms",
    "Scored",
    "train_and_score",
]

#: The workbook's student: 64 inputs, one hidden layer of 128 ReLU units, 10 logits.
STUDENT_SIZES: list[int] = [64, 128, 10]
#: Full-batch Adam settings shared by every student in notebooks 01-05.
STUDENT_RECIPE: dict = {"epochs": 300, "lr": 1e-2, "weight_decay": 0.0}
#: The target of an unlabelled row in a transfer set (PyTorch's ``ignore_index`` default).
UNLABELLED: int = -100
#: Epochs of the widget's quick student in notebook 03 (a third of the recipe, to stay interactive).
WIDGET_EPOCHS: int = 100
#: Candidate logit offsets for the omitted-class bias correction (step 0.05).
DEFAULT_BIASES: Tensor = torch.linspace(0.0, 20.0, 401)


# ---------------------------------------------------------------------------- the loss


def _check_transfer_targets(targets: object, num_examples: int, num_classes: int) -> Tensor:
    """Class indices in ``[0, C)`` or :data:`UNLABELLED`, shape ``(N,)``."""
    if not isinstance(targets, Tensor):
        raise TypeError(f"targets must be a torch.Tensor of class indices, got {type(targets).__name__}")
    if targets.dtype not in (torch.int64, torch.int32, torch.int16, torch.int8):
        raise TypeError(f"targets must be an integer tensor of class indices, got dtype={targets.dtype}")
    if targets.shape != (num_examples,):
        raise ValueError(f"targets must have shape ({num_examples},) to match the logits, got {tuple(targets.shape)}")
    bad = targets[(targets != UNLABELLED) & ((targets < 0) | (targets >= num_classes))]
    if len(bad):
        raise ValueError(
            f"targets contain class index {int(bad[0])}; allowed: [0, {num_classes - 1}] "
            f"or UNLABELLED={UNLABELLED} for a row without a label"
        )
    return targets


def transfer_set_loss(
    student_logits: Tensor,
    teacher_logits: Tensor,
    targets: Tensor,
    temperature: float,
    lam: float,
) -> Tensor:
    r"""The distillation loss on a partly labelled transfer set.

    .. math::

        (1 - \lambda)\, \frac{1}{|L|} \sum_{n \in L} \mathrm{CE}(z_n, y_n)
        \;+\; \lambda\, T^2\, \frac{1}{N} \sum_{n=1}^{N} \mathrm{KL}\big(p^T_n \,\|\, q^T_n\big)

    where ``L`` is the set of labelled rows (``targets != UNLABELLED``): the
    cross-entropy is averaged over the labelled rows, the soft-target term
    (:func:`~distill_lib.losses.kd_kl_loss`) over all ``N`` rows. When every row
    is labelled it *is* :func:`~distill_lib.losses.distillation_loss`.

    Args:
        student_logits: the student's logits ``z`` (not probabilities).
        teacher_logits: the teacher's logits ``v`` at temperature 1 (detached inside).
        targets: class indices, or :data:`UNLABELLED` (``-100``) for a row without a label.
        temperature: ``T`` > 0 for the soft term.
        lam: ``λ`` in ``[0, 1]``; below 1 at least one row must be labelled.

    Shape:
        student_logits, teacher_logits: ``(N, C)``, exactly equal; targets ``(N,)``; output a scalar.

    Raises:
        TypeError, ValueError: as :func:`~distill_lib.losses.distillation_loss`; also a
        ``ValueError`` when ``lam < 1`` and no row is labelled (the CE would be 0/0).

    Example::

        >>> z, v = torch.zeros(3, 10), torch.randn(3, 10)
        >>> transfer_set_loss(z, v, torch.tensor([4, UNLABELLED, UNLABELLED]), 4.0, 0.9)
    """
    t = check_temperature(temperature)
    lam = check_lam(lam)
    check_logits("student_logits", student_logits)
    check_logits("teacher_logits", teacher_logits)
    check_same_shape("student_logits", student_logits, "teacher_logits", teacher_logits)
    _check_transfer_targets(targets, *student_logits.shape)
    labelled = targets != UNLABELLED  # (N,)
    if bool(labelled.all()):
        return distillation_loss(student_logits, teacher_logits, targets, t, lam)
    kd = kd_kl_loss(student_logits, teacher_logits, t)
    if lam == 1.0:
        return kd
    if not bool(labelled.any()):
        raise ValueError(f"lam={lam} < 1 needs at least one labelled row, but every target is UNLABELLED")
    ce = cross_entropy_loss(student_logits[labelled], targets[labelled].long())  # mean over labelled rows
    return (1.0 - lam) * ce + lam * kd


# ---------------------------------------------------------------------------- one student


def train_student(
    X: Tensor,
    targets: Tensor,
    *,
    teacher_logits: Tensor | None = None,
    temperature: float = 4.0,
    lam: float = 0.9,
    sizes: list[int] | None = None,
    seed: int = 0,
    epochs: int | None = None,
    progress: bool | None = False,
) -> tuple[nn.Module, History]:
    """Train a fresh student, distilled if ``teacher_logits`` is given, else on labels only.

    Args:
        X: training inputs ``(N, 64)``.
        targets: class indices ``(N,)``. When distilling, a row may be :data:`UNLABELLED`:
            it then contributes to the soft term only (see :func:`transfer_set_loss`).
        teacher_logits: the teacher's logits on ``X``, ``(N, 10)``; ``None`` trains from scratch.
        temperature, lam: the distillation loss's ``T`` and ``λ`` (ignored from scratch).
        sizes: layer widths (default :data:`STUDENT_SIZES`).
        seed: seeds the initialisation, so a seed gives the same student every time.
        epochs: full-batch Adam steps (default ``STUDENT_RECIPE["epochs"]``).
        progress: show a progress bar.

    Returns:
        ``(student, history)``, the student in eval mode.

    Raises:
        ValueError: bad ``temperature``/``lam``/``epochs``; an :data:`UNLABELLED` target
            without ``teacher_logits`` (train from scratch on the labelled rows only).

    Example::

        >>> v = predict_logits(teacher, split.X_train)
        >>> student, _ = train_student(split.X_train, split.y_train, teacher_logits=v, seed=0)
    """
    temperature = check_temperature(temperature)
    lam = check_lam(lam)
    epochs = check_int("epochs", epochs, low=1) if epochs is not None else STUDENT_RECIPE["epochs"]
    partly_labelled = isinstance(targets, Tensor) and bool((targets == UNLABELLED).any())
    if teacher_logits is None:
        if partly_labelled:
            raise ValueError(
                f"targets contain UNLABELLED={UNLABELLED} rows but no teacher_logits were given; "
                "a student trained from scratch needs a label on every row (pass only the labelled rows)"
            )
        loss_fn, extras = cross_entropy_loss, {}
    else:
        loss = transfer_set_loss if partly_labelled else distillation_loss
        loss_fn = partial(loss, temperature=temperature, lam=lam)
        extras = {"teacher_logits": teacher_logits}
    set_seed(seed)
    student = mlp(sizes if sizes is not None else STUDENT_SIZES)
    history = fit(
        student, X, targets, loss_fn=loss_fn, epochs=epochs,
        lr=STUDENT_RECIPE["lr"], weight_decay=STUDENT_RECIPE["weight_decay"], seed=seed,
        progress=progress, desc="student", **extras,
    )
    return student, history


# ---------------------------------------------------------------------------- transfer sets


class TransferSet(NamedTuple):
    """What a student is distilled on: inputs, targets (or :data:`UNLABELLED`), teacher logits."""

    X: Tensor  # (N, 64)
    targets: Tensor  # (N,) class index or UNLABELLED
    teacher_logits: Tensor  # (N, 10)

    @property
    def num_labelled(self) -> int:
        """Rows that carry a label."""
        return int((self.targets != UNLABELLED).sum())


def make_transfer_set(
    X: Tensor, y: Tensor, teacher: nn.Module, *, per_class: int | None = None, omit_digit: int | None = None
) -> TransferSet:
    """Build a transfer set from labelled data and the teacher.

    Args:
        X: inputs ``(N, 64)``; y: their class indices ``(N,)``.
        teacher: the model whose logits become the soft targets.
        per_class: keep the labels of only this many images per class
            (:func:`~distill_lib.data.limited_labels`); the other rows stay in the set
            with the target :data:`UNLABELLED`. ``None`` keeps every label.
        omit_digit: drop every image of this digit first
            (:func:`~distill_lib.data.omit_class`). ``None`` keeps all digits.

    Returns:
        A :class:`TransferSet`; with ``per_class`` the labelled rows come first.

    Example::

        >>> ts = make_transfer_set(split.X_train, split.y_train, teacher, per_class=10)
        >>> ts.num_labelled, len(ts.X)
        (100, 1079)
    """
    if per_class is None:
        if omit_digit is not None:
            X, y = omit_class(X, y, omit_digit)
        return TransferSet(X, y, predict_logits(teacher, X))
    X_lab, y_lab, X_unl, y_unl = limited_labels(X, y, per_class)
    if omit_digit is not None:
        X_lab, y_lab = omit_class(X_lab, y_lab, omit_digit)
        X_unl, y_unl = omit_class(X_unl, y_unl, omit_digit)
    X = torch.cat([X_lab, X_unl])  # (N, 64)
    y = torch.cat([y_lab, torch.full_like(y_unl, UNLABELLED)])  # (N,)
    return TransferSet(X, y, predict_logits(teacher, X))


# ---------------------------------------------------------------------------- several seeds


@dataclass(frozen=True)
class SeedStats:
    """One number per seed, with its mean and *sample* standard deviation (``n - 1``).

    ``str()`` prints accuracies as percentages, e.g. ``97.9 ± 0.3 %``.
    """

    seeds: tuple[int, ...]
    values: tuple[float, ...]

    def __post_init__(self) -> None:
        if len(self.values) != len(self.seeds):
            raise ValueError(f"{len(self.values)} values for {len(self.seeds)} seeds; need one value per seed")
        if len(self.values) < 2:
            raise ValueError(f"a standard deviation needs at least 2 seeds, got {len(self.values)}")
        if not all(math.isfinite(v) for v in self.values):
            raise ValueError(f"values must be finite, got {self.values}")

    @property
    def mean(self) -> float:
        return statistics.fmean(self.values)

    @property
    def std(self) -> float:
        return statistics.stdev(self.values)

    def minus(self, other: SeedStats) -> SeedStats:
        """Per-seed (paired) differences ``self - other``; both must use the same seeds."""
        if self.seeds != other.seeds:
            raise ValueError(f"paired differences need the same seeds, got {self.seeds} and {other.seeds}")
        return SeedStats(self.seeds, tuple(a - b for a, b in zip(self.values, other.values)))

    def __str__(self) -> str:
        return f"{100 * self.mean:.1f} ± {100 * self.std:.1f} %"


def _check_recipe(temperature: object, lam: object, epochs: object) -> None:
    """Check the arguments every experiment passes on to :func:`train_student`, before any training."""
    check_temperature(temperature)
    check_lam(lam)
    if epochs is not None:
        check_int("epochs", epochs, low=1)


def _check_seeds(seeds: object) -> tuple[int, ...]:
    if isinstance(seeds, (str, bytes)) or not isinstance(seeds, Sequence):
        raise TypeError(f"seeds must be a sequence of integers, got {type(seeds).__name__}")
    out = tuple(check_int(f"seeds[{i}]", s, low=0, high=2**32 - 1) for i, s in enumerate(seeds))
    if len(out) < 2 or len(set(out)) != len(out):
        raise ValueError(f"seeds={list(out)} must hold at least 2 distinct seeds (a std needs two)")
    return out


def accuracy_over_seeds(
    X: Tensor,
    targets: Tensor,
    X_eval: Tensor,
    y_eval: Tensor,
    *,
    seeds: Sequence[int],
    teacher_logits: Tensor | None = None,
    temperature: float = 4.0,
    lam: float = 0.9,
    sizes: list[int] | None = None,
    epochs: int | None = None,
) -> SeedStats:
    """Train one student per seed with :func:`train_student`, return its accuracy on ``(X_eval, y_eval)``.

    The arguments after ``seeds`` are :func:`train_student`'s. Every input is checked
    before the first student is trained.

    Returns:
        A :class:`SeedStats` of accuracies in ``[0, 1]``, one per seed.

    Example::

        >>> s = accuracy_over_seeds(split.X_train, split.y_train, split.X_test, split.y_test, seeds=range(5))
        >>> print(s)   # 95.7 ± 0.4 %
    """
    seeds = _check_seeds(seeds)
    _check_recipe(temperature, lam, epochs)
    values = []
    for seed in seeds:
        student, _ = train_student(X, targets, teacher_logits=teacher_logits, temperature=temperature,
                                   lam=lam, sizes=sizes, seed=seed, epochs=epochs)
        values.append(evaluate(student, X_eval, y_eval))
    return SeedStats(seeds, tuple(values))


def full_label_experiment(
    split: DigitsSplit,
    teacher: nn.Module,
    *,
    seeds: Sequence[int] = range(5),
    temperature: float = 4.0,
    lam: float = 0.9,
    epochs: int | None = None,
) -> dict[str, SeedStats]:
    """Every training label available: a student from scratch against a distilled one.

    Both students have :data:`STUDENT_SIZES`, the same recipe and the same seeds;
    the distilled one adds the teacher's soft targets on the same 1,079 images.

    Returns:
        ``{"scratch": ..., "distilled": ...}``: test accuracies over ``seeds``.
        ``result["distilled"].minus(result["scratch"])`` is the paired gap.
    """
    seeds = _check_seeds(seeds)
    _check_recipe(temperature, lam, epochs)
    ts = make_transfer_set(split.X_train, split.y_train, teacher)
    common = dict(seeds=seeds, epochs=epochs)
    return {
        "scratch": accuracy_over_seeds(ts.X, ts.targets, split.X_test, split.y_test, **common),
        "distilled": accuracy_over_seeds(ts.X, ts.targets, split.X_test, split.y_test, teacher_logits=ts.teacher_logits,
                                         temperature=temperature, lam=lam, **common),
    }


def few_label_experiment(
    split: DigitsSplit,
    teacher: nn.Module,
    *,
    per_class: int = 10,
    seeds: Sequence[int] = range(5),
    temperature: float = 4.0,
    lam: float = 0.9,
    epochs: int | None = None,
    labelled_only_arm: bool = True,
) -> dict[str, SeedStats]:
    """Few labels plus an unlabelled transfer set: model compression, not semi-supervised learning.

    The teacher was trained on *all* training labels. The student gets ``per_class``
    labelled images per class and the rest of the training images without labels:

    * ``"scratch"``: cross-entropy on the ``10 * per_class`` labelled images only;
    * ``"distilled"``: :func:`transfer_set_loss` on the whole training set, i.e.
      cross-entropy on the labelled images and the teacher's soft targets on all of them;
    * ``"distilled_labelled_only"`` (if ``labelled_only_arm``): distilled on the labelled
      images alone, which separates "soft targets" from "more images".

    Returns:
        Test accuracies over ``seeds`` for each arm.
    """
    seeds = _check_seeds(seeds)
    _check_recipe(temperature, lam, epochs)
    ts = make_transfer_set(split.X_train, split.y_train, teacher, per_class=per_class)
    n = ts.num_labelled
    X_lab, y_lab, v_lab = ts.X[:n], ts.targets[:n], ts.teacher_logits[:n]  # labelled rows come first
    kd = dict(temperature=temperature, lam=lam)
    common = dict(seeds=seeds, epochs=epochs)
    out = {
        "scratch": accuracy_over_seeds(X_lab, y_lab, split.X_test, split.y_test, **common),
        "distilled": accuracy_over_seeds(ts.X, ts.targets, split.X_test, split.y_test,
                                         teacher_logits=ts.teacher_logits, **kd, **common),
    }
    if labelled_only_arm:
        out["distilled_labelled_only"] = accuracy_over_seeds(X_lab, y_lab, split.X_test, split.y_test,
                                                             teacher_logits=v_lab, **kd, **common)
    return out


# ---------------------------------------------------------------------------- the omitted class


def _check_biases(biases: object) -> Tensor:
    if not isinstance(biases, Tensor) or not biases.is_floating_point() or biases.ndim != 1 or len(biases) == 0:
        raise TypeError(f"biases must be a non-empty 1-D floating-point tensor, got {biases!r:.60}")
    if not torch.isfinite(biases).all() or not bool((biases[1:] > biases[:-1]).all()):
        raise ValueError("biases must be finite and strictly increasing")
    return biases


def choose_bias(val_logits: Tensor, y_val: Tensor, digit: int, biases: Tensor = DEFAULT_BIASES) -> tuple[float, Tensor]:
    """Choose the constant to add to one class's logit, on validation data.

    For each candidate ``b`` in ``biases``, add ``b`` to column ``digit`` of
    ``val_logits`` and measure the accuracy. The maximal accuracy is usually reached
    on a plateau of neighbouring candidates; take the first such plateau. If it
    starts at the first candidate, return that candidate (the validation set gives
    no reason to move the bias); otherwise return the plateau's middle candidate
    (its lower middle for an even count), which is less of a knife edge than its ends.

    Args:
        val_logits: a model's logits on the validation set (not probabilities).
        y_val: validation class indices.
        digit: the class whose logit is shifted, in ``[0, C)``.
        biases: strictly increasing candidate offsets, 1-D.

    Shape:
        val_logits ``(N, C)``, y_val ``(N,)``, biases ``(B,)``; returns a float and ``(B,)``.

    Returns:
        ``(bias, accuracy)``: the chosen offset and the validation accuracy of every candidate.

    Example::

        >>> z = torch.tensor([[0.0, 1.0], [0.0, 1.0]]); y = torch.tensor([0, 1])
        >>> choose_bias(z, y, digit=0, biases=torch.tensor([0.0, 2.0]))[1]
        tensor([0.5000, 0.5000])
    """
    check_logits("val_logits", val_logits)
    num_classes = val_logits.shape[1]
    digit = check_int("digit", digit, low=0, high=num_classes - 1)
    if not isinstance(y_val, Tensor) or y_val.shape != (len(val_logits),):
        raise ValueError(f"y_val must be a tensor of shape ({len(val_logits)},)")
    biases = _check_biases(biases).to(val_logits.dtype)
    shift = torch.zeros(len(biases), 1, num_classes, dtype=val_logits.dtype)  # (B, 1, C)
    shift[:, 0, digit] = biases
    predictions = (val_logits.unsqueeze(0) + shift).argmax(dim=2)  # (B, N)
    accuracy = (predictions == y_val.unsqueeze(0)).float().mean(dim=1)  # (B,)
    best = torch.nonzero(accuracy == accuracy.max()).flatten()  # (K,) ascending
    run_end = 1
    while run_end < len(best) and best[run_end] == best[run_end - 1] + 1:
        run_end += 1
    plateau = best[:run_end]
    index = int(plateau[0]) if int(plateau[0]) == 0 else int(plateau[(len(plateau) - 1) // 2])
    return float(biases[index]), accuracy


class OmittedClassArm(NamedTuple):
    """One student type in the omitted-class experiment, over seeds (accuracies on the test set)."""

    bias: SeedStats  # offset added to the omitted digit's logit, chosen on validation
    digit_before: SeedStats  # accuracy on test images of the omitted digit, uncorrected
    digit_after: SeedStats  # ... with the bias correction
    overall_before: SeedStats  # accuracy on the whole test set, uncorrected
    overall_after: SeedStats  # ... with the bias correction
    val_curve: Tensor  # (B,) validation accuracy per candidate bias, mean over seeds


def omitted_class_experiment(
    split: DigitsSplit,
    teacher: nn.Module,
    *,
    digit: int = 3,
    seeds: Sequence[int] = range(5),
    temperature: float = 4.0,
    lam: float = 0.9,
    epochs: int | None = None,
    biases: Tensor = DEFAULT_BIASES,
) -> dict[str, OmittedClassArm]:
    """Hinton et al. (2015, section 3): a transfer set with no example of one digit.

    Two students train on the training set without ``digit``: ``"distilled"``
    (labels plus the teacher's soft targets, which still mention ``digit``) and
    ``"scratch"`` (labels only). For each, :func:`choose_bias` picks on the
    *validation* set a constant to add to ``digit``'s logit; the test set only
    reports the accuracy before and after.

    Returns:
        ``{"distilled": OmittedClassArm, "scratch": OmittedClassArm}``.
    """
    seeds = _check_seeds(seeds)
    _check_recipe(temperature, lam, epochs)
    digit = check_int("digit", digit, low=0, high=NUM_CLASSES - 1)
    biases = _check_biases(biases)
    ts = make_transfer_set(split.X_train, split.y_train, teacher, omit_digit=digit)
    is_digit = split.y_test == digit  # (N_test,)
    arms = {}
    for name, teacher_logits in (("distilled", ts.teacher_logits), ("scratch", None)):
        rows = {key: [] for key in ("bias", "digit_before", "digit_after", "overall_before", "overall_after")}
        curves = []
        for seed in seeds:
            student, _ = train_student(ts.X, ts.targets, teacher_logits=teacher_logits, temperature=temperature,
                                       lam=lam, seed=seed, epochs=epochs)
            bias, curve = choose_bias(predict_logits(student, split.X_val), split.y_val, digit, biases)
            test_logits = predict_logits(student, split.X_test)  # (N_test, 10)
            corrected = test_logits.clone()
            corrected[:, digit] += bias
            for when, logits in (("before", test_logits), ("after", corrected)):
                correct = logits.argmax(dim=1) == split.y_test  # (N_test,)
                rows[f"digit_{when}"].append(correct[is_digit].float().mean().item())
                rows[f"overall_{when}"].append(correct.float().mean().item())
            rows["bias"].append(bias)
            curves.append(curve)
        stats = {key: SeedStats(seeds, tuple(values)) for key, values in rows.items()}
        arms[name] = OmittedClassArm(**stats, val_curve=torch.stack(curves).mean(dim=0))
    return arms


# ---------------------------------------------------------------------------- T x lambda


def temperature_lam_grid(
    X: Tensor,
    targets: Tensor,
    teacher_logits: Tensor,
    X_eval: Tensor,
    y_eval: Tensor,
    *,
    temperatures: Sequence[float],
    lams: Sequence[float],
    seed: int = 0,
    sizes: list[int] | None = None,
    epochs: int | None = None,
) -> Tensor:
    """Accuracy on ``(X_eval, y_eval)`` of one distilled student per ``(T, λ)`` pair, all with one seed.

    At ``λ = 0`` the loss is the cross-entropy on the labelled rows alone and ``T`` plays
    no part, so that column is one student trained from scratch on the labelled rows,
    repeated down the column.

    Args:
        X, targets, teacher_logits: the transfer set (targets may be :data:`UNLABELLED`).
        X_eval, y_eval: where to measure (the validation set: this grid chooses ``T`` and ``λ``).
        temperatures, lams: the grid's axes.
        seed, sizes, epochs: as :func:`train_student`.

    Shape:
        output ``(len(temperatures), len(lams))``, accuracies in ``[0, 1]``.

    Example::

        >>> acc = temperature_lam_grid(ts.X, ts.targets, ts.teacher_logits, split.X_val, split.y_val,
        ...                            temperatures=[1, 4], lams=[0.5, 0.9])
    """
    temps = [check_temperature(t) for t in temperatures]
    lams = [check_lam(lam) for lam in lams]
    if not temps or not lams:
        raise ValueError(f"temperatures={list(temperatures)} and lams={list(lams)} must both be non-empty")
    check_int("seed", seed, low=0)
    _check_recipe(1.0, 0.0, epochs)
    grid = torch.empty(len(temps), len(lams))
    for j, lam in enumerate(lams):
        if lam == 0.0:  # cross-entropy on the labelled rows: the same loss whatever T
            keep = targets != UNLABELLED  # (N,)
            student, _ = train_student(X[keep], targets[keep], seed=seed, sizes=sizes, epochs=epochs)
            grid[:, j] = evaluate(student, X_eval, y_eval)
            continue
        for i, t in enumerate(temps):
            student, _ = train_student(X, targets, teacher_logits=teacher_logits, temperature=t, lam=lam,
                                       seed=seed, sizes=sizes, epochs=epochs)
            grid[i, j] = evaluate(student, X_eval, y_eval)
    return grid


# ---------------------------------------------------------------------------- why T squared


class GradientNorms(NamedTuple):
    """Frobenius norms of the soft term's gradient with respect to the student's logits."""

    temperatures: Tensor  # (K,)
    with_t2: Tensor  # (K,) of  d [T^2 KL] / dz
    without_t2: Tensor  # (K,) of  d KL / dz
    high_temperature_limit: float  # lim_{T->inf} of with_t2: ||(z - mean z) - (v - mean v)|| / (N C)
    cross_entropy: float | None  # || d CE(z, targets) / dz ||, the scale to compare with


def soft_term_gradient_norms(
    student_logits: Tensor,
    teacher_logits: Tensor,
    temperatures: Sequence[float],
    targets: Tensor | None = None,
) -> GradientNorms:
    r"""Measure how the soft term's gradient scales with the temperature.

    The gradient of ``KL(p^T || q^T)`` (batch-averaged) with respect to the
    student's logits is ``(q^T - p^T) / (N T)``. For large ``T``,
    ``q^T - p^T ≈ ((z - \bar z) - (v - \bar v)) / (C T)``, so without the factor the
    gradient shrinks like ``1 / T**2``; with ``T**2`` it tends to the constant
    ``||(z - \bar z) - (v - \bar v)|| / (N C)`` (Hinton et al. 2015, section 2).
    Gradients are taken by autograd through :func:`~distill_lib.losses.kd_kl_loss`,
    in float64.

    Args:
        student_logits: the student's logits ``z``; teacher_logits: the teacher's ``v``.
        temperatures: the ``T`` values to measure (each > 0).
        targets: optional class indices; if given, also the cross-entropy's gradient norm.

    Shape:
        logits ``(N, C)``; targets ``(N,)``; output fields ``(len(temperatures),)``.

    Example::

        >>> g = soft_term_gradient_norms(z, v, [1, 10, 100])
        >>> g.without_t2 * g.temperatures**2   # equals g.with_t2
    """
    check_logits("student_logits", student_logits)
    check_logits("teacher_logits", teacher_logits)
    check_same_shape("student_logits", student_logits, "teacher_logits", teacher_logits)
    temps = [check_temperature(t) for t in temperatures]
    if not temps:
        raise ValueError("temperatures must hold at least one value")
    z0 = student_logits.detach().to(torch.float64)  # (N, C)
    v = teacher_logits.detach().to(torch.float64)  # (N, C)
    n, c = z0.shape
    with_t2, without_t2 = [], []
    for t in temps:
        z = z0.clone().requires_grad_()
        (grad,) = torch.autograd.grad(kd_kl_loss(z, v, t), z)  # (N, C)
        with_t2.append(grad.norm().item())
        z = z0.clone().requires_grad_()
        (grad,) = torch.autograd.grad(kd_kl_loss(z, v, t) / (t * t), z)  # the same KL, without the factor
        without_t2.append(grad.norm().item())
    centred = (z0 - z0.mean(dim=1, keepdim=True)) - (v - v.mean(dim=1, keepdim=True))  # (N, C)
    limit = centred.norm().item() / (n * c)
    ce_norm = None
    if targets is not None:
        z = z0.clone().requires_grad_()
        (grad,) = torch.autograd.grad(cross_entropy_loss(z, targets), z)
        ce_norm = grad.norm().item()
    return GradientNorms(torch.tensor(temps, dtype=torch.float64), torch.tensor(with_t2, dtype=torch.float64),
                         torch.tensor(without_t2, dtype=torch.float64), limit, ce_norm)


# ---------------------------------------------------------------------------- the widget


class Scored(NamedTuple):
    """A freshly trained student and how it scores."""

    student: nn.Module
    accuracy: float  # on (X_eval, y_eval), in [0, 1]
    per_class_accuracy: Tensor  # (10,)
    seconds: float  # training and evaluation, wall clock


def train_and_score(
    transfer: TransferSet,
    X_eval: Tensor,
    y_eval: Tensor,
    *,
    temperature: float = 4.0,
    lam: float = 0.9,
    width: int = 128,
    seed: int = 0,
    epochs: int = WIDGET_EPOCHS,
) -> Scored:
    """Train a ``64-width-10`` student on ``transfer`` and score it: the widget's one call.

    ``lam = 0`` trains on the labelled rows with cross-entropy alone. A quick
    student (:data:`WIDGET_EPOCHS` epochs by default) stays within about half a
    second on two CPU cores (``tools/bench_nb03.py`` measures it); its accuracy is
    a point or two below the full recipe's.

    Args:
        transfer: a :class:`TransferSet` (see :func:`make_transfer_set`).
        X_eval, y_eval: where to measure; the validation set while you tune.
        temperature, lam: ``T`` > 0 and ``λ`` in ``[0, 1]``.
        width: hidden units, in ``[1, 4096]``.
        seed, epochs: as :func:`train_student`.

    Returns:
        A :class:`Scored`.
    """
    if not isinstance(transfer, TransferSet):
        raise TypeError(f"transfer must be a TransferSet (see make_transfer_set), got {type(transfer).__name__}")
    temperature = check_temperature(temperature)
    lam = check_lam(lam)
    width = check_int("width", width, low=1, high=4096)
    epochs = check_int("epochs", epochs, low=1)
    if not isinstance(y_eval, Tensor) or y_eval.ndim != 1 or len(y_eval) != len(X_eval):
        raise ValueError(f"y_eval must be a 1-D tensor with one class index per row of X_eval ({len(X_eval)})")
    missing = sorted(set(range(NUM_CLASSES)) - set(y_eval.tolist()))
    if missing:
        raise ValueError(f"y_eval has no example of class(es) {missing}; per-class accuracy needs all {NUM_CLASSES}")
    start = time.perf_counter()
    sizes = [transfer.X.shape[1], width, NUM_CLASSES]
    if lam == 0.0:  # labels only: the labelled rows, plain cross-entropy
        keep = transfer.targets != UNLABELLED
        student, _ = train_student(transfer.X[keep], transfer.targets[keep], sizes=sizes, seed=seed, epochs=epochs)
    else:
        student, _ = train_student(transfer.X, transfer.targets, teacher_logits=transfer.teacher_logits,
                                   temperature=temperature, lam=lam, sizes=sizes, seed=seed, epochs=epochs)
    M = confusion_matrix(student, X_eval, y_eval, NUM_CLASSES).float()  # (10, 10)
    per_class = M.diagonal() / M.sum(dim=1)  # (10,); every class is present (checked above)
    accuracy = (M.trace() / M.sum()).item()
    return Scored(student, accuracy, per_class, time.perf_counter() - start)
