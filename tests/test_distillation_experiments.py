"""distill_lib.distillation: notebook 03's experiments, over seeds.

Each experiment is checked against direct calls of ``train_student``; ``choose_bias``
against hand-made logits. The last section asserts the claims notebook 03 makes at its
default parameters, through the same library calls.
"""

import math
import statistics
import types

import pytest
import torch

import distill_lib.distillation as distillation
from distill_lib.distillation import (
    DEFAULT_BIASES,
    GridResult,
    SeedStats,
    TransferSet,
    accuracy_over_seeds,
    choose_bias,
    few_label_experiment,
    full_label_experiment,
    make_transfer_set,
    omitted_class_experiment,
    temperature_lam_grid,
    train_and_score,
)
from distill_lib.student import (
    train_student,
)
from distill_lib.training import evaluate, predict_logits


# ---------------------------------------------------------------- several seeds


def test_seed_stats():
    s = SeedStats((0, 1, 2), (0.95, 0.96, 0.98))
    assert s.mean == pytest.approx(statistics.mean([0.95, 0.96, 0.98]))
    assert s.std == pytest.approx(math.sqrt(((0.95 - s.mean) ** 2 + (0.96 - s.mean) ** 2 + (0.98 - s.mean) ** 2) / 2))
    assert str(s) == "96.3 ± 1.5 %"
    d = s.minus(SeedStats((0, 1, 2), (0.90, 0.90, 0.90)))
    assert d.values == pytest.approx((0.05, 0.06, 0.08))
    with pytest.raises(ValueError, match="at least 2 seeds, got 1"):
        SeedStats((0,), (0.9,))
    with pytest.raises(ValueError, match="one value per seed"):
        SeedStats((0, 1), (0.9,))
    with pytest.raises(ValueError, match="finite"):
        SeedStats((0, 1), (0.9, float("nan")))
    with pytest.raises(ValueError, match=r"same seeds, got \(0, 1, 2\) and \(3, 4, 5\)"):
        s.minus(SeedStats((3, 4, 5), (0.9, 0.9, 0.9)))


@pytest.mark.parametrize("values, floor, expected", [
    ((0.02, 0.03, 0.025), 0.0, True),       # mean 0.025 > std 0.005
    ((-0.02, -0.03, -0.025), 0.0, True),    # the sign does not matter
    ((0.01, -0.01, 0.03), 0.0, False),      # mean 0.01 < std 0.02
    ((0.01, 0.01, 0.01), 0.0, True),        # std 0: any non-zero mean
    ((0.01, 0.01, 0.01), 0.02, False),      # ... unless below the floor
    ((0.0, 0.0, 0.0), 0.0, False),          # no difference at all
    ((0.0, 1 / 359, 2 / 359), 1 / 359, False),  # mean = std = 1 image: not beyond
    ((1 / 359, 2 / 359, 3 / 359), 1 / 359, True),  # mean 2 images > std = floor = 1 image
    ((350 / 359 - 349 / 359,) * 3, 1 / 359, False),  # exactly one image, up to rounding: not beyond
])
def test_seed_stats_beyond_noise(values, floor, expected):
    assert SeedStats((0, 1, 2), values).beyond_noise(floor) is expected


def test_seed_stats_beyond_noise_bad_floor():
    s = SeedStats((0, 1), (0.1, 0.2))
    with pytest.raises(ValueError, match=r"floor=-0.1 must be finite and >= 0"):
        s.beyond_noise(-0.1)
    with pytest.raises(TypeError, match="floor must be a real number"):
        s.beyond_noise("0.1")


def test_accuracy_over_seeds_is_one_student_per_seed(split, full):
    s = accuracy_over_seeds(full.X, full.targets, split.X_val, split.y_val, seeds=[3, 7],
                            teacher_logits=full.teacher_logits, temperature=2.0, lam=0.5, epochs=12)
    assert s.seeds == (3, 7)
    for seed, value in zip(s.seeds, s.values):
        student, _ = train_student(full.X, full.targets, teacher_logits=full.teacher_logits, temperature=2.0,
                                   lam=0.5, seed=seed, epochs=12)
        assert value == evaluate(student, split.X_val, split.y_val)


