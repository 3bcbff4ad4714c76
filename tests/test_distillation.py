"""distill_lib.distillation: the student, the transfer-set loss and notebook 03's experiments.

Formulas are checked against torch.nn.functional (``ignore_index``, ``kl_div``) and closed
forms; experiments against direct calls of ``train_student``. The last section asserts the
claims notebook 03 makes at its default parameters, through the same library calls.
"""

import inspect
import math
import statistics
from functools import partial

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from distill_lib.data import load_split
from distill_lib.distillation import (
    DEFAULT_BIASES,
    STUDENT_RECIPE,
    STUDENT_SIZES,
    UNLABELLED,
    SeedStats,
    TransferSet,
    accuracy_over_seeds,
    choose_bias,
    few_label_experiment,
    full_label_experiment,
    make_transfer_set,
    omitted_class_experiment,
    soft_term_gradient_norms,
    temperature_lam_grid,
    train_and_score,
    train_student,
    transfer_set_loss,
)
from distill_lib.losses import distillation_loss, kd_kl_loss
from distill_lib.models import count_parameters, mlp
from distill_lib.teacher import load_teacher
from distill_lib.training import evaluate, fit, predict_logits, set_seed


@pytest.fixture(scope="module")
def split():
    return load_split()


@pytest.fixture(scope="module")
def teacher(split):
    return load_teacher(split=split)[0]


@pytest.fixture(scope="module")
def full(split, teacher):
    return make_transfer_set(split.X_train, split.y_train, teacher)


@pytest.fixture(scope="module")
def few(split, teacher):
    return make_transfer_set(split.X_train, split.y_train, teacher, per_class=10)


def rand_logits(n=6, c=10, scale=3.0, seed=0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(n, c, generator=g, dtype=torch.float64) * scale).to(dtype)


def torch_reference(z, v, targets, T, lam):
    """(1 - lam) * CE with PyTorch's ignore_index + lam * T^2 * F.kl_div(batchmean), in float64."""
    z64, v64 = z.double(), v.double()
    ce = F.cross_entropy(z64, targets, ignore_index=-100)
    kl = F.kl_div(F.log_softmax(z64 / T, 1), F.softmax(v64 / T, 1), reduction="batchmean")
    return (1 - lam) * ce + lam * T * T * kl


# ---------------------------------------------------------------- the student and its recipe


def test_student_sizes_and_recipe():
    assert STUDENT_SIZES == [64, 128, 10] and count_parameters(mlp(STUDENT_SIZES)) == 9_610
    assert STUDENT_RECIPE == {"epochs": 300, "lr": 1e-2, "weight_decay": 0.0}
    assert UNLABELLED == -100 == inspect.signature(F.cross_entropy).parameters["ignore_index"].default


def test_train_student_is_fit_with_the_distillation_loss(split, full):
    ours, _ = train_student(full.X, full.targets, teacher_logits=full.teacher_logits, temperature=3.0, lam=0.7,
                            seed=4, epochs=15)
    set_seed(4)
    by_hand = mlp(STUDENT_SIZES)
    fit(by_hand, full.X, full.targets, teacher_logits=full.teacher_logits, epochs=15, lr=1e-2, seed=4,
        loss_fn=partial(distillation_loss, temperature=3.0, lam=0.7), progress=False)
    for p, q in zip(ours.parameters(), by_hand.parameters()):
        assert torch.equal(p, q)
    again, _ = train_student(full.X, full.targets, teacher_logits=full.teacher_logits, temperature=3.0, lam=0.7,
                             seed=4, epochs=15)
    assert all(torch.equal(p, q) for p, q in zip(ours.parameters(), again.parameters()))
    assert not ours.training


def test_train_student_partly_labelled_uses_the_transfer_set_loss(few):
    ours, history = train_student(few.X, few.targets, teacher_logits=few.teacher_logits, seed=1, epochs=10)
    set_seed(1)
    by_hand = mlp(STUDENT_SIZES)
    fit(by_hand, few.X, few.targets, teacher_logits=few.teacher_logits, epochs=10, lr=1e-2, seed=1,
        loss_fn=partial(transfer_set_loss, temperature=4.0, lam=0.9), progress=False)
    for p, q in zip(ours.parameters(), by_hand.parameters()):
        assert torch.equal(p, q)
    assert history.loss[-1] < history.loss[0]


