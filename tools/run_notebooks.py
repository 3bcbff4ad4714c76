"""Execute every notebook headless with papermill into build/ and print a timing table.

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
    if not sep:
        raise argparse.ArgumentTypeError(f"-p {text!r}: expected name=value")
    try:
        return name, ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return name, value  # a plain string


def run_all(paths: list[Path], parameters: dict) -> list[tuple[str, str, float]]:
    rows = []
    for path in paths:
        try:
            seconds, _ = execute_notebook(path, BUILD / path.name, parameters)
            rows.append((path.name, "ok", seconds))
        except Exception as err:  # report and go on with the others
            traceback.print_exception(err, limit=0, file=sys.stderr)
            rows.append((path.name, "FAILED", float("nan")))
    return rows


def print_table(rows: list[tuple[str, str, float]]) -> None:
    width = max([len("notebook")] + [len(name) for name, _, _ in rows])
    print(f"{'notebook':<{width}}  {'status':<6}  {'seconds':>7}")
    for name, status, seconds in rows:
        print(f"{name:<{width}}  {status:<6}  {seconds:>7.1f}")


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
    return 0 if all(status == "ok" for _, status, _ in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
