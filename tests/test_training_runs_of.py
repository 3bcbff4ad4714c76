"""distill_lib.training.runs_of: per-image outcomes of one model per seed, for distill_lib.stats."""

import numpy as np
import pytest
import torch

from distill_lib.models import mlp
from distill_lib.training import evaluate, predict_logits, runs_of, set_seed


def models_and_data():
    models = []
    for s in (0, 1, 2):
        set_seed(s)
        models.append(mlp([64, 16, 10]))
    g = torch.Generator().manual_seed(0)
    return models, (torch.rand(50, 64, generator=g), torch.randint(0, 10, (50,), generator=g))


def test_runs_of_matches_evaluate():
    models, (X, y) = models_and_data()
    runs = runs_of(models, (X, y), (0, 1, 2))
    assert runs.seeds == (0, 1, 2) and runs.correct.shape == (3, 50)
    np.testing.assert_allclose(runs.per_seed, [100 * evaluate(m, X, y) for m in models], rtol=1e-6)
    assert np.array_equal(runs.correct[1], (predict_logits(models[1], X).argmax(1) == y).numpy())


def test_bad_input():
    models, eval_set = models_and_data()
    with pytest.raises(ValueError, match="got 3 models for 2 seeds"):
        runs_of(models, eval_set, (0, 1))
    with pytest.raises(TypeError, match="models must be a list of models"):
        runs_of(models[0], eval_set, (0,))
    with pytest.raises(TypeError, match=r"models\[1\] must be a torch.nn.Module, got str"):
        runs_of([models[0], "m"], eval_set, (0, 1))
    with pytest.raises(ValueError, match=r"eval_set\[1\] \(targets\) contain class index 10"):
        runs_of(models, (eval_set[0], eval_set[1] + 1), (0, 1, 2))
    with pytest.raises(ValueError, match=r"eval_set\[0\] \(X\) has shape \(50, 32\).*need shape \(N, 64\)"):
        runs_of(models, (eval_set[0][:, :32], eval_set[1]), (0, 1, 2))
