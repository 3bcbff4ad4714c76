"""The student release: every notebook with its reference solutions replaced by their stubs.

``make student`` (or ``python tools/release.py [--out DIR] [NN ...]``) writes ``release/``:
one copy of each notebook in ``notebooks/`` in which

- every *solution region* of a solution cell is replaced by its stub,
- every code cell's outputs and execution count are cleared,
- everything else (other cells, metadata, cell ids) is kept byte for byte.

No nbgrader installation or server is needed. The notebooks in the repository are the
instructor version, marked the way nbgrader reads them, so a lecturer who uses nbgrader
can take them as they are (``nbgrader generate_assignment`` then writes nbgrader's own
stub, ``# YOUR CODE HERE`` / ``raise NotImplementedError()``, instead of ours).

The markers, in a "Your turn" code cell::

    def my_function(x):
        ### BEGIN SOLUTION
        #> return None  # replace None with your answer
        return x + 1
        ### END SOLUTION

- ``### BEGIN SOLUTION`` / ``### END SOLUTION`` (each alone on its line) delimit the
  reference solution; the student release keeps neither the markers nor what is between them.
- Lines inside the region that start with ``#> `` (after the indentation) are the **stub**:
  the release writes them in the region's place, without the ``#> `` prefix and with their
  own indentation. A region without ``#>`` lines gets the default stub,
  ``raise NotImplementedError("...")``.
- The cell's metadata is nbgrader's (schema 3): ``{"nbgrader": {"solution": true,
  "grade": false, "locked": false, "task": false, "grade_id": "NN-your-turn-K",
  "schema_version": 3}}``. The check cell right after it is an nbgrader test cell:
  ``{"solution": false, "grade": true, "locked": true, "points": 1, "grade_id": "NN-check-K", ...}``,
  with ``assert`` messages that tell the student what to fix. ``tools/grade.py`` grades by
  these ``grade_id``s.

A solution region outside a cell marked ``solution`` is an error (as in nbgrader), so a
solution cannot leak into the release by a missing metadata key.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

__all__ = [
    "BEGIN", "END", "STUB_PREFIX", "DEFAULT_STUB", "MarkerError",
    "strip_solutions", "release_notebook", "release", "exercises",
]

ROOT = Path(__file__).resolve().parent.parent
BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"
STUB_PREFIX = "#>"
DEFAULT_STUB = 'raise NotImplementedError("write your answer here, then run the check cell below")'


class MarkerError(ValueError):
    """A notebook's solution markers are malformed (unclosed, nested, or outside a solution cell)."""


