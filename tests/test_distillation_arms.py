"""distill_lib.distillation.arms: the fair scratch baseline and the arms of experiments 1 and 2.

The last section asserts the claims notebook 03 makes at its default parameters (five seeds,
300 epochs, T = 4, lam = 0.9), through the same library calls, on recorded numbers.
"""

import pytest
import torch

from distill_lib.distillation import (
    choose_scratch_recipe, few_label_arms, full_label_arms, run_experiment,
)
from distill_lib.losses import UNLABELLED
from distill_lib.stats import compare
from distill_lib.student import train_student
from distill_lib.teacher import train_teacher
from distill_lib.training import predict_logits


def test_choose_scratch_recipe_takes_the_best_validation_mean(split, full):
    val = (split.X_val, split.y_val)
    choice = choose_scratch_recipe(full.X, full.targets, val, seeds=[0], augment_copies=[0, 1],
                                   label_smoothing=[0.0, 0.2], epochs=20)
    assert list(choice.runs) == ["aug 0, ls 0", "aug 0, ls 0.2", "aug 1, ls 0", "aug 1, ls 0.2"]
    best = max(choice.runs, key=lambda n: choice.runs[n].mean)
    copies, smoothing = best.removeprefix("aug ").split(", ls ")
    assert choice.recipe == {"augment_copies": int(copies), "label_smoothing": float(smoothing)}
    student, _ = train_student(full.X, full.targets, epochs=20, eval_set=val, seed=0, **choice.recipe)
    assert choice.runs[best].correct[0].tolist() == (predict_logits(student, split.X_val).argmax(1)
                                                     == split.y_val).tolist()


def test_choose_scratch_recipe_bad_input(split, full, few):
    val = (split.X_val, split.y_val)
    with pytest.raises(ValueError, match=r"label_smoothing=\[1.5\] non-empty with values in \[0, 1\)"):
        choose_scratch_recipe(full.X, full.targets, val, label_smoothing=[1.5])
    with pytest.raises(ValueError, match=r"augment_copies=-1 is out of range"):
        choose_scratch_recipe(full.X, full.targets, val, augment_copies=[-1])
    with pytest.raises(ValueError, match="UNLABELLED rows"):
        choose_scratch_recipe(few.X, few.targets, val)
    with pytest.raises(ValueError, match=r"epochs=0 is out of range"):
        choose_scratch_recipe(full.X, full.targets, val, epochs=0)


def test_full_label_arms_are_train_student_calls(split, full):
    val = (split.X_val, split.y_val)
    plain = full.teacher_logits * 0.5
    arms = full_label_arms(full, plain, {"augment_copies": 1, "label_smoothing": 0.1}, val, epochs=3)
    assert list(arms) == ["scratch", "scratch_best", "distilled_plain_teacher", "distilled"]
    expected = {
        "scratch": dict(),
        "scratch_best": dict(augment_copies=1, label_smoothing=0.1, eval_set=val),
        "distilled_plain_teacher": dict(teacher_logits=plain, temperature=4.0, lam=0.9),
        "distilled": dict(teacher_logits=full.teacher_logits, temperature=4.0, lam=0.9),
    }
    for name, kwargs in expected.items():
        a, _ = arms[name](seed=1)
        b, _ = train_student(full.X, full.targets, epochs=3, seed=1, **kwargs)
        assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters())), name


def test_few_label_arms_use_the_labelled_rows(split, few):
    arms = few_label_arms(few, {"augment_copies": 0, "label_smoothing": 0.0}, (split.X_val, split.y_val), epochs=2)
    assert list(arms) == ["scratch", "scratch_best", "distilled_labelled_only", "distilled"]
    keep = few.targets != UNLABELLED
    a, _ = arms["distilled_labelled_only"](seed=0)
    b, _ = train_student(few.X[keep], few.targets[keep], teacher_logits=few.teacher_logits[keep], epochs=2, seed=0)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


def test_arms_bad_input(split, full, few):
    val = (split.X_val, split.y_val)
    with pytest.raises(ValueError, match=r"lam=-0.5"):
        full_label_arms(full, full.teacher_logits, {}, val, lam=-0.5)
    with pytest.raises(ValueError, match=r"plain_teacher_logits has shape \(3, 10\)"):
        full_label_arms(full, full.teacher_logits[:3], {}, val)
    with pytest.raises(ValueError, match="scratch_recipe must be a dict with keys augment_copies"):
        few_label_arms(few, {"lr": 1.0}, val)
    with pytest.raises(TypeError, match="transfer must be a TransferSet"):
        few_label_arms((few.X, few.targets), {}, val)
    with pytest.raises(ValueError, match=r"temperature=0.0"):
        few_label_arms(few, {}, val, temperature=0.0)


# ---------------------------------------------------------------- notebook 03's claims, at its defaults


@pytest.fixture(scope="module")
def experiment_1(split, full):
    val, test = (split.X_val, split.y_val), (split.X_test, split.y_test)
    plain, meta = train_teacher(split, augment_copies=0, epochs=90, progress=False)
    choice = choose_scratch_recipe(full.X, full.targets, val, seeds=[0])
    arms = full_label_arms(full, predict_logits(plain, full.X), choice.recipe, val)
    return run_experiment(arms, range(5), test).runs, choice, meta


def test_claim_all_labels_distillation_matches_but_does_not_beat_the_fair_baseline(experiment_1):
    runs, choice, meta = experiment_1
    assert choice.recipe["augment_copies"] == 9  # the teacher's augmentation wins on validation
    assert meta["val_accuracy"] > 0.97  # a plain teacher trained to convergence
    assert runs["scratch"].mean == pytest.approx(95.7, abs=1.0)
    assert runs["distilled"].mean == pytest.approx(97.9, abs=1.0)
    assert compare(runs["distilled"], runs["scratch"]).beyond_noise
    assert compare(runs["scratch_best"], runs["scratch"]).beyond_noise
    assert not compare(runs["distilled"], runs["scratch_best"]).beyond_noise
    assert runs["scratch"].mean < runs["distilled_plain_teacher"].mean < runs["distilled"].mean


def test_claim_few_labels_distillation_beats_the_fair_baseline(split, few):
    val, test = (split.X_val, split.y_val), (split.X_test, split.y_test)
    keep = few.targets != UNLABELLED
    choice = choose_scratch_recipe(few.X[keep], few.targets[keep], val, seeds=[0])
    runs = run_experiment(few_label_arms(few, choice.recipe, val), range(5), test).runs
    d = compare(runs["distilled"], runs["scratch_best"])
    assert d.beyond_noise and d.low > 2.0, str(d)
    assert runs["scratch"].mean < runs["scratch_best"].mean < runs["distilled"].mean
    assert runs["scratch"].mean < runs["distilled_labelled_only"].mean
