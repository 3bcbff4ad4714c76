"""distill_lib.quantization against hand-computed values and PyTorch's own quantizers.

The reference for the quantizer is ``torch.fake_quantize_per_tensor_affine`` and
``torch.fake_quantize_per_channel_affine`` on the CPU, compared *bit for bit* (the float32
results are compared as int32 bit patterns, so even -0.0 vs 0.0 would fail).

Where PyTorch's functions are defined: float32 input, a float32 scale, an int32 zero point
(per-channel insists on int32: int64 is refused), ``zero_point`` within
``[quant_min, quant_max]`` (both functions check it). Where they are not, we differ on
purpose and test our behaviour instead: NaN/inf (PyTorch returns a clamped number, we raise),
per-channel codes beyond 2**63 (PyTorch's per-channel kernel casts to int64 before clamping
and overflows; we clamp), float64 input (PyTorch's per-tensor kernel dequantizes in float32,
its per-channel kernel in float64; we accept float32 only).
"""

import io

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from distill_lib.models import mlp
from distill_lib.quantization import (
    MAX_BITS,
    FakeQuantMLP,
    Int8MLP,
    QParams,
    calibration_range,
    choose_qparams,
    dequantize,
    fake_quantize,
    median_latency,
    plot_weight_quantization,
    qparams_from_range,
    quant_range,
    quantization_aware_training,
    quantization_error,
    quantize,
    torch_ao_int8_mlp,
    weight_bytes,
    weight_quantization_view,
)


def bits_of(t):
    """float32 tensor -> its int32 bit patterns (exact comparison, sign of zero included)."""
    return t.contiguous().view(torch.int32)


def assert_bitwise_equal(ours, ref, case=""):
    assert ours.dtype == ref.dtype == torch.float32, case
    assert ours.shape == ref.shape, case
    differ = bits_of(ours) != bits_of(ref)
    if differ.any():
        i = differ.nonzero()[0].tolist()
        pytest.fail(f"{case}: {int(differ.sum())} element(s) differ, first at {i}: ours {ours[tuple(i)].item()!r}, "
                    f"torch {ref[tuple(i)].item()!r}")


def torch_reference(x, qp):
    if qp.axis is None:
        return torch.fake_quantize_per_tensor_affine(x, qp.scale.item(), int(qp.zero_point), qp.quant_min, qp.quant_max)
    return torch.fake_quantize_per_channel_affine(x, qp.scale, qp.zero_point, qp.axis, qp.quant_min, qp.quant_max)


def rand(*shape, scale=1.0, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g) * scale


# ---------------------------------------------------------------- hand-computed values


def test_quant_range_hand_values():
    assert quant_range(8) == (0, 255)
    assert quant_range(8, symmetric=True) == (-127, 127)
    assert quant_range(1) == (0, 1)
    assert quant_range(2, symmetric=True) == (-1, 1)
    assert quant_range(16) == (0, 65535)
    assert quant_range(16, symmetric=True) == (-32767, 32767)


def test_qparams_from_range_hand_values():
    # asymmetric: s = (3 - (-1)) / 255, z = 0 - round(-1 / s) = round(63.75) = 64
    qp = qparams_from_range(-1.0, 3.0, bits=8)
    assert qp.scale.dtype == torch.float32 and qp.zero_point.dtype == torch.int32
    assert qp.scale.item() == pytest.approx(4 / 255, rel=1e-7)
    assert int(qp.zero_point) == 64
    assert (qp.quant_min, qp.quant_max, qp.axis) == (0, 255, None)
    # symmetric: s = max(|-1|, 3) / 127, z = 0
    qp = qparams_from_range(-1.0, 3.0, bits=8, symmetric=True)
    assert qp.scale.item() == pytest.approx(3 / 127, rel=1e-7) and int(qp.zero_point) == 0
    # a range that excludes 0 is widened to contain it: [2, 5] -> [0, 5]
    qp = qparams_from_range(2.0, 5.0, bits=4)
    assert qp.scale.item() == pytest.approx(5 / 15, rel=1e-7) and int(qp.zero_point) == 0
    # [-5, -2] -> [-5, 0]: zero maps to the top code
    qp = qparams_from_range(-5.0, -2.0, bits=4)
    assert int(qp.zero_point) == 15


