"""Recording a notebook's key numbers so that tests can read them back.

A notebook ends its experiments with ``record(name=value, ...)``. That
displays the values as a small table for the reader *and* stores them as JSON
in the cell's output under a private MIME type. After papermill or nbclient has
executed the notebook, ``read_results(path)`` collects every recorded value, so
a test asserts on what the notebook actually computed (no scrapbook needed).
Running a notebook is not the library's job: ``tools/notebook_runner.py`` does that
(papermill, then ``read_results``) for the tests, ``make run`` and ``make benchmark``.
"""

from __future__ import annotations

import json
import math
import numbers
import os
from typing import Any

__all__ = ["MIME_TYPE", "record", "read_results"]

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

    Args:
        **values: ``name=value`` pairs; a value is a bool, ``None``, a string, a finite number,
            a tensor or numpy array (stored as nested lists), or a list/tuple/dict of these.

    Returns:
        None. In a notebook the values are displayed as a small table; the cell's output also
        carries them as JSON under :data:`MIME_TYPE`. Outside IPython they are printed.

    Raises:
        ValueError: nothing to record, or a value is NaN or infinite (its name is given).
        TypeError: a value of another type (a model, a function, ...).

    Example::

        >>> record(test_accuracy=98.6, num_parameters=85002)
    """
    if not values:
        raise ValueError("record: nothing to record; pass name=value pairs, e.g. record(test_accuracy=acc)")
    data = {name: _plain(name, value) for name, value in values.items()}  # every value checked first
    text = "\n".join(f"{name:>28} = {_short(value)}" for name, value in data.items())
    try:
        from IPython.display import display
    except ImportError:  # plain Python: just print
        print(text)
    else:
        display({MIME_TYPE: data, "text/plain": text}, raw=True)


def read_results(path: str | os.PathLike) -> dict[str, Any]:
    """Every value recorded by :func:`record` in an executed notebook (a later value of a name wins).

    Args:
        path: an executed ``.ipynb`` file (a notebook that was never run has recorded nothing).

    Returns:
        ``{name: value}`` in full precision; empty if the notebook recorded nothing.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: ``path`` is not a notebook (not JSON, or no list of cells).

    Example::

        >>> read_results("build/00_data_and_teacher.ipynb")["test_accuracy"]
    """
    with open(path, encoding="utf-8") as handle:
        try:
            notebook = json.load(handle)
        except json.JSONDecodeError as err:
            raise ValueError(f"read_results: path={str(path)!r} is not a notebook (not JSON: {err})") from None
    cells = notebook.get("cells") if isinstance(notebook, dict) else None
    if not isinstance(cells, list):
        raise ValueError(f"read_results: path={str(path)!r} is not a notebook (no list of 'cells')")
    results: dict[str, Any] = {}
    for cell in cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if MIME_TYPE in data:
                payload = data[MIME_TYPE]
                results.update(json.loads(payload) if isinstance(payload, str) else payload)
    return results

