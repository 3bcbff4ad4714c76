"""distill_lib.quantization.int8: the integer-only path (Jacob et al. 2018) and PyTorch's int8 kernels.

The fixed-point requantization is compared bit for bit with a pure-Python port of gemmlowp's
``SaturatingRoundingDoublingHighMul`` and ``RoundingDivideByPOT``; one layer and a two-layer
network are computed by hand; ``Int8MLP`` is compared with the float fake-quant model it was
built from (codes within one step, predictions agreeing).
"""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from distill_lib.quantization import (
    INT8_DOT_PRODUCT_FLAGS,
    FakeQuantMLP,
    Int8MLP,
    IntegerLinear,
    cpu_int8_features,
    dequantize,
    fold_linear,
    integer_forward,
    integer_linear,
    qparams_from_range,
    quantize,
    quantize_multiplier,
    requantize,
    torch_ao_int8_mlp,
)


# ---------------------------------------------------------------- gemmlowp, in Python integers


from quantization_helpers import data, student  # noqa: F401  (fixtures)


def srdhm(a: int, b: int) -> int:
    """gemmlowp's SaturatingRoundingDoublingHighMul on int32 values (Python ints, C semantics)."""
    if a == b == -(2**31):
        return 2**31 - 1
    ab = a * b
    nudge = (1 << 30) if ab >= 0 else 1 - (1 << 30)
    return int((ab + nudge) / (1 << 31)) if abs(ab + nudge) < 2**52 else _trunc_div(ab + nudge, 1 << 31)


def _trunc_div(x: int, d: int) -> int:
    q = abs(x) // d
    return q if x >= 0 else -q


def rdbpot(x: int, exponent: int) -> int:
    """gemmlowp's RoundingDivideByPOT: x / 2**exponent, rounded half away from zero."""
    mask = (1 << exponent) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (1 if x < 0 else 0)
    return (x >> exponent) + (1 if remainder > threshold else 0)


def reference_requantize(acc: int, M0: int, shift: int, zero_point: int, low: int) -> int:
    return min(127, max(low, rdbpot(_trunc_div(acc * M0 + ((1 << 30) if acc * M0 >= 0 else 1 - (1 << 30)), 1 << 31),
                                    shift) + zero_point))


# ---------------------------------------------------------------- the fixed-point multiplier


def test_quantize_multiplier_hand_values():
    M0, shift = quantize_multiplier(torch.tensor([0.75, 0.5, 0.25, 0.3], dtype=torch.float64))
    assert M0.tolist() == [3 * 2**29, 2**30, 2**30, round(0.6 * 2**31)]
    assert shift.tolist() == [0, 0, 1, 1]
    assert M0.dtype == shift.dtype == torch.int64


@settings(max_examples=200, deadline=None)
@given(st.floats(min_value=1e-9, max_value=0.999999))
def test_quantize_multiplier_represents_m(m):
    M0, shift = quantize_multiplier(torch.tensor([m], dtype=torch.float64))
    assert 2**30 <= M0.item() < 2**31 and shift.item() >= 0
    assert abs(M0.item() * 2.0 ** -(31 + shift.item()) / m - 1) <= 2**-31


def test_quantize_multiplier_carry_when_the_mantissa_rounds_up():
    m = 1 - 2**-40  # mantissa * 2**31 rounds to 2**31: M0 halves, the shift drops by one (to -1: M is 1.0)
    M0, shift = quantize_multiplier(torch.tensor([m, 0.5 - 2**-40], dtype=torch.float64))
    assert M0.tolist() == [2**30, 2**30] and shift.tolist() == [-1, 0]


# ---------------------------------------------------------------- requantize


def test_requantize_hand_values_and_ties():
    acc = torch.tensor([[15, -2, 6, -6, 1000]], dtype=torch.int32)
    M0, shift = quantize_multiplier(torch.tensor([0.25, 0.5, 0.25, 0.25, 0.25]))
    # 15/4 = 3.75 -> 4; -2/2 = -1; 6/4 = 1.5 -> 2 and -1.5 -> -2 (half away from zero); 250 -> clamped
    assert requantize(acc, M0, shift, 0, -128).tolist() == [[4, -1, 2, -2, 127]]
    # zero point -3 and ReLU (low = -3): -1 - 3 = -4 is clamped to -3, the code of 0.0
    assert requantize(acc, M0, shift, -3, -3).tolist() == [[1, -3, -1, -3, 127]]
    assert requantize(acc, M0, shift, 0, -128).dtype == torch.int8


@settings(max_examples=300, deadline=None)
@given(st.integers(-(2**31) + 1, 2**31 - 1), st.floats(min_value=1e-6, max_value=0.999),
       st.integers(-128, 127), st.booleans())