def test_all_zero_and_constant_ranges():
    qp = qparams_from_range(0.0, 0.0, bits=8)  # the scale floor keeps 1 / scale finite
    assert qp.scale.item() == torch.finfo(torch.float32).eps and int(qp.zero_point) == 0
    x = torch.full((3,), 2.5)
    qp = choose_qparams(x, bits=8)
    assert torch.equal(quantize(x, qp), torch.full((3,), 255, dtype=torch.int32))
    assert torch.equal(fake_quantize(x, qp), x)  # the range's end is exactly representable here


def test_quantize_and_dequantize_hand_values_with_ties():
    qp = QParams(torch.tensor(1.0), torch.tensor(0, dtype=torch.int32), -127, 127)
    x = torch.tensor([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 0.49, 200.0, -200.0])
    # round half to even: 0.5 -> 0, 1.5 -> 2, 2.5 -> 2 (Python's floor(x + 0.5) would give 1, 2, 3)
    assert quantize(x, qp).tolist() == [0, 2, 2, 0, -2, -2, 0, 127, -127]
    qp = qparams_from_range(-1.0, 3.0, bits=8)
    codes = quantize(torch.tensor([-1.0, 0.0, 3.0, 9.0, -9.0]), qp)
    assert codes.tolist() == [0, 64, 255, 255, 0]
    s = qp.scale.item()
    assert dequantize(codes, qp).tolist() == pytest.approx([-64 * s, 0.0, 191 * s, 191 * s, -64 * s], rel=1e-7)


def test_docstring_example_two_bits():
    qp = qparams_from_range(-1.0, 1.0, bits=2, symmetric=True)  # codes -1, 0, 1, scale 1
    assert fake_quantize(torch.tensor([-0.7, 0.2, 0.5, 1.5]), qp).tolist() == [-1.0, 0.0, 0.0, 1.0]


# ---------------------------------------------------------------- PyTorch, bit for bit

SHAPES_AXES = [((50,), [0]), ((7, 13), [0, 1]), ((4, 3, 5), [0, 1, 2]), ((2, 3, 4, 5), [1, 3])]


@pytest.mark.parametrize("bits", range(1, MAX_BITS + 1))
@pytest.mark.parametrize("symmetric", [False, True])
def test_fake_quantize_matches_torch_on_random_tensors(bits, symmetric):
    if symmetric and bits == 1:
        pytest.skip("symmetric needs bits >= 2")
    for seed, (shape, axes) in enumerate(SHAPES_AXES):
        for magnitude in (1e-3, 1.0, 1e4):
            x = rand(*shape, scale=magnitude, seed=seed + bits)
            qp = choose_qparams(x, bits, symmetric=symmetric)
            assert_bitwise_equal(fake_quantize(x, qp), torch_reference(x, qp), f"per-tensor {shape} x{magnitude}")
            # the tensor-qparams overload of the per-tensor function too
            ref = torch.fake_quantize_per_tensor_affine(x, qp.scale, qp.zero_point, qp.quant_min, qp.quant_max)
            assert_bitwise_equal(fake_quantize(x, qp), ref, f"per-tensor (tensor qparams) {shape}")
            for axis in axes:
                qp = choose_qparams(x, bits, symmetric=symmetric, axis=axis)
                assert_bitwise_equal(fake_quantize(x, qp), torch_reference(x, qp), f"per-channel {shape} axis {axis}")


