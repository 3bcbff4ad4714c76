"""distill_lib.distillation: the student, the transfer-set loss and transfer sets.

Formulas are checked against torch.nn.functional (``ignore_index``, ``kl_div``) and hand
values; ``train_student`` against a direct call of ``fit`` with the same loss.
"""

import inspect
import math
from functools import partial

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from distill_lib.distillation import make_transfer_set
from distill_lib.losses import UNLABELLED, distillation_loss, kd_kl_loss, transfer_set_loss
from distill_lib.student import STUDENT_RECIPE, STUDENT_SIZES, train_student
from distill_lib.models import count_parameters, mlp
from distill_lib.training import fit, predict_logits, set_seed


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
    # uint8 cannot hold UNLABELLED, so such targets are all labelled: accepted, as by distillation_loss.
    assert torch.equal(transfer_set_loss(z, v, y.to(torch.uint8), 4.0, 0.9), distillation_loss(z, v, y, 4.0, 0.9))


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