@pytest.mark.parametrize("seeds, error, match", [
    ([0], ValueError, r"seeds=\[0\] must hold at least 2 distinct"),
    ([1, 1], ValueError, r"seeds=\[1, 1\] must hold at least 2 distinct"),
    ([0, -1], ValueError, r"seeds\[1\]=-1 is out of range"),
    ([0, 1.5], TypeError, r"seeds\[1\] must be an integer"),
    ("01", TypeError, "seeds must be a sequence of integers"),
])
def test_accuracy_over_seeds_bad_seeds(split, seeds, error, match):
    with pytest.raises(error, match=match):
        accuracy_over_seeds(split.X_train, split.y_train, split.X_val, split.y_val, seeds=seeds, epochs=1)


@pytest.mark.parametrize("y_eval, error, match", [
    ("float", TypeError, r"y_eval must be an integer tensor of class indices, got dtype=torch.float32"),
    ("42", ValueError, r"y_eval contain class index 42; allowed range is \[0, 9\]"),
    ("short", ValueError, r"y_eval must have shape \(359,\)"),
])
def test_eval_sets_are_checked_before_training(split, full, few, monkeypatch, y_eval, error, match):
    bad = {"float": split.y_val.float(), "42": split.y_val.clone().index_fill_(0, torch.tensor([5]), 42),
           "short": split.y_val[:-1]}[y_eval]

    def no_training(*args, **kwargs):
        raise AssertionError("a student was trained before the bad input was noticed")

    for module in vars(distillation).values():
        if isinstance(module, types.ModuleType):
            for name in ("train_student", "_train_on_transfer_set"):
                if hasattr(module, name):
                    monkeypatch.setattr(module, name, no_training)
    with pytest.raises(error, match=match):
        accuracy_over_seeds(split.X_train, split.y_train, split.X_val, bad, seeds=[0, 1])
    with pytest.raises(error, match=match):
        temperature_lam_grid(*full, split.X_val, bad, temperatures=[4.0], lams=[0.9])
    with pytest.raises(error, match=match):
        train_and_score(few, split.X_val, bad)
    with pytest.raises(TypeError, match="X_eval must be a non-empty floating-point tensor"):
        train_and_score(few, split.X_val.long(), split.y_val)


def test_experiments_reject_bad_input_before_training(split, teacher, monkeypatch):
    def no_training(*args, **kwargs):
        raise AssertionError("a student was trained before the bad input was noticed")

    for module in vars(distillation).values():  # each file of the package that calls train_student
        if isinstance(module, types.ModuleType) and hasattr(module, "train_student"):
            monkeypatch.setattr(module, "train_student", no_training)
    with pytest.raises(ValueError, match=r"lam=-0.5"):
        full_label_experiment(split, teacher, lam=-0.5)
    with pytest.raises(ValueError, match=r"temperature=0.0"):
        few_label_experiment(split, teacher, temperature=0.0)
    with pytest.raises(ValueError, match=r"lam=2.0"):
        omitted_class_experiment(split, teacher, lam=2.0)
    with pytest.raises(ValueError, match=r"epochs=0"):
        few_label_experiment(split, teacher, epochs=0)
    with pytest.raises(ValueError, match=r"digit=12 is out of range"):
        omitted_class_experiment(split, teacher, digit=12)
    with pytest.raises(ValueError, match=r"at least 2 distinct"):
        omitted_class_experiment(split, teacher, seeds=[0])


def test_few_label_experiment_arms(split, teacher, few):
    r = few_label_experiment(split, teacher, seeds=[0, 1], epochs=8)
    assert set(r) == {"scratch", "distilled", "distilled_labelled_only"}
    student, _ = train_student(few.X[:100], few.targets[:100], seed=1, epochs=8)
    assert r["scratch"].values[1] == evaluate(student, split.X_test, split.y_test)
    student, _ = train_student(few.X, few.targets, teacher_logits=few.teacher_logits, seed=0, epochs=8)
    assert r["distilled"].values[0] == evaluate(student, split.X_test, split.y_test)
    assert set(few_label_experiment(split, teacher, seeds=[0, 1], epochs=2, labelled_only_arm=False)) == {
        "scratch", "distilled"}


# ---------------------------------------------------------------- the bias correction