@pytest.mark.parametrize("bits", [2, 4, 8])
def test_fake_quantize_matches_torch_with_a_fixed_grid_that_clips(bits):
    # a grid chosen for [-1, 1] applied to values up to +-5: most of them are clamped
    x = rand(40, 6, scale=2.0, seed=3)
    qp = qparams_from_range(-1.0, 1.0, bits)
    assert_bitwise_equal(fake_quantize(x, qp), torch_reference(x, qp), "clipping")
    lo, hi = torch.full((6,), -1.0), torch.linspace(0.1, 3.0, 6)
    qp = qparams_from_range(lo, hi, bits, axis=1)
    assert_bitwise_equal(fake_quantize(x, qp), torch_reference(x, qp), "clipping per-channel")


ADVERSARIAL = {
    "constant": torch.full((5, 4), 0.3),
    "negative constant": torch.full((5, 4), -7.25),
    "all zero": torch.zeros(5, 4),
    "negative zeros": -torch.zeros(5, 4),
    "single element": torch.tensor([[1.7]]),
    "huge range": torch.tensor([[-3.0e38, 3.0e38], [1.0, -1.0], [0.0, 1e30]]),
    "tiny values": torch.tensor([[1e-30, -1e-30], [3e-38, 0.0]]),
    "mixed magnitudes": torch.tensor([[1e-8, 1e8], [-5e-3, 2.0]]),
    "subnormals": torch.tensor([[1e-40, -1e-42], [0.0, 1e-45]]),
}


@pytest.mark.parametrize("name", list(ADVERSARIAL))
@pytest.mark.parametrize("bits", [1, 2, 3, 8, 16])
@pytest.mark.parametrize("symmetric", [False, True])
def test_fake_quantize_matches_torch_on_adversarial_tensors(name, bits, symmetric):
    if symmetric and bits == 1:
        pytest.skip("symmetric needs bits >= 2")
    x = ADVERSARIAL[name]
    for axis in (None, 0, 1):
        try:
            qp = choose_qparams(x, bits, symmetric=symmetric, axis=axis)
        except ValueError as err:
            # asymmetric grids of 1-3 bits over [-3e38, 3e38] (with 0 on the grid) reach beyond float32
            assert name == "huge range" and not symmetric and bits <= 3, f"unexpected error: {err}"
            assert "needs a grid beyond float32's largest value" in str(err)
            continue
        assert_bitwise_equal(fake_quantize(x, qp), torch_reference(x, qp), f"{name}, axis {axis}")


def test_exact_ties_round_half_to_even_like_torch():
    qp = qparams_from_range(-1.0, 1.0, 8)
    s = qp.scale
    x = (torch.arange(-600, 600, dtype=torch.float32) * 0.5) * s  # k/2 steps, many exact ties
    assert_bitwise_equal(fake_quantize(x, qp), torch_reference(x, qp), "ties")


def near_tie_inputs():
    """Inputs within one float32 step of a rounding tie, for 300 scales."""
    g = torch.Generator().manual_seed(0)
    scales = torch.rand(300, generator=g) * 0.1 + 1e-3
    k = torch.arange(-127, 127, dtype=torch.float32) + 0.5
    base = k[None, :] * scales[:, None]  # (300, 254)
    x = torch.stack([base, torch.nextafter(base, base + 1), torch.nextafter(base, base - 1)], dim=-1)
    return scales, x.reshape(300, -1)  # (300,), (300, 762)


def test_order_of_operations_multiply_by_inverse_scale():
    scales, x = near_tie_inputs()
    qp = QParams(scales, torch.zeros(300, dtype=torch.int32), -128, 127, axis=0)
    assert_bitwise_equal(fake_quantize(x, qp), torch_reference(x, qp), "near ties, per-channel")
    for i in range(0, 300, 37):
        qpi = QParams(scales[i], torch.tensor(0, dtype=torch.int32), -128, 127)
        assert_bitwise_equal(fake_quantize(x[i], qpi), torch_reference(x[i], qpi), f"near ties, scale {scales[i]}")
    # ... and the test can fail: dividing by the scale instead rounds some of these differently
    divided = (torch.round(x / scales[:, None]).clamp(-128, 127)) * scales[:, None]
    assert (bits_of(divided) != bits_of(torch_reference(x, qp))).any()


