r"""Deployment on a real runtime: the student as an ONNX file, run by ONNX Runtime on the CPU (notebook 06).

A trained model leaves PyTorch as an ONNX file (a protobuf holding the graph of operators and the
weights as "initializers") and runs in ONNX Runtime (ORT), which needs no Python model code and
has its own CPU kernels. This module does the four steps of notebook 06's deployment section:

* :func:`export_onnx`: ``torch.onnx.export`` of an MLP (Linear/ReLU/Dropout), with a dynamic batch
  dimension; :func:`onnx_bytes`: how big the file is, and how much of it is weights.
* :func:`ort_session`, :func:`ort_logits`: an ``InferenceSession`` on ``CPUExecutionProvider`` with
  a fixed number of threads, and its logits as a torch tensor; :func:`compare_logits`: same argmax,
  largest difference; :func:`op_types` lists the operators of a file (pass ``optimized_model_path``
  to :func:`ort_session` to see what ORT actually runs).
* int8, two ways: ORT's own quantization (:func:`quantize_dynamic_onnx`, int8 weights with the
  activations quantized at run time; :func:`quantize_static_onnx`, QDQ with calibrated
  activations), and **the workbook's own integer model** of notebook 04
  (:class:`~distill_lib.quantization.int8.Int8MLP`) written as an ONNX graph of standard operators
  (:func:`int8_onnx`, built by the shown core :func:`_int8_graph`).
* :func:`latency_table`: median seconds per batch and the speed-up over a baseline (the teacher
  in PyTorch fp32), at several batch sizes and thread settings, through :func:`distill_lib.timing.speedup`.

**The workbook's int8 graph.** Per layer, ``MatMulInteger`` computes :math:`\sum_k q_x (q_w - z_w)`
exactly in int32, ``Add`` adds the folded int32 bias (so the accumulator is bit for bit
:func:`~distill_lib.quantization.int8.integer_linear`'s), and the requantization to the next
layer's 8-bit grid is ``Cast`` to float, ``Mul`` by :math:`M = s_x s_w / s_y` (float32) and
``QuantizeLinear`` (round half to even, add the zero point, saturate); ReLU is a ``Clip`` at the
output zero point. The last layer's int32 accumulators become logits by one ``Mul`` by the logit
scale, exactly as ``Int8MLP`` does. Codes are stored as ``uint8 = int8 code + 128`` with zero point
128 (the same numbers): on x86 CPUs without VNNI, ORT's (MLAS) uint8 x int8 kernel adds pairs of
products in a saturating int16 (AVX2 ``vpmaddubsw``, the problem notebook 04 met in PyTorch's
fbgemm), its int8 x int8 kernel is a slow portable loop, while uint8 x uint8 is exact and fast.
**Why the logits are not identical to** ``Int8MLP``'s: gemmlowp's requantization multiplies by a
31-bit fixed-point :math:`M_0` and rounds twice (SaturatingRoundingDoublingHighMul, then a
rounding shift, ties away from zero); ORT multiplies by a float32 :math:`M` (24-bit mantissa) and
rounds once, ties to even. A hidden code near a rounding boundary can land one step apart; in
the last hidden layer each such step moves a logit by exactly ``logit_scale * q_w`` (the weight
code joining them); in deeper networks a step can move later codes too. Measured on the digits'
test set, distilled 64-128-10 student: 0.08 % of hidden codes one step apart, no other
difference, identical predictions, max |logit difference| 0.049 (the logits span -24 to 28).

**What ORT actually runs** (its optimised graphs, ``ORT_ENABLE_ALL``, ORT 1.32 on x86): fp32,
``com.microsoft.FusedGemm`` (Gemm + ReLU) and ``Gemm``; dynamic int8,
``com.microsoft.DynamicQuantizeMatMul`` per layer; static QDQ, ``QuantizeLinear``,
``com.microsoft.QGemm`` per layer, ``DequantizeLinear``; the workbook's graph, its own operators
unchanged.

**Exporter.** torch 2.13 has two: the default ``dynamo=True`` (``torch.export`` then ONNX Script;
about 3 s for the first export in a process, then about 1 s) and the TorchScript one
(``dynamo=False``, about 0.1 s, deprecated: it raises a ``DeprecationWarning`` and will be
removed). :func:`export_onnx` uses the supported one; one or two exports fit the notebook's 60 s,
and a course should not teach an API on its way out.
Both write the same five operators (``Gemm``, ``Relu``) for an MLP; Dropout is gone in eval mode.

References: ONNX (https://onnx.ai/onnx/operators/); ONNX Runtime, "Quantize ONNX models"
(https://onnxruntime.ai/docs/performance/model-optimizations/quantization.html); B. Jacob et al.,
*Quantization and Training of Neural Networks for Efficient Integer-Arithmetic-Only Inference*,
CVPR 2018 (the integer model); S. Han, H. Mao, W. Dally, *Deep Compression*, ICLR 2016 (why bytes
and latency both matter).
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import statistics
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
import onnx
import onnxruntime as ort
import torch
from onnx import TensorProto, helper, numpy_helper
from torch import Tensor, nn

from ._validation import check_finite_tensor, check_int, check_logits, check_module, check_real, check_same_shape
from .pruning.apply import copy_model, make_permanent
from .quantization.int8 import Int8MLP
from .timing import MAX_SPREAD, speedup

__all__ = ["OPSET", "export_onnx", "onnx_bytes", "OnnxBytes", "op_types", "all_threads", "ort_session", "ort_logits",
           "Agreement", "compare_logits", "quantize_dynamic_onnx", "quantize_static_onnx", "int8_onnx", "LatencyRow",
           "latency_table", "format_latency_table"]

#: The ONNX opset of every file written here (ORT 1.32 runs opsets up to 23; 18 is the dynamo exporter's default).
OPSET = 18

_MLP_LAYERS = (nn.Linear, nn.ReLU, nn.Dropout)


# ------------------------------------------------------------------------------ checks


def _check_mlp(name: str, model: object) -> nn.Sequential:
    check_module(name, model)
    if not isinstance(model, nn.Sequential) or not any(isinstance(m, nn.Linear) for m in model):
        raise TypeError(f"{name} must be an nn.Sequential MLP of Linear/ReLU/Dropout layers "
                        f"(see distill_lib.models.mlp), got {type(model).__name__}")
    bad = [type(m).__name__ for m in model if not isinstance(m, _MLP_LAYERS)]
    if bad or not isinstance(model[0], nn.Linear):
        raise TypeError(f"{name} must hold only Linear/ReLU/Dropout layers, starting with a Linear; got "
                        f"{[type(m).__name__ for m in model]}")
    linears = [m for m in model if isinstance(m, nn.Linear)]
    for i, (a, b) in enumerate(zip(linears, linears[1:])):
        if b.in_features != a.out_features:
            raise ValueError(f"{name}: Linear layer {i + 1} takes {b.in_features} inputs but layer {i} gives "
                             f"{a.out_features}")
    for i, layer in enumerate(linears):
        for part in ("weight", "bias"):
            if getattr(layer, part) is not None:
                check_finite_tensor(f"{name}: Linear layer {i} {part}", getattr(layer, part).detach(), what="weights")
    return model


def _check_path(name: str, path: object, *, output: bool) -> Path:
    """A path to an existing file (``output=False``) or to a new ``.onnx`` file in an existing folder."""
    if isinstance(path, bool) or not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{name} must be a path (str or os.PathLike), got {type(path).__name__}")
    path = Path(path)
    if output:
        if path.suffix != ".onnx":
            raise ValueError(f"{name}={str(path)!r} must end in '.onnx'")
        if not path.parent.is_dir():
            raise ValueError(f"{name}={str(path)!r}: the folder {str(path.parent)!r} does not exist")
        if path.is_dir():
            raise ValueError(f"{name}={str(path)!r} is a folder, not a file")
    elif not path.is_file():
        raise ValueError(f"{name}={str(path)!r} is not an existing file")
    return path


def _load_onnx(name: str, path: Path) -> onnx.ModelProto:
    try:
        model = onnx.load(str(path))
        onnx.checker.check_model(model)
    except Exception as e:  # protobuf DecodeError, onnx's ValidationError: either way a broken file
        raise ValueError(f"{name}={str(path)!r} is not a valid ONNX model: {type(e).__name__}: {e}") from e
    return model


def _check_threads(num_threads: object) -> int | None:
    return None if num_threads is None else check_int("num_threads", num_threads, low=1)


# ------------------------------------------------------------------------------ export


@contextlib.contextmanager
def _quiet_exporter() -> Iterator[None]:
    """Silence the dynamo exporter's known noise (torchvision notices, a pytree FutureWarning); errors still raise."""
    logger = logging.getLogger("torch.onnx._internal.exporter._registration")  # "torchvision is not installed"
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r".*LeafSpec.*", category=FutureWarning)
            yield
    finally:
        logger.setLevel(level)


