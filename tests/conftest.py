"""Fixtures shared by the tests: running a notebook under papermill, the split, the teacher, transfer sets."""

from pathlib import Path

import pytest

from distill_lib.data import load_split
from distill_lib.distillation import make_transfer_set
from distill_lib.teacher import load_teacher
from tools.notebook_runner import execute_notebook  # the repository root is on sys.path (root conftest.py)

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


@pytest.fixture(scope="session")
def run_notebook(tmp_path_factory):
    """``run_notebook("00_data_and_teacher", retrain_teacher=True)`` -> what the notebook recorded.

    Executes ``notebooks/<name>.ipynb`` with papermill, the keyword arguments injected as
    parameters, into a fresh temporary folder; the result has the run's seconds under
    ``"_seconds"``. Session-scoped, so a module-scoped fixture can run a notebook once for
    all the tests of its file::

        @pytest.fixture(scope="module")
        def results(run_notebook):
            return run_notebook("03_kl_ce_distillation", n_seeds=2)
    """

    def run(name: str, **parameters):
        output = tmp_path_factory.mktemp(name) / f"{name}.ipynb"
        seconds, results = execute_notebook(NOTEBOOKS / f"{name}.ipynb", output, parameters)
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
