r"""Pruning: magnitude masks, prune-and-fine-tune, and removing hidden units (notebook 05).

Two ways to make a network sparse:

* **Unstructured magnitude pruning** zeroes the individual weights with the
  smallest absolute value, in each layer separately (``scope="layer"``) or over
  all layers at once (``scope="global"``). The zeros are kept in place by a
  *mask*, attached with PyTorch's own :func:`torch.nn.utils.prune.custom_from_mask`:
  the layer keeps ``weight_orig`` and a buffer ``weight_mask`` and recomputes
  ``weight = weight_orig * weight_mask`` before every forward pass. Gradients of
  pruned weights are therefore exactly zero, so fine-tuning cannot bring them
  back. The model keeps its size and its speed: a dense matrix full of zeros
  costs as much as any other dense matrix.
* **Structured pruning** removes whole hidden units (a row of one weight matrix,
  the matching bias, and the matching column of the next). The result is a
  genuinely smaller dense network, e.g. 64-128-10 -> 64-64-10.

**How many weights are pruned.** ``sparsity`` is the fraction to prune, in
``[0, 1)``. A tensor of ``n`` weights loses exactly ``k = round(sparsity * n)``
of them (Python's ``round``, half to even, as in ``torch.nn.utils.prune``);
with ``scope="global"``, ``k = round(sparsity * N)`` over the ``N`` weights of
all layers together.

**Ties.** Weights are ranked by ``|w|`` with a *stable* sort, so among weights
of equal magnitude the one that comes first in row-major order is pruned first;
with ``scope="global"`` layers are concatenated in the order of
``model.named_modules()``. Weights that an earlier call already pruned rank
below every other weight, so pruning again never revives a weight.
PyTorch's ``l1_unstructured`` ranks with ``torch.topk``, whose order among ties
is unspecified; without ties the two give identical masks (the tests check it).

References: S. Han, J. Pool, J. Tran, W. Dally, *Learning both Weights and
Connections for Efficient Neural Networks*, NeurIPS 2015 (prune, retrain,
repeat); H. Li et al., *Pruning Filters for Efficient ConvNets*, ICLR 2017
(remove whole units by the L1 norm of their weights).
"""

from __future__ import annotations

import copy
import statistics
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial

import torch
from torch import Tensor, nn
from torch.nn.utils import prune as torch_prune

from ._validation import check_int, check_logits, check_real, check_targets
from .losses import cross_entropy_loss, distillation_loss
from .training import evaluate, fit

__all__ = [
    "SCOPES",
    "check_sparsity",
    "magnitude_mask",
    "global_magnitude_masks",
    "prunable_layers",
    "copy_model",
    "prune_magnitude",
    "make_permanent",
    "weight_sparsity",
    "accuracy_vs_sparsity",
    "layer_sensitivity",
    "sparsity_schedule",
    "PruneHistory",
    "prune_and_finetune",
    "units_to_keep",
    "remove_hidden_units",
    "PrunePreview",
    "prune_preview",
    "time_forward",
    "speedup",
]

#: ``"layer"``: every layer loses the same fraction; ``"global"``: one threshold for all layers.
SCOPES = ("layer", "global")
PRUNABLE = (nn.Linear,)


# ---------------------------------------------------------------- validation


def check_sparsity(sparsity: object, name: str = "sparsity") -> float:
    """Validate a fraction of weights (or units) to prune: a real number in ``[0, 1)``."""
    value = check_real(name, sparsity)
    if not 0.0 <= value < 1.0:  # also catches NaN
        raise ValueError(f"{name}={value!r} is out of range; allowed: [0, 1) (the fraction of weights to prune)")
    return value


def _check_weight(name: str, weight: object) -> Tensor:
    if not isinstance(weight, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(weight).__name__}")
    if not weight.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got dtype={weight.dtype}")
    if weight.numel() == 0:
        raise ValueError(f"{name} is empty (shape {tuple(weight.shape)}); nothing to prune")
    bad = (~torch.isfinite(weight.detach())).sum().item()
    if bad:
        raise ValueError(f"{name} contains {bad} NaN or infinite value(s); weights must be finite")
    return weight


def _check_scope(scope: object) -> str:
    if scope not in SCOPES:
        raise ValueError(f"scope={scope!r} is not allowed; choose one of {SCOPES}")
    return scope  # type: ignore[return-value]


def _check_model(model: object) -> nn.Module:
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    return model


# ---------------------------------------------------------------- masks


