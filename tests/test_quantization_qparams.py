"""distill_lib.quantization.qparams: the codes, the calibrated range, the scale and zero point, by hand."""

import pytest
import torch

from distill_lib.models import mlp
from distill_lib.quantization import (
    FakeQuantMLP,
    QParams,
    calibration_range,
    choose_qparams,
    fake_quantize,
    qparams_from_range,
    quant_range,
    quantize,
)


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


def test_axis_of_a_0d_tensor_is_refused_with_a_clear_message():
    x = torch.tensor(2.5)  # 0-d: there is no channel axis
    with pytest.raises(ValueError, match=r"axis=0 given but x is 0-d \(a single number\).*use axis=None"):
        calibration_range(x, axis=0)
    with pytest.raises(ValueError, match=r"axis=-1 given but x is 0-d"):
        choose_qparams(x, 8, axis=-1)
    with pytest.raises(TypeError, match=r"axis must be an integer, got float"):
        calibration_range(x, axis=0.0)
    lo, hi = calibration_range(x)  # per-tensor is fine
    assert (lo.item(), hi.item()) == (2.5, 2.5)