def export_onnx(model: nn.Module, path: str | os.PathLike, *, example: Tensor | None = None) -> Path:
    """Export an MLP to an ONNX file with a dynamic batch dimension.

    Uses ``torch.onnx.export(dynamo=True)`` (the supported exporter; the TorchScript one is
    deprecated), opset :data:`OPSET`, all weights inside the one file (``external_data=False``),
    input ``"x"`` ``(batch, F)``, output ``"logits"`` ``(batch, C)``. The export runs on a copy in
    eval mode (pruning masks folded in), so ``model`` keeps its mode; Dropout disappears.

    Args:
        model: an ``nn.Sequential`` of ``Linear``/``ReLU``/``Dropout`` (e.g. :func:`~distill_lib.models.mlp`).
        path: the ``.onnx`` file to write, in an existing folder (overwritten).
        example: a float32 batch ``(N, F)``, ``N >= 2``, to trace with; ``None`` uses zeros ``(2, F)``.
            (At ``N = 1`` ``torch.export`` would fix the batch to 1.)

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        TypeError: ``model`` not such an MLP; ``path`` not a path; ``example`` not a float32 tensor.
        ValueError: ``path`` not ``.onnx`` or its folder missing; ``example`` of the wrong shape or not finite.

    Example::

        >>> path = export_onnx(student, "student.onnx")
        >>> ort_logits(ort_session(path), split.X_test).argmax(1)
    """
    model = _check_mlp("model", model)
    path = _check_path("path", path, output=True)
    in_features = model[0].in_features
    if example is None:
        example = torch.zeros(2, in_features)
    check_finite_tensor("example", example, dtype=torch.float32, what="inputs")
    if example.ndim != 2 or example.shape[1] != in_features or example.shape[0] < 2:
        raise ValueError(f"example must have shape (N, {in_features}) with N >= 2, got {tuple(example.shape)}")
    frozen = make_permanent(copy_model(model)).eval()
    with _quiet_exporter():
        torch.onnx.export(frozen, (example,), str(path), dynamo=True, verbose=False, external_data=False,
                          opset_version=OPSET, input_names=["x"], output_names=["logits"],
                          dynamic_shapes=({0: torch.export.Dim("batch")},))
    _strip_metadata(path)
    return path


