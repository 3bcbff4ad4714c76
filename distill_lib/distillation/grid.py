"""Choosing ``T`` and ``λ`` on the validation set: a ``T x λ`` grid over seeds (notebook 03, section 7).

One student per cell and seed; every cell uses the same seeds, so two cells can be
compared seed by seed (:meth:`GridResult.difference`, a paired difference). Whether a
difference is more than noise is decided by :meth:`SeedStats.beyond_noise
<distill_lib.distillation.SeedStats.beyond_noise>` with a floor of one evaluation example.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from .._validation import check_lam, check_temperature
from ..training import evaluate
from .seeds import SeedStats, _check_seeds
from .._validation import check_eval_set, check_recipe
from ..student import train_on_transfer_set

__all__ = ["GridResult", "temperature_lam_grid"]

Cell = tuple[float, float]  # (temperature, lam)


@dataclass(frozen=True, eq=False)
class GridResult:
    """Accuracies of a ``T x λ`` grid, one student per cell and seed.

    Attributes:
        temperatures, lams: the grid's axes.
        seeds: the seeds, the same for every cell.
        accuracy: ``(S, len(temperatures), len(lams))`` accuracies in ``[0, 1]``, float64.
        resolution: the accuracy of one evaluation example, ``1 / N_eval``: the smallest
            difference the evaluation set can show.
    """

    temperatures: tuple[float, ...]
    lams: tuple[float, ...]
    seeds: tuple[int, ...]
    accuracy: Tensor
    resolution: float

    @property
    def mean(self) -> Tensor:
        """``(len(temperatures), len(lams))`` mean accuracy over seeds."""
        return self.accuracy.mean(dim=0)

    @property
    def std(self) -> Tensor:
        """``(len(temperatures), len(lams))`` sample standard deviation over seeds."""
        return self.accuracy.std(dim=0)

    def _index(self, temperature: float, lam: float) -> tuple[int, int]:
        if temperature not in self.temperatures or lam not in self.lams:
            raise ValueError(f"(T={temperature}, lam={lam}) is not a cell of this grid: "
                             f"temperatures {list(self.temperatures)}, lams {list(self.lams)}")
        return self.temperatures.index(temperature), self.lams.index(lam)

    def cell(self, temperature: float, lam: float) -> SeedStats:
        """The accuracies of one cell, one per seed."""
        i, j = self._index(temperature, lam)
        return SeedStats(self.seeds, tuple(self.accuracy[:, i, j].tolist()))

    def difference(self, a: Cell, b: Cell) -> SeedStats:
        """Paired difference ``a - b`` of two cells, seed by seed (same seeds, same initialisations)."""
        return self.cell(*a).minus(self.cell(*b))

    def beyond_noise(self, a: Cell, b: Cell) -> bool:
        """Whether cells ``a`` and ``b`` differ by more than noise (:meth:`SeedStats.beyond_noise`)."""
        return self.difference(a, b).beyond_noise(self.resolution)

    @property
    def cells(self) -> list[Cell]:
        """Every distinct student of the grid as ``(T, λ)``, row by row; the ``λ = 0`` column
        (labels only, the same students whatever ``T``) appears once, at the first temperature."""
        return [(t, lam) for i, t in enumerate(self.temperatures) for lam in self.lams if lam != 0.0 or i == 0]

    @property
    def best(self) -> Cell:
        """The cell with the highest mean accuracy (the first one on a tie)."""
        i, j = divmod(int(self.mean.argmax()), len(self.lams))
        return self.temperatures[i], self.lams[j]

    def ties_with_best(self) -> list[Cell]:
        """The cells that :attr:`best` does not beat beyond noise, :attr:`best` included."""
        return [c for c in self.cells if not self.beyond_noise(self.best, c)]

    def beats_labels_only(self) -> list[Cell]:
        """The cells with ``λ > 0`` that beat the ``λ = 0`` column (labels only) beyond noise."""
        if 0.0 not in self.lams:
            raise ValueError(f"the grid has no lam = 0 column (labels only): lams {list(self.lams)}")
        labels_only = (self.temperatures[0], 0.0)
        return [c for c in self.cells if c[1] > 0 and self.difference(c, labels_only).mean > 0
                and self.beyond_noise(c, labels_only)]


def temperature_lam_grid(
    X: Tensor,
    targets: Tensor,
    teacher_logits: Tensor,
    X_eval: Tensor,
    y_eval: Tensor,
    *,
    temperatures: Sequence[float],
    lams: Sequence[float],
    seeds: Sequence[int] = (0, 1, 2),
    sizes: list[int] | None = None,
    epochs: int | None = None,
) -> GridResult:
    """Accuracy on ``(X_eval, y_eval)`` of one distilled student per ``(T, λ)`` pair and seed.

    At ``λ = 0`` the loss is the cross-entropy on the labelled rows alone and ``T`` plays
    no part, so that column is one student per seed trained from scratch on the labelled
    rows, repeated down the column. Every input is checked before the first student is
    trained.

    Args:
        X, targets, teacher_logits: the transfer set (targets may be :data:`UNLABELLED`).
        X_eval, y_eval: where to measure (the validation set: this grid chooses ``T`` and ``λ``).
        temperatures, lams: the grid's axes, without repeats.
        seeds: at least two distinct seeds, the same for every cell.
        sizes, epochs: as :func:`train_student`.

    Returns:
        A :class:`GridResult`; ``.accuracy`` has shape ``(len(seeds), len(temperatures), len(lams))``.

    Example::

        >>> grid = temperature_lam_grid(ts.X, ts.targets, ts.teacher_logits, split.X_val, split.y_val,
        ...                             temperatures=[1, 4], lams=[0, 0.9], seeds=[0, 1, 2])
        >>> grid.best, grid.ties_with_best()
    """
    temps = tuple(check_temperature(t) for t in temperatures)
    lams = tuple(check_lam(lam) for lam in lams)
    if not temps or not lams:
        raise ValueError(f"temperatures={list(temperatures)} and lams={list(lams)} must both be non-empty")
    if len(set(temps)) != len(temps) or len(set(lams)) != len(lams):
        raise ValueError(f"temperatures={list(temps)} and lams={list(lams)} must not repeat a value")
    seeds = _check_seeds(seeds)
    check_recipe(1.0, 0.0, epochs)
    check_eval_set((X_eval, y_eval))
    n = len(y_eval)
    accuracy = torch.empty(len(seeds), len(temps), len(lams), dtype=torch.float64)
    for s, seed in enumerate(seeds):
        for j, lam in enumerate(lams):
            for i, t in enumerate(temps):
                if lam == 0.0 and i > 0:  # cross-entropy on the labelled rows: the same student whatever T
                    accuracy[s, i, j] = accuracy[s, 0, j]
                    continue
                student, _ = train_on_transfer_set(X, targets, teacher_logits, temperature=t, lam=lam, seed=seed,
                                                    sizes=sizes, epochs=epochs)
                accuracy[s, i, j] = round(evaluate(student, X_eval, y_eval) * n) / n  # exact k / n in float64
    return GridResult(temps, lams, seeds, accuracy, 1.0 / n)