def test_requantize_is_gemmlowp_bit_for_bit(acc, m, zero_point, relu):
    M0, shift = quantize_multiplier(torch.tensor([m], dtype=torch.float64))
    low = zero_point if relu else -128
    ours = requantize(torch.tensor([[acc]], dtype=torch.int32), M0, shift, zero_point, low).item()
    assert ours == reference_requantize(acc, M0.item(), shift.item(), zero_point, low)


def test_requantize_is_round_acc_times_m_except_at_ties():
    g = torch.Generator().manual_seed(0)
    acc = torch.randint(-(2**20), 2**20, (1, 20000), generator=g, dtype=torch.int32)
    M = torch.rand(20000, generator=g, dtype=torch.float64) * 1e-4 + 1e-6
    M0, shift = quantize_multiplier(M)
    ours = requantize(acc, M0, shift, 0, -128).long()
    exact = torch.round(acc.double() * M0.double() * 2.0 ** -(31 + shift)).long()
    assert (ours - exact).abs().max() <= 1 and (ours != exact).sum() <= 5


# ---------------------------------------------------------------- one layer and a network by hand


def hand_layer():
    # input codes q_x, zero point z_x = 1; weight codes with zero points z_w = (0, 1); int32 bias q_b = (5, -2)
    weight = torch.tensor([[2, -3], [1, 1]], dtype=torch.int8)
    z_x, z_w, q_b = 1, torch.tensor([0, 1]), torch.tensor([5, -2])
    folded = q_b - z_x * weight.long().sum(dim=1) + 2 * z_x * z_w  # q_b - z_x sum_k q_w + K z_x z_w
    M0, shift = quantize_multiplier(torch.tensor([0.25, 0.5]))
    return IntegerLinear(weight, z_w.int(), folded.int(), M0, shift, -3, -3)


def test_integer_linear_by_hand():
    q_x = torch.tensor([[3, -1]], dtype=torch.int8)
    # row 0: (3-1)*2 + (-1-1)*(-3) + 5 = 15;  row 1: (3-1)*(1-1) + (-1-1)*(1-1) - 2 = -2
    acc = integer_linear(q_x, hand_layer())
    assert acc.tolist() == [[15, -2]] and acc.dtype == torch.int32


def test_integer_forward_by_hand():
    q_x = torch.tensor([[3, -1]], dtype=torch.int8)
    # layer 0 gives [15, -2] -> round(15/4) = 4, round(-2/2) = -1 -> + z = -3: [1, -4] -> ReLU clamp at -3: [1, -3]
    # layer 1: weight (1, 2), z_w = 0, q_b = 0, input zero point -3: (1+3)*1 + (-3+3)*2 = 4
    weight = torch.tensor([[1, 2]], dtype=torch.int8)
    folded = torch.tensor([0 - (-3) * 3], dtype=torch.int32)
    last = IntegerLinear(weight, torch.zeros(1, dtype=torch.int32), folded, torch.zeros(1, dtype=torch.int64),
                         torch.zeros(1, dtype=torch.int64), 0, -128)
    assert integer_forward(q_x, [hand_layer(), last]).tolist() == [[4]]


def test_fold_linear_by_hand():
    # K = 2 inputs, z_x = 1; weight codes with zero points z_w = (0, 1); scales s_x = 0.5, s_w = (0.25, 0.5), s_y = 2
    weight = torch.tensor([[3, -1], [2, 4]], dtype=torch.int8)
    z_w = torch.tensor([0, 1])
    s_w = torch.tensor([0.25, 0.5], dtype=torch.float64)
    bias = torch.tensor([0.625, -0.5], dtype=torch.float64)  # / (s_x s_w) = (5, -2)
    folded, M = fold_linear(weight, z_w, bias, 0.5, 1, s_w, 2.0)
    assert folded.tolist() == [5 - 1 * 2 + 0, -2 - 1 * 6 + 2 * 1 * 1]  # q_b - z_x sum_k q_w + K z_x z_w
    assert M.tolist() == [0.0625, 0.125]  # s_x s_w / s_y
    assert fold_linear(weight, z_w, bias, 0.5, 1, s_w, None)[1] is None  # the last layer: no output grid


def test_integer_layers_run_fold_linear(student, data):
    X, _ = data
    q = FakeQuantMLP(student, weight_bits=8, activation_bits=8).calibrate(X)
    int8 = Int8MLP(q)
    layer, wq = q.linears[0], q.weight_qparams(q.linears[0])
    s_x, z_x = q.input_qparams[0].scale.double(), int(q.input_qparams[0].zero_point) - 128  # int8 codes
    folded, M = fold_linear(quantize(layer.weight.detach(), wq).to(torch.int8), wq.zero_point.long(),
                            layer.bias.detach().double(), s_x, z_x, wq.scale.double(), q.input_qparams[1].scale.double())
    assert torch.equal(folded.to(torch.int32), int8.bias_0)
    assert torch.equal(quantize_multiplier(M)[0], int8.multiplier_0)


