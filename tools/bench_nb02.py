"""Widget latency of notebook 02: how long one update of the temperature slider takes.

One update is what the slider's callback does: ``temperature_view`` (the plain
function that the tests call) plus the redraw (new bar heights, image and
title, rendered to PNG for the image widget). The redraw measured here is the
notebook's own: the widget cell of ``notebooks/02_temperature_softmax.ipynb``
is executed headless and its ``redraw`` function is timed, so the figure
cannot drift from what the student sees. The browser's part (sending the PNG
and painting it) is not included.

Prints the median, 95th percentile and maximum milliseconds per update over a sweep of
temperatures (0.1 to 100, log-spaced) and test images; goal: < 100 ms.
Nothing is asserted (these machines are shared and noisy).

Usage: ``python tools/bench_nb02.py [--repeats N]``
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "02_temperature_softmax.ipynb"


def notebook_cell(marker: str) -> str:
    """The source of the first code cell of notebook 02 that contains ``marker``."""
    cells = json.loads(NOTEBOOK.read_text(encoding="utf-8"))["cells"]
    for cell in cells:
        source = "".join(cell["source"])
        if cell["cell_type"] == "code" and marker in source:
            return source
    raise RuntimeError(f"no code cell containing {marker!r} in {NOTEBOOK}")


def load_widget(temperature: float = 4.0, sample_index: int = 0) -> dict:
    """Run the notebook's import cell and widget cell headless; return their namespace.

    The widget cell finds what it needs from earlier cells (the split, the
    teacher's test logits, the parameters) in the namespace prepared here.
    """
    import matplotlib

    matplotlib.use("agg")
    namespace: dict = {}
    exec(compile(notebook_cell("from distill_lib"), str(NOTEBOOK), "exec"), namespace)  # noqa: S102 (our notebook)
    split = namespace["load_split"]()
    teacher, _ = namespace["load_teacher"](split=split)
    namespace.update(
        split=split,
        test_teacher_logits=namespace["predict_logits"](teacher, split.X_test),
        temperature=temperature,
        sample_index=sample_index,
        display=lambda *args, **kwargs: None,  # no frontend here
        print=lambda *args, **kwargs: None,  # the cell's own timing line
    )
    exec(compile(notebook_cell("def redraw("), str(NOTEBOOK), "exec"), namespace)  # noqa: S102
    return namespace


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2, help="passes over the sweep")
    args = parser.parse_args([] if argv is None else argv)  # tools/benchmark.py calls main()

    import torch

    ns = load_widget()
    redraw, logits = ns["redraw"], ns["test_teacher_logits"]
    temperature_view = ns["temperature_view"]
    temperatures = torch.logspace(-1, 2, 25).tolist()
    samples = [0, 57, 123, 200, len(logits) - 1]
    sweep = [(s, t) for _ in range(args.repeats) for s in samples for t in temperatures]
    redraw(samples[1], 1.0)  # warm-up: fonts, caches

    view_ms, update_ms = [], []
    for index, T in sweep:
        start = time.perf_counter()
        temperature_view(logits, index, T)
        middle = time.perf_counter()
        redraw(index, T)  # calls temperature_view again, then redraws: one full update
        end = time.perf_counter()
        view_ms.append(1e3 * (middle - start))
        update_ms.append(1e3 * (end - middle))

    print(f"notebook 02 widget: {len(sweep)} updates (T from 0.1 to 100, {len(samples)} test images), "
          f"torch threads={torch.get_num_threads()}, PNG {len(ns['picture'].value):,} bytes")
    print(f"{'':<34} {'median ms':>10} {'p95 ms':>8} {'max ms':>8}")
    for name, values in (("temperature_view alone", view_ms), ("one update (view + redraw to PNG)", update_ms)):
        p95 = statistics.quantiles(values, n=20)[-1]
        print(f"{name:<34} {statistics.median(values):>10.2f} {p95:>8.2f} {max(values):>8.2f}")
    print("goal: < 100 ms per update")


if __name__ == "__main__":
    main(sys.argv[1:])