def test_train_student_bad_input(few):
    with pytest.raises(ValueError, match="epochs=0 is out of range"):
        train_student(few.X, few.targets, teacher_logits=few.teacher_logits, epochs=0)
    with pytest.raises(ValueError, match=r"UNLABELLED=-100 rows but no teacher_logits"):
        train_student(few.X, few.targets)
    with pytest.raises(ValueError, match=r"lam=1.5 must be in the range \[0, 1\]"):
        train_student(few.X, few.targets, teacher_logits=few.teacher_logits, lam=1.5)
    with pytest.raises(ValueError, match="temperature=0.0"):
        train_student(few.X, few.targets, teacher_logits=few.teacher_logits, temperature=0.0)


# ---------------------------------------------------------------- the transfer-set loss


@pytest.mark.parametrize("T, lam", [(1.0, 0.5), (4.0, 0.9), (0.5, 0.0), (20.0, 0.3)])
def test_transfer_set_loss_against_torch(T, lam):
    z, v = rand_logits(seed=1), rand_logits(seed=2)
    targets = torch.tensor([3, UNLABELLED, 0, UNLABELLED, UNLABELLED, 9])
    expected = torch_reference(z, v, targets, T, lam).float()
    torch.testing.assert_close(transfer_set_loss(z, v, targets, T, lam), expected, rtol=1e-5, atol=1e-6)


def test_transfer_set_loss_hand_value():
    # Row 0 labelled 0, row 1 unlabelled; T = 1, lam = 0.5. Both rows: z = [2, 0], v = [0, 2].
    z, v = torch.tensor([[2.0, 0.0], [2.0, 0.0]]), torch.tensor([[0.0, 2.0], [0.0, 2.0]])
    ce = math.log(1 + math.exp(-2))  # row 0 only
    kl = 2 * math.tanh(1.0)  # KL(softmax([0,2]) || softmax([2,0])), the same for both rows
    got = transfer_set_loss(z, v, torch.tensor([0, UNLABELLED]), temperature=1.0, lam=0.5)
    assert got.item() == pytest.approx(0.5 * ce + 0.5 * kl, abs=1e-6)


def test_transfer_set_loss_is_the_distillation_loss_when_all_labelled():
    z, v, y = rand_logits(seed=3), rand_logits(seed=4), torch.arange(6) % 10
    assert torch.equal(transfer_set_loss(z, v, y, 4.0, 0.9), distillation_loss(z, v, y, 4.0, 0.9))


def test_transfer_set_loss_lam_one_needs_no_labels():
    z, v = rand_logits(seed=5), rand_logits(seed=6)
    none_labelled = torch.full((6,), UNLABELLED)
    torch.testing.assert_close(transfer_set_loss(z, v, none_labelled, 3.0, 1.0), kd_kl_loss(z, v, 3.0))
    with pytest.raises(ValueError, match=r"lam=0.5 < 1 needs at least one labelled row"):
        transfer_set_loss(z, v, none_labelled, 3.0, 0.5)


def test_unlabelled_rows_get_only_the_soft_gradient():
    """d loss / d z_n for an unlabelled row n is lam * T (q_n - p_n) / N: no cross-entropy part."""
    T, lam = 2.0, 0.6
    z = rand_logits(seed=7, dtype=torch.float64).requires_grad_()
    v = rand_logits(seed=8, dtype=torch.float64)
    targets = torch.tensor([1, 2, UNLABELLED, UNLABELLED, 5, UNLABELLED])
    transfer_set_loss(z, v, targets, T, lam).backward()
    soft = lam * T * (F.softmax(z.detach() / T, 1) - F.softmax(v / T, 1)) / len(z)  # (N, C)
    unlabelled = targets == UNLABELLED
    torch.testing.assert_close(z.grad[unlabelled], soft[unlabelled])
    assert not torch.allclose(z.grad[~unlabelled], soft[~unlabelled])


def test_transfer_set_loss_gradcheck():
    z = rand_logits(n=4, c=3, seed=9, dtype=torch.float64).requires_grad_()
    v = rand_logits(n=4, c=3, seed=10, dtype=torch.float64)
    targets = torch.tensor([0, UNLABELLED, 2, UNLABELLED])
    assert torch.autograd.gradcheck(lambda a: transfer_set_loss(a, v, targets, 3.0, 0.4), (z,))


