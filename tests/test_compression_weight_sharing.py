"""distill_lib.compression.weight_sharing: k-means and linear codebooks, sharing a model, eq.-3 fine-tuning."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.cluster import KMeans
from torch import nn
from torch.nn.utils import prune as torch_prune

from distill_lib.compression.weight_sharing import (
    SharedWeights,
    _assign,
    _initial_centroids,
    _shared_forward,
    apply_shared,
    centroid_gradients,
    finetune_codebook,
    kmeans_codebook,
    linear_codebook,
    share_weights,
)
from distill_lib.losses import make_loss
from distill_lib.pruning import make_permanent, prune_magnitude
from distill_lib.quantization import choose_qparams, fake_quantize, quant_range

from pruning_helpers import random_mlp, same_state, state_of, toy_data

# Han, Mao & Dally (2016), Figure 3: weights, their 2-bit cluster index, the centroids, and the gradient.
FIG3_WEIGHTS = torch.tensor([[2.09, -0.98, 1.48, 0.09], [0.05, -0.14, -1.08, 2.12],
                             [-0.91, 1.92, 0.0, -1.03], [1.87, 0.0, 1.53, 1.49]])
FIG3_CODES = torch.tensor([[3, 0, 2, 1], [1, 1, 0, 3], [0, 3, 1, 0], [3, 1, 2, 2]])
FIG3_CENTROIDS = torch.tensor([-1.00, 0.00, 1.50, 2.00])
FIG3_GRADIENT = torch.tensor([[-0.03, -0.01, 0.03, 0.02], [-0.01, 0.01, -0.02, 0.12],
                              [-0.01, 0.02, 0.04, 0.01], [-0.07, -0.02, 0.01, -0.02]])


def pruned_mlp(sparsity=0.8, seed=0, permanent=True):
    model = random_mlp(seed=seed)
    prune_magnitude(model, sparsity)
    return make_permanent(model) if permanent else model


# ----------------------------------------------------------------------------------- SharedWeights


def test_shared_weights_weight_is_the_codebook_where_kept_and_zero_where_pruned():
    s = SharedWeights(torch.tensor([-1.0, 2.0]), torch.tensor([[0, 1], [0, 0]]),
                      torch.tensor([[True, True], [False, True]]), bits=1)
    assert torch.equal(s.weight(), torch.tensor([[-1.0, 2.0], [0.0, -1.0]]))
    assert s.weight().dtype == torch.float32


@pytest.mark.parametrize("field, value, error, match", [
    ("bits", 9, ValueError, r"bits=9 is out of range; allowed: \[1, 8\]"),
    ("codebook", torch.zeros(3), ValueError, "K=3 centroids but bits=1"),
    ("codebook", torch.tensor([0.0, float("nan")]), ValueError, "codebook contains 1 NaN"),
    ("codebook", torch.zeros(2, dtype=torch.float64), TypeError, "codebook must be a float32"),
    ("codes", torch.tensor([[0, 2], [0, 0]]), ValueError, r"codes hold values in \[0, 2\]; allowed: \[0, 1\]"),
    ("codes", torch.tensor([[0, 1], [1, 0]]), ValueError, "codes must be 0 where mask is False"),
    ("codes", torch.tensor([[0, 1], [0, 0]], dtype=torch.int32), TypeError, "codes must be an int64"),
    ("mask", torch.ones(2, 2), TypeError, "mask must be a 2-d bool"),
    ("mask", torch.ones(2, 3, dtype=torch.bool), ValueError, r"codes has shape \(2, 2\) but mask has shape \(2, 3\)"),
])
def test_shared_weights_refuses_bad_fields(field, value, error, match):
    fields = dict(codebook=torch.tensor([-1.0, 2.0]), codes=torch.tensor([[0, 1], [0, 0]]),
                  mask=torch.tensor([[True, True], [False, True]]), bits=1)
    fields[field] = value
    with pytest.raises(error, match=match):
        SharedWeights(**fields)


# ------------------------------------------------------------------------------------------ k-means


def test_kmeans_by_hand():
    """[0, 1, 2, 3, 9], K = 2 from [0, 9]: boundary 4.5 -> {0,1,2,3} and {9} -> centroids 1.5 and 9, stable."""
    codebook, codes = kmeans_codebook(torch.tensor([0.0, 1.0, 2.0, 3.0, 9.0]), bits=1)
    assert torch.equal(codebook, torch.tensor([1.5, 9.0])) and torch.equal(codes, torch.tensor([0, 0, 0, 0, 1]))
    assert codebook.dtype == torch.float32 and codes.dtype == torch.int64


def test_kmeans_empty_cluster_stays_then_is_dropped():
    """K = 4 from [0, 3, 6, 9]: nothing is nearest to 6, which stays put and is removed at the end."""
    codebook, codes = kmeans_codebook(torch.tensor([0.0, 1.0, 2.0, 3.0, 9.0]), bits=2)
    assert torch.equal(codebook, torch.tensor([0.5, 2.5, 9.0]))
    assert torch.equal(codes, torch.tensor([0, 0, 1, 1, 2]))
    one, codes = kmeans_codebook(torch.full((7,), 0.25), bits=3)  # all equal: one centroid
    assert torch.equal(one, torch.tensor([0.25])) and torch.equal(codes, torch.zeros(7, dtype=torch.int64))


def test_initial_centroids_by_hand():
    v = torch.tensor([0.0, 1.0, 2.0, 3.0, 9.0], dtype=torch.float64)
    linear = torch.tensor([0.0, 3.0, 6.0, 9.0], dtype=torch.float64)
    assert torch.allclose(_initial_centroids(v, 4, "linear", 0), linear)
    # CDF at 0, 1/3, 2/3, 1: sorted positions 0, 4/3, 8/3, 4 -> 0, 4/3, 2 + 2/3 * (3 - 2), 9
    expected = torch.tensor([0.0, 4 / 3, 8 / 3, 9.0], dtype=torch.float64)
    assert torch.allclose(_initial_centroids(v, 4, "density", 0), expected)
    forgy = _initial_centroids(v, 3, "random", 0)
    assert len(forgy) == 3 and torch.equal(forgy, forgy.sort().values) and set(forgy.tolist()) <= set(v.tolist())
    assert len(_initial_centroids(v, 8, "random", 0)) == 5  # no more centroids than values


def test_assign_reproduces_the_papers_figure_3_cluster_index():
    codes = _assign(FIG3_WEIGHTS.flatten(), FIG3_CENTROIDS).reshape(4, 4)
    assert torch.equal(codes, FIG3_CODES)


@pytest.mark.parametrize("bits", [1, 2, 3, 4])
@pytest.mark.parametrize("init", ["linear", "density"])
def test_kmeans_matches_sklearn_lloyd_from_the_same_start(bits, init):
    g = torch.Generator().manual_seed(bits)
    values = torch.cat([torch.randn(700, generator=g) * 0.1, torch.randn(300, generator=g) * 0.05 + 0.2])
    codebook, codes = kmeans_codebook(values, bits, init=init)
    assert len(codebook) == 2**bits  # premise: no empty cluster (sklearn would move one elsewhere)
    v64 = values.to(torch.float64)
    start = _initial_centroids(v64, 2**bits, init, 0).numpy().reshape(-1, 1)
    km = KMeans(n_clusters=2**bits, init=start, n_init=1, algorithm="lloyd", max_iter=300, tol=0.0)
    km.fit(v64.numpy().reshape(-1, 1))
    np.testing.assert_allclose(codebook.numpy(), km.cluster_centers_.ravel(), atol=1e-5, rtol=0)
    assert np.array_equal(codes.numpy(), km.labels_)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-4, 4, allow_nan=False, width=32), min_size=1, max_size=60),
       st.integers(1, 4), st.sampled_from(["linear", "density", "random"]))
def test_kmeans_fixed_point_properties(xs, bits, init):
    """Converged Lloyd: sorted distinct centroids, all used, each the mean of its cluster, each value at its nearest."""
    values = torch.tensor(xs, dtype=torch.float32)
    codebook, codes = kmeans_codebook(values, bits, init=init, iterations=1000)
    k = len(codebook)
    assert 1 <= k <= min(2**bits, len(values))
    assert (codebook[1:] > codebook[:-1]).all()
    assert torch.equal(torch.bincount(codes, minlength=k) > 0, torch.ones(k, dtype=torch.bool))
    v = values.double()
    means = torch.zeros(k, dtype=torch.float64).index_add_(0, codes, v) / torch.bincount(codes, minlength=k)
    assert torch.allclose(codebook.double(), means, atol=1e-5)
    distance = (v[:, None] - codebook.double()[None, :]).abs()  # (n, K)
    assert (distance[torch.arange(len(v)), codes] <= distance.min(dim=1).values + 1e-5).all()


def test_kmeans_is_deterministic_and_random_init_follows_the_seed():
    values = torch.randn(500, generator=torch.Generator().manual_seed(0))
    for init in ["linear", "density", "random"]:
        a, b = kmeans_codebook(values, 3, init=init), kmeans_codebook(values, 3, init=init)
        assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    starts = {tuple(kmeans_codebook(values, 3, init="random", seed=s, iterations=0)[0].tolist()) for s in range(3)}
    assert len(starts) == 3


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(values=torch.zeros(3, 2)), ValueError, r"values must be 1-d \(n,\).*shape \(3, 2\)"),
    (dict(values=torch.tensor([1.0, float("inf")])), ValueError, "values contains 1 NaN or infinite"),
    (dict(values=torch.zeros(0)), ValueError, "values is empty"),
    (dict(values=torch.zeros(3, dtype=torch.float64)), TypeError, "values must be a float32 tensor"),
    (dict(bits=0), ValueError, r"bits=0 is out of range; allowed: \[1, 8\]"),
    (dict(bits=9), ValueError, r"bits=9 is out of range; allowed: \[1, 8\]"),
    (dict(bits=2.0), TypeError, r"bits must be an integer, got float \(2.0\)"),
    (dict(init="forgy"), ValueError, r"init='forgy' is not allowed; choose one of \('linear', 'density', 'random'\)"),
    (dict(iterations=-1), ValueError, r"iterations=-1 is out of range; allowed: \[0, inf\]"),
])
def test_kmeans_codebook_refuses_bad_input(kwargs, error, match):
    args = dict(values=torch.tensor([0.0, 1.0]), bits=1) | kwargs
    with pytest.raises(error, match=match):
        kmeans_codebook(args.pop("values"), args.pop("bits"), **args)


# ------------------------------------------------------------------------------------ linear codes


@pytest.mark.parametrize("bits", [2, 3, 4, 5, 8])
def test_linear_codebook_is_fake_quantize_bit_for_bit(bits):
    values = torch.randn(2000, generator=torch.Generator().manual_seed(bits)) * 0.3
    codebook, codes = linear_codebook(values, bits)
    qmin, qmax = quant_range(bits, symmetric=True)
    assert len(codebook) == 2**bits - 1 and codes.min() >= 0 and codes.max() <= 2**bits - 2
    assert torch.equal(codebook, codebook.sort().values) and codebook[-qmin] == 0.0
    scale = values.abs().max() / qmax
    qparams = choose_qparams(values, bits, symmetric=True)
    assert qparams.scale.item() == pytest.approx(scale.item(), rel=1e-6)
    reference = torch.fake_quantize_per_tensor_affine(values, qparams.scale.item(), 0, qmin, qmax)
    assert torch.equal(codebook[codes], reference)
    assert torch.equal(codebook[codes], fake_quantize(values, qparams))
    assert torch.equal(codes, torch.round(values * (1.0 / qparams.scale)).long() - qmin)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-100, 100, allow_nan=False, width=32), min_size=1, max_size=50), st.integers(2, 8))
def test_linear_codebook_error_is_at_most_half_a_step(xs, bits):
    values = torch.tensor(xs, dtype=torch.float32)
    codebook, codes = linear_codebook(values, bits)
    step = (codebook[1] - codebook[0]).item()
    assert ((codebook[codes] - values).abs() <= step / 2 * (1 + 1e-5) + 1e-30).all()


def test_linear_codebook_by_hand_and_refuses_one_bit():
    codebook, codes = linear_codebook(torch.tensor([-0.9, 0.2, 1.4]), bits=2)  # scale 1.4 / 1
    assert torch.allclose(codebook, torch.tensor([-1.4, 0.0, 1.4])) and torch.equal(codes, torch.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match=r"bits=1 is out of range; allowed: \[2, 8\]"):
        linear_codebook(torch.tensor([1.0]), 1)


# ------------------------------------------------------------------------------------ on a model


@pytest.mark.parametrize("method", ["kmeans", "linear"])
def test_share_weights_on_a_pruned_model(method):
    masked = pruned_mlp(permanent=False)  # PyTorch pruning masks still attached
    before = state_of(masked)
    shared = share_weights(masked, [3, 2], method=method)
    assert same_state(masked, before) and all(torch_prune.is_pruned(masked[i]) for i in (0, 2))
    permanent = make_permanent(pruned_mlp())
    again = share_weights(permanent, [3, 2], method=method)
    for s, t, layer in zip(shared, again, (permanent[0], permanent[2])):
        assert torch.equal(s.mask, layer.weight != 0) and torch.equal(s.codes, t.codes)
        assert torch.equal(s.codebook, t.codebook)
        assert (s.codes[~s.mask] == 0).all()
    assert [s.bits for s in shared] == [3, 2]
    if method == "kmeans":  # linear init puts centroids in the pruned gap around 0: they end empty, dropped
        assert all(1 <= len(s.codebook) <= 2**s.bits for s in shared)
        assert all(len(torch.unique(s.codes[s.mask])) == len(s.codebook) for s in shared)
    else:
        assert [len(s.codebook) for s in shared] == [7, 3]
    if method == "linear":  # each layer is its own symmetric per-tensor fake-quantization
        w = permanent[0].weight.detach()
        expected = torch.where(w != 0, fake_quantize(w, choose_qparams(w, 3, symmetric=True)), 0.0)
        assert torch.equal(shared[0].weight(), expected)


def test_apply_shared_returns_a_new_model_and_keeps_the_original():
    model = pruned_mlp(permanent=False)
    before = state_of(model)
    shared = share_weights(model, 4)
    new = apply_shared(model, shared)
    assert isinstance(new, nn.Sequential) and not new.training and same_state(model, before)
    assert not torch_prune.is_pruned(new[0]) and torch_prune.is_pruned(model[0])
    assert torch.equal(new[0].weight, shared[0].weight()) and torch.equal(new[2].weight, shared[1].weight())
    assert torch.equal(new[0].bias, model[0].bias) and new[0].bias.dtype == torch.float32
    assert ((new[0].weight == 0) >= (model[0].weight == 0)).all()  # pruned weights stay pruned


def test_one_bit_kmeans_keeps_the_papers_two_values_per_layer():
    shared = share_weights(pruned_mlp(), 1)
    assert all(len(s.codebook) == 2 and len(torch.unique(s.weight()[s.mask])) == 2 for s in shared)


@pytest.mark.parametrize("call, error, match", [
    (lambda m: share_weights(m, 9), ValueError, r"bits=9 is out of range; allowed: \[1, 8\]"),
    (lambda m: share_weights(m, 1, method="linear"), ValueError, r"bits=1 is out of range; allowed: \[2, 8\]"),
    (lambda m: share_weights(m, [4, 0]), ValueError, r"bits\[1\]=0 is out of range; allowed: \[1, 8\]"),
    (lambda m: share_weights(m, [4]), ValueError, r"bits=\[4\] has 1 entries but the model has 2 nn.Linear"),
    (lambda m: share_weights(m, "4"), TypeError, "bits must be an integer or a list"),
    (lambda m: share_weights(m, 4, method="huffman"), ValueError,
     r"method='huffman' is not allowed; choose one of \('kmeans', 'linear'\)"),
    (lambda m: share_weights(m, 4, init="kmeans++"), ValueError, r"init='kmeans\+\+' is not allowed"),
    (lambda m: share_weights(nn.Sequential(m, nn.BatchNorm1d(10)), 4), TypeError,
     r"model\[0\] is a Sequential with parameters"),
    (lambda m: share_weights(make_permanent(pruned_mlp()).double(), 4), TypeError,
     r"model\[0\].weight must be a float32 tensor, got dtype=torch.float64"),
    (lambda m: share_weights(nn.Linear(3, 2), 4), TypeError,
     r"model must be an nn.Sequential MLP \(e.g. distill_lib.models.mlp\), got Linear"),
    (lambda m: share_weights(nn.Sequential(nn.ReLU()), 4), ValueError, "model has no nn.Linear layer"),
    (lambda m: apply_shared(m, share_weights(m, 4)[:1]), ValueError, "shared has 1 entries but the model has 2"),
    (lambda m: apply_shared(m, share_weights(m, 4)[::-1]), ValueError,
     r"shared\[0\] has shape \(10, 32\) but model\[0\].weight has shape \(32, 64\)"),
    (lambda m: apply_shared(m, [None, None]), TypeError, r"shared\[0\] must be a SharedWeights, got NoneType"),
])
def test_model_functions_refuse_bad_input_and_touch_nothing(call, error, match):
    model = pruned_mlp(permanent=False)
    before = state_of(model)
    with pytest.raises(error, match=match):
        call(model)
    assert same_state(model, before)


def test_share_weights_refuses_a_dead_layer_and_non_finite_weights():
    model = pruned_mlp()
    with torch.no_grad():
        model[2].weight.zero_()
    with pytest.raises(ValueError, match=r"model\[2\] has no kept weight \(all 320 are zero\)"):
        share_weights(model, 4)
    with torch.no_grad():
        model[2].weight[0, 0] = float("nan")
    with pytest.raises(ValueError, match=r"model\[2\].weight contains 1 NaN or infinite value\(s\)"):
        share_weights(model, 4)


# -------------------------------------------------------------------------- codebook fine-tuning


def test_centroid_gradients_reproduce_the_papers_figure_3():
    shared = SharedWeights(FIG3_CENTROIDS, FIG3_CODES, torch.ones(4, 4, dtype=torch.bool), bits=2)
    grad = centroid_gradients(FIG3_GRADIENT, shared)
    assert torch.allclose(grad, torch.tensor([-0.03, 0.04, 0.02, 0.04]), atol=1e-6)
    fine_tuned = FIG3_CENTROIDS - 1.0 * grad  # the figure's learning rate is 1
    assert torch.allclose(fine_tuned, torch.tensor([-0.97, -0.04, 1.48, 1.96]), atol=1e-6)
    pruned = SharedWeights(FIG3_CENTROIDS, FIG3_CODES * (FIG3_WEIGHTS != 0), FIG3_WEIGHTS != 0, bits=2)
    assert torch.allclose(centroid_gradients(FIG3_GRADIENT, pruned), torch.tensor([-0.03, 0.02, 0.02, 0.04]),
                          atol=1e-6)  # cluster 1 loses the pruned zeros' 0.04 and -0.02: 0.04 - 0.04 + 0.02


def test_autograd_codebook_gradient_is_eq_3():
    model = pruned_mlp()
    shared = share_weights(model, 3)
    X, y = toy_data(64)
    teacher_logits = torch.randn(64, 10, generator=torch.Generator().manual_seed(1))
    loss_fn = make_loss(4.0, 0.5)
    codebooks = [s.codebook.clone().requires_grad_() for s in shared]
    loss_fn(_shared_forward(model, codebooks, shared, X), targets=y, teacher_logits=teacher_logits).backward()
    dense = apply_shared(model, shared)  # the same weights as plain parameters
    loss_fn(dense(X), targets=y, teacher_logits=teacher_logits).backward()
    for codebook, s, layer in zip(codebooks, shared, (dense[0], dense[2])):
        assert torch.allclose(codebook.grad, centroid_gradients(layer.weight.grad, s), atol=1e-6, rtol=1e-5)


def test_finetune_codebook_trains_centroids_and_biases_only():
    model = pruned_mlp(permanent=False)
    before = state_of(model)
    shared = share_weights(model, 2)
    X, y = toy_data(128)
    loss_fn = make_loss()
    start = apply_shared(model, shared)
    tuned, new = finetune_codebook(model, shared, X, y, epochs=30, lr=1e-2)
    assert same_state(model, before)  # the original, masks and all, is untouched
    assert loss_fn(tuned(X), targets=y) < loss_fn(start(X), targets=y)
    for s, t, i in zip(shared, new, (0, 2)):
        assert torch.equal(s.codes, t.codes) and torch.equal(s.mask, t.mask) and s.bits == t.bits
        assert not torch.equal(s.codebook, t.codebook)
        assert torch.equal(tuned[i].weight, t.weight()) and (tuned[i].weight[~t.mask] == 0).all()
        assert not torch.equal(tuned[i].bias, start[i].bias)
    assert not tuned.training and all(p.requires_grad for p in tuned.parameters())


def test_first_adam_step_moves_each_centroid_by_lr_against_its_eq_3_gradient():
    """Adam's first step is -lr * sign(g) (up to eps): the direction comes from eq. 3."""
    model = pruned_mlp()
    shared = share_weights(model, 3)
    X, y = toy_data(64)
    dense = apply_shared(model, shared)
    make_loss()(dense(X), targets=y).backward()
    _, new = finetune_codebook(model, shared, X, y, epochs=1, lr=1e-3)
    for s, t, layer in zip(shared, new, (dense[0], dense[2])):
        g = centroid_gradients(layer.weight.grad, s)
        moved = g.abs() > 1e-6  # a centroid with a (near) zero gradient barely moves
        assert torch.allclose((t.codebook - s.codebook)[moved], -1e-3 * g.sign()[moved], atol=1e-6)


