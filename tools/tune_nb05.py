"""How notebook 05's fine-tuning learning rate was chosen: a small sweep on the validation set.

Notebook 05 prunes distilled 64-128-10 students iteratively (global magnitude pruning to the
sparsities of its ``schedule``, ``epochs_per_step`` full-batch Adam epochs after each step) and
fine-tunes with cross-entropy or with the distillation loss (T = 4, λ = 0.9). This script runs the
same procedure, with the notebook's default schedule and epochs, for a few learning rates, and
measures accuracy on the **validation** set only (the notebook reports the test set). It prints,
for each learning rate and recovery loss, the validation accuracy at the final sparsity (mean ± std
over the seeds) and picks the learning rate with the best mean of the two losses, so that neither
loss is favoured by a rate tuned for the other; it also prints each loss's own best rate.

The schedule and the number of epochs are not tuned: they are set by the notebook's time budget.

Usage: ``python tools/tune_nb05.py [--seeds 3] [--lrs 0.003 0.01 0.03 0.1]`` (about 30 s on one
core with the defaults). Nothing is asserted; the printout is the record.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time

import torch

from distill_lib.data import load_split
from distill_lib.student import train_student
from distill_lib.pruning import prune_and_finetune
from distill_lib.teacher import load_teacher
from distill_lib.training import predict_logits

# Notebook 05's defaults (its `parameters` cell).
SCHEDULE = [0.5, 0.7, 0.8, 0.85, 0.88, 0.9]
EPOCHS_PER_STEP = 60
NOTEBOOK_LR = 0.03
LOSSES = ("cross-entropy", "distillation")


def sweep(lrs: list[float], seeds: list[int]) -> dict[tuple[float, str], list[float]]:
    """Final validation accuracy of every (lr, loss) pair, one value per seed."""
    split = load_split()
    teacher, _ = load_teacher(split=split)
    teacher_logits = predict_logits(teacher, split.X_train)  # (1079, 10)
    students = {s: train_student(split.X_train, split.y_train, teacher_logits=teacher_logits, seed=s)[0]
                for s in seeds}
    results: dict[tuple[float, str], list[float]] = {}
    for lr in lrs:
        for loss in LOSSES:
            finals = []
            for s, dense in students.items():
                model = copy.deepcopy(dense)  # each run prunes its own copy
                history = prune_and_finetune(
                    model, split.X_train, split.y_train, sparsities=SCHEDULE, epochs=EPOCHS_PER_STEP, lr=lr,
                    teacher_logits=teacher_logits if loss == "distillation" else None,
                    scope="global", eval_on=(split.X_val, split.y_val), seed=s,
                )
                finals.append(history.accuracy[-1])
            results[(lr, loss)] = finals
    return results


def main(seeds: int = 3, lrs: list[float] | None = None) -> None:
    lrs = lrs or [0.003, 0.01, 0.03, 0.1]
    threads_before = torch.get_num_threads()
    torch.set_num_threads(1)
    start = time.perf_counter()
    results = sweep(lrs, list(range(seeds)))
    print(f"validation accuracy at {SCHEDULE[-1]:.0%} sparsity after iterative pruning "
          f"(schedule {SCHEDULE}, {EPOCHS_PER_STEP} epochs per step), mean ± std over seeds 0..{seeds - 1}")
    print(f"{'lr':>8}  " + "  ".join(f"{loss:>16}" for loss in LOSSES) + f"  {'mean of both':>12}")
    both = {}
    for lr in lrs:
        cells = []
        for loss in LOSSES:
            values = results[(lr, loss)]
            std = statistics.stdev(values) if len(values) > 1 else float("nan")
            cells.append(f"{statistics.fmean(values):7.2%} ± {std:5.2%}")
        both[lr] = statistics.fmean(statistics.fmean(results[(lr, loss)]) for loss in LOSSES)
        print(f"{lr:>8g}  " + "  ".join(cells) + f"  {both[lr]:>12.2%}")
    best = max(lrs, key=lambda lr: both[lr])
    per_loss = {loss: max(lrs, key=lambda lr: statistics.fmean(results[(lr, loss)])) for loss in LOSSES}
    print(f"best lr for the mean of both losses: {best:g} (the notebook uses {NOTEBOOK_LR:g}); "
          + ", ".join(f"best for {loss}: {lr:g}" for loss, lr in per_loss.items()))
    print(f"{time.perf_counter() - start:.1f} s")
    torch.set_num_threads(threads_before)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=3, help="students (seeds 0, 1, ...)")
    parser.add_argument("--lrs", type=float, nargs="+", default=None, help="learning rates to try")
    args = parser.parse_args()
    main(args.seeds, args.lrs)
