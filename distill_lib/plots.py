"""Plotting results over seeds: points with 95 % intervals (every notebook).

Accuracies are drawn as a point (the mean over seeds), a bar for its 95 % interval
(:mod:`distill_lib.stats`) and the per-seed values as small dots, never as bars on a
truncated axis, whose height would exaggerate small differences.
"""

from __future__ import annotations

from collections.abc import Mapping

from .stats import Interval, Runs

__all__ = ["plot_intervals"]


def plot_intervals(
    ax,
    results: Mapping[str, Runs | Interval],
    *,
    reference: float | None = None,
    reference_label: str = "teacher",
    ylabel: str = "test accuracy (%)",
    title: str | None = None,
):
    """Draw each arm's mean and 95 % interval, with its per-seed dots, on ``ax``.

    Args:
        ax: a matplotlib ``Axes``.
        results: arm name -> :class:`~distill_lib.stats.Runs` (dots per seed) or
            :class:`~distill_lib.stats.Interval` (no dots), in %.
        reference: a horizontal line (e.g. the teacher's accuracy in %), or ``None``.
        reference_label, ylabel, title: labels.

    Returns:
        ``ax``.

    Example::

        >>> fig, ax = plt.subplots()
        >>> plot_intervals(ax, {"scratch": scratch, "distilled": distilled}, reference=98.6)
    """
    if not results:
        raise ValueError("results is empty; give at least one arm to plot")
    names = list(results)
    for i, name in enumerate(names):
        r = results[name]
        if isinstance(r, Runs):
            iv = r.interval()
            dots = r.per_seed
        elif isinstance(r, Interval):
            iv, dots = r, []
        else:
            raise TypeError(f"results[{name!r}] must be a Runs or an Interval, got {type(r).__name__}")
        ax.errorbar([i], [iv.mean], yerr=[[iv.mean - iv.low], [iv.high - iv.mean]], fmt="o", color=f"C{i % 10}",
                    capsize=5, ms=7, lw=1.5, zorder=3)
        if len(dots):
            offsets = [i + 0.12 + 0.03 * (k - (len(dots) - 1) / 2) for k in range(len(dots))]
            ax.plot(offsets, dots, ".", color="0.4", ms=4, zorder=2)
    if reference is not None:
        ax.axhline(reference, color="k", lw=0.8, ls="--", label=reference_label)
        ax.legend(fontsize=8, loc="best")
    ax.set_xticks(range(len(names)), [n.replace("_", "\n") for n in names], fontsize=8)
    ax.set_xlim(-0.5, len(names) - 0.5)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title, fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    return ax
