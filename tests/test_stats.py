"""distill_lib.stats: intervals against scipy and hand values, the bootstrap against McNemar and a known truth."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as scipy_stats

from distill_lib.stats import Difference, Interval, Runs, compare, holm, mcnemar, over_seeds, paired_t, table


def test_over_seeds_matches_a_hand_computed_t_interval():
    # values 1, 2, 3: mean 2, sample std 1, sem 1/sqrt(3), t(0.975, 2) = 4.302652729911275
    iv = over_seeds([1.0, 2.0, 3.0])
    half = 4.302652729911275 / math.sqrt(3)
    assert iv.mean == pytest.approx(2.0)
    assert (iv.low, iv.high) == pytest.approx((2 - half, 2 + half), rel=1e-9)
    assert iv.n == 3


def test_over_seeds_equals_scipy_t_interval():
    x = np.array([97.2, 98.1, 97.5, 96.9, 98.4])
    low, high = scipy_stats.t.interval(0.95, len(x) - 1, loc=x.mean(), scale=scipy_stats.sem(x))
    iv = over_seeds(x)
    assert (iv.low, iv.high) == pytest.approx((low, high), rel=1e-12)


def test_constant_values_give_a_zero_width_interval():
    iv = over_seeds([97.0, 97.0, 97.0])
    assert (iv.low, iv.mean, iv.high) == (97.0, 97.0, 97.0)


@pytest.mark.parametrize(
    "values, error, match",
    [([1.0], ValueError, "at least 2"), ([1.0, math.nan], ValueError, "NaN"), ([[1.0, 2.0]], ValueError, "1-d"),
     (["a", "b"], TypeError, "sequence of numbers")],
)
def test_over_seeds_rejects_bad_values(values, error, match):
    with pytest.raises(error, match=match):
        over_seeds(values)


def test_paired_t_matches_scipy_ttest_rel():
    a = [98.0, 97.5, 98.2, 97.9]
    b = [96.0, 96.5, 96.1, 96.8]
    d = paired_t(a, b)
    assert d.p_value == pytest.approx(scipy_stats.ttest_rel(a, b).pvalue, rel=1e-12)
    assert d.mean == pytest.approx(np.mean(np.subtract(a, b)))
    assert d.low < d.mean < d.high
    assert d.beyond_noise


def test_paired_t_zero_spread_and_length_mismatch():
    assert paired_t([1.0, 1.0], [1.0, 1.0]).beyond_noise is False
    assert paired_t([2.0, 2.0], [1.0, 1.0]).beyond_noise is True
    with pytest.raises(ValueError, match="one pair per seed"):
        paired_t([1.0, 2.0, 3.0], [1.0, 2.0])


def runs(correct, seeds=None):
    correct = np.asarray(correct, dtype=bool)
    return Runs(correct, tuple(range(len(correct))) if seeds is None else seeds)


def test_runs_accuracy_in_percent():
    r = runs([[1, 1, 0, 0], [1, 1, 1, 0]])
    np.testing.assert_allclose(r.per_seed, [50.0, 75.0])
    assert r.mean == pytest.approx(62.5)


def test_runs_from_predictions():
    y = torch.tensor([0, 1, 2, 3])
    r = Runs.from_predictions([torch.tensor([0, 1, 2, 0]), torch.tensor([0, 0, 0, 3])], y, (5, 6))
    np.testing.assert_array_equal(r.correct, [[1, 1, 1, 0], [1, 0, 0, 1]])
    assert r.seeds == (5, 6)


@pytest.mark.parametrize(
    "correct, seeds, error",
    [(np.ones((2, 3)), (0, 1), TypeError), (np.ones((2, 3), bool), (0,), ValueError),
     (np.ones((1, 0), bool), (0,), ValueError)],
)
def test_runs_rejects_bad_shapes(correct, seeds, error):
    with pytest.raises(error, match="correct"):
        Runs(correct, seeds)


def test_compare_finds_a_real_difference_and_no_difference_for_equal_arms():
    rng = np.random.default_rng(0)
    base = rng.random((5, 359)) < 0.95
    better = base | (rng.random((5, 359)) < 0.6)  # about 3 points better, on every seed
    d = compare(runs(better), runs(base))
    assert d.mean == pytest.approx(100 * (better.mean() - base.mean()))
    assert d.low > 0 and d.beyond_noise
    same = compare(runs(base), runs(base))
    assert (same.mean, same.p_value, same.beyond_noise) == (0.0, 1.0, False)


def test_compare_counts_the_images_noise():
    # Five identical seeds: the seeds have no spread, so a paired t over seeds calls a
    # difference of 2 images in 359 certain; the bootstrap over images does not.
    a = np.ones((5, 359), bool)
    b = a.copy()
    b[:, :2] = False
    assert paired_t(runs(a).per_seed, runs(b).per_seed).beyond_noise
    d = compare(runs(a), runs(b))
    assert not d.beyond_noise
    assert mcnemar(a[0], b[0]) == pytest.approx(0.5)  # 2 discordant images: p = 2 * 0.5**2


def test_compare_is_repeatable_and_checks_pairing():
    rng = np.random.default_rng(1)
    a, b = runs(rng.random((3, 50)) < 0.8), runs(rng.random((3, 50)) < 0.7)
    assert compare(a, b) == compare(a, b)
    with pytest.raises(ValueError, match="same seeds"):
        compare(a, runs(b.correct, (7, 8, 9)))
    with pytest.raises(TypeError, match="Runs"):
        compare(a, b.correct)


def test_bootstrap_p_agrees_with_mcnemar_for_one_seed():
    rng = np.random.default_rng(2)
    a = rng.random(359) < 0.97
    b = a.copy()
    flip = rng.choice(359, 14, replace=False)
    b[flip[:12]] = False
    b[flip[12:]] = True
    p_boot = compare(runs(a[None]), runs(b[None])).p_value
    p_exact = mcnemar(a, b)
    assert p_exact < 0.05 and p_boot < 0.05


def test_mcnemar_matches_the_binomial_test_by_hand():
    # 3 images only a is right on, 0 only b: p = 2 * 0.5**3 = 0.25
    a = np.array([1, 1, 1, 0, 1], bool)
    b = np.array([0, 0, 0, 0, 1], bool)
    assert mcnemar(a, b) == pytest.approx(0.25)
    assert mcnemar(a, a) == 1.0
    with pytest.raises(TypeError, match="bool arrays of one shape, got int64"):
        mcnemar(a.astype(np.int64), b)


def test_holm_adjusts_step_down():
    ds = {n: Difference(1.0, 0.5, 1.5, 5, p, "t") for n, p in (("x", 0.01), ("y", 0.04), ("z", 0.03))}
    adj = holm(ds)
    # sorted 0.01, 0.03, 0.04 -> 0.03, 0.06, 0.06 (made non-decreasing)
    assert [adj[n].p_value for n in ("x", "z", "y")] == pytest.approx([0.03, 0.06, 0.06])
    assert [adj[n].beyond_noise for n in ("x", "y", "z")] == [True, False, False]
    assert list(adj) == ["x", "y", "z"]


def test_table_has_one_row_per_arm_with_its_interval():
    text = table({"scratch": Interval(95.7, 95.2, 96.2, 5), "distilled": Interval(97.9, 97.5, 98.3, 5)})
    lines = text.splitlines()
    assert len(lines) == 3
    assert "95.2" in lines[1] and "98.3" in lines[2]


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(-1e3, 1e3), min_size=2, max_size=10))
def test_interval_contains_its_mean(values):
    iv = over_seeds(values)
    assert iv.low <= iv.mean + 1e-9 and iv.mean <= iv.high + 1e-9


def test_difference_prints_a_tiny_p_as_a_bound():
    assert str(Difference(2.0, 1.0, 3.0, 5, 0.0, "bootstrap")).endswith("p < 0.001")
    assert str(Difference(2.0, 1.0, 3.0, 5, 0.0312, "bootstrap")).endswith("p = 0.0312")


def test_runs_interval_counts_the_images_noise():
    # Five identical seeds at 97 % on 359 images: a t interval over seeds has width 0, but
    # 359 other images would give another accuracy: the interval must be about the binomial one.
    row = np.arange(359) >= 11  # 348 of 359 right, 96.9 %
    r = runs(np.tile(row, (5, 1)))
    iv = r.interval()
    assert iv.mean == pytest.approx(100 * 348 / 359)
    normal_half = 1.96 * 100 * math.sqrt(0.969 * 0.031 / 359)  # about 1.8 points
    assert iv.high - iv.low == pytest.approx(2 * normal_half, rel=0.25)
    assert over_seeds(r.per_seed).high - over_seeds(r.per_seed).low == 0.0


def test_runs_interval_is_repeatable_and_contains_the_mean():
    rng = np.random.default_rng(3)
    r = runs(rng.random((4, 200)) < 0.9)
    assert r.interval() == r.interval()
    assert r.interval().low < r.mean < r.interval().high


def test_holm_adjusted_difference_says_its_interval_is_unadjusted():
    d = Difference(0.84, 0.06, 1.95, 5, 0.046, "bootstrap seeds x images")
    assert d.beyond_noise and not d.adjusted
    adj = holm({"a": d, "b": Difference(1.0, 0.5, 1.5, 5, 0.01, "bootstrap")})["a"]
    assert adj.adjusted and adj.p_value == pytest.approx(0.046) and adj.beyond_noise
    adj3 = holm({"a": d, "b": d, "c": d})["a"]
    assert adj3.p_value == pytest.approx(0.138) and not adj3.beyond_noise and adj3.low > 0
    assert "(unadjusted)" in str(adj3)
