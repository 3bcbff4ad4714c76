"""Autograding (tools/grade.py, `make grade`): generated submissions, right and wrong, broken, endless,
crashing, and trying to read or write outside their folder; none may change another's grade."""

import csv
import json
from pathlib import Path

import pytest

from tools.grade import grade, main
from tools.release import BEGIN, END, release_notebook

ROOT = Path(__file__).resolve().parent.parent
NAME = "99_tiny.ipynb"
SOLUTION_META = {"nbgrader": {"grade": False, "grade_id": "99-your-turn-1", "locked": False, "schema_version": 3,
                              "solution": True, "task": False}}
CHECK_META = {"nbgrader": {"grade": True, "grade_id": "99-check-1", "locked": True, "points": 1, "schema_version": 3,
                           "solution": False, "task": False}}
CHECK = ('assert double(2) is not None, "double returned None: replace the `return None` line"\n'
         'assert double(2) == 4, f"double(2) = {double(2)}, not 4: multiply x by 2"')
SECOND = ('def half(x):\n    ### BEGIN SOLUTION\n    #> return None  # replace None\n    return x / 2\n    ### END SOLUTION')
SECOND_CHECK = 'assert half(4) == 2, f"half(4) = {half(4)}, not 2"'


def code(source, metadata=None, number=[0]):
    number[0] += 1
    return {"cell_type": "code", "execution_count": None, "id": f"c{number[0]}", "metadata": metadata or {},
            "outputs": [], "source": source}


def tiny(body="    return 2 * x", before="", check=CHECK):
    """A two-exercise notebook; ``body`` is the first exercise's answer, ``before`` a cell run before it."""
    cells = [{"cell_type": "markdown", "id": "m", "metadata": {}, "source": "# Tiny"}]
    if before:
        cells.append(code(before))
    cells += [code(f"def double(x):\n    {BEGIN}\n    #> return None  # replace None with 2 * x\n{body}\n    {END}",
                   SOLUTION_META),
              code(check, CHECK_META),
              code(SECOND, json.loads(json.dumps(SOLUTION_META).replace("your-turn-1", "your-turn-2"))),
              code(SECOND_CHECK, json.loads(json.dumps(CHECK_META).replace("check-1", "check-2"))),
              code("print('the end')")]
    return {"cells": cells, "nbformat": 4, "nbformat_minor": 5,
            "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}}


@pytest.fixture(scope="module")
def tiny_class(tmp_path_factory):
    """Generated submissions of a tiny notebook, graded once (two at a time, 20 s each at most)."""
    base = tmp_path_factory.mktemp("tiny")
    source, subs = base / "source", base / "submissions"
    source.mkdir()
    (source / NAME).write_text(json.dumps(tiny()), encoding="utf-8")
    other = subs / "right" / NAME  # the file the cheaters go after
    victim = subs / "wrong" / "notes.txt"
    released, _ = release_notebook((source / NAME).read_text(encoding="utf-8"))
    edited = tiny("    return x + 3", check="print('all good')")
    deleted = tiny()
    deleted["cells"] = [c for c in deleted["cells"] if c["metadata"] != CHECK_META]
    notebooks = {
        "right": tiny(),
        "wrong": tiny("    return x + 3"),
        "untouched": json.loads(released),
        "broken": tiny("    return 2 * x)"),
        "loop": tiny("    return 2 * x", before="while True:\n    pass"),
        "crash": tiny("    import os\n    os._exit(1)"),
        "reads_other": tiny(before=f"print(open({str(other)!r}).read()[:20])"),
        "lists_parent": tiny(before="import os\nprint(os.listdir('..'))"),
        "writes_other": tiny(before=f"open({str(victim)!r}, 'w').write('overwritten')"),
        "runs_shell": tiny(before="import subprocess\nsubprocess.run(['ls', '/'])"),
        "kills_grader": tiny(before="import os, signal\nos.kill(os.getppid(), signal.SIGKILL)"),
        "edited_check": edited,
        "deleted_check": deleted,
    }
    for student, nb in notebooks.items():
        (subs / student).mkdir(parents=True)
        (subs / student / NAME).write_text(json.dumps(nb), encoding="utf-8")
    victim.write_text("mine")
    (subs / "garbled").mkdir()
    (subs / "garbled" / NAME).write_text("{ not a notebook")
    (subs / "stray.ipynb").write_text("{}")  # not in a student's folder: ignored
    results = grade(subs, base / "out", source=source, timeout=20, jobs=2, echo=False)
    return {r.student: r for r in results}, base / "out", victim


def outcome(result):
    return [e.result for e in result.exercises]


def test_right_and_wrong(tiny_class):
    results, _, _ = tiny_class
    assert results["right"].status == "ok" and outcome(results["right"]) == ["pass", "pass"]
    assert results["right"].score == 2 == results["right"].points
    wrong = results["wrong"]
    assert wrong.status == "ok" and outcome(wrong) == ["fail", "pass"]
    assert "double(2) = 5" in wrong.exercises[0].message  # the check's own assertion message
    assert outcome(results["untouched"]) == ["fail", "fail"] and all(e.message for e in results["untouched"].exercises)


def test_broken_endless_and_crashing_submissions(tiny_class):
    results, _, _ = tiny_class
    broken = results["broken"]
    assert broken.status == "ok" and outcome(broken) == ["error", "pass"]
    assert "NameError" in broken.exercises[0].message and "SyntaxError" in broken.exercises[0].message
    loop = results["loop"]
    assert loop.status == "timeout" and outcome(loop) == ["error", "error"]
    assert 20 <= loop.seconds < 20 + 60
    crash = results["crash"]
    assert crash.status == "kernel died" and outcome(crash) == ["error", "error"]


@pytest.mark.parametrize("student", ["reads_other", "lists_parent", "writes_other", "runs_shell", "kills_grader"])
def test_reaching_outside_its_folder_is_refused_and_recorded(tiny_class, student):
    results, _, victim = tiny_class
    result = results[student]
    assert result.status == "refused" and result.refused, (result.status, result.detail)
    assert outcome(result) == ["error", "error"]
    assert all(e.message.startswith("refused") for e in result.exercises)
    assert any("PermissionError" in e for e in result.other_errors)
    assert victim.read_text() == "mine"


def test_checks_are_the_instructors_and_bad_files_are_recorded(tiny_class):
    results, _, _ = tiny_class
    assert outcome(results["edited_check"]) == ["fail", "pass"]  # its `print('all good')` check was replaced
    deleted = results["deleted_check"]
    assert outcome(deleted) == ["error", "pass"] and "deleted" in deleted.exercises[0].message
    garbled = results["garbled"]
    assert garbled.status == "unreadable" and outcome(garbled) == ["error", "error"]
    assert "stray" not in results


def test_reports(tiny_class):
    results, out, _ = tiny_class
    rows = list(csv.DictReader(open(out / "grades.csv", encoding="utf-8")))
    assert len(rows) == 2 * len(results)
    assert {r["result"] for r in rows} == {"pass", "fail", "error"}
    right = [r for r in rows if r["student"] == "right"]
    assert [(r["exercise"], r["result"], float(r["score"])) for r in right] == [("99-check-1", "pass", 1.0),
                                                                              ("99-check-2", "pass", 1.0)]
    page = (out / "report.html").read_text(encoding="utf-8")
    markdown = (out / "report.md").read_text(encoding="utf-8")
    for student in results:
        assert student in page and f"| {student} |" in markdown
    assert "double(2) = 5" in page  # the failing assertion's message, escaped
    assert (out / "executed" / "wrong" / NAME).exists()


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="timeout=0"):
        grade(tmp_path, tmp_path / "out", timeout=0)
    with pytest.raises(ValueError, match="jobs=True"):
        grade(tmp_path, tmp_path / "out", jobs=True)
    with pytest.raises(ValueError, match="memory_gb"):
        grade(tmp_path, tmp_path / "out", memory_gb=0)
    with pytest.raises(FileNotFoundError, match="not a folder"):
        grade(tmp_path / "missing", tmp_path / "out")
    with pytest.raises(ValueError, match="inside the submissions folder"):
        grade(tmp_path, tmp_path / "grades")
    with pytest.raises(ValueError, match="every submission may read"):
        grade(ROOT / "data", tmp_path / "out")
    assert main([str(tmp_path / "missing")]) == 1


