"""distill_lib.temperature against hand-computed values, torch built-ins and Hinton et al. (2015)."""

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from distill_lib.losses import kd_kl_loss, softmax_with_temperature
from distill_lib.temperature import (
    entropy,
    high_temperature_gap,
    kd_gradient,
    logit_matching_limit,
    mean_soft_targets,
    softmax_entropy,
    temperature_view,
    top_wrong_classes,
)


def rand_logits(n=6, c=10, scale=3.0, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(n, c, generator=g, dtype=torch.float64) * scale).to(dtype)


# ---------------------------------------------------------------- entropy


def test_entropy_hand_values():
    assert entropy(torch.tensor([0.25, 0.25, 0.25, 0.25]), unit="bits").item() == pytest.approx(2.0)
    assert entropy(torch.tensor([0.25, 0.25, 0.25, 0.25])).item() == pytest.approx(math.log(4))
    assert entropy(torch.tensor([0.5, 0.25, 0.25]), unit="bits").item() == pytest.approx(1.5)
    assert entropy(torch.tensor([[0.0, 1.0, 0.0]])).tolist() == [0.0]  # 0 log 0 = 0, not nan


def test_entropy_against_torch_distributions():
    p = torch.softmax(rand_logits(seed=1), dim=1)  # (6, 10)
    torch.testing.assert_close(entropy(p), torch.distributions.Categorical(probs=p).entropy())
    torch.testing.assert_close(entropy(p, unit="bits"), torch.distributions.Categorical(probs=p).entropy() / math.log(2))


@pytest.mark.parametrize("T", [0.05, 0.5, 1.0, 4.0, 100.0])
def test_softmax_entropy_against_torch(T):
    v = rand_logits(seed=2)
    expected = torch.distributions.Categorical(logits=v / T).entropy()
    torch.testing.assert_close(softmax_entropy(v, T), expected)
    torch.testing.assert_close(softmax_entropy(v, T), entropy(softmax_with_temperature(v, T)))
    torch.testing.assert_close(softmax_entropy(v, T, unit="bits"), expected / math.log(2))


def test_softmax_entropy_extremes_stay_finite():
    v = torch.tensor([[1e4, -1e4, 0.0], [5.0, 5.0, -1e4]])
    h = softmax_entropy(v, 0.01, unit="bits")
    assert torch.isfinite(h).all()
    torch.testing.assert_close(h, torch.tensor([0.0, 1.0]))  # one-hot; a two-way tie
    torch.testing.assert_close(softmax_entropy(torch.zeros(2, 10), 3.0), torch.full((2,), math.log(10)))


logit_rows = st.lists(st.floats(-30, 30, allow_nan=False), min_size=2, max_size=10)


@settings(max_examples=80, deadline=None)
@given(row=logit_rows, T1=st.floats(0.05, 200), factor=st.floats(1.0, 50))
def test_entropy_never_decreases_with_temperature(row, T1, factor):
    """dH/dT = Var_p(v) / T^3 >= 0, and 0 <= H <= log C."""
    v = torch.tensor(row, dtype=torch.float64)
    h1, h2 = softmax_entropy(v, T1).item(), softmax_entropy(v, T1 * factor).item()
    assert h2 >= h1 - 1e-9
    assert -1e-12 <= h1 <= math.log(len(row)) + 1e-12


def test_entropy_bad_input():
    with pytest.raises(ValueError, match=r"-0\.1 < 0"):
        entropy(torch.tensor([1.1, -0.1]))
    with pytest.raises(ValueError, match=r"off by 0\.5.*Did you pass logits"):
        entropy(torch.tensor([[0.5, 1.0]]))
    with pytest.raises(ValueError, match=r"unit='bans' must be 'nats'.*or 'bits'"):
        entropy(torch.tensor([0.5, 0.5]), unit="bans")
    with pytest.raises(ValueError, match=r"unit='log2'"):
        softmax_entropy(torch.zeros(1, 2), 1.0, unit="log2")
    with pytest.raises(TypeError, match="floating-point"):
        entropy(torch.tensor([1, 0]))
    with pytest.raises(ValueError, match="0-d tensor"):
        entropy(torch.tensor(1.0))
    with pytest.raises(ValueError, match=r"temperature=0\.0 must be a finite number > 0"):
        softmax_entropy(torch.zeros(1, 2), 0.0)
    with pytest.raises(ValueError, match="NaN or infinite"):
        softmax_entropy(torch.tensor([[float("nan"), 0.0]]), 1.0)