def test_choose_bias_hand_made():
    # Class 1 is always 1.0 too low: examples 0-1 are 0s (margin 2 and 3), examples 2-3 are 1s
    # whose logit trails class 0 by 0.5 and 1.5. Adding b to class 1 gets example 2 right for
    # b > 0.5, example 3 for b > 1.5, and loses example 0 for b > 2, example 1 for b > 3.
    z = torch.tensor([[2.0, 0.0], [3.0, 0.0], [0.5, 0.0], [1.5, 0.0]])
    y = torch.tensor([0, 0, 1, 1])
    biases = torch.arange(0.0, 4.01, 0.25)  # 0, 0.25, ..., 4
    bias, accuracy = choose_bias(z, y, digit=1, biases=biases)
    expected = torch.tensor([(y == (z + torch.tensor([0.0, b])).argmax(1)).float().mean() for b in biases.tolist()])
    torch.testing.assert_close(accuracy, expected)
    # Best accuracy 1.0 for b in (1.5, 2], i.e. candidates 1.75 and 2.0: the lower middle is 1.75.
    assert accuracy.max() == 1.0 and bias == 1.75


def test_choose_bias_stays_at_zero_without_evidence():
    z = torch.tensor([[2.0, -5.0], [0.0, -5.0]])
    y = torch.tensor([0, 0])
    bias, accuracy = choose_bias(z, y, digit=1, biases=torch.linspace(0, 3, 7))
    assert bias == 0.0 and (accuracy == 1.0).all()


def test_choose_bias_odd_plateau_takes_the_middle():
    z = torch.tensor([[0.0, -1.0]])
    y = torch.tensor([1])
    bias, accuracy = choose_bias(z, y, digit=1, biases=torch.tensor([0.0, 0.5, 2.0, 3.0, 4.0]))
    assert accuracy.tolist() == [0.0, 0.0, 1.0, 1.0, 1.0] and bias == 3.0


def test_choose_bias_bad_input():
    z, y = torch.zeros(3, 10), torch.zeros(3, dtype=torch.long)
    with pytest.raises(ValueError, match=r"digit=10 is out of range"):
        choose_bias(z, y, digit=10)
    with pytest.raises(ValueError, match="strictly increasing"):
        choose_bias(z, y, digit=3, biases=torch.tensor([0.0, 2.0, 1.0]))
    with pytest.raises(TypeError, match="1-D floating-point"):
        choose_bias(z, y, digit=3, biases=torch.tensor([0, 1]))
    with pytest.raises(ValueError, match=r"y_val must have shape \(3,\)"):
        choose_bias(z, y[:2], digit=3)
    with pytest.raises(TypeError, match=r"y_val must be an integer tensor of class indices, got dtype=torch.float32"):
        choose_bias(z, y.float(), digit=3)
    with pytest.raises(ValueError, match=r"y_val contain class index 42; allowed range is \[0, 9\]"):
        choose_bias(z, torch.tensor([0, 1, 42]), digit=3)
    with pytest.raises(TypeError, match="y_val must be a torch.Tensor"):
        choose_bias(z, [0, 1, 2], digit=3)
    assert DEFAULT_BIASES[0] == 0 and DEFAULT_BIASES[-1] == 20 and len(DEFAULT_BIASES) == 401


def test_omitted_class_experiment_small(split, teacher):
    r = omitted_class_experiment(split, teacher, digit=3, seeds=[0, 1], epochs=30)
    assert set(r) == {"distilled", "scratch"}
    for arm in r.values():
        assert arm.val_curve.shape == DEFAULT_BIASES.shape
        for s in (arm.digit_before, arm.digit_after, arm.overall_before, arm.overall_after):
            assert all(0.0 <= a <= 1.0 for a in s.values)
    # The chosen bias is choose_bias on the validation logits of the same student.
    omitted = make_transfer_set(split.X_train, split.y_train, teacher, omit_digit=3)
    student, _ = train_student(omitted.X, omitted.targets, teacher_logits=omitted.teacher_logits, seed=1, epochs=30)
    bias, _ = choose_bias(predict_logits(student, split.X_val), split.y_val, 3)
    assert r["distilled"].bias.values[1] == bias
    # A student trained on labels without any 3 never predicts one.
    assert r["scratch"].digit_before.values == (0.0, 0.0)


# ---------------------------------------------------------------- the grid


