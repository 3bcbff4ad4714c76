"""distill_lib.pruning.finetune: the schedule, and prune-and-fine-tune (iterative or one-shot) with make_loss."""

import pytest
import torch
from torch.nn.utils import prune as torch_prune

from distill_lib.losses import make_loss
from distill_lib.pruning import accuracy_vs_sparsity, prune_and_finetune, prune_magnitude, sparsity_schedule, weight_sparsity
from distill_lib.pruning.apply import prune
from distill_lib.pruning.finetune import _prune_and_finetune
from distill_lib.training import evaluate, fit


from pruning_helpers import random_mlp, toy_data, state_of, same_state


def test_sparsity_schedule():
    assert sparsity_schedule(0.9, 1) == [0.9]
    two = sparsity_schedule(0.9, 2)
    assert two[0] == pytest.approx(1 - 0.1**0.5) and two[1] == 0.9
    five = sparsity_schedule(0.99, 5)
    assert five == sorted(five) and five[-1] == 0.99
    kept = [1 - s for s in [0.0, *five]]
    ratios = [b / a for a, b in zip(kept, kept[1:])]
    assert max(ratios) - min(ratios) < 1e-9  # the same fraction of the survivors goes each step


@pytest.mark.parametrize("lam", [0.0, 0.9])
def test_prune_and_finetune_keeps_masks_and_reaches_the_schedule(lam):
    model = random_mlp()
    X, y = toy_data(128)
    schedule = sparsity_schedule(0.9, 3)
    history = prune_and_finetune(model, X, y, sparsities=schedule, epochs=20, lr=1e-2,
                                 teacher_logits=torch.randn(128, 10), lam=lam, eval_set=(X, y))
    total = 64 * 32 + 32 * 10
    assert history.sparsity == [round(s * total) / total for s in schedule]
    assert len(history.accuracy) == 3 and history.accuracy[-1] == pytest.approx(100 * evaluate(model, X, y), abs=1e-4)
    assert weight_sparsity(model) == history.sparsity[-1]
    assert all(torch_prune.is_pruned(m) for m in (model[0], model[2]))
    assert prune_and_finetune(random_mlp(), X, y, sparsities=[0.5], epochs=1).accuracy == []  # no eval_set


def test_fine_tuning_recovers_accuracy_and_iteration_is_the_same_loop():
    """On a learnable toy task, fine-tuning after pruning beats pruning alone, iterative or one-shot."""
    g = torch.Generator().manual_seed(0)
    X = torch.rand(400, 64, generator=g)
    y = X[:, :10].argmax(dim=1)  # the brightest of the first ten pixels
    model = random_mlp((64, 64, 10))
    fit(model, X, y, epochs=300, lr=1e-2, progress=False)
    one_shot_alone = accuracy_vs_sparsity(model, [0.9], eval_set=(X, y))[0]
    iterative, one_shot = random_mlp((64, 64, 10)), random_mlp((64, 64, 10))
    iterative.load_state_dict(model.state_dict())
    one_shot.load_state_dict(model.state_dict())
    it = prune_and_finetune(iterative, X, y, sparsities=[0.5, 0.8, 0.9], epochs=100, lr=1e-2, eval_set=(X, y))
    once = prune_and_finetune(one_shot, X, y, sparsities=[0.9], epochs=300, lr=1e-2, eval_set=(X, y))
    assert it.accuracy[-1] > one_shot_alone + 5 and once.accuracy[-1] > one_shot_alone + 5
    assert len(it.sparsity) == 3 and len(once.sparsity) == 1 and it.sparsity[-1] == once.sparsity[-1]


@pytest.mark.parametrize("lam", [0.9, 0.0])
def test_recovery_loss_is_make_loss(lam):
    """prune_and_finetune = prune, then fit with make_loss(temperature, lam), step by step."""
    X, y = toy_data(128)
    teacher_logits = torch.randn(128, 10, generator=torch.Generator().manual_seed(1)) * 3
    ours, reference = random_mlp(seed=5), random_mlp(seed=5)
    prune_and_finetune(ours, X, y, sparsities=[0.4, 0.6], epochs=15, lr=1e-2, teacher_logits=teacher_logits,
                       temperature=4.0, lam=lam, seed=3)
    for step, sparsity in enumerate([0.4, 0.6]):
        prune_magnitude(reference, sparsity, scope="global")
        fit(reference, X, y, teacher_logits=teacher_logits if lam else None, epochs=15, lr=1e-2, seed=3 + step,
            progress=False, loss_fn=make_loss(temperature=4.0, lam=lam))
    torch.testing.assert_close(ours(X), reference(X), rtol=0, atol=0)


