"""distill_lib.distillation.transfer_set: what a student is distilled on."""

import pytest
import torch

from distill_lib.distillation import make_transfer_set
from distill_lib.losses import UNLABELLED
from distill_lib.training import predict_logits


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


def test_make_transfer_set_takes_the_teachers_eval_mode_logits(split, teacher):
    teacher.eval()
    expected = teacher(split.X_train[:50]).detach()
    teacher.train()  # dropout on: the soft targets must still be the deterministic eval-mode ones
    try:
        ts = make_transfer_set(split.X_train[:50], split.y_train[:50], teacher)
        torch.testing.assert_close(ts.teacher_logits, expected)
        assert not ts.teacher_logits.requires_grad
    finally:
        teacher.eval()