def _keep_mask(scores: Tensor, k: int, dtype: torch.dtype) -> Tensor:
    """1 everywhere except the ``k`` lowest ``scores`` (stable: earlier index first among ties)."""
    flat = scores.reshape(-1)  # (n,)
    mask = torch.ones(flat.numel(), dtype=dtype)
    if k:
        order = torch.argsort(flat, stable=True)  # (n,) ascending
        mask[order[:k]] = 0
    return mask.reshape(scores.shape)


def _scores(weight: Tensor, previous_mask: Tensor | None) -> Tensor:
    """``|w|``, with weights that are already pruned ranked below everything (score -1)."""
    scores = weight.detach().abs().to(torch.float64)
    if previous_mask is not None:
        scores = scores.masked_fill(previous_mask.detach() == 0, -1.0)
    return scores


def magnitude_mask(weight: Tensor, sparsity: float) -> Tensor:
    r"""Mask that prunes the ``round(sparsity * n)`` smallest-magnitude entries of ``weight``.

    The same mask as :func:`torch.nn.utils.prune.l1_unstructured` (``amount=sparsity``),
    except that ties are broken deterministically: among equal ``|w|`` the entry
    that comes first in row-major order is pruned first.

    Args:
        weight: any floating-point tensor of finite values (a layer's weights).
        sparsity: the fraction of entries to prune, in ``[0, 1)``.

    Shape:
        weight ``(*)``; output the same shape.

    Returns:
        A mask of ``weight``'s dtype: ``1.0`` keeps an entry, ``0.0`` prunes it
        (PyTorch's convention). It holds exactly ``round(sparsity * n)`` zeros.

    Raises:
        TypeError: ``weight`` is not a floating-point tensor; ``sparsity`` is not a number.
        ValueError: ``sparsity`` outside ``[0, 1)``; ``weight`` empty or not finite.

    Example::

        >>> magnitude_mask(torch.tensor([[0.3, -0.1], [0.2, -0.4]]), sparsity=0.5)
        tensor([[1., 0.],
                [0., 1.]])
    """
    _check_weight("weight", weight)
    sparsity = check_sparsity(sparsity)
    k = round(sparsity * weight.numel())
    return _keep_mask(_scores(weight, None), k, weight.dtype)


def global_magnitude_masks(weights: Sequence[Tensor], sparsity: float) -> list[Tensor]:
    r"""Masks that prune the ``round(sparsity * N)`` smallest ``|w|`` over all tensors together.

    Like :func:`torch.nn.utils.prune.global_unstructured` with
    ``pruning_method=L1Unstructured``: one threshold for every layer, so layers
    with many small weights lose more. Ties: see :func:`magnitude_mask`, with the
    tensors concatenated in the order given.

    Args:
        weights: one or more floating-point tensors (not necessarily the same shape).
        sparsity: the fraction of all ``N`` entries to prune, in ``[0, 1)``.

    Returns:
        One mask per tensor (``1.0`` keep, ``0.0`` prune), holding
        ``round(sparsity * N)`` zeros between them.

    Example::

        >>> a, b = torch.tensor([0.1, 0.2]), torch.tensor([3.0, 0.05])
        >>> global_magnitude_masks([a, b], sparsity=0.5)
        [tensor([0., 1.]), tensor([1., 0.])]
    """
    if isinstance(weights, Tensor) or not isinstance(weights, Sequence) or not weights:
        raise TypeError("weights must be a non-empty list of tensors (use magnitude_mask for one tensor)")
    for i, w in enumerate(weights):
        _check_weight(f"weights[{i}]", w)
    sparsity = check_sparsity(sparsity)
    return _global_masks([_scores(w, None) for w in weights], sparsity, [w.dtype for w in weights])


def _global_masks(scores: list[Tensor], sparsity: float, dtypes: list[torch.dtype]) -> list[Tensor]:
    flat = torch.cat([s.reshape(-1) for s in scores])  # (N,)
    mask = _keep_mask(flat, round(sparsity * flat.numel()), torch.float64)
    masks, start = [], 0
    for s, dtype in zip(scores, dtypes):
        masks.append(mask[start : start + s.numel()].reshape(s.shape).to(dtype))
        start += s.numel()
    return masks


# ---------------------------------------------------------------- masks on a model