def test_the_shown_core_does_what_the_public_function_does():
    X, y = toy_data(96)
    teacher_logits = torch.randn(96, 10, generator=torch.Generator().manual_seed(2))
    a, b = random_mlp(seed=7), random_mlp(seed=7)
    ha = prune_and_finetune(a, X, y, sparsities=[0.5, 0.8], epochs=5, lr=0.03, teacher_logits=teacher_logits,
                            lam=0.9, scope="layer", eval_set=(X, y), seed=4)
    hb = _prune_and_finetune(b, X, y, teacher_logits, make_loss(4.0, 0.9), sparsities=[0.5, 0.8], epochs=5,
                             lr=0.03, scope="layer", eval_set=(X, y), seed=4)
    assert ha == hb
    torch.testing.assert_close(a(X), b(X), rtol=0, atol=0)
    c = random_mlp()
    prune(c, 0.5, "global")
    assert weight_sparsity(c) == round(0.5 * (64 * 32 + 320)) / (64 * 32 + 320)


def bad_calls(X, y, teacher_logits):
    """(exception, message pattern, keyword arguments) for prune_and_finetune on a 64-32-10 model."""
    ok = dict(sparsities=[0.5], epochs=2)
    X_nan = X.clone()
    X_nan[0, 0] = float("nan")
    return [
        (ValueError, r"lam=1\.5 must be in the range \[0, 1\]", dict(ok, teacher_logits=teacher_logits, lam=1.5)),
        (ValueError, r"lam=2\.0 must be in the range \[0, 1\]", dict(ok, lam=2)),
        (ValueError, r"temperature=0\.0 must be a finite number > 0", dict(ok, temperature=0.0)),
        (ValueError, r"epochs=-1 is out of range", dict(ok, epochs=-1)),
        (ValueError, r"lr=-0\.1 is out of range; allowed: a finite number > 0", dict(ok, lr=-0.1)),
        (ValueError, r"lr=inf is out of range", dict(ok, lr=float("inf"))),
        (ValueError, r"seed=-1 is out of range", dict(ok, seed=-1)),
        (ValueError, r"sparsities=\[0\.5, 0\.3\] must not decrease", dict(ok, sparsities=[0.5, 0.3])),
        (ValueError, r"sparsities\[0\]=1\.0 is out of range", dict(ok, sparsities=[1.0])),
        (ValueError, r"lam=0\.9 distils from a teacher: give teacher_logits", dict(ok, lam=0.9)),
        (ValueError, r"teacher_logits has shape \(3, 10\); it must be \(64, 10\)",
         dict(ok, lam=0.9, teacher_logits=teacher_logits[:3])),
        (ValueError, r"teacher_logits has shape \(64, 7\); it must be \(64, 10\)",
         dict(ok, lam=0.9, teacher_logits=teacher_logits[:, :7])),
        (ValueError, r"teacher_logits contains 1 NaN", dict(ok, lam=0.9, teacher_logits=torch.where(
            torch.arange(640).reshape(64, 10) == 5, float("nan"), teacher_logits))),
        (ValueError, r"\(X, targets\)\[0\] \(X\) contains 1 NaN or infinite", dict(ok, X=X_nan)),
        (ValueError, r"targets\) contain class index 10; allowed range is \[0, 9\]", dict(ok, targets=y + 1)),
        (TypeError, r"\(X\) must be a non-empty floating-point tensor", dict(ok, X=X.long())),
        (TypeError, r"eval_set must be a tuple \(X, targets\), got Tensor", dict(ok, eval_set=X)),
        (ValueError, r"eval_set\[1\] \(targets\) must have shape \(64,\)", dict(ok, eval_set=(X, y[:3]))),
        (ValueError, r"scope='all' is not allowed", dict(ok, scope="all")),
        (ValueError, r"X has 63 features per row but the model's first layer takes 64", dict(ok, X=X[:, :63])),
    ]


def test_prune_and_finetune_validates_everything_before_changing_anything():
    X, y = toy_data()
    teacher_logits = torch.randn(64, 10)
    for error, pattern, kwargs in bad_calls(X, y, teacher_logits):
        model = random_mlp().train()  # a mode that fit would change
        state = state_of(model)
        args = {"X": X, "targets": y, **kwargs}
        with pytest.raises(error, match=pattern):
            prune_and_finetune(model, args.pop("X"), args.pop("targets"), **args)
        assert not any(torch_prune.is_pruned(m) for m in model.modules()), pattern
        assert model.training is True and same_state(model, state), pattern


def test_prune_and_finetune_rejects_non_finite_weights_and_lower_sparsity():
    X, y = toy_data()
    model = random_mlp().train()
    with torch.no_grad():
        model[0].weight[0, 0] = float("inf")
    with pytest.raises(ValueError, match=r"model layer '0' weight contains 1 NaN or infinite value"):
        prune_and_finetune(model, X, y, sparsities=[0.5], epochs=2)
    assert not torch_prune.is_pruned(model) and model.training is True
    pruned = random_mlp()
    prune_magnitude(pruned, 0.7)
    state = state_of(pruned)
    with pytest.raises(ValueError, match=r"sparsity=0\.5 is below the 0\.70"):
        prune_and_finetune(pruned, X, y, sparsities=[0.5, 0.9], epochs=2)
    assert same_state(pruned, state)
