"""distill_lib.quantization.fake_quant_mlp and .int8: the quantized student, fake-quantized then in integers.

The integer implementations are checked against the fake-quantized network's codes: ``Int8MLP``
(``torch._int_mm``) and PyTorch's own quantized kernels (``torch_ao_int8_mlp``).
"""

import pytest
import torch
from torch import nn

from distill_lib.models import mlp
from distill_lib.quantization import (
    INT8_DOT_PRODUCT_FLAGS,
    FakeQuantMLP,
    Int8MLP,
    cpu_int8_features,
    choose_qparams,
    dequantize,
    fake_quantize,
    qparams_from_range,
    quantization_aware_training,
    quantize,
    torch_ao_int8_mlp,
)


@pytest.fixture
def student():
    torch.manual_seed(0)
    return mlp([16, 12, 5])


@pytest.fixture
def data():
    g = torch.Generator().manual_seed(1)
    return torch.rand(40, 16, generator=g), torch.randint(0, 5, (40,), generator=g)


# ---------------------------------------------------------------- the fake-quantized student: PTQ and QAT


def test_fake_quant_mlp_without_quantization_is_the_float_model(student, data):
    X, _ = data
    q = FakeQuantMLP(student, weight_bits=None, activation_bits=None)
    assert torch.equal(q(X), student(X))


@pytest.mark.parametrize("per_channel", [True, False])
def test_fake_quant_mlp_forward_by_hand(student, data, per_channel):
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


def test_fake_quant_mlp_copies_and_checks(student, data):
    X, _ = data
    before = [p.clone() for p in student.parameters()]
    q = FakeQuantMLP(student, weight_bits=4, activation_bits=4)
    with pytest.raises(RuntimeError, match="call calibrate"):
        q(X)
    with pytest.raises(ValueError, match=r"X must have shape \(N, 16\)"):
        q.calibrate(torch.rand(5, 3))
    with pytest.raises(TypeError, match="nn.Sequential"):
        FakeQuantMLP(nn.Linear(3, 2))
    with pytest.raises(TypeError, match="Conv1d"):
        FakeQuantMLP(nn.Sequential(nn.Conv1d(1, 1, 1)))
    with pytest.raises(ValueError, match=r"activation_bits=17 is out of range; allowed: \[1, 16\]"):
        FakeQuantMLP(student, activation_bits=17)
    with pytest.raises(TypeError, match=r"bits must be an integer, got float \(4.0\)"):
        FakeQuantMLP(student, weight_bits=4.0)
    q.calibrate(X)
    quantization_aware_training(q, X, data[1], epochs=3)
    assert all(torch.equal(a, b) for a, b in zip(before, student.parameters())), "the original must not change"


def test_quantization_aware_training_lowers_the_loss_through_the_ste(student, data):
    X, y = data
    q = FakeQuantMLP(student, weight_bits=3, activation_bits=3).calibrate(X)
    q(X).sum().backward()
    assert all(p.grad.abs().sum() > 0 for p in q.parameters()), "the STE must pass a gradient to every weight"
    q.zero_grad()
    history = quantization_aware_training(q, X, y, epochs=60, lr=1e-2)
    assert history.loss[-1] < 0.9 * history.loss[0]
    with pytest.raises(TypeError, match="FakeQuantMLP"):
        quantization_aware_training(student, X, y)


@pytest.mark.parametrize("kwargs, match", [
    (dict(lam=2), r"lam=2.0 must be in the range \[0, 1\]"),
    (dict(lam=-0.1), r"lam=-0.1 must be in the range \[0, 1\]"),
    (dict(temperature=0), r"temperature=0.0 must be a finite number > 0"),
    (dict(temperature=float("inf")), r"temperature=inf must be a finite number > 0"),
])
@pytest.mark.parametrize("with_teacher", [False, True])
def test_quantization_aware_training_checks_lam_and_temperature_before_any_work(student, data, kwargs, match,
                                                                                 with_teacher):
    X, y = data
    q = FakeQuantMLP(student, weight_bits=4, activation_bits=4)  # not even calibrated: the check comes first
    teacher_logits = torch.randn(len(X), 5) if with_teacher else None
    before = [p.clone() for p in q.parameters()]
    with pytest.raises(ValueError, match=match):
        quantization_aware_training(q, X, y, teacher_logits=teacher_logits, **kwargs)
    assert all(torch.equal(a, b) for a, b in zip(before, q.parameters())), "nothing may be trained"


def test_fake_quant_mlp_weight_bits_message_names_its_own_argument(student):
    with pytest.raises(ValueError, match=r"weight_bits=1 is out of range; allowed: \[2, 16\]") as info:
        FakeQuantMLP(student, weight_bits=1)
    assert "symmetric=False" not in str(info.value)  # FakeQuantMLP has no such argument


