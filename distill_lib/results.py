"""Recording a notebook's key numbers so that tests can read them back.

A notebook ends its experiments with ``record(name=value, ...)``. That
displays the values as a small table for the reader *and* stores them as JSON
in the cell's output under a private MIME type. After papermill or nbclient has
executed the notebook, ``read_results(path)`` collects every recorded value, so
a test asserts on what the notebook actually computed (no scrapbook needed).
``execute_notebook`` does both: papermill, then ``read_results``.
"""

from __future__ import annotations

import json
import math
import numbers
import os
import time
from pathlib import Path
from typing import Any

__all__ = ["MIME_TYPE", "record", "read_results", "execute_notebook"]

MIME_TYPE = "application/vnd.distill-lib.results+json"


def _plain(name: str, value: Any) -> Any:
    """Convert numbers, tensors, and lists/dicts of them to JSON; refuse NaN and infinities."""
    if hasattr(value, "tolist"):  # torch.Tensor, numpy array or scalar
        value = value.tolist()
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        if not math.isfinite(value):
            raise ValueError(f"record: {name}={value} is not finite")
        return float(value)
    if isinstance(value, (list, tuple)):
        return [_plain(f"{name}[{i}]", v) for i, v in enumerate(value)]
    if isinstance(value, dict):
        return {str(k): _plain(f"{name}[{k!r}]", v) for k, v in value.items()}
    raise TypeError(f"record: {name} has type {type(value).__name__}; use numbers, strings, lists or dicts")


def _short(value: Any) -> str:
    """How a recorded value is shown to the reader: floats to 4 significant digits, long lists cut."""
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list):
        shown = ", ".join(_short(v) for v in value[:10])
        return f"[{shown}{', ...' if len(value) > 10 else ''}]"
    if isinstance(value, dict):
        items = list(value.items())
        shown = ", ".join(f"{k}: {_short(v)}" for k, v in items[:6])
        return "{" + shown + (", ..." if len(items) > 6 else "") + "}"
    return repr(value)


def record(**values: Any) -> None:
    """Show ``values`` (rounded) and store them, in full precision, for :func:`read_results`.

    Example::

        >>> record(test_accuracy=0.986, num_parameters=85002)
    """
    data = {name: _plain(name, value) for name, value in values.items()}
    text = "\n".join(f"{name:>28} = {_short(value)}" for name, value in data.items())
    try:
        from IPython.display import display
    except ImportError:  # plain Python: just print
        print(text)
    else:
        display({MIME_TYPE: data, "text/plain": text}, raw=True)


def read_results(path: str | os.PathLike) -> dict[str, Any]:
    """Every value recorded by :func:`record` in an executed notebook (later values win)."""
    with open(path, encoding="utf-8") as handle:
        notebook = json.load(handle)
    results: dict[str, Any] = {}
    for cell in notebook.get("cells", []):
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if MIME_TYPE in data:
                payload = data[MIME_TYPE]
                results.update(json.loads(payload) if isinstance(payload, str) else payload)
    return results


def execute_notebook(
    path: str | os.PathLike,
    output: str | os.PathLike,
    parameters: dict[str, Any] | None = None,
    *,
    timeout: int = 300,
) -> tuple[float, dict[str, Any]]:
    """Run a notebook with papermill (quietly, from its own folder) and read its results.

    Args:
        path: the notebook to run.
        output: where to write the executed copy.
        parameters: values injected after the cell tagged ``parameters``.
        timeout: seconds allowed per cell.

    Returns:
        ``(seconds, results)``: wall-clock time and everything the notebook recorded.

    Raises:
        papermill.PapermillExecutionError: a cell raised (its traceback is in the message).
    """
    import papermill

    os.environ.setdefault("DISTILL_LIB_QUIET", "1")  # the kernel inherits it: no progress bars
    # One BLAS/OpenMP thread per kernel: these models are tiny, and two threads fighting other
    # work for two cores made training 10-20x slower in our measurements.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    path, output = Path(path), Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    papermill.execute_notebook(
        str(path), str(output), parameters=parameters or {}, kernel_name="python3",
        cwd=str(path.parent), progress_bar=False, execution_timeout=timeout,
    )
    return time.perf_counter() - start, read_results(output)
