"""distill_lib.student: the student, its recipe, its training loop and train_student.

``train_student`` is checked against ``training.fit`` with the same loss (bit for bit), the
loop's early stopping and views against hand-made cases, and every argument for a message
that names it, before anything changes.
"""

from functools import partial

import pytest
import torch

from distill_lib.data import augment
from distill_lib.losses import UNLABELLED, distillation_loss, make_loss, transfer_set_loss
from distill_lib.models import count_parameters, mlp
from distill_lib.student import (
    STUDENT_RECIPE, STUDENT_SIZES, check_training_data, make_views, train_loop, train_on_transfer_set, train_student,
    training_step,
)
from distill_lib.training import fit, predict_logits, set_seed


def test_student_sizes_and_recipe():
    assert STUDENT_SIZES == [64, 128, 10] and count_parameters(mlp(STUDENT_SIZES)) == 9_610
    assert STUDENT_RECIPE == {"epochs": 300, "lr": 1e-2, "weight_decay": 0.0}


def test_train_student_is_fit_with_the_distillation_loss(full):
    ours, record = train_student(full.X, full.targets, teacher_logits=full.teacher_logits, temperature=3.0, lam=0.7,
                                 seed=4, epochs=15)
    set_seed(4)
    by_hand = mlp(STUDENT_SIZES)
    history = fit(by_hand, full.X, full.targets, teacher_logits=full.teacher_logits, epochs=15, lr=1e-2, seed=4,
                  loss_fn=partial(distillation_loss, temperature=3.0, lam=0.7), progress=False)
    assert all(torch.equal(p, q) for p, q in zip(ours.parameters(), by_hand.parameters()))
    assert record.loss == pytest.approx(history.loss, rel=1e-6)
    again, _ = train_student(full.X, full.targets, teacher_logits=full.teacher_logits, temperature=3.0, lam=0.7,
                             seed=4, epochs=15)
    assert all(torch.equal(p, q) for p, q in zip(ours.parameters(), again.parameters()))
    assert not ours.training


def test_train_student_from_scratch_is_fit_with_cross_entropy(full):
    ours, _ = train_student(full.X, full.targets, seed=2, epochs=12)
    set_seed(2)
    by_hand = mlp(STUDENT_SIZES)
    fit(by_hand, full.X, full.targets, epochs=12, lr=1e-2, seed=2, progress=False)
    assert all(torch.equal(p, q) for p, q in zip(ours.parameters(), by_hand.parameters()))


def test_train_student_partly_labelled_uses_the_transfer_set_loss(few):
    ours, record = train_student(few.X, few.targets, teacher_logits=few.teacher_logits, seed=1, epochs=10)
    set_seed(1)
    by_hand = mlp(STUDENT_SIZES)
    fit(by_hand, few.X, few.targets, teacher_logits=few.teacher_logits, epochs=10, lr=1e-2, seed=1,
        loss_fn=partial(transfer_set_loss, temperature=4.0, lam=0.9), progress=False)
    assert all(torch.equal(p, q) for p, q in zip(ours.parameters(), by_hand.parameters()))
    assert record.loss[-1] < record.loss[0]


def test_training_step_updates_only_the_student():
    set_seed(0)
    student = mlp([4, 3, 2])
    X, y, v = torch.randn(5, 4), torch.tensor([0, 1, 0, 1, 1]), torch.randn(5, 2, requires_grad=True)
    before = [p.detach().clone() for p in student.parameters()]
    optimizer = torch.optim.SGD(student.parameters(), lr=0.1)
    loss = training_step(student, optimizer, X, y, v, make_loss(2.0, 0.5))
    assert isinstance(loss, float) and loss > 0
    assert all(not torch.equal(a, b) for a, b in zip(before, student.parameters()))
    assert v.grad is None  # the teacher's logits are constants


def test_train_loop_early_stopping_keeps_the_best_evaluation(split):
    set_seed(0)
    student = mlp(STUDENT_SIZES)
    views = [(split.X_train, split.y_train, None)]
    record = train_loop(student, views, make_loss(lam=0.0), epochs=60, lr=1e-2, eval_set=(split.X_val, split.y_val),
                        eval_every=20)
    assert len(record.loss) == 60 and len(record.eval_accuracy) == 3
    best = max(record.eval_accuracy)
    assert record.best_epoch == 20 * (record.eval_accuracy.index(best) + 1)
    kept = (predict_logits(student, split.X_val).argmax(1) == split.y_val).float().mean().item()
    assert kept == best and not student.training


def test_train_loop_cycles_through_the_views():
    seen = []

    def loss_fn(student_logits, targets, teacher_logits):
        seen.append(len(student_logits))
        return student_logits.sum() * 0

    views = [(torch.zeros(n, 3), torch.zeros(n, dtype=torch.long), None) for n in (2, 5, 7)]
    train_loop(mlp([3, 2]), views, loss_fn, epochs=7, lr=0.1)
    assert seen == [2, 5, 7, 2, 5, 7, 2]


