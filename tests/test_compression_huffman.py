"""distill_lib.compression.huffman: CLRS's example, optimality against brute force, entropy bounds, round trips."""

import heapq
import itertools
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from distill_lib.compression.huffman import (
    _canonical_codes,
    _code_lengths,
    canonical_codes,
    encoded_bits,
    huffman_code_lengths,
    huffman_decode,
    huffman_encode,
)

CLRS = [45, 13, 12, 16, 9, 5]  # a..f, Cormen et al., Introduction to Algorithms, section 16.3

counts_lists = st.lists(st.integers(0, 1000), min_size=1, max_size=40)


def as_bits(code, length):
    return format(code, f"0{length}b")


# ---------------------------------------------------------------- hand examples


def test_clrs_example():
    lengths = huffman_code_lengths(CLRS)
    assert lengths.tolist() == [1, 3, 3, 3, 4, 4]
    assert int((lengths * np.array(CLRS)).sum()) == 224  # CLRS: 224,000 bits for 100,000 characters
    codes = canonical_codes(lengths)
    assert [as_bits(c, n) for c, n in zip(codes, lengths)] == ["0", "100", "101", "110", "1110", "1111"]
    text = [0, 5, 4, 1, 0, 3, 2]  # a f e b a d c: 1+4+4+3+1+3+3 = 19 bits -> 3 bytes
    data = huffman_encode(text, lengths)
    assert encoded_bits(text, lengths) == 19
    assert data == int("0" "1111" "1110" "100" "0" "110" "101" "00000", 2).to_bytes(3, "big")
    assert huffman_decode(data, lengths, len(text)).tolist() == text


def test_ties_are_broken_by_symbol_leaves_first():
    assert huffman_code_lengths([1, 1, 2]).tolist() == [2, 2, 1]  # {0,1} merged first, then with 2
    assert huffman_code_lengths([2, 1, 1]).tolist() == [1, 2, 2]
    assert huffman_code_lengths([1, 1, 1, 1]).tolist() == [2, 2, 2, 2]
    assert huffman_code_lengths([0, 3, 0, 7]).tolist() == [0, 1, 0, 1]  # unused symbols get no code


def test_one_symbol_and_empty_stream():
    lengths = huffman_code_lengths([0, 5, 0])
    assert lengths.tolist() == [0, 1, 0]  # a lone symbol still costs one bit
    data = huffman_encode([1] * 9, lengths)
    assert data == bytes(2)  # 9 zero bits, padded to 2 bytes
    assert huffman_decode(data, lengths, 9).tolist() == [1] * 9
    assert huffman_code_lengths([0, 0]).tolist() == [0, 0]
    assert huffman_encode([], [0, 0]) == b""
    assert huffman_decode(b"", [0, 0], 0).shape == (0,)
    assert huffman_code_lengths([]).shape == (0,)


def test_accepts_tensors_and_arrays():
    symbols = torch.tensor([3, 3, 0, 2])
    lengths = huffman_code_lengths(torch.bincount(symbols))
    assert np.array_equal(huffman_decode(huffman_encode(symbols, lengths), lengths, 4), symbols.numpy())
    assert np.array_equal(huffman_code_lengths(np.array(CLRS, dtype=np.int32)), huffman_code_lengths(CLRS))


def test_shown_cores_are_the_public_functions_without_checks():
    assert _code_lengths(CLRS) == huffman_code_lengths(CLRS).tolist()
    assert _canonical_codes([1, 3, 3, 3, 4, 4]) == canonical_codes([1, 3, 3, 3, 4, 4]).tolist()


# ---------------------------------------------------------------- laws


def brute_force_cost(counts):
    """The cheapest prefix code by exhaustive search over lengths with Kraft's sum <= 1."""
    used = [c for c in counts if c > 0]
    if len(used) == 1:
        return used[0]
    best = math.inf
    for lengths in itertools.product(range(1, len(used)), repeat=len(used)):
        if sum(2.0**-n for n in lengths) <= 1.0:
            best = min(best, sum(c * n for c, n in zip(used, lengths)))
    return best


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 60), min_size=1, max_size=5).filter(lambda c: any(c)))
def test_optimal_against_brute_force(counts):
    lengths = huffman_code_lengths(counts)
    assert int((lengths * np.array(counts)).sum()) == brute_force_cost(counts)


def merge_cost(counts):
    """Huffman's cost computed independently: the sum of the weights of all merged nodes."""
    heap = [c for c in counts if c > 0]
    heapq.heapify(heap)
    total = 0
    while len(heap) > 1:
        merged = heapq.heappop(heap) + heapq.heappop(heap)
        total += merged
        heapq.heappush(heap, merged)
    return total


