"""distill_lib.distillation.experiment: every arm once per seed, scored image by image."""

from functools import partial

import numpy as np
import pytest
import torch

from distill_lib.distillation import check_seeds, run_experiment
from distill_lib.stats import Runs
from distill_lib.student import train_student
from distill_lib.training import predict_logits


def test_run_experiment_is_one_student_per_arm_and_seed(split, full):
    arms = {"scratch": partial(train_student, full.X, full.targets, epochs=5),
            "distilled": partial(train_student, full.X, full.targets, teacher_logits=full.teacher_logits, epochs=5)}
    result = run_experiment(arms, [3, 7], (split.X_val, split.y_val))
    assert list(result.runs) == ["scratch", "distilled"]
    for name, arm in arms.items():
        runs = result.runs[name]
        assert isinstance(runs, Runs) and runs.seeds == (3, 7) and runs.correct.shape == (2, len(split.y_val))
        for k, seed in enumerate((3, 7)):
            student, _ = arm(seed=seed)
            expected = (predict_logits(student, split.X_val).argmax(1) == split.y_val).numpy()
            assert np.array_equal(runs.correct[k], expected)
            assert all(torch.equal(p, q) for p, q in zip(student.parameters(), result.students[name][k].parameters()))


def test_run_experiment_checks_everything_before_training(split):
    def no_training(**kwargs):
        raise AssertionError("a student was trained before the bad input was noticed")

    val = (split.X_val, split.y_val)
    with pytest.raises(TypeError, match="arms must be a non-empty mapping"):
        run_experiment({}, [0], val)
    with pytest.raises(TypeError, match=r"arms\['a'\] must be a function seed -> \(student, record\), got int"):
        run_experiment({"a": 3}, [0], val)
    with pytest.raises(ValueError, match=r"seeds=\[1, 1\] must hold at least one seed and no repeats"):
        run_experiment({"a": no_training}, [1, 1], val)
    with pytest.raises(ValueError, match=r"seeds\[0\]=-2 is out of range"):
        run_experiment({"a": no_training}, [-2], val)
    with pytest.raises(TypeError, match="seeds must be a sequence of integers"):
        run_experiment({"a": no_training}, 5, val)
    with pytest.raises(ValueError, match=r"eval_set\[1\] \(targets\) contain class index 42"):
        run_experiment({"a": no_training}, [0], (split.X_val, split.y_val.index_fill(0, torch.tensor([0]), 42)))
    with pytest.raises(TypeError, match=r"eval_set must be a tuple \(X, targets\)"):
        run_experiment({"a": no_training}, [0], [split.X_val, split.y_val])


def test_check_seeds():
    assert check_seeds(range(3)) == (0, 1, 2)
    with pytest.raises(ValueError, match=r"seeds=\[\] must hold at least one seed"):
        check_seeds([])
