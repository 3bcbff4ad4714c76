"""The code a notebook shows is the library's code: find, check and sync "saved" cells.

A code cell whose first line is ``# Saved in distill_lib/<path>.py`` shows library code:
every top-level ``def`` and ``class`` in it must be identical, character for character,
to the library's source of the same name in that file (what ``inspect.getsource``
returns, decorators and docstring included). Other statements in the cell (imports,
a call that uses the function) are not compared.

Usage::

    python tools/shown_code.py            # check every notebook, exit 1 on a mismatch
    python tools/shown_code.py --sync     # rewrite the cells' definitions from the library

``tests/test_shown_code.py`` runs the check. Edit the library, then ``--sync``; or edit a
cell, then copy the definition into the library.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import inspect
import json
import re
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
MARKER = re.compile(r"^# Saved in (distill_lib/[\w/]+\.py)\b")


@dataclass
class Shown:
    """One definition shown in a notebook cell."""

    notebook: str
    cell: int
    file: str  # distill_lib/....py
    name: str
    start: int  # 0-based first line (decorators included) within the cell
    end: int  # 0-based line after the definition
    source: str  # the definition's text in the cell

    def library_source(self) -> str:
        """The library's source of ``name`` in ``file`` (raises if it is not there)."""
        module_name = self.file[: -len(".py")].replace("/", ".").removesuffix(".__init__")
        module = importlib.import_module(module_name)
        if not hasattr(module, self.name):
            raise LookupError(f"{self.file} defines no {self.name!r}")
        obj = inspect.unwrap(getattr(module, self.name))
        where = Path(inspect.getsourcefile(obj)).resolve()
        if where != (ROOT / self.file).resolve():
            raise LookupError(f"{self.name!r} in {module_name} is defined in {where}, not in {self.file}")
        return textwrap.dedent(inspect.getsource(obj)).rstrip()


def saved_cells(path: Path) -> list[tuple[int, str, str]]:
    """``(cell index, library file, source)`` of every saved cell of a notebook."""
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    out = []
    for i, cell in enumerate(cells):
        source = "".join(cell["source"])
        match = MARKER.match(source)
        if cell["cell_type"] == "code" and match:
            out.append((i, match.group(1), source))
    return out


def definitions(notebook: str, cell: int, file: str, source: str) -> list[Shown]:
    """The top-level definitions of one saved cell."""
    lines = source.splitlines()
    tree = ast.parse(source)
    shown = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            start = min([node.lineno] + [d.lineno for d in node.decorator_list]) - 1
            text = "\n".join(lines[start : node.end_lineno]).rstrip()
            shown.append(Shown(notebook, cell, file, node.name, start, node.end_lineno, text))
    return shown


def all_shown(notebooks: list[Path] | None = None) -> list[Shown]:
    """Every definition shown in every notebook."""
    found = []
    for path in notebooks or sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")):
        for cell, file, source in saved_cells(path):
            found += definitions(path.name, cell, file, source)
    return found


def mismatches(notebooks: list[Path] | None = None) -> list[str]:
    """One message per shown definition that differs from the library (empty: all identical)."""
    problems = []
    for shown in all_shown(notebooks):
        try:
            library = shown.library_source()
        except (ImportError, LookupError, OSError, TypeError) as error:
            problems.append(f"{shown.notebook} cell {shown.cell}: {shown.name}: {error}")
            continue
        if library != shown.source:
            problems.append(
                f"{shown.notebook} cell {shown.cell}: {shown.name} differs from {shown.file} "
                "(run `python tools/shown_code.py --sync` after editing the library)"
            )
    return problems


def sync(notebooks: list[Path] | None = None) -> int:
    """Rewrite every shown definition from the library; returns how many changed."""
    changed = 0
    for path in notebooks or sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")):
        nb = json.loads(path.read_text(encoding="utf-8"))
        dirty = False
        for cell_index, file, source in saved_cells(path):
            lines = source.splitlines()
            # Replace from the last definition up, so earlier line numbers stay valid.
            for shown in reversed(definitions(path.name, cell_index, file, source)):
                library = shown.library_source()
                if library != shown.source:
                    lines[shown.start : shown.end] = library.splitlines()
                    changed += 1
                    dirty = True
            new = "\n".join(lines)
            nb["cells"][cell_index]["source"] = new.splitlines(keepends=True)
        if dirty:
            path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return changed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sync", action="store_true", help="rewrite the cells from the library")
    args = parser.parse_args()
    if args.sync:
        print(f"{sync()} definition(s) rewritten from the library")
        return 0
    problems = mismatches()
    print("\n".join(problems) or f"{len(all_shown())} shown definitions, all identical to the library")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