# ---------------------------------------------------------------- dark knowledge


def test_mean_soft_targets_hand_value():
    v = torch.tensor([[0.0, 0.0], [math.log(3.0), 0.0], [0.0, 0.0]])
    y = torch.tensor([0, 0, 1])
    # class 0: mean of [.5, .5] and [.75, .25]; class 1: [.5, .5]
    torch.testing.assert_close(mean_soft_targets(v, y, 1.0), torch.tensor([[0.625, 0.375], [0.5, 0.5]]))


@pytest.mark.parametrize("T", [0.5, 1.0, 4.0])
def test_mean_soft_targets_against_a_loop(T):
    v, y = rand_logits(n=40, seed=3), torch.arange(40) % 10
    p = torch.softmax(v / T, dim=1)
    expected = torch.stack([p[y == i].mean(0) for i in range(10)])
    got = mean_soft_targets(v, y, T)
    torch.testing.assert_close(got, expected)
    torch.testing.assert_close(got.sum(1), torch.ones(10, dtype=torch.float64))


def test_mean_soft_targets_bad_input():
    v = rand_logits(n=4, c=3)
    with pytest.raises(ValueError, match=r"no example of class\(es\) \[2\]"):
        mean_soft_targets(v, torch.tensor([0, 1, 0, 1]), 1.0)
    with pytest.raises(ValueError, match=r"class index 3; allowed range is \[0, 2\]"):
        mean_soft_targets(v, torch.tensor([0, 1, 2, 3]), 1.0)
    with pytest.raises(ValueError, match=r"temperature=-1\.0"):
        mean_soft_targets(v, torch.tensor([0, 1, 2, 2]), -1.0)


def test_top_wrong_classes():
    M = torch.tensor([[0.7, 0.1, 0.2], [0.05, 0.9, 0.05], [0.3, 0.3, 0.4]])
    got = top_wrong_classes(M, k=3)
    assert [(i, c) for i, c, _ in got] == [(2, 0), (2, 1), (0, 2)]  # tie (2,0)/(2,1): lower index first
    assert [m for _, _, m in got] == pytest.approx([0.3, 0.3, 0.2])
    assert len(top_wrong_classes(M, k=6)) == 6
    with pytest.raises(ValueError, match=r"k=7 is out of range; allowed: \[1, 6\]"):
        top_wrong_classes(M, k=7)
    with pytest.raises(ValueError, match=r"k=0"):
        top_wrong_classes(M, k=0)
    with pytest.raises(ValueError, match=r"square.*\(2, 3\)"):
        top_wrong_classes(M[:2], k=1)


# ---------------------------------------------------------------- the high-temperature limit


@pytest.mark.parametrize("T", [0.1, 1.0, 3.0, 50.0, 1000.0])
def test_kd_gradient_is_T_times_q_minus_p(T):
    z, v = rand_logits(seed=4), rand_logits(seed=5)
    q, p = torch.softmax(z / T, 1), torch.softmax(v / T, 1)
    got = kd_gradient(z, v, T)
    assert got.dtype == torch.float64
    torch.testing.assert_close(got, T * (q - p), rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(got.sum(1), torch.zeros(6, dtype=torch.float64), rtol=0, atol=1e-12)
    # and B times the gradient of kd_kl_loss itself (batchmean divides by B)
    z_req = z.clone().requires_grad_(True)
    kd_kl_loss(z_req, v, T).backward()
    torch.testing.assert_close(got, z_req.grad * len(z))


def test_kd_gradient_accepts_float32_and_leaves_inputs_alone():
    z = rand_logits(seed=6, dtype=torch.float32).requires_grad_(True)
    v = rand_logits(seed=7, dtype=torch.float32)
    got = kd_gradient(z, v, 2.0)
    assert z.grad is None and got.shape == (6, 10)


def test_logit_matching_limit_hand_value_and_zero_mean_form():
    torch.testing.assert_close(
        logit_matching_limit(torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 0.0]])),
        torch.tensor([[0.25, -0.25]], dtype=torch.float64),
    )
    z = rand_logits(seed=8)
    v = rand_logits(seed=9)
    z, v = z - z.mean(1, keepdim=True), v - v.mean(1, keepdim=True)
    torch.testing.assert_close(logit_matching_limit(z, v), (z - v) / 10)  # Hinton et al. eq. 4 (N = C classes)