# ---------------------------------------------------------------- Int8MLP against the fake-quant model


@pytest.mark.parametrize("per_channel", [True, False])
def test_int8_mlp_reproduces_fake_quantization(student, data, per_channel):
    X, _ = data
    q = FakeQuantMLP(student, weight_bits=8, activation_bits=8, per_channel=per_channel).calibrate(X)
    int8 = Int8MLP(q)
    assert int8.weight_0.dtype == torch.int8 and int8.weight_0.abs().max() <= 127
    assert int8.bias_0.dtype == torch.int32 and int8.multiplier_0.min() >= 2**30 and int8.multiplier_0.max() < 2**31
    ours, fake = int8.input_codes(X), q.input_codes(X)
    assert torch.equal(ours[0], fake[0]), "quantizing the input: exactly the same codes"
    gap = (ours[1] - fake[1]).abs()
    assert gap.max() <= 1 and (gap > 0).float().mean() < 0.01
    with torch.no_grad():
        expected = q(X)
    logits = int8(X)
    assert (logits.argmax(1) == expected.argmax(1)).float().mean() >= 0.95
    torch.testing.assert_close(logits, expected, rtol=0, atol=0.05)


def test_int8_mlp_is_integer_only_between_input_and_logits(student, data):
    X, _ = data
    int8 = Int8MLP(FakeQuantMLP(student, weight_bits=8, activation_bits=8).calibrate(X))
    seen = []
    originals = (integer_linear, requantize)
    import distill_lib.quantization.int8 as module

    def spy_linear(q_x, layer):
        seen.append(q_x.dtype)
        out = originals[0](q_x, layer)
        seen.append(out.dtype)
        return out

    module.integer_linear = spy_linear
    try:
        acc = module.integer_forward(int8.quantize_input(X), int8.layers)
    finally:
        module.integer_linear = originals[0]
    assert seen == [torch.int8, torch.int32, torch.int8, torch.int32]
    assert torch.equal(acc.to(torch.float32) * int8.logit_scale, int8(X))


def test_int8_mlp_relu_is_a_clamp_at_the_zero_point(student, data):
    X, _ = data
    q = FakeQuantMLP(student, weight_bits=8, activation_bits=8).calibrate(X)
    int8 = Int8MLP(q)
    z = int(q.input_qparams[1].zero_point) - 128
    assert int8.layers[0].output_zero_point == z and int8.layers[0].output_min == z
    assert int(int8.input_codes(X)[1].min()) >= z + 128


def test_int8_mlp_checks(student, data):
    X, _ = data
    with pytest.raises(ValueError, match=r"needs weight_bits=8 and activation_bits in \(8,\)"):
        Int8MLP(FakeQuantMLP(student, weight_bits=4, activation_bits=8))
    with pytest.raises(ValueError, match="not calibrated"):
        Int8MLP(FakeQuantMLP(student, weight_bits=8, activation_bits=8))
    with pytest.raises(TypeError, match="qmodel must be a FakeQuantMLP"):
        Int8MLP(student)
    q = FakeQuantMLP(student, weight_bits=8, activation_bits=8).calibrate(X)
    q.input_qparams[1] = qparams_from_range(0.0, 1e-6, 8)  # a tiny output grid: M = s_x s_w / s_y >> 1
    with pytest.raises(ValueError, match=r"layer 0: the multiplier M = s_x \* s_w / s_y must lie in \(0, 1\)"):
        Int8MLP(q)
    int8 = Int8MLP(FakeQuantMLP(student, weight_bits=8, activation_bits=8).calibrate(X))
    with pytest.raises(ValueError, match="x contains 1 NaN"):
        int8(torch.cat([X[:1, :15], torch.tensor([[math.nan]])], dim=1))


# ---------------------------------------------------------------- PyTorch's own int8 kernels


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
    assert torch.equal(codes[0], ours[0]), engine
    for theirs, mine in zip(codes[1:], ours[1:]):
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
    result = cpu_int8_features()
    assert result is None or set(result) <= set(INT8_DOT_PRODUCT_FLAGS)
    with pytest.raises(TypeError, match="cpuinfo must be a string"):
        cpu_int8_features(b"flags : avx2")


def test_torch_ao_int8_mlp_checks(student, data):
    X, _ = data
    with pytest.raises(ValueError, match=r"activation_bits in \(7, 8\)"):
        torch_ao_int8_mlp(FakeQuantMLP(student, weight_bits=8, activation_bits=6).calibrate(X))
    with pytest.raises(ValueError, match=r"engine='tpu' is not one of"):
        torch_ao_int8_mlp(FakeQuantMLP(student, weight_bits=8, activation_bits=8).calibrate(X), engine="tpu")