def prunable_layers(model: nn.Module, layers: Iterable[str] | None = None) -> dict[str, nn.Linear]:
    """The layers whose weights can be pruned: every ``nn.Linear``, by name, in model order.

    Args:
        model: any module, e.g. a student from :func:`distill_lib.distillation.train_student`.
        layers: names (as in ``model.named_modules()``, e.g. ``["0", "2"]``) to
            restrict to; ``None`` means all linear layers.

    Raises:
        TypeError: a named layer is not an ``nn.Linear`` (e.g. a ReLU).
        ValueError: a name does not exist, or the model has no linear layer.

    Example::

        >>> list(prunable_layers(mlp([64, 128, 10])))
        ['0', '2']
    """
    _check_model(model)
    modules = dict(model.named_modules())
    if layers is None:
        found = {name: m for name, m in modules.items() if isinstance(m, PRUNABLE)}
        if not found:
            raise ValueError(f"{type(model).__name__} has no nn.Linear layer to prune")
        return found
    if isinstance(layers, str):
        raise TypeError(f"layers must be a list of layer names, got the string {layers!r}")
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
    _check_model(model)
    memo = {
        id(m.weight): m.weight.detach().clone()
        for m in model.modules()
        if torch_prune.is_pruned(m) and hasattr(m, "weight_mask")
    }
    return copy.deepcopy(model, memo)


