"""Timing code on the CPU: one helper, one ratio convention (notebooks 04-05, benchmarks).

Built on ``torch.utils.benchmark.Timer``, which warms up, picks how many calls to
time per measurement, and sets the number of threads for the measurement only.

**The convention**: a speed ratio is ``baseline time / candidate time``, so
**a ratio above 1 means the candidate is faster**. Two functions are compared by
alternating their measurements (A, B, A, B, ...): a machine that slows down for a
while (another process, a frequency change) slows both, and the ratio of each pair
stays fair. Spread is reported as the min and max of the per-pair ratios; shared
machines are noisy, so tests never assert on these numbers.

**The drop rule**, also stated once: a figure whose repeats span more than a factor of
:data:`MAX_SPREAD` (max / min) says more about the machine at that moment than about the
code; it is printed as *dropped*, with its range, not as a number (:attr:`Speedup.meaningful`).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable
from dataclasses import dataclass

import torch.utils.benchmark as benchmark

from ._validation import check_int, check_real

__all__ = ["MAX_SPREAD", "Timing", "Speedup", "measure", "speedup"]

#: Repeats spanning more than this factor (max / min) make a figure meaningless: it is dropped.
MAX_SPREAD: float = 2.0


@dataclass(frozen=True)
class Timing:
    """Seconds per call: the median and interquartile range of ``torch.utils.benchmark``'s measurements."""

    median: float
    iqr: float
    num_threads: int

    def __str__(self) -> str:
        return f"{_human(self.median)} per call (IQR {_human(self.iqr)}, {self.num_threads} thread(s))"


@dataclass(frozen=True)
class Speedup:
    """``baseline / candidate`` time ratios over alternating repeats: > 1 means the candidate is faster."""

    ratios: tuple[float, ...]
    baseline: float  # median seconds per call of the baseline over the repeats
    candidate: float  # median seconds per call of the candidate over the repeats

    @property
    def median(self) -> float:
        return statistics.median(self.ratios)

    @property
    def low(self) -> float:
        return min(self.ratios)

    @property
    def high(self) -> float:
        return max(self.ratios)

    @property
    def spread(self) -> float:
        """``max / min`` of the ratios: 1.1 means the repeats agree within 10 %."""
        return self.high / self.low

    @property
    def meaningful(self) -> bool:
        """The drop rule: the repeats span at most a factor of :data:`MAX_SPREAD`."""
        return self.spread <= MAX_SPREAD

    @property
    def consistent(self) -> bool:
        """Whether every repeat agrees on which is faster (all ratios > 1, or all < 1)."""
        return self.low > 1.0 or self.high < 1.0

    def __str__(self) -> str:
        if not self.meaningful:
            return f"dropped (repeats span {self.low:.2f}x to {self.high:.2f}x: too noisy to mean anything)"
        return f"{self.median:.2f}x (min {self.low:.2f}, max {self.high:.2f} over {len(self.ratios)} repeats)"


def _human(seconds: float) -> str:
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def _check_callable(name: str, fn: object) -> None:
    if not callable(fn):
        raise TypeError(f"{name} must be a callable taking no arguments, got {type(fn).__name__}")


def _measure(fn: Callable[[], object], num_threads: int, min_run_time: float) -> benchmark.Measurement:
    timer = benchmark.Timer(stmt="fn()", globals={"fn": fn}, num_threads=num_threads)
    return timer.blocked_autorange(min_run_time=min_run_time)


def measure(fn: Callable[[], object], *, num_threads: int = 1, min_run_time: float = 0.2) -> Timing:
    """Time ``fn()`` with ``torch.utils.benchmark``: median seconds per call and the IQR.

    Args:
        fn: a function of no arguments (wrap arguments in a ``lambda``).
        num_threads: PyTorch threads during the measurement (>= 1); restored afterwards.
        min_run_time: seconds to spend measuring (> 0).

    Returns:
        A :class:`Timing`.

    Raises:
        TypeError: ``fn`` not callable. ValueError: ``num_threads < 1`` or a bad ``min_run_time``.

    Example::

        >>> x = torch.randn(256, 64)
        >>> print(measure(lambda: model(x)))
    """
    _check_callable("fn", fn)
    num_threads = check_int("num_threads", num_threads, low=1)
    min_run_time = check_real("min_run_time", min_run_time)
    if not (0 < min_run_time < math.inf):
        raise ValueError(f"min_run_time={min_run_time} must be a finite number of seconds > 0")
    m = _measure(fn, num_threads, min_run_time)
    return Timing(m.median, m.iqr, num_threads)


def speedup(
    baseline: Callable[[], object],
    candidate: Callable[[], object],
    *,
    num_threads: int = 1,
    repeats: int = 5,
    min_run_time: float = 0.1,
) -> Speedup:
    """How many times faster ``candidate()`` runs than ``baseline()``, measured side by side.

    Each of ``repeats`` rounds times the baseline, then the candidate (the order
    alternates every round), and records ``baseline / candidate``.

    Args:
        baseline, candidate: functions of no arguments.
        num_threads: PyTorch threads during the measurements (>= 1).
        repeats: rounds (>= 3, so the spread means something).
        min_run_time: seconds per measurement (> 0).

    Returns:
        A :class:`Speedup`: ratio > 1 means ``candidate`` is faster.

    Raises:
        TypeError: a function is not callable. ValueError: bad ``num_threads``, ``repeats`` or ``min_run_time``.

    Example::

        >>> s = speedup(lambda: teacher(x), lambda: student(x))
        >>> print(s)   # 8.10x (min 7.52, max 8.44 over 5 repeats)
    """
    _check_callable("baseline", baseline)
    _check_callable("candidate", candidate)
    num_threads = check_int("num_threads", num_threads, low=1)
    repeats = check_int("repeats", repeats, low=3)
    min_run_time = check_real("min_run_time", min_run_time)
    if not (0 < min_run_time < math.inf):
        raise ValueError(f"min_run_time={min_run_time} must be a finite number of seconds > 0")
    ratios, base_times, cand_times = [], [], []
    for r in range(repeats):
        if r % 2 == 0:
            b = _measure(baseline, num_threads, min_run_time).median
            c = _measure(candidate, num_threads, min_run_time).median
        else:
            c = _measure(candidate, num_threads, min_run_time).median
            b = _measure(baseline, num_threads, min_run_time).median
        base_times.append(b)
        cand_times.append(c)
        ratios.append(b / c)
    return Speedup(tuple(ratios), statistics.median(base_times), statistics.median(cand_times))
