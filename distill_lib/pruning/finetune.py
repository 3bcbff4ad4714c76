r"""Iterative pruning: prune, fine-tune, repeat, with distillation as the recovery loss (notebook 05, section 3).

Han et al. (2015) prune a trained network by magnitude, retrain the surviving
weights, and repeat, raising the sparsity a little each time. The masks stay
attached while fine-tuning (:func:`~distill_lib.pruning.prune_magnitude`), so a
pruned weight gets no gradient and stays exactly 0. The recovery loss comes from
:func:`distill_lib.losses.make_loss`: cross-entropy on the labels (``lam = 0``) or
the distillation loss of notebook 03 (``lam > 0``, with the teacher's logits).

One-shot pruning with the same budget is the same call with one sparsity and all
the epochs after it: ``sparsities=[0.9], epochs=len(schedule) * epochs_per_step``.

The shown core (notebook 05's cell ``# Saved in distill_lib/pruning/finetune.py``)
is :func:`_prune_and_finetune`; the public :func:`prune_and_finetune` validates
everything first, then calls it.

Reference: S. Han, J. Pool, J. Tran, W. Dally, *Learning both Weights and
Connections for Efficient Neural Networks*, NeurIPS 2015.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from torch import Tensor, nn

from .._validation import check_eval_set, check_int, check_lam, check_logits, check_real
from ..losses import make_loss
from ..training import fit
from ._checks import check_finite_weights, check_not_reviving, check_scope, check_sparsities
from .apply import accuracy, prunable_layers, prune, weight_sparsity
from .masks import check_sparsity

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
    """What :func:`prune_and_finetune` measured after each step (accuracy in %, on ``eval_set``)."""

    sparsity: list[float] = field(default_factory=list)  # achieved: fraction of weights exactly zero
    accuracy: list[float] = field(default_factory=list)  # after fine-tuning; empty without an eval_set


def _prune_and_finetune(
    model: nn.Module, X: Tensor, targets: Tensor, teacher_logits: Tensor | None, loss_fn: Callable[..., Tensor], *,
    sparsities: Sequence[float], epochs: int, lr: float, scope: str, eval_set: tuple | None, seed: int,
) -> PruneHistory:
    """The unchecked core of :func:`prune_and_finetune`: prune a little, fine-tune the survivors, repeat."""
    history = PruneHistory()
    for step, sparsity in enumerate(sparsities):
        prune(model, sparsity, scope)  # masks stay attached: weight = weight_orig * weight_mask
        if epochs:  # a pruned weight's gradient is exactly 0, so Adam cannot move it
            fit(model, X, targets, teacher_logits=teacher_logits, loss_fn=loss_fn,
                epochs=epochs, lr=lr, seed=seed + step, progress=False, desc="fine-tune")
        history.sparsity.append(weight_sparsity(model))
        if eval_set is not None:
            history.accuracy.append(accuracy(model, *eval_set))
    return history


def prune_and_finetune(
    model: nn.Module,
    X: Tensor,
    targets: Tensor,
    *,
    sparsities: Sequence[float],
    epochs: int,
    lr: float = 1e-2,
    teacher_logits: Tensor | None = None,
    temperature: float = 4.0,
    lam: float = 0.0,
    scope: str = "global",
    eval_set: tuple[Tensor, Tensor] | None = None,
    seed: int = 0,
) -> PruneHistory:
    r"""Iterative pruning (Han et al. 2015): prune, fine-tune, repeat, in place.

    At step ``k`` the weights are pruned by magnitude to ``sparsities[k]``
    (never reviving a pruned weight) and the surviving weights are fine-tuned for
    ``epochs`` full-batch Adam steps (:func:`distill_lib.training.fit`). The masks
    stay attached throughout, so every pruned weight stays exactly 0.

    The recovery loss is :func:`distill_lib.losses.make_loss` ``(temperature, lam)``:
    cross-entropy on ``targets`` when ``lam = 0``, else
    ``(1 - lam) * CE + lam * T**2 * KL(teacher_T || student_T)`` with ``teacher_logits``.

    Args:
        model: the trained network to prune (modified in place; the masks are left attached).
        X: training inputs ``(N, F)``, finite.
        targets: class indices ``(N,)``.
        sparsities: non-decreasing fractions in ``[0, 1)``, e.g. :func:`sparsity_schedule`;
            one sparsity is one-shot pruning followed by ``epochs`` of fine-tuning.
        epochs: fine-tuning epochs per step (>= 0; 0 measures pruning alone).
        lr: Adam's learning rate for fine-tuning (finite, > 0).
        teacher_logits: the teacher's logits on ``X``, ``(N, C)``; required when ``lam > 0``,
            unused when ``lam = 0``.
        temperature, lam: the distillation loss's ``T`` (> 0) and ``λ`` (in ``[0, 1]``).
        scope: ``"global"`` or ``"layer"``.
        eval_set: ``(X_eval, targets_eval)`` to measure accuracy after each step (normally the
            validation set), or ``None``.
        seed: seeds the fine-tuning (step ``k`` uses ``seed + k``), >= 0.

    Shape:
        X ``(N, F)``, targets ``(N,)``, teacher_logits ``(N, C)`` with ``C`` the model's outputs.

    Returns:
        A :class:`PruneHistory`, one entry per step.

    Raises:
        TypeError, ValueError: any argument out of range, ``sparsities`` decreasing or below what
            the model has already lost, a NaN or infinite weight, input or teacher logit,
            ``lam > 0`` without ``teacher_logits``; all checked before the first weight is pruned
            (the model's weights, masks and train/eval mode are untouched on error).

    Example::

        >>> history = prune_and_finetune(student, split.X_train, split.y_train,
        ...     sparsities=sparsity_schedule(0.9, 5), epochs=40, lr=0.03,
        ...     teacher_logits=teacher_logits, lam=0.9, eval_set=(split.X_val, split.y_val))
        >>> history.sparsity[-1]   # round(0.9 * 9472) / 9472 of the 64-128-10 student's weights
        0.9000211148648649
    """
    values = check_sparsities(sparsities)
    if any(b < a for a, b in zip(values, values[1:])):
        raise ValueError(f"sparsities={values} must not decrease: pruning never revives weights")
    epochs = check_int("epochs", epochs, low=0)
    scope = check_scope(scope)
    loss_fn = make_loss(temperature=temperature, lam=lam)  # checks temperature and lam
    lam = check_lam(lam)
    lr = check_real("lr", lr)
    if not (math.isfinite(lr) and lr > 0):
        raise ValueError(f"lr={lr!r} is out of range; allowed: a finite number > 0 (Adam's learning rate)")
    seed = check_int("seed", seed, low=0)
    layers = prunable_layers(model)
    check_finite_weights(layers)
    check_not_reviving(layers, values[0], scope)
    num_classes = list(layers.values())[-1].out_features
    X, targets = check_eval_set((X, targets), name="(X, targets)", num_classes=num_classes)
    first = next(iter(layers.values()))
    if X.shape[1] != first.in_features:
        raise ValueError(f"X has {X.shape[1]} features per row but the model's first layer takes {first.in_features}")
    if lam > 0:
        if teacher_logits is None:
            raise ValueError(f"lam={lam} distils from a teacher: give teacher_logits (N, C), or lam=0 for cross-entropy")
        check_logits("teacher_logits", teacher_logits)
        if teacher_logits.shape != (len(X), num_classes):
            raise ValueError(
                f"teacher_logits has shape {tuple(teacher_logits.shape)}; it must be ({len(X)}, {num_classes}): "
                "one row per row of X, one column per output of the model"
            )
    else:
        teacher_logits = None  # cross-entropy does not use them
    if eval_set is not None:
        eval_set = check_eval_set(eval_set, num_classes=num_classes)
        if eval_set[0].shape[1] != X.shape[1]:
            raise ValueError(f"eval_set[0] has {eval_set[0].shape[1]} features but X has {X.shape[1]}; they must match")
    return _prune_and_finetune(model, X, targets, teacher_logits, loss_fn, sparsities=values, epochs=epochs,
                               lr=lr, scope=scope, eval_set=eval_set, seed=seed)
