"""Choosing ``T`` and ``λ`` on the validation set: a ``T x λ`` grid over seeds (notebook 03, section 7).

One student per cell and seed, trained with the same recipe as the experiments the grid
justifies (:func:`~distill_lib.student.train_student`, the same epochs), scored image by
image on the validation set (:class:`~distill_lib.stats.Runs`). Every cell uses the same
seeds, so each distilled cell is compared with labels-only training (``λ = 0``) by
:func:`~distill_lib.stats.compare`, paired by seed and image, and the family of those
comparisons is read with :func:`~distill_lib.stats.holm`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import partial

from torch import Tensor, nn

from .._validation import check_eval_set, check_lam, check_recipe, check_temperature
from ..stats import Difference, Runs, compare, holm
from ..student import train_on_transfer_set
from .experiment import check_seeds, run_arms
from .transfer_set import TransferSet

__all__ = ["GridResult", "temperature_lam_grid"]

Cell = tuple[float, float]  # (temperature, lam)


@dataclass(frozen=True, eq=False)
class GridResult:
    """Validation results of a ``T x λ`` grid, one student per cell and seed.

    Attributes:
        temperatures, lams: the grid's axes.
        seeds: the seeds, the same for every cell.
        runs: ``(T, λ) -> Runs`` for every distinct student: the ``λ = 0`` column (labels
            only, the same students whatever ``T``) appears once, as ``(temperatures[0], 0.0)``.
    """

    temperatures: tuple[float, ...]
    lams: tuple[float, ...]
    seeds: tuple[int, ...]
    runs: dict[Cell, Runs]

    @property
    def cells(self) -> list[Cell]:
        """Every distinct student of the grid as ``(T, λ)``, row by row."""
        return list(self.runs)

    def mean(self) -> Tensor:
        """``(len(temperatures), len(lams))`` mean validation accuracy in %, the λ = 0 column repeated."""
        import torch

        out = torch.empty(len(self.temperatures), len(self.lams), dtype=torch.float64)
        for i, t in enumerate(self.temperatures):
            for j, lam in enumerate(self.lams):
                out[i, j] = self.runs[self._key(t, lam)].mean
        return out

    def _key(self, temperature: float, lam: float) -> Cell:
        if temperature not in self.temperatures or lam not in self.lams:
            raise ValueError(f"(T={temperature}, lam={lam}) is not a cell of this grid: "
                             f"temperatures {list(self.temperatures)}, lams {list(self.lams)}")
        return (self.temperatures[0], 0.0) if lam == 0.0 else (temperature, lam)

    def cell(self, temperature: float, lam: float) -> Runs:
        """The validation results of one cell."""
        return self.runs[self._key(temperature, lam)]

    @property
    def labels_only(self) -> Cell:
        """The ``λ = 0`` cell (raises if the grid has none)."""
        if 0.0 not in self.lams:
            raise ValueError(f"the grid has no lam = 0 column (labels only): lams {list(self.lams)}")
        return (self.temperatures[0], 0.0)

    def versus_labels_only(self) -> dict[Cell, Difference]:
        """Every distilled cell minus labels only, paired (:func:`~distill_lib.stats.compare`), Holm-adjusted."""
        reference = self.runs[self.labels_only]
        raw = {str(c): compare(self.runs[c], reference) for c in self.cells if c[1] > 0}
        adjusted = holm(raw)
        return {c: adjusted[str(c)] for c in self.cells if c[1] > 0}

    @property
    def best(self) -> Cell:
        """The cell with the highest mean accuracy (the first one on a tie)."""
        return max(self.cells, key=lambda c: self.runs[c].mean)

    def ties_with_best(self) -> list[Cell]:
        """The cells that :attr:`best` does not beat beyond noise (Holm over the family), :attr:`best` included."""
        best = self.runs[self.best]
        raw = {str(c): compare(best, self.runs[c]) for c in self.cells if c != self.best}
        adjusted = holm(raw) if raw else {}
        return [c for c in self.cells if c == self.best or not adjusted[str(c)].beyond_noise]


def temperature_lam_grid(
    transfer: TransferSet,
    eval_set: tuple[Tensor, Tensor],
    *,
    temperatures: Sequence[float],
    lams: Sequence[float],
    seeds: Sequence[int] = (0, 1, 2),
    sizes: list[int] | None = None,
    epochs: int | None = None,
    trained: Mapping[Cell, Sequence[nn.Module]] | None = None,
) -> GridResult:
    """Validation results of one student per ``(T, λ)`` pair and seed.

    At ``λ = 0`` the loss is the cross-entropy on the labelled rows alone and ``T`` plays
    no part, so that column is one student per seed trained from scratch on the labelled
    rows. Every input is checked before the first student is trained.

    Args:
        transfer: the transfer set (targets may be :data:`~distill_lib.losses.UNLABELLED`).
        eval_set: ``(X, targets)`` where to measure: the validation set (this grid chooses ``T`` and ``λ``).
        temperatures, lams: the grid's axes, without repeats.
        seeds: distinct seeds, the same for every cell.
        sizes, epochs: as :func:`~distill_lib.student.train_student` (use the experiments' epochs).
        trained: cell -> students already trained on ``transfer`` with this recipe, ``trained[cell][k]``
            with ``seeds[k]`` (e.g. an experiment's arms); they are scored, not trained again.

    Returns:
        A :class:`GridResult`.

    Example::

        >>> grid = temperature_lam_grid(full, (split.X_val, split.y_val), temperatures=[1, 4], lams=[0, 0.9])
        >>> grid.versus_labels_only()
    """
    if not isinstance(transfer, TransferSet):
        raise TypeError(f"transfer must be a TransferSet (see make_transfer_set), got {type(transfer).__name__}")
    temps = tuple(check_temperature(t) for t in temperatures)
    lams = tuple(check_lam(lam) for lam in lams)
    if not temps or not lams:
        raise ValueError(f"temperatures={list(temperatures)} and lams={list(lams)} must both be non-empty")
    if len(set(temps)) != len(temps) or len(set(lams)) != len(lams):
        raise ValueError(f"temperatures={list(temps)} and lams={list(lams)} must not repeat a value")
    seeds = check_seeds(seeds)
    check_recipe(1.0, 0.0, epochs)
    eval_set = check_eval_set(eval_set)
    cells = [(t, lam) for i, t in enumerate(temps) for lam in lams if lam != 0.0 or i == 0]
    known = {}
    for cell, students in (trained or {}).items():
        t, lam = check_temperature(cell[0]), check_lam(cell[1])
        key = (temps[0], 0.0) if lam == 0.0 else (t, lam)
        if key not in cells:
            raise ValueError(f"trained has students for (T={t}, lam={lam}), which is not a cell of the grid")
        if len(students) < len(seeds) or not all(isinstance(m, nn.Module) for m in students):
            raise ValueError(f"trained[{cell}] must hold one student (nn.Module) per seed, {len(seeds)} at least")
        known[key] = list(students[: len(seeds)])
    index = {seed: k for k, seed in enumerate(seeds)}
    arms = {c: (partial(_already_trained, known[c], index) if c in known else
                partial(train_on_transfer_set, *transfer, temperature=c[0], lam=c[1], sizes=sizes, epochs=epochs))
            for c in cells}
    return GridResult(temps, lams, seeds, run_arms(arms, seeds, eval_set).runs)


def _already_trained(students: list[nn.Module], index: dict[int, int], *, seed: int) -> tuple[nn.Module, None]:
    """An arm that returns the student already trained with ``seed``."""
    return students[index[seed]], None
