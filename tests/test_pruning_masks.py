"""distill_lib.pruning.masks: masks on plain tensors against torch.nn.utils.prune, exact counts and ties."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.nn.utils import prune as torch_prune

from distill_lib.pruning import check_sparsity, global_magnitude_masks, magnitude_mask, smallest_k_mask
from distill_lib.pruning.masks import _magnitude_mask

SPARSITIES = [0.0, 0.1, 0.3, 0.5, 0.75, 0.9, 0.99]


# ---------------------------------------------------------------- against torch.nn.utils.prune


@pytest.mark.parametrize("sparsity", SPARSITIES)
@pytest.mark.parametrize("shape", [(32, 64), (10, 32), (7,), (3, 4, 5)])
def test_mask_matches_l1_unstructured(sparsity, shape):
    g = torch.Generator().manual_seed(hash(shape) % 1000)
    weight = torch.randn(shape, generator=g)  # continuous: no ties
    module = nn.Module()
    module.weight = nn.Parameter(weight.clone())
    torch_prune.l1_unstructured(module, "weight", amount=sparsity)
    torch.testing.assert_close(magnitude_mask(weight, sparsity), module.weight_mask, rtol=0, atol=0)


@pytest.mark.parametrize("sparsity", SPARSITIES)
def test_global_masks_match_global_unstructured(sparsity):
    g = torch.Generator().manual_seed(1)
    modules = [nn.Linear(64, 48), nn.Linear(48, 32), nn.Linear(32, 10)]
    for m in modules:
        m.weight = nn.Parameter(torch.randn(m.weight.shape, generator=g))
    weights = [m.weight.detach().clone() for m in modules]
    torch_prune.global_unstructured([(m, "weight") for m in modules], torch_prune.L1Unstructured, amount=sparsity)
    for i, (got, m) in enumerate(zip(global_magnitude_masks(weights, sparsity), modules)):
        torch.testing.assert_close(got, m.weight_mask, rtol=0, atol=0, msg=f"tensor {i} at sparsity {sparsity}")


def test_the_shown_core_is_the_public_function_without_checks():
    g = torch.Generator().manual_seed(3)
    weight = torch.randn(20, 7, generator=g)
    for sparsity in (0.0, 0.3, 0.9):
        assert torch.equal(_magnitude_mask(weight, sparsity), magnitude_mask(weight, sparsity))
    # smallest_k_mask: 0 at the k smallest scores, earlier index first among ties, any shape
    scores = torch.tensor([[3.0, 1.0, 2.0], [1.0, 5.0, 0.0]])
    torch.testing.assert_close(smallest_k_mask(scores, 3), torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]]))
    assert torch.equal(smallest_k_mask(scores, 0), torch.ones(2, 3))
    assert torch.equal(smallest_k_mask(scores, 6), torch.zeros(2, 3))


# ---------------------------------------------------------------- exact counts and ties


@settings(max_examples=80, deadline=None)
@given(n=st.integers(1, 300), sparsity=st.floats(0.0, 0.999), seed=st.integers(0, 10_000))
def test_requested_sparsity_is_met_exactly(n, sparsity, seed):
    g = torch.Generator().manual_seed(seed)
    # few distinct values: plenty of tied magnitudes
    weight = torch.randint(-3, 4, (n,), generator=g).float()
    mask = magnitude_mask(weight, sparsity)
    assert int((mask == 0).sum()) == round(sparsity * n)
    assert set(mask.unique().tolist()) <= {0.0, 1.0}
    # every pruned weight is no larger than every kept one
    if 0 < (mask == 0).sum() < n:
        assert weight[mask == 0].abs().max() <= weight[mask == 1].abs().min()


def test_ties_are_broken_by_position():
    # all four magnitudes tie: the first two in row-major order go
    weight = torch.tensor([[1.0, -1.0], [1.0, 1.0]])
    torch.testing.assert_close(magnitude_mask(weight, 0.5), torch.tensor([[0.0, 0.0], [1.0, 1.0]]))
    # a tie between the 2nd and 3rd smallest: the earlier one goes
    weight = torch.tensor([0.5, 0.2, 0.9, -0.2, 0.1])
    torch.testing.assert_close(magnitude_mask(weight, 0.4), torch.tensor([1.0, 0.0, 1.0, 1.0, 0.0]))
    # across tensors, the earlier tensor goes first
    a, b = torch.full((3,), 0.5), torch.full((3,), -0.5)
    got = global_magnitude_masks([a, b], 0.5)
    torch.testing.assert_close(got[0], torch.zeros(3))
    torch.testing.assert_close(got[1], torch.ones(3))
    # deterministic: the same answer every time
    w = torch.tensor([0.3, 0.3, 0.3, 0.3, 0.3, 0.3])
    assert all(torch.equal(magnitude_mask(w, 0.5), magnitude_mask(w, 0.5)) for _ in range(5))


def test_hand_example_and_rounding():
    weight = torch.tensor([[0.3, -0.1], [0.2, -0.4]])
    torch.testing.assert_close(magnitude_mask(weight, 0.5), torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
    # round(0.25 * 2) = round(0.5) = 0 and round(0.75 * 2) = round(1.5) = 2 (half to even, like PyTorch)
    assert int((magnitude_mask(torch.tensor([1.0, 2.0]), 0.25) == 0).sum()) == 0
    assert int((magnitude_mask(torch.tensor([1.0, 2.0]), 0.75) == 0).sum()) == 2
    assert magnitude_mask(torch.tensor([1.0, 2.0], dtype=torch.float64), 0.5).dtype == torch.float64


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize("sparsity", ["0.5", None, True, [0.5], torch.tensor([0.5, 0.1])])
def test_sparsity_of_wrong_type(sparsity):
    with pytest.raises(TypeError, match="sparsity must be a real number"):
        magnitude_mask(torch.ones(3), sparsity)


@pytest.mark.parametrize("sparsity", [1.0, 1.5, -0.1, float("nan"), float("inf")])
def test_sparsity_out_of_range(sparsity):
    pattern = rf"sparsity={sparsity!r} is out of range; allowed: \[0, 1\)"
    for call in (
        lambda: check_sparsity(sparsity),
        lambda: magnitude_mask(torch.ones(3), sparsity),
        lambda: global_magnitude_masks([torch.ones(3)], sparsity),
    ):
        with pytest.raises(ValueError, match=pattern):
            call()


def test_bad_weights():
    with pytest.raises(TypeError, match="weight must be a floating-point tensor, got dtype=torch.int64"):
        magnitude_mask(torch.ones(3, dtype=torch.int64), 0.5)
    with pytest.raises(TypeError, match="weight must be a torch.Tensor, got list"):
        magnitude_mask([1.0, 2.0], 0.5)
    with pytest.raises(ValueError, match=r"weight contains 1 NaN or infinite value\(s\); weights must be finite"):
        magnitude_mask(torch.tensor([1.0, float("nan")]), 0.5)
    with pytest.raises(ValueError, match=r"weights\[1\] contains 2 NaN or infinite value\(s\); weights must be finite"):
        global_magnitude_masks([torch.ones(2), torch.tensor([float("inf"), float("-inf")])], 0.5)
    with pytest.raises(ValueError, match=r"weight is empty \(shape \(0,\)\)"):
        magnitude_mask(torch.ones(0), 0.5)
    with pytest.raises(TypeError, match="non-empty list of tensors"):
        global_magnitude_masks(torch.ones(3), 0.5)
    with pytest.raises(TypeError, match="non-empty list of tensors"):
        global_magnitude_masks([], 0.5)