def test_high_temperature_gap_hand_value():
    # Two classes, z = [1, 0], v = [0, 0]: T (q - p) = T (sigmoid(1/T) - 1/2) * [1, -1]; limit [1/4, -1/4]
    for T in (1.0, 10.0, 100.0):
        exact = T * (1 / (1 + math.exp(-1 / T)) - 0.5)
        expected = abs(exact - 0.25) / 0.25
        got = high_temperature_gap(torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 0.0]]), T)
        assert got == pytest.approx(expected, rel=1e-6, abs=1e-12)


def test_high_temperature_gap_falls_like_one_over_T():
    z, v = rand_logits(n=50, scale=1.0, seed=10), rand_logits(n=50, scale=1.0, seed=11)
    gaps = [high_temperature_gap(z, v, T) for T in (10.0, 100.0, 1000.0, 10000.0)]
    assert all(b < a for a, b in zip(gaps, gaps[1:]))
    assert gaps[1] < 1e-2  # unit-scale logits: T = 100 is "high"
    assert gaps[3] * 1e4 == pytest.approx(gaps[2] * 1e3, rel=0.02)  # gap * T -> constant
    # scaling the logits by s is the same as dividing T by s
    assert high_temperature_gap(8 * z, 8 * v, 800.0) == pytest.approx(gaps[1], rel=1e-9)


def test_high_temperature_gap_bad_input():
    z = rand_logits(seed=12)
    with pytest.raises(ValueError, match="up to a per-row shift"):
        high_temperature_gap(z, z + 3.0, 10.0)
    with pytest.raises(ValueError, match=r"temperature=inf"):
        high_temperature_gap(z, rand_logits(seed=13), float("inf"))
    with pytest.raises(ValueError, match="no broadcasting"):
        kd_gradient(z, z[:2], 1.0)
    with pytest.raises(TypeError, match="temperature must be a real number"):
        kd_gradient(z, z, "4")


# ---------------------------------------------------------------- the widget's data


def test_temperature_view_hand_value():
    view = temperature_view(torch.tensor([[2.0, 0.0], [0.0, 0.0]]), 0, temperature=1.0)
    p0 = 1 / (1 + math.exp(-2))
    assert view.probabilities == pytest.approx([p0, 1 - p0])
    assert view.entropy_bits == pytest.approx(-(p0 * math.log2(p0) + (1 - p0) * math.log2(1 - p0)))
    assert view.max_entropy_bits == 1.0 and view.predicted == 0
    assert all(isinstance(x, float) for x in view.probabilities)


@pytest.mark.parametrize("T", [0.1, 1.0, 4.0, 100.0])
def test_temperature_view_matches_the_library(T):
    v = rand_logits(n=5, scale=10.0, seed=14, dtype=torch.float32)
    for index in range(5):
        view = temperature_view(v, index, T)
        torch.testing.assert_close(torch.tensor(view.probabilities, dtype=torch.float32),
                                   softmax_with_temperature(v[index], T), rtol=1e-5, atol=1e-6)
        assert view.entropy_bits == pytest.approx(softmax_entropy(v[index].double(), T, unit="bits").item(), abs=1e-9)
        assert view.predicted == int(v[index].argmax())


