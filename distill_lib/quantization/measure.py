"""What quantization buys in bytes (notebook 04, §5 "Size in bytes").

Latency is measured with :mod:`distill_lib.timing` (the workbook's one timing helper), never asserted.
"""

from __future__ import annotations

import io
import zipfile

import torch
from torch import Tensor

__all__ = ["weight_bytes"]


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
