"""Notebook 04 under papermill with small parameters: the numbers it records, and the logic of what it prints.

Goals (test set, mean over seeds): 8-bit PTQ within 0.5 points of float32; 4-bit PTQ within 1
point (+0.5 here: 3 seeds); the integer-only model agrees with the fake-quant model on >= 99 % of
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

    # section 3: the validation set's choice is the best validation accuracy among the settings tried
    assert set(r["chosen_calibration"]) == {"8", "4", "3"}
    for bits, (choice, n) in r["chosen_calibration"].items():
        rows = {k: v for k, v in r["calibration_val"].items() if k.startswith(f"A{bits}/")}
        assert len(rows) == 3 * 2, rows.keys()
        best = max(v["accuracy"] for v in rows.values())
        assert r["calibration_val"][f"A{bits}/{choice}/{n}"]["accuracy"] == pytest.approx(best), bits

    # section 5: the integer-only model reproduces the fake-quant model
    for split in ("val", "test"):
        assert r[f"int8_{split}_agreement"] >= 99.0
        assert r[f"int8_{split}_max_code_gap"] <= 1

    # section 7, the test set: one table; goals; the primary comparisons; shares only beyond noise
    assert set(r["test"]) == {"float32", "W8A8 PTQ", "W8A8 integer-only", "W4A4 PTQ", "W3A3 PTQ", "W3A3 QAT"}
    for name, values in r["test"].items():
        assert r["test_interval"][name][0] == pytest.approx(statistics.fmean(values)), name
    assert r["ptq8_gap"] <= 0.5, f"8-bit PTQ is {r['ptq8_gap']:.2f} points below float32"
    assert r["ptq8_gap"] == pytest.approx(statistics.fmean(r["test"]["float32"]) - statistics.fmean(r["test"]["W8A8 PTQ"]))
    assert r["ptq4_gap"] <= 1.5, f"4-bit PTQ is {r['ptq4_gap']:.2f} points below float32"
    assert set(r["primary"]) == {"W8A8 PTQ - float32", "W4A4 PTQ - float32", "W3A3 QAT - PTQ"}
    qat_gain = r["primary"]["W3A3 QAT - PTQ"]
    assert qat_gain["mean"] == pytest.approx(statistics.fmean(r["test"]["W3A3 QAT"]) - statistics.fmean(r["test"]["W3A3 PTQ"]))
    assert qat_gain["mean"] > 0, "QAT should gain at 3 bits even with 20 epochs"
    loss = r["ptq_loss"]["3"]
    shown = loss["beyond_noise"] and loss["mean"] > 0 and qat_gain["beyond_noise"]
    assert ("3" in r["recovered_share"]) == shown
    if shown:
        assert r["recovered_share"]["3"] == pytest.approx(qat_gain["mean"] / loss["mean"])

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
