"""Notebook 05's speed and size figures: masks against removing hidden units, and the slider's latency.

Printed, never asserted. Uses the functions notebook 05 uses (``prune_magnitude``, ``make_permanent``,
``remove_hidden_units``, ``nonzero_parameters``, ``storage_bytes``, ``prune_preview``, ``draw_preview``),
never the notebook's cells. Speed comes from the workbook's one timing helper, :mod:`distill_lib.timing`
(``torch.utils.benchmark``): a ratio is dense time / candidate time, **> 1 means the candidate is
faster**, printed as the median and the min-max over alternating repeats; a ratio whose repeats span
more than a factor of 2 (max / min) is printed as *dropped*, with its range.

For the distilled student (64-128-10, seed 0) and the teacher (64-256-256-10), at batch 1024:
parameters, non-zero parameters, bytes (dense and CSR with 4-byte indices), and the speed of the
90 %-sparse masked model (with its hooks), the same with the masks folded in, and the model with
50 % of its hidden units removed, each against the dense model. Then the slider's update latency
(``prune_preview`` alone, and with the three panels rendered to PNG as ``live_figure`` does;
goal: <= 0.5 s per change).

Default (``main()``): one thread, 5 repeats, about 20-30 s. ``main(full=True)``: also two threads and a
wide layer (64-1024-10), 9 repeats and longer measurements.

Usage: ``python tools/bench_nb05.py [--full]`` (also run by ``tools/benchmark.py``).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("MPLBACKEND", "Agg")

from distill_lib.data import load_split  # noqa: E402
from distill_lib.models import count_parameters, mlp  # noqa: E402
from distill_lib.pruning import (  # noqa: E402
    accuracy_vs_sparsity,
    copy_model,
    draw_preview,
    make_permanent,
    nonzero_parameters,
    prune_magnitude,
    prune_preview,
    remove_hidden_units,
    storage_bytes,
)
from distill_lib.student import train_student  # noqa: E402
from distill_lib.teacher import load_teacher  # noqa: E402
from distill_lib.timing import Speedup, measure, speedup  # noqa: E402
from distill_lib.training import predict_logits, set_seed  # noqa: E402
from distill_lib.widgets import figure_png  # noqa: E402

BATCH = 1024
SPARSITY = 0.9
UNIT_SPARSITY = 0.5
#: A speed ratio whose repeats span more than this factor (max / min) is not printed as a figure.


def variants(dense: torch.nn.Module) -> dict[str, torch.nn.Module]:
    """The notebook's four forms of one model: dense, masked, masks folded in, units removed."""
    masked = copy_model(dense)
    prune_magnitude(masked, SPARSITY, scope="global")
    return {
        "dense": dense.eval(),
        f"masked {SPARSITY:.0%} (hooks)": masked.eval(),
        "masked, made permanent": make_permanent(copy_model(masked)).eval(),
        f"{UNIT_SPARSITY:.0%} units removed": remove_hidden_units(dense, UNIT_SPARSITY),
    }


def ratio_text(s: Speedup) -> str:
    return str(s)


def bench_models(name: str, dense: torch.nn.Module, X: torch.Tensor, threads: list[int], repeats: int,
                 min_run_time: float) -> dict[str, dict[int, Speedup]]:
    models = variants(dense)
    widths = [m.out_features for m in models[f"{UNIT_SPARSITY:.0%} units removed"] if isinstance(m, torch.nn.Linear)]
    print(f"\n{name}, batch {BATCH}; with units removed: {'-'.join(map(str, [X.shape[1], *widths]))}")
    print(f"{'':<24} {'parameters':>10} {'non-zero':>9} {'bytes':>8} {'CSR bytes':>9}   speed vs dense")
    results: dict[str, dict[int, Speedup]] = {}
    with torch.no_grad():
        for key, model in models.items():
            sizes = (f"{key:<24} {count_parameters(model):>10,} {nonzero_parameters(model):>9,} "
                     f"{storage_bytes(model):>8,} {storage_bytes(model, layout='csr'):>9,}")
            if key == "dense":
                print(f"{sizes}   1 (the baseline)")
                continue
            results[key] = {}
            for t in threads:
                results[key][t] = speedup(lambda: dense(X), lambda m=model: m(X), num_threads=t, repeats=repeats,
                                          min_run_time=min_run_time)
            speeds = "; ".join(f"{t} thread(s): {ratio_text(s)}" for t, s in results[key].items())
            print(f"{sizes}   {speeds}")
    return results


def bench_widget(student: torch.nn.Module, min_run_time: float) -> None:
    """The slider's update: prune a copy and measure it; then also draw the panels and render the PNG."""
    split = load_split()
    val_set = (split.X_val, split.y_val)
    sparsities = [0.0, 0.25, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.97, 0.99]
    curve = accuracy_vs_sparsity(student, sparsities, eval_set=val_set)

    def preview() -> object:
        return prune_preview(student, SPARSITY, eval_set=val_set, scope="global", layer="0")

    def update() -> bytes:
        return figure_png(draw_preview(preview(), sparsities, curve))

    print("\nthe sparsity slider's update (1 thread; goal <= 0.5 s per change):")
    for label, fn in (("prune_preview (copy, prune, evaluate)", preview), ("  + draw_preview, rendered to PNG", update)):
        print(f"{label:<40} {measure(fn, num_threads=1, min_run_time=min_run_time)}")


def main(full: bool = False) -> None:
    start = time.perf_counter()
    threads_before = torch.get_num_threads()
    repeats, min_run_time = (9, 0.3) if full else (5, 0.1)
    threads = [1, 2] if full else [1]
    split = load_split()
    teacher, _ = load_teacher(split=split)
    torch.set_num_threads(1)
    student, _ = train_student(split.X_train, split.y_train,
                               teacher_logits=predict_logits(teacher, split.X_train), seed=0)
    X = torch.rand(BATCH, 64, generator=torch.Generator().manual_seed(0))  # (1024, 64)
    print(f"torch {torch.__version__}; forward passes at batch {BATCH}, {repeats} alternating repeats of "
          f"{min_run_time} s each (distill_lib.timing.speedup: > 1 means faster than dense)")
    bench_models("student 64-128-10 (distilled, seed 0)", student, X, threads, repeats, min_run_time)
    bench_models("teacher 64-256-256-10 (cached)", teacher, X, threads, repeats, min_run_time)
    if full:
        set_seed(0)
        bench_models("wide layer 64-1024-10 (random init)", mlp([64, 1024, 10]), X, threads, repeats, min_run_time)
    bench_widget(student, min_run_time=0.5 if full else 0.2)
    torch.set_num_threads(threads_before)
    print(f"\n({time.perf_counter() - start:.1f} s)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--full", action="store_true", help="two threads, a wide layer, more repeats")
    main(parser.parse_args().full)
