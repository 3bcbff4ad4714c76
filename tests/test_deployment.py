"""Tests for distill_lib.deployment: ONNX export, ONNX Runtime sessions, int8 graphs, the latency table.

References: PyTorch's own forward pass (fp32 logits), the workbook's Int8MLP (the integer model the
int8 graph writes out), ONNX Runtime's session options; no timing thresholds.
"""

from __future__ import annotations

import os

import onnx
import onnxruntime as ort
import pytest
import torch
from onnx import TensorProto, helper
from torch import nn

from distill_lib import deployment as dep
from distill_lib.data import load_split
from distill_lib.models import count_parameters, mlp
from distill_lib.pruning import prune_magnitude
from distill_lib.quantization import FakeQuantMLP, Int8MLP

SIZES = {"one_hidden": [8, 5, 3], "two_hidden_dropout": [8, 16, 12, 4], "no_hidden": [8, 4]}


def _model(name: str) -> nn.Sequential:
    torch.manual_seed(len(name))
    return mlp(SIZES[name], dropout=0.3 if "dropout" in name else 0.0)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """Each model exported once (the dynamo exporter takes about a second per model)."""
    folder = tmp_path_factory.mktemp("onnx")
    out = {}
    for name in SIZES:
        model = _model(name).train()  # export must not need (or change) eval mode
        out[name] = (model, dep.export_onnx(model, folder / f"{name}.onnx"))
    return out


@pytest.fixture(scope="module")
def digits():
    return load_split()


# ------------------------------------------------------------------------------ fp32


@pytest.mark.parametrize("name", list(SIZES))
@pytest.mark.parametrize("batch", [1, 3, 37])
def test_ort_fp32_equals_pytorch(exported, name, batch):
    model, path = exported[name]
    X = torch.randn(batch, SIZES[name][0], generator=torch.Generator().manual_seed(batch))
    with torch.no_grad():
        expected = model.eval()(X)
    model.train()
    got = dep.ort_logits(dep.ort_session(path), X)
    assert got.dtype == torch.float32 and got.shape == expected.shape
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


def test_export_keeps_the_callers_mode_and_weights(tmp_path):
    model = _model("two_hidden_dropout").train()
    before = [p.detach().clone() for p in model.parameters()]
    dep.export_onnx(model, tmp_path / "m.onnx")
    assert model.training and all(m.training for m in model)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_a_pruned_model_exports_with_its_masks_folded_in(tmp_path):
    model = _model("two_hidden_dropout").eval()
    prune_magnitude(model, 0.5)
    path = dep.export_onnx(model, tmp_path / "pruned.onnx")
    assert hasattr(model[0], "weight_mask")  # the caller's masks stay
    X = torch.randn(5, 8)
    with torch.no_grad():
        torch.testing.assert_close(dep.ort_logits(dep.ort_session(path), X), model(X), atol=1e-5, rtol=1e-5)


def test_export_is_quiet(tmp_path, capfd, recwarn):
    """No progress prints, no warnings (the dynamo exporter, not the deprecated TorchScript one)."""
    dep.export_onnx(_model("one_hidden"), tmp_path / "m.onnx")
    out, err = capfd.readouterr()
    assert out == "" and err == ""
    assert [str(w.message) for w in recwarn] == []


def test_exported_graph_has_no_dropout_and_a_dynamic_batch(exported):
    model, path = exported["two_hidden_dropout"]
    assert dep.op_types(path) == ["Gemm", "Relu", "Gemm", "Relu", "Gemm"]
    graph = onnx.load(str(path)).graph
    assert graph.input[0].type.tensor_type.shape.dim[0].dim_param  # symbolic, not a fixed 2
    assert not any(n.metadata_props for n in graph.node)  # the exporter's stack traces stripped


def test_onnx_bytes_counts_the_weights_exactly(exported):
    model, path = exported["two_hidden_dropout"]
    size = dep.onnx_bytes(path)
    assert size.file == os.path.getsize(path)
    assert size.initializers == 4 * count_parameters(model)  # fp32 weights and biases, nothing else
    assert 0 < size.overhead == size.file - size.initializers


# ------------------------------------------------------------------------------ sessions


@pytest.mark.parametrize("num_threads, expected", [(1, 1), (3, 3), (None, 0)])
def test_session_thread_settings(exported, num_threads, expected):
    options = dep.ort_session(exported["one_hidden"][1], num_threads=num_threads).get_session_options()
    assert options.intra_op_num_threads == expected
    assert options.inter_op_num_threads == 1
    assert options.execution_mode == ort.ExecutionMode.ORT_SEQUENTIAL
    assert options.graph_optimization_level == ort.GraphOptimizationLevel.ORT_ENABLE_ALL


