"""What a notebook shows is the library's code: every "# Saved in distill_lib/..." cell matches it."""

import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("shown_code", ROOT / "tools" / "shown_code.py")
shown_code = importlib.util.module_from_spec(_spec)
sys.modules.setdefault("shown_code", shown_code)
_spec.loader.exec_module(shown_code)

NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_shown_code_is_the_library_code(path):
    problems = shown_code.mismatches([path])
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_saved_cell_shows_a_definition(path):
    for cell, file, source in shown_code.saved_cells(path):
        assert shown_code.definitions(path.name, cell, file, source), f"{path.name} cell {cell} is marked saved but defines nothing"


def _notebook(tmp_path, source):
    nb = {"cells": [{"cell_type": "code", "source": source, "metadata": {}, "outputs": [], "execution_count": None}],
          "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    path = tmp_path / "99_probe.ipynb"
    path.write_text(json.dumps(nb))
    return path


def test_a_changed_line_is_caught_and_sync_restores_it(tmp_path):
    import inspect
    import textwrap

    from distill_lib import stats

    source = textwrap.dedent(inspect.getsource(stats.over_seeds))
    good = _notebook(tmp_path, "# Saved in distill_lib/stats.py\nimport math\n\n" + source)
    assert shown_code.mismatches([good]) == []
    bad = _notebook(tmp_path, "# Saved in distill_lib/stats.py\n" + source.replace("LEVEL / 2", "LEVEL"))
    assert len(shown_code.mismatches([bad])) == 1
    assert shown_code.sync([bad]) == 1
    assert shown_code.mismatches([bad]) == []


def test_a_name_missing_from_the_named_file_is_caught(tmp_path):
    path = _notebook(tmp_path, "# Saved in distill_lib/stats.py\ndef not_in_the_library():\n    return 1\n")
    (problem,) = shown_code.mismatches([path])
    assert "not_in_the_library" in problem
