r"""Results over seeds and the one rule for "beyond noise" (every notebook).

Every accuracy that depends on a random seed is reported over several seeds, in
**percent**, as a mean with a 95 % confidence interval. Two arms are compared
*paired*: the same seeds, the same evaluation images.

**The rule, stated once.** A difference between two arms is *beyond noise* when
its two-sided p value is below 0.05 (before any adjustment: when its 95 % interval
excludes 0). On a validation or test set the interval comes from :func:`compare`: a
bootstrap that resamples the seeds *and* the images, so it counts both sources of
noise (and :meth:`Runs.interval`, the interval of one arm's accuracy in every table
and plot, uses the same bootstrap):

* seed noise: another initialisation gives another student;
* sampling noise of the evaluation set: 359 other test images would give other
  accuracies, even for the same students (Bouthillier et al. 2021; Dietterich 1998).

A paired t interval over seeds alone (:func:`paired_t`) ignores the second and is
too optimistic for accuracies; use it only for numbers without per-image outcomes
(losses, gradient norms, entropies). For one pair of fixed models on the same images,
:func:`mcnemar` gives McNemar's exact test.

When a notebook makes many comparisons, it names its few primary ones in advance;
the rest are read with :func:`holm` (Holm 1979), which controls the chance of any
false "beyond noise" in the family.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
from scipy import stats as _scipy_stats
from torch import Tensor

__all__ = [
    "LEVEL",
    "Interval",
    "Difference",
    "Runs",
    "over_seeds",
    "paired_t",
    "compare",
    "mcnemar",
    "holm",
    "table",
]

#: The confidence level of every interval in the workbook.
LEVEL: float = 0.95
#: Bootstrap resamples used by :func:`compare` (the interval's ends move by < 0.1 point between runs).
N_RESAMPLES: int = 4000


@dataclass(frozen=True)
class Interval:
    """A mean with its 95 % confidence interval ``[low, high]`` over ``n`` values (percent for accuracies)."""

    mean: float
    low: float
    high: float
    n: int

    @property
    def half_width(self) -> float:
        """Half the interval's width: the "±" of ``mean ± half_width`` (for a symmetric interval)."""
        return (self.high - self.low) / 2

    def __str__(self) -> str:
        return f"{self.mean:.1f} % [{self.low:.1f}, {self.high:.1f}]"


@dataclass(frozen=True)
class Difference(Interval):
    """A paired difference ``a - b`` (percentage points for accuracies) with its interval and p value.

    ``method`` says how the interval was computed (``"bootstrap seeds x images"``,
    ``"paired t over seeds"``, ``"holm"`` after adjustment).
    """

    p_value: float = math.nan
    method: str = ""

    @property
    def beyond_noise(self) -> bool:
        """The workbook's one rule: the two-sided p value is below ``1 - LEVEL``.

        Before any adjustment this is "the 95 % interval excludes 0". After :func:`holm`
        the p value is adjusted for the family and the interval is not, so an interval
        that just excludes 0 can still be within noise: the verdict follows the p value.
        """
        return bool(self.p_value < 1 - LEVEL)

    @property
    def adjusted(self) -> bool:
        """Whether ``p_value`` was adjusted for a family of comparisons (:func:`holm`)."""
        return self.method.endswith("Holm")

    def __str__(self) -> str:
        # A bootstrap p of 0 only means "below 1 / n_resamples": report it as a bound.
        p = "p < 0.001" if self.p_value < 0.001 else f"p = {self.p_value:.3g}"
        if self.adjusted:
            return f"{self.mean:+.2f} points [{self.low:+.2f}, {self.high:+.2f}] (unadjusted), Holm-adjusted {p}"
        return f"{self.mean:+.2f} points [{self.low:+.2f}, {self.high:+.2f}], {p}"