def _strip_metadata(path: Path) -> None:
    """Drop the dynamo exporter's per-node debugging notes (Python stack traces with local paths, FX names)."""
    model = onnx.load(str(path))
    for n in model.graph.node:
        n.ClearField("metadata_props")
        n.doc_string = ""
    onnx.save(model, str(path))


class OnnxBytes(NamedTuple):
    """Bytes of an ONNX file: the whole file, and the raw data of its initializers (the weights)."""

    file: int
    initializers: int

    @property
    def overhead(self) -> int:
        """Everything but the weights: operators, tensor names, shapes, opset, producer, protobuf tags."""
        return self.file - self.initializers


def onnx_bytes(path: str | os.PathLike) -> OnnxBytes:
    """The size of an ONNX file, and how much of it is weights.

    Args:
        path: an existing ``.onnx`` file.

    Returns:
        :class:`OnnxBytes` ``(file, initializers)``; ``.overhead`` is the graph, names and protobuf framing.

    Raises:
        TypeError, ValueError: ``path`` not an existing, valid ONNX file.

    Example::

        >>> onnx_bytes("student.onnx")   # OnnxBytes(file=39523, initializers=38440)
    """
    path = _check_path("path", path, output=False)
    model = _load_onnx("path", path)
    weights = sum(numpy_helper.to_array(t).nbytes for t in model.graph.initializer)
    return OnnxBytes(path.stat().st_size, weights)


def op_types(path_or_model: str | os.PathLike | onnx.ModelProto) -> list[str]:
    """The operators of an ONNX graph, in order, ``"domain.Op"`` for non-standard ones (e.g. ``com.microsoft``).

    Example::

        >>> op_types("student.onnx")
        ['Gemm', 'Relu', 'Gemm']
    """
    if not isinstance(path_or_model, onnx.ModelProto):
        path_or_model = _load_onnx("path_or_model", _check_path("path_or_model", path_or_model, output=False))
    return [f"{n.domain}.{n.op_type}" if n.domain else n.op_type for n in path_or_model.graph.node]


# ------------------------------------------------------------------------------ running


