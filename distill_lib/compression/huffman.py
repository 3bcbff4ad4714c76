r"""Huffman coding of a stream of small non-negative integers (Deep Compression, section 4; notebook 06).

Han, Mao & Dally (ICLR 2016) finish their pipeline by Huffman-coding two
streams of each layer: the weight-sharing *codes* and the *relative indices*
of the kept weights. Both are far from uniform (a few centroids and a few gaps
are common), so a variable-length prefix code saves 20-30 % on top of pruning
and quantisation.

* :func:`huffman_code_lengths` builds the code: merge the two rarest subtrees
  until one tree remains (a binary heap, ``heapq``); a symbol's code length is
  its depth. Only the *lengths* matter: equal counts are merged leaves first,
  then in order of symbol, so the result is deterministic.
* :func:`canonical_codes` turns lengths into codes: symbols sorted by
  ``(length, symbol)`` get consecutive binary numbers, shifted left each time
  the length grows. A file therefore stores one length per symbol, not a tree.
* :func:`huffman_encode` / :func:`huffman_decode` write and read the bits
  (most significant bit first, the last byte padded with zeros), vectorised
  with numpy: decoding looks every bit position up in the sorted canonical
  codes at once, then follows the chain of code starts.

Conventions: symbols are integers in ``[0, m)`` where ``m = len(counts)``; a
symbol that never occurs gets length 0 (no code); a stream of one distinct
symbol gets a 1-bit code (``0``), so ``n`` symbols cost ``n`` bits; an empty
stream encodes to no bytes. Huffman's code is optimal among prefix codes:
:math:`H \le \bar L < H + 1` bits per symbol, with :math:`H` the empirical
entropy (when at least two symbols occur), and its lengths meet Kraft's
inequality with equality, :math:`\sum_s 2^{-\ell_s} = 1`.

Shown in notebook 06: :func:`_code_lengths` and :func:`_canonical_codes`.

Example::

    >>> lengths = huffman_code_lengths([45, 13, 12, 16, 9, 5])   # CLRS 16.3
    >>> lengths.tolist()
    [1, 3, 3, 3, 4, 4]
    >>> data = huffman_encode([0, 5, 1], lengths)
    >>> huffman_decode(data, lengths, 3).tolist()
    [0, 5, 1]
"""

from __future__ import annotations

import heapq
import numbers
from collections.abc import Sequence

import numpy as np
from torch import Tensor

__all__ = ["huffman_code_lengths", "canonical_codes", "huffman_encode", "huffman_decode", "encoded_bits"]

#: Longest code accepted (lengths are stored in one byte; windows are int64).
MAX_CODE_LENGTH = 62


# ---------------------------------------------------------------- the core (shown in notebook 06)


def _code_lengths(counts: list[int]) -> list[int]:
    """Huffman code length of each symbol (0 if unused): repeatedly merge the two rarest subtrees."""
    lengths = [0] * len(counts)
    heap = [(c, s, [s]) for s, c in enumerate(counts) if c > 0]  # (count, tie-break, symbols in the subtree)
    heapq.heapify(heap)
    if len(heap) == 1:
        lengths[heap[0][2][0]] = 1  # a lone symbol still needs one bit
    order = len(counts)  # merged subtrees rank after the leaves among equal counts
    while len(heap) > 1:
        c1, _, s1 = heapq.heappop(heap)
        c2, _, s2 = heapq.heappop(heap)
        for s in s1 + s2:
            lengths[s] += 1  # every symbol in the merged subtree moves one level deeper
        heapq.heappush(heap, (c1 + c2, order, s1 + s2))
        order += 1
    return lengths


def _canonical_codes(lengths: list[int]) -> list[int]:
    """Canonical prefix code: by (length, symbol), consecutive numbers, shifted left as the length grows."""
    codes = [0] * len(lengths)
    code, previous = 0, 0
    for length, s in sorted((n, s) for s, n in enumerate(lengths) if n > 0):
        code <<= length - previous  # a longer code: append zeros
        codes[s] = code
        code, previous = code + 1, length
    return codes


# ---------------------------------------------------------------- validation


def _as_int_array(name: str, values: object) -> np.ndarray:
    """A 1-D int64 numpy array from a tensor, array or sequence of integers; TypeError/ValueError otherwise."""
    if isinstance(values, Tensor):
        values = values.detach().cpu().numpy()
    if not isinstance(values, np.ndarray):
        if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
            raise TypeError(f"{name} must be a 1-D sequence, array or tensor of integers, got {type(values).__name__}")
        if any(isinstance(v, bool) or not isinstance(v, numbers.Integral) for v in values):
            bad = next(v for v in values if isinstance(v, bool) or not isinstance(v, numbers.Integral))
            raise TypeError(f"{name} must hold integers, got {bad!r}")
        values = np.asarray(values, dtype=np.int64).reshape(-1)
    if values.dtype == np.bool_ or not np.issubdtype(values.dtype, np.integer):
        raise TypeError(f"{name} must have an integer dtype, got {values.dtype}")
    if values.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {tuple(values.shape)}")
    if values.size and int(values.min()) < 0:
        raise ValueError(f"{name} contains the negative value {int(values.min())}; allowed: integers >= 0")
    return values.astype(np.int64)