def test_huge_codes_per_channel_are_clamped_not_overflowed():
    # x / scale = 1e35 > 2**63: PyTorch's per-channel kernel casts to int64 before clamping (undefined
    # behaviour in C++; on x86 it returns quant_min). We clamp, like its per-tensor kernel does.
    x = torch.tensor([[1e30, -1e30, 1e10, -1e10]])
    qp = QParams(torch.full((4,), 1e-5), torch.zeros(4, dtype=torch.int32), -128, 127, axis=1)
    expected = torch.tensor([[127, -128, 127, -128]]) * torch.tensor(1e-5)
    assert_bitwise_equal(fake_quantize(x, qp), expected, "huge per-channel")
    qp_tensor = QParams(torch.tensor(1e-5), torch.tensor(0, dtype=torch.int32), -128, 127)
    assert_bitwise_equal(fake_quantize(x, qp_tensor), torch_reference(x, qp_tensor), "huge per-tensor")


def test_matches_torch_at_the_ends_of_the_bit_range():
    # 16-bit and 1-bit grids at the ends of what PyTorch accepts
    x = rand(9, 5, seed=1)
    for qmin, qmax, zp in [(0, 65535, 30000), (0, 1, 1), (-32767, 32767, 0)]:
        qp = QParams(torch.tensor(0.013), torch.tensor(zp, dtype=torch.int32), qmin, qmax)
        assert_bitwise_equal(fake_quantize(x, qp), torch_reference(x, qp), f"[{qmin}, {qmax}] z={zp}")


# ---------------------------------------------------------------- the straight-through gradient


@pytest.mark.parametrize("axis", [None, 0, 1])
def test_gradient_matches_torch(axis):
    x = rand(30, 8, scale=2.0, seed=5)
    qp = qparams_from_range(-1.5, 1.0, 4) if axis is None else qparams_from_range(
        torch.linspace(-2, -0.5, x.shape[axis]), torch.linspace(0.5, 2, x.shape[axis]), 4, axis=axis)
    upstream = rand(30, 8, seed=6)
    a = x.clone().requires_grad_()
    fake_quantize(a, qp).backward(upstream)
    b = x.clone().requires_grad_()
    torch_reference(b, qp).backward(upstream)
    assert_bitwise_equal(a.grad, b.grad, f"gradient, axis {axis}")
    assert 0 < (a.grad == 0).sum() < a.numel(), "the example must clip some values and keep others"


def test_gradient_hand_example_and_the_naive_version():
    qp = QParams(torch.tensor(0.5), torch.tensor(0, dtype=torch.int32), -2, 2)  # grid -1, -0.5, 0, 0.5, 1
    x = torch.tensor([-3.0, -1.2, -0.3, 0.0, 0.74, 1.25, 1.26], requires_grad=True)
    fake_quantize(x, qp).sum().backward()
    # unclamped codes: -6, -2, -1, 0, 1, 2 (1.25 / 0.5 = 2.5 rounds to 2), 3 -> inside for -2..2
    assert x.grad.tolist() == [0.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.0]
    naive = x.detach().clone().requires_grad_()
    (torch.round(naive / 0.5).clamp(-2, 2) * 0.5).sum().backward()
    assert naive.grad.abs().sum().item() == 0.0  # rounding has zero gradient: nothing would train


# ---------------------------------------------------------------- properties (hypothesis)

finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False, width=32)


