"""What quantization buys: bytes on disk and latency, measured (notebook 04, §5 "Size in bytes", "Latency").

Speed is measured, never asserted: :func:`median_latency` compares functions as ratios within
one run; ``tools/bench_nb04.py`` prints the figures.
"""

from __future__ import annotations

import io
import math
import statistics
import time
import zipfile
from collections.abc import Callable

import torch
from torch import Tensor

from .._validation import check_int, check_real

__all__ = ["median_latency", "describe_ratio", "weight_bytes"]


def median_latency(
    functions: dict[str, Callable[[], object]], *, repeats: int = 7, number: int = 10
) -> dict[str, dict[str, float]]:
    """Time each function in alternating rounds; report medians, and ratios to the first one.

    Each round times ``number`` calls of every function, in alternating order (so that a
    machine getting busier or quieter affects all of them alike); the first round is a
    warm-up. The ratio is the median over rounds of ``time(f) / time(first)`` in the same round.

    Returns:
        ``{name: {"seconds": median seconds per call, "ratio": median ratio to the first}}``.
    """
    if not isinstance(functions, dict) or not functions or not all(callable(f) for f in functions.values()):
        raise TypeError("functions must be a non-empty dict of name -> callable taking no arguments")
    repeats = check_int("repeats", repeats, low=1)
    number = check_int("number", number, low=1)
    names = list(functions)
    seconds: dict[str, list[float]] = {n: [] for n in names}
    ratios: dict[str, list[float]] = {n: [] for n in names}
    for r in range(repeats + 1):
        took = {}
        for name in names if r % 2 == 0 else names[::-1]:
            start = time.perf_counter()
            for _ in range(number):
                functions[name]()
            took[name] = (time.perf_counter() - start) / number
        if r == 0:
            continue  # warm-up
        for name in names:
            seconds[name].append(took[name])
            ratios[name].append(took[name] / took[names[0]])
    return {n: {"seconds": statistics.median(seconds[n]), "ratio": statistics.median(ratios[n])} for n in names}


def describe_ratio(ratio: float, *, reference: str = "float32", tolerance: float = 0.1) -> str:
    """A time ratio (``time / reference time``, from :func:`median_latency`) in words.

    Within ``tolerance`` of 1 (either way) it is "about as fast"; otherwise it says how many
    times slower or faster, so that a sentence built from a measurement cannot contradict it.

    Example::

        >>> describe_ratio(40.2), describe_ratio(0.5), describe_ratio(1.04)
        ('40.2x slower than float32', '2.0x faster than float32', 'about as fast as float32 (1.04x)')
    """
    ratio = check_real("ratio", ratio)
    tolerance = check_real("tolerance", tolerance)
    if not (math.isfinite(ratio) and ratio > 0):
        raise ValueError(f"ratio={ratio!r} must be a finite time ratio > 0")
    if not 0 <= tolerance < 1:
        raise ValueError(f"tolerance={tolerance!r} must be in the range [0, 1)")
    if ratio > 1 + tolerance:
        return f"{ratio:.1f}x slower than {reference}"
    if ratio < 1 / (1 + tolerance):
        return f"{1 / ratio:.1f}x faster than {reference}"
    return f"about as fast as {reference} ({ratio:.2f}x)"


def weight_bytes(tensors: dict[str, Tensor]) -> dict[str, int]:
    """What ``torch.save(tensors)`` costs: the whole file, and the tensor payload inside it.

    ``torch.save`` writes a zip archive: a pickle of the structure, one record per tensor
    storage (its raw bytes), and headers. ``"payload"`` sums the storage records alone, so it is
    ``numel * element_size`` of every (distinct) storage; ``"file"`` is every byte written.

    Example::

        >>> weight_bytes({"w": torch.zeros(128, 64)})["payload"]
        32768
        >>> weight_bytes({"w": torch.zeros(128, 64, dtype=torch.int8)})["payload"]
        8192
    """
    if not isinstance(tensors, dict) or not tensors or not all(isinstance(t, Tensor) for t in tensors.values()):
        raise TypeError("tensors must be a non-empty dict of name -> torch.Tensor")
    buffer = io.BytesIO()
    torch.save(dict(tensors), buffer)
    with zipfile.ZipFile(buffer) as archive:  # records "<archive>/data/<n>" hold the storages
        payload = sum(info.file_size for info in archive.infolist() if "/data/" in info.filename)
    return {"file": buffer.getbuffer().nbytes, "payload": payload}
