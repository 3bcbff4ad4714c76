r"""Magnitude masks on plain tensors: exact sparsity, ties, one layer or all (notebook 05, section 1).

A *mask* has the shape of the weights it prunes: ``1.0`` keeps a weight, ``0.0``
prunes it (PyTorch's convention), and the pruned weights are
:math:`W' = M \odot W`. Magnitude pruning keeps the weights with the largest
:math:`|w|`, in each tensor separately (:func:`magnitude_mask`) or over several
tensors at once (:func:`global_magnitude_masks`, ``scope="global"`` elsewhere in
this package).

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
Notebook 05's appendix shows a threshold missing the count when weights tie.

The shown core (notebook 05's cell ``# Saved in distill_lib/pruning/masks.py``)
is :func:`smallest_k_mask` and :func:`_magnitude_mask`; the public
:func:`magnitude_mask` validates its input, then calls it.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.nn.utils import prune as torch_prune

from .._validation import check_finite_tensor, check_real

__all__ = ["SCOPES", "check_sparsity", "smallest_k_mask", "magnitude_mask", "global_magnitude_masks"]

#: ``"layer"``: every layer loses the same fraction; ``"global"``: one threshold for all layers.
SCOPES = ("layer", "global")


# ---------------------------------------------------------------- validation


def check_sparsity(sparsity: object, name: str = "sparsity") -> float:
    """Validate a fraction of weights (or units) to prune: a real number in ``[0, 1)``."""
    value = check_real(name, sparsity)
    if not 0.0 <= value < 1.0:  # also catches NaN
        raise ValueError(f"{name}={value!r} is out of range; allowed: [0, 1) (the fraction of weights to prune)")
    return value


# ---------------------------------------------------------------- the core (shown in notebook 05)


def smallest_k_mask(scores: Tensor, k: int) -> Tensor:
    """A mask of ``scores``' shape: 0.0 at the ``k`` smallest scores (earlier index first among ties), 1.0 elsewhere."""
    flat = scores.reshape(-1)  # (n,)
    order = torch.argsort(flat, stable=True)  # (n,) ascending; equal scores keep their index order
    mask = torch.ones_like(flat)
    mask[order[:k]] = 0.0  # prune the k smallest
    return mask.reshape(scores.shape)


def _magnitude_mask(weight: Tensor, sparsity: float) -> Tensor:
    """The unchecked core of :func:`magnitude_mask`: prune exactly round(sparsity * n) of the smallest |w|."""
    k = round(sparsity * weight.numel())  # Python's round: half to even, as in torch.nn.utils.prune
    return smallest_k_mask(weight.detach().abs(), k).to(weight.dtype)


# ---------------------------------------------------------------- ranking with earlier masks


def current_mask(module: nn.Module) -> Tensor | None:
    """The ``weight_mask`` that :mod:`torch.nn.utils.prune` attached to ``module``, or ``None`` if it has none."""
    return getattr(module, "weight_mask", None) if torch_prune.is_pruned(module) else None


def magnitude_scores(weight: Tensor, previous_mask: Tensor | None) -> Tensor:
    """``|w|`` in float64, with weights that are already pruned ranked below everything (score -1)."""
    scores = weight.detach().abs().to(torch.float64)
    if previous_mask is not None:
        scores = scores.masked_fill(previous_mask.detach() == 0, -1.0)
    return scores


def global_masks(scores: list[Tensor], sparsity: float, dtypes: list[torch.dtype]) -> list[Tensor]:
    """Prune the ``round(sparsity * N)`` lowest scores over all tensors, concatenated in order."""
    flat = torch.cat([s.reshape(-1) for s in scores])  # (N,)
    mask = smallest_k_mask(flat, round(sparsity * flat.numel()))  # (N,)
    masks, start = [], 0
    for s, dtype in zip(scores, dtypes):
        masks.append(mask[start : start + s.numel()].reshape(s.shape).to(dtype))
        start += s.numel()
    return masks


# ---------------------------------------------------------------- public, validated


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
    check_finite_tensor("weight", weight, what="weights")
    sparsity = check_sparsity(sparsity)
    return _magnitude_mask(weight, sparsity)


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

    Raises:
        TypeError: ``weights`` is not a non-empty list of floating-point tensors;
            ``sparsity`` is not a number.
        ValueError: ``sparsity`` outside ``[0, 1)``; a tensor empty or not finite.

    Example::

        >>> a, b = torch.tensor([0.1, 0.2]), torch.tensor([3.0, 0.05])
        >>> global_magnitude_masks([a, b], sparsity=0.5)
        [tensor([0., 1.]), tensor([1., 0.])]
    """
    if isinstance(weights, Tensor) or not isinstance(weights, Sequence) or not weights:
        raise TypeError("weights must be a non-empty list of tensors (use magnitude_mask for one tensor)")
    for i, w in enumerate(weights):
        check_finite_tensor(f"weights[{i}]", w, what="weights")
    sparsity = check_sparsity(sparsity)
    return global_masks([magnitude_scores(w, None) for w in weights], sparsity, [w.dtype for w in weights])
