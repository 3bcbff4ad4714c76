"""The student release (tools/release.py, `make student`): no reference solution, everything else unchanged,
and the untouched release runs top to bottom with errors only in the check cells."""

import json
from pathlib import Path

import pytest

from tools.grade import grade
from tools.release import BEGIN, DEFAULT_STUB, END, MarkerError, main, release, release_notebook, strip_solutions

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def nbgrader(cell):
    return cell.get("metadata", {}).get("nbgrader", {})


def source(cell):
    return "".join(cell["source"])


def solution_lines(text):
    """The reference solution's lines (inside the markers, not the stub), stripped."""
    lines, inside, found = text.split("\n"), False, []
    for line in lines:
        if line.strip() == BEGIN:
            inside = True
        elif line.strip() == END:
            inside = False
        elif inside and line.strip() and not line.strip().startswith("#>"):
            found.append(line.strip())
    return found


# ---- strip_solutions: the markers ------------------------------------------------------------

def test_the_stub_replaces_the_region_with_its_indentation():
    text = "def f(x):\n    ### BEGIN SOLUTION\n    #> return None  # yours\n    y = x + 1\n    return y\n    ### END SOLUTION\nf(1)"
    assert strip_solutions(text) == ("def f(x):\n    return None  # yours\nf(1)", 1)


def test_stub_lines_keep_their_own_indentation_and_blank_stub_lines():
    text = "### BEGIN SOLUTION\n#> for i in range(3):\n#>     pass\n#>\nx = 1\n### END SOLUTION"
    assert strip_solutions(text) == ("for i in range(3):\n    pass\n", 1)


def test_a_region_without_stub_gets_the_default_stub():
    text = "def f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION\n\n### BEGIN SOLUTION\nz = 2\n### END SOLUTION"
    new, regions = strip_solutions(text)
    assert regions == 2
    assert new == f"def f():\n    {DEFAULT_STUB}\n\n{DEFAULT_STUB}"


@pytest.mark.parametrize("text, match", [
    ("### BEGIN SOLUTION\nx = 1", "never closed"),
    ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION\n### END SOLUTION", "inside another"),
    ("x = 1\n### END SOLUTION", "without"),
])
def test_malformed_markers_raise(text, match):
    with pytest.raises(MarkerError, match=match):
        strip_solutions(text, "nb cell 3")


def tiny_notebook(cells):
    return json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}, indent=1) + "\n"


def test_a_region_outside_a_solution_cell_is_refused():
    text = tiny_notebook([{"cell_type": "code", "id": "a", "metadata": {}, "outputs": [], "execution_count": None,
                           "source": ["x = 1\n", "### BEGIN SOLUTION\n", "y = 2\n", "### END SOLUTION"]}])
    with pytest.raises(MarkerError, match="not nbgrader"):
        release_notebook(text, "x.ipynb")


def test_a_solution_cell_without_markers_is_replaced_whole_and_outputs_are_cleared():
    meta = {"nbgrader": {"solution": True, "grade": False, "locked": False, "grade_id": "a", "schema_version": 3}}
    text = tiny_notebook([
        {"cell_type": "code", "id": "a", "metadata": meta, "execution_count": 3, "source": ["secret = 42"],
         "outputs": [{"output_type": "stream", "name": "stdout", "text": ["42"]}]},
        {"cell_type": "code", "id": "b", "metadata": {}, "execution_count": 4, "source": ["print(1)"],
         "outputs": [{"output_type": "stream", "name": "stdout", "text": ["1"]}]},
    ])
    new, regions = release_notebook(text)
    cells = json.loads(new)["cells"]
    assert regions == 1 and source(cells[0]) == DEFAULT_STUB and "42" not in new
    assert cells[1]["outputs"] == [] and cells[1]["execution_count"] is None and source(cells[1]) == "print(1)"


def test_release_refuses_to_overwrite_the_source_and_an_empty_folder(tmp_path):
    with pytest.raises(ValueError, match="source folder"):
        release(ROOT / "notebooks", ROOT / "notebooks")
    with pytest.raises(FileNotFoundError, match="no notebook"):
        release(tmp_path / "out", tmp_path)
    assert main(["--out", str(tmp_path / "out"), "--source", str(tmp_path)]) == 1