def test_finetune_codebook_distils_deterministically_and_zero_epochs_is_apply_shared():
    model = random_mlp(dropout=0.2)
    prune_magnitude(model, 0.5)
    shared = share_weights(model, 3, method="linear")
    X, y = toy_data(64)
    teacher_logits = torch.randn(64, 10, generator=torch.Generator().manual_seed(2))
    rng = torch.get_rng_state()
    runs = [finetune_codebook(model, shared, X, y, teacher_logits=teacher_logits, lam=0.9, epochs=5, lr=1e-2, seed=3)
            for _ in range(2)]
    assert torch.equal(torch.get_rng_state(), rng)  # the caller's random state is untouched
    assert all(torch.equal(a.codebook, b.codebook) for a, b in zip(runs[0][1], runs[1][1]))
    other = finetune_codebook(model, shared, X, y, teacher_logits=teacher_logits, lam=0.9, epochs=5, lr=1e-2, seed=4)
    assert not torch.equal(other[1][0].codebook, runs[0][1][0].codebook)  # dropout follows the seed
    zero, same = finetune_codebook(model, shared, X, y, epochs=0, lr=1e-2)
    assert same_state(zero, state_of(apply_shared(model, shared)))
    assert all(torch.equal(a.codebook, b.codebook) for a, b in zip(same, shared))


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(epochs=-1), ValueError, r"epochs=-1 is out of range; allowed: \[0, inf\]"),
    (dict(lr=0.0), ValueError, r"lr=0.0 is out of range; allowed: a finite number > 0"),
    (dict(lr=float("nan")), ValueError, r"lr=nan is out of range"),
    (dict(lam=0.9), ValueError, "lam=0.9 distils from a teacher: give teacher_logits"),
    (dict(lam=1.5), ValueError, r"lam=1.5 must be in the range \[0, 1\]"),
    (dict(temperature=0.0), ValueError, "temperature=0.0 must be a finite number > 0"),
    (dict(seed=-1), ValueError, r"seed=-1 is out of range"),
    (dict(lam=0.5, teacher_logits=torch.zeros(64, 9)), ValueError,
     r"teacher_logits has shape \(64, 9\); it must be \(64, 10\)"),
    (dict(lam=0.5, teacher_logits=torch.full((64, 10), float("nan"))), ValueError, "teacher_logits contains 640 NaN"),
    (dict(X=torch.zeros(64, 63)), ValueError, r"X has shape \(64, 63\) but the model's first layer takes 64"),
    (dict(targets=torch.zeros(63, dtype=torch.int64)), ValueError, r"targets\) must have shape \(64,\)"),
    (dict(targets=torch.full((64,), 10)), ValueError, r"class index 10; allowed range is \[0, 9\]"),
    (dict(shared=[]), ValueError, "shared has 0 entries but the model has 2"),
])
def test_finetune_codebook_refuses_bad_input_and_touches_nothing(kwargs, error, match):
    model = pruned_mlp(permanent=False)
    before = state_of(model)
    X, y = toy_data(64)
    args = dict(shared=share_weights(model, 2), X=X, targets=y, epochs=2, lr=1e-2) | kwargs
    with pytest.raises(error, match=match):
        finetune_codebook(model, args.pop("shared"), args.pop("X"), args.pop("targets"), **args)
    assert same_state(model, before)


def test_centroid_gradients_refuses_bad_input():
    shared = SharedWeights(FIG3_CENTROIDS, FIG3_CODES, torch.ones(4, 4, dtype=torch.bool), bits=2)
    with pytest.raises(ValueError, match=r"weight_grad has shape \(4, 3\) but the layer's weight has shape \(4, 4\)"):
        centroid_gradients(torch.zeros(4, 3), shared)
    with pytest.raises(TypeError, match="shared must be a SharedWeights, got Tensor"):
        centroid_gradients(FIG3_GRADIENT, FIG3_CENTROIDS)