def _current_mask(module: nn.Module) -> Tensor | None:
    return getattr(module, "weight_mask", None) if torch_prune.is_pruned(module) else None


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
        TypeError, ValueError: see :func:`check_sparsity` and :func:`prunable_layers`;
            also ``ValueError`` if ``sparsity`` is below what a layer (or the
            model, for ``"global"``) has already lost.

    Example::

        >>> student = mlp([64, 128, 10])
        >>> masks = prune_magnitude(student, 0.9, scope="global")
        >>> weight_sparsity(student)   # round(0.9 * 9472) / 9472
        0.9000211148648649
    """
    sparsity = check_sparsity(sparsity)
    scope = _check_scope(scope)
    chosen = prunable_layers(model, layers)
    scores = {name: _scores(m.weight, _current_mask(m)) for name, m in chosen.items()}
    already = {name: int((s < 0).sum()) for name, s in scores.items()}
    if scope == "global":
        total = sum(s.numel() for s in scores.values())
        if round(sparsity * total) < sum(already.values()):
            raise ValueError(
                f"sparsity={sparsity!r} is below the {sum(already.values()) / total:.4f} already pruned; "
                "pruning never revives weights (start from an unpruned copy)"
            )
        new = _global_masks(list(scores.values()), sparsity, [m.weight.dtype for m in chosen.values()])
        masks = dict(zip(chosen, new))
    else:
        masks = {}
        for name, s in scores.items():
            if round(sparsity * s.numel()) < already[name]:
                raise ValueError(
                    f"sparsity={sparsity!r} is below the {already[name] / s.numel():.4f} that layer {name!r} "
                    "has already lost; pruning never revives weights (start from an unpruned copy)"
                )
            masks[name] = _keep_mask(s, round(sparsity * s.numel()), chosen[name].weight.dtype)
    for name, module in chosen.items():
        if torch_prune.is_pruned(module):
            module.weight_mask.copy_(masks[name])  # the buffer the forward pre-hook multiplies by
            module.weight = module.weight_orig * module.weight_mask
        else:
            torch_prune.custom_from_mask(module, "weight", masks[name])
    return masks


def make_permanent(model: nn.Module) -> nn.Module:
    """Fold every pruning mask into its weight (:func:`torch.nn.utils.prune.remove`), in place.

    Afterwards ``weight`` is an ordinary parameter that holds zeros where the
    mask was 0; ``weight_orig``, ``weight_mask`` and the forward hook are gone.
    The model has exactly the dense model's parameters, bytes and speed.

    Returns:
        ``model``, for chaining.
    """
    _check_model(model)
    for module in model.modules():
        if torch_prune.is_pruned(module) and hasattr(module, "weight_mask"):
            torch_prune.remove(module, "weight")
    return model


def weight_sparsity(model: nn.Module, layers: Iterable[str] | None = None) -> float:
    """Fraction of the linear layers' weights that are exactly zero (biases not counted).

    Example::

        >>> weight_sparsity(mlp([64, 128, 10]))
        0.0
    """
    chosen = prunable_layers(model, layers)
    zeros = sum(int((m.weight == 0).sum()) for m in chosen.values())
    total = sum(m.weight.numel() for m in chosen.values())
    return zeros / total


def _check_sparsities(sparsities: object) -> list[float]:
    if isinstance(sparsities, (str, bytes)) or not isinstance(sparsities, Iterable):
        raise TypeError(f"sparsities must be a list of fractions, got {type(sparsities).__name__}")
    values = [check_sparsity(s, f"sparsities[{i}]") for i, s in enumerate(sparsities)]
    if not values:
        raise ValueError("sparsities is empty; give at least one fraction in [0, 1)")
    return values


def accuracy_vs_sparsity(
    model: nn.Module,
    sparsities: Sequence[float],
    X: Tensor,
    targets: Tensor,
    *,
    scope: str = "global",
) -> list[float]:
    """One-shot magnitude pruning, no fine-tuning: accuracy of a pruned copy at each sparsity.

    ``model`` itself is not changed.

    Args:
        model: the trained network.
        sparsities: fractions to prune, each in ``[0, 1)``.
        X, targets: evaluation inputs ``(N, F)`` and class indices ``(N,)``.
        scope: ``"layer"`` or ``"global"``.

    Returns:
        Accuracies in ``[0, 1]``, one per sparsity.
    """
    values = _check_sparsities(sparsities)
    scope = _check_scope(scope)
    _check_model(model)
    accuracies = []
    for s in values:
        pruned = copy_model(model)
        prune_magnitude(pruned, s, scope=scope)
        accuracies.append(evaluate(pruned, X, targets))
    return accuracies


def layer_sensitivity(
    model: nn.Module,
    sparsities: Sequence[float],
    X: Tensor,
    targets: Tensor,
) -> dict[str, list[float]]:
    """Sensitivity scan (Han et al. 2015, fig. 6): prune one layer at a time, leave the rest dense.

    Returns:
        ``{layer name: [accuracy at each sparsity]}`` for every ``nn.Linear`` layer.
    """
    values = _check_sparsities(sparsities)
    result = {}
    for name in prunable_layers(model):
        accuracies = []
        for s in values:
            pruned = copy_model(model)
            prune_magnitude(pruned, s, scope="layer", layers=[name])
            accuracies.append(evaluate(pruned, X, targets))
        result[name] = accuracies
    return result


# ---------------------------------------------------------------- prune and fine-tune


def sparsity_schedule(final_sparsity: float, steps: int) -> list[float]:
    r"""Sparsities for iterative pruning: each step keeps the same fraction of what is left.

    .. math:: s_k = 1 - (1 - s_\text{final})^{k / \text{steps}}, \quad k = 1, \dots, \text{steps}

    so the early steps, where there is plenty to remove, remove more weights,
    and the last steps, where every weight matters, remove fewer.

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
    (:func:`prune_magnitude`, which never revives a pruned weight) and the
    surviving weights are fine-tuned for ``epochs`` full-batch Adam steps
    (:func:`distill_lib.training.fit`). The masks stay attached throughout, so
    the gradient of every pruned weight is zero and it stays exactly 0.

    The recovery loss is cross-entropy on ``targets`` or, if ``teacher_logits``
    are given, the distillation loss of notebook 03:
    ``(1 - lam) * CE + lam * T**2 * KL(teacher_T || student_T)``.

    Args:
        model: the trained network to prune (modified in place; the masks are left attached).
        X: training inputs ``(N, F)``.
        targets: class indices ``(N,)``.
        sparsities: increasing fractions in ``[0, 1)``, e.g. :func:`sparsity_schedule`.
        epochs: fine-tuning epochs per step (>= 0; 0 is one-shot pruning).
        lr: Adam's learning rate for fine-tuning.
        teacher_logits: the teacher's logits on ``X``, ``(N, C)``; ``None`` fine-tunes on labels.
        temperature, lam: the distillation loss's ``T`` and ``λ``.
        scope: ``"global"`` or ``"layer"``.
        eval_on: ``(X_eval, y_eval)`` to measure accuracy after each step (default: ``(X, targets)``).
        seed: seeds the fine-tuning.

    Returns:
        A :class:`PruneHistory`, one entry per step.

    Example::

        >>> history = prune_and_finetune(student, split.X_train, split.y_train,
        ...     sparsities=sparsity_schedule(0.9, 5), epochs=50, teacher_logits=v)
        >>> history.achieved[-1]
        0.9
    """
    values = _check_sparsities(sparsities)
    if any(b < a for a, b in zip(values, values[1:])):
        raise ValueError(f"sparsities={values} must not decrease: pruning never revives weights")
    epochs = check_int("epochs", epochs, low=0)
    scope = _check_scope(scope)
    # Check everything before the first weight is pruned: the model is modified in place.
    num_classes = list(prunable_layers(model).values())[-1].out_features
    if not isinstance(X, Tensor) or X.ndim != 2 or not X.is_floating_point():
        raise TypeError(f"X must be a floating-point tensor of shape (N, F), got {X!r:.60}")
    if len(X) == 0:
        raise ValueError("X is empty; need at least one training example")
    check_targets(targets, len(X), num_classes)
    if teacher_logits is None:
        loss_fn, extras = cross_entropy_loss, {}
    else:
        check_logits("teacher_logits", teacher_logits)
        if len(teacher_logits) != len(X):
            raise ValueError(f"teacher_logits has {len(teacher_logits)} rows but X has {len(X)}; they must match")
        loss_fn = partial(distillation_loss, temperature=temperature, lam=lam)
        loss_fn(teacher_logits[:1], teacher_logits[:1], targets[:1])  # validates temperature and lam
        extras = {"teacher_logits": teacher_logits}
    X_eval, y_eval = eval_on if eval_on is not None else (X, targets)
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


# ---------------------------------------------------------------- structured pruning


def units_to_keep(weight: Tensor, sparsity: float) -> Tensor:
    r"""Indices of the hidden units to keep: the rows of ``weight`` with the largest L1 norm.

    A layer's unit ``j`` owns row ``j`` of its weight (its incoming weights).
    Removing a fraction ``sparsity`` of the units keeps the ``n - round(sparsity * n)``
    rows with the largest :math:`\|W_{j,:}\|_1`, the rows that
    :func:`torch.nn.utils.prune.ln_structured` (``n=1, dim=0``) keeps. Ties: the
    unit that comes first is removed first.

    Args:
        weight: a linear layer's weight ``(out_features, in_features)``.
        sparsity: fraction of units (rows) to remove, in ``[0, 1)``.

    Returns:
        Increasing row indices, int64, ``(n_kept,)``.

    Raises:
        ValueError: the rounding would remove every unit.

    Example::

        >>> units_to_keep(torch.tensor([[1.0, 1.0], [0.1, 0.0], [-3.0, 0.0]]), sparsity=1 / 3)
        tensor([0, 2])
    """
    _check_weight("weight", weight)
    if weight.ndim != 2:
        raise ValueError(f"weight must be 2-D (out_features, in_features), got shape {tuple(weight.shape)}")
    sparsity = check_sparsity(sparsity)
    n = weight.shape[0]
    k = round(sparsity * n)
    if k >= n:
        raise ValueError(f"sparsity={sparsity!r} would remove all {n} units of a layer; keep at least one")
    norms = weight.detach().abs().to(torch.float64).sum(dim=1)  # (out_features,)
    keep = _keep_mask(norms, k, torch.bool)  # (out_features,)
    return torch.nonzero(keep).flatten()


def remove_hidden_units(model: nn.Sequential, sparsity: float) -> nn.Sequential:
    """Structured pruning: a new, smaller MLP without the weakest units of each hidden layer.

    For every hidden ``nn.Linear`` (all but the last), the units chosen by
    :func:`units_to_keep` survive: their rows of the weight and entries of the
    bias are copied, and so are the matching *columns* of the next linear
    layer. The new network computes exactly what the old one computes with
    those units' outputs set to zero; it has fewer parameters and does fewer
    multiplications. ``model`` is not changed.

    Args:
        model: an ``nn.Sequential`` of ``Linear``, ``ReLU`` and ``Dropout`` layers,
            as made by :func:`distill_lib.models.mlp`, with at least one hidden layer.
            Pruning masks, if any, are honoured (the effective weights are used).
        sparsity: fraction of each hidden layer's units to remove, in ``[0, 1)``.

    Returns:
        A new ``nn.Sequential`` of the same kinds of layers, in eval mode.

    Raises:
        TypeError: ``model`` is not an ``nn.Sequential`` of those layers.
        ValueError: ``sparsity`` out of range, or no hidden layer.

    Example::

        >>> small = remove_hidden_units(mlp([64, 128, 10]), sparsity=0.5)
        >>> [m.out_features for m in small if isinstance(m, nn.Linear)]
        [64, 10]
    """
    if not isinstance(model, nn.Sequential):
        raise TypeError(f"model must be an nn.Sequential MLP (see distill_lib.models.mlp), got {type(model).__name__}")
    for i, m in enumerate(model):
        if not isinstance(m, (nn.Linear, nn.ReLU, nn.Dropout)):
            raise TypeError(
                f"layer {i} is a {type(m).__name__}; remove_hidden_units handles Linear, ReLU and Dropout only"
            )
    sparsity = check_sparsity(sparsity)
    linear_positions = [i for i, m in enumerate(model) if isinstance(m, nn.Linear)]
    if len(linear_positions) < 2:
        raise ValueError("model has no hidden layer: there are no units to remove")
    new_layers = [copy_model(m) for m in model]
    previous_keep: Tensor | None = None
    for position in linear_positions:
        old = model[position]
        weight = old.weight.detach()  # (out, in), the effective weight if masked
        bias = old.bias.detach() if old.bias is not None else None
        if previous_keep is not None:
            weight = weight[:, previous_keep]  # drop the columns of removed inputs
        keep = units_to_keep(old.weight, sparsity) if position != linear_positions[-1] else None
        if keep is not None:
            weight = weight[keep]
            bias = bias[keep] if bias is not None else None
        layer = nn.Linear(weight.shape[1], weight.shape[0], bias=bias is not None)
        with torch.no_grad():
            layer.weight.copy_(weight)
            if bias is not None:
                layer.bias.copy_(bias)
        new_layers[position] = layer
        previous_keep = keep
    return nn.Sequential(*new_layers).eval()


# ---------------------------------------------------------------- the widget's function


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
        X, targets: evaluation inputs and class indices.
        scope: ``"global"`` or ``"layer"``.
        layer: the layer to show (default: the first linear layer).

    Returns:
        A :class:`PrunePreview`.

    Example::

        >>> view = prune_preview(student, 0.9, split.X_val, split.y_val, scope="layer")
        >>> view.layer, view.layer_sparsity
        ('0', 0.9000244140625)
    """
    sparsity = check_sparsity(sparsity)
    scope = _check_scope(scope)
    names = list(prunable_layers(model))
    layer = names[0] if layer is None else layer
    prunable_layers(model, [layer])  # validates the name
    pruned = copy_model(model)
    masks = prune_magnitude(pruned, sparsity, scope=scope)
    module = dict(pruned.named_modules())[layer]
    mask = masks[layer]
    return PrunePreview(
        layer=layer,
        weight=module.weight.detach().clone(),
        mask=mask,
        accuracy=evaluate(pruned, X, targets),
        sparsity=weight_sparsity(pruned),
        layer_sparsity=1.0 - mask.mean().item(),
    )


