"""distill_lib.pruning on models against torch.nn.utils.prune: masks in place, removal of units, fine-tuning.

The masks on plain tensors (exact counts, ties) are tested in test_pruning_masks.py.
"""

import copy
from functools import partial

import pytest
import torch
from torch import nn
from torch.nn.utils import prune as torch_prune

from distill_lib.losses import distillation_loss
from distill_lib.models import count_parameters, mlp, serialized_size
from distill_lib.pruning import (
    accuracy_vs_sparsity,
    check_sparsity,
    copy_model,
    global_magnitude_masks,
    layer_sensitivity,
    magnitude_mask,
    make_permanent,
    prunable_layers,
    prune_and_finetune,
    prune_magnitude,
    prune_preview,
    remove_hidden_units,
    sparsity_schedule,
    speedup,
    time_forward,
    units_to_keep,
    weight_sparsity,
)
from distill_lib.training import evaluate, fit, set_seed


def random_mlp(sizes=(64, 32, 10), seed=0, dropout=0.0):
    set_seed(seed)
    return mlp(list(sizes), dropout=dropout)


def toy_data(n=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    X = torch.rand(n, 64, generator=g)
    y = torch.randint(0, 10, (n,), generator=g)
    return X, y


SPARSITIES = [0.0, 0.1, 0.3, 0.5, 0.75, 0.9, 0.99]


# ---------------------------------------------------------------- masks on a model, against torch.nn.utils.prune


@pytest.mark.parametrize("sparsity", SPARSITIES)
def test_global_masks_match_global_unstructured(sparsity):
    ours, theirs = random_mlp((64, 48, 32, 10), seed=1), random_mlp((64, 48, 32, 10), seed=1)
    layers = [m for m in theirs if isinstance(m, nn.Linear)]
    torch_prune.global_unstructured(
        [(m, "weight") for m in layers], pruning_method=torch_prune.L1Unstructured, amount=sparsity
    )
    expected = [m.weight_mask for m in layers]
    got = global_magnitude_masks([m.weight for m in ours if isinstance(m, nn.Linear)], sparsity)
    for i, (a, b) in enumerate(zip(got, expected)):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=f"layer {i} at sparsity {sparsity}")
    # ... and prune_magnitude attaches the same masks through PyTorch's own machinery
    masks = prune_magnitude(ours, sparsity, scope="global")
    for (name, mask), b in zip(masks.items(), expected):
        torch.testing.assert_close(mask, b, rtol=0, atol=0)
        assert torch_prune.is_pruned(ours[int(name)])
    X, _ = toy_data()
    torch.testing.assert_close(ours(X), theirs(X), rtol=0, atol=0)


@pytest.mark.parametrize("sparsity", [0.2, 0.6, 0.95])
def test_layer_scope_matches_l1_unstructured_per_layer(sparsity):
    ours, theirs = random_mlp(seed=2), random_mlp(seed=2)
    for m in theirs:
        if isinstance(m, nn.Linear):
            torch_prune.l1_unstructured(m, "weight", amount=sparsity)
    masks = prune_magnitude(ours, sparsity, scope="layer")
    for name, mask in masks.items():
        torch.testing.assert_close(mask, theirs[int(name)].weight_mask, rtol=0, atol=0)


def test_model_sparsity_is_exact():
    model = random_mlp((64, 128, 10))
    prune_magnitude(model, 0.9, scope="global")
    total = 64 * 128 + 128 * 10
    assert weight_sparsity(model) == round(0.9 * total) / total
    model = random_mlp((64, 128, 10))
    masks = prune_magnitude(model, 0.9, scope="layer")
    assert int((masks["0"] == 0).sum()) == round(0.9 * 8192) and int((masks["2"] == 0).sum()) == 1152


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
    assert weight_sparsity(model) == pytest.approx(0.8, abs=1e-3)


def test_pruning_again_never_revives_weights():
    model = random_mlp()
    first = prune_magnitude(model, 0.5, scope="layer")
    with torch.no_grad():  # make the pruned weights' originals the largest: magnitude alone would revive them
        for name, mask in first.items():
            model[int(name)].weight_orig[mask == 0] = 100.0
    second = prune_magnitude(model, 0.7, scope="layer")
    for name in first:
        assert torch.all(second[name][first[name] == 0] == 0), f"layer {name}: revived"
    with pytest.raises(ValueError, match=r"sparsity=0\.3 is below the 0\.700"):
        prune_magnitude(model, 0.3, scope="layer")
    with pytest.raises(ValueError, match=r"sparsity=0\.3 is below"):
        prune_magnitude(model, 0.3, scope="global")
    with pytest.raises(ValueError, match="must not decrease"):
        prune_and_finetune(random_mlp(), *toy_data(), sparsities=[0.5, 0.3], epochs=1)