def all_threads() -> int:
    """The number of CPU cores this process may use (what ``num_threads=None`` means)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def ort_session(path_or_model: str | os.PathLike | onnx.ModelProto, *, num_threads: int | None = 1,
                optimized_model_path: str | os.PathLike | None = None) -> ort.InferenceSession:
    """An ONNX Runtime session on the CPU with a fixed number of threads.

    ``CPUExecutionProvider``, ``intra_op_num_threads=num_threads`` (the threads inside one
    operator), ``inter_op_num_threads=1`` and sequential execution (an MLP is a chain: nothing runs
    side by side), all graph optimisations (``ORT_ENABLE_ALL``: constant folding, fusions such as
    ``MatMul + Add -> Gemm``, layout changes). A session's thread pool is fixed when it is created:
    to time another thread count, create another session.

    Args:
        path_or_model: an ``.onnx`` file or an ``onnx.ModelProto``.
        num_threads: ``>= 1``; ``None`` means all cores: ORT's ``intra_op_num_threads=0``, which
            makes one thread per *physical* core (hyper-threads not counted).
        optimized_model_path: if given, ORT writes the graph it actually runs there (after its
            fusions; read it with :func:`op_types`). Its warning that such a file is specific to
            this machine is silenced.

    Returns:
        An ``onnxruntime.InferenceSession``; ``session.get_session_options().intra_op_num_threads``
        is ``num_threads`` (0 for ``None``).

    Raises:
        TypeError, ValueError: bad ``num_threads``; a path that is not an existing, valid ONNX file.

    Example::

        >>> session = ort_session("student.onnx", num_threads=1)
        >>> ort_logits(session, split.X_test).shape
        torch.Size([359, 10])
    """
    num_threads = _check_threads(num_threads)
    if isinstance(path_or_model, onnx.ModelProto):
        source: str | bytes = path_or_model.SerializeToString()
        name = "the given onnx.ModelProto"
    else:
        path = _check_path("path_or_model", path_or_model, output=False)
        source, name = str(path), repr(str(path))
    options = ort.SessionOptions()
    options.intra_op_num_threads = 0 if num_threads is None else num_threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if optimized_model_path is not None:
        options.optimized_model_filepath = str(_check_path("optimized_model_path", optimized_model_path, output=True))
        options.log_severity_level = 3  # errors only: the "hardware specific optimizations" notice
    try:
        return ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])
    except Exception as e:  # ORT's InvalidProtobuf, Fail, InvalidGraph: all mean a file it cannot run
        raise ValueError(f"ONNX Runtime cannot load {name}: {type(e).__name__}: {e}") from e


def _check_session_input(session: object, X: object, name: str = "X") -> tuple[str, np.ndarray]:
    if not isinstance(session, ort.InferenceSession):
        raise TypeError(f"session must be an onnxruntime.InferenceSession (see ort_session), "
                        f"got {type(session).__name__}")
    X = check_finite_tensor(name, X, dtype=torch.float32, what="inputs")
    (inp,) = session.get_inputs()
    features = inp.shape[1]
    if X.ndim != 2 or (isinstance(features, int) and X.shape[1] != features):
        raise ValueError(f"{name} must have shape (N, {features}) for this model, got {tuple(X.shape)}")
    return inp.name, X.detach().contiguous().numpy()


def ort_logits(session: ort.InferenceSession, X: Tensor) -> Tensor:
    """Run an ORT session on a float32 batch: logits as a torch tensor.

    Args:
        session: from :func:`ort_session`, with one input ``(N, F)`` and logits as its first output.
        X: float32 ``(N, F)``, finite (nothing is cast: a float64 tensor is refused).

    Shape:
        ``(N, F)`` -> ``(N, C)``.

    Raises:
        TypeError: ``session`` not an ``InferenceSession``; ``X`` not a float32 tensor.
        ValueError: ``X`` of the wrong shape, empty or not finite.

    Example::

        >>> ort_logits(ort_session("student.onnx"), split.X_test).argmax(1)
    """
    name, x = _check_session_input(session, X)
    return torch.from_numpy(session.run(None, {name: x})[0])


class Agreement(NamedTuple):
    """How closely two models' logits agree on the same inputs."""

    same_argmax: float  # fraction of rows (inputs) whose predicted class is the same, in [0, 1]
    max_abs_diff: float  # the largest |logit difference| over all rows and classes


def compare_logits(logits: Tensor, reference: Tensor) -> Agreement:
    """Same predictions? How far apart are the logits? (e.g. ORT against PyTorch on the test set)

    Args:
        logits, reference: float ``(N, C)`` logits of two models on the same ``N`` inputs.

    Returns:
        :class:`Agreement` ``(same_argmax, max_abs_diff)``.

    Raises:
        TypeError, ValueError: not finite float ``(N, C)`` tensors, or shapes that differ.

    Example::

        >>> compare_logits(ort_logits(session, split.X_test), int8(split.X_test))
        Agreement(same_argmax=1.0, max_abs_diff=0.049)
    """
    check_logits("logits", logits)
    check_logits("reference", reference)
    check_same_shape("logits", logits, "reference", reference)
    a, b = logits.detach().double(), reference.detach().double()
    return Agreement((a.argmax(1) == b.argmax(1)).double().mean().item(), (a - b).abs().max().item())


# ------------------------------------------------------------------------------ int8: ORT's own


