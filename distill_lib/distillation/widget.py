"""The plain function behind notebook 03's widget: retrain a student live (section 8)."""

from __future__ import annotations

import time
from typing import NamedTuple

from torch import Tensor, nn

from .._validation import check_eval_set, check_int, check_lam, check_temperature
from ..data import NUM_CLASSES
from ..student import train_on_transfer_set
from ..training import confusion_matrix
from .transfer_set import TransferSet

__all__ = ["WIDGET_EPOCHS", "Scored", "train_and_score", "draw_student"]

#: Epochs of the widget's quick student in notebook 03 (a third of the recipe, to stay interactive).
WIDGET_EPOCHS: int = 100


class Scored(NamedTuple):
    """A freshly trained student and how it scores."""

    student: nn.Module
    accuracy: float  # on eval_set, in [0, 1]
    per_class_accuracy: Tensor  # (10,)
    seconds: float  # training and evaluation, wall clock


def train_and_score(
    transfer: TransferSet,
    eval_set: tuple[Tensor, Tensor],
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
        eval_set: ``(X, targets)`` where to measure; the validation set while you tune.
        temperature, lam: ``T`` > 0 and ``λ`` in ``[0, 1]``.
        width: hidden units, in ``[1, 4096]``.
        seed, epochs: as :func:`train_student`.

    Returns:
        A :class:`Scored`.

    Raises:
        TypeError, ValueError: ``transfer`` not a :class:`TransferSet`; bad ``temperature``,
            ``lam``, ``width`` or ``epochs``; ``eval_set`` not ``(X, targets)`` with ``X`` a finite float
            ``(N, F)`` tensor and ``targets`` class indices in ``[0, 10)``, one per row, every class present.
    """
    if not isinstance(transfer, TransferSet):
        raise TypeError(f"transfer must be a TransferSet (see make_transfer_set), got {type(transfer).__name__}")
    temperature = check_temperature(temperature)
    lam = check_lam(lam)
    width = check_int("width", width, low=1, high=4096)
    epochs = check_int("epochs", epochs, low=1)
    X_eval, y_eval = check_eval_set(eval_set)
    missing = sorted(set(range(NUM_CLASSES)) - set(y_eval.tolist()))
    if missing:
        raise ValueError(f"eval_set[1] (targets) has no example of class(es) {missing}; "
                         f"per-class accuracy needs all {NUM_CLASSES}")
    start = time.perf_counter()
    sizes = [transfer.X.shape[1], width, NUM_CLASSES]
    student, _ = train_on_transfer_set(*transfer, temperature=temperature, lam=lam, sizes=sizes, seed=seed,
                                        epochs=epochs)  # lam = 0: the labelled rows, plain cross-entropy
    M = confusion_matrix(student, X_eval, y_eval).float()  # (10, 10)
    per_class = M.diagonal() / M.sum(dim=1)  # (10,); every class is present (checked above)
    accuracy = (M.trace() / M.sum()).item()
    return Scored(student, accuracy, per_class, time.perf_counter() - start)


def draw_student(
    transfer_sets: dict[str, TransferSet],
    eval_set: tuple[Tensor, Tensor],
    teacher_per_class: Tensor,
    tried: list[tuple[float, float, float]],
    *,
    temperature: float,
    lam: float,
    width: int,
    labels: str,
    seed: int = 0,
    epochs: int = WIDGET_EPOCHS,
):
    """The widget's picture: retrain with :func:`train_and_score`, draw per-class accuracy and every setting tried.

    Args:
        transfer_sets: name -> :class:`TransferSet` (the ``labels`` control picks one).
        eval_set: ``(X, targets)``: the validation set.
        teacher_per_class: ``(10,)`` the teacher's per-class accuracy on ``eval_set``, in ``[0, 1]``.
        tried: ``(temperature, lam, accuracy)`` of the settings drawn so far; this call appends its own.
        temperature, lam, width, seed, epochs: as :func:`train_and_score`.
        labels: a key of ``transfer_sets``.

    Returns:
        A matplotlib ``Figure`` (constrained layout, so no axis label is clipped). Its
        ``scored`` attribute holds the :class:`Scored` result.
    """
    import matplotlib.pyplot as plt

    if labels not in transfer_sets:
        raise ValueError(f"labels={labels!r} must be one of {list(transfer_sets)}")
    if not isinstance(teacher_per_class, Tensor) or teacher_per_class.shape != (NUM_CLASSES,):
        raise TypeError(f"teacher_per_class must be a tensor of shape ({NUM_CLASSES},), got {teacher_per_class!r:.60}")
    if not isinstance(tried, list):
        raise TypeError(f"tried must be a list of (temperature, lam, accuracy), got {type(tried).__name__}")
    result = train_and_score(transfer_sets[labels], eval_set, temperature=temperature, lam=lam, width=width,
                             seed=seed, epochs=epochs)
    tried.append((temperature, lam, result.accuracy))
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.4), layout="constrained")
    ax1.bar(range(NUM_CLASSES), (100 * result.per_class_accuracy).tolist(), alpha=0.7, label="student")
    ax1.plot(range(NUM_CLASSES), (100 * teacher_per_class).tolist(), "k_", ms=14, mew=2, label="teacher")
    ax1.set_xticks(range(NUM_CLASSES))
    ax1.set_ylim(0, 105)
    ax1.set_xlabel("digit")
    ax1.set_ylabel("validation accuracy (%)")
    ax1.set_title(f"labels: {labels}, T={temperature:g}, λ={lam:g}, width {width}: "
                  f"{100 * result.accuracy:.1f} % ({result.seconds:.2f} s)", fontsize=9)
    ax1.legend(fontsize=8, loc="lower right")
    ts, ls, accs = zip(*tried)
    ax2.scatter(ts, [100 * a for a in accs], c=ls, cmap="viridis", vmin=0, vmax=1)
    ax2.set_xscale("log", base=2)
    ax2.set_xlabel("temperature T")
    ax2.set_ylabel("validation accuracy (%)")
    ax2.set_title("Every setting tried (colour: λ, purple 0 to yellow 1)", fontsize=9)
    fig.scored = result
    return fig
