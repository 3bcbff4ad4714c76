"""distill_lib.quantization.quantizer against hand-computed values and PyTorch's own quantizers.

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

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from distill_lib.quantization import (
    MAX_BITS,
    FakeQuantizeSTE,
    QParams,
    choose_qparams,
    dequantize,
    fake_quantize,
    qparams_from_range,
    quantization_error,
    quantize,
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


def test_quantization_error_reports_clipping():
    x = torch.tensor([0.0, 0.5, 1.0, 4.0])
    report = quantization_error(x, qparams_from_range(0.0, 1.0, 8))
    assert report["clipped"] == 0.25 and report["max_abs"] == pytest.approx(3.0)


# ---------------------------------------------------------------- PyTorch, bit for bit


SHAPES_AXES = [((50,), [0]), ((7, 13), [0, 1]), ((4, 3, 5), [0, 1, 2]), ((2, 3, 4, 5), [1, 3])]


def schemes(bit_widths):
    """(bits, symmetric) pairs; symmetric needs bits >= 2 (test_symmetric_one_bit_is_refused)."""
    return [(bits, symmetric) for symmetric in (False, True) for bits in bit_widths if bits >= 1 + symmetric]


@pytest.mark.parametrize("bits, symmetric", schemes(range(1, MAX_BITS + 1)))
def test_fake_quantize_matches_torch_on_random_tensors(bits, symmetric):
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
@pytest.mark.parametrize("bits, symmetric", schemes([1, 2, 3, 8, 16]))
def test_fake_quantize_matches_torch_on_adversarial_tensors(name, bits, symmetric):
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


@pytest.mark.parametrize("axis", [1, -1, 2, -2])
def test_the_autograd_function_itself_matches_torch_on_any_axis(axis):
    # the shown core, FakeQuantizeSTE, called directly (no validation): a 3-d tensor, negative axes too
    x = rand(4, 6, 5, scale=2.0, seed=11)
    channels = x.shape[axis]
    qp = qparams_from_range(torch.linspace(-2, -0.5, channels), torch.linspace(0.5, 2, channels), 5, axis=axis)
    a = x.clone().requires_grad_()
    out = FakeQuantizeSTE.apply(a, qp)
    b = x.clone().requires_grad_()
    reference = torch.fake_quantize_per_channel_affine(b, qp.scale, qp.zero_point, axis % x.ndim, qp.quant_min,
                                                       qp.quant_max)
    assert_bitwise_equal(out, reference, f"forward, axis {axis}")
    out.sum().backward()
    reference.sum().backward()
    assert_bitwise_equal(a.grad, b.grad, f"gradient, axis {axis}")


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


# ---------------------------------------------------------------- bad input


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


def test_dequantize_refuses_floats_and_out_of_range_codes():
    qp = qparams_from_range(-1.0, 1.0, 4)
    with pytest.raises(TypeError, match="integer tensor of codes"):
        dequantize(torch.tensor([1.0]), qp)
    with pytest.raises(ValueError, match=r"codes in \[0, 16\], outside \[quant_min, quant_max\] = \[0, 15\]"):
        dequantize(torch.tensor([0, 16]), qp)
    with pytest.raises(ValueError, match="q is empty"):
        dequantize(torch.tensor([], dtype=torch.int32), qp)