# ---------------------------------------------------------------- masks vs real removal


def test_masks_do_not_shrink_the_model_and_permanent_masks_match_it():
    dense = random_mlp((64, 128, 10))
    masked = copy.deepcopy(dense)
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
    assert count_parameters(permanent) == count_parameters(dense)
    assert abs(serialized_size(permanent) - serialized_size(dense)) < 100
    torch.testing.assert_close(permanent(X), before, rtol=0, atol=0)
    assert weight_sparsity(permanent) == weight_sparsity(masked)


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
    linears = [m for m in small if isinstance(m, nn.Linear)]
    assert [m.out_features for m in linears] == hidden + [sizes[-1]]
    assert [type(m) for m in small] == [type(m) for m in model]
    widths = [sizes[0], *hidden, sizes[-1]]
    assert count_parameters(small) == sum(a * b + b for a, b in zip(widths[:-1], widths[1:]))
    keeps = [units_to_keep(m.weight, sparsity) for m in model if isinstance(m, nn.Linear)][:-1]
    X, _ = toy_data()
    torch.testing.assert_close(small(X), zero_units(model, keeps).eval()(X), rtol=1e-5, atol=1e-6)
    assert small.training is False
    assert serialized_size(small) < serialized_size(model) or sparsity == 0


def test_remove_hidden_units_honours_masks_and_leaves_the_model_alone():
    model = random_mlp((64, 32, 10))
    prune_magnitude(model, 0.5)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    small = remove_hidden_units(model, 0.25)
    for k, v in model.state_dict().items():
        torch.testing.assert_close(v, state[k], rtol=0, atol=0)
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


def test_units_to_keep_ties_and_hand_example():
    weight = torch.tensor([[1.0, 1.0], [0.1, 0.0], [-3.0, 0.0]])
    torch.testing.assert_close(units_to_keep(weight, 1 / 3), torch.tensor([0, 2]))
    tied = torch.ones(4, 3)
    torch.testing.assert_close(units_to_keep(tied, 0.5), torch.tensor([2, 3]))  # the first ones go


class Recorder(nn.Module):
    """A model that notes, in a shared list, each time it runs (and in which mode)."""

    def __init__(self, name, log):
        super().__init__()
        self.name, self.log = name, log

    def forward(self, X):
        self.log.append((self.name, self.training))
        return X


def test_time_forward_alternates_the_order_and_restores_the_modes():
    log = []
    models = {name: Recorder(name, log) for name in "abc"}
    models["b"].eval()  # a and c train, b evaluates: each must get its own mode back
    timings = time_forward(models, torch.rand(2, 3), repeats=3, number=2)
    assert list(timings) == ["a", "b", "c"] and all(len(v) == 3 for v in timings.values())
    forward, backward = ["a", "a", "b", "b", "c", "c"], ["c", "c", "b", "b", "a", "a"]
    assert [name for name, _ in log] == forward + backward + forward + backward  # warm-up round, then 3 timed
    assert not any(training for _, training in log), "a model was timed in training mode"
    assert [m.training for m in models.values()] == [True, False, True]


def test_time_forward_restores_the_modes_when_a_model_raises():
    class Broken(nn.Module):
        def forward(self, X):
            raise RuntimeError("boom")

    good, broken = random_mlp().train(), Broken().train()
    with pytest.raises(RuntimeError, match="boom"):
        time_forward({"good": good, "broken": broken}, torch.rand(2, 64), repeats=1, number=1)
    assert good.training and broken.training


def test_speedup():
    assert speedup({"x": [2.0, 4.0, 6.0], "y": [1.0, 1.0, 1.0]}, "x", "y") == 4.0
    # the median of the per-round ratios 1/2 and 1/4, not the ratio of the medians (1/3)
    assert speedup({"x": [2.0, 4.0], "y": [1.0, 1.0]}, "y", "x") == pytest.approx(0.375)
    timings = time_forward({"a": random_mlp(), "b": random_mlp((64, 8, 10))}, torch.rand(16, 64), repeats=3, number=2)
    assert speedup(timings, "a", "a") == 1.0