# ---- the workbook's release -------------------------------------------------------------------

@pytest.fixture(scope="module")
def released(tmp_path_factory):
    out = tmp_path_factory.mktemp("release")
    assert main(["--out", str(out)]) == 0
    return out


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_release_holds_no_reference_solution(released, path):
    instructor = json.loads(path.read_text(encoding="utf-8"))
    text = (released / path.name).read_text(encoding="utf-8")
    student = json.loads(text)
    assert "BEGIN SOLUTION" not in text and "END SOLUTION" not in text
    assert len(student["cells"]) == len(instructor["cells"])
    other_lines = {line.strip() for c in instructor["cells"] if not nbgrader(c).get("solution")
                   for line in source(c).split("\n")}
    for before, after in zip(instructor["cells"], student["cells"]):
        if not nbgrader(before).get("solution"):
            continue
        lines = solution_lines(source(before))
        assert lines, "a solution cell with an empty solution"
        kept = [line for line in source(after).split("\n")]
        assert not any(line.strip().startswith("#>") for line in kept)
        assert not set(lines) & {line.strip() for line in kept}, "a line of the reference solution is in the release"
        for line in set(lines) - other_lines:  # lines the notebook shows nowhere else
            assert line not in text, f"{line!r} leaked into the release"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_other_cell_and_the_metadata_are_unchanged(released, path):
    text = path.read_text(encoding="utf-8")
    instructor, student = json.loads(text), json.loads((released / path.name).read_text(encoding="utf-8"))
    assert json.dumps(instructor, indent=1, ensure_ascii=False) + "\n" == text, "not written as Jupyter writes it"
    assert student["metadata"] == instructor["metadata"]
    assert [c["id"] for c in student["cells"]] == [c["id"] for c in instructor["cells"]]
    for before, after in zip(instructor["cells"], student["cells"]):
        if nbgrader(before).get("solution"):
            assert after["metadata"] == before["metadata"] and source(after) != source(before)
        else:
            assert after == before
    for i, cell in enumerate(instructor["cells"]):  # and byte for byte: only the solutions' sources differ
        if nbgrader(cell).get("solution"):
            cell["source"] = student["cells"][i]["source"]
    assert (released / path.name).read_text(encoding="utf-8") == json.dumps(instructor, indent=1, ensure_ascii=False) + "\n"


def test_make_student_writes_every_notebook(released):
    assert sorted(p.name for p in released.glob("*.ipynb")) == [p.name for p in NOTEBOOKS]


# ---- the untouched release runs, failing only in its check cells -------------------------------

def small_parameters():
    """The small parameters each notebook's papermill test uses (00 at its defaults: no teacher retraining)."""
    import importlib

    small = {"00": {}, "01": dict(n_seeds=2, epochs=150, n_profiles=2), "02": dict(n_temperatures=9, student_epochs=100)}
    for path in NOTEBOOKS:
        number = path.name[:2]
        if number not in small:
            module = importlib.import_module(f"tests.test_nb{path.stem}")
            small[number] = dict(getattr(module, "SMALL", {}))
    return small


@pytest.mark.notebook
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_untouched_release_fails_only_in_check_cells(released, path, tmp_path):
    submissions = tmp_path / "submissions" / "untouched"
    submissions.mkdir(parents=True)
    (submissions / path.name).write_bytes((released / path.name).read_bytes())
    [result] = grade(submissions.parent, tmp_path / "grades", parameters=small_parameters()[path.name[:2]],
                     timeout=240, echo=False)
    assert result.status == "ok", (result.status, result.detail)
    assert not result.other_errors, result.other_errors  # no error outside the check cells
    assert result.exercises and all(e.result == "fail" and e.message for e in result.exercises), result.exercises
    executed = json.loads(result.executed.read_text(encoding="utf-8"))
    for cell in executed["cells"]:
        errors = [o for o in cell.get("outputs", []) if o["output_type"] == "error"]
        if errors:
            assert nbgrader(cell).get("grade"), source(cell)[:200]
            assert errors[0]["ename"] in ("AssertionError", "NotImplementedError") and errors[0]["evalue"].strip()
