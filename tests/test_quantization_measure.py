"""distill_lib.quantization.measure: bytes on disk (latency is distill_lib.timing's, tested in tests/test_timing.py)."""

import io

import pytest
import torch

from distill_lib.quantization import weight_bytes


def test_weight_bytes_payload_is_numel_times_itemsize():
    w = torch.randn(128, 64)
    sizes32 = weight_bytes({"w": w})
    sizes8 = weight_bytes({"w": torch.zeros(128, 64, dtype=torch.int8)})
    assert sizes32["payload"] == 128 * 64 * 4 and sizes8["payload"] == 128 * 64
    buffer = io.BytesIO()
    torch.save({"w": w}, buffer)
    assert sizes32["file"] == buffer.getbuffer().nbytes
    two = weight_bytes({"a": w, "b": torch.zeros(10, dtype=torch.int32)})
    assert two["payload"] == 128 * 64 * 4 + 10 * 4
    shared = weight_bytes({"a": w, "b": w})  # one storage, saved once
    assert shared["payload"] == 128 * 64 * 4
    with pytest.raises(TypeError, match="non-empty dict"):
        weight_bytes({"w": [1.0]})
