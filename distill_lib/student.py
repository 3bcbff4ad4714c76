"""The workbook's student, its training recipe and its training loop (used by notebooks 01-05).

The default student is an MLP 64-128-10 (9,610 parameters, 8.8x fewer than the teacher).
Notebook 03 shows :func:`training_step` and :func:`train_loop` in its own cells; this file
keeps exactly that code. :func:`train_student` is the public entry point: it checks every
input once, builds the student and the loss, then calls the loop (which checks nothing).
Notebooks 04 and 05 compress the student that :func:`train_student` distils.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ._validation import check_eval_set, check_finite_tensor, check_int, check_logits, check_recipe
from .data import NUM_FEATURES, augment
from .losses import UNLABELLED, make_loss
from .models import mlp
from .training import History, predict_logits, progress_enabled, set_seed

__all__ = [
    "STUDENT_SIZES",
    "STUDENT_RECIPE",
    "TrainingRecord",
    "check_training_data",
    "train_student",
    "train_on_transfer_set",
]

#: The workbook's student: 64 inputs, one hidden layer of 128 ReLU units, 10 logits.
STUDENT_SIZES: list[int] = [64, 128, 10]
#: Full-batch Adam settings shared by every student in notebooks 01-05.
STUDENT_RECIPE: dict = {"epochs": 300, "lr": 1e-2, "weight_decay": 0.0}


@dataclass
class TrainingRecord(History):
    """What :func:`train_loop` recorded: one loss per epoch and, with an ``eval_set``,
    the accuracy on it (in ``[0, 1]``) every ``eval_every`` epochs and the epoch kept."""

    best_epoch: int | None = None  # early stopping: the epoch whose weights were kept


def make_views(X, targets, teacher=None, *, copies=0, seed=0):
    """What the epochs cycle through: ``X`` and ``copies`` jittered copies, with the teacher's logits on each."""
    no_labels = torch.zeros(len(X), dtype=torch.long)  # augment jitters images; the targets stay as they are
    images = augment(X, no_labels, copies=copies, seed=seed)[0].split(len(X))  # (1 + copies) x (N, 64)
    if teacher is None:
        return [(x, targets, None) for x in images]  # from scratch: labels only
    teacher.eval()  # dropout off: the soft targets are the teacher's deterministic answer
    with torch.no_grad():  # the teacher is not trained: no graph, no gradient
        return [(x, targets, teacher(x)) for x in images]  # computed once, reused every epoch


def training_step(student, optimizer, X, targets, teacher_logits, loss_fn):
    """One full-batch step: the student's logits, the loss, one optimiser update. Returns the loss."""
    student_logits = student(X)  # (N, C)
    loss = loss_fn(student_logits, targets=targets, teacher_logits=teacher_logits)  # a scalar
    optimizer.zero_grad(set_to_none=True)
    loss.backward()  # teacher_logits are constants: only the student gets gradients
    optimizer.step()
    return loss.item()


def train_loop(student, views, loss_fn, *, epochs, lr, eval_set=None, eval_every=10):
    """Adam for ``epochs`` full-batch steps; epoch ``e`` trains on ``views[e % len(views)]``.

    A view is ``(X, targets, teacher_logits)``: one view is plain training, more are augmented
    copies. With ``eval_set = (X, y)`` (scored every ``eval_every`` epochs and after the last):
    early stopping, the weights that scored best on it are kept.
    """
    optimizer = torch.optim.Adam(student.parameters(), lr=lr)
    record, best_state = TrainingRecord(), None
    student.train()  # dropout (if any) on while training
    for epoch in range(epochs):
        X, targets, teacher_logits = views[epoch % len(views)]
        record.loss.append(training_step(student, optimizer, X, targets, teacher_logits, loss_fn))
        if eval_set is not None and ((epoch + 1) % eval_every == 0 or epoch + 1 == epochs):
            predictions = predict_logits(student, eval_set[0]).argmax(dim=1)  # (N_eval,), eval mode
            record.eval_accuracy.append((predictions == eval_set[1]).float().mean().item())
            student.train()
            if record.eval_accuracy[-1] > max(record.eval_accuracy[:-1], default=-1.0):
                record.best_epoch = epoch + 1
                best_state = {name: p.detach().clone() for name, p in student.state_dict().items()}
    if best_state is not None:
        student.load_state_dict(best_state)  # the best epoch on eval_set
    student.eval()
    return record


