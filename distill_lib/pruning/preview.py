"""The sparsity widget's plain function: prune a copy, return what to draw (notebook 05, section 5).

The widget in notebook 05 only draws what :func:`prune_preview` returns; the
tests call the function directly, so the widget itself stays thin.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor, nn

from ..training import evaluate
from .apply import copy_model, prunable_layers, prune_magnitude, weight_sparsity
from .masks import _check_scope, check_sparsity

__all__ = ["PrunePreview", "prune_preview"]


@dataclass
class PrunePreview:
    """What the sparsity widget shows: one layer's weight and mask, and the model's accuracy."""

    layer: str
    weight: Tensor  # (out, in) after pruning
    mask: Tensor  # (out, in), 1 keep / 0 pruned
    accuracy: float
    sparsity: float  # achieved, over all prunable layers
    layer_sparsity: float  # achieved, in the layer shown


def prune_preview(
    model: nn.Module,
    sparsity: float,
    X: Tensor,
    targets: Tensor,
    *,
    scope: str = "global",
    layer: str | None = None,
) -> PrunePreview:
    """Prune a copy of ``model`` one-shot and return what the widget draws.

    Args:
        model: the trained network (not changed).
        sparsity: fraction of weights to prune, in ``[0, 1)``.
        X, targets: evaluation inputs ``(N, F)`` and class indices ``(N,)``.
        scope: ``"global"`` or ``"layer"``.
        layer: the layer to show (default: the first linear layer).

    Returns:
        A :class:`PrunePreview`.

    Raises:
        TypeError, ValueError: ``sparsity`` or ``scope`` out of range; ``layer``
            missing or not an ``nn.Linear`` (see :func:`~distill_lib.pruning.prunable_layers`).

    Example::

        >>> view = prune_preview(student, 0.9, split.X_val, split.y_val, scope="layer")
        >>> view.layer, view.layer_sparsity
        ('0', 0.9000244140625)
    """
    sparsity = check_sparsity(sparsity)
    scope = _check_scope(scope)
    if layer is None:
        layer = next(iter(prunable_layers(model)))
    else:
        prunable_layers(model, [layer])  # validates the name
    pruned = copy_model(model)
    masks = prune_magnitude(pruned, sparsity, scope=scope)
    mask = masks[layer]  # (out, in)
    return PrunePreview(
        layer=layer,
        weight=dict(pruned.named_modules())[layer].weight.detach().clone(),
        mask=mask,
        accuracy=evaluate(pruned, X, targets),
        sparsity=weight_sparsity(pruned),
        layer_sparsity=1.0 - mask.mean().item(),
    )
