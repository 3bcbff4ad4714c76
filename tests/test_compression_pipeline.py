"""The two orders of notebook 06 (distill_lib.compression.pipeline): what each snapshot is."""

import pytest
import torch

from distill_lib.compression.pipeline import PIPELINE_RECIPE, compress_student, compress_teacher
from distill_lib.models import mlp
from distill_lib.training import fit, predict_logits, set_seed
from tests.compression_helpers import TINY_RECIPE


@pytest.fixture(scope="module")
def tiny_student(split, teacher):
    set_seed(0)
    model = mlp([64, 32, 10])
    fit(model, split.X_train, split.y_train, epochs=30, lr=0.01, seed=0, progress=False)
    return model


def zeros_per_layer(model):
    return [float((m.weight == 0).float().mean()) for m in model if isinstance(m, torch.nn.Linear)]


@pytest.mark.parametrize("unit_sparsity", [0.0, 0.5])
def test_compress_student_snapshots(split, teacher, tiny_student, unit_sparsity):
    before = {k: v.clone() for k, v in tiny_student.state_dict().items()}
    logits = predict_logits(teacher, split.X_train)
    stages = compress_student(tiny_student, split.X_train, split.y_train, logits, TINY_RECIPE, unit_sparsity)
    assert set(stages) == {(s, b) for s in (0.0, 0.5, 0.9) for b in (None, 2)}
    hidden = round(32 * (1 - unit_sparsity))
    weights = 64 * hidden + hidden * 10
    for (sparsity, bits), (model, shared) in stages.items():
        linears = [m for m in model if isinstance(m, torch.nn.Linear)]
        assert [m.out_features for m in linears] == [hidden, 10]  # units removed
        zeros = sum(int((m.weight == 0).sum()) for m in linears)
        assert zeros >= round(sparsity * weights)  # global pruning: exactly round(s * n), or more after sharing
        if bits is None:
            assert shared is None and zeros == round(sparsity * weights)
        else:
            assert len(shared) == 2
            for m, sh in zip(linears, shared):
                assert torch.equal(m.weight, sh.weight())  # the model holds the shared weights
                kept = m.weight[sh.mask]
                assert kept.unique().numel() <= 2 ** bits  # 2**bits values per layer
                assert bool((m.weight[~sh.mask] == 0).all())  # pruned weights stay pruned
    assert all(torch.equal(v, tiny_student.state_dict()[k]) for k, v in before.items())  # the input is untouched


def test_compress_teacher_snapshots(split, teacher):
    before = {k: v.clone() for k, v in teacher.state_dict().items()}
    stages = compress_teacher(teacher, split.X_train, split.y_train, TINY_RECIPE)
    assert set(stages) == {(0.5, 3)}
    model, shared = stages[(0.5, 3)]
    linears = [m for m in model if isinstance(m, torch.nn.Linear)]
    assert [m.out_features for m in linears] == [256, 256, 10]
    total = sum(m.weight.numel() for m in linears)
    assert sum(int((m.weight == 0).sum()) for m in linears) >= round(0.5 * total)
    assert all(sh.weight()[sh.mask].unique().numel() <= 8 for sh in shared)
    assert all(torch.equal(v, teacher.state_dict()[k]) for k, v in before.items())


def test_the_recipe_is_what_the_notebook_says():
    r = PIPELINE_RECIPE
    assert r["student_sizes"] == [64, 256, 10] and r["schedule"] == sorted(r["schedule"])
    assert 0.0 in r["unit_sparsities"] and all(1 <= b <= 8 for b in r["bits"])
    assert len(r["seeds"]) >= 5  # the issue: at least 5 seeds


def test_bad_input_is_refused_before_training(split, teacher, tiny_student):
    logits = predict_logits(teacher, split.X_train)
    X, y = split.X_train, split.y_train
    with pytest.raises(ValueError, match="missing"):
        compress_student(tiny_student, X, y, logits, {}, 0.0)
    with pytest.raises(ValueError, match="unit_sparsity=1.5"):
        compress_student(tiny_student, X, y, logits, TINY_RECIPE, 1.5)
    with pytest.raises(ValueError, match=r"teacher_logits has shape \(1079, 9\)"):
        compress_student(tiny_student, X, y, logits[:, :9], TINY_RECIPE, 0.0)
    with pytest.raises(TypeError, match="student must be an nn.Sequential"):
        compress_student(torch.nn.Linear(64, 10), X, y, logits, TINY_RECIPE, 0.0)
    with pytest.raises(ValueError, match=r"X has shape \(1079, 63\)"):
        compress_teacher(teacher, X[:, :63], y, TINY_RECIPE)
    with pytest.raises(ValueError, match=r"recipe\['lr'\]"):
        compress_teacher(teacher, X, y, {**TINY_RECIPE, "lr": -1.0})