def test_session_from_a_model_proto_and_the_optimised_graph(exported, tmp_path):
    model, path = exported["one_hidden"]
    session = dep.ort_session(onnx.load(str(path)), optimized_model_path=tmp_path / "opt.onnx")
    assert (tmp_path / "opt.onnx").is_file()
    assert dep.op_types(tmp_path / "opt.onnx") == ["com.microsoft.FusedGemm", "Gemm"]  # ReLU fused into the Gemm
    X = torch.randn(4, 8)
    with torch.no_grad():
        torch.testing.assert_close(dep.ort_logits(session, X), model.eval()(X), atol=1e-5, rtol=1e-5)


def test_compare_logits_by_hand():
    a = torch.tensor([[1.0, 2.0], [3.0, 0.0], [0.0, 1.0], [5.0, 4.0]])
    b = torch.tensor([[1.0, 2.5], [2.0, 4.0], [0.0, 1.0], [5.0, 4.0]])
    assert dep.compare_logits(a, b) == dep.Agreement(0.75, 4.0)  # row 1 flips; |0 - 4| = 4
    with pytest.raises(ValueError, match=r"logits has shape \(4, 2\) but reference has shape \(3, 2\)"):
        dep.compare_logits(a, b[:3])


# ------------------------------------------------------------------------------ int8: the workbook's codes


def _int8(sizes, X_cal, seed=0):
    torch.manual_seed(seed)
    return Int8MLP(FakeQuantMLP(mlp(sizes), weight_bits=8, activation_bits=8).calibrate(X_cal))


def _with_outputs(path, names):
    """The int8 graph with its hidden codes (uint8 tensors ``q1, q2, ...``) as extra outputs."""
    model = onnx.load(str(path))
    model.graph.output.extend(helper.make_tensor_value_info(n, TensorProto.UINT8, None) for n in names)
    return dep.ort_session(model)


def test_int8_graph_reproduces_int8mlp(digits, tmp_path):
    """Input codes equal, hidden codes within one step, logits exactly the integer consequence of those steps."""
    int8 = _int8([64, 32, 10], digits.X_train[:256])
    session = _with_outputs(dep.int8_onnx(int8, tmp_path / "q.onnx"), ["q0", "q1"])
    X = torch.cat([digits.X_test, torch.rand(500, 64) * 16])
    logits, q0, q1 = (torch.from_numpy(a) for a in session.run(None, {"x": X.numpy()}))
    codes = int8.input_codes(X)  # on the [0, 255] scale
    assert torch.equal(q0.int(), codes[0])
    step = q1.int() - codes[1]  # (N, 32)
    assert step.abs().max() <= 1 and (step != 0).float().mean() <= 0.01
    last = int8.layers[-1]
    bound = (step.abs().double() @ last.weight.double().abs().t()) * int8.logit_scale.double()  # (N, C)
    diff = (logits - int8(X)).abs().double()
    assert (diff <= bound + 1e-5).all(), f"max excess {(diff - bound).max():.3g}"
    assert (logits.argmax(1) == int8(X).argmax(1)).float().mean() >= 0.99


@pytest.mark.parametrize("sizes", [[64, 10], [64, 24, 16, 10]])
def test_int8_graph_argmax_on_other_depths(digits, tmp_path, sizes):
    int8 = _int8(sizes, digits.X_train[:256], seed=len(sizes))
    session = dep.ort_session(dep.int8_onnx(int8, tmp_path / "q.onnx"))
    X = digits.X_test
    got, expected = dep.ort_logits(session, X), int8(X)
    assert (got.argmax(1) == expected.argmax(1)).float().mean() >= 0.99
    if len(sizes) == 2:  # no hidden layer: the only float step is the final multiply, as in Int8MLP
        torch.testing.assert_close(got, expected, atol=0, rtol=0)
    assert dep.op_types(tmp_path / "q.onnx").count("MatMulInteger") == len(sizes) - 1


def test_int8_onnx_refuses_a_model_that_is_not_int8(digits, tmp_path):
    int8 = _int8([64, 16, 10], digits.X_train[:64])
    int8.weight_0 = int8.weight_0.to(torch.int32)
    with pytest.raises(ValueError, match="layer 0 is not int8"):
        dep.int8_onnx(int8, tmp_path / "q.onnx")
    with pytest.raises(TypeError, match="int8_model must be a distill_lib.quantization.Int8MLP, got Sequential"):
        dep.int8_onnx(mlp([64, 10]), tmp_path / "q.onnx")
    assert not (tmp_path / "q.onnx").exists()


# ------------------------------------------------------------------------------ int8: ORT's own