def _source(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def _set_source(cell: dict, text: str) -> None:
    """Store ``text`` the way Jupyter writes it: a list of lines, each but the last ending in a newline."""
    lines = text.split("\n")
    cell["source"] = [line + "\n" for line in lines[:-1]] + ([lines[-1]] if lines[-1] else [])


def _nbgrader(cell: dict) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def strip_solutions(source: str, where: str = "cell") -> tuple[str, int]:
    """Replace each ``### BEGIN SOLUTION`` ... ``### END SOLUTION`` region of ``source`` by its stub.

    Args:
        source: a cell's source.
        where: how to name the cell in error messages.

    Returns:
        ``(new_source, regions)``: the source with every region replaced, and how many there were.

    Raises:
        MarkerError: a region is nested in another or never closed, or an END comes without a BEGIN.

    Example::

        >>> strip_solutions("def f():\\n    ### BEGIN SOLUTION\\n    #> return None\\n    return 1\\n    ### END SOLUTION")
        ('def f():\\n    return None', 1)
    """
    out: list[str] = []
    region: list[str] | None = None
    indent = ""
    regions = 0
    for number, line in enumerate(source.split("\n"), start=1):
        marker = line.strip()
        if marker == BEGIN:
            if region is not None:
                raise MarkerError(f"{where}, line {number}: {BEGIN!r} inside another solution region")
            region, indent, regions = [], line[: line.index(BEGIN)], regions + 1
        elif marker == END:
            if region is None:
                raise MarkerError(f"{where}, line {number}: {END!r} without a {BEGIN!r} before it")
            stub = []
            for inner in region:
                body = inner.lstrip()
                if body == STUB_PREFIX or body.startswith(STUB_PREFIX + " "):
                    stub.append(inner[: len(inner) - len(body)] + body[len(STUB_PREFIX) + 1 :])
            out.extend(stub or [indent + DEFAULT_STUB])
            region = None
        elif region is not None:
            region.append(line)
        else:
            out.append(line)
    if region is not None:
        raise MarkerError(f"{where}: {BEGIN!r} is never closed by {END!r}")
    return "\n".join(out), regions


def exercises(nb: dict) -> list[dict]:
    """The nbgrader-marked cells of a notebook, in order: ``{"index", "grade_id", "solution", "grade", "points"}``."""
    found = []
    for index, cell in enumerate(nb["cells"]):
        meta = _nbgrader(cell)
        if meta.get("solution") or meta.get("grade"):
            found.append({"index": index, "grade_id": meta.get("grade_id"), "solution": bool(meta.get("solution")),
                          "grade": bool(meta.get("grade")), "points": meta.get("points", 0)})
    return found


def release_notebook(text: str, name: str = "notebook") -> tuple[str, int]:
    """The student version of one notebook, given and returned as the ``.ipynb`` file's text.

    Args:
        text: the instructor notebook's JSON text.
        name: the notebook's name, for error messages.

    Returns:
        ``(student_text, regions)``: the release's JSON text (written like Jupyter writes it:
        one-space indent, non-ASCII kept, a final newline) and the number of solution regions removed.

    Raises:
        MarkerError: malformed markers, or a region outside a cell marked ``"solution": true``.
    """
    nb = json.loads(text)
    regions = 0
    for index, cell in enumerate(nb["cells"]):
        where = f"{name} cell {index}"
        new, count = strip_solutions(_source(cell), where)
        if count and not _nbgrader(cell).get("solution"):
            raise MarkerError(f"{where}: a solution region in a cell whose metadata is not nbgrader "
                              '"solution": true (mark the cell, or the solution would be graded as a test)')
        if _nbgrader(cell).get("solution") and not count:  # a whole-cell solution, as nbgrader treats it
            new, count = (DEFAULT_STUB if cell["cell_type"] == "code" else "YOUR ANSWER HERE"), 1
        if count:
            _set_source(cell, new)
            regions += count
        if cell["cell_type"] == "code":
            cell["outputs"], cell["execution_count"] = [], None
    return json.dumps(nb, indent=1, ensure_ascii=False) + "\n", regions


def release(out: str | Path = ROOT / "release", source: str | Path = ROOT / "notebooks",
            only: list[str] | None = None) -> list[tuple[Path, int]]:
    """Write the student release of the notebooks in ``source`` to ``out``.

    Args:
        out: the folder to write (created; existing notebooks of the same name are replaced).
        source: the folder of instructor notebooks (``NN_topic.ipynb``).
        only: notebook numbers or names to release (``["02", "05_pruning"]``); all when ``None``.

    Returns:
        ``[(path, regions), ...]``: each notebook written and how many solutions it had.

    Raises:
        FileNotFoundError: ``source`` holds no notebook (or none matching ``only``).
        ValueError: ``out`` is ``source`` (the instructor version would be overwritten).
        MarkerError: malformed markers in a notebook (nothing is written then).
    """
    source, out = Path(source), Path(out)
    if source.resolve() == out.resolve():
        raise ValueError(f"release: out={str(out)!r} is the source folder; the instructor notebooks would be lost")
    paths = sorted(source.glob("[0-9][0-9]_*.ipynb"))
    if only:
        paths = [p for p in paths if any(p.stem == o or p.stem.startswith(f"{o}_") for o in only)]
    if not paths:
        raise FileNotFoundError(f"release: no notebook NN_topic.ipynb in {str(source)!r}"
                                + (f" matching {only}" if only else ""))
    made = [(out / p.name, *release_notebook(p.read_text(encoding="utf-8"), p.name)) for p in paths]
    out.mkdir(parents=True, exist_ok=True)
    for path, text, _ in made:  # written only once every notebook converted
        path.write_text(text, encoding="utf-8")
    return [(path, regions) for path, _, regions in made]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write the student release (solutions replaced by stubs).")
    parser.add_argument("notebooks", nargs="*", help="notebook numbers or names (default: all)")
    parser.add_argument("--out", default=str(ROOT / "release"), help="output folder (default: release/)")
    parser.add_argument("--source", default=str(ROOT / "notebooks"), help="instructor notebooks (default: notebooks/)")
    args = parser.parse_args(argv)
    try:
        written = release(args.out, args.source, args.notebooks or None)
    except (MarkerError, FileNotFoundError, ValueError) as error:
        print(f"release: {error}", file=sys.stderr)
        return 1
    for path, regions in written:
        print(f"{path}  ({regions} solution{'s' if regions != 1 else ''} replaced by stubs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
