"""The plain function behind notebook 03's widget: retrain a student live (section 8)."""

from __future__ import annotations

import time
from typing import NamedTuple

from torch import Tensor, nn

from .._validation import check_int, check_lam, check_temperature
from ..data import NUM_CLASSES
from ..training import confusion_matrix
from .._validation import check_eval_set
from ..student import train_on_transfer_set
from .transfer_set import TransferSet

__all__ = ["WIDGET_EPOCHS", "Scored", "train_and_score"]

#: Epochs of the widget's quick student in notebook 03 (a third of the recipe, to stay interactive).
WIDGET_EPOCHS: int = 100


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

    Raises:
        TypeError, ValueError: ``transfer`` not a :class:`TransferSet`; bad ``temperature``,
            ``lam``, ``width`` or ``epochs``; ``X_eval`` not a float ``(N, F)`` tensor; ``y_eval``
            not integer class indices in ``[0, 10)``, one per row, with every class present.
    """
    if not isinstance(transfer, TransferSet):
        raise TypeError(f"transfer must be a TransferSet (see make_transfer_set), got {type(transfer).__name__}")
    temperature = check_temperature(temperature)
    lam = check_lam(lam)
    width = check_int("width", width, low=1, high=4096)
    epochs = check_int("epochs", epochs, low=1)
    check_eval_set((X_eval, y_eval))
    missing = sorted(set(range(NUM_CLASSES)) - set(y_eval.tolist()))
    if missing:
        raise ValueError(f"y_eval has no example of class(es) {missing}; per-class accuracy needs all {NUM_CLASSES}")
    start = time.perf_counter()
    sizes = [transfer.X.shape[1], width, NUM_CLASSES]
    student, _ = train_on_transfer_set(*transfer, temperature=temperature, lam=lam, sizes=sizes, seed=seed,
                                        epochs=epochs)  # lam = 0: the labelled rows, plain cross-entropy
    M = confusion_matrix(student, X_eval, y_eval, NUM_CLASSES).float()  # (10, 10)
    per_class = M.diagonal() / M.sum(dim=1)  # (10,); every class is present (checked above)
    accuracy = (M.trace() / M.sum()).item()
    return Scored(student, accuracy, per_class, time.perf_counter() - start)
