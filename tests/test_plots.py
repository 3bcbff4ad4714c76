"""distill_lib.plots: one point and one interval bar per arm, per-seed dots for Runs."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from distill_lib.plots import plot_intervals  # noqa: E402
from distill_lib.stats import Interval, Runs  # noqa: E402


def test_points_intervals_and_seed_dots():
    runs = Runs(np.array([[1, 1, 0, 1], [1, 0, 0, 1], [1, 1, 1, 1]], bool), (0, 1, 2))
    fig, ax = plt.subplots()
    plot_intervals(ax, {"a": runs, "b": Interval(90.0, 85.0, 95.0, 5)}, reference=97.0)
    # errorbar containers: one per arm, centred on the mean
    means = [c.lines[0].get_ydata()[0] for c in ax.containers]
    assert means == pytest.approx([runs.mean, 90.0])
    dots = [line for line in ax.lines if line.get_marker() == "."]
    assert len(dots) == 1 and sorted(dots[0].get_ydata()) == sorted(runs.per_seed)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b"]
    plt.close(fig)


def test_rejects_empty_and_wrong_types():
    fig, ax = plt.subplots()
    with pytest.raises(ValueError, match="results is empty"):
        plot_intervals(ax, {})
    with pytest.raises(TypeError, match="results\\['x'\\] must be a Runs or an Interval"):
        plot_intervals(ax, {"x": 97.0})
    plt.close(fig)