def _as_values(name: str, values: object) -> np.ndarray:
    """Finite numbers as a 1-d float64 array, at least two of them."""
    if isinstance(values, Tensor):
        values = values.detach().cpu().numpy()
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise TypeError(f"{name} must be a sequence of numbers, got {type(values).__name__}") from error
    if array.ndim != 1:
        raise ValueError(f"{name} must be one number per seed (1-d), got shape {array.shape}")
    if len(array) < 2:
        raise ValueError(f"{name} has {len(array)} value(s); an interval over seeds needs at least 2")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} contains NaN or infinite values: {array.tolist()}")
    return array


def over_seeds(values: Sequence[float]) -> Interval:
    """The mean of per-seed values with its 95 % Student-t interval (seed noise only).

    For numbers without per-image outcomes (losses, gradient norms, seconds). An accuracy's
    interval comes from :meth:`Runs.interval`, which also counts the evaluation images' noise.

    Args:
        values: one number per seed (e.g. accuracies in %), at least 2.

    Returns:
        An :class:`Interval`; ``low == high == mean`` when every value is equal.

    Raises:
        TypeError: not numbers. ValueError: fewer than 2 values, or non-finite ones.

    Example::

        >>> print(over_seeds([97.5, 98.1, 97.8]))
        97.8 % [97.1, 98.5]
    """
    x = _as_values("values", values)
    mean = float(x.mean())
    sem = float(x.std(ddof=1)) / math.sqrt(len(x))
    half = float(_scipy_stats.t.ppf(0.5 + LEVEL / 2, df=len(x) - 1)) * sem
    return Interval(mean, mean - half, mean + half, len(x))


def paired_t(a: Sequence[float], b: Sequence[float]) -> Difference:
    """Paired t test over seeds of ``a - b``, with its 95 % interval (``scipy.stats.ttest_rel``).

    Counts seed noise only: for accuracies on a fixed evaluation set use :func:`compare`.

    Args:
        a, b: one number per seed, the same seeds in the same order.

    Returns:
        A :class:`Difference`; with zero spread its p value is 0 (a non-zero mean) or 1 (zero).

    Raises:
        ValueError: different lengths, fewer than 2 values, non-finite values.

    Example::

        >>> paired_t([98.0, 97.5, 98.2], [96.0, 95.8, 96.1]).beyond_noise
        True
    """
    x, y = _as_values("a", a), _as_values("b", b)
    if len(x) != len(y):
        raise ValueError(f"a has {len(x)} values and b {len(y)}; a paired comparison needs one pair per seed")
    d = x - y
    interval = over_seeds(d)
    if float(d.std(ddof=1)) == 0.0:
        p = 1.0 if interval.mean == 0.0 else 0.0
    else:
        p = float(_scipy_stats.ttest_rel(x, y).pvalue)
    return Difference(interval.mean, interval.low, interval.high, len(d), p, "paired t over seeds")


@dataclass(frozen=True)
class Runs:
    """Per-image outcomes of one arm: ``correct[s, i]`` is True when seed ``s`` got image ``i`` right.

    Shape:
        correct: ``(S, N)`` bool, one row per seed in ``seeds``.
    """

    correct: np.ndarray
    seeds: tuple[int, ...]

    def __post_init__(self) -> None:
        correct = np.asarray(self.correct)
        if correct.dtype != np.bool_ or correct.ndim != 2:
            raise TypeError(f"correct must be a 2-d bool array (seeds, images), got {correct.dtype} {correct.shape}")
        if correct.shape[0] != len(self.seeds) or correct.shape[1] == 0:
            raise ValueError(
                f"correct has shape {correct.shape} for {len(self.seeds)} seeds; need one non-empty row per seed"
            )
        object.__setattr__(self, "correct", correct)
        object.__setattr__(self, "seeds", tuple(int(s) for s in self.seeds))

    @classmethod
    def from_predictions(cls, predictions: Sequence[Tensor], targets: Tensor, seeds: Sequence[int]) -> Runs:
        """Build from one ``(N,)`` tensor of predicted classes per seed and the ``(N,)`` targets.

        Example::

            >>> runs = Runs.from_predictions([student(X).argmax(1) for student in students], y, seeds)
        """
        if not isinstance(targets, Tensor) or targets.ndim != 1:
            raise TypeError(f"targets must be a 1-d tensor of class indices, got {targets!r:.60}")
        rows = []
        for s, p in zip(seeds, predictions, strict=True):
            if not isinstance(p, Tensor) or p.shape != targets.shape:
                raise ValueError(f"predictions for seed {s} must be a tensor of shape {tuple(targets.shape)}")
            rows.append((p == targets).cpu().numpy())
        return cls(np.stack(rows), tuple(seeds))

    @property
    def per_seed(self) -> np.ndarray:
        """Accuracy of each seed in %, shape ``(S,)``."""
        return 100.0 * self.correct.mean(axis=1)

    @property
    def mean(self) -> float:
        """Mean accuracy over seeds, in %."""
        return float(self.per_seed.mean())

    def interval(self, *, n_resamples: int = N_RESAMPLES, seed: int = 0) -> Interval:
        """Mean accuracy in % with its 95 % interval, counting seed noise *and* the images' sampling noise.

        The same two-way bootstrap as :func:`compare` (seeds and images resampled with
        replacement, percentile interval), so a table's intervals and the comparisons
        printed next to it follow one rule. A t interval over seeds alone would treat
        the 359 test images as the whole world and be several times too narrow.
        """
        means = _bootstrap_means(self.correct.astype(np.float64), _check_resamples(n_resamples), seed)
        low, high = np.quantile(means, [(1 - LEVEL) / 2, (1 + LEVEL) / 2])
        return Interval(self.mean, float(low), float(high), len(self.seeds))

    def __str__(self) -> str:
        return str(self.interval())