@contextlib.contextmanager
def _quiet_quantizer() -> Iterator[None]:
    """Drop ORT's advice to run its pre-processing script (logged on the root logger); keep everything else."""
    class _Drop(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            return "pre-processing before quantization" not in record.getMessage()

    root, drop = logging.getLogger(), _Drop()
    root.addFilter(drop)
    try:
        yield
    finally:
        root.removeFilter(drop)


def _check_in_out(fp32_path: object, out_path: object) -> tuple[Path, Path]:
    src = _check_path("fp32_path", fp32_path, output=False)
    dst = _check_path("out_path", out_path, output=True)
    if dst.resolve() == src.resolve():
        raise ValueError(f"out_path={str(dst)!r} is fp32_path: write the int8 model to another file")
    _load_onnx("fp32_path", src)
    return src, dst


def quantize_dynamic_onnx(fp32_path: str | os.PathLike, out_path: str | os.PathLike, *,
                          per_channel: bool = False, reduce_range: bool = True) -> Path:
    """ONNX Runtime's dynamic quantization: int8 weights, activations quantized at run time.

    ``onnxruntime.quantization.quantize_dynamic(weight_type=QInt8)``: each ``MatMul``/``Gemm``
    becomes ``DynamicQuantizeLinear`` (uint8 codes from each batch's own min and max) +
    ``MatMulInteger`` + rescale, which ORT fuses into ``com.microsoft.DynamicQuantizeMatMul``.
    No calibration data is needed.

    ``reduce_range=True`` (the default here, not ORT's) stores 7-bit weights (``[-64, 63]``): on
    x86 CPUs without VNNI (AVX2, AVX-512 without VNNI), ORT's uint8 x int8 kernel adds pairs of
    products in a saturating int16 (``vpmaddubsw``), and with full 8-bit weights and activations a
    pair can pass 32,767. ORT's documentation recommends 7 bits there. Measured on an AVX2 CPU, a
    random 64-32-10 MLP on the digits: 8-bit weights agree with fp32 on 86 % of the argmaxes
    (logits off by 20 % of their range), 7-bit ones on 99 % (1 %).

    Args:
        fp32_path: an fp32 ONNX file (from :func:`export_onnx`).
        out_path: the ``.onnx`` file to write (not ``fp32_path``).
        per_channel: one weight scale per output channel instead of per tensor.
        reduce_range: 7-bit weights (see above); ``False`` for 8 bits on CPUs with VNNI
            (:func:`~distill_lib.quantization.int8.cpu_int8_features`).

    Returns:
        ``out_path`` as a :class:`~pathlib.Path`.

    Raises:
        TypeError, ValueError: bad paths, or ``fp32_path`` not a valid ONNX file (nothing is written).

    Example::

        >>> quantize_dynamic_onnx("student.onnx", "student_dynamic_int8.onnx")
    """
    src, dst = _check_in_out(fp32_path, out_path)
    for name, flag in (("per_channel", per_channel), ("reduce_range", reduce_range)):
        if not isinstance(flag, bool):
            raise TypeError(f"{name} must be True or False, got {flag!r}")
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with _quiet_quantizer():
        quantize_dynamic(src, dst, weight_type=QuantType.QInt8, per_channel=per_channel, reduce_range=reduce_range)
    return dst


class _BatchReader:
    """ORT's CalibrationDataReader protocol: ``get_next()`` returns one input dict, then ``None``."""

    def __init__(self, name: str, X: np.ndarray, batch_size: int = 256) -> None:
        self.batches = iter([{name: X[i:i + batch_size]} for i in range(0, len(X), batch_size)])

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self.batches, None)


