"""Every notebook follows the workbook's skeleton and the committed-outputs policy.

Policy: notebooks are committed *without* outputs (clean diffs, no stale
numbers). Executed copies are produced by `make run` into build/ and by the
test suite; nbval runs them in `--nbval-lax` mode (errors fail, outputs are not
compared, because they include timings and plots).
"""

import importlib
import json
import pkgutil
import re
from pathlib import Path

import pytest

import distill_lib

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
SAVED = re.compile(r"^# Saved in distill_lib/")
SECTIONS = ["## Goals", "## Setup", "## Your turn", "## Summary", "## Exercises", "## Further reading"]
LIBRARY_MODULES = [
    importlib.import_module(f"distill_lib.{info.name}")
    for info in pkgutil.iter_modules(distill_lib.__path__)
    if not info.name.startswith("_")
]
LIBRARY_NAMES = {name for module in LIBRARY_MODULES for name in getattr(module, "__all__", [])}


def test_every_module_declares_its_public_names():
    assert len(LIBRARY_MODULES) >= 6
    for module in LIBRARY_MODULES:
        assert module.__all__, f"{module.__name__} has no __all__"


def load(path):
    return json.loads(path.read_text(encoding="utf-8"))


def test_there_are_notebooks():
    assert NOTEBOOKS, "no notebooks/NN_topic.ipynb found"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_without_outputs(path):
    for i, cell in enumerate(load(path)["cells"]):
        if cell["cell_type"] == "code":
            assert not cell["outputs"], f"{path.name} cell {i} has outputs: clear them before committing"
            assert cell["execution_count"] is None, f"{path.name} cell {i} has an execution count"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_skeleton(path):
    nb = load(path)
    cells = nb["cells"]
    assert cells[0]["cell_type"] == "markdown" and "".join(cells[0]["source"]).startswith("# "), "title first"
    markdown = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    positions = [markdown.find(s) for s in SECTIONS]
    assert all(p >= 0 for p in positions), f"{path.name} lacks {[s for s, p in zip(SECTIONS, positions) if p < 0]}"
    assert positions == sorted(positions), f"{path.name}: sections out of order"
    tagged = [c for c in cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, f"{path.name} needs exactly one cell tagged 'parameters'"
    assert nb["metadata"]["kernelspec"]["name"] == "python3"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_calls_the_library_and_checks_exercises(path):
    code = ["".join(c["source"]) for c in load(path)["cells"] if c["cell_type"] == "code"]
    joined = "\n".join(code)
    assert "from distill_lib" in joined or "import distill_lib" in joined
    # A library name may be defined only in a cell that shows the library's own code
    # ("# Saved in distill_lib/...", kept identical by tests/test_shown_code.py).
    unsaved = "\n".join(c for c in code if not SAVED.match(c))
    redefined = set(re.findall(r"^\s*(?:def|class) (\w+)", unsaved, flags=re.M)) & LIBRARY_NAMES
    assert not redefined, (
        f"{path.name} redefines library names {redefined} outside a '# Saved in distill_lib/...' cell: "
        "import them, or show the library's code in a saved cell"
    )


# nbgrader's cell metadata, schema 3 (nbgrader/nbgraderformat/v3.json): these keys only.
NBGRADER_KEYS = {"schema_version", "grade", "locked", "solution", "task", "grade_id", "points", "checksum", "cell_type"}
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"


def nbgrader(cell):
    return cell.get("metadata", {}).get("nbgrader")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_exercises_are_marked_for_nbgrader(path):
    """Each "Your turn" cell is an nbgrader solution cell, followed by a locked, asserting check cell."""
    cells = load(path)["cells"]
    number = path.name[:2]
    solutions = [i for i, c in enumerate(cells) if (nbgrader(c) or {}).get("solution")]
    assert solutions, f"{path.name}: no 'Your turn' cell marked as an nbgrader solution cell"
    ids = []
    for k, i in enumerate(solutions, start=1):
        turn, check = cells[i], cells[i + 1] if i + 1 < len(cells) else {}
        assert turn["cell_type"] == "code"
        assert nbgrader(turn) == {"solution": True, "grade": False, "locked": False, "task": False,
                                  "grade_id": f"{number}-your-turn-{k}", "schema_version": 3}, (path.name, i)
        assert nbgrader(check) == {"solution": False, "grade": True, "locked": True, "task": False, "points": 1,
                                   "grade_id": f"{number}-check-{k}", "schema_version": 3}, (
            f"{path.name}: the cell after 'Your turn' cell {i} must be its check cell")
        assert "assert " in "".join(check["source"]), f"{path.name}: check cell {i + 1} does not assert"
        ids += [nbgrader(turn)["grade_id"], nbgrader(check)["grade_id"]]
    assert len(ids) == len(set(ids))
    for i, cell in enumerate(cells):
        meta = nbgrader(cell)
        if meta is not None:  # what nbgrader's validator checks
            assert set(meta) <= NBGRADER_KEYS and {"schema_version", "grade", "locked", "solution"} <= set(meta), (path.name, i)
            assert re.fullmatch(r"[a-zA-Z0-9_\-]+", meta.get("grade_id", "")), (path.name, i)
            assert ("points" in meta) == meta["grade"], (path.name, i)
        lines = [line.strip() for line in "".join(cell["source"]).split("\n")]
        begins, ends = lines.count(BEGIN), lines.count(END)
        assert begins == ends, f"{path.name} cell {i}: {begins} BEGIN SOLUTION but {ends} END SOLUTION"
        if begins:
            assert (meta or {}).get("solution"), f"{path.name} cell {i}: a solution region outside a solution cell"
            region = lines[lines.index(BEGIN) + 1 : lines.index(END)]
            assert any(line.startswith("#> ") for line in region), (
                f"{path.name} cell {i}: the solution region has no '#> ' stub line for the student release")
        assert "hidden" not in cell.get("metadata", {}).get("tags", []), (
            f"{path.name} cell {i}: hidden reference solutions are gone; put the solution between the markers")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_each_notebook_has_a_papermill_test(path):
    assert (ROOT / "tests" / f"test_nb{path.stem}.py").exists(), f"add tests/test_nb{path.stem}.py"