# ---------------------------------------------------------------- timing


def time_forward(
    models: Mapping[str, nn.Module],
    X: Tensor,
    *,
    repeats: int = 21,
    number: int = 20,
) -> dict[str, list[float]]:
    """Seconds per forward pass of each model on ``X``, timed in alternation.

    Each of ``repeats`` rounds times ``number`` forward passes (``torch.no_grad``,
    eval mode) of every model in turn, so that a machine that gets busier or
    quieter slows or speeds them all alike; a first warm-up round is discarded.
    Compare two models with :func:`speedup`, the median of their per-round ratios.

    Args:
        models: ``{name: model}``, each taking ``X``.
        X: a batch of inputs, e.g. ``(1024, 64)``.
        repeats: timed rounds (>= 1).
        number: forward passes per model per round (>= 1).

    Returns:
        ``{name: [seconds per forward pass in each round]}``.

    Example::

        >>> timings = time_forward({"dense": student, "small": small}, torch.rand(1024, 64))
        >>> speedup(timings, "dense", "small")   # > 1: "small" is faster
    """
    if not isinstance(models, Mapping) or not models:
        raise ValueError("models must be a non-empty {name: model} mapping")
    repeats = check_int("repeats", repeats, low=1)
    number = check_int("number", number, low=1)
    for m in models.values():
        _check_model(m).eval()
    times: dict[str, list[float]] = {name: [] for name in models}
    with torch.no_grad():
        for r in range(repeats + 1):
            for name, m in models.items():
                start = time.perf_counter()
                for _ in range(number):
                    m(X)
                elapsed = (time.perf_counter() - start) / number
                if r:  # round 0 warms up
                    times[name].append(elapsed)
    return times


def speedup(timings: Mapping[str, Sequence[float]], baseline: str, name: str) -> float:
    """Median over rounds of ``baseline``'s time divided by ``name``'s: > 1 means ``name`` is faster.

    Args:
        timings: what :func:`time_forward` returned.
        baseline, name: two of its keys.
    """
    for key in (baseline, name):
        if key not in timings:
            raise ValueError(f"{key!r} is not one of the timed models {list(timings)}")
    return statistics.median(b / t for b, t in zip(timings[baseline], timings[name]))
