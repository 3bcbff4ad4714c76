"""Notebook 02 under papermill with small parameters, asserting on what it recorded.

The dark-knowledge statements in the notebook's prose are about the cached teacher
(data/teacher_mlp.pt); they are re-checked here so that the prose cannot go stale silently.
"""

import math
from pathlib import Path

import pytest
import torch

from distill_lib.data import load_split
from distill_lib.teacher import load_teacher
from distill_lib.temperature import temperature_view
from distill_lib.training import predict_logits

NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "02_temperature_softmax.ipynb"


@pytest.mark.notebook
def test_temperature_notebook(run_notebook):
    r = run_notebook("02_temperature_softmax", n_temperatures=9, student_epochs=100)

    # Entropy increases with T, from almost 0 towards log2(10).
    entropy = [r["entropy_at"][k] for k in ("0.1", "1.0", "4.0", "10.0", "100.0")]
    assert all(b > a for a, b in zip(entropy, entropy[1:])), entropy
    assert entropy[0] < 0.01 and entropy[1] < 0.2
    assert entropy[-1] == pytest.approx(math.log2(10), abs=0.02)
    assert r["entropy_nondecreasing"] is True

    # Mean soft targets: a (10, 10) matrix of distributions.
    M = torch.tensor(r["mean_soft_targets"])
    assert M.shape == (10, 10)
    torch.testing.assert_close(M.sum(1), torch.ones(10), atol=1e-5, rtol=0)
    assert r["temperature"] == 4.0

    # What the prose says this teacher shows (at T = 4 unless stated).
    pairs = [(i, c) for i, c, _ in r["top_pairs"]]
    assert pairs[0] == (1, 8), pairs
    assert (8, 1) in pairs[:3] and (2, 3) in pairs[:5] and (8, 3) in pairs[:5]
    assert (1, 7) not in pairs and (7, 1) not in pairs
    assert M[1, 7] < M[1, 8] / 4
    assert set(torch.topk(M[3].index_fill(0, torch.tensor([3]), 0), 2).indices.tolist()) == {8, 9}
    assert r["runner_up_T"][5] == 3
    assert set(torch.topk(M[9].index_fill(0, torch.tensor([9]), 0), 2).indices.tolist()) == {3, 5}
    assert r["runner_up_T1"][4] == 9 and r["runner_up_T1"][9] == 4
    assert r["runner_up_T1"] != r["runner_up_T"]  # the runner-up can change with T

    # The naive softmax fails, the library does not.
    assert r["naive_nan_rows"]["0.1"][0] > 100  # overflow at T = 0.1
    assert r["naive_nan_rows"]["1.0"] == [0, 359]  # fine at T = 1, but the shifted logits underflow
    assert all(v == 0 for v in r["library_nan_rows"].values())
    assert r["underflow_zeros_T01"] > 0
    # ... and so does the naive entropy where probabilities underflow, but not the robust one.
    assert r["naive_entropy_nan_T01"] > 100 and r["robust_entropy_nan_T01"] == 0

    # The high-temperature limit: monotone from T = 2, ~1/T, ~0.1 at T = 100, ~0.01 at T = 1000.
    gap = r["gap_at"]
    assert r["gap_monotone_from_T2"] is True
    assert gap["1000.0"] < gap["100.0"] < gap["10.0"] < gap["1.0"] <= 1.01
    assert 0.03 < gap["100.0"] < 0.2 and gap["1000.0"] < 0.02
    assert 100 * gap["100.0"] == pytest.approx(1000 * gap["1000.0"], rel=0.05)
    assert r["gap_unit_scale"]["100.0"] < 0.02 < gap["100.0"]
    assert r["centred_logit_std"] > 3
    assert r["loss_ratio"]["1000.0"] == pytest.approx(1.0, abs=0.005)
    assert r["loss_ratio"]["1.0"] < r["loss_ratio"]["10.0"] < r["loss_ratio"]["100.0"]

    # The widget rendered once, headless, with the default values (a validation image).
    split = load_split()
    teacher, _ = load_teacher(split=split)
    view = temperature_view(predict_logits(teacher, split.X_val), r["sample_index"], r["temperature"])
    assert r["widget_entropy_bits"] == pytest.approx(view.entropy_bits, abs=1e-9)
    assert r["widget_predicted"] == view.predicted
    assert r["_seconds"] < 60 * 3  # a runaway guard, not a speed target (latency: tools/bench_nb02.py)


@pytest.mark.notebook
def test_widget_leaves_a_static_figure_and_keeps_round_temperatures(tmp_path):
    """The executed notebook holds a PNG of the widget's first view, which nbconvert's HTML export keeps."""
    import json

    from nbconvert import HTMLExporter

    from tools.notebook_runner import execute_notebook  # the repository root is on sys.path (root conftest.py)

    executed = tmp_path / "02.ipynb"
    _, r = execute_notebook(NOTEBOOK, executed, dict(n_temperatures=5, student_epochs=20, temperature=2.0, sample_index=7))
    assert r["temperature"] == 2.0 and r["sample_index"] == 7  # a slider stop, used exactly (no 1.995)
    nb = json.loads(executed.read_text())
    widget_outputs = [o for c in nb["cells"] for o in c.get("outputs", [])
                      if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert len(widget_outputs) == 1 and "image/png" in widget_outputs[0]["data"]
    html, _ = HTMLExporter().from_filename(str(executed))
    assert widget_outputs[0]["data"]["image/png"][:100] in html