@pytest.mark.notebook
def test_a_real_notebook_right_and_wrong(tmp_path):
    """Notebook 02's release, with the reference solution typed back in, and with a softmax that overflows."""
    path = ROOT / "notebooks" / "02_temperature_softmax.ipynb"
    instructor = json.loads(path.read_text(encoding="utf-8"))
    student = json.loads(release_notebook(path.read_text(encoding="utf-8"))[0])
    [index] = [i for i, c in enumerate(instructor["cells"]) if c["metadata"].get("nbgrader", {}).get("solution")]
    reference = "".join(instructor["cells"][index]["source"])
    answers = {
        "alice": "\n".join(l for l in reference.split("\n") if l.strip() not in (BEGIN, END) and not l.strip().startswith("#>")),
        "bob": "def my_stable_softmax(logits, T):\n    e = torch.exp(logits / T)\n    return e / e.sum(dim=1, keepdim=True)",
    }
    for name, answer in answers.items():
        nb = json.loads(json.dumps(student))
        nb["cells"][index]["source"] = answer
        (tmp_path / "subs" / name).mkdir(parents=True)
        (tmp_path / "subs" / name / path.name).write_text(json.dumps(nb), encoding="utf-8")
    results = grade(tmp_path / "subs", tmp_path / "out", parameters={"n_temperatures": 9, "student_epochs": 100},
                    timeout=240, echo=False)
    alice, bob = results
    assert (alice.status, outcome(alice), alice.other_errors) == ("ok", ["pass"], [])
    assert (bob.status, outcome(bob), bob.other_errors) == ("ok", ["fail"], [])
    assert "nan" in bob.exercises[0].message