def test_temperature_lam_grid_cells_are_students(split, full):
    grid = temperature_lam_grid(*full, split.X_val, split.y_val, temperatures=[1.0, 5.0], lams=[0.0, 0.7],
                                seeds=[2, 3], epochs=10)
    assert isinstance(grid, GridResult) and grid.accuracy.shape == (2, 2, 2)
    assert grid.seeds == (2, 3) and grid.resolution == 1 / 359
    for s, seed in enumerate((2, 3)):
        assert grid.accuracy[s, 0, 0] == grid.accuracy[s, 1, 0]  # lambda = 0: T plays no part
        scratch, _ = train_student(full.X, full.targets, seed=seed, epochs=10)
        assert grid.accuracy[s, 0, 0].item() == pytest.approx(evaluate(scratch, split.X_val, split.y_val))
        student, _ = train_student(*full[:2], teacher_logits=full.teacher_logits, temperature=5.0, lam=0.7,
                                   seed=seed, epochs=10)
        assert grid.accuracy[s, 1, 1].item() == pytest.approx(evaluate(student, split.X_val, split.y_val))
    # Accuracies are exact multiples of one validation image.
    counts = grid.accuracy * 359
    torch.testing.assert_close(counts, counts.round(), rtol=0, atol=1e-9)
    assert grid.cell(5.0, 0.7).values == tuple(grid.accuracy[:, 1, 1].tolist())
    torch.testing.assert_close(grid.mean, grid.accuracy.mean(0))
    torch.testing.assert_close(grid.std, grid.accuracy.std(0))


def test_temperature_lam_grid_lambda_zero_on_few_labels_trains_on_the_labelled_rows(split, few):
    grid = temperature_lam_grid(*few, split.X_val, split.y_val, temperatures=[2.0], lams=[0.0], seeds=[0, 1],
                                epochs=10)
    student, _ = train_student(few.X[:100], few.targets[:100], seed=1, epochs=10)
    assert grid.accuracy[1, 0, 0].item() == pytest.approx(evaluate(student, split.X_val, split.y_val))


def hand_grid(accuracy, temperatures=(1.0, 4.0), lams=(0.0, 0.9, 1.0)):
    """A GridResult from hand-made accuracies in validation images (out of 359), one list per seed."""
    accuracy = torch.tensor(accuracy, dtype=torch.float64) / 359
    return GridResult(tuple(temperatures), tuple(lams), tuple(range(len(accuracy))), accuracy, 1 / 359)


def test_grid_result_conclusions_on_hand_made_accuracies():
    # Three seeds; rows T = 1, 4; columns lambda = 0, 0.9, 1 (the lambda = 0 column repeats down).
    grid = hand_grid([
        [[340, 341, 340], [340, 350, 351]],
        [[342, 342, 343], [342, 352, 351]],
        [[338, 340, 338], [338, 349, 350]],
    ])
    assert grid.cells == [(1.0, 0.0), (1.0, 0.9), (1.0, 1.0), (4.0, 0.9), (4.0, 1.0)]
    # Means (images): T=1: 341, 340.33; T=4: 350.33, 350.67; labels only 340.
    assert grid.best == (4.0, 1.0)
    d = grid.difference((4.0, 1.0), (4.0, 0.9))
    assert d.values == pytest.approx((1 / 359, -1 / 359, 1 / 359))
    assert not grid.beyond_noise((4.0, 1.0), (4.0, 0.9))  # +0.33 images ± 1.15: noise
    assert grid.ties_with_best() == [(4.0, 0.9), (4.0, 1.0)]
    # T = 1 gains +1, +0, +2 images at lambda 0.9 (mean 1 = std 1: not beyond), +0, +1, +0 at 1 (below one image).
    assert grid.beats_labels_only() == [(4.0, 0.9), (4.0, 1.0)]


def test_grid_result_everything_ties_when_differences_are_one_image():
    grid = hand_grid([
        [[340, 341, 340], [340, 341, 341]],
        [[341, 340, 341], [341, 341, 340]],
    ])
    assert len(grid.ties_with_best()) == len(grid.cells)
    assert grid.beats_labels_only() == []


def test_grid_result_bad_cells():
    grid = hand_grid([[[340, 341, 340], [340, 341, 341]], [[341, 340, 341], [341, 341, 340]]])
    with pytest.raises(ValueError, match=r"\(T=2.0, lam=0.9\) is not a cell of this grid"):
        grid.cell(2.0, 0.9)
    no_labels_only = hand_grid([[[341, 340], [341, 341]], [[340, 341], [341, 340]]], lams=(0.9, 1.0))
    with pytest.raises(ValueError, match="no lam = 0 column"):
        no_labels_only.beats_labels_only()


