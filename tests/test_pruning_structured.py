"""distill_lib.pruning.structured: removing hidden units, against zeroing them and torch's ln_structured."""

import copy

import pytest
import torch
from torch import nn
from torch.nn.utils import prune as torch_prune

from distill_lib.models import count_parameters, mlp
from distill_lib.pruning import prune_magnitude, remove_hidden_units, units_to_keep
from distill_lib.pruning.structured import _remove_hidden_units, _units_to_keep


from pruning_helpers import random_mlp


def zero_units(model, keeps):
    """The reference for structured pruning: zero the removed units' rows, biases and next columns."""
    reference = copy.deepcopy(model)
    linears = [m for m in reference if isinstance(m, nn.Linear)]
    with torch.no_grad():
        for layer, following, keep in zip(linears, linears[1:], keeps):
            drop = torch.ones(layer.out_features, dtype=torch.bool)
            drop[keep] = False
            layer.weight[drop] = 0
            layer.bias[drop] = 0
            following.weight[:, drop] = 0
    return reference


@pytest.mark.parametrize("sizes, dropout", [((64, 128, 10), 0.0), ((64, 256, 256, 10), 0.3)])
@pytest.mark.parametrize("sparsity", [0.0, 0.5, 0.75])
def test_remove_hidden_units_computes_the_same_function(sizes, dropout, sparsity):
    model = random_mlp(sizes, seed=4, dropout=dropout).eval()
    small = remove_hidden_units(model, sparsity)
    hidden = [s - round(sparsity * s) for s in sizes[1:-1]]
    assert [m.out_features for m in small if isinstance(m, nn.Linear)] == hidden + [sizes[-1]]
    assert [type(m) for m in small] == [type(m) for m in model]
    widths = [sizes[0], *hidden, sizes[-1]]
    assert count_parameters(small) == sum(a * b + b for a, b in zip(widths[:-1], widths[1:]))
    keeps = [units_to_keep(m.weight, sparsity) for m in model if isinstance(m, nn.Linear)][:-1]
    X = torch.rand(32, 64, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(small(X), zero_units(model, keeps).eval()(X), rtol=1e-5, atol=1e-6)
    assert small.training is False
    torch.testing.assert_close(_remove_hidden_units(model, sparsity)(X), small(X), rtol=0, atol=0)


def test_remove_hidden_units_honours_masks_and_leaves_the_model_alone():
    model = random_mlp((64, 32, 10), dropout=0.2).train()
    prune_magnitude(model, 0.5)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    small = remove_hidden_units(model, 0.25)
    assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items())
    assert model.training and all(m.training for m in model)  # its Dropout is not shared with the small one
    assert not any(torch_prune.is_pruned(m) for m in small.modules())
    keep = units_to_keep(model[0].weight, 0.25)
    torch.testing.assert_close(small[0].weight, model[0].weight[keep])


@pytest.mark.parametrize("sparsity", [0.25, 0.5, 0.75])
def test_units_to_keep_matches_ln_structured(sparsity):
    layer = random_mlp((64, 40, 10), seed=3)[0]
    module = copy.deepcopy(layer)
    torch_prune.ln_structured(module, "weight", amount=sparsity, n=1, dim=0)
    rows_kept = torch.nonzero(module.weight_mask.sum(dim=1)).flatten()
    torch.testing.assert_close(units_to_keep(layer.weight, sparsity), rows_kept)
    torch.testing.assert_close(_units_to_keep(layer.weight, sparsity), rows_kept)


def test_units_to_keep_ties_and_hand_example():
    weight = torch.tensor([[1.0, 1.0], [0.1, 0.0], [-3.0, 0.0]])
    torch.testing.assert_close(units_to_keep(weight, 1 / 3), torch.tensor([0, 2]))
    torch.testing.assert_close(units_to_keep(torch.ones(4, 3), 0.5), torch.tensor([2, 3]))  # the first ones go


def test_bad_input():
    with pytest.raises(TypeError, match="layer 1 is a Conv1d"):
        remove_hidden_units(nn.Sequential(nn.Linear(4, 4), nn.Conv1d(1, 1, 1), nn.Linear(4, 2)), 0.5)
    with pytest.raises(TypeError, match="nn.Sequential MLP"):
        remove_hidden_units(nn.Linear(4, 4), 0.5)
    with pytest.raises(ValueError, match="no hidden layer"):
        remove_hidden_units(mlp([64, 10]), 0.5)
    with pytest.raises(ValueError, match=r"sparsity=0\.99 would remove all 10 units of layer 0"):
        remove_hidden_units(mlp([64, 10, 10]), 0.99)
    with pytest.raises(ValueError, match=r"sparsity=1\.0 is out of range; allowed: \[0, 1\)"):
        remove_hidden_units(mlp([64, 10, 10]), 1.0)
    with pytest.raises(ValueError, match="layer 2 has no bias"):
        remove_hidden_units(nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 2, bias=False)), 0.5)
    nan_model = mlp([64, 10, 10])
    with torch.no_grad():
        nan_model[0].bias[1] = float("nan")
    with pytest.raises(ValueError, match=r"model layer 0 bias contains 1 NaN or infinite value"):
        remove_hidden_units(nan_model, 0.5)
    with pytest.raises(ValueError, match=r"weight must be 2-D"):
        units_to_keep(torch.ones(3), 0.5)
    with pytest.raises(ValueError, match=r"weight contains 1 NaN or infinite value\(s\); weights must be finite"):
        units_to_keep(torch.tensor([[1.0], [float("nan")]]), 0.5)
    with pytest.raises(ValueError, match=r"sparsity=0\.9 would remove all 2 units"):
        units_to_keep(torch.ones(2, 3), 0.9)