@settings(max_examples=40, deadline=None)
@given(mask=st.lists(st.booleans(), min_size=6, max_size=6).filter(any),
       T=st.floats(0.1, 100), lam=st.floats(0, 1), seed=st.integers(0, 1000))
def test_transfer_set_loss_property(mask, T, lam, seed):
    """Equals PyTorch's ignore_index reference for any labelled subset; >= 0; row order does not matter."""
    z, v = rand_logits(seed=seed, dtype=torch.float64), rand_logits(seed=seed + 1, dtype=torch.float64)
    labels = torch.arange(6) % 10
    targets = torch.where(torch.tensor(mask), labels, torch.full_like(labels, UNLABELLED))
    got = transfer_set_loss(z, v, targets, T, lam)
    assert got.item() == pytest.approx(torch_reference(z, v, targets, T, lam).item(), rel=1e-9, abs=1e-12)
    assert got.item() >= 0
    perm = torch.randperm(6, generator=torch.Generator().manual_seed(seed))
    assert transfer_set_loss(z[perm], v[perm], targets[perm], T, lam).item() == pytest.approx(got.item(), rel=1e-12)


def test_transfer_set_loss_bad_input():
    z, v = rand_logits(), rand_logits(seed=1)
    with pytest.raises(ValueError, match=r"class index 10; allowed: \[0, 9\] or UNLABELLED=-100"):
        transfer_set_loss(z, v, torch.tensor([0, 1, 2, 3, 4, 10]), 2.0, 0.5)
    with pytest.raises(ValueError, match=r"class index -1"):
        transfer_set_loss(z, v, torch.tensor([0, 1, 2, 3, 4, -1]), 2.0, 0.5)
    with pytest.raises(ValueError, match=r"targets must have shape \(6,\)"):
        transfer_set_loss(z, v, torch.tensor([0, 1]), 2.0, 0.5)
    with pytest.raises(TypeError, match="integer tensor"):
        transfer_set_loss(z, v, torch.zeros(6), 2.0, 0.5)
    with pytest.raises(ValueError, match="no broadcasting"):
        transfer_set_loss(z, v[:1], torch.zeros(6, dtype=torch.long), 2.0, 0.5)
    with pytest.raises(ValueError, match=r"temperature=-1.0"):
        transfer_set_loss(z, v, torch.zeros(6, dtype=torch.long), -1.0, 0.5)
    with pytest.raises(ValueError, match=r"lam=2.0"):
        transfer_set_loss(z, v, torch.zeros(6, dtype=torch.long), 1.0, 2.0)


# ---------------------------------------------------------------- transfer sets


def test_make_transfer_set(split, teacher, full, few):
    assert torch.equal(full.X, split.X_train) and torch.equal(full.targets, split.y_train)
    torch.testing.assert_close(full.teacher_logits, predict_logits(teacher, split.X_train))
    assert full.num_labelled == 1079
    assert few.num_labelled == 100 and len(few.X) == 1079
    assert (few.targets[:100] != UNLABELLED).all() and (few.targets[100:] == UNLABELLED).all()
    assert torch.bincount(few.targets[:100]).tolist() == [10] * 10
    torch.testing.assert_close(few.teacher_logits, predict_logits(teacher, few.X))
    omitted = make_transfer_set(split.X_train, split.y_train, teacher, omit_digit=3)
    assert 3 not in omitted.targets.tolist() and len(omitted.X) == int((split.y_train != 3).sum())
    both = make_transfer_set(split.X_train, split.y_train, teacher, per_class=5, omit_digit=7)
    assert both.num_labelled == 45 and 7 not in both.targets.tolist()


def test_make_transfer_set_bad_input(split, teacher):
    with pytest.raises(ValueError, match=r"per_class=0 is out of range"):
        make_transfer_set(split.X_train, split.y_train, teacher, per_class=0)
    with pytest.raises(ValueError, match=r"digit=10 is out of range"):
        make_transfer_set(split.X_train, split.y_train, teacher, omit_digit=10)


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


