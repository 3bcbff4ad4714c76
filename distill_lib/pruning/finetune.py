r"""Iterative pruning: prune, fine-tune, repeat, with distillation as the recovery loss (notebook 05, section 3).

Han et al. (2015) prune a trained network by magnitude, retrain the surviving
weights, and repeat, raising the sparsity a little each time. The masks stay
attached while fine-tuning (:func:`~distill_lib.pruning.prune_magnitude`), so a
pruned weight gets no gradient and stays exactly 0. The recovery loss is
cross-entropy on the labels or, given the teacher's logits, the distillation
loss of notebook 03.

Reference: S. Han, J. Pool, J. Tran, W. Dally, *Learning both Weights and
Connections for Efficient Neural Networks*, NeurIPS 2015.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial

from torch import Tensor, nn

from .._validation import check_int, check_lam, check_logits, check_real, check_targets, check_temperature
from ..losses import cross_entropy_loss, distillation_loss
from ..training import evaluate, fit
from .apply import prunable_layers, prune_magnitude, weight_sparsity
from .masks import _check_scope, _check_sparsities, check_sparsity

__all__ = ["sparsity_schedule", "PruneHistory", "prune_and_finetune"]


def sparsity_schedule(final_sparsity: float, steps: int) -> list[float]:
    r"""Sparsities for iterative pruning: each step keeps the same fraction of what is left.

    .. math:: s_k = 1 - (1 - s_\text{final})^{k / \text{steps}}, \quad k = 1, \dots, \text{steps}

    so the early steps, where there is plenty to remove, remove more weights,
    and the last steps, where every weight matters, remove fewer.

    Args:
        final_sparsity: the sparsity after the last step, in ``[0, 1)``.
        steps: the number of pruning steps (>= 1).

    Returns:
        ``steps`` increasing sparsities; the last is exactly ``final_sparsity``.

    Example::

        >>> sparsity_schedule(0.9, 2)
        [0.683772233983162, 0.9]
    """
    final_sparsity = check_sparsity(final_sparsity, "final_sparsity")
    steps = check_int("steps", steps, low=1)
    keep = 1.0 - final_sparsity
    schedule = [1.0 - keep ** (k / steps) for k in range(1, steps + 1)]
    schedule[-1] = final_sparsity  # exactly, without rounding error
    return schedule


@dataclass
class PruneHistory:
    """What :func:`prune_and_finetune` measured after each step."""

    sparsity: list[float] = field(default_factory=list)  # requested
    achieved: list[float] = field(default_factory=list)  # fraction of weights that are exactly zero
    accuracy_before: list[float] = field(default_factory=list)  # right after pruning
    accuracy: list[float] = field(default_factory=list)  # after fine-tuning
    seconds: float = 0.0


def prune_and_finetune(
    model: nn.Module,
    X: Tensor,
    targets: Tensor,
    *,
    sparsities: Sequence[float],
    epochs: int,
    lr: float = 1e-3,
    teacher_logits: Tensor | None = None,
    temperature: float = 4.0,
    lam: float = 0.9,
    scope: str = "global",
    eval_on: tuple[Tensor, Tensor] | None = None,
    seed: int = 0,
) -> PruneHistory:
    r"""Iterative pruning (Han et al. 2015): prune, fine-tune, repeat, in place.

    At step ``k`` the weights are pruned by magnitude to ``sparsities[k]``
    (:func:`~distill_lib.pruning.prune_magnitude`, which never revives a pruned
    weight) and the surviving weights are fine-tuned for ``epochs`` full-batch
    Adam steps (:func:`distill_lib.training.fit`). The masks stay attached
    throughout, so the gradient of every pruned weight is zero and it stays exactly 0.

    The recovery loss is cross-entropy on ``targets`` or, if ``teacher_logits``
    are given, the distillation loss of notebook 03:
    ``(1 - lam) * CE + lam * T**2 * KL(teacher_T || student_T)``.

    Args:
        model: the trained network to prune (modified in place; the masks are left attached).
        X: training inputs ``(N, F)``.
        targets: class indices ``(N,)``.
        sparsities: non-decreasing fractions in ``[0, 1)``, e.g. :func:`sparsity_schedule`.
        epochs: fine-tuning epochs per step (>= 0; 0 is one-shot pruning).
        lr: Adam's learning rate for fine-tuning (> 0).
        teacher_logits: the teacher's logits on ``X``, ``(N, C)``; ``None`` fine-tunes on labels.
        temperature, lam: the distillation loss's ``T`` (> 0) and ``λ`` (in ``[0, 1]``); checked
            even when ``teacher_logits`` is ``None`` (they are unused then).
        scope: ``"global"`` or ``"layer"``.
        eval_on: ``(X_eval, y_eval)`` to measure accuracy after each step (default: ``(X, targets)``).
        seed: seeds the fine-tuning (step ``k`` uses ``seed + k``).

    Shape:
        X ``(N, F)``, targets ``(N,)``, teacher_logits ``(N, C)`` with ``C`` the model's outputs.

    Returns:
        A :class:`PruneHistory`, one entry per step.

    Raises:
        TypeError, ValueError: any argument out of range (``temperature`` and ``lam`` included,
            with or without a teacher), ``sparsities`` decreasing, or
            ``teacher_logits`` not ``(N, C)``; all checked before the first weight is pruned.

    Example::

        >>> history = prune_and_finetune(student, split.X_train, split.y_train,
        ...     sparsities=sparsity_schedule(0.9, 5), epochs=50, teacher_logits=teacher_logits)
        >>> history.achieved[-1]   # round(0.9 * 9472) / 9472 of the 64-128-10 student's weights
        0.9000211148648649
    """
    values = _check_sparsities(sparsities)
    if any(b < a for a, b in zip(values, values[1:])):
        raise ValueError(f"sparsities={values} must not decrease: pruning never revives weights")
    epochs = check_int("epochs", epochs, low=0)
    scope = _check_scope(scope)
    # Checked even without a teacher (then they are unused): a bad value is a caller's mistake either way.
    temperature = check_temperature(temperature)
    lam = check_lam(lam)
    lr = check_real("lr", lr)
    if not (math.isfinite(lr) and lr > 0):
        raise ValueError(f"lr={lr!r} must be a finite number > 0 (Adam's learning rate)")
    seed = check_int("seed", seed, low=0)
    # Check everything before the first weight is pruned: the model is modified in place.
    num_classes = list(prunable_layers(model).values())[-1].out_features
    if not isinstance(X, Tensor) or X.ndim != 2 or not X.is_floating_point():
        raise TypeError(f"X must be a floating-point tensor of shape (N, F), got {X!r:.60}")
    if len(X) == 0:
        raise ValueError("X is empty; need at least one training example")
    check_targets(targets, len(X), num_classes)  # (N,)
    if teacher_logits is None:
        loss_fn, extras = cross_entropy_loss, {}
    else:
        check_logits("teacher_logits", teacher_logits)
        if len(teacher_logits) != len(X):
            raise ValueError(f"teacher_logits has {len(teacher_logits)} rows but X has {len(X)}; they must match")
        if teacher_logits.shape[1] != num_classes:
            raise ValueError(
                f"teacher_logits has {teacher_logits.shape[1]} columns but the model has {num_classes} outputs; "
                "they must match"
            )
        loss_fn = partial(distillation_loss, temperature=temperature, lam=lam)
        extras = {"teacher_logits": teacher_logits}
    if eval_on is None:
        X_eval, y_eval = X, targets
    else:
        if not isinstance(eval_on, (tuple, list)) or len(eval_on) != 2:
            raise TypeError(f"eval_on must be a pair (X_eval, y_eval), got {type(eval_on).__name__}")
        X_eval, y_eval = eval_on
        if not isinstance(X_eval, Tensor) or X_eval.shape[1:] != X.shape[1:] or not X_eval.is_floating_point():
            raise TypeError(f"eval_on[0] must be a floating-point tensor of shape (M, {X.shape[1]}), like X")
        check_targets(y_eval, len(X_eval), num_classes, name="eval_on[1]")
    history = PruneHistory()
    start = time.perf_counter()
    for k, s in enumerate(values):
        prune_magnitude(model, s, scope=scope)
        history.sparsity.append(s)
        history.accuracy_before.append(evaluate(model, X_eval, y_eval))
        if epochs:
            fit(model, X, targets, loss_fn=loss_fn, epochs=epochs, lr=lr, seed=seed + k,
                progress=False, desc="fine-tune", **extras)
        history.achieved.append(weight_sparsity(model))
        history.accuracy.append(evaluate(model, X_eval, y_eval))
    history.seconds = time.perf_counter() - start
    return history
