"""How big is a pruned model: non-zero parameters and bytes, dense or sparse (notebook 05, section 4).

A mask does not make a model smaller: ``weight_orig`` is stored whole, and a
dense matrix with zeros costs as many bytes as any other. What *can* shrink is
what a sparse format would store. :func:`storage_bytes` counts both ways:

* ``layout="dense"``: every entry, zeros included (what ``torch.save`` of the
  permanent model holds, without the file's own overhead);
* ``layout="csr"``: each weight matrix in compressed sparse rows, as
  :meth:`torch.Tensor.to_sparse_csr` stores it: the non-zero values, one column
  index per value and ``rows + 1`` row pointers (``index_bytes`` each; PyTorch
  uses 8-byte indices by default, 4 suffice below 2**31 entries); biases dense.

Example::

    >>> nonzero_parameters(pruned), storage_bytes(pruned, layout="csr")
"""

from __future__ import annotations

from torch import nn

from .._validation import check_int, check_module
from .apply import copy_model, make_permanent

__all__ = ["LAYOUTS", "nonzero_parameters", "storage_bytes"]

#: How :func:`storage_bytes` stores the weights.
LAYOUTS = ("dense", "csr")


def _effective_parameters(model: nn.Module) -> list:
    """The parameters as the forward pass sees them (masks folded into a copy)."""
    return [p.detach() for p in make_permanent(copy_model(model)).parameters()]


def nonzero_parameters(model: nn.Module) -> int:
    """Number of parameters (weights and biases) that are not exactly zero, masks applied.

    Example::

        >>> nonzero_parameters(mlp([64, 128, 10]))   # a fresh model: all 9,610
        9610
    """
    check_module("model", model)
    return sum(int((p != 0).sum()) for p in _effective_parameters(model))


def storage_bytes(model: nn.Module, *, layout: str = "dense", index_bytes: int = 4) -> int:
    """Bytes to store ``model``'s parameters, dense or with each weight matrix in CSR.

    Args:
        model: any module; pruning masks are folded in (on a copy) first.
        layout: ``"dense"`` (every entry) or ``"csr"`` (2-D weights as compressed sparse rows).
        index_bytes: bytes per CSR index, 1 to 8 (4: int32).

    Returns:
        The number of bytes (no file-format overhead).

    Raises:
        TypeError: ``model`` not an ``nn.Module``; ``index_bytes`` not an integer.
        ValueError: ``layout`` not in :data:`LAYOUTS`; ``index_bytes`` outside [1, 8].

    Example::

        >>> storage_bytes(mlp([64, 128, 10]))   # 9,610 float32 parameters
        38440
    """
    check_module("model", model)
    if layout not in LAYOUTS:
        raise ValueError(f"layout={layout!r} is not allowed; choose one of {LAYOUTS}")
    index_bytes = check_int("index_bytes", index_bytes, low=1, high=8)
    total = 0
    for p in _effective_parameters(model):
        if layout == "csr" and p.ndim == 2:
            nnz = int((p != 0).sum())
            total += nnz * (p.element_size() + index_bytes) + (p.shape[0] + 1) * index_bytes
        else:
            total += p.numel() * p.element_size()
    return total