def test_experiments_reject_bad_input_before_training(split, teacher, monkeypatch):
    def no_training(*args, **kwargs):
        raise AssertionError("a student was trained before the bad input was noticed")

    monkeypatch.setattr("distill_lib.distillation.train_student", no_training)
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
    with pytest.raises(ValueError, match=r"y_val must be a tensor of shape \(3,\)"):
        choose_bias(z, y[:2], digit=3)
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
                                seed=2, epochs=10)
    assert grid.shape == (2, 2)
    assert grid[0, 0] == grid[1, 0]  # lambda = 0: T plays no part
    scratch, _ = train_student(full.X, full.targets, seed=2, epochs=10)
    assert grid[0, 0].item() == pytest.approx(evaluate(scratch, split.X_val, split.y_val))
    student, _ = train_student(*full[:2], teacher_logits=full.teacher_logits, temperature=5.0, lam=0.7, seed=2,
                               epochs=10)
    assert grid[1, 1].item() == pytest.approx(evaluate(student, split.X_val, split.y_val))


def test_temperature_lam_grid_lambda_zero_on_few_labels_trains_on_the_labelled_rows(split, few):
    grid = temperature_lam_grid(*few, split.X_val, split.y_val, temperatures=[2.0], lams=[0.0], epochs=10)
    student, _ = train_student(few.X[:100], few.targets[:100], epochs=10)
    assert grid[0, 0].item() == pytest.approx(evaluate(student, split.X_val, split.y_val))


def test_temperature_lam_grid_bad_input(split, full):
    args = (*full, split.X_val, split.y_val)
    with pytest.raises(ValueError, match="temperature=0.0"):
        temperature_lam_grid(*args, temperatures=[1.0, 0.0], lams=[0.5])
    with pytest.raises(ValueError, match=r"lam=1.2"):
        temperature_lam_grid(*args, temperatures=[1.0], lams=[1.2])
    with pytest.raises(ValueError, match="non-empty"):
        temperature_lam_grid(*args, temperatures=[], lams=[0.5])


# ---------------------------------------------------------------- why T^2


def test_soft_term_gradient_norms_closed_form():
    z, v, y = rand_logits(seed=11), rand_logits(seed=12), torch.arange(6) % 10
    temps = [0.5, 1.0, 3.0, 10.0]
    g = soft_term_gradient_norms(z, v, temps, targets=y)
    n = len(z)
    for i, T in enumerate(temps):
        q, p = F.softmax(z.double() / T, 1), F.softmax(v.double() / T, 1)
        assert g.with_t2[i].item() == pytest.approx((T * (q - p) / n).norm().item(), rel=1e-9)
        assert g.without_t2[i].item() == pytest.approx(((q - p) / (n * T)).norm().item(), rel=1e-9)
    torch.testing.assert_close(g.without_t2 * g.temperatures**2, g.with_t2)
    zz = z.double().requires_grad_()
    F.cross_entropy(zz, y).backward()
    assert g.cross_entropy == pytest.approx(zz.grad.norm().item(), rel=1e-9)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), scale=st.floats(0.1, 5.0))
def test_soft_term_gradient_tends_to_the_logit_matching_limit(seed, scale):
    """With T^2 the gradient tends to ||(z - mean z) - (v - mean v)|| / (N C); without, it vanishes as 1/T^2."""
    z, v = rand_logits(seed=seed, scale=scale), rand_logits(seed=seed + 1, scale=scale)
    g = soft_term_gradient_norms(z, v, [1e5, 2e5])  # the next-order term is O(|z| / T) ~ 1e-4 here
    assert g.with_t2[0].item() == pytest.approx(g.high_temperature_limit, rel=1e-3)
    assert g.without_t2[1].item() == pytest.approx(g.without_t2[0].item() / 4, rel=1e-3)
    assert g.cross_entropy is None


def test_soft_term_gradient_norms_bad_input():
    z = rand_logits()
    with pytest.raises(ValueError, match="temperature=-2.0"):
        soft_term_gradient_norms(z, z, [1.0, -2.0])
    with pytest.raises(ValueError, match="at least one value"):
        soft_term_gradient_norms(z, z, [])
    with pytest.raises(ValueError, match="no broadcasting"):
        soft_term_gradient_norms(z, z[:2], [1.0])
    with pytest.raises(ValueError, match=r"class index 10"):
        soft_term_gradient_norms(z, z, [1.0], targets=torch.full((6,), 10))


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