@settings(max_examples=300, deadline=None)
@given(
    bits=st.integers(2, MAX_BITS),
    symmetric=st.booleans(),
    lo=finite,
    width=st.floats(min_value=2.0**-10, max_value=1e6, width=32),
    fractions=st.lists(st.floats(0.0, 1.0), min_size=1, max_size=30),
)
def test_rounding_error_is_at_most_half_a_step_inside_the_clipping_range(bits, symmetric, lo, width, fractions):
    qp = qparams_from_range(lo, lo + width, bits, symmetric=symmetric)
    s, z = float(qp.scale), int(qp.zero_point)
    low, high = (qp.quant_min - z) * s, (qp.quant_max - z) * s  # the clipping range
    x = torch.tensor([low + f * (high - low) for f in fractions], dtype=torch.float32)
    x = x.clamp(low, high)
    error = (fake_quantize(x, qp) - x).abs()
    # s / 2 exactly in real arithmetic; float32 adds a few units in the last place
    slack = 4 * torch.finfo(torch.float32).eps * torch.maximum(x.abs(), torch.tensor(s))
    assert (error <= s / 2 + slack).all(), f"error {error.max().item()} > scale/2 = {s / 2}"


@settings(max_examples=200, deadline=None)
@given(bits=st.integers(1, MAX_BITS), values=st.lists(finite, min_size=1, max_size=40))
def test_codes_stay_in_range_and_fake_quantize_is_idempotent(bits, values):
    x = torch.tensor(values, dtype=torch.float32)
    qp = choose_qparams(x, bits)
    q = quantize(x, qp)
    assert q.dtype == torch.int32 and q.min() >= qp.quant_min and q.max() <= qp.quant_max
    once = fake_quantize(x, qp)
    assert_bitwise_equal(fake_quantize(once, qp), once, "idempotent")
    assert_bitwise_equal(dequantize(q, qp), once, "dequantize(quantize(x)) == fake_quantize(x)")


# ---------------------------------------------------------------- calibration


def test_calibration_range_minmax_and_percentile():
    x = torch.cat([torch.linspace(0, 1, 9999), torch.tensor([100.0])])
    lo, hi = calibration_range(x)
    assert (lo.item(), hi.item()) == (0.0, 100.0)
    lo, hi = calibration_range(x, method="percentile", percentile=99.9)
    ref = torch.quantile(x.double(), torch.tensor([0.001, 0.999], dtype=torch.float64))
    assert lo.item() == pytest.approx(ref[0].item(), rel=1e-6) and hi.item() == pytest.approx(ref[1].item(), rel=1e-6)
    assert hi.item() < 1.0  # the outlier no longer stretches the grid


def test_calibration_range_per_channel():
    x = torch.tensor([[1.0, -2.0, 3.0], [0.5, 0.25, -4.0]])
    lo, hi = calibration_range(x, axis=0)
    assert lo.tolist() == [-2.0, -4.0] and hi.tolist() == [3.0, 0.5]
    lo, hi = calibration_range(x, axis=1)
    assert lo.tolist() == [0.5, -2.0, -4.0] and hi.tolist() == [1.0, 0.25, 3.0]
    qp = choose_qparams(x, 8, symmetric=True, axis=0)
    assert qp.scale.tolist() == pytest.approx([3 / 127, 4 / 127], rel=1e-7) and qp.axis == 0


def test_quantization_error_reports_clipping():
    x = torch.tensor([0.0, 0.5, 1.0, 4.0])
    report = quantization_error(x, qparams_from_range(0.0, 1.0, 8))
    assert report["clipped"] == 0.25 and report["max_abs"] == pytest.approx(3.0)


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize("bits, error, match", [
    (0, ValueError, r"bits=0 is out of range; allowed: \[1, 16\]"),
    (17, ValueError, r"bits=17 is out of range; allowed: \[1, 16\]"),
    (-3, ValueError, r"bits=-3"),
    (8.0, TypeError, r"bits must be an integer, got float \(8.0\)"),
    (4.5, TypeError, r"4.5"),
    (True, TypeError, r"bits must be an integer, got bool"),
    ("8", TypeError, r"got str"),
])
def test_bad_bits(bits, error, match):
    with pytest.raises(error, match=match):
        quant_range(bits)
    with pytest.raises(error, match=match):
        choose_qparams(torch.ones(3), bits)


