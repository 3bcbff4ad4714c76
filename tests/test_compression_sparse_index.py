"""distill_lib.compression.sparse_index: the paper's Figure 2, fillers counted exactly, round trips, torch's CSR."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from distill_lib.compression.sparse_index import (
    _relative_indices,
    choose_index_bits,
    csr_arrays,
    positions_from_relative,
    relative_index_bytes,
    relative_indices,
)

pytestmark = pytest.mark.filterwarnings("ignore:Sparse CSR tensor support is in beta")


def mask_at(positions, shape):
    mask = torch.zeros(shape[0] * shape[1], dtype=torch.bool)
    mask[list(positions)] = True
    return mask.reshape(shape)


def loop_encoder(mask, index_bits):
    """A plain loop over the flattened mask: the reference for the vectorised encoder."""
    escape, gaps, skipped = 2**index_bits - 1, [], 0
    for kept in mask.reshape(-1).tolist():
        if not kept:
            skipped += 1
            continue
        while skipped >= escape:
            gaps.append(escape)  # a filler: skip `escape` positions, no weight
            skipped -= escape
        gaps.append(skipped)
        skipped = 0
    return gaps


@st.composite
def masks(draw):
    rows, cols = draw(st.integers(1, 12)), draw(st.integers(1, 40))
    density = draw(st.sampled_from([0.0, 0.02, 0.1, 0.5, 1.0]))
    seed = draw(st.integers(0, 10_000))
    g = torch.Generator().manual_seed(seed)
    return torch.rand(rows, cols, generator=g) < density


# ---------------------------------------------------------------- Figure 2 of the paper


def test_figure_2_with_3_bit_indices():
    # Han et al. 2016, Figure 2: kept weights at positions 1, 4 and 15 of a row of 16; with 3 bits the
    # jump from 4 to 15 (10 pruned positions in between) does not fit and needs one filler
    mask = mask_at([1, 4, 15], (1, 16))
    gaps = relative_indices(mask, 3)
    assert gaps.tolist() == [1, 2, 7, 3]  # 1 skipped, 2 skipped, filler (skip 7), 3 skipped
    assert int((gaps == 7).sum()) == 1  # one filler, as in the figure
    assert torch.equal(positions_from_relative(gaps, 3, (1, 16)), mask)
    # the paper's 3-bit "diff" row (1, 3, 8, 3) is a position difference; ours counts skipped positions
    assert relative_indices(mask, 4).tolist() == [1, 2, 10]  # 4 bits: no filler needed
    assert relative_index_bytes(mask, 3) == 2 and relative_index_bytes(mask, 4) == 2  # 12 bits each


def test_hand_examples():
    mask = mask_at([0, 5, 11], (3, 4))
    assert relative_indices(mask, 2).tolist() == [0, 3, 1, 3, 2]  # 0 | 4 = 3+1 | 5 = 3+2
    assert relative_indices(mask, 1).tolist() == [0, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 0]  # unary
    assert relative_indices(mask, 8).tolist() == [0, 4, 5]
    assert relative_indices(torch.zeros(2, 3, dtype=torch.bool), 5).tolist() == []
    assert relative_indices(torch.ones(2, 3, dtype=torch.bool), 5).tolist() == [0] * 6
    # trailing pruned positions cost nothing: the shape is known
    assert relative_indices(mask_at([0], (4, 4)), 2).tolist() == [0]


@settings(max_examples=100, deadline=None)
@given(masks(), st.integers(1, 9))
def test_matches_the_loop_encoder_and_round_trips(mask, index_bits):
    gaps = relative_indices(mask, index_bits)
    assert gaps.tolist() == loop_encoder(mask, index_bits)
    assert gaps.dtype == torch.int64 and (gaps.numel() == 0 or int(gaps.max()) < 2**index_bits)
    escape = 2**index_bits - 1
    positions = torch.nonzero(mask.reshape(-1)).squeeze(1).tolist()
    skipped = [p - q - 1 for p, q in zip(positions, [-1] + positions[:-1])]
    assert int((gaps == escape).sum()) == sum(z // escape for z in skipped)  # fillers, exactly
    assert len(gaps) == int(mask.sum()) + sum(z // escape for z in skipped)
    assert torch.equal(positions_from_relative(gaps, index_bits, tuple(mask.shape)), mask)
    assert torch.equal(_relative_indices(mask, index_bits), gaps)


@settings(max_examples=40, deadline=None)
@given(masks(), st.lists(st.integers(1, 16), min_size=1, max_size=6, unique=True))
def test_choose_index_bits_is_the_smallest_stream(mask, candidates):
    best = choose_index_bits(mask, candidates)
    size = {b: math.ceil(len(loop_encoder(mask, b)) * b / 8) for b in candidates}
    assert size[best] == min(size.values()) and best == min(b for b in candidates if size[b] == size[best])
    assert relative_index_bytes(mask, best) == size[best]


def test_choose_index_bits_trades_fillers_against_width():
    assert choose_index_bits(torch.ones(8, 8, dtype=torch.bool)) == 1  # no gaps at all
    sparse = mask_at([0, 1000, 2000, 3000], (40, 100))  # gaps of 999: wide indices win
    assert choose_index_bits(sparse, range(1, 17)) == 10  # 999 < 2**10 - 1: four 10-bit gaps, no filler
    g = torch.Generator().manual_seed(0)
    assert choose_index_bits(torch.rand(128, 64, generator=g) < 0.1) in (3, 4, 5)  # 90 % sparse, like the paper


# ---------------------------------------------------------------- CSR


@settings(max_examples=40, deadline=None)
@given(masks(), st.integers(0, 1000))
def test_csr_matches_torch(mask, seed):
    g = torch.Generator().manual_seed(seed)
    weight = torch.randn(mask.shape, generator=g) * mask
    values, cols, crow = csr_arrays(weight)
    reference = weight.to_sparse_csr()
    assert torch.equal(values, reference.values())
    assert torch.equal(cols, reference.col_indices())
    assert torch.equal(crow, reference.crow_indices())


def test_csr_hand_example():
    values, cols, crow = csr_arrays(torch.tensor([[0.0, 2.0, 0.0], [0.0, 0.0, 0.0], [3.0, 0.0, -1.0]]))
    assert values.tolist() == [2.0, 3.0, -1.0] and cols.tolist() == [1, 0, 2] and crow.tolist() == [0, 1, 1, 3]


# ---------------------------------------------------------------- bad input


def test_bad_input():
    mask = mask_at([1, 4], (2, 3))
    with pytest.raises(TypeError, match="mask must be a bool tensor .* got dtype=torch.float32"):
        relative_indices(mask.float(), 5)
    with pytest.raises(TypeError, match="mask must be a torch.Tensor, got list"):
        relative_indices([[True]], 5)
    with pytest.raises(ValueError, match=r"mask must be a 2-D \(out, in\) tensor, got shape \(6,\)"):
        relative_indices(mask.reshape(-1), 5)
    for bad in (0, 17):
        with pytest.raises(ValueError, match=rf"index_bits={bad} is out of range; allowed: \[1, 16\]"):
            relative_indices(mask, bad)
    with pytest.raises(ValueError, match=r"index_bits=0 is out of range"):
        choose_index_bits(mask, [3, 0])
    with pytest.raises(ValueError, match="candidates is empty"):
        choose_index_bits(mask, [])
    with pytest.raises(ValueError, match=r"gaps contains 8; allowed with index_bits=3: \[0, 7\]"):
        positions_from_relative(torch.tensor([8, 0]), 3, (2, 8))
    with pytest.raises(ValueError, match=r"gaps ends with a filler \(7\)"):
        positions_from_relative(torch.tensor([0, 7]), 3, (2, 8))
    with pytest.raises(ValueError, match=r"gaps reach position 6, beyond the 6 positions of shape \(2, 3\)"):
        positions_from_relative(torch.tensor([1, 4]), 3, (2, 3))
    with pytest.raises(TypeError, match="gaps must be an integer torch.Tensor"):
        positions_from_relative(torch.tensor([1.0]), 3, (2, 3))
    with pytest.raises(ValueError, match=r"weight must be a 2-D \(out, in\) matrix, got shape \(3,\)"):
        csr_arrays(torch.ones(3))
    with pytest.raises(ValueError, match="weight contains 1 NaN"):
        csr_arrays(torch.tensor([[float("nan")]]))
