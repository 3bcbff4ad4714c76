"""distill_lib.quantization.fake_quant_mlp: calibration, the fake-quant forward, QAT (notebook 04, §3-4)."""

import pytest
import torch
from torch import nn

from distill_lib.models import mlp
from distill_lib.quantization import (
    FakeQuantMLP,
    calibrate_inputs,
    choose_qparams,
    fake_quant_forward,
    fake_quantize,
    qat_loop,
    quantization_aware_training,
)


from quantization_helpers import data, student  # noqa: F401  (fixtures)


def test_without_quantization_it_is_the_float_model(student, data):
    X, _ = data
    q = FakeQuantMLP(student, weight_bits=None, activation_bits=None)
    assert torch.equal(q(X), student(X))
    assert torch.equal(fake_quant_forward(student, X, None, None), student(X))


@pytest.mark.parametrize("per_channel", [True, False])
def test_forward_by_hand(student, data, per_channel):
    X, _ = data
    q = FakeQuantMLP(student, weight_bits=4, activation_bits=6, per_channel=per_channel).calibrate(X)
    w0, w1 = student[0].weight.detach(), student[2].weight.detach()
    axis = 0 if per_channel else None
    for layer, w in zip(q.linears, (w0, w1)):  # the fast path gives choose_qparams' numbers
        a, b = q.weight_qparams(layer), choose_qparams(w, 4, symmetric=True, axis=axis)
        assert torch.equal(a.scale, b.scale) and torch.equal(a.zero_point, b.zero_point) and a[2:] == b[2:]
    x0 = fake_quantize(X, choose_qparams(X, 6))
    h = torch.relu(x0 @ fake_quantize(w0, choose_qparams(w0, 4, symmetric=True, axis=axis)).T + student[0].bias)
    h_float = torch.relu(student[0](X)).detach()  # calibrate() observes the float network
    h = fake_quantize(h, choose_qparams(h_float, 6))
    out = h @ fake_quantize(w1, choose_qparams(w1, 4, symmetric=True, axis=axis)).T + student[2].bias
    torch.testing.assert_close(q(X), out, rtol=0, atol=1e-6)


def test_calibrate_inputs_observes_the_float_network(student, data):
    X, _ = data
    input_qparams, logits = calibrate_inputs(student, X, 5, "percentile", 99.0)
    assert len(input_qparams) == 2 and input_qparams[0].quant_max == 31
    hidden = torch.relu(student[0](X)).detach()
    expected = choose_qparams(hidden, 5, method="percentile", percentile=99.0)
    assert torch.equal(input_qparams[1].scale, expected.scale)
    assert torch.equal(input_qparams[1].zero_point, expected.zero_point)
    torch.testing.assert_close(logits, student(X).detach(), rtol=0, atol=0)
    q = FakeQuantMLP(student, weight_bits=8, activation_bits=5).calibrate(X, method="percentile", percentile=99.0)
    assert all(torch.equal(a.scale, b.scale) for a, b in zip(q.input_qparams, input_qparams))


def test_fake_quant_forward_is_what_the_module_runs(student, data):
    X, _ = data
    q = FakeQuantMLP(student, weight_bits=3, activation_bits=4).calibrate(X)
    weights = [q.weight_qparams(layer) for layer in q.linears]
    assert torch.equal(fake_quant_forward(q.net, X, q.input_qparams, weights), q(X))


def test_the_module_copies_and_checks_before_changing_anything(student, data):
    X, y = data
    before = [p.clone() for p in student.parameters()]
    q = FakeQuantMLP(student, weight_bits=4, activation_bits=4)
    with pytest.raises(RuntimeError, match="call calibrate"):
        q(X)
    with pytest.raises(ValueError, match=r"X must have shape \(N, 16\)"):
        q.calibrate(torch.rand(5, 3))
    with pytest.raises(ValueError, match=r"X contains 16 NaN or infinite value\(s\)"):
        q.calibrate(torch.cat([X[:3], torch.full((1, 16), float("nan"))]))
    assert q.input_qparams is None, "a refused calibration must leave the grids unset"
    with pytest.raises(ValueError, match=r"method='mean' is not one of \('minmax', 'percentile'\)"):
        q.calibrate(X, method="mean")
    with pytest.raises(TypeError, match="nn.Sequential"):
        FakeQuantMLP(nn.Linear(3, 2))
    with pytest.raises(TypeError, match="Conv1d"):
        FakeQuantMLP(nn.Sequential(nn.Conv1d(1, 1, 1)))
    with pytest.raises(ValueError, match=r"activation_bits=17 is out of range; allowed: \[1, 16\]"):
        FakeQuantMLP(student, activation_bits=17)
    with pytest.raises(TypeError, match=r"bits must be an integer, got float \(4.0\)"):
        FakeQuantMLP(student, weight_bits=4.0)
    with pytest.raises(ValueError, match=r"weight_bits=1 is out of range; allowed: \[2, 16\]"):
        FakeQuantMLP(student, weight_bits=1)
    broken = mlp([16, 12, 5])
    with torch.no_grad():
        broken[2].weight[0, 0] = float("inf")
    with pytest.raises(ValueError, match=r"Linear layer 1 of model has NaN or infinite values in its \['weight'\]"):
        FakeQuantMLP(broken)
    q.calibrate(X)
    quantization_aware_training(q, X, y, epochs=3)
    assert all(torch.equal(a, b) for a, b in zip(before, student.parameters())), "the original must not change"


