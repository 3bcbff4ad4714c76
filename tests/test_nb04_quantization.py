"""Notebook 04 under papermill with small parameters: the numbers it records, and the logic of what it prints.

Goals (test set), judged from the 95 % interval of arm - float32: 8-bit PTQ no more than 0.5 points
below float32 ("met": the whole interval above -0.5); 4-bit PTQ no more than 1 point below (not
"NOT met" here: 3 seeds); the integer-only model agrees with the fake-quant model on >= 99 % of
the predictions with no code more than one step away; int8 weights 4.0x smaller in serialized
bytes. The choices the notebook prints (calibration, recovered shares) are recomputed here from the
numbers it recorded. Speed is recorded, never asserted (tools/bench_nb04.py measures it). The
claims the notebook makes at its default parameters are checked by
tests/test_quantization_experiments.py through the same library calls.
"""

import statistics

import pytest

SMALL = dict(n_seeds=3, bit_widths=[8, 3], calibration_sizes=[4, 64], qat_bits=[3], qat_epochs=20,
             timing_repeats=3)


@pytest.mark.notebook
def test_quantization_notebook(run_notebook):
    r = run_notebook("04_quantization", **SMALL)
    assert r["seeds"] == [0, 1, 2]
    assert statistics.fmean(r["fp32_val"]) > 96.0, f"the distilled students scored {r['fp32_val']} on validation"

    # section 1 and the appendix: our quantizer agrees with PyTorch, near ties included; the STE gradient too
    assert r["fake_quant_matches_torch"] is True
    assert r["mismatches_library"] == 0
    assert r["ste_matches_torch"] is True

    # section 2 (validation): per-channel beats per-tensor beyond noise at 3 bits; the MSE falls ~4x per bit
    assert set(r["weight_only_val"]) == {"8/per-tensor", "8/per-channel", "3/per-tensor", "3/per-channel"}
    assert r["per_channel_beyond_noise"]["3"] is True and r["per_channel_gain"]["3"] > 0
    assert r["per_channel_gain"]["3"] == pytest.approx(
        statistics.fmean(r["weight_only_val"]["3/per-channel"]) - statistics.fmean(r["weight_only_val"]["3/per-tensor"]))
    assert r["weight_mse"]["3/per-channel"] < r["weight_mse"]["3/per-tensor"]
    assert r["weight_mse"]["8/per-channel"] < r["weight_mse"]["3/per-channel"] / 100

    # section 3: the best setting is the highest validation accuracy; it replaces the default (min/max on the
    # largest size <= 256) only when it beats it beyond noise; the error trend is recorded per bit-width
    assert set(r["chosen_calibration"]) == {"8", "4", "3"}
    assert r["temperature"] == 4.0 and r["lam"] == 0.9
    for bits, (choice, n) in r["best_calibration"].items():
        rows = {k: v for k, v in r["calibration_val"].items() if k.startswith(f"A{bits}/")}
        assert len(rows) == 3 * 2, rows.keys()
        best = max(v["accuracy"] for v in rows.values())
        assert r["calibration_val"][f"A{bits}/{choice}/{n}"]["accuracy"] == pytest.approx(best), bits
        assert r["default_calibration"][bits] == ["min/max", 64]
        expected = [choice, n] if r["best_beats_default"][bits] else r["default_calibration"][bits]
        assert r["chosen_calibration"][bits] == expected, bits
        few, many = (r["calibration_val"][f"A{bits}/min/max/{size}"]["error"] for size in (4, 64))
        assert r["calibration_error_ratio"][bits] == pytest.approx(many / few), bits

    # section 5: the integer-only model reproduces the fake-quant model
    for split in ("val", "test"):
        assert r[f"int8_{split}_agreement"] >= 99.0
        assert r[f"int8_{split}_max_code_gap"] <= 1

    # section 7, the test set: one table; goals by the interval rule (arm - float32); QAT - PTQ as one Holm family
    assert set(r["test"]) == {"float32", "W8A8 PTQ", "W8A8 integer-only", "W4A4 PTQ", "W3A3 PTQ", "W3A3 QAT"}
    for name, values in r["test"].items():
        assert r["test_interval"][name][0] == pytest.approx(statistics.fmean(values)), name
    assert set(r["minus_fp32"]) == set(r["test"]) - {"float32"}
    for name, d in r["minus_fp32"].items():
        assert d["mean"] == pytest.approx(statistics.fmean(r["test"][name]) - statistics.fmean(r["test"]["float32"])), name
        assert d["low"] <= d["mean"] <= d["high"], name
    assert r["goal_margins"] == {"W8A8 PTQ": 0.5, "W4A4 PTQ": 1.0}
    for arm, margin in r["goal_margins"].items():
        d = r["minus_fp32"][arm]
        expected = "met" if d["low"] > -margin else ("NOT met" if d["high"] < -margin else "undecided")
        assert r["goal_status"][arm] == expected, arm
        assert r["goal_met"][arm] == (expected == "met")
    assert r["goal_status"]["W8A8 PTQ"] == "met", f"8-bit PTQ - float32: {r['minus_fp32']['W8A8 PTQ']}"
    assert r["goal_status"]["W4A4 PTQ"] != "NOT met", f"4-bit PTQ - float32: {r['minus_fp32']['W4A4 PTQ']}"
    assert set(r["qat_gain"]) == {"W3A3 QAT - PTQ"}
    qat_gain = r["qat_gain"]["W3A3 QAT - PTQ"]
    assert qat_gain["mean"] == pytest.approx(statistics.fmean(r["test"]["W3A3 QAT"]) - statistics.fmean(r["test"]["W3A3 PTQ"]))
    assert qat_gain["mean"] > 0, "QAT should gain at 3 bits even with 20 epochs"
    loss = r["minus_fp32"]["W3A3 PTQ"]
    shown = loss["beyond_noise"] and loss["mean"] < 0 and qat_gain["beyond_noise"] and qat_gain["mean"] > 0
    assert ("3" in r["recovered_share"]) == shown
    if shown:
        assert r["recovered_share"]["3"] == pytest.approx(qat_gain["mean"] / -loss["mean"])

    # PyTorch's kernels: qnnpack and 7-bit x86 agree within one step; 8-bit x86 saturates without VNNI
    for name, check in r["ao_checks"].items():
        if not name.startswith("x86, 8-bit"):
            assert check["largest_gap_in_range"] <= 1, (name, check)
            assert check["codes_differ"] < 0.01, (name, check)
    vnni = r["cpu_int8_features"]
    if vnni is not None and not vnni and "x86, 8-bit activations" in r["ao_checks"]:
        assert r["ao_checks"]["x86, 8-bit activations"]["largest_gap_in_range"] > 1

    # int8 weights 4.0x smaller in serialized bytes (payload exactly; whole file less)
    assert r["weight_bytes_fp32"]["payload"] == (64 * 128 + 128 * 10) * 4
    assert r["weight_bytes_int8"]["payload"] == 64 * 128 + 128 * 10
    assert r["weight_payload_ratio"] == 4.0
    assert 3.0 < r["weight_file_ratio"] < 4.0
    assert r["model_bytes"]["int8"] < r["model_bytes"]["fp32"] / 2

    assert {key.split(" / ")[1] for key in r["speedup"]} == {"359 images", "1 image"}  # measured, not asserted
    assert r["widget_levels"] == 2**4 - 1  # the slider starts at 4 bits, symmetric
    assert r["widget_max_abs"] <= r["widget_bound"] * (1 + 1e-6)