def test_dynamic_int8_is_close_to_fp32(exported, tmp_path, digits):
    torch.manual_seed(0)
    model = mlp([64, 32, 10])
    fp32 = dep.export_onnx(model, tmp_path / "m.onnx")
    q = dep.quantize_dynamic_onnx(fp32, tmp_path / "m_int8.onnx")
    assert "MatMulInteger" in dep.op_types(q)
    X = digits.X_test
    with torch.no_grad():
        expected = model(X)
    got = dep.ort_logits(dep.ort_session(q), X)
    assert (got - expected).abs().max() <= 0.05 * expected.abs().max()
    assert (got.argmax(1) == expected.argmax(1)).float().mean() >= 0.98  # 8-bit weights: 86 % on AVX2 (saturation)
    assert dep.onnx_bytes(q).initializers < dep.onnx_bytes(fp32).initializers / 3  # int8 weights, fp32 biases


def test_static_qdq_int8_is_close_to_fp32(exported, tmp_path):
    model, fp32 = exported["one_hidden"]
    X = torch.randn(256, 8, generator=torch.Generator().manual_seed(1))
    q = dep.quantize_static_onnx(fp32, tmp_path / "s.onnx", X)
    assert {"QuantizeLinear", "DequantizeLinear"} <= set(dep.op_types(q))
    with torch.no_grad():
        expected = model.eval()(X)
    got = dep.ort_logits(dep.ort_session(q), X)
    assert (got - expected).abs().max() <= 0.05 * expected.abs().max()


# ------------------------------------------------------------------------------ latency


def test_latency_table_rows_are_well_formed(exported):
    model, path = exported["one_hidden"]
    model.eval()
    models = {"torch": model, "ort": path, "lambda": lambda X: X.sum()}
    rows = dep.latency_table(models, torch.randn(4, 8), baseline="torch", batch_sizes=(1, 4),
                             num_threads_list=(1, None), repeats=3, min_run_time=0.001)
    assert len(rows) == 2 * 2 * 3
    assert [r.model for r in rows[:3]] == ["torch", "ort", "lambda"]
    assert {(r.batch_size, r.num_threads) for r in rows} == {(b, t) for b in (1, 4) for t in (1, dep.all_threads())}
    for r in rows:
        assert r.seconds > 0 and 0 < r.low <= r.speedup <= r.high
        if r.model == "torch":
            assert r.speedup == r.low == r.high == 1.0
    assert len(dep.format_latency_table(rows).splitlines()) == len(rows) + 1


def test_format_drops_a_noisy_speedup():
    rows = [dep.LatencyRow("teacher", 256, 1, 7e-4, 1.0, 1.0, 1.0),
            dep.LatencyRow("noisy", 256, 1, 7e-5, 9.0, 3.0, 12.0)]
    lines = dep.format_latency_table(rows).splitlines()
    assert "1.00x (1.00-1.00)" in lines[1] and "700.0 us" in lines[1]
    assert "dropped (3.00-12.00)" in lines[2] and not rows[1].meaningful


# ------------------------------------------------------------------------------ bad input


