"""distill_lib.pruning.apply: masks on a model against torch.nn.utils.prune, kept while training, and scans."""

import copy

import pytest
import torch
from torch import nn
from torch.nn.utils import prune as torch_prune

from distill_lib.models import count_parameters, serialized_size
from distill_lib.pruning import (
    accuracy_vs_sparsity,
    copy_model,
    layer_sensitivity,
    make_permanent,
    prunable_layers,
    prune_magnitude,
    weight_sparsity,
)
from distill_lib.training import evaluate, fit

SPARSITIES = [0.0, 0.1, 0.5, 0.9, 0.99]


from pruning_helpers import random_mlp, toy_data, state_of, same_state


# ---------------------------------------------------------------- against torch.nn.utils.prune


@pytest.mark.parametrize("sparsity", SPARSITIES)
def test_global_scope_matches_global_unstructured(sparsity):
    ours, theirs = random_mlp((64, 48, 32, 10), seed=1), random_mlp((64, 48, 32, 10), seed=1)
    layers = [m for m in theirs if isinstance(m, nn.Linear)]
    torch_prune.global_unstructured([(m, "weight") for m in layers], torch_prune.L1Unstructured, amount=sparsity)
    masks = prune_magnitude(ours, sparsity, scope="global")
    for (name, mask), m in zip(masks.items(), layers):
        torch.testing.assert_close(mask, m.weight_mask, rtol=0, atol=0, msg=f"layer {name}")
        assert torch_prune.is_pruned(ours[int(name)])
    X, _ = toy_data()
    torch.testing.assert_close(ours(X), theirs(X), rtol=0, atol=0)


@pytest.mark.parametrize("sparsity", [0.2, 0.6, 0.95])
def test_layer_scope_matches_l1_unstructured_per_layer(sparsity):
    ours, theirs = random_mlp(seed=2), random_mlp(seed=2)
    for m in theirs:
        if isinstance(m, nn.Linear):
            torch_prune.l1_unstructured(m, "weight", amount=sparsity)
    for name, mask in prune_magnitude(ours, sparsity, scope="layer").items():
        torch.testing.assert_close(mask, theirs[int(name)].weight_mask, rtol=0, atol=0)


def test_model_sparsity_is_exact():
    model = random_mlp((64, 128, 10))
    prune_magnitude(model, 0.9, scope="global")
    total = 64 * 128 + 128 * 10
    assert weight_sparsity(model) == round(0.9 * total) / total
    model = random_mlp((64, 128, 10))
    masks = prune_magnitude(model, 0.9, scope="layer")
    assert int((masks["0"] == 0).sum()) == round(0.9 * 8192) and int((masks["2"] == 0).sum()) == 1152
    assert weight_sparsity(model, ["2"]) == 1152 / 1280


# ---------------------------------------------------------------- masks stay applied


def test_pruned_weights_get_no_gradient_and_stay_zero_during_fine_tuning():
    model = random_mlp()
    X, y = toy_data()
    masks = prune_magnitude(model, 0.8)
    orig_before = {n: model[int(n)].weight_orig.detach().clone() for n in masks}
    fit(model, X, y, epochs=30, lr=1e-2, progress=False)
    for name, mask in masks.items():
        layer = model[int(name)]
        assert torch.all(layer.weight[mask == 0] == 0), f"layer {name}: a pruned weight came back"
        # Adam never moved them either: their gradient was exactly zero
        torch.testing.assert_close(layer.weight_orig[mask == 0], orig_before[name][mask == 0], rtol=0, atol=0)
        assert not torch.equal(layer.weight_orig[mask == 1], orig_before[name][mask == 1])
    assert weight_sparsity(model) == round(0.8 * (64 * 32 + 32 * 10)) / (64 * 32 + 32 * 10)


def test_pruning_again_never_revives_weights():
    model = random_mlp()
    first = prune_magnitude(model, 0.5, scope="layer")
    with torch.no_grad():  # make the pruned weights' originals the largest: magnitude alone would revive them
        for name, mask in first.items():
            model[int(name)].weight_orig[mask == 0] = 100.0
    second = prune_magnitude(model, 0.7, scope="layer")
    for name in first:
        assert torch.all(second[name][first[name] == 0] == 0), f"layer {name}: revived"
    state = state_of(model)
    with pytest.raises(ValueError, match=r"sparsity=0\.3 is below the 0\.700"):
        prune_magnitude(model, 0.3, scope="layer")
    with pytest.raises(ValueError, match=r"sparsity=0\.3 is below"):
        prune_magnitude(model, 0.3, scope="global")
    assert same_state(model, state)


# ---------------------------------------------------------------- masks vs size


def test_masks_do_not_shrink_the_model_and_permanent_masks_match_it():
    dense = random_mlp((64, 128, 10))
    masked = copy_model(dense)
    prune_magnitude(masked, 0.9)
    assert count_parameters(masked) == count_parameters(dense)  # weight_orig is still a full parameter
    assert serialized_size(masked) > serialized_size(dense)  # ... and the masks come on top
    X, _ = toy_data()
    before = masked(X)
    with pytest.raises(RuntimeError, match="graph leaves"):  # PyTorch's own limitation ...
        copy.deepcopy(masked)
    permanent = make_permanent(copy_model(masked))  # ... which copy_model works around
    assert not any(torch_prune.is_pruned(m) for m in permanent.modules())
    assert set(permanent.state_dict()) == set(dense.state_dict())
    assert abs(serialized_size(permanent) - serialized_size(dense)) < 100
    torch.testing.assert_close(permanent(X), before, rtol=0, atol=0)
    assert weight_sparsity(permanent) == weight_sparsity(masked)
    assert torch_prune.is_pruned(masked)  # the copy was made permanent, not the original


