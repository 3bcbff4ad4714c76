"""One student per seed: mean ± standard deviation (notebook 03, sections 4-6).

Any accuracy that depends on a random initialisation is reported over several seeds:
:func:`accuracy_over_seeds` trains one student per seed and returns a :class:`SeedStats`
(accuracies are fractions in ``[0, 1]``).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from torch import Tensor

from .._validation import check_int, check_real
from ..training import evaluate
from .._validation import check_eval_set, check_recipe
from ..student import train_student

__all__ = ["SeedStats", "accuracy_over_seeds"]


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


def _check_seeds(seeds: object) -> tuple[int, ...]:
    """At least two distinct seeds in ``[0, 2**32)``, as a tuple."""
    if isinstance(seeds, (str, bytes)) or not isinstance(seeds, Sequence):
        raise TypeError(f"seeds must be a sequence of integers, got {type(seeds).__name__}")
    out = tuple(check_int(f"seeds[{i}]", s, low=0, high=2**32 - 1) for i, s in enumerate(seeds))
    if len(out) < 2 or len(set(out)) != len(out):
        raise ValueError(f"seeds={list(out)} must hold at least 2 distinct seeds (a std needs two)")
    return out


def accuracy_over_seeds(
    X: Tensor,
    targets: Tensor,
    X_eval: Tensor,
    y_eval: Tensor,
    *,
    seeds: Sequence[int],
    teacher_logits: Tensor | None = None,
    temperature: float = 4.0,
    lam: float = 0.9,
    sizes: list[int] | None = None,
    epochs: int | None = None,
) -> SeedStats:
    """Train one student per seed with :func:`train_student`, return its accuracy on ``(X_eval, y_eval)``.

    The arguments after ``seeds`` are :func:`train_student`'s. Every input is checked
    before the first student is trained.

    Returns:
        A :class:`SeedStats` of accuracies in ``[0, 1]``, one per seed.

    Example::

        >>> s = accuracy_over_seeds(split.X_train, split.y_train, split.X_test, split.y_test, seeds=range(5))
        >>> print(s)   # 95.7 ± 0.4 %
    """
    seeds = _check_seeds(seeds)
    check_recipe(temperature, lam, epochs)
    check_eval_set((X_eval, y_eval))
    values = []
    for seed in seeds:
        student, _ = train_student(X, targets, teacher_logits=teacher_logits, temperature=temperature,
                                   lam=lam, sizes=sizes, seed=seed, epochs=epochs)
        values.append(evaluate(student, X_eval, y_eval))
    return SeedStats(seeds, tuple(values))
