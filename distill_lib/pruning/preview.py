"""The sparsity widget's plain functions: prune a copy, and draw it (notebook 05, section 6).

The widget in notebook 05 calls :func:`prune_preview` and :func:`draw_preview`;
the tests and ``tools/bench_nb05.py`` call the same functions directly, so the
widget itself stays thin.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from torch import Tensor, nn

from .._validation import check_eval_set
from ._checks import check_finite_weights, check_scope
from .apply import accuracy, copy_model, prunable_layers, prune, weight_sparsity
from .masks import check_sparsity

__all__ = ["PrunePreview", "prune_preview", "draw_preview"]


@dataclass
class PrunePreview:
    """What the sparsity widget shows: one layer's weight and mask, and the model's accuracy in %."""

    layer: str
    weight: Tensor  # (out, in) after pruning
    mask: Tensor  # (out, in), 1 keep / 0 pruned
    accuracy: float  # in %, on the eval_set
    sparsity: float  # achieved, over all prunable layers
    layer_sparsity: float  # achieved, in the layer shown
    requested: float = 0.0  # the sparsity asked for


def prune_preview(
    model: nn.Module,
    sparsity: float,
    *,
    eval_set: tuple[Tensor, Tensor],
    scope: str = "global",
    layer: str | None = None,
) -> PrunePreview:
    """Prune a copy of ``model`` one-shot and return what the widget draws.

    Args:
        model: the trained network (not changed).
        sparsity: fraction of weights to prune, in ``[0, 1)``.
        eval_set: ``(X, targets)``, normally the validation set.
        scope: ``"global"`` or ``"layer"``.
        layer: the layer to show (default: the first linear layer).

    Returns:
        A :class:`PrunePreview`.

    Raises:
        TypeError, ValueError: ``sparsity`` or ``scope`` out of range; ``layer``
            missing or not an ``nn.Linear`` (see :func:`~distill_lib.pruning.prunable_layers`);
            a weight not finite; a bad ``eval_set``.

    Example::

        >>> view = prune_preview(student, 0.9, eval_set=(split.X_val, split.y_val), scope="layer")
        >>> view.layer, view.layer_sparsity
        ('0', 0.9000244140625)
    """
    sparsity = check_sparsity(sparsity)
    scope = check_scope(scope)
    layers = prunable_layers(model)
    check_finite_weights(layers)
    X, targets = check_eval_set(eval_set, num_classes=list(layers.values())[-1].out_features)
    if layer is None:
        layer = next(iter(layers))
    else:
        prunable_layers(model, [layer])  # validates the name
    pruned = copy_model(model)
    masks = prune(pruned, sparsity, scope)
    mask = masks[layer]  # (out, in)
    return PrunePreview(
        layer=layer,
        weight=dict(pruned.named_modules())[layer].weight.detach().clone(),
        mask=mask,
        accuracy=accuracy(pruned, X, targets),
        sparsity=weight_sparsity(pruned),
        layer_sparsity=1.0 - mask.mean().item(),
        requested=sparsity,
    )


def draw_preview(
    view: PrunePreview, sparsities: Sequence[float], accuracies: Sequence[float], *, eval_name: str = "validation"
):
    """The slider's picture: ``view``'s weights (pruned ones blank), its mask (with a key), and the one-shot curve.

    Args:
        view: what :func:`prune_preview` returned.
        sparsities, accuracies: the one-shot curve (accuracy in %) on which ``view`` is marked.
        eval_name: the set ``view`` and the curve were measured on, for the accuracy panel's labels.

    Returns:
        A matplotlib ``Figure`` with three panels, every axis label inside the picture.

    Raises:
        TypeError: ``view`` is not a :class:`PrunePreview`; ``eval_name`` not a non-empty string.
        ValueError: ``sparsities`` and ``accuracies`` differ in length.

    Example::

        >>> fig = draw_preview(prune_preview(student, 0.9, eval_set=val_set), [0.0, 0.9], [98.3, 17.0])
    """
    if not isinstance(view, PrunePreview):
        raise TypeError(f"view must be a PrunePreview (from prune_preview), got {type(view).__name__}")
    if len(sparsities) != len(accuracies):
        raise ValueError(f"sparsities has {len(sparsities)} values but accuracies {len(accuracies)}; they must match")
    if not isinstance(eval_name, str) or not eval_name:
        raise TypeError(f"eval_name must be a non-empty string such as 'validation', got {eval_name!r}")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    fig, axes = plt.subplots(1, 3, figsize=(11, 3.4), gridspec_kw={"width_ratios": [1.4, 1.4, 1.2]})
    shown = view.weight.abs().masked_fill(view.mask == 0, float("nan"))  # (out, in), pruned ones blank
    axes[0].imshow(shown.numpy(), cmap="viridis", aspect="auto", interpolation="nearest")
    axes[0].set_title(f"|weight| of layer {view.layer} {tuple(view.weight.shape)}")
    axes[1].imshow(view.mask.numpy(), cmap="gray_r", vmin=0, vmax=1, aspect="auto", interpolation="nearest")
    axes[1].set_title(f"mask: {view.layer_sparsity:.1%} of this layer pruned")
    axes[1].legend(handles=[Patch(facecolor="black", label="kept (1)"),
                            Patch(facecolor="white", edgecolor="gray", label="pruned (0)")],
                   loc="upper right", fontsize=7, framealpha=0.9)
    for ax in axes[:2]:
        ax.set_xlabel("input")
        ax.set_ylabel("unit")
    axes[2].plot(list(sparsities), list(accuracies), "o-", color="gray")
    axes[2].plot([view.requested], [view.accuracy], "o", color="red", markersize=10)
    axes[2].set_ylim(0, 100)
    axes[2].set_xlabel("sparsity")
    axes[2].set_ylabel(f"{eval_name} accuracy (%)")
    axes[2].set_title(f"one-shot, {eval_name}: {view.accuracy:.1f} %")
    fig.subplots_adjust(left=0.07, right=0.99, top=0.9, bottom=0.16, wspace=0.35)  # no clipped labels
    return fig