@settings(max_examples=80, deadline=None)
@given(counts_lists.filter(lambda c: sum(x > 0 for x in c) >= 2))
def test_entropy_bounds_kraft_equality_and_prefix_freeness(counts):
    lengths = huffman_code_lengths(counts)
    c = np.array(counts, dtype=np.float64)
    p = c[c > 0] / c.sum()
    entropy = float(-(p * np.log2(p)).sum())
    average = float((lengths * c).sum() / c.sum())
    assert entropy - 1e-9 <= average < entropy + 1  # Shannon: H <= L < H + 1
    assert int((lengths * np.array(counts)).sum()) == merge_cost(counts)
    assert sum(2.0 ** -int(n) for n in lengths if n) == 1.0  # Kraft's equality: a full binary tree
    assert ((lengths == 0) == (np.array(counts) == 0)).all()
    words = [as_bits(cd, n) for cd, n in zip(canonical_codes(lengths), lengths) if n]
    assert not any(a != b and b.startswith(a) for a in words for b in words)  # prefix-free
    assert len(set(words)) == len(words)


@settings(max_examples=80, deadline=None)
@given(st.lists(st.integers(0, 12), max_size=400), st.integers(0, 5))
def test_round_trip(symbols, extra_alphabet):
    counts = np.bincount(np.array(symbols, dtype=np.int64), minlength=13 + extra_alphabet)
    lengths = huffman_code_lengths(counts)
    data = huffman_encode(symbols, lengths)
    assert len(data) == math.ceil(encoded_bits(symbols, lengths) / 8)
    assert huffman_decode(data, lengths, len(symbols)).tolist() == symbols


def test_long_codes_round_trip():
    fibonacci = [1, 1]
    while len(fibonacci) < 30:
        fibonacci.append(fibonacci[-1] + fibonacci[-2])
    lengths = huffman_code_lengths(fibonacci)
    assert int(lengths.max()) == 29  # the deepest possible tree
    rng = np.random.default_rng(0)
    symbols = rng.integers(0, 30, size=2000)
    assert np.array_equal(huffman_decode(huffman_encode(symbols, lengths), lengths, 2000), symbols)


def test_large_stream_round_trip():
    rng = np.random.default_rng(1)
    symbols = np.minimum(rng.geometric(0.3, size=100_000) - 1, 31)  # like relative-index gaps
    lengths = huffman_code_lengths(np.bincount(symbols, minlength=32))
    data = huffman_encode(symbols, lengths)
    assert np.array_equal(huffman_decode(data, lengths, len(symbols)), symbols)
    assert len(data) < 5 * len(symbols) / 8  # fewer bits than a fixed 5-bit code


# ---------------------------------------------------------------- bad input


def test_bad_input():
    with pytest.raises(ValueError, match="counts contains the negative value -1"):
        huffman_code_lengths([3, -1])
    with pytest.raises(TypeError, match=r"counts must hold integers, got 1\.5"):
        huffman_code_lengths([1.5, 2])
    with pytest.raises(TypeError, match="counts must have an integer dtype, got float32"):
        huffman_code_lengths(torch.ones(3))
    with pytest.raises(ValueError, match=r"counts must be 1-D, got shape \(2, 2\)"):
        huffman_code_lengths(np.ones((2, 2), dtype=np.int64))
    with pytest.raises(ValueError, match=r"are not a prefix code: sum of 2\*\*-length = 1\.25 > 1"):
        canonical_codes([1, 2, 2, 2])
    with pytest.raises(ValueError, match=r"lengths contains 63; allowed: code lengths in \[0, 62\]"):
        canonical_codes([63, 1])
    with pytest.raises(ValueError, match=r"symbols contains 4; allowed: \[0, 3\]"):
        huffman_encode([0, 4], [1, 2, 2, 0])
    with pytest.raises(ValueError, match="symbols contains 3, whose code length is 0"):
        huffman_encode([0, 3], [1, 2, 2, 0])
    with pytest.raises(TypeError, match="data must be bytes, got list"):
        huffman_decode([0], [1, 1], 1)
    with pytest.raises(ValueError, match="count=-1 must be an integer >= 0"):
        huffman_decode(b"", [1, 1], -1)


def test_broken_streams_raise_value_error():
    lengths = huffman_code_lengths(CLRS)
    data = huffman_encode([5, 5, 5], lengths)  # 12 bits -> 2 bytes
    # the 4 padding zeros read as four a's (code 0): only the file's count and checksum can tell
    assert huffman_decode(data, lengths, 7).tolist() == [5, 5, 5, 0, 0, 0, 0]
    with pytest.raises(ValueError, match="data ends after 7 of count=8 symbols"):
        huffman_decode(data, lengths, 8)
    with pytest.raises(ValueError, match="data holds 3 bytes but its count=3 symbols take 2"):
        huffman_decode(data + b"\x00", lengths, 3)
    with pytest.raises(ValueError, match="data ends inside symbol 7 of count=8"):
        huffman_decode(bytes([0b00000001]), lengths, 8)  # seven a's, then the 1 of a 3- or 4-bit code
    with pytest.raises(ValueError, match="bit pattern that is no code"):
        huffman_decode(bytes([0b10000000]), [1, 0], 1)  # "1" is no code when only "0" exists
    with pytest.raises(ValueError, match="count=0 symbols were expected"):
        huffman_decode(b"\x00", [1, 1], 0)
    with pytest.raises(ValueError, match="lengths has no code at all"):
        huffman_decode(b"\x00", [0, 0], 1)
