"""distill_lib.results: record() and read_results() round-trip through a notebook file."""

import json

import pytest
import torch

from distill_lib.results import MIME_TYPE, _plain, _short, read_results


def test_plain_values():
    assert _plain("x", torch.tensor([1, 2])) == [1, 2]
    assert _plain("x", {"a": torch.tensor(0.5)}) == {"a": 0.5}
    with pytest.raises(ValueError, match=r"x=nan is not finite"):
        _plain("x", float("nan"))
    with pytest.raises(TypeError, match="x has type object"):
        _plain("x", object())


def test_read_results(tmp_path):
    notebook = {"cells": [
        {"cell_type": "code", "outputs": [{"output_type": "display_data", "data": {MIME_TYPE: {"a": 1, "b": 2}}}]},
        {"cell_type": "markdown"},
        {"cell_type": "code", "outputs": [{"output_type": "display_data", "data": {MIME_TYPE: {"b": 3}}}]},
    ]}
    path = tmp_path / "nb.ipynb"
    path.write_text(json.dumps(notebook))
    assert read_results(path) == {"a": 1, "b": 3}


def test_short_display():
    assert _short(0.123456789) == "0.1235"
    assert _short(list(range(12))) == "[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, ...]"
    assert _short({"a": 1.0 / 3}) == "{a: 0.3333}"