# ---------------------------------------------------------------- scans


def test_accuracy_vs_sparsity_and_sensitivity():
    model = random_mlp()
    X, y = toy_data()
    state = state_of(model)
    accuracies = accuracy_vs_sparsity(model, [0.0, 0.5, 0.9], eval_set=(X, y), scope="layer")
    assert accuracies[0] == pytest.approx(100 * evaluate(model, X, y), abs=1e-4)
    reference = copy.deepcopy(model)
    for m in reference:
        if isinstance(m, nn.Linear):
            torch_prune.l1_unstructured(m, "weight", amount=0.9)
    assert accuracies[2] == pytest.approx(100 * evaluate(reference, X, y), abs=1e-4)  # the same as pruning with PyTorch
    scan = layer_sensitivity(model, [0.0, 0.9], eval_set=(X, y))
    assert list(scan) == ["0", "2"] and all(v[0] == accuracies[0] for v in scan.values())
    only_first = copy.deepcopy(model)
    torch_prune.l1_unstructured(only_first[0], "weight", amount=0.9)
    assert scan["0"][1] == pytest.approx(100 * evaluate(only_first, X, y), abs=1e-4)  # one layer pruned, the other dense
    assert same_state(model, state)
    # the same numbers from a model that already carries masks (copying it must work)
    prune_magnitude(model, 0.0)
    assert accuracy_vs_sparsity(model, [0.0, 0.5, 0.9], eval_set=(X, y), scope="layer") == accuracies


# ---------------------------------------------------------------- bad input, checked before any change


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_weights_are_rejected_before_any_mask(bad):
    model = random_mlp().train()
    with torch.no_grad():
        model[2].weight[3, 4] = bad
    state = state_of(model)
    X, y = toy_data()
    for call in (
        lambda: prune_magnitude(model, 0.5),
        lambda: accuracy_vs_sparsity(model, [0.5], eval_set=(X, y)),
        lambda: layer_sensitivity(model, [0.5], eval_set=(X, y)),
    ):
        with pytest.raises(ValueError, match=r"model layer '2' weight contains 1 NaN or infinite value"):
            call()
    assert not any(torch_prune.is_pruned(m) for m in model.modules())
    assert model.training is True
    assert torch.equal(torch.isnan(model[2].weight), torch.isnan(state["2.weight"]))


@pytest.mark.parametrize("sparsity", [1.0, -0.1, float("nan")])
def test_sparsity_out_of_range_changes_nothing(sparsity):
    model = random_mlp()
    X, y = toy_data()
    with pytest.raises(ValueError, match=rf"sparsity={sparsity!r} is out of range; allowed: \[0, 1\)"):
        prune_magnitude(model, sparsity)
    with pytest.raises(ValueError, match=r"sparsities\[1\]=.* is out of range"):
        accuracy_vs_sparsity(model, [0.5, sparsity], eval_set=(X, y))
    assert not any(torch_prune.is_pruned(m) for m in model.modules())


def test_non_prunable_modules_and_bad_models():
    model = random_mlp()
    with pytest.raises(TypeError, match=r"layer '1' is a ReLU, which cannot be pruned; prunable layers are nn.Linear"):
        prune_magnitude(model, 0.5, layers=["1"])
    with pytest.raises(ValueError, match=r"layer 'fc9' does not exist"):
        prune_magnitude(model, 0.5, layers=["fc9"])
    with pytest.raises(TypeError, match="list of layer names"):
        prunable_layers(model, "0")
    with pytest.raises(ValueError, match="layers is empty"):
        prunable_layers(model, [])
    with pytest.raises(ValueError, match="has no nn.Linear layer"):
        prune_magnitude(nn.Sequential(nn.ReLU(), nn.Conv2d(1, 1, 3)), 0.5)
    with pytest.raises(TypeError, match="model must be a torch.nn.Module, got Tensor"):
        prune_magnitude(torch.ones(3, 3), 0.5)
    with pytest.raises(ValueError, match=r"scope='local' is not allowed; choose one of \('layer', 'global'\)"):
        prune_magnitude(model, 0.5, scope="local")
    assert not any(torch_prune.is_pruned(m) for m in model.modules())


def test_scans_check_the_eval_set():
    model = random_mlp()
    X, y = toy_data()
    with pytest.raises(TypeError, match=r"eval_set must be a tuple \(X, targets\), got list"):
        accuracy_vs_sparsity(model, [0.5], eval_set=[X, y])
    with pytest.raises(ValueError, match=r"eval_set\[1\] \(targets\) contain class index 10; allowed range is \[0, 9\]"):
        layer_sensitivity(model, [0.5], eval_set=(X, y + 1))
    with pytest.raises(ValueError, match=r"eval_set\[0\] \(X\) contains 1 NaN"):
        X_bad = X.clone()
        X_bad[0, 0] = float("nan")
        accuracy_vs_sparsity(model, [0.5], eval_set=(X_bad, y))