def test_temperature_view_bad_input():
    v = rand_logits(n=5)
    with pytest.raises(ValueError, match=r"index=5 is out of range; allowed: \[0, 4\]"):
        temperature_view(v, 5, 1.0)
    with pytest.raises(TypeError, match="index must be an integer"):
        temperature_view(v, 1.0, 1.0)
    with pytest.raises(ValueError, match=r"temperature=0\.0"):
        temperature_view(v, 0, 0.0)
    with pytest.raises(ValueError, match=r"2 dimensions"):
        temperature_view(v[0], 0, 1.0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_high_temperature_gap_refuses_shifted_copies_in_any_dtype(dtype):
    """Logits equal up to a per-row shift have a zero limit: the gap is undefined, in float32 too."""
    x = torch.randn(4, 10, generator=torch.Generator().manual_seed(0), dtype=torch.float64).to(dtype) * 5
    with pytest.raises(ValueError, match="up to a per-row shift"):
        high_temperature_gap(x, x + 3, temperature=10.0)


def test_naive_versions_fail_where_the_robust_core_does_not():
    from distill_lib.temperature import entropy_of_logits, naive_entropy, naive_softmax

    logits = torch.tensor([[100.0, 0.0, -5.0], [1.0, 2.0, 3.0]])
    torch.testing.assert_close(naive_softmax(logits[1:], 2.0), softmax_with_temperature(logits[1:], 2.0))
    assert torch.isnan(naive_softmax(logits, 0.5)[0]).any()  # exp(200) overflows: inf / inf
    assert torch.isnan(naive_softmax(logits - 200.0, 1.0)[1]).all()  # exp(-197) underflows: 0 / 0
    p = softmax_with_temperature(logits, 0.1)  # row 0 underflows to exact zeros
    assert torch.isnan(naive_entropy(p)[0]) and not torch.isnan(naive_entropy(p)[1])
    robust = entropy_of_logits(logits, 0.1)
    assert torch.isfinite(robust).all() and robust[0].item() == pytest.approx(0.0, abs=1e-30)
    torch.testing.assert_close(robust, softmax_entropy(logits, 0.1))
    torch.testing.assert_close(naive_entropy(softmax_with_temperature(logits, 3.0)), entropy_of_logits(logits, 3.0))


def test_temperature_slider_keeps_round_values():
    from distill_lib.temperature import SLIDER_TEMPERATURES, temperature_slider

    slider = temperature_slider(4.0)
    assert slider.value == 4.0 and isinstance(slider.value, float)
    assert 0.1 in SLIDER_TEMPERATURES and 100.0 in SLIDER_TEMPERATURES
    for T in SLIDER_TEMPERATURES:
        slider.value = T
        assert slider.value == T
    with pytest.raises(ValueError, match=r"temperature=3.98 is not one of the slider's stops"):
        temperature_slider(3.98)
    with pytest.raises(ValueError, match="temperature=0.0 must be a finite number > 0"):
        temperature_slider(0.0)


def test_temperature_figure_draws_what_temperature_view_says():
    import io

    import PIL.Image

    from distill_lib.temperature import TemperatureFigure

    g = torch.Generator().manual_seed(0)
    images, targets, logits = torch.rand(5, 64, generator=g), torch.tensor([0, 1, 2, 3, 4]), torch.randn(5, 10, generator=g)
    picture = TemperatureFigure(images, targets, logits)
    png = picture.draw(2, 4.0)
    assert PIL.Image.open(io.BytesIO(png)).size == (540, 201)  # 7.5 x 2.8 inches at 72 dpi
    assert picture.last_view == temperature_view(logits, 2, 4.0)
    assert [b.get_height() for b in picture.bars] == pytest.approx(picture.last_view.probabilities)
    assert picture.bars[2].get_facecolor() != picture.bars[0].get_facecolor()  # the true class in red
    assert picture.draw(2, 4.0) == png  # same inputs, same picture
    with pytest.raises(ValueError, match=r"index=5 is out of range; allowed: \[0, 4\]"):
        picture.draw(5, 4.0)
    with pytest.raises(ValueError, match="temperature=-1.0 must be a finite number > 0"):
        picture.draw(0, -1.0)
    with pytest.raises(ValueError, match=r"images must be \(5, 64\)"):
        TemperatureFigure(images[:4], targets, logits)
    with pytest.raises(ValueError, match=r"targets contain class index 12"):
        TemperatureFigure(images, torch.tensor([0, 1, 2, 3, 12]), logits)


def test_check_parameters_names_the_bad_parameter():
    from distill_lib.temperature import check_parameters

    good = dict(seed=0, sample_index=0, temperature=4.0, n_temperatures=41, student_epochs=300, num_images=359)
    check_parameters(**good)
    check_parameters(**{**good, "sample_index": 358, "temperature": 0.1})
    for name, bad, error, match in [
        ("temperature", 3.9, ValueError, r"temperature=3.9 is not one of the slider's stops"),
        ("temperature", 0.0, ValueError, r"temperature=0.0 must be a finite number > 0"),
        ("temperature", "4", TypeError, r"temperature"),
        ("sample_index", 359, ValueError, r"sample_index=359 is out of range; allowed: \[0, 358\]"),
        ("seed", -1, ValueError, r"seed=-1 is out of range"),
        ("n_temperatures", 1, ValueError, r"n_temperatures=1 is out of range; allowed: \[2, inf\]"),
        ("student_epochs", 0, ValueError, r"student_epochs=0 is out of range"),
        ("student_epochs", 2.5, TypeError, r"student_epochs must be an integer"),
    ]:
        with pytest.raises(error, match=match):
            check_parameters(**{**good, name: bad})