def test_symmetric_one_bit_is_refused():
    with pytest.raises(ValueError, match=r"bits=1: symmetric quantization needs bits in \[2, 16\]"):
        quant_range(1, symmetric=True)
    with pytest.raises(ValueError, match=r"bits=1"):
        FakeQuantMLP(mlp([4, 3]), weight_bits=1)


@pytest.mark.parametrize("x, error, match", [
    (torch.empty(0), ValueError, r"x is empty \(shape \(0,\)\)"),
    (torch.empty(3, 0), ValueError, r"x is empty"),
    (torch.tensor([1.0, float("nan")]), ValueError, r"1 NaN or infinite"),
    (torch.tensor([float("inf"), 1.0, -float("inf")]), ValueError, r"2 NaN or infinite"),
    (torch.ones(3, dtype=torch.float64), TypeError, r"float32 tensor, got dtype=torch.float64"),
    (torch.ones(3, dtype=torch.int64), TypeError, r"float32 tensor, got dtype=torch.int64"),
    ([1.0, 2.0], TypeError, r"must be a torch.Tensor, got list"),
])
def test_bad_tensors(x, error, match):
    qp = qparams_from_range(-1.0, 1.0, 8)
    for fn in (lambda: quantize(x, qp), lambda: fake_quantize(x, qp), lambda: choose_qparams(x, 8)):
        with pytest.raises(error, match=match):
            fn()


def test_bad_ranges_and_qparams():
    with pytest.raises(ValueError, match=r"x_min=\[2.0\] must be <= x_max=\[1.0\]|x_min=2.0 must be <= x_max=1.0"):
        qparams_from_range(2.0, 1.0, 8)
    with pytest.raises(ValueError, match="must be finite"):
        qparams_from_range(float("nan"), 1.0, 8)
    with pytest.raises(ValueError, match="needs the channel axis"):
        qparams_from_range(torch.zeros(3), torch.ones(3), 8)
    with pytest.raises(ValueError, match="must match"):
        qparams_from_range(torch.zeros(3), torch.ones(4), 8, axis=0)
    x = torch.ones(4, 5)
    with pytest.raises(ValueError, match=r"4 channels along axis 0 but qparams hold 5 scales"):
        fake_quantize(x, choose_qparams(torch.ones(5, 4), 8, axis=0))
    bad_scale = QParams(torch.tensor(0.0), torch.tensor(0, dtype=torch.int32), 0, 255)
    with pytest.raises(ValueError, match=r"scale must be finite and > 0, got \[0.0\]"):
        fake_quantize(x, bad_scale)
    bad_zp = QParams(torch.tensor(1.0), torch.tensor(300, dtype=torch.int32), 0, 255)
    with pytest.raises(ValueError, match=r"zero_point \[300\] must lie in \[quant_min, quant_max\] = \[0, 255\]"):
        fake_quantize(x, bad_zp)
    with pytest.raises(TypeError, match="must be a QParams"):
        fake_quantize(x, (1.0, 0, 0, 255))
    with pytest.raises(ValueError, match=r"axis=2 is out of range; allowed: \[-2, 1\]"):
        choose_qparams(x, 8, axis=2)
    with pytest.raises(ValueError, match=r"method='mse' is not one of \('minmax', 'percentile'\)"):
        calibration_range(x, method="mse")
    with pytest.raises(ValueError, match=r"percentile=40.0 must be in the range \(50, 100\]"):
        calibration_range(x, method="percentile", percentile=40)


def test_dequantize_refuses_floats_and_out_of_range_codes():
    qp = qparams_from_range(-1.0, 1.0, 4)
    with pytest.raises(TypeError, match="integer tensor of codes"):
        dequantize(torch.tensor([1.0]), qp)
    with pytest.raises(ValueError, match=r"codes in \[0, 16\], outside \[quant_min, quant_max\] = \[0, 15\]"):
        dequantize(torch.tensor([0, 16]), qp)
    with pytest.raises(ValueError, match="q is empty"):
        dequantize(torch.tensor([], dtype=torch.int32), qp)