def check_training_data(
    X: object, targets: object, teacher_logits: object, sizes: list[int] | None, *, distilled: bool
) -> list[int]:
    """Check the training tensors as :func:`train_student` does, before anything changes.

    ``X`` finite ``(N, F)`` floats; ``targets`` ``(N,)`` class indices in ``[0, sizes[-1])``, or
    :data:`UNLABELLED` when ``distilled``; ``teacher_logits`` (if given) finite ``(N, sizes[-1])``;
    ``sizes`` valid widths starting at ``F``. Returns the layer sizes (default :data:`STUDENT_SIZES`).
    """
    check_finite_tensor("X", X, what="inputs")
    if X.ndim != 2:
        raise ValueError(f"X must have shape (N, F), got {tuple(X.shape)}")
    if sizes is None:
        sizes = list(STUDENT_SIZES)
    elif isinstance(sizes, (str, bytes)) or not isinstance(sizes, Sequence) or len(sizes) < 2:
        raise TypeError(f"sizes must be a list of at least two layer widths, e.g. [64, 128, 10], got {sizes!r:.60}")
    sizes = [check_int(f"sizes[{i}]", width, low=1) for i, width in enumerate(sizes)]
    if sizes[0] != X.shape[1]:
        raise ValueError(f"sizes[0]={sizes[0]} must equal the number of input features, X.shape[1]={X.shape[1]}")
    num_classes = sizes[-1]
    if not isinstance(targets, Tensor) or targets.dtype not in (torch.int64, torch.int32, torch.int16, torch.uint8):
        raise TypeError(f"targets must be an integer tensor of class indices, got {getattr(targets, 'dtype', type(targets).__name__)}")
    if targets.shape != (len(X),):
        raise ValueError(f"targets must have shape ({len(X)},), one per row of X, got {tuple(targets.shape)}")
    labelled = targets != UNLABELLED  # (N,)
    bad = targets[labelled & ((targets < 0) | (targets >= num_classes))]
    if len(bad):
        raise ValueError(f"targets contain class index {int(bad[0])}; allowed: [0, {num_classes - 1}]"
                         + (f" or UNLABELLED={UNLABELLED}" if distilled else ""))
    if not distilled:
        if not bool(labelled.all()):
            raise ValueError(
                f"targets contain UNLABELLED={UNLABELLED} rows but no teacher_logits were given; "
                "a student trained from scratch needs a label on every row (pass only the labelled rows)"
            )
    elif teacher_logits is not None:
        check_logits("teacher_logits", teacher_logits)
        if teacher_logits.shape != (len(X), num_classes):
            raise ValueError(f"teacher_logits must have shape ({len(X)}, {num_classes}), one row per row of X, "
                             f"got {tuple(teacher_logits.shape)}")
    return sizes


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
    teacher: nn.Module | None = None,
    label_smoothing: float = 0.0,
    augment_copies: int = 0,
    eval_set: tuple[Tensor, Tensor] | None = None,
    eval_every: int = 10,
) -> tuple[nn.Module, TrainingRecord]:
    """Train a fresh student, distilled if ``teacher_logits`` is given, else on labels only.

    Checks every input, then builds the student (seeded) and the loss
    (:func:`~distill_lib.losses.make_loss`, unchecked inside the loop) and runs
    :func:`train_loop` with the recipe's Adam settings.

    Args:
        X: training inputs ``(N, 64)``.
        targets: class indices ``(N,)``. When distilling, a row may be :data:`UNLABELLED`:
            it then contributes to the soft term only (see :func:`~distill_lib.losses.transfer_set_loss`).
        teacher_logits: the teacher's logits on ``X``, ``(N, 10)``; ``None`` trains from scratch.
        temperature, lam: the distillation loss's ``T`` and ``λ`` (ignored from scratch).
        sizes: layer widths (default :data:`STUDENT_SIZES`).
        seed: seeds the initialisation (and the jitter), so a seed gives the same student every time.
        epochs: full-batch Adam steps (default ``STUDENT_RECIPE["epochs"]``).
        progress: show a progress bar; ``None`` means unless ``DISTILL_LIB_QUIET``/``CI`` is set.
        teacher: instead of ``teacher_logits``, the teacher itself: its logits are computed once
            per view by :func:`make_views` (needed to distil with ``augment_copies > 0``).
        label_smoothing: of the cross-entropy term, in ``[0, 1)``.
        augment_copies: ``0`` trains on ``X`` every epoch; ``k > 0`` makes ``k`` jittered copies
            with the teacher's :func:`~distill_lib.data.augment` and cycles through the ``k + 1``
            views, one per epoch (same cost per epoch). To distil with it, pass ``teacher``
            (its logits are needed on every copy), not ``teacher_logits``.
        eval_set: ``(X, targets)`` for early stopping (the validation set): accuracy every
            ``eval_every`` epochs and after the last one, the best weights kept.
        eval_every: epochs between two evaluations, >= 1.

    Returns:
        ``(student, record)``, the student in eval mode.

    Raises:
        TypeError, ValueError: any bad argument (named in the message), before anything is trained;
            an :data:`UNLABELLED` target without ``teacher_logits`` (train from scratch on the
            labelled rows only).

    Example::

        >>> v = predict_logits(teacher, split.X_train)
        >>> student, _ = train_student(split.X_train, split.y_train, teacher_logits=v, seed=0)
    """
    temperature, lam, epochs = check_recipe(temperature, lam, epochs)
    epochs = epochs if epochs is not None else STUDENT_RECIPE["epochs"]
    seed = check_int("seed", seed, low=0, high=2**32 - 1)
    if teacher is not None:
        if not isinstance(teacher, nn.Module):
            raise TypeError(f"teacher must be a torch.nn.Module, got {type(teacher).__name__}")
        if teacher_logits is not None:
            raise ValueError("give teacher or teacher_logits, not both")
    distilled = teacher is not None or teacher_logits is not None
    sizes = check_training_data(X, targets, teacher_logits, sizes, distilled=distilled)
    copies = check_int("augment_copies", augment_copies, low=0, high=100)
    if copies and teacher_logits is not None:
        raise ValueError(f"augment_copies={copies} needs the teacher's logits on every jittered copy: "
                         "pass teacher=... instead of teacher_logits")
    if (copies or teacher is not None) and X.shape[1] != NUM_FEATURES:
        raise ValueError(f"X must hold 8x8 images as rows of {NUM_FEATURES} columns, got {tuple(X.shape)}")
    eval_every = check_int("eval_every", eval_every, low=1)
    if eval_set is not None:
        eval_set = check_eval_set(eval_set, name="eval_set", num_classes=sizes[-1])
    if progress is not None and not isinstance(progress, bool):
        raise TypeError(f"progress must be True, False or None, got {type(progress).__name__}")
    loss_fn = make_loss(temperature, lam if distilled else 0.0,
                        label_smoothing=label_smoothing, checked=False)  # checks label_smoothing
    # Everything is checked: from here on, state changes (random generators, a new model).
    if teacher is None and not copies:
        views = [(X, targets, teacher_logits)]  # one view: the same images every epoch
    else:
        views = make_views(X, targets, teacher, copies=copies, seed=seed)
        if teacher is not None:
            for i, (_, _, logits) in enumerate(views):
                check_logits(f"the teacher's logits on view {i}", logits)
                if logits.shape != (len(X), sizes[-1]):
                    raise ValueError(f"the teacher gives logits of shape {tuple(logits.shape)}; the student "
                                     f"needs ({len(X)}, {sizes[-1]}) (sizes[-1] classes)")
    set_seed(seed)
    student = mlp(sizes)
    show = progress_enabled() if progress is None else progress
    start = time.perf_counter()
    record = train_loop(student, views, _with_progress_bar(loss_fn, epochs) if show else loss_fn,
                        epochs=epochs, lr=STUDENT_RECIPE["lr"], eval_set=eval_set, eval_every=eval_every)
    record.seconds = time.perf_counter() - start
    return student, record


