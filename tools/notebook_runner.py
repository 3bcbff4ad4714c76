"""Executing a notebook headless: the harness behind ``make run``, ``make benchmark`` and the notebook tests.

It lives with the tools, not in ``distill_lib``: a notebook *records* its numbers
(``distill_lib.results.record``), and whoever runs it reads them back
(``distill_lib.results.read_results``); running notebooks is not the library's job.

Import it as ``from tools.notebook_runner import execute_notebook`` (the repository root on
``sys.path``: the root ``conftest.py`` puts it there for the tests, the scripts in ``tools/``
do it themselves).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from distill_lib.results import read_results

__all__ = ["execute_notebook"]


def execute_notebook(
    path: str | os.PathLike,
    output: str | os.PathLike,
    parameters: dict[str, Any] | None = None,
    *,
    timeout: int = 300,
) -> tuple[float, dict[str, Any]]:
    """Run a notebook with papermill (quietly, from its own folder) and read what it recorded.

    Args:
        path: the notebook to run.
        output: where to write the executed copy (its folder is created).
        parameters: values injected after the cell tagged ``parameters``.
        timeout: seconds allowed per cell.

    Returns:
        ``(seconds, results)``: wall-clock time and everything the notebook recorded.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: ``timeout`` is not a positive integer.
        papermill.PapermillExecutionError: a cell raised (its traceback is in the message).

    Example::

        >>> seconds, results = execute_notebook("notebooks/00_data_and_teacher.ipynb", "build/00.ipynb")
    """
    path, output = Path(path), Path(output)
    if not path.is_file():
        raise FileNotFoundError(f"execute_notebook: path={str(path)!r} is not a notebook file")
    if isinstance(timeout, bool) or not isinstance(timeout, int) or timeout <= 0:
        raise ValueError(f"execute_notebook: timeout={timeout!r} must be a positive number of seconds (int)")
    import papermill

    os.environ.setdefault("DISTILL_LIB_QUIET", "1")  # the kernel inherits it: no progress bars
    # One BLAS/OpenMP thread per kernel: these models are tiny, and two threads fighting other
    # work for two cores made training 10-20x slower in our measurements.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    output.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    papermill.execute_notebook(
        str(path), str(output), parameters=parameters or {}, kernel_name="python3",
        cwd=str(path.parent), progress_bar=False, execution_timeout=timeout,
    )
    return time.perf_counter() - start, read_results(output)
