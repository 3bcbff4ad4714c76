"""distill_lib.timing: the ratio convention and input checks (no timing thresholds: machines are noisy)."""

import time

import pytest

from distill_lib.timing import Speedup, measure, speedup


def test_measure_reports_seconds_per_call():
    t = measure(lambda: time.sleep(0.002), min_run_time=0.05)
    assert 0.0015 < t.median < 0.5  # a sleep of 2 ms cannot take less than ~2 ms
    assert t.num_threads == 1


def test_ratio_above_one_means_the_candidate_is_faster():
    # A 10x difference in work is far beyond timer noise.
    s = speedup(lambda: time.sleep(0.01), lambda: time.sleep(0.001), repeats=3, min_run_time=0.05)
    assert s.median > 1 and s.consistent
    assert s.baseline > s.candidate


def test_speedup_summary():
    s = Speedup((2.0, 3.0, 4.0), 0.3, 0.1)
    assert (s.median, s.low, s.high, s.consistent) == (3.0, 2.0, 4.0, True)
    assert Speedup((0.9, 1.2, 1.0), 1.0, 1.0).consistent is False


@pytest.mark.parametrize(
    "kwargs, error, match",
    [({"num_threads": 0}, ValueError, "num_threads=0"), ({"repeats": 2}, ValueError, "repeats=2"),
     ({"min_run_time": 0.0}, ValueError, "min_run_time=0.0"), ({"min_run_time": "1"}, TypeError, "min_run_time")],
)
def test_speedup_rejects_bad_settings(kwargs, error, match):
    with pytest.raises(error, match=match):
        speedup(lambda: None, lambda: None, **kwargs)


def test_rejects_non_callables():
    with pytest.raises(TypeError, match="baseline must be a callable"):
        speedup(1, lambda: None)
    with pytest.raises(TypeError, match="fn must be a callable"):
        measure(None)


def test_the_drop_rule():
    assert Speedup((1.0, 1.5, 2.0), 1.0, 1.0).meaningful  # spread exactly 2: kept
    noisy = Speedup((0.5, 1.0, 1.5), 1.0, 1.0)
    assert noisy.spread == 3.0 and not noisy.meaningful
    assert str(noisy).startswith("dropped")
