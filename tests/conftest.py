"""Fixtures shared by the tests: running a notebook under papermill."""

from pathlib import Path

import pytest

from distill_lib.data import load_split
from distill_lib.distillation import make_transfer_set
from distill_lib.results import execute_notebook
from distill_lib.teacher import load_teacher

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


@pytest.fixture
def run_notebook(tmp_path):
    """``run_notebook("00_data_and_teacher", retrain_teacher=True)`` -> what the notebook recorded."""

    def run(name: str, **parameters):
        seconds, results = execute_notebook(NOTEBOOKS / f"{name}.ipynb", tmp_path / f"{name}.ipynb", parameters)
        results["_seconds"] = seconds
        return results

    return run


@pytest.fixture(scope="session")
def split():
    """The workbook's deterministic train / validation / test split."""
    return load_split()


@pytest.fixture(scope="session")
def teacher(split):
    """The cached teacher (retrained with a warning if the cache is unusable)."""
    return load_teacher(split=split)[0]


@pytest.fixture(scope="session")
def full(split, teacher):
    """Transfer set: every training image, labelled, with the teacher's logits."""
    return make_transfer_set(split.X_train, split.y_train, teacher)


@pytest.fixture(scope="session")
def few(split, teacher):
    """Transfer set: 10 labelled images per class, the rest unlabelled."""
    return make_transfer_set(split.X_train, split.y_train, teacher, per_class=10)