def _with_progress_bar(loss_fn, epochs: int):
    """``loss_fn`` that also advances a progress bar: one call is one epoch."""
    from tqdm.auto import tqdm

    bar = tqdm(total=epochs, desc="student", unit="epoch", leave=True)

    def counted(*args, **kwargs):
        bar.update(1)
        if bar.n >= epochs:
            bar.close()
        return loss_fn(*args, **kwargs)

    return counted


def train_on_transfer_set(
    X: Tensor, targets: Tensor, teacher_logits: Tensor, *, temperature: float, lam: float, **kwargs
) -> tuple[nn.Module, TrainingRecord]:
    """:func:`train_student` on a transfer set; at ``lam = 0`` a student from scratch on its labelled rows.

    At ``λ = 0`` the loss is the cross-entropy on the labelled rows alone and the
    unlabelled rows (and ``T``) play no part. ``kwargs`` go to :func:`train_student`.
    """
    check_recipe(temperature, lam, None)
    if not isinstance(targets, Tensor):
        raise TypeError(f"targets must be a tensor of class indices, got {type(targets).__name__}")
    if lam == 0.0:
        keep = targets != UNLABELLED  # (N,)
        if not bool(keep.any()):
            raise ValueError("lam = 0 trains on the labelled rows only, but every target is UNLABELLED")
        return train_student(X[keep], targets[keep], **kwargs)
    return train_student(X, targets, teacher_logits=teacher_logits, temperature=temperature, lam=lam, **kwargs)
