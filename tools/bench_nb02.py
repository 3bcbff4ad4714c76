"""Widget latency of notebook 02: how long one update of the temperature slider takes.

One update is what the slider's callback does: :meth:`distill_lib.temperature.TemperatureFigure.draw`,
the very function the notebook's ``live_figure`` calls (``temperature_view`` for the numbers,
then a redraw of the image, the bars and the title over the saved background, encoded as a PNG).
The browser's part (sending the PNG and painting it) is not included.

Each configuration (a validation image and a temperature) is timed with
:func:`distill_lib.timing.measure` (``torch.utils.benchmark``, one thread): its median and
interquartile range. The summary gives the median over configurations with their range.
Goal: <= 100 ms per update. Nothing is asserted (these machines are shared and noisy).

Default run (``main()``): 2 images x 4 temperatures, about 10 s. ``main(full=True)``: 5 images x
13 temperatures from 0.1 to 100.

Usage: ``python tools/bench_nb02.py [--full]``
"""

from __future__ import annotations

import argparse
import statistics
import sys

import matplotlib
import torch

matplotlib.use("agg")

from distill_lib.data import load_split  # noqa: E402
from distill_lib.teacher import load_teacher  # noqa: E402
from distill_lib.temperature import SLIDER_TEMPERATURES, TemperatureFigure, temperature_view  # noqa: E402
from distill_lib.timing import measure  # noqa: E402
from distill_lib.training import predict_logits  # noqa: E402

GOAL_MS = 100.0


def main(full: bool = False) -> None:
    """Time notebook 02's widget update; print each configuration's median and IQR, and the summary."""
    torch.set_num_threads(1)
    split = load_split()
    teacher, _ = load_teacher(split=split)
    logits = predict_logits(teacher, split.X_val)  # (359, 10): the notebook's widget shows validation images
    picture = TemperatureFigure(split.X_val, split.y_val, logits)  # what the notebook builds
    images = [0, 57, 123, 200, len(logits) - 1] if full else [0, 200]
    temperatures = SLIDER_TEMPERATURES[::2] if full else (0.1, 1.0, 4.0, 100.0)
    min_run_time = 0.3 if full else 0.2
    picture.draw(images[0], 1.0)  # warm-up: fonts, caches

    print(f"notebook 02 widget: TemperatureFigure.draw, {len(images)} validation images x {len(temperatures)} "
          f"temperatures, 1 thread, torch.utils.benchmark ({min_run_time} s each)")
    print(f"{'image':>6} {'T':>6} {'update ms (median)':>19} {'IQR ms':>7} {'view alone ms':>14}")
    medians = []
    for index in images:
        for T in temperatures:
            update = measure(lambda: picture.draw(index, T), min_run_time=min_run_time)
            view = measure(lambda: temperature_view(logits, index, T), min_run_time=min_run_time / 2)
            medians.append(1e3 * update.median)
            print(f"{index:>6} {T:>6g} {1e3 * update.median:>19.2f} {1e3 * update.iqr:>7.2f} {1e3 * view.median:>14.3f}")
    print(f"one update: median {statistics.median(medians):.1f} ms over {len(medians)} configurations "
          f"(range {min(medians):.1f}-{max(medians):.1f} ms); PNG {len(picture.draw(0, 4.0)):,} bytes; "
          f"goal <= {GOAL_MS:.0f} ms: {'met' if max(medians) <= GOAL_MS else 'NOT met'}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="more images and temperatures, longer measurements")
    main(full=parser.parse_args(sys.argv[1:]).full)
