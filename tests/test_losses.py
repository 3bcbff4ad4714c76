"""distill_lib.losses against hand-computed values, torch.nn.functional and gradcheck."""

import math
from functools import partial

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from distill_lib.losses import (
    UNLABELLED,
    cross_entropy_loss,
    distillation_loss,
    kd_kl_loss,
    log_softmax_with_temperature,
    make_loss,
    mse_logit_loss,
    softmax_with_temperature,
    transfer_set_loss,
)

torch.set_default_dtype(torch.float32)


def rand_logits(n=6, c=10, scale=3.0, seed=0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(n, c, generator=g, dtype=torch.float64) * scale).to(dtype)


# ---------------------------------------------------------------- hand-computed values


def test_softmax_with_temperature_hand_value():
    # softmax([2, 1, 0] / 2) = exp([1, .5, 0]) / sum
    e = [math.exp(1.0), math.exp(0.5), 1.0]
    expected = torch.tensor([[x / sum(e) for x in e]])
    got = softmax_with_temperature(torch.tensor([[2.0, 1.0, 0.0]]), temperature=2.0)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-7)


def test_kd_kl_loss_hand_value():
    # p = softmax([0, 2]), q = softmax([2, 0]); KL(p||q) = sum p (log p - log q), T = 1
    p1 = 1 / (1 + math.exp(-2))  # p for class 1
    p0 = 1 - p1
    kl = p0 * (math.log(p0) - math.log(p1)) + p1 * (math.log(p1) - math.log(p0))
    got = kd_kl_loss(torch.tensor([[2.0, 0.0]]), torch.tensor([[0.0, 2.0]]), temperature=1.0)
    assert got.item() == pytest.approx(kl, abs=1e-6)
    assert kl == pytest.approx(2 * math.tanh(1.0), abs=1e-12)  # the docstring's example


def test_kd_kl_loss_hand_value_with_temperature_and_batch():
    # Two identical rows: batchmean must give the per-row value, times T^2.
    T = 2.0
    z = torch.tensor([[2.0, 0.0], [2.0, 0.0]])
    v = torch.tensor([[0.0, 2.0], [0.0, 2.0]])
    p1 = 1 / (1 + math.exp(-1))  # softmax([0, 1])[1]
    p0 = 1 - p1
    kl = p0 * (math.log(p0) - math.log(p1)) + p1 * (math.log(p1) - math.log(p0))
    assert kd_kl_loss(z, v, T).item() == pytest.approx(T * T * kl, abs=1e-6)


def test_mse_logit_loss_hand_value():
    got = mse_logit_loss(torch.tensor([[1.0, 2.0]]), torch.tensor([[0.0, 0.0]]))
    assert got.item() == pytest.approx(2.5)


def test_distillation_loss_hand_value():
    z, v, y = torch.tensor([[2.0, 0.0]]), torch.tensor([[0.0, 2.0]]), torch.tensor([0])
    ce = math.log(1 + math.exp(-2))
    kl = 2 * math.tanh(1.0)  # see test_kd_kl_loss_hand_value
    got = distillation_loss(z, v, y, temperature=1.0, lam=0.5)
    assert got.item() == pytest.approx(0.5 * ce + 0.5 * kl, abs=1e-6)


# ---------------------------------------------------------------- PyTorch references


