"""Widget latency of notebook 03: how long one change of a slider takes.

One change is what the widget's callback does: :func:`distill_lib.distillation.draw_student`,
the very function the notebook hands to ``live_figure`` (it retrains a fresh ``64-width-10``
student with ``train_and_score``, ``WIDGET_EPOCHS`` full-batch epochs, scores it on the
validation set and draws the two-panel figure), then the PNG encoding that ``live_figure``
does (:func:`distill_lib.widgets.figure_png`). The browser's part is not included.

Each setting (temperature, lam, width, labels) is timed with :func:`distill_lib.timing.measure`
(``torch.utils.benchmark``, one thread, as in the notebook): its median and interquartile
range; the summary gives the median over settings with their range. Goal: <= 1 s per change.
Nothing is asserted: these machines are shared and noisy.

Default run (``main()``): 4 settings, about 15 s. ``main(full=True)``: 12 settings, widths 8-128.

Usage: ``python tools/bench_nb03.py [--full]``
"""

from __future__ import annotations

import argparse
import statistics

import matplotlib
import torch

matplotlib.use("agg")

from distill_lib.data import load_split  # noqa: E402
from distill_lib.distillation import WIDGET_EPOCHS, draw_student, make_transfer_set  # noqa: E402
from distill_lib.teacher import load_teacher  # noqa: E402
from distill_lib.timing import measure  # noqa: E402
from distill_lib.training import confusion_matrix  # noqa: E402
from distill_lib.widgets import figure_png  # noqa: E402

GOAL_SECONDS = 1.0
# (temperature, lam, width, labels): what a student might do with the sliders.
SETTINGS = [(4.0, 0.9, 128, "10 per class"), (4.0, 0.0, 128, "10 per class"), (4.0, 0.9, 128, "all"),
            (16.0, 1.0, 128, "all")]
SETTINGS_FULL = SETTINGS + [(1.0, 0.9, 128, "10 per class"), (0.5, 0.5, 128, "10 per class"),
                            (32.0, 0.9, 128, "10 per class"), (4.0, 1.0, 8, "10 per class"),
                            (4.0, 1.0, 32, "10 per class"), (4.0, 0.9, 64, "all"), (4.0, 0.0, 128, "all"),
                            (8.0, 0.5, 16, "all")]


def main(full: bool = False) -> None:
    """Time notebook 03's widget callback; print each setting's median and IQR, and the summary."""
    torch.set_num_threads(1)
    split = load_split()
    teacher, _ = load_teacher(split=split)
    val = (split.X_val, split.y_val)
    transfer_sets = {"10 per class": make_transfer_set(split.X_train, split.y_train, teacher, per_class=10),
                     "all": make_transfer_set(split.X_train, split.y_train, teacher)}
    teacher_per_class = confusion_matrix(teacher, *val).diagonal() / torch.bincount(split.y_val)
    tried: list = []

    def change(temperature: float, lam: float, width: int, labels: str) -> bytes:
        figure = draw_student(transfer_sets, val, teacher_per_class, tried, temperature=temperature, lam=lam,
                              width=width, labels=labels, epochs=WIDGET_EPOCHS)
        return figure_png(figure)

    change(*SETTINGS[0])  # warm-up: fonts, caches
    settings = SETTINGS_FULL if full else SETTINGS
    min_run_time = 2.0 if full else 1.0
    print(f"notebook 03 widget: draw_student + PNG, {len(settings)} settings, {WIDGET_EPOCHS} epochs per student, "
          f"1 thread, torch.utils.benchmark ({min_run_time} s each)")
    print(f"{'T':>5} {'lam':>5} {'width':>6} {'labels':>13} {'s/change (median)':>18} {'IQR s':>7}")
    medians = []
    for setting in settings:
        timing = measure(lambda: change(*setting), min_run_time=min_run_time)
        medians.append(timing.median)
        temperature, lam, width, labels = setting
        print(f"{temperature:>5g} {lam:>5g} {width:>6} {labels:>13} {timing.median:>18.3f} {timing.iqr:>7.3f}")
    print(f"median over settings {statistics.median(medians):.3f} s (range {min(medians):.3f}-{max(medians):.3f} s); "
          f"goal <= {GOAL_SECONDS:g} s per change: {'met' if max(medians) <= GOAL_SECONDS else 'NOT met'} "
          "on this machine")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--full", action="store_true", help="12 settings and longer measurements")
    main(parser.parse_args().full)
