"""distill_lib.logit_matching against hand-computed values and torch.nn.functional."""

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from distill_lib.student import STUDENT_SIZES, train_student
from distill_lib.logit_matching import (
    METHODS,
    center_logits,
    mse_parts,
    offset_and_shape,
    runs_on,
    subtract_row_means,
    train_arms,
    train_logit_matching_student,
    train_per_method,
)
from distill_lib.losses import mse_logit_loss, softmax_with_temperature
from distill_lib.models import mlp
from distill_lib.student import STUDENT_RECIPE
from distill_lib.training import evaluate, fit, set_seed


def rand_logits(n=6, c=10, scale=3.0, seed=0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(n, c, generator=g, dtype=torch.float64) * scale).to(dtype)


def toy_data(n=60, seed=0):
    """Inputs, labels and 'teacher' logits that put 5 on the right class: argmax == label."""
    g = torch.Generator().manual_seed(seed)
    X = torch.rand(n, 64, generator=g)
    y = torch.arange(n) % 10
    v = F.one_hot(y, 10).float() * 5 + torch.randn(n, 10, generator=g) * 0.5 - 3.0
    return X, y, v


# ---------------------------------------------------------------- center_logits


def test_center_logits_hand_value():
    got = center_logits(torch.tensor([[1.0, 2.0, 6.0], [0.0, 0.0, 0.0]]))
    torch.testing.assert_close(got, torch.tensor([[-2.0, -1.0, 3.0], [0.0, 0.0, 0.0]]))


logit_rows = st.lists(st.floats(-50, 50, allow_nan=False, width=32), min_size=2, max_size=8)


@settings(max_examples=60, deadline=None)
@given(row=logit_rows, T=st.floats(0.05, 100), shift=st.floats(-100, 100))
def test_center_logits_keeps_the_softmax_and_sums_to_zero(row, T, shift):
    v = torch.tensor([row], dtype=torch.float64) + shift
    c = center_logits(v)
    assert abs(c.sum().item()) <= 1e-9 * (1 + v.abs().sum().item())
    torch.testing.assert_close(softmax_with_temperature(c, T), softmax_with_temperature(v, T))
    torch.testing.assert_close(center_logits(c), c)  # idempotent


# ---------------------------------------------------------------- mse_parts


def test_mse_parts_hand_value():
    # d = z - v = [3, 1]: mean 2 -> offset 4; centred [1, -1] -> shape (1 + 1) / 2 = 1; total (9 + 1) / 2 = 5
    parts = mse_parts(torch.tensor([[3.0, 1.0]]), torch.tensor([[0.0, 0.0]]))
    assert parts.offset.item() == pytest.approx(4.0)
    assert parts.shape.item() == pytest.approx(1.0)
    assert mse_logit_loss(torch.tensor([[3.0, 1.0]]), torch.tensor([[0.0, 0.0]])).item() == pytest.approx(5.0)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(1, 5), c=st.integers(2, 10), shift=st.floats(-30, 30))
def test_mse_parts_sum_to_the_mse_and_shape_ignores_shifts(seed, n, c, shift):
    z = rand_logits(n, c, seed=seed, dtype=torch.float64)
    v = rand_logits(n, c, seed=seed + 1, dtype=torch.float64)
    parts = mse_parts(z, v)
    torch.testing.assert_close(parts.offset + parts.shape, F.mse_loss(z, v))
    torch.testing.assert_close(parts.shape, F.mse_loss(center_logits(z), center_logits(v)))
    torch.testing.assert_close(parts.offset, ((z.mean(1) - v.mean(1)) ** 2).mean())
    row_shift = torch.linspace(-1, 1, n, dtype=torch.float64).unsqueeze(1) * shift  # (n, 1)
    torch.testing.assert_close(mse_parts(z + row_shift, v).shape, parts.shape)


def test_mse_parts_bad_input():
    with pytest.raises(ValueError, match=r"shape \(6, 10\).*shape \(6, 5\).*no broadcasting"):
        mse_parts(rand_logits(), rand_logits()[:, :5])
    with pytest.raises(ValueError, match="student_logits contains 1 NaN"):
        z = rand_logits()
        z[0, 0] = float("nan")
        mse_parts(z, rand_logits())
    with pytest.raises(TypeError, match="floating-point"):
        center_logits(torch.ones(2, 3, dtype=torch.long))
    with pytest.raises(ValueError, match=r"2 dimensions"):
        center_logits(torch.zeros(10))


# ---------------------------------------------------------------- training