def _check_lengths(lengths: object) -> np.ndarray:
    """Code lengths in [0, MAX_CODE_LENGTH] that form a prefix code (Kraft sum <= 1)."""
    lengths = _as_int_array("lengths", lengths)
    if lengths.size and int(lengths.max()) > MAX_CODE_LENGTH:
        raise ValueError(f"lengths contains {int(lengths.max())}; allowed: code lengths in [0, {MAX_CODE_LENGTH}]")
    kraft = sum(2 ** (MAX_CODE_LENGTH - int(n)) for n in lengths if n > 0)
    if kraft > 2**MAX_CODE_LENGTH:
        raise ValueError(
            f"lengths {lengths.tolist()[:16]} are not a prefix code: sum of 2**-length = "
            f"{kraft / 2**MAX_CODE_LENGTH:.6g} > 1 (Kraft's inequality)"
        )
    return lengths


def _check_symbols(symbols: object, lengths: np.ndarray) -> np.ndarray:
    symbols = _as_int_array("symbols", symbols)
    if symbols.size:
        top = int(symbols.max())
        if top >= len(lengths):
            raise ValueError(f"symbols contains {top}; allowed: [0, {len(lengths) - 1}] (one length per symbol)")
        uncoded = symbols[lengths[symbols] == 0]
        if uncoded.size:
            raise ValueError(f"symbols contains {int(uncoded[0])}, whose code length is 0 (no code); count it first")
    return symbols


# ---------------------------------------------------------------- public, validated


def huffman_code_lengths(counts: Sequence[int] | np.ndarray | Tensor) -> np.ndarray:
    """Huffman code length of each symbol, from how often each symbol occurs.

    Args:
        counts: ``counts[s]`` = occurrences of symbol ``s`` (non-negative integers),
            e.g. ``np.bincount(symbols, minlength=m)``.

    Shape:
        counts ``(m,)``; output ``(m,)``.

    Returns:
        An int64 array: 0 for symbols that never occur, 1 for a lone symbol,
        otherwise the depth of the symbol in the Huffman tree. Ties among equal
        counts are broken by symbol (leaves before merged subtrees), so the
        lengths are deterministic.

    Raises:
        TypeError: ``counts`` is not a 1-D integer sequence, array or tensor.
        ValueError: a count is negative, or a code would exceed 62 bits.

    Example::

        >>> huffman_code_lengths([45, 13, 12, 16, 9, 5]).tolist()
        [1, 3, 3, 3, 4, 4]
    """
    counts = _as_int_array("counts", counts)
    lengths = np.asarray(_code_lengths(counts.tolist()), dtype=np.int64)
    if lengths.size and int(lengths.max()) > MAX_CODE_LENGTH:
        raise ValueError(f"counts give a code of {int(lengths.max())} bits; allowed: at most {MAX_CODE_LENGTH}")
    return lengths


def canonical_codes(lengths: Sequence[int] | np.ndarray | Tensor) -> np.ndarray:
    """The canonical prefix code for given code lengths (as in DEFLATE, RFC 1951 section 3.2.2).

    Args:
        lengths: ``lengths[s]`` = bits of symbol ``s``'s code, 0 for no code; must
            satisfy Kraft's inequality (``sum 2**-length <= 1``).

    Returns:
        An int64 array ``(m,)``: symbol ``s``'s code is the low ``lengths[s]`` bits
        of ``codes[s]``, most significant first (0 where ``lengths[s] == 0``).

    Raises:
        TypeError: ``lengths`` is not a 1-D integer sequence, array or tensor.
        ValueError: a length is negative or above 62, or the lengths are not a prefix code.

    Example::

        >>> canonical_codes([1, 3, 3, 3, 4, 4]).tolist()   # 0, 100, 101, 110, 1110, 1111
        [0, 4, 5, 6, 14, 15]
    """
    return np.asarray(_canonical_codes(_check_lengths(lengths).tolist()), dtype=np.int64)


def encoded_bits(symbols: Sequence[int] | np.ndarray | Tensor, lengths: Sequence[int] | np.ndarray | Tensor) -> int:
    """Number of bits :func:`huffman_encode` writes for ``symbols`` (before padding to a byte)."""
    lengths = _check_lengths(lengths)
    return int(lengths[_check_symbols(symbols, lengths)].sum())