def test_activation_errors_shrink_with_more_bits(student, data):
    X, _ = data
    e8 = FakeQuantMLP(student, activation_bits=8).calibrate(X).activation_errors(X)
    e4 = FakeQuantMLP(student, activation_bits=4).calibrate(X).activation_errors(X)
    assert len(e8) == 2 and all(a < b / 10 for a, b in zip(e8, e4))  # 4 bits more: ~256x less error


# ---------------------------------------------------------------- int8 execution


@pytest.mark.parametrize("per_channel", [True, False])
def test_int8_mlp_reproduces_fake_quantization(student, data, per_channel):
    X, _ = data
    q = FakeQuantMLP(student, weight_bits=8, activation_bits=8, per_channel=per_channel).calibrate(X)
    int8 = Int8MLP(q)
    logits, codes = int8(X, return_codes=True)
    assert int8.weight_0.dtype == torch.int8 and int8.weight_0.abs().max() <= 127
    assert torch.equal(codes[0], quantize(X, q.input_qparams[0]))
    with torch.no_grad():
        w0 = fake_quantize(student[0].weight.detach(), q.weight_qparams(q.linears[0]))
        h = torch.relu(fake_quantize(X, q.input_qparams[0]) @ w0.T + student[0].bias)
        expected = q(X)
    ours = quantize(h, q.input_qparams[1])
    assert all(torch.equal(a, b) for a, b in zip(q.input_codes(X), (codes[0], ours)))
    assert (codes[1] - ours).abs().max() <= 1 and (codes[1] != ours).float().mean() < 0.01
    torch.testing.assert_close(logits, expected, rtol=0, atol=1e-3)


def test_int8_mlp_needs_8_bits_and_calibration(student, data):
    with pytest.raises(ValueError, match=r"needs weight_bits=8 and activation_bits in \(8,\)"):
        Int8MLP(FakeQuantMLP(student, weight_bits=4, activation_bits=8))
    with pytest.raises(ValueError, match="not calibrated"):
        Int8MLP(FakeQuantMLP(student, weight_bits=8, activation_bits=8))


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("engine, activation_bits", [
    (engine, bits) for engine, bits in [("qnnpack", 8), ("x86", 7), ("fbgemm", 7)]
    if engine in torch.backends.quantized.supported_engines  # the engines built into this torch
])
def test_torch_ao_int8_kernels_reproduce_fake_quantization(student, data, engine, activation_bits):
    X, _ = data
    q = FakeQuantMLP(student, weight_bits=8, activation_bits=activation_bits).calibrate(X)
    before = torch.backends.quantized.engine
    ao = torch_ao_int8_mlp(q, engine=engine)
    codes = ao.codes(X)
    assert torch.backends.quantized.engine == before, "the global engine must be restored"
    ours = q.input_codes(X)
    output_qparams = qparams_from_range(*q.output_range, 8)
    ours.append(quantize(q(X).detach(), output_qparams))
    assert torch.equal(codes[0], ours[0]), engine  # quantizing the input: exactly the same
    for theirs, mine in zip(codes[1:], ours[1:]):
        # the kernels requantize in their own float arithmetic: a value within a hair of a rounding
        # tie may land one code away (it does not on this machine); saturation would be far worse
        gap = (theirs - mine).abs()
        assert gap.max() <= 1 and (gap > 0).float().mean() <= 0.01, f"{engine}: codes differ by up to {gap.max()}"
    out = ao(X)
    assert out.shape == (40, 5) and out.dtype == torch.float32
    torch.testing.assert_close(out, dequantize(codes[2], output_qparams), rtol=0, atol=1e-6)


def test_cpu_int8_features_parses_cpuinfo():
    text = "processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512_vnni amx_int8\nbogomips\t: 4000\n"
    assert cpu_int8_features(text) == ["avx512_vnni", "amx_int8"]
    assert cpu_int8_features("flags : fpu avx2 avx_vnni") == ["avx_vnni"]
    assert cpu_int8_features("flags : fpu sse2 avx2") == []
    assert cpu_int8_features("Features : fp asimd") is None  # no x86 flags line: unknown, not "no"
    result = cpu_int8_features()  # this machine: a list, or None where /proc/cpuinfo is missing
    assert result is None or set(result) <= set(INT8_DOT_PRODUCT_FLAGS)
    with pytest.raises(TypeError, match="cpuinfo must be a string"):
        cpu_int8_features(b"flags : avx2")


def test_torch_ao_int8_mlp_checks(student, data):
    X, _ = data
    with pytest.raises(ValueError, match=r"activation_bits in \(7, 8\)"):
        torch_ao_int8_mlp(FakeQuantMLP(student, weight_bits=8, activation_bits=6).calibrate(X))
    with pytest.raises(ValueError, match=r"engine='tpu' is not one of"):
        torch_ao_int8_mlp(FakeQuantMLP(student, weight_bits=8, activation_bits=8).calibrate(X), engine="tpu")
