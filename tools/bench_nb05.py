"""Notebook 05's speed and size figures: masks against real removal of hidden units.

For the distilled student (64-128-10), the teacher (64-256-256-10) and a wide layer
(64-1024-10) it prints, at batch 1024 and for 1 and 2 torch threads:

* parameters and serialized bytes (``torch.save(state_dict)``) of the dense model, the
  90 %-sparse masked model (``torch.nn.utils.prune`` masks with their hook), the same with
  the masks folded in (``prune.remove``), and the model with 50 % of its hidden units removed;
* forward latency (median µs per batch) and the speed-up over the dense model, as the median
  of per-round ratios over alternating rounds in one process, with the range of those ratios.

Two threads on a machine whose cores are busy with other work can be many times slower than
one (the threads wait for each other); compare the 2-thread columns only on a quiet machine.

Then the sparsity widget's update latency: ``prune_preview`` alone and with the three-panel
figure rendered to PNG (Agg, :func:`distill_lib.widgets.figure_png`, as ``live_figure`` does).
Nothing is asserted; latency depends on only the shapes, not the values, so the wide layer is
randomly initialised.

Usage: ``python tools/bench_nb05.py [--repeats N]`` (also run by ``tools/benchmark.py``).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from distill_lib.data import load_split
from distill_lib.student import train_student
from distill_lib.models import count_parameters, mlp, serialized_size
from distill_lib.pruning import (
    copy_model,
    make_permanent,
    prune_magnitude,
    prune_preview,
    remove_hidden_units,
    time_forward,
    weight_sparsity,
)
from distill_lib.teacher import load_teacher
from distill_lib.training import predict_logits, set_seed
from distill_lib.widgets import figure_png

BATCH = 1024
SPARSITY = 0.9
UNIT_SPARSITY = 0.5


def variants(dense: torch.nn.Module) -> dict[str, torch.nn.Module]:
    masked = copy_model(dense)
    prune_magnitude(masked, SPARSITY, scope="global")
    return {
        "dense": dense.eval(),
        f"masked {SPARSITY:.0%} (hooks)": masked.eval(),
        "masked, made permanent": make_permanent(copy_model(masked)).eval(),
        f"{UNIT_SPARSITY:.0%} units removed": remove_hidden_units(dense, UNIT_SPARSITY),
    }


def calibrate(model: torch.nn.Module, X: torch.Tensor, target_seconds: float = 0.01) -> int:
    """Forward passes per timing so that one timing lasts about ``target_seconds``."""
    with torch.no_grad():
        model(X)
        start = time.perf_counter()
        model(X)
        once = time.perf_counter() - start
    return max(1, min(200, int(target_seconds / max(once, 1e-6))))


def bench_models(name: str, dense: torch.nn.Module, X: torch.Tensor, repeats: int) -> None:
    models = variants(dense)
    linears = [m for m in models[list(models)[-1]] if isinstance(m, torch.nn.Linear)]
    widths = "-".join(str(w) for w in [linears[0].in_features] + [m.out_features for m in linears])
    print(f"\n{name}, batch {BATCH}; with units removed: {widths}")
    print(f"{'':<26} {'parameters':>10} {'zeros':>6} {'bytes':>8}", end="")
    for threads in (1, 2):
        print(f" | {f'{threads} thread(s): µs':>17} {'speed-up':>8} {'range':>11}", end="")
    print()
    results = {}
    for threads in (1, 2):
        torch.set_num_threads(threads)
        number = calibrate(dense, X)
        timings = time_forward(models, X, repeats=repeats, number=number)
        base = timings["dense"]
        results[threads] = {
            key: (statistics.median(t), [b / x for b, x in zip(base, t)]) for key, t in timings.items()
        }
    for key, model in models.items():
        print(f"{key:<26} {count_parameters(model):>10,} {weight_sparsity(model):>6.0%} {serialized_size(model):>8,}", end="")
        for threads in (1, 2):
            seconds, ratios = results[threads][key]
            print(f" | {1e6 * seconds:>17.0f} {statistics.median(ratios):>7.2f}x "
                  f"{min(ratios):>5.2f}-{max(ratios):<5.2f}", end="")
        print()


def bench_widget(student: torch.nn.Module, repeats: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    split = load_split()
    torch.set_num_threads(1)

    def update(draw: bool) -> None:
        view = prune_preview(student, 0.9, split.X_val, split.y_val, scope="global", layer="0")
        if draw:  # the notebook's three panels, rendered to PNG as live_figure does
            fig, axes = plt.subplots(1, 3, figsize=(11, 3.2))
            axes[0].imshow(view.weight.abs().masked_fill(view.mask == 0, float("nan")), aspect="auto")
            axes[1].imshow(view.mask, cmap="gray_r", vmin=0, vmax=1, aspect="auto")
            axes[2].plot([0.0, 0.5, 0.9], [1.0, 0.9, view.accuracy], "o-")
            figure_png(fig)  # also closes it

    for draw, label in ((False, "prune_preview (copy, prune, evaluate)"), (True, "  + the three panels as a PNG")):
        update(draw)  # warm-up
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            update(draw)
            times.append(time.perf_counter() - start)
        print(f"{label:<40} median {1e3 * statistics.median(times):6.1f} ms  (min {1e3 * min(times):.1f}, "
              f"max {1e3 * max(times):.1f}, {repeats} updates, 1 thread)")


def main(repeats: int = 21) -> None:
    threads_before = torch.get_num_threads()
    split = load_split()
    teacher, _ = load_teacher(split=split)
    torch.set_num_threads(1)
    student, _ = train_student(split.X_train, split.y_train,
                               teacher_logits=predict_logits(teacher, split.X_train), seed=0)
    X = torch.rand(BATCH, 64, generator=torch.Generator().manual_seed(0))  # (1024, 64)
    print(f"torch {torch.__version__}; forward passes at batch {BATCH}, {repeats} alternating rounds "
          "(median of per-round ratios to dense; range = min-max of those ratios)")
    set_seed(0)
    bench_models("student 64-128-10 (distilled, seed 0)", student, X, repeats)
    bench_models("teacher 64-256-256-10 (cached)", teacher, X, repeats)
    bench_models("wide layer 64-1024-10 (random init)", mlp([64, 1024, 10]), X, repeats)
    print(f"\ngoal: {UNIT_SPARSITY:.0%} of hidden units removed -> >= 1.5x faster forward passes at batch {BATCH}")
    print("\nwidget update latency (notebook 05's sparsity slider):")
    bench_widget(student, repeats=max(5, repeats // 2))
    torch.set_num_threads(threads_before)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=21, help="alternating timing rounds")
    main(parser.parse_args().repeats)
