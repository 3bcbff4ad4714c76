"""Deprecated: :class:`SeedStats`, kept only until notebooks 04-05 move to :mod:`distill_lib.stats`.

Use :class:`distill_lib.stats.Runs` and :func:`distill_lib.stats.compare` instead; this file
will be deleted.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from .._validation import check_real

__all__ = ["SeedStats"]


@dataclass(frozen=True)
class SeedStats:
    """One number per seed, with its mean and *sample* standard deviation (``n - 1``).

    ``str()`` prints accuracies as percentages, e.g. ``97.9 ± 0.3 %``.
    """

    seeds: tuple[int, ...]
    values: tuple[float, ...]

    def __post_init__(self) -> None:
        if len(self.values) != len(self.seeds):
            raise ValueError(f"{len(self.values)} values for {len(self.seeds)} seeds; need one value per seed")
        if len(self.values) < 2:
            raise ValueError(f"a standard deviation needs at least 2 seeds, got {len(self.values)}")
        if not all(math.isfinite(v) for v in self.values):
            raise ValueError(f"values must be finite, got {self.values}")

    @property
    def mean(self) -> float:
        return statistics.fmean(self.values)

    @property
    def std(self) -> float:
        return statistics.stdev(self.values)

    def minus(self, other: SeedStats) -> SeedStats:
        """Per-seed (paired) differences ``self - other``; both must use the same seeds."""
        if self.seeds != other.seeds:
            raise ValueError(f"paired differences need the same seeds, got {self.seeds} and {other.seeds}")
        return SeedStats(self.seeds, tuple(a - b for a, b in zip(self.values, other.values)))

    def beyond_noise(self, floor: float = 0.0) -> bool:
        """Whether the mean is further from 0 than both one standard deviation and ``floor``.

        Meant for paired differences (:meth:`minus`): a difference smaller than its
        seed-to-seed spread could change sign with other seeds. ``floor`` is the smallest
        difference the measurement can resolve (one evaluation example, ``1 / N``),
        because with few seeds the sample std can be 0 by chance. A rule of thumb, not a
        significance test.

        Example::

            >>> SeedStats((0, 1, 2), (0.02, 0.03, 0.025)).beyond_noise(floor=1 / 359)
            True
        """
        floor = check_real("floor", floor)
        if not (0.0 <= floor < math.inf):
            raise ValueError(f"floor={floor} must be finite and >= 0")
        threshold = max(self.std, floor)
        size = abs(self.mean)
        return size > threshold and not math.isclose(size, threshold, rel_tol=1e-9, abs_tol=0.0)

    def __str__(self) -> str:
        return f"{100 * self.mean:.1f} ± {100 * self.std:.1f} %"
