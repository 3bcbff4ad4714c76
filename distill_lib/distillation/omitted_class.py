"""A digit the student never sees, and its bias correction (notebook 03, section 6).

Hinton et al. (2015, section 3) distil a student on a transfer set without any example of
one digit; the teacher's soft targets still mention it. :func:`choose_bias` picks, on the
validation set, a constant to add to that digit's logit, among candidates that
:func:`bias_candidates` widens until the validation curve has turned over;
:func:`omitted_class_experiment` reports test accuracies before and after, over seeds, and a
threshold-free measure that no bias can change: the AUROC of the omitted digit's logit
(:func:`one_vs_rest_auroc`).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import NamedTuple

import torch
from scipy.stats import rankdata
from torch import Tensor, nn

from .._validation import check_int, check_logits, check_real, check_recipe, check_targets
from ..data import NUM_CLASSES, DigitsSplit
from ..stats import Interval, Runs, over_seeds
from ..student import train_student
from ..training import predict_logits
from .experiment import check_seeds, run_arms
from .transfer_set import make_transfer_set

__all__ = ["BIAS_STEP", "choose_bias", "bias_candidates", "one_vs_rest_auroc", "OmittedClassArm",
           "omitted_class_experiment"]

#: Spacing of the candidate biases (logit units).
BIAS_STEP: float = 0.05


def _check_biases(biases: object) -> Tensor:
    """A non-empty, finite, strictly increasing 1-D floating-point tensor."""
    if not isinstance(biases, Tensor) or not biases.is_floating_point() or biases.ndim != 1 or len(biases) == 0:
        raise TypeError(f"biases must be a non-empty 1-D floating-point tensor, got {biases!r:.60}")
    if not torch.isfinite(biases).all() or not bool((biases[1:] > biases[:-1]).all()):
        raise ValueError("biases must be finite and strictly increasing")
    return biases


def _choose_bias(val_logits, y_val, digit, biases):
    """The bias for ``digit``'s logit with the best validation accuracy; accuracy of every candidate."""
    shift = torch.zeros(len(biases), 1, val_logits.shape[1], dtype=val_logits.dtype)  # (B, 1, C)
    shift[:, 0, digit] = biases
    predictions = (val_logits.unsqueeze(0) + shift).argmax(dim=2)  # (B, N): every candidate at once
    accuracy = (predictions == y_val).float().mean(dim=1)  # (B,)
    best = torch.nonzero(accuracy == accuracy.max()).flatten()  # (K,) ascending
    run_end = 1  # the first plateau of best candidates: best[0], best[0] + 1, ...
    while run_end < len(best) and best[run_end] == best[run_end - 1] + 1:
        run_end += 1
    plateau = best[:run_end]
    # At the first candidate: no reason to move. Else the plateau's middle, not a knife-edge end.
    index = int(plateau[0]) if int(plateau[0]) == 0 else int(plateau[(len(plateau) - 1) // 2])
    return float(biases[index]), accuracy


def _apply_bias(logits, digit, bias):
    """The correction: ``bias`` added to the logit of ``digit``, every other logit unchanged."""
    shifted = logits.clone()
    shifted[:, digit] += bias  # (N, C)
    return shifted


def _check_val(val_logits: object, y_val: object, digit: object) -> int:
    check_logits("val_logits", val_logits)
    num_classes = val_logits.shape[1]
    digit = check_int("digit", digit, low=0, high=num_classes - 1)
    check_targets(y_val, len(val_logits), num_classes, name="y_val")
    return digit


def choose_bias(val_logits: Tensor, y_val: Tensor, digit: int, biases: Tensor) -> tuple[float, Tensor]:
    """Choose the constant to add to one class's logit, on validation data.

    For each candidate ``b`` in ``biases``, add ``b`` to column ``digit`` of
    ``val_logits`` and measure the accuracy. The maximal accuracy is usually reached
    on a plateau of neighbouring candidates; take the first such plateau. If it
    starts at the first candidate, return that candidate (the validation set gives
    no reason to move the bias); otherwise return the plateau's middle candidate
    (its lower middle for an even count), which is less of a knife edge than its ends.

    Args:
        val_logits: a model's logits on the validation set (not probabilities).
        y_val: validation class indices, integers in ``[0, C)``.
        digit: the class whose logit is shifted, in ``[0, C)``.
        biases: strictly increasing candidate offsets, 1-D (e.g. from :func:`bias_candidates`).

    Shape:
        val_logits ``(N, C)``, y_val ``(N,)``, biases ``(B,)``; returns a float and ``(B,)``.

    Returns:
        ``(bias, accuracy)``: the chosen offset and the validation accuracy (in ``[0, 1]``)
        of every candidate.

    Raises:
        TypeError, ValueError: logits that are not a finite ``(N, C)`` float tensor; ``y_val``
            not an integer tensor of shape ``(N,)`` with values in ``[0, C)``; ``digit``
            outside ``[0, C)``; ``biases`` not finite and strictly increasing.

    Example::

        >>> z = torch.tensor([[0.0, 1.0], [0.0, 1.0]]); y = torch.tensor([0, 1])
        >>> choose_bias(z, y, digit=0, biases=torch.tensor([0.0, 2.0]))[1]
        tensor([0.5000, 0.5000])
    """
    digit = _check_val(val_logits, y_val, digit)
    biases = _check_biases(biases).to(val_logits.dtype)
    return _choose_bias(val_logits, y_val, digit, biases)


def bias_candidates(
    val_logits: Sequence[Tensor], y_val: Tensor, digit: int, *, step: float = BIAS_STEP, start: float = 4.0,
    limit: float = 1024.0,
) -> Tensor:
    """Candidate biases ``0, step, ..., high``, ``high`` doubled until every validation curve has turned over.

    A curve has turned over when its best accuracy is reached in the first half of the
    range and its last candidate scores at least one validation image less than the best:
    a wider search could not find a better bias.

    Args:
        val_logits: one ``(N, C)`` logits tensor per student (the curves must all turn over).
        y_val: validation class indices ``(N,)``.
        digit: the class whose logit is shifted.
        step: spacing of the candidates, > 0.
        start: the first upper end, > 0; limit: the largest upper end tried.

    Returns:
        ``(B,)`` float tensor of candidates starting at 0.

    Raises:
        TypeError, ValueError: bad logits, targets, ``digit``, ``step``, ``start`` or ``limit``.
    """
    if isinstance(val_logits, Tensor) or not isinstance(val_logits, Sequence) or not val_logits:
        raise TypeError("val_logits must be a non-empty list of (N, C) logits tensors, one per student")
    digit = [_check_val(z, y_val, digit) for z in val_logits][0]
    step, start, limit = (check_real(n, v) for n, v in (("step", step), ("start", start), ("limit", limit)))
    if not (0 < step <= start <= limit < float("inf")):
        raise ValueError(f"need 0 < step={step} <= start={start} <= limit={limit} < inf")
    high = start
    while True:
        biases = torch.arange(0.0, high + step / 2, step, dtype=torch.float64)  # (B,)
        turned = True
        for z in val_logits:
            _, accuracy = _choose_bias(z.double(), y_val, digit, biases)
            first_best = int(torch.argmax(accuracy))  # argmax returns the first maximum
            one_image = 1.0 / len(y_val)
            if first_best > len(biases) // 2 or accuracy[-1] > accuracy.max() - one_image + 1e-9:
                turned = False
        if turned or 2 * high > limit:
            return biases.float()
        high *= 2


def one_vs_rest_auroc(scores: Tensor, positive: Tensor) -> float:
    """Area under the ROC curve of ``scores`` separating ``positive`` rows from the rest.

    The probability that a random positive row scores higher than a random negative one
    (ties count one half): the Mann-Whitney statistic, from ranks. It needs no threshold,
    so no bias added to ``scores`` can change it. 0.5 is chance, 1.0 a perfect ranking.

    Args:
        scores: ``(N,)`` real scores, e.g. one class's logit.
        positive: ``(N,)`` bool, with at least one True and one False.

    Example::

        >>> one_vs_rest_auroc(torch.tensor([0.1, 0.9, 0.4]), torch.tensor([False, True, False]))
        1.0
    """
    check_logits("scores", scores, ndim=1)
    if not isinstance(positive, Tensor) or positive.dtype != torch.bool or positive.shape != scores.shape:
        raise TypeError(f"positive must be a bool tensor of shape {tuple(scores.shape)}")
    n_pos = int(positive.sum())
    n_neg = len(positive) - n_pos
    if n_pos == 0 or n_neg == 0:
        raise ValueError(f"positive has {n_pos} True and {n_neg} False rows; an AUROC needs both")
    ranks = rankdata(scores.detach().double().numpy())  # 1..N, ties share their mean rank
    return float((ranks[positive.numpy()].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _interval(values: list[float]) -> Interval:
    """Mean and 95 % t interval over seeds; one seed gives a point."""
    return over_seeds(values) if len(values) > 1 else Interval(values[0], values[0], values[0], 1)


class OmittedClassArm(NamedTuple):
    """One student type in the omitted-class experiment, over seeds (test set unless named validation)."""

    bias: Interval  # offset added to the omitted digit's logit, chosen on validation (logit units)
    before: Runs  # every test image, uncorrected
    after: Runs  # every test image, with the bias correction
    digit_before: Runs  # the omitted digit's test images only, uncorrected
    digit_after: Runs  # ... with the bias correction
    auroc: Interval  # one-vs-rest AUROC of the omitted digit's logit, in [0, 1], over seeds
    auroc_per_seed: tuple[float, ...]
    margin_auroc: Interval  # ... of its margin, logit minus the largest other logit (what the bias thresholds)
    margin_auroc_per_seed: tuple[float, ...]
    val_curve: Tensor  # (B,) validation accuracy in [0, 1] per candidate bias, mean over seeds


def omitted_class_experiment(
    split: DigitsSplit,
    teacher: nn.Module,
    *,
    digit: int = 3,
    seeds: Sequence[int] = range(5),
    temperature: float = 4.0,
    lam: float = 0.9,
    epochs: int | None = None,
) -> tuple[dict[str, OmittedClassArm], Tensor]:
    """Hinton et al. (2015, section 3): a transfer set with no example of one digit.

    Two students train on the training set without ``digit``: ``"distilled"``
    (labels plus the teacher's soft targets, which still mention ``digit``) and
    ``"scratch"`` (labels only). For each, :func:`choose_bias` picks on the
    *validation* set a constant to add to ``digit``'s logit, among candidates widened
    until every validation curve turns over (:func:`bias_candidates`); the test set
    only reports the accuracy before and after, and the AUROC of ``digit``'s logit.

    Returns:
        ``({"distilled": OmittedClassArm, "scratch": OmittedClassArm}, biases)``, ``biases``
        the candidates of the validation curves.
    """
    if not isinstance(split, DigitsSplit):
        raise TypeError(f"split must be a DigitsSplit (from load_split()), got {type(split).__name__}")
    if not isinstance(teacher, nn.Module):
        raise TypeError(f"teacher must be a torch.nn.Module, got {type(teacher).__name__}")
    seeds = check_seeds(seeds)
    temperature, lam, epochs = check_recipe(temperature, lam, epochs)
    digit = check_int("digit", digit, low=0, high=NUM_CLASSES - 1)
    ts = make_transfer_set(split.X_train, split.y_train, teacher, omit_digit=digit)
    arms = {"distilled": partial(train_student, ts.X, ts.targets, teacher_logits=ts.teacher_logits,
                                 temperature=temperature, lam=lam, epochs=epochs),
            "scratch": partial(train_student, ts.X, ts.targets, epochs=epochs)}
    experiment = run_arms(arms, seeds, (split.X_test, split.y_test))
    val_logits = {name: [predict_logits(s, split.X_val) for s in students]
                  for name, students in experiment.students.items()}
    biases = bias_candidates([z for zs in val_logits.values() for z in zs], split.y_val, digit)
    is_digit = (split.y_test == digit).numpy()  # (N_test,)
    out = {}
    for name, students in experiment.students.items():
        chosen, curves, corrected, aurocs, margins = [], [], [], [], []
        for student, z_val in zip(students, val_logits[name]):
            bias, curve = _choose_bias(z_val, split.y_val, digit, biases)
            test_logits = _apply_bias(predict_logits(student, split.X_test), digit, bias)  # (N_test, C)
            corrected.append(test_logits.argmax(dim=1))
            aurocs.append(one_vs_rest_auroc(test_logits[:, digit], split.y_test == digit))
            others = torch.cat([test_logits[:, :digit], test_logits[:, digit + 1:]], dim=1)  # (N_test, C - 1)
            margin = test_logits[:, digit] - others.max(dim=1).values  # (N_test,), > 0: predicted digit
            margins.append(one_vs_rest_auroc(margin, split.y_test == digit))
            chosen.append(bias)
            curves.append(curve)
        before = experiment.runs[name]
        after = Runs.from_predictions(corrected, split.y_test, seeds)
        out[name] = OmittedClassArm(
            bias=_interval(chosen),
            before=before, after=after,
            digit_before=Runs(before.correct[:, is_digit], seeds), digit_after=Runs(after.correct[:, is_digit], seeds),
            auroc=_interval(aurocs), auroc_per_seed=tuple(aurocs),
            margin_auroc=_interval(margins), margin_auroc_per_seed=tuple(margins),
            val_curve=torch.stack(curves).mean(dim=0))
    return out, biases