def test_make_views_jitters_with_augment_and_labels_each_view_once(split, teacher):
    X, y = split.X_train[:40], split.y_train[:40]
    teacher.train()  # make_views must switch dropout off
    try:
        views = make_views(X, y, teacher, copies=2, seed=3)
        assert not teacher.training
    finally:
        teacher.eval()
    expected = augment(X, torch.zeros(40, dtype=torch.long), copies=2, seed=3)[0].split(40)
    assert len(views) == 3 and torch.equal(views[0][0], X)
    for (x, targets, logits), e in zip(views, expected):
        assert torch.equal(x, e) and targets is y and not logits.requires_grad
        torch.testing.assert_close(logits, predict_logits(teacher, x))
    assert all(v[2] is None for v in make_views(X, y, copies=1))


def test_train_student_with_augmentation_smoothing_and_early_stopping(split):
    student, record = train_student(split.X_train, split.y_train, epochs=30, augment_copies=2, label_smoothing=0.1,
                                    eval_set=(split.X_val, split.y_val), eval_every=10, seed=1)
    assert len(record.eval_accuracy) == 3 and record.best_epoch in (10, 20, 30)
    again, _ = train_student(split.X_train, split.y_train, epochs=30, augment_copies=2, label_smoothing=0.1,
                             eval_set=(split.X_val, split.y_val), eval_every=10, seed=1)
    assert all(torch.equal(p, q) for p, q in zip(student.parameters(), again.parameters()))


def test_train_student_distils_with_the_teacher_on_every_view(split, teacher):
    X, y = split.X_train[:200], split.y_train[:200]
    student, record = train_student(X, y, teacher=teacher, augment_copies=1, epochs=4, seed=0)
    assert len(record.loss) == 4
    v = predict_logits(teacher, X)
    same, _ = train_student(X, y, teacher=teacher, epochs=4, seed=0)
    by_logits, _ = train_student(X, y, teacher_logits=v, epochs=4, seed=0)
    assert all(torch.equal(p, q) for p, q in zip(same.parameters(), by_logits.parameters()))


def test_train_on_transfer_set_lambda_zero_trains_on_the_labelled_rows(few):
    a, _ = train_on_transfer_set(*few, temperature=4.0, lam=0.0, seed=3, epochs=5)
    keep = few.targets != UNLABELLED
    b, _ = train_student(few.X[keep], few.targets[keep], seed=3, epochs=5)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    with pytest.raises(ValueError, match="every target is UNLABELLED"):
        train_on_transfer_set(few.X, torch.full_like(few.targets, UNLABELLED), few.teacher_logits, temperature=4.0,
                              lam=0.0)


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(epochs=0), ValueError, r"epochs=0 is out of range"),
    (dict(lam=1.5), ValueError, r"lam=1.5 must be in the range \[0, 1\]"),
    (dict(temperature=0.0), ValueError, r"temperature=0.0"),
    (dict(seed=-1), ValueError, r"seed=-1 is out of range"),
    (dict(sizes=[32, 128, 10]), ValueError, r"sizes\[0\]=32 must equal the number of input features"),
    (dict(sizes=[64, 0, 10]), ValueError, r"sizes\[1\]=0 is out of range"),
    (dict(label_smoothing=1.0), ValueError, r"label_smoothing=1.0 must be in the range \[0, 1\)"),
    (dict(augment_copies=-1), ValueError, r"augment_copies=-1 is out of range"),
    (dict(augment_copies=2), ValueError, r"pass teacher=\.\.\. instead of teacher_logits"),
    (dict(eval_every=0), ValueError, r"eval_every=0 is out of range"),
    (dict(eval_set=("X", "y")), TypeError, r"eval_set\[0\] \(X\) must be a non-empty floating-point tensor"),
    (dict(progress="yes"), TypeError, r"progress must be True, False or None"),
    (dict(teacher="teacher"), TypeError, r"teacher must be a torch.nn.Module"),
])
def test_train_student_bad_input_changes_nothing(few, kwargs, error, match):
    state = torch.random.get_rng_state()
    with pytest.raises(error, match=match):
        train_student(few.X, few.targets, teacher_logits=few.teacher_logits, **kwargs)
    assert torch.equal(state, torch.random.get_rng_state())  # no seed was set, no student built


def test_train_student_bad_tensors(few, split):
    with pytest.raises(ValueError, match=r"UNLABELLED=-100 rows but no teacher_logits"):
        train_student(few.X, few.targets)
    with pytest.raises(ValueError, match=r"class index 10; allowed: \[0, 9\]"):
        train_student(split.X_train[:3], torch.tensor([0, 1, 10]))
    with pytest.raises(ValueError, match=r"X contains 1 NaN"):
        train_student(split.X_train[:3].index_fill(0, torch.tensor([0]), 0.0).index_put(
            (torch.tensor([0]), torch.tensor([0])), torch.tensor(float("nan"))), split.y_train[:3])
    with pytest.raises(ValueError, match=r"teacher_logits must have shape \(1079, 10\)"):
        train_student(few.X, few.targets, teacher_logits=few.teacher_logits[:10])
    with pytest.raises(TypeError, match="targets must be an integer tensor"):
        train_student(split.X_train[:3], split.y_train[:3].float())
    with pytest.raises(ValueError, match="give teacher or teacher_logits, not both"):
        train_student(few.X, few.targets, teacher_logits=few.teacher_logits, teacher=mlp([64, 10]))
    with pytest.raises(ValueError, match=r"the student needs \(1079, 10\)"):
        train_student(few.X, few.targets, teacher=mlp([64, 7]))
    assert check_training_data(split.X_train, split.y_train, None, None, distilled=False) == STUDENT_SIZES
