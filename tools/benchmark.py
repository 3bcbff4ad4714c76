"""Benchmarks: the workbook's speed figures, each with its spread; nothing is asserted.

**The convention, once**: a speed *ratio* is ``baseline time / candidate time``, so a ratio
above 1 means the candidate is faster (``distill_lib.timing``). Every figure is measured
several times and printed as ``median (min-max over n)``. A figure whose repeats span more than
a factor of 2 (``max / min > 2``, the rule the bench modules use too) says nothing on this
machine at this moment: it is printed as *dropped*, with its range, instead of as a number.

Default (``make benchmark``, one to two minutes on two shared cores; the budget is 3):

1. ``fit()`` against a bare PyTorch loop doing the same full-batch Adam steps
   (``distill_lib.timing.speedup``, one thread; goal: ``fit()`` at most 20 % slower, a ratio >= 0.83);
2. every ``tools/bench_nbNN.py``: ``main(full=False)``, the notebooks' own speed figures
   (each a default budget of 30 s; a missing module or one that fails is reported and skipped).

``--full`` (``make benchmark FULL=1``, 10 to 15 minutes) adds each notebook's execution time
(papermill, default parameters, three runs: wall seconds and the kernel's CPU seconds, which the
other processes on a shared machine inflate much less), more repeats for ``fit()``, and
``main(full=True)`` of every bench module.

Usage::

    python tools/benchmark.py                 # the default run
    python tools/benchmark.py --full          # the long run
    python tools/benchmark.py --only fit nb04 # some parts: fit, notebooks, nbNN
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import os
import statistics
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOOLS = ROOT / "tools"
if str(ROOT) not in sys.path:  # run as `python tools/benchmark.py`: make `tools` importable
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("DISTILL_LIB_QUIET", "1")  # no progress bars (the notebook kernels inherit it)
os.environ.setdefault("MPLBACKEND", "Agg")  # bench modules may draw; no window

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from distill_lib.data import load_split  # noqa: E402
from distill_lib.models import mlp  # noqa: E402
from distill_lib.timing import MAX_SPREAD, speedup  # noqa: E402
from distill_lib.training import fit, set_seed  # noqa: E402

DEFAULT_BENCH_BUDGET = 30.0  # seconds a bench module's default run may take
# what the README promises
EXPECTED_BENCHES = ("bench_nb02", "bench_nb03", "bench_nb04", "bench_nb05", "bench_nb06", "bench_nb09", "bench_nb10", "bench_browser")
NOTEBOOK_RUNS = 3  # executions per notebook with --full


@dataclass(frozen=True)
class Figure:
    """One measured quantity over repeats: its median, min and max, in ``unit``."""

    name: str
    values: tuple[float, ...]
    unit: str = "s"

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    @property
    def spread(self) -> float:
        """``max / min``: 1.1 means the slowest repeat took 10 % longer than the fastest."""
        return max(self.values) / min(self.values) if min(self.values) > 0 else float("inf")

    @property
    def meaningful(self) -> bool:
        return len(self.values) >= 2 and self.spread <= MAX_SPREAD

    def __str__(self) -> str:
        n, low, high = len(self.values), min(self.values), max(self.values)
        if not self.meaningful:
            why = "a single run" if n < 2 else f"repeats span a factor of {self.spread:.1f}, more than {MAX_SPREAD:g}"
            return f"{self.name:<34} dropped ({why}: {_fmt(low, self.unit)} to {_fmt(high, self.unit)})"
        return (f"{self.name:<34} {_fmt(self.median, self.unit):>9}  "
                f"({_fmt(low, self.unit)}-{_fmt(high, self.unit)} over {n})")


def _fmt(x: float, unit: str) -> str:
    number = f"{x:.3g}" if abs(x) < 100 else f"{x:.0f}"
    return number + unit if unit == "x" else f"{number} {unit}"


def machine() -> str:
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"
    return (f"torch {torch.__version__}, {os.cpu_count()} CPU(s), load average {load} "
            f"(1, 5, 15 min; above the core count, figures are inflated)")


# --- 1. notebooks (--full only) -------------------------------------------------------------


def time_notebooks(runs: int) -> list[Figure]:
    """Execute every notebook ``runs`` times; wall seconds and the kernel's CPU seconds (user + sys)."""
    from tools.run_notebooks import notebooks, run_one

    figures = []
    print(f"\n== notebooks: papermill, default parameters, {runs} runs each (a wait of minutes) ==")
    for path in notebooks([]):
        walls, cpus = [], []
        for _ in range(runs):
            try:
                wall, cpu = run_one(path, {})
            except Exception as err:  # report and go on with the others
                print(f"{path.stem}: FAILED ({type(err).__name__}: {(str(err).splitlines() or [''])[0][:200]})")
                break
            walls.append(wall)
            cpus.append(cpu)
        if walls:
            for figure in (Figure(f"{path.stem} wall", tuple(walls)), Figure(f"{path.stem} kernel CPU", tuple(cpus))):
                print(figure)
                figures.append(figure)
    print("goal: <= 60 s wall on two idle cores per notebook")
    return figures


# --- 2. fit() against a bare loop -----------------------------------------------------------


