"""distill_lib.pruning.size: non-zero parameters and bytes, dense and CSR, against torch's own CSR tensors."""

import pytest
import torch
from torch import nn

from distill_lib.models import mlp
from distill_lib.pruning import copy_model, make_permanent, nonzero_parameters, prune_magnitude, storage_bytes
from distill_lib.training import set_seed

pytestmark = pytest.mark.filterwarnings("ignore:Sparse CSR tensor support is in beta")


def pruned_mlp(sparsity, sizes=(64, 128, 10)):
    set_seed(0)
    model = mlp(list(sizes))
    prune_magnitude(model, sparsity)
    return model


def csr_bytes_by_torch(model, index_dtype):
    """Bytes of each 2-D weight as torch stores it in CSR, biases dense."""
    total = 0
    for p in make_permanent(copy_model(model)).parameters():
        if p.ndim == 2:
            csr = p.detach().to_sparse_csr()
            crow = csr.crow_indices().to(index_dtype)
            col = csr.col_indices().to(index_dtype)
            total += csr.values().numel() * csr.values().element_size()
            total += crow.numel() * crow.element_size() + col.numel() * col.element_size()
        else:
            total += p.numel() * p.element_size()
    return total


@pytest.mark.parametrize("sparsity", [0.0, 0.5, 0.9])
def test_counts_against_torch(sparsity):
    model = pruned_mlp(sparsity)
    weights = 64 * 128 + 128 * 10
    assert nonzero_parameters(model) == weights - round(sparsity * weights) + 128 + 10
    assert storage_bytes(model) == 4 * (weights + 138)  # dense: the mask does not shrink anything
    for index_bytes, dtype in ((4, torch.int32), (8, torch.int64)):
        assert storage_bytes(model, layout="csr", index_bytes=index_bytes) == csr_bytes_by_torch(model, dtype)


def test_csr_is_smaller_only_when_sparse_enough():
    assert storage_bytes(pruned_mlp(0.9), layout="csr") < storage_bytes(pruned_mlp(0.9)) / 4
    assert storage_bytes(pruned_mlp(0.0), layout="csr") > storage_bytes(pruned_mlp(0.0))
    assert torch.nn.utils.prune.is_pruned(pruned_mlp(0.9))  # counting works on a copy, masks stay


def test_bad_input():
    with pytest.raises(ValueError, match=r"layout='coo' is not allowed; choose one of \('dense', 'csr'\)"):
        storage_bytes(mlp([4, 2]), layout="coo")
    with pytest.raises(ValueError, match=r"index_bytes=0 is out of range; allowed: \[1, 8\]"):
        storage_bytes(mlp([4, 2]), layout="csr", index_bytes=0)
    with pytest.raises(TypeError, match="model must be a torch.nn.Module, got list"):
        nonzero_parameters([nn.Linear(2, 2)])
