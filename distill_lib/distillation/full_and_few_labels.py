"""Scratch against distilled, with all labels and with few (notebook 03, sections 4 and 5).

Both experiments train students of :data:`~distill_lib.distillation.STUDENT_SIZES` with
the same recipe and seeds, and return test accuracies as :class:`SeedStats`.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from ..data import DigitsSplit
from .seeds import SeedStats, _check_seeds, accuracy_over_seeds
from .._validation import check_recipe
from .transfer_set import make_transfer_set

__all__ = ["full_label_experiment", "few_label_experiment"]


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
    check_recipe(temperature, lam, epochs)
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
    check_recipe(temperature, lam, epochs)
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
