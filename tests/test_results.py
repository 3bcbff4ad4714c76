"""distill_lib.results: record() and read_results() round-trip through a notebook file.

The last test runs a tiny notebook through tools/notebook_runner.py (the harness behind the
`run_notebook` fixture, `make run` and `make benchmark`): parameters in, recorded values out.
"""

import json

import nbformat
import pytest
import torch

import distill_lib.results as results_module
from distill_lib.results import MIME_TYPE, _plain, _short, read_results, record
from tools.notebook_runner import execute_notebook


def test_plain_values():
    assert _plain("x", torch.tensor([1, 2])) == [1, 2]
    assert _plain("x", {"a": torch.tensor(0.5)}) == {"a": 0.5}
    assert _plain("x", (True, None, "s", 3)) == [True, None, "s", 3]
    with pytest.raises(ValueError, match=r"x=nan is not finite"):
        _plain("x", float("nan"))
    with pytest.raises(ValueError, match=r"x\[1\]=inf is not finite"):
        _plain("x", [1.0, float("inf")])
    with pytest.raises(TypeError, match="x has type object"):
        _plain("x", object())


def _notebook_with(*outputs):
    return {"cells": [{"cell_type": "code", "outputs": list(out)} for out in outputs]}


def test_read_results(tmp_path):
    notebook = {"cells": [
        {"cell_type": "code", "outputs": [{"output_type": "display_data", "data": {MIME_TYPE: {"a": 1, "b": 2}}}]},
        {"cell_type": "markdown"},
        {"cell_type": "code", "outputs": [{"output_type": "display_data", "data": {MIME_TYPE: {"b": 3}}}]},
    ]}
    path = tmp_path / "nb.ipynb"
    path.write_text(json.dumps(notebook))
    assert read_results(path) == {"a": 1, "b": 3}


def test_read_results_rejects_what_is_not_a_notebook(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_results(tmp_path / "missing.ipynb")
    broken = tmp_path / "broken.ipynb"
    broken.write_text('{"cells": [')  # a truncated file
    with pytest.raises(ValueError, match=r"broken.ipynb.*is not a notebook \(not JSON"):
        read_results(broken)
    other = tmp_path / "other.ipynb"
    other.write_text("[1, 2]")
    with pytest.raises(ValueError, match=r"other.ipynb.*no list of 'cells'"):
        read_results(other)


def test_record_round_trip(tmp_path, monkeypatch):
    """What record() displays is what read_results() finds, in full precision."""
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda bundle, raw: shown.append(bundle))
    record(accuracy=98.61234567, counts=torch.tensor([3, 4]), passed=True)
    (bundle,) = shown
    assert "accuracy = 98.61" in bundle["text/plain"]  # the reader sees it rounded
    path = tmp_path / "nb.ipynb"
    path.write_text(json.dumps(_notebook_with([{"output_type": "display_data", "data": bundle}])))
    assert read_results(path) == {"accuracy": 98.61234567, "counts": [3, 4], "passed": True}


def test_record_checks_every_value_before_showing_any(monkeypatch):
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda bundle, raw: shown.append(bundle))
    with pytest.raises(ValueError, match="nothing to record"):
        record()
    with pytest.raises(ValueError, match=r"loss=nan is not finite"):
        record(accuracy=98.6, loss=float("nan"))
    with pytest.raises(TypeError, match="model has type Linear"):
        record(model=torch.nn.Linear(2, 2))
    assert shown == []


def test_short_display():
    assert _short(0.123456789) == "0.1235"
    assert _short(list(range(12))) == "[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, ...]"
    assert _short({"a": 1.0 / 3}) == "{a: 0.3333}"


def test_results_module_only_records_and_reads():
    """Running notebooks lives in tools/notebook_runner.py, not in the library."""
    assert sorted(results_module.__all__) == ["MIME_TYPE", "read_results", "record"]
    assert not hasattr(results_module, "execute_notebook")


def test_runner_rejects_bad_arguments(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"path=.*missing.ipynb' is not a notebook file"):
        execute_notebook(tmp_path / "missing.ipynb", tmp_path / "out.ipynb")
    path = tmp_path / "nb.ipynb"
    nbformat.write(nbformat.v4.new_notebook(), path)
    with pytest.raises(ValueError, match=r"timeout=0 must be a positive number of seconds"):
        execute_notebook(path, tmp_path / "out.ipynb", timeout=0)
    assert not (tmp_path / "out.ipynb").exists()


@pytest.mark.notebook
def test_runner_injects_parameters_and_reads_records(tmp_path):
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "language": "python", "display_name": "Python 3"}
    parameters = nbformat.v4.new_code_cell("n = 2")
    parameters.metadata["tags"] = ["parameters"]
    notebook.cells = [parameters, nbformat.v4.new_code_cell(
        "import os\nfrom distill_lib.results import record\nrecord(square=n * n, cwd=os.getcwd())")]
    path = tmp_path / "src" / "tiny.ipynb"
    path.parent.mkdir()
    nbformat.write(notebook, path)
    seconds, recorded = execute_notebook(path, tmp_path / "out" / "tiny.ipynb", {"n": 7})
    assert recorded == {"square": 49, "cwd": str(path.parent)}  # injected, and run from its own folder
    assert read_results(tmp_path / "out" / "tiny.ipynb") == recorded
    assert seconds > 0
