"""distill_lib.quantization.measure: bytes on disk, and the latency helper's shape (never its speed)."""

import io

import pytest
import torch

from distill_lib.quantization import describe_ratio, measure, median_latency, weight_bytes


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


def test_median_latency_on_a_fake_clock(monkeypatch):
    # each call of "a" takes 1 tick and of "b" 3 ticks, except that round 2 is twice as slow for both:
    # the medians per call are 1 and 3 ticks, the ratio 3 in every round
    clock = {"now": 0.0, "round": 0}
    monkeypatch.setattr(measure.time, "perf_counter", lambda: clock["now"])
    calls = {"a": 0, "b": 0}

    def tick(name, cost):
        def f():
            calls[name] += 1
            clock["now"] += cost * (2.0 if calls[name] in range(7, 10) else 1.0)  # calls 7-9: round 2 (number=3)
        return f

    result = median_latency({"a": tick("a", 1.0), "b": tick("b", 3.0)}, repeats=4, number=3)
    assert calls == {"a": 15, "b": 15}  # a warm-up round, then 4 rounds of 3 calls each
    assert result["a"] == {"seconds": 1.0, "ratio": 1.0}
    assert result["b"] == {"seconds": 3.0, "ratio": 3.0}


def test_median_latency_checks():
    with pytest.raises(ValueError, match="repeats=0"):
        median_latency({"a": lambda: None}, repeats=0)
    with pytest.raises(TypeError, match="non-empty dict"):
        median_latency({})


@pytest.mark.parametrize("ratio, words", [
    (40.2, "40.2x slower than float32"),
    (1.4, "1.4x slower than float32"),
    (1.08, "about as fast as float32 (1.08x)"),
    (0.95, "about as fast as float32 (0.95x)"),
    (0.5, "2.0x faster than float32"),
])
def test_describe_ratio(ratio, words):
    assert describe_ratio(ratio) == words


def test_describe_ratio_checks():
    with pytest.raises(ValueError, match=r"ratio=0.0 must be a finite time ratio > 0"):
        describe_ratio(0.0)
    with pytest.raises(ValueError, match=r"tolerance=1.5 must be in the range \[0, 1\)"):
        describe_ratio(2.0, tolerance=1.5)
    with pytest.raises(TypeError, match="ratio must be a real number"):
        describe_ratio("fast")