def _check_resamples(n_resamples: object) -> int:
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, int) or n_resamples < 1000:
        raise ValueError(f"n_resamples={n_resamples!r} must be an integer >= 1000")
    return n_resamples


def _bootstrap_means(values: np.ndarray, n_resamples: int, seed: int) -> np.ndarray:
    """Means (x 100) of ``values`` ``(S, N)`` over resamples of its seeds *and* its images, with replacement.

    With one seed (``S = 1``) only the images are resampled.
    """
    S, N = values.shape
    rng = np.random.default_rng(seed)
    means = np.empty(n_resamples)
    chunk = max(1, 2_000_000 // (S * N))
    for start in range(0, n_resamples, chunk):
        k = min(chunk, n_resamples - start)
        si = rng.integers(0, S, size=(k, S)) if S > 1 else np.zeros((k, 1), dtype=np.int64)  # (k, S)
        ni = rng.integers(0, N, size=(k, N))  # (k, N)
        means[start : start + k] = values[si[:, :, None], ni[:, None, :]].mean(axis=(1, 2))
    return 100.0 * means


def _check_pair(a: Runs, b: Runs) -> None:
    for name, r in (("a", a), ("b", b)):
        if not isinstance(r, Runs):
            raise TypeError(f"{name} must be a Runs (per-image outcomes per seed), got {type(r).__name__}")
    if a.seeds != b.seeds:
        raise ValueError(f"a paired comparison needs the same seeds, got {a.seeds} and {b.seeds}")
    if a.correct.shape != b.correct.shape:
        raise ValueError(f"a has outcomes of shape {a.correct.shape}, b {b.correct.shape}: not the same images")


def compare(a: Runs, b: Runs, *, n_resamples: int = N_RESAMPLES, seed: int = 0) -> Difference:
    """Accuracy of ``a`` minus ``b`` in points, paired by seed and image: **the workbook's rule**.

    A two-way bootstrap: each resample draws ``S`` seeds and ``N`` images with
    replacement and takes the mean paired difference. The 95 % interval is the
    percentile interval; the p value is twice the smaller tail beyond 0 (so
    ``beyond_noise`` is "the interval excludes 0"). With one seed it resamples images
    only. The bootstrap's own generator is seeded, so a call is repeatable.

    Args:
        a, b: :class:`Runs` on the same seeds and the same images.
        n_resamples: bootstrap resamples (>= 1000).
        seed: seed of the bootstrap's generator.

    Returns:
        A :class:`Difference` in percentage points.

    Raises:
        TypeError: ``a`` or ``b`` not a :class:`Runs`. ValueError: different seeds or images.

    Example::

        >>> d = compare(distilled, scratch)
        >>> print(d, d.beyond_noise)   # +2.20 points [+1.30, +3.10], p = 0.0005 True
    """
    _check_pair(a, b)
    n_resamples = _check_resamples(n_resamples)
    d = a.correct.astype(np.int8) - b.correct.astype(np.int8)  # (S, N) in {-1, 0, 1}
    S = d.shape[0]
    means = _bootstrap_means(d, n_resamples, seed)
    observed = 100.0 * float(d.mean())
    low, high = np.quantile(means, [(1 - LEVEL) / 2, (1 + LEVEL) / 2])
    if not d.any():
        p = 1.0
    else:
        p = min(1.0, 2 * min(float((means <= 0).mean()), float((means >= 0).mean())))
    method = "bootstrap seeds x images" if S > 1 else "bootstrap images"
    return Difference(observed, float(low), float(high), S, p, method)


def mcnemar(correct_a: object, correct_b: object) -> float:
    """McNemar's exact test for two fixed models on the same images: the two-sided p value.

    Only the images on which the two disagree count: under "no difference" each is
    equally likely to favour either model (a binomial test, ``scipy.stats.binomtest``).

    Args:
        correct_a, correct_b: ``(N,)`` bool arrays or tensors, one entry per image.

    Returns:
        The p value (1.0 when the models never disagree).

    Example::

        >>> mcnemar(int8_correct, float_correct)
    """
    a, b = (np.asarray(x.cpu() if isinstance(x, Tensor) else x) for x in (correct_a, correct_b))
    if a.dtype != np.bool_ or b.dtype != np.bool_ or a.ndim != 1 or a.shape != b.shape:
        raise TypeError(
            "correct_a and correct_b must be 1-d bool arrays of one shape, "
            f"got {a.dtype} {a.shape} and {b.dtype} {b.shape}"
        )
    only_a, only_b = int((a & ~b).sum()), int((~a & b).sum())
    if only_a + only_b == 0:
        return 1.0
    return float(_scipy_stats.binomtest(only_a, only_a + only_b, 0.5).pvalue)


def holm(differences: Mapping[str, Difference]) -> dict[str, Difference]:
    """Holm's step-down adjustment of a family of comparisons' p values.

    Sort the ``m`` p values ascending; the ``k``-th (from 0) is multiplied by ``m - k``,
    made non-decreasing, and capped at 1. ``beyond_noise`` of the result uses the
    adjusted p; the intervals are left as they were (unadjusted).

    Example::

        >>> holm({"T=4": compare(t4, labels), "T=8": compare(t8, labels)})
    """
    if not isinstance(differences, Mapping) or not all(isinstance(d, Difference) for d in differences.values()):
        raise TypeError("differences must be a mapping of names to Difference")
    names = sorted(differences, key=lambda n: differences[n].p_value)
    m = len(names)
    adjusted, running = {}, 0.0
    for k, name in enumerate(names):
        running = max(running, min(1.0, (m - k) * differences[name].p_value))
        adjusted[name] = replace(differences[name], p_value=running, method=differences[name].method + ", Holm")
    return {name: adjusted[name] for name in differences}


def table(results: Mapping[str, Runs | Interval], *, title: str = "accuracy (%)") -> str:
    """A plain-text table: one row per arm, the mean and its 95 % interval.

    Example::

        >>> print(table({"scratch": scratch, "distilled": distilled}))
    """
    rows = []
    for name, r in results.items():
        iv = r.interval() if isinstance(r, Runs) else r
        if not isinstance(iv, Interval):
            raise TypeError(f"results[{name!r}] must be a Runs or an Interval, got {type(r).__name__}")
        rows.append((name, iv))
    width = max([len(title)] + [len(n) for n, _ in rows])
    lines = [f"{title:<{width}}   mean   95 % interval    n"]
    lines += [f"{n:<{width}}  {iv.mean:5.1f}   [{iv.low:5.1f}, {iv.high:5.1f}]  {iv.n:3d}" for n, iv in rows]
    return "\n".join(lines)
