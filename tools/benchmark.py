"""Benchmarks: figures printed, never asserted (these machines are shared and noisy).

Prints
1. each notebook's execution time (papermill, default parameters);
2. the overhead of ``distill_lib.training.fit`` against a bare hand-written
   PyTorch loop doing the same full-batch Adam steps, as a ratio of medians
   measured alternately in one process (goal: <= 1.2x);
3. every ``tools/bench_*.py`` module's ``main()``: benchmarks that later
   notebooks add (widget latency, model sizes, speed-ups).

Usage: ``python tools/benchmark.py [--skip-notebooks] [--repeats N]``
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from distill_lib.data import load_split
from distill_lib.models import mlp
from distill_lib.training import fit, set_seed

TOOLS = Path(__file__).resolve().parent
sys.path.insert(0, str(TOOLS))
from run_notebooks import notebooks, print_table, run_all  # noqa: E402


def bare_loop(model, X, y, epochs, lr):
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for _ in range(epochs):
        optimizer.zero_grad(set_to_none=True)
        F.cross_entropy(model(X), y).backward()
        optimizer.step()
    model.eval()


def fit_overhead(repeats: int, epochs: int = 200) -> None:
    split = load_split()
    X, y = split.X_train, split.y_train
    print(f"\nfit() vs a bare PyTorch loop: {epochs} full-batch Adam steps on {tuple(X.shape)}, "
          f"{repeats} alternating repeats, torch threads={torch.get_num_threads()}")
    print(f"{'model':<18} {'bare ms/step':>12} {'fit ms/step':>12} {'ratio (median)':>15} {'ratio min-max':>14}")
    for sizes in ([64, 32, 10], [64, 256, 256, 10]):
        bare_times, fit_times, ratios = [], [], []
        for r in range(repeats + 1):  # the first round is a warm-up
            set_seed(r)
            model = mlp(sizes)
            start = time.perf_counter()
            bare_loop(model, X, y, epochs, 1e-2)
            bare = time.perf_counter() - start
            set_seed(r)
            model = mlp(sizes)
            start = time.perf_counter()
            fit(model, X, y, epochs=epochs, lr=1e-2, progress=False)
            ours = time.perf_counter() - start
            if r:
                bare_times.append(bare)
                fit_times.append(ours)
                ratios.append(ours / bare)
        name = "-".join(map(str, sizes))
        print(f"{name:<18} {1e3 * statistics.median(bare_times) / epochs:>12.3f} "
              f"{1e3 * statistics.median(fit_times) / epochs:>12.3f} {statistics.median(ratios):>14.3f}x "
              f"{min(ratios):>6.2f}-{max(ratios):.2f}x")
    print("goal: ratio <= 1.2x")


def extra_benchmarks() -> None:
    for path in sorted(TOOLS.glob("bench_*.py")):
        spec = importlib.util.spec_from_file_location(path.stem, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        print(f"\n== {path.stem} ==")
        module.main()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--skip-notebooks", action="store_true", help="skip timing the notebooks")
    parser.add_argument("--repeats", type=int, default=7, help="alternating repeats for the fit() overhead")
    args = parser.parse_args()
    if not args.skip_notebooks:
        print("Notebook execution (papermill, default parameters):")
        print_table(run_all(notebooks([]), {}))
    fit_overhead(args.repeats)
    extra_benchmarks()
    return 0


if __name__ == "__main__":
    sys.exit(main())