def test_qat_lowers_the_loss_through_the_ste(student, data):
    X, y = data
    q = FakeQuantMLP(student, weight_bits=3, activation_bits=3).calibrate(X)
    q(X).sum().backward()
    assert all(p.grad.abs().sum() > 0 for p in q.parameters()), "the STE must pass a gradient to every weight"
    q.zero_grad()
    losses = quantization_aware_training(q, X, y, epochs=60, lr=1e-2)
    assert len(losses) == 60 and losses[-1] < 0.9 * losses[0]
    assert not q.training, "QAT leaves the model in eval mode"


def test_qat_loop_is_a_plain_adam_loop(student, data):
    X, y = data
    q = FakeQuantMLP(student, weight_bits=4, activation_bits=None)
    q_ref = FakeQuantMLP(student, weight_bits=4, activation_bits=None)
    losses = qat_loop(q, lambda m: nn.functional.cross_entropy(m(X), y), 5, 1e-2)
    optimizer = torch.optim.Adam(q_ref.parameters(), lr=1e-2)
    for step in range(5):
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(q_ref(X), y)
        loss.backward()
        optimizer.step()
        assert losses[step] == pytest.approx(loss.item(), rel=1e-6)
    assert all(torch.equal(a, b) for a, b in zip(q.parameters(), q_ref.parameters()))


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(lam=2), ValueError, r"lam=2.0 must be in the range \[0, 1\]"),
    (dict(temperature=0), ValueError, r"temperature=0.0 must be a finite number > 0"),
    (dict(epochs=0), ValueError, r"epochs=0 is out of range; allowed: \[1, inf\]"),
    (dict(lr=-1.0), ValueError, r"lr=-1.0 is out of range; allowed: finite and > 0"),
    (dict(seed=-1), ValueError, r"seed=-1 is out of range"),
    (dict(teacher_logits=torch.randn(40, 7)), ValueError, r"teacher_logits must have shape \(40, 5\)"),
    (dict(teacher_logits=torch.full((40, 5), float("nan"))), ValueError, "teacher_logits contains 200 NaN"),
])
def test_qat_checks_everything_before_any_work(student, data, kwargs, error, match):
    X, y = data
    q = FakeQuantMLP(student, weight_bits=4, activation_bits=4).calibrate(X)
    before = [p.clone() for p in q.parameters()]
    q.eval()
    with pytest.raises(error, match=match):
        quantization_aware_training(q, X, y, **kwargs)
    assert all(torch.equal(a, b) for a, b in zip(before, q.parameters())), "nothing may be trained"
    assert not q.training, "the mode must not change either"


def test_qat_checks_the_data_and_the_model(student, data):
    X, y = data
    q = FakeQuantMLP(student, weight_bits=4, activation_bits=4)
    with pytest.raises(RuntimeError, match="not calibrated"):
        quantization_aware_training(q, X, y)
    with pytest.raises(TypeError, match="FakeQuantMLP"):
        quantization_aware_training(student, X, y)
    q.calibrate(X)
    with pytest.raises(ValueError, match=r"class index 9; allowed range is \[0, 4\]"):
        quantization_aware_training(q, X, torch.full((40,), 9))
    with pytest.raises(ValueError, match=r"X must have shape \(N, 16\)"):
        quantization_aware_training(q, torch.rand(40, 3), y)


def test_activation_errors_shrink_with_more_bits(student, data):
    X, _ = data
    e8 = FakeQuantMLP(student, activation_bits=8).calibrate(X).activation_errors(X)
    e4 = FakeQuantMLP(student, activation_bits=4).calibrate(X).activation_errors(X)
    assert len(e8) == 2 and all(a < b / 10 for a, b in zip(e8, e4))  # 4 bits more: ~256x less error