def test_time_forward_and_speedup_bad_input():
    model = random_mlp()
    with pytest.raises(TypeError, match=r"models must be a \{name: model\} mapping, got list"):
        time_forward([model], torch.rand(2, 64))
    with pytest.raises(ValueError, match="models is empty"):
        time_forward({}, torch.rand(2, 64))
    with pytest.raises(TypeError, match=r"models\['m'\] must be a torch.nn.Module, got str"):
        time_forward({"m": "model"}, torch.rand(2, 64))
    with pytest.raises(TypeError, match="X must be a torch.Tensor, got list"):
        time_forward({"m": model}, [[0.0] * 64])
    with pytest.raises(ValueError, match=r"repeats=0 is out of range"):
        time_forward({"m": model}, torch.rand(2, 64), repeats=0)
    with pytest.raises(ValueError, match="'c' is not one of the timed models"):
        speedup({"a": [1.0], "b": [1.0]}, "a", "c")
    with pytest.raises(ValueError, match=r"timings\['a'\] is empty; need at least one timed round"):
        speedup({"a": [], "b": []}, "a", "b")
    with pytest.raises(ValueError, match=r"timings\['b'\] has 1 rounds but timings\['a'\] has 2"):
        speedup({"a": [1.0, 2.0], "b": [1.0]}, "b", "a")
    with pytest.raises(ValueError, match=r"timings\['b'\] holds 0\.0; every time must be a finite number"):
        speedup({"a": [1.0], "b": [0.0]}, "a", "b")


# ---------------------------------------------------------------- scans and the widget's function


def test_accuracy_vs_sparsity_and_sensitivity():
    model = random_mlp()
    X, y = toy_data()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    accuracies = accuracy_vs_sparsity(model, [0.0, 0.5, 0.9], X, y, scope="layer")
    assert accuracies[0] == evaluate(model, X, y)
    reference = copy.deepcopy(model)
    for m in reference:
        if isinstance(m, nn.Linear):
            torch_prune.l1_unstructured(m, "weight", amount=0.9)
    assert accuracies[2] == evaluate(reference, X, y)  # the same as pruning with PyTorch
    scan = layer_sensitivity(model, [0.0, 0.9], X, y)
    assert list(scan) == ["0", "2"] and all(v[0] == accuracies[0] for v in scan.values())
    for k, v in model.state_dict().items():
        torch.testing.assert_close(v, state[k], rtol=0, atol=0)  # untouched
    # the same numbers from a model that already carries masks (copying it must work)
    prune_magnitude(model, 0.0)
    assert accuracy_vs_sparsity(model, [0.0, 0.5, 0.9], X, y, scope="layer") == accuracies


def test_prune_preview_defaults_and_layers():
    model = random_mlp((64, 128, 10))
    X, y = toy_data()
    view = prune_preview(model, 0.9, X, y, scope="layer")
    assert view.layer == "0" and view.weight.shape == view.mask.shape == (128, 64)
    assert int((view.mask == 0).sum()) == round(0.9 * 8192)
    assert torch.all(view.weight[view.mask == 0] == 0)
    assert view.layer_sparsity == pytest.approx(0.9, abs=1e-4)
    assert view.accuracy == accuracy_vs_sparsity(model, [0.9], X, y, scope="layer")[0]
    assert view.sparsity == pytest.approx(0.9, abs=1e-3)
    last = prune_preview(model, 0.0, X, y, layer="2")
    assert last.weight.shape == (10, 128) and last.layer_sparsity == 0.0
    assert last.accuracy == evaluate(model, X, y)
    with pytest.raises(TypeError, match="'1' is a ReLU"):
        prune_preview(model, 0.5, X, y, layer="1")


# ---------------------------------------------------------------- prune and fine-tune


def test_sparsity_schedule():
    assert sparsity_schedule(0.9, 1) == [0.9]
    two = sparsity_schedule(0.9, 2)
    assert two[0] == pytest.approx(1 - 0.1**0.5) and two[1] == 0.9
    five = sparsity_schedule(0.99, 5)
    assert five == sorted(five) and five[-1] == 0.99
    kept = [1 - s for s in [0.0, *five]]
    ratios = [b / a for a, b in zip(kept, kept[1:])]
    assert max(ratios) - min(ratios) < 1e-9  # the same fraction of the survivors goes each step