# ---------------------------------------------------------------- the quantized student


@pytest.fixture
def student():
    torch.manual_seed(0)
    return mlp([16, 12, 5])


@pytest.fixture
def data():
    g = torch.Generator().manual_seed(1)
    return torch.rand(40, 16, generator=g), torch.randint(0, 5, (40,), generator=g)


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


def test_activation_errors_shrink_with_more_bits(student, data):
    X, _ = data
    e8 = FakeQuantMLP(student, activation_bits=8).calibrate(X).activation_errors(X)
    e4 = FakeQuantMLP(student, activation_bits=4).calibrate(X).activation_errors(X)
    assert len(e8) == 2 and all(0 < a < b for a, b in zip(e8, e4))


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
@pytest.mark.parametrize("engine, activation_bits", [("qnnpack", 8), ("x86", 7), ("fbgemm", 7)])
def test_torch_ao_int8_kernels_reproduce_fake_quantization(student, data, engine, activation_bits):
    if engine not in torch.backends.quantized.supported_engines:
        pytest.skip(f"engine {engine} not built into this torch")
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


def test_torch_ao_int8_mlp_checks(student, data):
    X, _ = data
    with pytest.raises(ValueError, match=r"activation_bits in \(7, 8\)"):
        torch_ao_int8_mlp(FakeQuantMLP(student, weight_bits=8, activation_bits=6).calibrate(X))
    with pytest.raises(ValueError, match=r"engine='tpu' is not one of"):
        torch_ao_int8_mlp(FakeQuantMLP(student, weight_bits=8, activation_bits=8).calibrate(X), engine="tpu")


# ---------------------------------------------------------------- size, speed, widget


def test_weight_bytes_payload_is_numel_times_itemsize():
    w = torch.randn(128, 64)
    sizes32 = weight_bytes({"w": w})
    sizes8 = weight_bytes({"w": torch.zeros(128, 64, dtype=torch.int8)})
    assert sizes32["payload"] == 128 * 64 * 4 and sizes8["payload"] == 128 * 64
    assert sizes32["payload"] / sizes8["payload"] == 4.0
    assert sizes32["file"] > sizes32["payload"]  # the archive adds a pickle and headers
    buffer = io.BytesIO()
    torch.save({"w": w}, buffer)
    assert sizes32["file"] == buffer.getbuffer().nbytes
    two = weight_bytes({"a": w, "b": torch.zeros(10, dtype=torch.int32)})
    assert two["payload"] == 128 * 64 * 4 + 10 * 4
    with pytest.raises(TypeError, match="non-empty dict"):
        weight_bytes({"w": [1.0]})


def test_median_latency_shape_and_checks():
    result = median_latency({"a": lambda: None, "b": lambda: sum(range(10))}, repeats=2, number=3)
    assert set(result) == {"a", "b"} and result["a"]["ratio"] == 1.0
    assert all(v["seconds"] > 0 for v in result.values())
    with pytest.raises(ValueError, match="repeats=0"):
        median_latency({"a": lambda: None}, repeats=0)
    with pytest.raises(TypeError, match="non-empty dict"):
        median_latency({})


@pytest.mark.parametrize("bits", [2, 4, 8])
def test_widget_view_and_plot(bits):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    w = rand(32, 16, seed=bits)
    view = weight_quantization_view(w, bits)
    assert len(view["grid"]) == view["levels"] == 2 ** bits - 1
    steps = view["grid"].diff()
    torch.testing.assert_close(steps, torch.full_like(steps, view["scale"]), rtol=1e-5, atol=0)
    assert view["clipped"] == 0.0 and view["max_abs"] <= view["bound"] * (1 + 1e-5)
    fig, ax = plt.subplots()
    assert plot_weight_quantization(w, bits, ax=ax)["mse"] == view["mse"]
    plt.close(fig)
    per_channel = weight_quantization_view(w, bits, per_channel=True)
    assert per_channel["mse"] <= view["mse"]  # one grid per row fits at least as well
