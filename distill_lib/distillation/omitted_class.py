"""A digit the student never sees, and its bias correction (notebook 03, section 6).

Hinton et al. (2015, section 3) distil a student on a transfer set without any example of
one digit; the teacher's soft targets still mention it. :func:`choose_bias` picks, on the
validation set, a constant to add to that digit's logit; :func:`omitted_class_experiment`
reports test accuracies before and after, over seeds.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import Tensor, nn

from .._validation import check_int, check_logits, check_targets
from ..data import NUM_CLASSES, DigitsSplit
from ..training import predict_logits
from .seeds import SeedStats, _check_seeds
from .._validation import check_recipe
from ..student import train_student
from .transfer_set import make_transfer_set

__all__ = ["DEFAULT_BIASES", "choose_bias", "OmittedClassArm", "omitted_class_experiment"]

#: Candidate logit offsets for the omitted-class bias correction (step 0.05).
DEFAULT_BIASES: Tensor = torch.linspace(0.0, 20.0, 401)


def _check_biases(biases: object) -> Tensor:
    """A non-empty, finite, strictly increasing 1-D floating-point tensor."""
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
        y_val: validation class indices, integers in ``[0, C)``.
        digit: the class whose logit is shifted, in ``[0, C)``.
        biases: strictly increasing candidate offsets, 1-D.

    Shape:
        val_logits ``(N, C)``, y_val ``(N,)``, biases ``(B,)``; returns a float and ``(B,)``.

    Returns:
        ``(bias, accuracy)``: the chosen offset and the validation accuracy of every candidate.

    Raises:
        TypeError, ValueError: logits that are not a finite ``(N, C)`` float tensor; ``y_val``
            not an integer tensor of shape ``(N,)`` with values in ``[0, C)``; ``digit``
            outside ``[0, C)``; ``biases`` not finite and strictly increasing.

    Example::

        >>> z = torch.tensor([[0.0, 1.0], [0.0, 1.0]]); y = torch.tensor([0, 1])
        >>> choose_bias(z, y, digit=0, biases=torch.tensor([0.0, 2.0]))[1]
        tensor([0.5000, 0.5000])
    """
    check_logits("val_logits", val_logits)
    num_classes = val_logits.shape[1]
    digit = check_int("digit", digit, low=0, high=num_classes - 1)
    check_targets(y_val, len(val_logits), num_classes, name="y_val")
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
    check_recipe(temperature, lam, epochs)
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