@pytest.mark.parametrize("teacher", [False, True])
def test_prune_and_finetune_keeps_masks_and_reaches_the_schedule(teacher):
    model = random_mlp()
    X, y = toy_data(128)
    teacher_logits = torch.randn(128, 10) if teacher else None
    schedule = sparsity_schedule(0.9, 3)
    history = prune_and_finetune(model, X, y, sparsities=schedule, epochs=20, lr=1e-2, teacher_logits=teacher_logits)
    total = 64 * 32 + 32 * 10
    assert history.sparsity == schedule
    assert history.achieved == [round(s * total) / total for s in schedule]
    assert len(history.accuracy) == len(history.accuracy_before) == 3
    assert weight_sparsity(model) == history.achieved[-1]
    # fine-tuning changed the surviving weights, so it did something
    assert history.accuracy[-1] != history.accuracy_before[-1] or history.accuracy[0] != history.accuracy_before[0]


def test_prune_and_finetune_recovers_accuracy():
    """On a learnable toy task, fine-tuning after pruning beats one-shot pruning."""
    g = torch.Generator().manual_seed(0)
    X = torch.rand(400, 64, generator=g)
    y = (X[:, :10].argmax(dim=1))  # the brightest of the first ten pixels
    model = random_mlp((64, 64, 10))
    fit(model, X, y, epochs=300, lr=1e-2, progress=False)
    one_shot = accuracy_vs_sparsity(model, [0.9], X, y)[0]
    history = prune_and_finetune(model, X, y, sparsities=[0.5, 0.8, 0.9], epochs=100, lr=1e-2)
    assert history.accuracy[-1] > one_shot + 0.05
    assert history.accuracy_before[-1] < history.accuracy[-1]  # each fine-tuning step recovers something