def test_temperature_lam_grid_bad_input(split, full):
    args = (*full, split.X_val, split.y_val)
    with pytest.raises(ValueError, match="temperature=0.0"):
        temperature_lam_grid(*args, temperatures=[1.0, 0.0], lams=[0.5])
    with pytest.raises(ValueError, match=r"lam=1.2"):
        temperature_lam_grid(*args, temperatures=[1.0], lams=[1.2])
    with pytest.raises(ValueError, match="non-empty"):
        temperature_lam_grid(*args, temperatures=[], lams=[0.5])
    with pytest.raises(ValueError, match="must not repeat"):
        temperature_lam_grid(*args, temperatures=[4.0, 4], lams=[0.5])
    with pytest.raises(ValueError, match=r"seeds=\[0\] must hold at least 2 distinct"):
        temperature_lam_grid(*args, temperatures=[4.0], lams=[0.5], seeds=[0])


# ---------------------------------------------------------------- the widget's function


def test_train_and_score(split, few):
    r = train_and_score(few, split.X_val, split.y_val, temperature=2.0, lam=0.8, width=32, seed=3, epochs=15)
    student, _ = train_student(few.X, few.targets, teacher_logits=few.teacher_logits, temperature=2.0, lam=0.8,
                               sizes=[64, 32, 10], seed=3, epochs=15)
    assert r.accuracy == pytest.approx(evaluate(student, split.X_val, split.y_val))
    assert r.student[0].out_features == 32 and r.per_class_accuracy.shape == (10,)
    counts = torch.bincount(split.y_val, minlength=10).float()
    assert r.accuracy == pytest.approx((r.per_class_accuracy * counts).sum().item() / len(split.y_val), rel=1e-6)
    assert r.seconds > 0


def test_train_and_score_lambda_zero_is_scratch_on_the_labelled_rows(split, few):
    r = train_and_score(few, split.X_val, split.y_val, temperature=8.0, lam=0.0, epochs=10)
    student, _ = train_student(few.X[:100], few.targets[:100], epochs=10)
    assert r.accuracy == pytest.approx(evaluate(student, split.X_val, split.y_val))


def test_train_and_score_bad_input(split, few):
    with pytest.raises(ValueError, match=r"width=0 is out of range"):
        train_and_score(few, split.X_val, split.y_val, width=0)
    with pytest.raises(TypeError, match="width must be an integer"):
        train_and_score(few, split.X_val, split.y_val, width=12.5)
    with pytest.raises(ValueError, match=r"lam=-0.1"):
        train_and_score(few, split.X_val, split.y_val, lam=-0.1)
    with pytest.raises(TypeError, match="transfer must be a TransferSet"):
        train_and_score((few.X, few.targets), split.X_val, split.y_val)
    keep = split.y_val != 4
    with pytest.raises(ValueError, match=r"no example of class\(es\) \[4\]"):
        train_and_score(few, split.X_val[keep], split.y_val[keep], epochs=1)
    assert isinstance(few, TransferSet)


# ---------------------------------------------------------------- notebook 03's claims, at its defaults
# The same calls, seeds (0-4), epochs (300), T = 4 and lam = 0.9 as the notebook's default run.


def test_claim_full_labels_distillation_helps(split, teacher):
    r = full_label_experiment(split, teacher, seeds=range(5))
    gap = r["distilled"].minus(r["scratch"])
    assert r["scratch"].mean == pytest.approx(0.957, abs=0.01)
    assert r["distilled"].mean == pytest.approx(0.979, abs=0.01)
    assert gap.mean > 2 * gap.std > 0, f"gap {gap.mean:.4f} ± {gap.std:.4f}"


def test_claim_few_labels_gap_at_least_five_points(split, teacher):
    r = few_label_experiment(split, teacher, per_class=10, seeds=range(5))
    gap = r["distilled"].minus(r["scratch"])
    assert gap.mean >= 0.05, f"few-label gap {100 * gap.mean:.1f} points < 5"
    assert r["scratch"].mean < r["distilled_labelled_only"].mean < r["distilled"].mean


def test_claim_omitted_digit_recovered_by_a_validation_bias(split, teacher):
    r = omitted_class_experiment(split, teacher, digit=3, seeds=range(5))
    d, s = r["distilled"], r["scratch"]
    assert d.digit_before.mean >= 0.4, f"distilled student gets {d.digit_before} of the 3s before correction"
    assert d.digit_after.mean >= 0.9, f"distilled student gets {d.digit_after} of the 3s after correction"
    assert d.digit_after.mean > d.digit_before.mean + 0.2
    assert d.overall_after.mean > d.overall_before.mean
    assert 2.0 <= d.bias.mean <= 6.0  # Hinton et al. found 3.5 on MNIST
    assert s.digit_before.mean == s.digit_after.mean == 0.0
