"""Execute every notebook headless with papermill into build/ and print a timing table.

The table gives each run's wall seconds and the kernel's CPU seconds (user + sys): on a shared
machine the wall time grows with the other processes' load, the CPU time much less.

Usage::

    python tools/run_notebooks.py                       # all notebooks, default parameters
    python tools/run_notebooks.py 02 03                 # only notebooks whose name starts so
    python tools/run_notebooks.py -p seed=1             # inject a parameter into every notebook

Exits non-zero if any notebook fails. The executed copies land in build/, which ``make lab``
shows next to notebooks/ (it serves the whole repository).
"""

from __future__ import annotations

import argparse
import ast
import resource
import sys
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as `python tools/run_notebooks.py`: make `tools` importable
    sys.path.insert(0, str(ROOT))

from tools.notebook_runner import execute_notebook  # noqa: E402

NOTEBOOKS = ROOT / "notebooks"
BUILD = ROOT / "build"


def notebooks(prefixes: list[str]) -> list[Path]:
    paths = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    return [p for p in paths if not prefixes or any(p.name.startswith(x) for x in prefixes)]


def parse_parameter(text: str) -> tuple[str, object]:
    name, sep, value = text.partition("=")
    if not sep or not name.isidentifier():
        raise argparse.ArgumentTypeError(f"-p {text!r}: expected name=value, the name a Python identifier")
    try:
        return name, ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return name, value  # a plain string


def run_one(path: Path, parameters: dict) -> tuple[float, float]:
    """Execute ``path`` into build/; returns ``(wall seconds, the kernel's CPU seconds)``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)  # the kernel is a child of this process
    seconds, _ = execute_notebook(path, BUILD / path.name, parameters)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)  # counted once the kernel has exited
    return seconds, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def run_all(paths: list[Path], parameters: dict) -> list[tuple[str, str, float, float]]:
    """Run every notebook (a failure is reported and the others still run): ``(name, status, wall, cpu)`` rows."""
    rows = []
    for path in paths:
        try:
            rows.append((path.name, "ok", *run_one(path, parameters)))
        except Exception as err:  # report and go on with the others
            traceback.print_exception(err, limit=0, file=sys.stderr)
            rows.append((path.name, "FAILED", float("nan"), float("nan")))
    return rows


def print_table(rows: list[tuple[str, str, float, float]]) -> None:
    width = max([len("notebook")] + [len(name) for name, *_ in rows])
    print(f"{'notebook':<{width}}  {'status':<6}  {'seconds':>7}  {'CPU s':>7}")
    for name, status, seconds, cpu in rows:
        print(f"{name:<{width}}  {status:<6}  {seconds:>7.1f}  {cpu:>7.1f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("prefixes", nargs="*", help="run only notebooks whose file name starts with one of these")
    parser.add_argument("-p", "--parameter", action="append", type=parse_parameter, default=[], metavar="NAME=VALUE")
    args = parser.parse_args()
    paths = notebooks(args.prefixes)
    if not paths:
        print(f"no notebook matches {args.prefixes}", file=sys.stderr)
        return 2
    rows = run_all(paths, dict(args.parameter))
    print_table(rows)
    print(f"executed copies are in {BUILD.relative_to(ROOT)}/ (in `make lab`, the build folder next to notebooks/)")
    return 0 if all(status == "ok" for _, status, *_ in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
