r"""Where the kept weights are: compressed sparse rows and relative indices (Deep Compression, section 2; notebook 06).

A pruned ``(out, in)`` weight matrix is stored as its kept values plus a
description of *where* they are. Two ways:

* **CSR** (:func:`csr_arrays`): the values in row-major order, the column index
  of each, and ``out + 1`` row pointers (row ``r``'s values are
  ``values[crow[r]:crow[r + 1]]``), exactly what :meth:`torch.Tensor.to_sparse_csr`
  holds. A column index costs ``log2(in)`` bits at least, 32 in an int32 array.
* **Relative indices** (:func:`relative_indices`, Han et al. 2016, Figure 2):
  flatten the matrix row-major and store, before each kept weight, the number
  of pruned positions skipped since the previous kept weight (the *gap*), in
  ``index_bits`` bits each (the paper: 5 bits for fully connected layers, 8 for
  convolutions). Gaps are small when the matrix is not too sparse, so this is
  cheaper than a column index.

**Gaps that do not fit.** A gap of ``2**b - 1`` or more positions needs a
*filler*. The paper stores a filler *zero weight* (an extra entry whose value is
0). After weight sharing there is no exact zero to point at (a codebook's
centroids are the kept weights' cluster means), so a filler weight would need an
extra codebook entry or a flag. Here the largest ``b``-bit value,
``escape = 2**b - 1``, is reserved instead: it means "advance ``escape``
positions, no weight here", and no value or code is stored for it. A weight
preceded by ``z`` skipped positions therefore costs exactly ``z // escape``
fillers followed by the gap ``z % escape`` (in ``[0, escape - 1]``); pruned
positions after the last kept weight cost nothing (the shape is known). With
``b = 1`` this is a unary code: ``0`` = a weight, ``1`` = skip one position.

:func:`positions_from_relative` reads a stream back into the mask;
:func:`choose_index_bits` picks the ``b`` that makes the stream smallest (too
few bits: many fillers; too many: every gap pays for bits it does not use).

Shown in notebook 06: :func:`_relative_indices`.

Example (Figure 2 of the paper, 3-bit indices: weights at positions 1, 4 and 15)::

    >>> mask = torch.zeros(16, dtype=torch.bool); mask[[1, 4, 15]] = True
    >>> relative_indices(mask.reshape(2, 8), 3).tolist()   # 7 = filler: skip 7 positions
    [1, 2, 7, 3]
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch import Tensor

from .._validation import check_finite_tensor, check_int

__all__ = ["relative_indices", "positions_from_relative", "relative_index_bytes", "choose_index_bits", "csr_arrays"]


# ---------------------------------------------------------------- the core (shown in notebook 06)


def _relative_indices(mask: Tensor, index_bits: int) -> Tensor:
    """Gaps before each kept weight (row-major), a filler 2**b - 1 for every 2**b - 1 positions skipped."""
    escape = 2**index_bits - 1  # the largest b-bit value: "skip `escape` positions, no weight"
    positions = torch.nonzero(mask.reshape(-1)).squeeze(1)  # (nnz,) kept positions, increasing
    skipped = torch.diff(positions, prepend=torch.tensor([-1])) - 1  # (nnz,) pruned positions before each
    fillers = skipped // escape  # (nnz,) fillers before each kept weight
    gaps = torch.full((int(fillers.sum()) + len(positions),), escape)  # (entries,) fillers everywhere...
    gaps[torch.cumsum(fillers + 1, 0) - 1] = skipped % escape  # ...except where each kept weight's gap goes
    return gaps


def _positions_from_relative(gaps: Tensor, index_bits: int) -> Tensor:
    """The kept positions of the flattened matrix: a gap moves past the skipped positions and the weight."""
    escape = 2**index_bits - 1
    is_weight = gaps != escape  # (entries,)
    ends = torch.cumsum(torch.where(is_weight, gaps + 1, gaps), 0)  # (entries,) positions covered so far
    return ends[is_weight] - 1  # (nnz,)


# ---------------------------------------------------------------- validation


def _check_mask(mask: object) -> Tensor:
    if not isinstance(mask, Tensor):
        raise TypeError(f"mask must be a torch.Tensor, got {type(mask).__name__}")
    if mask.dtype != torch.bool:
        raise TypeError(f"mask must be a bool tensor (True = weight kept), got dtype={mask.dtype}")
    if mask.ndim != 2:
        raise ValueError(f"mask must be a 2-D (out, in) tensor, got shape {tuple(mask.shape)}")
    return mask.detach().cpu()


def _check_index_bits(index_bits: object) -> int:
    return check_int("index_bits", index_bits, low=1, high=16)


# ---------------------------------------------------------------- public, validated


def relative_indices(mask: Tensor, index_bits: int) -> Tensor:
    """The relative-index stream of a mask: gaps between kept weights, with fillers, ``index_bits`` each.

    Args:
        mask: a bool ``(out, in)`` tensor, ``True`` = weight kept; read row-major.
        index_bits: bits per stored gap, 1 to 16 (the paper: 5 for fully connected layers).

    Shape:
        mask ``(out, in)``; output ``(entries,)`` with ``entries = nnz + fillers``.

    Returns:
        An int64 tensor of values in ``[0, 2**index_bits - 1]``: a value below
        ``2**index_bits - 1`` is the number of pruned positions before the next kept
        weight; ``2**index_bits - 1`` is a filler ("skip that many, no weight").

    Raises:
        TypeError: ``mask`` not a bool tensor; ``index_bits`` not an integer.
        ValueError: ``mask`` not 2-D; ``index_bits`` outside [1, 16].

    Example::

        >>> relative_indices(torch.tensor([[False, True, False, False, True]]), 2).tolist()
        [1, 2]
    """
    mask = _check_mask(mask)
    return _relative_indices(mask, _check_index_bits(index_bits))


def positions_from_relative(gaps: Tensor, index_bits: int, shape: tuple[int, int]) -> Tensor:
    """The mask that :func:`relative_indices` encoded: the inverse, for a known ``shape``.

    Args:
        gaps: the stream, integers in ``[0, 2**index_bits - 1]``.
        index_bits: the bits per gap it was written with, 1 to 16.
        shape: ``(out, in)`` of the weight matrix.

    Returns:
        A bool tensor of ``shape``, ``True`` at the kept positions.

    Raises:
        TypeError: ``gaps`` not an integer tensor; ``index_bits`` or ``shape`` not integers.
        ValueError: a gap outside ``[0, 2**index_bits - 1]``; a kept position beyond
            ``out * in``; the stream ends with a filler (an encoder never writes one).

    Example::

        >>> positions_from_relative(torch.tensor([1, 2]), 2, (1, 5)).tolist()
        [[False, True, False, False, True]]
    """
    if not isinstance(gaps, Tensor) or gaps.dtype.is_floating_point or gaps.dtype in (torch.bool, torch.complex64):
        raise TypeError(f"gaps must be an integer torch.Tensor, got {getattr(gaps, 'dtype', type(gaps).__name__)}")
    if gaps.ndim != 1:
        raise ValueError(f"gaps must be 1-D, got shape {tuple(gaps.shape)}")
    index_bits = _check_index_bits(index_bits)
    if not isinstance(shape, (tuple, list, torch.Size)) or len(shape) != 2:
        raise TypeError(f"shape must be a pair (out, in), got {shape!r}")
    rows, cols = (check_int(f"shape[{i}]", s, low=1) for i, s in enumerate(shape))
    gaps = gaps.detach().cpu().to(torch.int64)
    escape = 2**index_bits - 1
    if gaps.numel() and (int(gaps.min()) < 0 or int(gaps.max()) > escape):
        bad = int(gaps.min()) if int(gaps.min()) < 0 else int(gaps.max())
        raise ValueError(f"gaps contains {bad}; allowed with index_bits={index_bits}: [0, {escape}]")
    if gaps.numel() and int(gaps[-1]) == escape:
        raise ValueError(f"gaps ends with a filler ({escape}); a relative-index stream ends with a kept weight")
    positions = _positions_from_relative(gaps, index_bits)
    if positions.numel() and int(positions[-1]) >= rows * cols:
        raise ValueError(
            f"gaps reach position {int(positions[-1])}, beyond the {rows * cols} positions of shape ({rows}, {cols})"
        )
    mask = torch.zeros(rows * cols, dtype=torch.bool)
    mask[positions] = True
    return mask.reshape(rows, cols)


def relative_index_bytes(mask: Tensor, index_bits: int) -> int:
    """Bytes of the relative-index stream of ``mask`` bit-packed at ``index_bits`` bits per entry.

    Example::

        >>> relative_index_bytes(torch.ones(4, 4, dtype=torch.bool), 5)   # 16 gaps of 0, 80 bits
        10
    """
    return math.ceil(len(relative_indices(mask, index_bits)) * index_bits / 8)


def choose_index_bits(mask: Tensor, candidates: Iterable[int] = range(1, 9)) -> int:
    """The ``index_bits`` that makes the relative-index stream of ``mask`` smallest, fillers included.

    Fewer bits make every gap cheaper but need more fillers; the smallest
    candidate wins a tie. Fillers store no weight or code (see the module
    docstring), so the index stream is the only cost that depends on the choice.

    Args:
        mask: a bool ``(out, in)`` tensor, ``True`` = weight kept.
        candidates: the bits to try, each in [1, 16].

    Returns:
        The best candidate.

    Raises:
        TypeError: ``mask`` not a bool tensor; a candidate not an integer.
        ValueError: ``mask`` not 2-D; no candidates; a candidate outside [1, 16].

    Example::

        >>> choose_index_bits(torch.ones(8, 8, dtype=torch.bool))   # no gaps: 1 bit each
        1
    """
    mask = _check_mask(mask)
    bits = [_check_index_bits(b) for b in candidates]
    if not bits:
        raise ValueError("candidates is empty; give at least one index_bits value in [1, 16]")
    return min(bits, key=lambda b: (math.ceil(len(_relative_indices(mask, b)) * b / 8), b))


def csr_arrays(weight: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Compressed sparse rows of a 2-D weight matrix: its non-zero entries, as :meth:`torch.Tensor.to_sparse_csr`.

    Args:
        weight: a floating-point ``(out, in)`` tensor of finite values; zeros are the pruned weights.

    Shape:
        weight ``(out, in)``; values ``(nnz,)``, col_indices ``(nnz,)``, crow_indices ``(out + 1,)``.

    Returns:
        ``(values, col_indices, crow_indices)``: the non-zero values in row-major
        order (weight's dtype), the column of each (int64), and the row pointers
        (int64): row ``r``'s entries are ``crow_indices[r]:crow_indices[r + 1]``.

    Raises:
        TypeError: ``weight`` not a floating-point tensor.
        ValueError: ``weight`` not 2-D, empty, or not finite.

    Example::

        >>> csr_arrays(torch.tensor([[0.0, 2.0], [3.0, 0.0]]))
        (tensor([2., 3.]), tensor([1, 0]), tensor([0, 1, 2]))
    """
    check_finite_tensor("weight", weight, what="weights")
    if weight.ndim != 2:
        raise ValueError(f"weight must be a 2-D (out, in) matrix, got shape {tuple(weight.shape)}")
    weight = weight.detach().cpu()
    kept = weight != 0  # (out, in)
    rows, cols = torch.nonzero(kept, as_tuple=True)  # (nnz,) each, row-major
    crow = torch.cat([torch.zeros(1, dtype=torch.int64), torch.cumsum(kept.sum(1), 0)])  # (out + 1,)
    return weight[rows, cols], cols, crow