@pytest.mark.parametrize("T", [0.05, 0.5, 1.0, 4.0, 20.0, 1000.0])
def test_against_torch_functional(T):
    z, v = rand_logits(seed=1), rand_logits(seed=2)
    y = torch.arange(6) % 10
    torch.testing.assert_close(softmax_with_temperature(z, T), F.softmax(z / T, dim=1), rtol=0, atol=1e-6)
    torch.testing.assert_close(log_softmax_with_temperature(z, T), F.log_softmax(z / T, dim=1), rtol=0, atol=1e-6)
    # KL the textbook way, from probabilities, in float64
    z64, v64 = z.double(), v.double()
    p, log_p, log_q = F.softmax(v64 / T, 1), F.log_softmax(v64 / T, 1), F.log_softmax(z64 / T, 1)
    kl_ref = (p * (log_p - log_q)).sum(dim=1).mean() * T**2
    assert kd_kl_loss(z64, v64, T).item() == pytest.approx(kl_ref.item(), rel=1e-6, abs=1e-9)
    # float32 input: ours agrees with the float64 reference to 1e-6 at every T ...
    assert kd_kl_loss(z, v, T).item() == pytest.approx(kl_ref.item(), rel=1e-6, abs=1e-7)
    # ... and with F.kl_div on probabilities (PyTorch's documented usage); run in float64,
    # because in float32 that reference itself loses ~3 digits at T = 1000.
    kl_torch = (F.kl_div(F.log_softmax(z64 / T, 1), F.softmax(v64 / T, 1), reduction="batchmean") * T**2).float()
    torch.testing.assert_close(kd_kl_loss(z, v, T), kl_torch, rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(mse_logit_loss(z, v), F.mse_loss(z, v), rtol=0, atol=1e-6)
    torch.testing.assert_close(cross_entropy_loss(z, y), F.cross_entropy(z, y), rtol=0, atol=1e-6)
    lam = 0.3
    combined = (1 - lam) * F.cross_entropy(z, y) + lam * kl_torch
    torch.testing.assert_close(distillation_loss(z, v, y, T, lam), combined, rtol=1e-5, atol=1e-6)


def test_batchmean_not_mean():
    """PyTorch's reduction='mean' divides by N*C: it is not the KL divergence."""
    z, v = rand_logits(seed=3), rand_logits(seed=4)
    ours = kd_kl_loss(z, v, 1.0)
    with pytest.warns(UserWarning, match="batchmean"):  # PyTorch itself warns about 'mean'
        elementwise_mean = F.kl_div(F.log_softmax(z, 1), F.log_softmax(v, 1), reduction="mean", log_target=True)
    torch.testing.assert_close(ours, elementwise_mean * z.shape[1])


def test_lam_endpoints():
    z, v, y = rand_logits(seed=5), rand_logits(seed=6), torch.arange(6) % 10
    torch.testing.assert_close(distillation_loss(z, v, y, 3.0, 0.0), F.cross_entropy(z, y))
    torch.testing.assert_close(distillation_loss(z, v, y, 3.0, 1.0), kd_kl_loss(z, v, 3.0))


def test_additive_form_is_a_rescaling():
    """CE + alpha*KD == (1 + alpha) * [(1 - lam) CE + lam KD] with lam = alpha / (1 + alpha)."""
    z, v, y, alpha = rand_logits(seed=7), rand_logits(seed=8), torch.arange(6) % 10, 3.0
    additive = F.cross_entropy(z, y) + alpha * kd_kl_loss(z, v, 4.0)
    torch.testing.assert_close(additive, (1 + alpha) * distillation_loss(z, v, y, 4.0, alpha / (1 + alpha)))


def test_teacher_gets_no_gradient():
    z = rand_logits(seed=9).requires_grad_()
    v = rand_logits(seed=10).requires_grad_()
    distillation_loss(z, v, torch.arange(6) % 10, 2.0, 0.5).backward()
    assert z.grad is not None and v.grad is None


# ---------------------------------------------------------------- gradients and extremes


@pytest.mark.parametrize("T", [0.05, 1.0, 7.0, 1000.0])
def test_gradcheck_float64(T):
    z = rand_logits(n=3, c=4, seed=11, dtype=torch.float64).requires_grad_()
    v = rand_logits(n=3, c=4, seed=12, dtype=torch.float64)
    y = torch.tensor([0, 3, 1])
    assert torch.autograd.gradcheck(lambda a: softmax_with_temperature(a, T), (z,))
    assert torch.autograd.gradcheck(lambda a: kd_kl_loss(a, v, T), (z,))
    assert torch.autograd.gradcheck(lambda a: mse_logit_loss(a, v), (z,))
    assert torch.autograd.gradcheck(lambda a: distillation_loss(a, v, y, T, 0.7), (z,))


def test_kl_gradient_matches_closed_form():
    """d KL(p||q) / d z = (q - p) / (N T), so T^2 times it is T (q - p) / N."""
    T, z, v = 3.0, rand_logits(seed=13, dtype=torch.float64).requires_grad_(), rand_logits(seed=14, dtype=torch.float64)
    kd_kl_loss(z, v, T).backward()
    p, q = F.softmax(v / T, 1), F.softmax(z.detach() / T, 1)
    torch.testing.assert_close(z.grad, T * (q - p) / z.shape[0])


@pytest.mark.parametrize("T", [0.05, 1.0, 1000.0])
@pytest.mark.parametrize("scale", [1e-3, 1.0, 1e4])
def test_finite_at_extremes(T, scale):
    z = (rand_logits(seed=15) / 3 * scale).clamp(-1e4, 1e4).requires_grad_()
    v = (rand_logits(seed=16) / 3 * scale).clamp(-1e4, 1e4)
    y = torch.arange(6) % 10
    for loss in (kd_kl_loss(z, v, T), distillation_loss(z, v, y, T, 0.5), mse_logit_loss(z, v)):
        z.grad = None
        loss.backward()
        assert torch.isfinite(loss), f"loss {loss} not finite at T={T}, |logits|~{scale}"
        assert torch.isfinite(z.grad).all(), f"gradient not finite at T={T}, |logits|~{scale}"
    assert torch.isfinite(softmax_with_temperature(z, T)).all()


def test_huge_logits_that_break_a_naive_softmax():
    z = torch.tensor([[1e4, -1e4, 0.0]])
    naive = torch.exp(z / 0.05) / torch.exp(z / 0.05).sum()
    assert torch.isnan(naive).any()  # inf / inf
    torch.testing.assert_close(softmax_with_temperature(z, 0.05), torch.tensor([[1.0, 0.0, 0.0]]))


# ---------------------------------------------------------------- properties


logit_rows = st.lists(st.floats(-50, 50, allow_nan=False, width=32), min_size=2, max_size=8)


@settings(max_examples=60, deadline=None)
@given(rows=st.lists(logit_rows, min_size=1, max_size=4).filter(lambda r: len({len(x) for x in r}) == 1),
       T=st.floats(0.05, 1000))
def test_softmax_rows_sum_to_one(rows, T):
    probs = softmax_with_temperature(torch.tensor(rows, dtype=torch.float64), T)
    torch.testing.assert_close(probs.sum(dim=1), torch.ones(len(rows), dtype=torch.float64))
    assert (probs >= 0).all()


@settings(max_examples=60, deadline=None)
@given(a=logit_rows, T=st.floats(0.05, 1000), shift=st.floats(-100, 100))
def test_kl_nonnegative_and_zero_for_equal_inputs(a, T, shift):
    z = torch.tensor([a], dtype=torch.float64)
    v = torch.flip(z, dims=[1])
    assert kd_kl_loss(z, v, T).item() >= -1e-12
    assert kd_kl_loss(z, z, T).item() == pytest.approx(0.0, abs=1e-9)
    # softmax is shift-invariant, so a constant offset changes nothing
    assert kd_kl_loss(z + shift, z, T).item() == pytest.approx(0.0, abs=1e-9)


@settings(max_examples=40, deadline=None)
@given(a=logit_rows, b=logit_rows, T=st.floats(0.5, 50))
def test_kl_zero_only_for_equal_distributions(a, b, T):
    n = min(len(a), len(b))
    z, v = torch.tensor([a[:n]], dtype=torch.float64), torch.tensor([b[:n]], dtype=torch.float64)
    kl = kd_kl_loss(z, v, T).item()
    tv = (softmax_with_temperature(z, T) - softmax_with_temperature(v, T)).abs().sum().item() / 2
    if tv > 1e-3:
        # Pinsker: KL >= 2 TV^2 > 0 (times T^2 here)
        assert kl >= 2 * tv * tv * T * T * (1 - 1e-9)


# ---------------------------------------------------------------- bad input


Z = rand_logits()
V = rand_logits(seed=1)
Y = torch.arange(6) % 10


@pytest.mark.parametrize("T", [0, -1.0, float("nan"), float("inf"), -float("inf")])
def test_bad_temperature(T):
    for fn in (partial(softmax_with_temperature, Z), partial(kd_kl_loss, Z, V),
               lambda t: distillation_loss(Z, V, Y, t, 0.5)):
        with pytest.raises(ValueError, match=r"temperature=.*(0 < temperature|> 0)"):
            fn(T)


@pytest.mark.parametrize("T", ["2", None, True, [2.0]])
def test_temperature_of_wrong_type(T):
    with pytest.raises(TypeError, match="temperature must be a real number"):
        kd_kl_loss(Z, V, T)


@pytest.mark.parametrize("lam", [-0.1, 1.5, float("nan")])
def test_bad_lam(lam):
    with pytest.raises(ValueError, match=r"lam=.*\[0, 1\]"):
        distillation_loss(Z, V, Y, 2.0, lam)


def test_mismatched_shapes_do_not_broadcast():
    with pytest.raises(ValueError, match=r"shape \(6, 10\).*shape \(1, 10\).*no broadcasting"):
        kd_kl_loss(Z, V[:1], 2.0)
    with pytest.raises(ValueError, match="no broadcasting"):
        mse_logit_loss(Z, V[:, :5])


def test_targets_out_of_range():
    with pytest.raises(ValueError, match=r"class index 10; allowed range is \[0, 9\]"):
        distillation_loss(Z, V, torch.full((6,), 10), 2.0, 0.5)
    with pytest.raises(ValueError, match=r"class index -1"):
        cross_entropy_loss(Z, torch.full((6,), -1))
    with pytest.raises(ValueError, match=r"targets must have shape \(6,\)"):
        distillation_loss(Z, V, Y[:3], 2.0, 0.5)
    with pytest.raises(TypeError, match="integer tensor"):
        distillation_loss(Z, V, Y.float(), 2.0, 0.5)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_logits(bad):
    z = Z.clone()
    z[2, 3] = bad
    with pytest.raises(ValueError, match=r"student_logits contains 1 NaN or infinite"):
        distillation_loss(z, V, Y, 2.0, 0.5)
    with pytest.raises(ValueError, match=r"teacher_logits contains 1 NaN"):
        kd_kl_loss(V, z, 2.0)


def test_empty_batch_and_wrong_kinds():
    with pytest.raises(ValueError, match="empty"):
        kd_kl_loss(torch.empty(0, 10), torch.empty(0, 10), 2.0)
    with pytest.raises(ValueError, match=r"2 dimensions"):
        mse_logit_loss(torch.zeros(10), torch.zeros(10))
    with pytest.raises(TypeError, match="torch.Tensor"):
        mse_logit_loss([[1.0]], V)
    with pytest.raises(TypeError, match="floating-point"):
        kd_kl_loss(torch.ones(2, 3, dtype=torch.long), torch.ones(2, 3), 1.0)


def torch_reference(z, v, targets, T, lam):
    """(1 - lam) * CE with PyTorch's ignore_index + lam * T^2 * F.kl_div(batchmean), in float64."""
    z64, v64 = z.double(), v.double()
    ce = F.cross_entropy(z64, targets, ignore_index=-100)
    kl = F.kl_div(F.log_softmax(z64 / T, 1), F.softmax(v64 / T, 1), reduction="batchmean")
    return (1 - lam) * ce + lam * T * T * kl


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


def test_unlabelled_default_is_pytorchs_ignore_index():
    import inspect

    assert UNLABELLED == -100 == inspect.signature(F.cross_entropy).parameters["ignore_index"].default


# ---------------------------------------------------------------- make_loss


@pytest.mark.parametrize("checked", [True, False])
@pytest.mark.parametrize("T, lam", [(4.0, 0.9), (2.0, 0.0), (3.0, 1.0)])
def test_make_loss_is_the_transfer_set_loss(T, lam, checked):
    z, v = rand_logits(seed=11), rand_logits(seed=12)
    targets = torch.tensor([3, UNLABELLED, 0, 5, UNLABELLED, 9])
    loss_fn = make_loss(T, lam, checked=checked)
    expected = transfer_set_loss(z, v, targets, T, lam)
    torch.testing.assert_close(loss_fn(z, targets=targets, teacher_logits=v), expected, rtol=0, atol=0)


def test_make_loss_lam_zero_is_cross_entropy_without_a_teacher():
    z, y = rand_logits(seed=13), torch.tensor([1, 2, 3, 4, 5, 6])
    torch.testing.assert_close(make_loss(4.0, 0.0)(z, targets=y), cross_entropy_loss(z, y), rtol=0, atol=0)


def test_make_loss_label_smoothing_matches_torch():
    z, v, y = rand_logits(seed=14), rand_logits(seed=15), torch.tensor([1, 2, 3, 4, 5, 6])
    got = make_loss(2.0, 0.25, label_smoothing=0.1)(z, targets=y, teacher_logits=v)
    expected = 0.75 * F.cross_entropy(z, y, label_smoothing=0.1) + 0.25 * kd_kl_loss(z, v, 2.0)
    torch.testing.assert_close(got, expected)


def test_make_loss_checked_names_the_problem():
    z, v = rand_logits(seed=16), rand_logits(seed=17)
    bad = torch.tensor([0, 1, 2, 3, 4, 10])
    with pytest.raises(ValueError, match=r"class index 10; allowed: \[0, 9\] or UNLABELLED=-100"):
        make_loss(4.0, 0.9)(z, targets=bad, teacher_logits=v)
    with pytest.raises(ValueError, match=r"lam=0.9 > 0 needs teacher_logits"):
        make_loss(4.0, 0.9)(z, targets=torch.zeros(6, dtype=torch.long))
    with pytest.raises(ValueError, match=r"lam=0.5 < 1 needs targets"):
        make_loss(4.0, 0.5)(z, teacher_logits=v)
    with pytest.raises(ValueError, match=r"every target is UNLABELLED"):
        make_loss(4.0, 0.5)(z, targets=torch.full((6,), UNLABELLED), teacher_logits=v)
    with pytest.raises(ValueError, match="student_logits contains 10 NaN"):
        make_loss(4.0, 0.5)(z.index_fill(0, torch.tensor([0]), float("nan")), targets=bad.clamp(max=9),
                            teacher_logits=v)


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(temperature=0.0), ValueError, r"temperature=0.0 must be a finite number > 0"),
    (dict(lam=1.5), ValueError, r"lam=1.5 must be in the range \[0, 1\]"),
    (dict(label_smoothing=1.0), ValueError, r"label_smoothing=1.0 must be in the range \[0, 1\)"),
    (dict(label_smoothing=-0.1), ValueError, r"label_smoothing=-0.1"),
    (dict(label_smoothing="0.1"), TypeError, r"label_smoothing must be a real number"),
    (dict(checked=1), TypeError, r"checked must be True or False, got int"),
])
def test_make_loss_bad_settings(kwargs, error, match):
    with pytest.raises(error, match=match):
        make_loss(**kwargs)