def quantize_static_onnx(fp32_path: str | os.PathLike, out_path: str | os.PathLike, calibration_X: Tensor) -> Path:
    """ONNX Runtime's static quantization in QDQ format, calibrated on ``calibration_X``.

    ``onnxruntime.quantization.quantize_static``: min/max calibration of every activation,
    uint8 activations and 7-bit per-channel weights (``reduce_range=True``, see
    :func:`quantize_dynamic_onnx`) written as ``QuantizeLinear``/``DequantizeLinear``
    pairs around the fp32 operators (QDQ); at load time ORT fuses each pair pattern into integer
    kernels (``QGemm``, ``QLinearMatMul``...; see :func:`op_types` on the optimised graph).

    Args:
        fp32_path: an fp32 ONNX file (from :func:`export_onnx`).
        out_path: the ``.onnx`` file to write (not ``fp32_path``).
        calibration_X: float32 ``(N, F)`` training inputs (e.g. ``split.X_train[:256]``).

    Returns:
        ``out_path`` as a :class:`~pathlib.Path`.

    Raises:
        TypeError, ValueError: bad paths, ``fp32_path`` not valid, ``calibration_X`` not float32 ``(N, F)``.

    Example::

        >>> quantize_static_onnx("student.onnx", "student_static_int8.onnx", split.X_train[:256])
    """
    src, dst = _check_in_out(fp32_path, out_path)
    name, x = _check_session_input(ort_session(src), calibration_X, "calibration_X")
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static

    with _quiet_quantizer():
        quantize_static(src, dst, _BatchReader(name, x), quant_format=QuantFormat.QDQ, per_channel=True,
                        reduce_range=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
    return dst


# ------------------------------------------------------------------------------ int8: the workbook's codes


def _uint8(codes):
    """int8 codes -> the same codes + 128 as uint8 (ORT's exact fast x86 kernel is uint8 x uint8)."""
    return (np.asarray(codes, dtype=np.int32) + 128).astype(np.uint8)


def _int8_graph(int8):
    """Int8MLP -> ONNX: MatMulInteger + int32 bias, requantize by M in float, ReLU as a Clip."""
    inits, nodes, node = [], [], helper.make_node

    def const(name, value):  # an initializer: a constant tensor stored in the file
        inits.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    one, z128 = const("one", np.float32(1.0)), const("z128", np.uint8(128))  # uint8 code 128 = int8 code 0
    s_x, z_x = const("s_x", int8.input_scale.numpy()), const("z_x", _uint8(int8.input_zero_point))
    nodes.append(node("QuantizeLinear", ["x", s_x, z_x], ["q0"]))  # (N, F) uint8: round(x / s_x) + z_x
    layers = int8.layers
    for i, layer in enumerate(layers):
        w, z_w = const(f"w{i}", _uint8(layer.weight.T)), const(f"z_w{i}", _uint8(layer.weight_zero_point))  # (in, out)
        nodes += [node("MatMulInteger", [f"q{i}", w, z128, z_w], [f"mm{i}"]),  # (N, out) int32: sum q_x (q_w - z_w)
                  node("Add", [f"mm{i}", const(f"b{i}", layer.bias.numpy())], [f"acc{i}"]),  # + the folded int32 bias
                  node("Cast", [f"acc{i}"], [f"f{i}"], to=TensorProto.FLOAT)]  # (N, out) float32
        if i + 1 < len(layers):  # requantize: round(acc * M) + z_y, ties to even, saturated; ReLU: clamp at z_y
            M = layer.multiplier.double() * 2.0 ** -(31 + layer.shift).double()  # (out,): s_x s_w / s_y
            z_y, low = const(f"z_y{i}", _uint8(layer.output_zero_point)), const(f"low{i}", _uint8(layer.output_min))
            nodes += [node("Mul", [f"f{i}", const(f"M{i}", M.float().numpy())], [f"y{i}"]),
                      node("QuantizeLinear", [f"y{i}", one, z_y], [f"r{i}"]),  # (N, out) uint8
                      node("Clip", [f"r{i}", low], [f"q{i + 1}"])]
    nodes.append(node("Mul", [f"f{i}", const("logit_scale", int8.logit_scale.numpy())], ["logits"]))  # (N, C)
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", layers[0].weight.shape[1]])  # (N, F)
    logits = helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", layers[-1].weight.shape[0]])  # (N, C)
    graph = helper.make_graph(nodes, "int8_mlp", [x], [logits], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])


def _check_int8_model(int8_model: object) -> Int8MLP:
    if not isinstance(int8_model, Int8MLP):
        raise TypeError(f"int8_model must be a distill_lib.quantization.Int8MLP, got {type(int8_model).__name__}")
    for i, layer in enumerate(int8_model.layers):
        dtypes = (layer.weight.dtype, layer.weight_zero_point.dtype, layer.bias.dtype)
        if dtypes != (torch.int8, torch.int32, torch.int32):
            raise ValueError(f"int8_model layer {i} is not int8: weight, weight_zero_point, bias have dtypes "
                             f"{[str(d) for d in dtypes]}, need int8, int32, int32")
        if not all(-128 <= int(v) <= 127 for v in (layer.weight_zero_point.min(), layer.weight_zero_point.max(),
                                                   layer.output_zero_point, layer.output_min)):
            raise ValueError(f"int8_model layer {i}: a zero point or clamp lies outside the int8 range [-128, 127]")
        if i + 1 < len(int8_model.layers) and ((layer.shift < 0).any() or (layer.multiplier <= 0).any()):
            raise ValueError(f"int8_model layer {i}: multiplier must be > 0 and shift >= 0 "
                             "(M = M0 * 2**-(31 + shift) < 1)")
    if int8_model.logit_scale.dtype != torch.float32 or int8_model.input_scale.dtype != torch.float32:
        raise ValueError("int8_model.logit_scale and input_scale must be float32")
    return int8_model


