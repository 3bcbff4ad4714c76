"""distill_lib.quantization.measure: bytes on disk, and the latency helper's shape (never its speed)."""

import io

import pytest
import torch

from distill_lib.quantization import median_latency, weight_bytes


def test_weight_bytes_payload_is_numel_times_itemsize():
    w = torch.randn(128, 64)
    sizes32 = weight_bytes({"w": w})
    sizes8 = weight_bytes({"w": torch.zeros(128, 64, dtype=torch.int8)})
    assert sizes32["payload"] == 128 * 64 * 4 and sizes8["payload"] == 128 * 64
    assert sizes32["payload"] / sizes8["payload"] == 4.0
    assert sizes32["file"] > sizes32["payload"]  # the archive adds a pickle and headers
    buffer = io.BytesIO()
    torch.save({"w": w}, buffer)
    assert sizes32["file"] == buffer.getbuffer().nbytes
    two = weight_bytes({"a": w, "b": torch.zeros(10, dtype=torch.int32)})
    assert two["payload"] == 128 * 64 * 4 + 10 * 4
    with pytest.raises(TypeError, match="non-empty dict"):
        weight_bytes({"w": [1.0]})


def test_median_latency_shape_and_checks():
    result = median_latency({"a": lambda: None, "b": lambda: sum(range(10))}, repeats=2, number=3)
    assert set(result) == {"a", "b"} and result["a"]["ratio"] == 1.0
    assert all(v["seconds"] > 0 for v in result.values())
    with pytest.raises(ValueError, match="repeats=0"):
        median_latency({"a": lambda: None}, repeats=0)
    with pytest.raises(TypeError, match="non-empty dict"):
        median_latency({})