def test_export_refuses_bad_input(tmp_path):
    with pytest.raises(TypeError, match="model must be a torch.nn.Module, got str"):
        dep.export_onnx("model", tmp_path / "m.onnx")
    with pytest.raises(TypeError, match="only Linear/ReLU/Dropout.*Conv1d"):
        dep.export_onnx(nn.Sequential(nn.Linear(8, 4), nn.Conv1d(1, 1, 1)), tmp_path / "m.onnx")
    with pytest.raises(ValueError, match="Linear layer 1 takes 5 inputs but layer 0 gives 4"):
        dep.export_onnx(nn.Sequential(nn.Linear(8, 4), nn.ReLU(), nn.Linear(5, 3)), tmp_path / "m.onnx")
    with pytest.raises(TypeError, match="nn.Sequential MLP.*got Linear"):
        dep.export_onnx(nn.Linear(8, 4), tmp_path / "m.onnx")
    with pytest.raises(ValueError, match=r"path='.*m.txt' must end in '.onnx'"):
        dep.export_onnx(mlp([8, 4]), tmp_path / "m.txt")
    with pytest.raises(ValueError, match="does not exist"):
        dep.export_onnx(mlp([8, 4]), tmp_path / "missing" / "m.onnx")
    with pytest.raises(TypeError, match="path must be a path.*int"):
        dep.export_onnx(mlp([8, 4]), 3)
    with pytest.raises(TypeError, match="example must be a float32 tensor, got dtype=torch.float64"):
        dep.export_onnx(mlp([8, 4]), tmp_path / "m.onnx", example=torch.zeros(2, 8, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"example must have shape \(N, 8\) with N >= 2, got \(1, 8\)"):
        dep.export_onnx(mlp([8, 4]), tmp_path / "m.onnx", example=torch.zeros(1, 8))
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_sessions_refuse_bad_input(exported, tmp_path):
    path = exported["one_hidden"][1]
    with pytest.raises(ValueError, match=r"num_threads=0 is out of range; allowed: \[1, inf\]"):
        dep.ort_session(path, num_threads=0)
    with pytest.raises(TypeError, match="num_threads must be an integer, got bool"):
        dep.ort_session(path, num_threads=True)
    with pytest.raises(ValueError, match="is not an existing file"):
        dep.ort_session(tmp_path / "none.onnx")
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a protobuf")
    with pytest.raises(ValueError, match="ONNX Runtime cannot load .*broken.onnx"):
        dep.ort_session(broken)
    with pytest.raises(ValueError, match="broken.onnx' is not a valid ONNX model"):
        dep.onnx_bytes(broken)
    session = dep.ort_session(path)
    with pytest.raises(TypeError, match="X must be a float32 tensor, got dtype=torch.float64"):
        dep.ort_logits(session, torch.zeros(2, 8, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"X must have shape \(N, 8\) for this model, got \(2, 7\)"):
        dep.ort_logits(session, torch.zeros(2, 7))
    with pytest.raises(ValueError, match="NaN"):
        dep.ort_logits(session, torch.full((2, 8), float("nan")))
    with pytest.raises(TypeError, match="session must be an onnxruntime.InferenceSession"):
        dep.ort_logits(path, torch.zeros(2, 8))


def test_quantizers_and_latency_refuse_bad_input(exported, tmp_path):
    model, path = exported["one_hidden"]
    with pytest.raises(ValueError, match="out_path=.* is fp32_path"):
        dep.quantize_dynamic_onnx(path, path)
    with pytest.raises(ValueError, match=r"calibration_X must have shape \(N, 8\)"):
        dep.quantize_static_onnx(path, tmp_path / "s.onnx", torch.zeros(4, 5))
    assert not (tmp_path / "s.onnx").exists()
    with pytest.raises(ValueError, match="baseline='teacher' is not one of the models"):
        dep.latency_table({"m": model}, torch.zeros(4, 8), baseline="teacher")
    with pytest.raises(ValueError, match=r"batch_sizes\[1\]=256 is out of range; allowed: \[1, 4\]"):
        dep.latency_table({"m": model}, torch.zeros(4, 8), baseline="m")
    with pytest.raises(TypeError, match=r"models\['x'\] must be a callable f\(X\) or the path"):
        dep.latency_table({"m": model, "x": 3}, torch.zeros(4, 8), baseline="m")
    with pytest.raises(ValueError, match=r"num_threads_list\[0\]=0 is out of range"):
        dep.latency_table({"m": model}, torch.zeros(4, 8), baseline="m", batch_sizes=(1,), num_threads_list=(0,))


def test_a_contended_thread_block_is_dropped():
    """A baseline far slower on more threads measures the machine's load: every row of that block is dropped."""
    from distill_lib.deployment import LatencyRow, format_latency_table
    from distill_lib.timing import MAX_SPREAD

    quiet = LatencyRow("teacher", 256, 1, 1e-3, 1.0, 1.0, 1.0)
    busy = LatencyRow("teacher", 256, 2, 1e-3 * (MAX_SPREAD + 1), 1.0, 1.0, 1.0, contended=True)
    student = LatencyRow("student", 256, 2, 1e-5, 600.0, 590.0, 610.0, contended=True)
    assert quiet.meaningful and not busy.meaningful and not student.meaningful
    text = format_latency_table([quiet, busy, student])
    assert text.count("busy cores") == 2 and "600.00x" not in text


def test_latency_table_marks_the_contended_block(monkeypatch):
    from distill_lib import deployment
    from distill_lib.timing import Speedup

    def fake_speedup(baseline, candidate, *, num_threads, repeats, min_run_time):
        base = 1e-3 if num_threads == 1 else 50e-3  # the teacher: 50x slower on 2 threads
        return Speedup((base / 1e-4,) * 3, base, 1e-4)

    monkeypatch.setattr(deployment, "speedup", fake_speedup)
    model = torch.nn.Sequential(torch.nn.Linear(4, 2))
    rows = deployment.latency_table({"teacher": model, "student": model}, torch.ones(8, 4), baseline="teacher",
                                    batch_sizes=(8,), num_threads_list=(1, 2))
    assert [(r.num_threads, r.contended) for r in rows] == [(1, False), (1, False), (2, True), (2, True)]


def test_export_refuses_non_finite_weights(tmp_path):
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2))
    with torch.no_grad():
        model[2].weight[0, 0] = float("nan")
    with pytest.raises(ValueError, match="Linear layer 1 weight"):
        dep.export_onnx(model, tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()