def int8_onnx(int8_model: Int8MLP, path: str | os.PathLike) -> Path:
    """Write the workbook's integer-only model (notebook 04's :class:`Int8MLP`) as an ONNX file.

    The graph (built by :func:`_int8_graph`) uses standard ONNX operators only: ``QuantizeLinear``
    of the input on the calibrated grid; per layer ``MatMulInteger`` (8-bit codes in, int32 out,
    exact) plus the folded int32 bias, so the accumulators equal
    :func:`~distill_lib.quantization.int8.integer_linear`'s bit for bit; requantization by the
    float32 multiplier ``M`` and ``QuantizeLinear``; ReLU as a ``Clip`` at the output zero point;
    the last layer's accumulators times the logit scale. ORT runs these operators as written (it
    fuses none of them; check with ``ort_session(..., optimized_model_path=...)`` and :func:`op_types`).

    The codes are stored as uint8 (int8 code + 128, zero point 128): on AVX2 CPUs ORT's uint8 x
    int8 kernel saturates and its int8 x int8 one is slow, uint8 x uint8 is exact and fast.
    The requantization rounds once in float32 (ties to even) where ``Int8MLP`` follows gemmlowp's
    fixed point (31-bit ``M0``, two roundings, ties away from zero), so a hidden code may differ by
    one step; with one hidden layer a logit then moves by ``logit_scale * sum q_w`` over the
    differing codes (exactly: the accumulators stay integers). The input codes, and every int32
    accumulator computed from equal codes, are identical.

    Args:
        int8_model: an :class:`~distill_lib.quantization.Int8MLP` (int8 weights, int32 biases).
        path: the ``.onnx`` file to write, in an existing folder.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        TypeError: ``int8_model`` not an ``Int8MLP``; ``path`` not a path.
        ValueError: a layer that is not int8 (dtypes, zero points, multipliers); a bad ``path``.
            Nothing is written then.

    Example::

        >>> int8 = Int8MLP(FakeQuantMLP(student, weight_bits=8, activation_bits=8).calibrate(split.X_train[:256]))
        >>> session = ort_session(int8_onnx(int8, "student_int8.onnx"))
        >>> (ort_logits(session, split.X_test).argmax(1) == int8(split.X_test).argmax(1)).float().mean()
    """
    int8_model = _check_int8_model(int8_model)
    path = _check_path("path", path, output=True)
    model = _int8_graph(int8_model)
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, str(path))
    return path


# ------------------------------------------------------------------------------ latency


class LatencyRow(NamedTuple):
    """One model at one batch size and thread count, timed against the baseline.

    ``seconds``: median seconds per batch; ``speedup``: baseline time / this time (> 1: faster),
    with ``low``/``high`` its min and max over the alternating repeats (see :mod:`distill_lib.timing`).
    The baseline's own row has ``speedup = low = high = 1``. ``meaningful`` is timing's drop rule:
    ``high / low <= MAX_SPREAD`` (a busy machine makes a figure meaningless; it is printed as dropped),
    and not ``contended``: the baseline took more than ``MAX_SPREAD`` times longer on these threads than
    on the fewest measured, so the cores were busy elsewhere and the whole block is dropped.
    """

    model: str
    batch_size: int
    num_threads: int
    seconds: float
    speedup: float
    low: float
    high: float
    contended: bool = False  # the baseline ran > MAX_SPREAD x slower on these threads than on the fewest

    @property
    def meaningful(self) -> bool:
        return not self.contended and self.high / self.low <= MAX_SPREAD


def _runner(model: object, X: Tensor, num_threads: int) -> Callable[[], object]:
    """A zero-argument callable: an ORT session for an ONNX path (made for this thread count), else ``model(X)``."""
    if isinstance(model, (str, os.PathLike)):
        session = ort_session(model, num_threads=num_threads)
        feed = {session.get_inputs()[0].name: X.numpy()}
        return lambda: session.run(None, feed)

    def run() -> object:
        with torch.no_grad():
            return model(X)
    return run