@pytest.mark.parametrize("lam", [0.9, 0.0])
def test_recovery_loss_is_the_distillation_loss(lam):
    """prune_and_finetune = prune_magnitude, then fit with notebook 03's distillation loss."""
    X, y = toy_data(128)
    teacher_logits = torch.randn(128, 10, generator=torch.Generator().manual_seed(1)) * 3
    ours, reference = random_mlp(seed=5), random_mlp(seed=5)
    prune_and_finetune(ours, X, y, sparsities=[0.6], epochs=15, lr=1e-2, teacher_logits=teacher_logits,
                       temperature=4.0, lam=lam, seed=3)
    prune_magnitude(reference, 0.6, scope="global")
    fit(reference, X, y, teacher_logits=teacher_logits, epochs=15, lr=1e-2, seed=3, progress=False,
        loss_fn=partial(distillation_loss, temperature=4.0, lam=lam))
    torch.testing.assert_close(ours(X), reference(X), rtol=0, atol=0)
    if lam == 0.0:  # no teacher term: the same as fine-tuning with cross-entropy
        plain = random_mlp(seed=5)
        prune_and_finetune(plain, X, y, sparsities=[0.6], epochs=15, lr=1e-2, seed=3)
        torch.testing.assert_close(ours(X), plain(X), rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize("sparsity", [1.0, 1.5, -0.1, float("nan"), float("inf")])
def test_sparsity_out_of_range(sparsity):
    model = random_mlp()
    X, y = toy_data()
    pattern = rf"sparsity={sparsity!r} is out of range; allowed: \[0, 1\)"
    for call in (
        lambda: check_sparsity(sparsity),
        lambda: magnitude_mask(torch.ones(3), sparsity),
        lambda: global_magnitude_masks([torch.ones(3)], sparsity),
        lambda: prune_magnitude(model, sparsity),
        lambda: units_to_keep(torch.ones(3, 2), sparsity),
        lambda: remove_hidden_units(model, sparsity),
        lambda: prune_preview(model, sparsity, X, y),
    ):
        with pytest.raises(ValueError, match=pattern):
            call()
    with pytest.raises(ValueError, match=r"sparsities\[1\]=.* is out of range"):
        accuracy_vs_sparsity(model, [0.5, sparsity], X, y)
    with pytest.raises(ValueError, match=r"final_sparsity=.* is out of range"):
        sparsity_schedule(sparsity, 3)
    assert not any(torch_prune.is_pruned(m) for m in model.modules()), "work was done before the error"


def test_non_prunable_modules_and_bad_models():
    model = random_mlp()
    with pytest.raises(TypeError, match=r"layer '1' is a ReLU, which cannot be pruned; prunable layers are nn.Linear"):
        prune_magnitude(model, 0.5, layers=["1"])
    with pytest.raises(ValueError, match=r"layer 'fc9' does not exist"):
        prune_magnitude(model, 0.5, layers=["fc9"])
    with pytest.raises(TypeError, match="list of layer names"):
        prunable_layers(model, "0")
    with pytest.raises(ValueError, match="has no nn.Linear layer"):
        prune_magnitude(nn.Sequential(nn.ReLU(), nn.Conv2d(1, 1, 3)), 0.5)
    with pytest.raises(TypeError, match="model must be a torch.nn.Module, got Tensor"):
        prune_magnitude(torch.ones(3, 3), 0.5)
    with pytest.raises(ValueError, match=r"scope='local' is not allowed; choose one of \('layer', 'global'\)"):
        prune_magnitude(model, 0.5, scope="local")
    with pytest.raises(TypeError, match="layer 1 is a Conv1d"):
        remove_hidden_units(nn.Sequential(nn.Linear(4, 4), nn.Conv1d(1, 1, 1), nn.Linear(4, 2)), 0.5)
    with pytest.raises(TypeError, match="nn.Sequential MLP"):
        remove_hidden_units(nn.Linear(4, 4), 0.5)
    with pytest.raises(ValueError, match="no hidden layer"):
        remove_hidden_units(mlp([64, 10]), 0.5)
    with pytest.raises(ValueError, match=r"sparsity=0\.99 would remove all 10 units"):
        remove_hidden_units(mlp([64, 10, 10]), 0.99)


def test_prune_and_finetune_validates_before_working():
    model = random_mlp()
    X, y = toy_data()
    with pytest.raises(ValueError, match=r"lam=1\.5 must be in the range \[0, 1\]"):
        prune_and_finetune(model, X, y, sparsities=[0.5], epochs=5, teacher_logits=torch.randn(64, 10), lam=1.5)
    with pytest.raises(ValueError, match=r"epochs=-1 is out of range"):
        prune_and_finetune(model, X, y, sparsities=[0.5], epochs=-1)
    with pytest.raises(ValueError, match="teacher_logits has 3 rows but X has 64"):
        prune_and_finetune(model, X, y, sparsities=[0.5], epochs=5, teacher_logits=torch.randn(3, 10))
    with pytest.raises(ValueError, match="teacher_logits has 7 columns but the model has 10 outputs"):
        prune_and_finetune(model, X, y, sparsities=[0.5], epochs=5, teacher_logits=torch.randn(64, 7))
    with pytest.raises(ValueError, match=r"targets contain class index 10; allowed range is \[0, 9\]"):
        prune_and_finetune(model, X, y + 1, sparsities=[0.5], epochs=5)
    with pytest.raises(TypeError, match="X must be a floating-point tensor"):
        prune_and_finetune(model, X.long(), y, sparsities=[0.5], epochs=5)
    # lam and temperature are checked with and without a teacher
    for teacher_logits in (None, torch.randn(64, 10)):
        with pytest.raises(ValueError, match=r"lam=2\.0 must be in the range \[0, 1\]"):
            prune_and_finetune(model, X, y, sparsities=[0.5], epochs=5, teacher_logits=teacher_logits, lam=2)
        with pytest.raises(ValueError, match=r"temperature=0\.0 must be a finite number > 0"):
            prune_and_finetune(model, X, y, sparsities=[0.5], epochs=5, teacher_logits=teacher_logits,
                               temperature=0.0)
    with pytest.raises(ValueError, match=r"lr=-0\.1 must be a finite number > 0"):
        prune_and_finetune(model, X, y, sparsities=[0.5], epochs=5, lr=-0.1)
    with pytest.raises(TypeError, match=r"eval_on must be a pair \(X_eval, y_eval\)"):
        prune_and_finetune(model, X, y, sparsities=[0.5], epochs=5, eval_on=X)
    with pytest.raises(ValueError, match=r"eval_on\[1\] must have shape \(64,\)"):
        prune_and_finetune(model, X, y, sparsities=[0.5], epochs=5, eval_on=(X, y[:3]))
    assert not any(torch_prune.is_pruned(m) for m in model.modules()), "work was done before the error"