def huffman_encode(symbols: Sequence[int] | np.ndarray | Tensor, lengths: Sequence[int] | np.ndarray | Tensor) -> bytes:
    """Write ``symbols`` with the canonical code of ``lengths``, bit-packed, most significant bit first.

    Args:
        symbols: the stream, integers in ``[0, m)``; every symbol used must have a code.
        lengths: one code length per symbol, e.g. ``huffman_code_lengths(np.bincount(symbols))``.

    Shape:
        symbols ``(n,)``, lengths ``(m,)``.

    Returns:
        ``ceil(bits / 8)`` bytes, the last one padded with zero bits (``b""`` for ``n = 0``).

    Raises:
        TypeError: ``symbols`` or ``lengths`` not 1-D integers.
        ValueError: a symbol out of range or without a code; invalid ``lengths``.

    Example::

        >>> huffman_encode([0, 0, 1], [1, 1]).hex()   # bits 001 + 5 zero bits
        '20'
    """
    lengths = _check_lengths(lengths)
    symbols = _check_symbols(symbols, lengths)
    codes = np.asarray(_canonical_codes(lengths.tolist()), dtype=np.int64)
    c, n = codes[symbols], lengths[symbols]  # (n,) code and length of each symbol in the stream
    starts = np.cumsum(n) - n  # (n,) first bit of each code
    bits = np.zeros(int(n.sum()), dtype=np.uint8)
    for j in range(int(n.max()) if n.size else 0):  # j-th bit of every code at once
        has = n > j
        bits[starts[has] + j] = (c[has] >> (n[has] - 1 - j)) & 1
    return np.packbits(bits).tobytes()


def huffman_decode(data: bytes, lengths: Sequence[int] | np.ndarray | Tensor, count: int) -> np.ndarray:
    """Read ``count`` symbols written by :func:`huffman_encode` with the same ``lengths``.

    Args:
        data: the encoded bytes, exactly ``ceil(bits / 8)`` of them.
        lengths: the code lengths used to encode.
        count: how many symbols to read (a file stores it next to the stream).

    Returns:
        An int64 array ``(count,)`` of symbols.

    Raises:
        TypeError: ``data`` not bytes; ``lengths`` not integers; ``count`` not an integer.
        ValueError: invalid ``lengths``; ``data`` ends before ``count`` symbols, holds
            a bit pattern that is no code, or has bytes left over.

    Example::

        >>> huffman_decode(bytes([0x20]), [1, 1], 3).tolist()
        [0, 0, 1]
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"data must be bytes, got {type(data).__name__}")
    lengths = _check_lengths(lengths)
    if isinstance(count, bool) or not isinstance(count, numbers.Integral) or count < 0:
        raise ValueError(f"count={count!r} must be an integer >= 0")
    if count == 0:
        if len(data):
            raise ValueError(f"data holds {len(data)} byte(s) but count=0 symbols were expected")
        return np.zeros(0, dtype=np.int64)
    if not lengths.any():
        raise ValueError(f"lengths has no code at all; cannot decode count={count} symbols")
    width = int(lengths.max())
    bits = np.unpackbits(np.frombuffer(bytes(data), dtype=np.uint8)).astype(np.int64)
    padded = np.concatenate([bits, np.zeros(width, dtype=np.int64)])
    windows = np.zeros(len(bits), dtype=np.int64)  # (nbits,) the next `width` bits at every position
    for j in range(width):
        windows = (windows << 1) | padded[j : j + len(bits)]
    used = np.flatnonzero(lengths)
    order = used[np.lexsort((used, lengths[used]))]  # symbols by (length, symbol): their codes increase
    codes = np.asarray(_canonical_codes(lengths.tolist()), dtype=np.int64)
    first = codes[order] << (width - lengths[order])  # (k,) codes left-aligned to `width` bits, sorted
    which = np.searchsorted(first, windows, side="right") - 1  # (nbits,) candidate code at each bit
    symbol_at, length_at = order[which], lengths[order[which]]
    starts, p, step, nbits = [], 0, length_at.tolist(), len(bits)
    for _ in range(count):  # the chain of code starts: each code begins where the last one ended
        if p >= nbits:
            raise ValueError(f"data ends after {len(starts)} of count={count} symbols ({len(data)} bytes)")
        starts.append(p)
        p += step[p]
    starts = np.asarray(starts, dtype=np.int64)
    if p > nbits:
        raise ValueError(f"data ends inside symbol {count - 1} of count={count} ({len(data)} bytes)")
    if ((windows[starts] >> (width - length_at[starts])) != codes[symbol_at[starts]]).any():
        raise ValueError("data holds a bit pattern that is no code of these lengths")
    if len(data) != (p + 7) // 8:
        raise ValueError(f"data holds {len(data)} bytes but its count={count} symbols take {(p + 7) // 8}")
    return symbol_at[starts]