def latency_table(models: dict[str, Callable[[Tensor], object] | str | os.PathLike], X: Tensor, *, baseline: str,
                  batch_sizes: Sequence[int] = (1, 256), num_threads_list: Sequence[int | None] = (1, None),
                  repeats: int = 3, min_run_time: float = 0.02) -> list[LatencyRow]:
    """Latency of each model per batch, and its speed-up over ``baseline``, per batch size and thread count.

    For each batch size ``b`` (the first ``b`` rows of ``X``) and thread count, every model is
    timed against the baseline with :func:`distill_lib.timing.speedup` (alternating repeats,
    medians). PyTorch callables run under ``torch.no_grad`` with ``timing``'s thread setting;
    an ONNX path gets a fresh :func:`ort_session` with that many intra-op threads (a session's
    thread count is fixed when it is created; ``timing``'s ``num_threads`` only sets PyTorch's).

    Default cost: about ``2 * repeats * min_run_time`` seconds (plus warm-up) per model and
    setting, a few seconds for five models, two batch sizes, two thread counts. For steadier
    numbers pass ``repeats=7, min_run_time=0.1``.

    Args:
        models: name -> a callable ``f(X)`` (a PyTorch module or any function) or the path of an
            ``.onnx`` file; must contain ``baseline``.
        X: float32 inputs ``(N, F)`` with ``N >= max(batch_sizes)``.
        baseline: the name of the reference model (the teacher in PyTorch fp32).
        batch_sizes: batch sizes, each in ``[1, N]``.
        num_threads_list: thread counts, each ``>= 1`` or ``None`` (all cores, :func:`all_threads`).
        repeats, min_run_time: passed to :func:`~distill_lib.timing.speedup` (>= 3; > 0 seconds).

    Returns:
        A list of :class:`LatencyRow`, by batch size, then thread count, then model (baseline first).

    Raises:
        TypeError, ValueError: a model neither callable nor an existing file; ``baseline`` not in
            ``models``; bad ``X``, batch sizes, thread counts, ``repeats`` or ``min_run_time``.

    Example::

        >>> rows = latency_table({"teacher": teacher, "student ORT int8": "student_int8.onnx"},
        ...                      split.X_train, baseline="teacher")
        >>> print(format_latency_table(rows))
    """
    if not isinstance(models, dict) or not models:
        raise TypeError(f"models must be a non-empty dict name -> callable or .onnx path, got {type(models).__name__}")
    for name, m in models.items():
        if isinstance(m, (str, os.PathLike)):
            _load_onnx(f"models[{name!r}]", _check_path(f"models[{name!r}]", m, output=False))
        elif not callable(m):
            raise TypeError(f"models[{name!r}] must be a callable f(X) or the path of an .onnx file, "
                            f"got {type(m).__name__}")
    if baseline not in models:
        raise ValueError(f"baseline={baseline!r} is not one of the models {list(models)}")
    X = check_finite_tensor("X", X, dtype=torch.float32, what="inputs")
    if X.ndim != 2:
        raise ValueError(f"X must have shape (N, F), got {tuple(X.shape)}")
    sizes = [check_int(f"batch_sizes[{i}]", b, low=1, high=len(X)) for i, b in enumerate(batch_sizes)]
    threads = [all_threads() if t is None else check_int(f"num_threads_list[{i}]", t, low=1)
               for i, t in enumerate(num_threads_list)]
    if not sizes or not threads:
        raise ValueError("batch_sizes and num_threads_list must not be empty")
    repeats = check_int("repeats", repeats, low=3)
    min_run_time = check_real("min_run_time", min_run_time)
    if not (0 < min_run_time < math.inf):
        raise ValueError(f"min_run_time={min_run_time} must be a finite number of seconds > 0")
    rows = []
    for b in sizes:
        Xb = X[:b].contiguous()
        for t in threads:
            base = _runner(models[baseline], Xb, t)
            found = []
            for name, m in models.items():
                if name != baseline:
                    s = speedup(base, _runner(m, Xb, t), num_threads=t, repeats=repeats, min_run_time=min_run_time)
                    found.append((name, s))
            base_seconds = statistics.median(s.baseline for _, s in found) if found else \
                speedup(base, base, num_threads=t, repeats=repeats, min_run_time=min_run_time).baseline
            rows.append(LatencyRow(baseline, b, t, base_seconds, 1.0, 1.0, 1.0))
            rows += [LatencyRow(name, b, t, s.candidate, s.median, s.low, s.high) for name, s in found]
    # More threads than cores free: a baseline far slower on t threads than on the fewest measures the
    # machine's load (threads spinning against other processes), not the runtimes; drop the whole block.
    fewest = {b: min((r for r in rows if r.model == baseline and r.batch_size == b), key=lambda r: r.num_threads)
              for b in sizes}
    return [r._replace(contended=True) if r.num_threads > fewest[r.batch_size].num_threads and next(
        x for x in rows if x.model == baseline and (x.batch_size, x.num_threads) == (r.batch_size, r.num_threads)
    ).seconds > MAX_SPREAD * fewest[r.batch_size].seconds else r for r in rows]


def format_latency_table(rows: Sequence[LatencyRow]) -> str:
    """The rows of :func:`latency_table` as a fixed-width text table (for ``make benchmark`` and the notebook).

    A speed-up whose repeats span more than :data:`~distill_lib.timing.MAX_SPREAD` is printed as
    ``dropped`` with its range (the drop rule of :mod:`distill_lib.timing`).
    """
    if not all(isinstance(r, LatencyRow) for r in rows):
        raise TypeError("rows must be LatencyRow tuples from latency_table")
    width = max([len("model")] + [len(r.model) for r in rows])
    lines = [f"{'model':<{width}}  batch  threads  per batch    speed-up (min-max)"]
    for r in rows:
        per = f"{r.seconds * 1e6:9.1f} us" if r.seconds < 1e-2 else f"{r.seconds * 1e3:9.2f} ms"
        ratio = "busy cores" if r.contended else f"{r.speedup:6.2f}x" if r.meaningful else "dropped"
        lines.append(f"{r.model:<{width}}  {r.batch_size:5d}  {r.num_threads:7d}  {per}  "
                     f"{ratio} ({r.low:.2f}-{r.high:.2f})")
    return "\n".join(lines)
