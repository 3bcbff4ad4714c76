r"""Masks on a model: prune in place, make it permanent, count zeros, scan (notebook 05, sections 1-2).

:func:`prune_magnitude` attaches each mask with PyTorch's own
:func:`torch.nn.utils.prune.custom_from_mask`: the layer keeps ``weight_orig``
and a buffer ``weight_mask`` and recomputes ``weight = weight_orig * weight_mask``
before every forward pass. Gradients of pruned weights are therefore exactly
zero, so fine-tuning cannot bring them back. The model keeps its size and its
speed: a dense matrix full of zeros costs as much as any other dense matrix
(:func:`make_permanent` folds the masks in, and the model is dense again).

How many weights each call prunes, and in what order among ties: see
:mod:`distill_lib.pruning.masks`.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence

from torch import Tensor, nn
from torch.nn.utils import prune as torch_prune

from .._validation import check_eval_set, check_module
from ..training import predict_logits
from ._checks import check_finite_weights, check_not_reviving, check_scope, check_sparsities
from .masks import check_sparsity, current_mask, global_masks, magnitude_scores, smallest_k_mask

__all__ = [
    "prunable_layers",
    "copy_model",
    "prune_magnitude",
    "make_permanent",
    "weight_sparsity",
    "accuracy_vs_sparsity",
    "layer_sensitivity",
]

PRUNABLE = (nn.Linear,)


def accuracy(model: nn.Module, X: Tensor, targets: Tensor) -> float:
    """Accuracy in %, counted exactly (no float32 mean); ``model`` is put in eval mode."""
    hits = int((predict_logits(model, X).argmax(dim=1) == targets).sum())  # (N,) -> count
    return 100.0 * hits / len(targets)


def prunable_layers(model: nn.Module, layers: Iterable[str] | None = None) -> dict[str, nn.Linear]:
    """The layers whose weights can be pruned: every ``nn.Linear``, by name, in model order.

    Args:
        model: any module, e.g. a student from :func:`distill_lib.student.train_student`.
        layers: names (as in ``model.named_modules()``, e.g. ``["0", "2"]``) to
            restrict to; ``None`` means all linear layers.

    Raises:
        TypeError: a named layer is not an ``nn.Linear`` (e.g. a ReLU).
        ValueError: a name does not exist, or the model has no linear layer.

    Example::

        >>> list(prunable_layers(mlp([64, 128, 10])))
        ['0', '2']
    """
    check_module("model", model)
    modules = dict(model.named_modules())
    if layers is None:
        found = {name: m for name, m in modules.items() if isinstance(m, PRUNABLE)}
        if not found:
            raise ValueError(f"{type(model).__name__} has no nn.Linear layer to prune")
        return found
    if isinstance(layers, str) or not isinstance(layers, Iterable):
        raise TypeError(f"layers must be a list of layer names, got {layers!r}")
    found = {}
    for name in layers:
        if name not in modules:
            raise ValueError(f"layer {name!r} does not exist; the model's layers are {list(modules)[1:]}")
        module = modules[name]
        if not isinstance(module, PRUNABLE):
            raise TypeError(
                f"layer {name!r} is a {type(module).__name__}, which cannot be pruned; "
                "prunable layers are nn.Linear only"
            )
        found[name] = module
    if not found:
        raise ValueError("layers is empty; name at least one nn.Linear layer")
    return found


def copy_model(model: nn.Module) -> nn.Module:
    """``copy.deepcopy(model)`` that also works on a model carrying pruning masks.

    A layer pruned by :mod:`torch.nn.utils.prune` holds ``weight`` as
    ``weight_orig * weight_mask``, a tensor computed with autograd, which
    ``copy.deepcopy`` refuses ("Only Tensors created explicitly by the user
    (graph leaves) support the deepcopy protocol"). The copy gets a detached
    clone of it instead; its forward pre-hook recomputes it anyway.

    Example::

        >>> pruned = mlp([64, 128, 10]); _ = prune_magnitude(pruned, 0.5)
        >>> twin = copy_model(pruned)
    """
    check_module("model", model)
    memo = {id(m.weight): m.weight.detach().clone() for m in model.modules() if current_mask(m) is not None}
    return copy.deepcopy(model, memo)


def prune(model: nn.Module, sparsity: float, scope: str, layers: dict[str, nn.Linear] | None = None) -> dict[str, Tensor]:
    """The unchecked core of :func:`prune_magnitude` (arguments already validated)."""
    chosen = layers if layers is not None else prunable_layers(model)
    scores = {name: magnitude_scores(m.weight, current_mask(m)) for name, m in chosen.items()}  # |w|, -1 if pruned
    if scope == "global":
        new = global_masks(list(scores.values()), sparsity, [m.weight.dtype for m in chosen.values()])
        masks = dict(zip(chosen, new))
    else:
        masks = {name: smallest_k_mask(s, round(sparsity * s.numel())).to(chosen[name].weight.dtype)
                 for name, s in scores.items()}
    for name, module in chosen.items():
        if torch_prune.is_pruned(module):
            module.weight_mask.copy_(masks[name])  # the buffer the forward pre-hook multiplies by
            module.weight = module.weight_orig * module.weight_mask
        else:
            torch_prune.custom_from_mask(module, "weight", masks[name])
    return masks


def prune_magnitude(
    model: nn.Module,
    sparsity: float,
    *,
    scope: str = "global",
    layers: Iterable[str] | None = None,
) -> dict[str, Tensor]:
    """Prune ``model``'s linear weights by magnitude, in place, with PyTorch's pruning masks.

    Each layer gets ``weight_orig`` (a parameter) and ``weight_mask`` (a buffer)
    through :func:`torch.nn.utils.prune.custom_from_mask`, and ``weight`` becomes
    ``weight_orig * weight_mask``, recomputed before every forward pass. Biases
    are not pruned. Calling it again on a pruned model raises the sparsity:
    weights pruned before stay pruned (never revived).

    Args:
        model: the network to prune (modified in place).
        sparsity: fraction of weights to prune, in ``[0, 1)``: of each layer
            (``scope="layer"``) or of all the chosen layers together (``"global"``).
        scope: ``"layer"`` or ``"global"``.
        layers: names of the ``nn.Linear`` layers to prune; ``None`` means all.

    Returns:
        ``{layer name: mask}`` (``1.0`` keep, ``0.0`` pruned).

    Raises:
        TypeError, ValueError: see :func:`~distill_lib.pruning.check_sparsity` and
            :func:`prunable_layers`; ``ValueError`` if a weight is NaN or infinite, or
            ``sparsity`` is below what a layer (or the model, for ``"global"``) has
            already lost. All checked before any mask is attached.

    Example::

        >>> student = mlp([64, 128, 10])
        >>> masks = prune_magnitude(student, 0.9, scope="global")
        >>> weight_sparsity(student)   # round(0.9 * 9472) / 9472
        0.9000211148648649
    """
    sparsity = check_sparsity(sparsity)
    scope = check_scope(scope)
    chosen = prunable_layers(model, layers)
    check_finite_weights(chosen)
    check_not_reviving(chosen, sparsity, scope)
    return prune(model, sparsity, scope, chosen)


def make_permanent(model: nn.Module) -> nn.Module:
    """Fold every pruning mask into its weight (:func:`torch.nn.utils.prune.remove`), in place.

    Afterwards ``weight`` is an ordinary parameter that holds zeros where the
    mask was 0; ``weight_orig``, ``weight_mask`` and the forward hook are gone.
    The model has exactly the dense model's parameters, bytes and speed.

    Returns:
        ``model``, for chaining.

    Example::

        >>> dense_again = make_permanent(copy_model(pruned))
    """
    check_module("model", model)
    for module in model.modules():
        if current_mask(module) is not None:
            torch_prune.remove(module, "weight")
    return model


def weight_sparsity(model: nn.Module, layers: Iterable[str] | None = None) -> float:
    """Fraction of the linear layers' weights that are exactly zero (biases not counted).

    Args:
        model: any module with ``nn.Linear`` layers, masked or not.
        layers: names of the layers to count (see :func:`prunable_layers`); ``None`` means all.

    Example::

        >>> weight_sparsity(mlp([64, 128, 10]))
        0.0
    """
    chosen = prunable_layers(model, layers)
    zeros = sum(int((m.weight == 0).sum()) for m in chosen.values())
    total = sum(m.weight.numel() for m in chosen.values())
    return zeros / total


# ---------------------------------------------------------------- scans (one-shot, no fine-tuning)


def accuracy_vs_sparsity(
    model: nn.Module,
    sparsities: Sequence[float],
    *,
    eval_set: tuple[Tensor, Tensor],
    scope: str = "global",
) -> list[float]:
    """One-shot magnitude pruning, no fine-tuning: accuracy in % of a pruned copy at each sparsity.

    ``model`` itself is not changed.

    Args:
        model: the trained network.
        sparsities: fractions to prune, each in ``[0, 1)``.
        eval_set: ``(X, targets)``, inputs ``(N, F)`` and class indices ``(N,)``,
            normally the validation set (the scan chooses sparsities).
        scope: ``"layer"`` or ``"global"``.

    Returns:
        Accuracies in %, one per sparsity.

    Example::

        >>> accuracy_vs_sparsity(student, [0.0, 0.5, 0.9], eval_set=(split.X_val, split.y_val))
    """
    values = check_sparsities(sparsities)
    scope = check_scope(scope)
    chosen = prunable_layers(model)
    check_finite_weights(chosen)
    X, targets = check_eval_set(eval_set, num_classes=list(chosen.values())[-1].out_features)
    accuracies = []
    for s in values:
        pruned = copy_model(model)
        prune(pruned, s, scope)
        accuracies.append(accuracy(pruned, X, targets))
    return accuracies


def layer_sensitivity(
    model: nn.Module,
    sparsities: Sequence[float],
    *,
    eval_set: tuple[Tensor, Tensor],
) -> dict[str, list[float]]:
    """Sensitivity scan: prune one layer at a time, leave the rest dense; accuracy in %.

    Han et al. (2015, section 5, "Discussion") plot how accuracy drops as each
    of AlexNet's layers alone is pruned (Figure 6 of arXiv:1506.02626v3; Figure 5
    there is the accuracy/parameters trade-off curve) and use it to choose each
    layer's threshold. ``model`` itself is not changed.

    Args:
        model: the trained network.
        sparsities: fractions of the one layer to prune, each in ``[0, 1)``.
        eval_set: ``(X, targets)``, normally the validation set.

    Returns:
        ``{layer name: [accuracy in % at each sparsity]}`` for every ``nn.Linear`` layer.
    """
    values = check_sparsities(sparsities)
    chosen = prunable_layers(model)
    check_finite_weights(chosen)
    X, targets = check_eval_set(eval_set, num_classes=list(chosen.values())[-1].out_features)
    result = {}
    for name in chosen:
        accuracies = []
        for s in values:
            pruned = copy_model(model)
            prune(pruned, s, "layer", {name: dict(pruned.named_modules())[name]})
            accuracies.append(accuracy(pruned, X, targets))
        result[name] = accuracies
    return result