def test_logit_matching_student_regresses_the_given_targets():
    """The student is exactly a fresh STUDENT_SIZES MLP fitted by mse_logit_loss to the (centred) targets."""
    X, _, v = toy_data()
    for center in (False, True):
        targets = center_logits(v) if center else v
        set_seed(3)
        reference = mlp(STUDENT_SIZES)
        fit(reference, X, teacher_logits=targets, loss_fn=mse_logit_loss, epochs=3, lr=STUDENT_RECIPE["lr"],
            seed=3, progress=False)
        student = train_logit_matching_student(X, v, center=center, seed=3, epochs=3)
        for a, b in zip(student.parameters(), reference.parameters()):
            torch.testing.assert_close(a, b, rtol=0, atol=0, msg=f"center={center}")


def test_logit_matching_student_is_deterministic_and_learns():
    X, _, v = toy_data()
    set_seed(1)
    before = mse_logit_loss(mlp(STUDENT_SIZES)(X), v).item()
    a = train_logit_matching_student(X, v, seed=1, epochs=60)
    b = train_logit_matching_student(X, v, seed=1, epochs=60)
    for pa, pb in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(pa, pb, rtol=0, atol=0)
    with torch.no_grad():
        assert mse_logit_loss(a(X), v).item() < before / 3
    assert not a.training


def test_logit_matching_student_bad_input():
    X, _, v = toy_data()
    with pytest.raises(TypeError, match="center must be True or False, got 'yes'"):
        train_logit_matching_student(X, v, center="yes")
    with pytest.raises(ValueError, match=r"N=60 rows.*\(59, 64\)"):
        train_logit_matching_student(X[:59], v)
    with pytest.raises(ValueError, match=r"epochs=0 is out of range"):
        train_logit_matching_student(X, v, epochs=0)
    with pytest.raises(ValueError, match=r"seed=-1 is out of range"):
        train_logit_matching_student(X, v, seed=-1)
    with pytest.raises(ValueError, match=r"sizes=\[64, 8, 7\] must .* 10 classes"):
        train_logit_matching_student(X, v, sizes=[64, 8, 7])


def test_train_per_method_and_runs_on():
    X, y, v = toy_data()
    assert torch.equal(v.argmax(1), y)  # so hard labels are the labels
    students = train_per_method(X, y, v, seeds=[0, 1], epochs=10)
    assert list(students) == list(METHODS) and all(len(s) == 2 for s in students.values())
    runs = runs_on(students, eval_set=(X, y), seeds=[0, 1])
    assert runs["hard_labels"].per_seed.tolist() == runs["labels"].per_seed.tolist()  # identical training runs
    # "labels" is exactly train_student from scratch with the same seed (accuracy in %)
    student, _ = train_student(X, y, seed=1, epochs=10)
    assert runs["labels"].per_seed[1] == pytest.approx(100 * evaluate(student, X, y))
    # "centered_logits" is exactly train_logit_matching_student(center=True)
    student = train_logit_matching_student(X, v, center=True, seed=0, epochs=10)
    assert runs["centered_logits"].per_seed[0] == pytest.approx(100 * evaluate(student, X, y))


def test_train_per_method_bad_input():
    X, y, v = toy_data()
    with pytest.raises(ValueError, match=r"methods=\['soft'\]"):
        train_per_method(X, y, v, seeds=[0], methods=["soft"])
    with pytest.raises(ValueError, match=r"methods=\['logits', 'logits'\]"):
        train_per_method(X, y, v, seeds=[0], methods=["logits", "logits"])
    with pytest.raises(ValueError, match=r"seeds=\[0, 0\]"):
        train_per_method(X, y, v, seeds=[0, 0])
    with pytest.raises(ValueError, match=r"seeds=\[\]"):
        train_per_method(X, y, v, seeds=[])
    with pytest.raises(ValueError, match=r"class index 10"):
        train_per_method(X, torch.full((60,), 10), v, seeds=[0])
    students = {"labels": [mlp([64, 10])]}
    with pytest.raises(ValueError, match=r"students\['labels'\] must hold 2 modules"):
        runs_on(students, eval_set=(X, y), seeds=[0, 1])
    with pytest.raises(ValueError, match=r"eval_set\[1\] \(targets\) contain class index 12"):
        runs_on(students, eval_set=(X, torch.full((60,), 12)), seeds=[0])


def test_cores_equal_the_checked_functions():
    z, v = rand_logits(seed=1), rand_logits(seed=2)
    torch.testing.assert_close(subtract_row_means(v), center_logits(v), rtol=0, atol=0)
    assert offset_and_shape(z, v) == mse_parts(z, v)


def test_train_arms_refuses_an_unknown_method():
    """The unchecked core does not fall through to the last arm on a misspelled name."""
    X, y, v = toy_data()
    with pytest.raises(ValueError, match=r"method='centred_logits' is not a training method; allowed: \("):
        train_arms(X, y, v, seeds=[0], methods=["centred_logits"], epochs=1)
