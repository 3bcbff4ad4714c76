"""Notebook 03's widget: seconds per slider change when the student is retrained live.

Each change of the widget calls ``distill_lib.distillation.train_and_score`` once
(a fresh ``64-width-10`` student, width 8 to 128, ``WIDGET_EPOCHS`` full-batch epochs, scored on the
validation set) and redraws a two-panel matplotlib figure. This replays a sequence of
changes (temperature, lam, width, labels) and prints the median and maximum seconds per
change, with one and with two torch threads, alternating change by change (goal: <= 0.5 s
per change on two CPU cores), and the CPU seconds per change. Nothing is asserted: the
figures depend on the machine and its load.

Usage: ``python tools/bench_nb03.py [--repeats N]``
"""

from __future__ import annotations

import argparse
import io
import statistics
import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from distill_lib.data import load_split  # noqa: E402
from distill_lib.distillation import WIDGET_EPOCHS, make_transfer_set, train_and_score  # noqa: E402
from distill_lib.teacher import load_teacher  # noqa: E402

GOAL_SECONDS = 0.5
# (temperature, lam, width, labels): what a student might do with the sliders, one change at a time.
CHANGES = [
    (4.0, 0.9, 128, "few"), (1.0, 0.9, 128, "few"), (2.0, 0.9, 128, "few"), (8.0, 0.9, 128, "few"),
    (16.0, 0.9, 128, "few"), (4.0, 0.9, 128, "few"), (4.0, 0.0, 128, "few"), (4.0, 0.5, 128, "few"),
    (4.0, 1.0, 128, "few"), (4.0, 1.0, 8, "few"), (4.0, 1.0, 32, "few"), (4.0, 1.0, 64, "few"),
    (4.0, 0.9, 64, "all"), (4.0, 0.9, 128, "all"), (4.0, 0.0, 128, "all"),
]


def redraw(result, tried) -> None:
    """A figure like the widget's (per-class bars, every setting tried), rendered to PNG as inline plots are."""
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.2))
    ax1.bar(range(10), 100 * result.per_class_accuracy)
    ts, ls, accs = zip(*tried)
    ax2.scatter(ts, accs, c=ls, vmin=0, vmax=1)
    ax2.set_xscale("log", base=2)
    fig.subplots_adjust(wspace=0.3)
    fig.savefig(io.BytesIO(), format="png")
    plt.close(fig)


def one_change(transfer_sets, split, change, tried) -> tuple[float, float, float]:
    """Seconds to retrain, seconds to retrain and redraw, CPU seconds of both (this process)."""
    temperature, lam, width, labels = change
    cpu, start = time.process_time(), time.perf_counter()
    result = train_and_score(transfer_sets[labels], split.X_val, split.y_val, temperature=temperature,
                             lam=lam, width=width)
    trained = time.perf_counter()
    tried.append((temperature, lam, result.accuracy))
    redraw(result, tried)
    return trained - start, time.perf_counter() - start, time.process_time() - cpu


def main(repeats: int = 1) -> None:
    split = load_split()
    teacher, _ = load_teacher(split=split)
    transfer_sets = {"few": make_transfer_set(split.X_train, split.y_train, teacher, per_class=10),
                     "all": make_transfer_set(split.X_train, split.y_train, teacher)}
    threads_before = torch.get_num_threads()
    torch.set_num_threads(1)
    one_change(transfer_sets, split, CHANGES[0], [])  # warm-up
    times: dict[int, list[tuple[float, float, float]]] = {1: [], 2: []}
    tried: dict[int, list] = {1: [], 2: []}
    for _ in range(repeats):
        for change in CHANGES:
            for threads in (1, 2):  # alternate, so that changes in the machine's load hit both alike
                torch.set_num_threads(threads)
                times[threads].append(one_change(transfer_sets, split, change, tried[threads]))
    torch.set_num_threads(threads_before)
    print(f"notebook 03 widget: {len(CHANGES)} slider changes x {repeats} repeat(s), {WIDGET_EPOCHS} epochs per "
          f"student, widths 8-128, 100 or 1,079 labelled rows; a change = retrain + redraw (PNG)")
    print(f"{'torch threads':<14} {'retrain median':>15} {'max':>7} {'change median':>14} {'max':>7} "
          f"{'CPU s/change median':>20}")
    for threads, rows in times.items():
        train_only, change, cpu = zip(*rows)
        print(f"{threads:<14} {statistics.median(train_only):>14.3f}s {max(train_only):>6.3f}s "
              f"{statistics.median(change):>13.3f}s {max(change):>6.3f}s {statistics.median(cpu):>19.3f}s")
    slowest = max(range(len(times[1])), key=lambda i: times[1][i][1])
    temperature, lam, width, labels = CHANGES[slowest % len(CHANGES)]
    print(f"slowest change with one thread: T={temperature:g}, lam={lam:g}, width={width}, labels={labels} "
          f"({times[1][slowest][1]:.3f} s)")
    ratio = statistics.median(r[1] for r in times[2]) / statistics.median(r[1] for r in times[1])
    print(f"two threads / one thread (median seconds per change): {ratio:.2f}x")
    print(f"goal: <= {GOAL_SECONDS} s per change on two cores (the notebook uses one torch thread); with one "
          "thread, CPU seconds approximate the wall time on a quiet machine")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=1)
    main(parser.parse_args().repeats)