def bare_loop(model: torch.nn.Module, X: torch.Tensor, targets: torch.Tensor, epochs: int, lr: float) -> None:
    """What ``fit`` does at its core, written out: full-batch Adam steps on cross-entropy."""
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for _ in range(epochs):
        optimizer.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(X), targets)
        loss.backward()
        optimizer.step()
        loss.item()  # fit() reads every step's loss too
    model.eval()


def fit_overhead(full: bool) -> list[Figure]:
    """``speedup(bare loop, fit)`` for a small and a large MLP, one thread."""
    repeats, min_run_time, epochs = (11, 1.0, 20) if full else (7, 0.5, 20)
    split = load_split()
    X, targets = split.X_train, split.y_train
    print(f"\n== fit() against a bare PyTorch loop: {epochs} full-batch Adam steps per call on {tuple(X.shape)}, "
          f"{repeats} alternating repeats, 1 thread ==")
    print("ratio = bare loop time / fit() time (> 1: fit() is faster); goal >= 0.83, i.e. fit() at most 20 % slower")
    figures = []
    for sizes in ([64, 32, 10], [64, 256, 256, 10]):
        name = "-".join(map(str, sizes))
        set_seed(0)
        model_bare, model_fit = mlp(sizes), mlp(sizes)
        result = speedup(
            lambda: bare_loop(model_bare, X, targets, epochs, 1e-3),
            lambda: fit(model_fit, X, targets, epochs=epochs, lr=1e-3, progress=False),
            num_threads=1, repeats=repeats, min_run_time=min_run_time,
        )
        figure = Figure(f"fit() ratio, MLP {name}", result.ratios, unit="x")
        print(f"{figure}   [bare {1e3 * result.baseline / epochs:.3f} ms/step, "
              f"fit() {1e3 * result.candidate / epochs:.3f} ms/step]")
        figures.append(figure)
    return figures


# --- 3. the notebooks' bench modules --------------------------------------------------------


def bench_names() -> list[str]:
    return sorted(p.stem for p in TOOLS.glob("bench_nb[0-9][0-9].py"))


def run_bench(name: str, full: bool) -> str:
    """Import ``tools/<name>.py`` and call its ``main(full=...)``; returns "ok", "missing", "skipped" or "FAILED"."""
    print(f"\n== {name}: main(full={full}) ==", flush=True)
    if not (TOOLS / f"{name}.py").exists():
        print(f"tools/{name}.py is missing: skipped")
        return "missing"
    threads = torch.get_num_threads()
    start = time.perf_counter()
    try:
        module = importlib.import_module(f"tools.{name}")
        main = getattr(module, "main", None)
        if main is None or "full" not in inspect.signature(main).parameters:
            print(f"tools/{name}.py has no main(full: bool = False) yet: skipped")
            return "skipped"
        main(full=full)
    except (Exception, SystemExit) as err:  # one broken bench must not stop the others
        traceback.print_exception(err, limit=-3, file=sys.stdout)
        print(f"{name}: FAILED after {time.perf_counter() - start:.0f} s")
        return "FAILED"
    finally:
        torch.set_num_threads(threads)  # a bench may have changed it
        sys.stdout.flush()
    seconds = time.perf_counter() - start
    over = "" if full or seconds <= DEFAULT_BENCH_BUDGET else f": over its {DEFAULT_BENCH_BUDGET:.0f} s budget"
    print(f"({name} took {seconds:.0f} s{over})")
    return "ok"


# --- main -----------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--full", action="store_true", help="the long run: notebook times, more repeats, main(full=True)")
    parser.add_argument("--only", nargs="+", metavar="PART", default=None,
                        help="run only these parts: fit, notebooks, nbNN (e.g. nb04)")
    args = parser.parse_args(argv)
    benches = sorted(set(bench_names()) | set(EXPECTED_BENCHES))
    every_part = ["notebooks", "fit"] + [b.removeprefix("bench_") for b in benches]
    if args.only is None:
        # Notebook times and the widgets' latency in a real browser (a few minutes of running
        # notebooks in JupyterLab) only in the long run: the default stays under ~3 minutes.
        parts = every_part if args.full else [p for p in every_part[1:] if p != "browser"]
    else:
        unknown = sorted(set(args.only) - set(every_part))
        if unknown:
            parser.error(f"--only {' '.join(unknown)}: choose from {', '.join(every_part)}")
        parts = [p for p in every_part if p in args.only]

    start = time.perf_counter()
    print(f"benchmark ({'full' if args.full else 'default'} run): {machine()}")
    if "notebooks" in parts:
        time_notebooks(NOTEBOOK_RUNS)
    if "fit" in parts:
        fit_overhead(args.full)
    statuses = {b: run_bench(b, args.full) for b in benches if b.removeprefix("bench_") in parts}
    if "browser" not in parts:
        print("\n== browser: the widgets' slider-to-picture latency in JupyterLab runs with FULL=1 "
              "(or: make browser-test, or python tools/benchmark.py --only browser) ==")

    print(f"\nbenchmark done in {time.perf_counter() - start:.0f} s; {machine()}")
    if statuses:
        print("bench modules: " + ", ".join(f"{b.removeprefix('bench_')} {s}" for b, s in statuses.items()))
    return 1 if "FAILED" in statuses.values() else 0


if __name__ == "__main__":
    sys.exit(main())
