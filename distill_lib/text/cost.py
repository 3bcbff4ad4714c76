"""What each text model costs to run: multiply-adds, parameters, bytes, sentences per second (notebook 09).

DistilBERT (V. Sanh et al., 2019) sells distillation by cost: 40 % fewer parameters, 60 % faster.
Notebook 09 puts its teacher (all-MiniLM-L6-v2 and a head) and its three students side by side,
together with what a practitioner tries *before* distilling: the same teacher in int8.

- :class:`TextModel`: a text classifier as it is deployed, ``run(*tokenize(texts))``, plus the fp32
  ``network`` whose parameters and multiply-adds are counted. Built by :func:`teacher_model`,
  :func:`student_model` and :func:`teacher_int8_model`.
- :func:`multiply_adds`: multiply-adds (MACs) of one forward pass per row, counted by PyTorch's
  ``torch.utils.flop_counter.FlopCounterMode`` (MACs = FLOPs / 2); :func:`macs_per_sentence`, each
  text alone (no padding).
- :func:`model_bytes`: parameters, bytes in fp32 and in int8 (the convention below).
- :func:`teacher_int8_onnx`: the teacher exported to ONNX and quantised by ONNX Runtime's dynamic
  int8 quantisation, cached under ``build/text/``.
- :func:`sentences_per_second`: texts per second, tokenisation included, on one thread by default,
  timed with :func:`distill_lib.timing.measure`.
- :func:`cost_table` and :func:`format_cost_table`: all of it, one row per model.

**What is counted as a multiply-add.** The products of matrix multiplications: ``Linear`` layers,
the GRU's gate matrices, and attention's two batched products (:math:`QK^\\top` and the weighted sum of
:math:`V`, :math:`2 T^2 d` per layer), as ``FlopCounterMode`` counts them. Element-wise work
(LayerNorm, GELU, softmax, the mean pooling) and embedding look-ups are not counted (the usual
convention of fvcore and ptflops). Two notes on PyTorch 2.13 on the CPU: ``FlopCounterMode``
has no formula for ``aten._scaled_dot_product_flash_attention_for_cpu`` (what
``F.scaled_dot_product_attention`` runs on the CPU), so it is given PyTorch's own SDPA formula
here (:data:`_CPU_ATTENTION`); ``nn.GRU`` on the CPU runs as ``addmm`` calls, which are counted
(checked against the hand formula in the tests). Padding positions cost what the model computes
on them: :func:`macs_per_sentence` counts each text alone.

**The int8 bytes convention.** The weight matrices of ``nn.Linear``, ``nn.Embedding`` and
``nn.GRU``/``nn.LSTM``/``nn.RNN`` take one byte per weight plus one fp32 scale (4 bytes) per output
channel (a row: an output unit of a ``Linear``, a token of an ``Embedding``, a gate unit of a
GRU), symmetric per-channel quantisation as ONNX Runtime's and PyTorch's dynamic int8 store them;
every other parameter (biases, LayerNorm) stays fp32, 4 bytes. fp32 bytes are 4 per parameter.

**The int8 teacher.** Two routes were measured (``tools/bench_nb09.py --full``: two shared AMD
EPYC cores with AVX2, no VNNI; one thread; 64 validation glosses for agreement, 256 of median
length for speed, tokenisation included):

- PyTorch's dynamic quantisation (``torch.ao.quantization.quantize_dynamic`` of the ``Linear``
  layers, per-channel weights): 0.3 s to make, but deprecated ("will be removed"), and its fbgemm
  kernels quantise activations to 7 bits: embedding cosine to fp32 0.978 (min 0.961; 0.95 with
  per-tensor weights); 1.9x the fp32 teacher's sentences per second at batch 1, 1.8x at batch 256.
- ONNX Runtime's dynamic quantisation, per-channel weights: cosine 0.992 (min 0.988), the same
  argmax on 98 % of the glosses; 3.0x at batch 1, 1.6x at batch 256. The export takes about 10 s
  and the quantisation 3 s, so the file is cached (:func:`teacher_int8_onnx`; 0.2 s to load).

This module uses ONNX Runtime, as notebook 06 does.

References: V. Sanh et al., *DistilBERT, a distilled version of BERT*, 2019; ONNX Runtime,
"Quantize ONNX models"; PyTorch, ``torch.utils.flop_counter``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import tempfile
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.flop_counter import FlopCounterMode, sdpa_flop_count

from .._validation import check_int, check_module, check_real
from ..deployment import OPSET, _quiet_exporter, ort_session, quantize_dynamic_onnx
from ..timing import Timing, measure
from .encoder import MAX_LENGTH, MiniLM, _mean_pool
from .tokens import MAX_TOKENS, PAD, UNK, Vocab, _check_texts, _check_tokenizer

__all__ = [
    "INT8_CACHE_DIR",
    "CostRow",
    "ModelBytes",
    "TeacherClassifier",
    "TextModel",
    "Throughput",
    "cost_table",
    "format_cost_table",
    "macs_per_sentence",
    "model_bytes",
    "multiply_adds",
    "sentences_per_second",
    "student_model",
    "teacher_int8_model",
    "teacher_int8_onnx",
    "teacher_model",
]

_ROOT = Path(__file__).resolve().parents[2]
#: Where :func:`teacher_int8_onnx` keeps its files (not shipped; about 23 MB each): ``build/text/``, or
#: ``$DISTILL_LIB_BUILD_DIR/text`` when that variable is set (``tools/grade.py`` points it into each
#: submission's own sandbox, which may not read or write the repository's ``build/``).
INT8_CACHE_DIR = Path(os.environ.get("DISTILL_LIB_BUILD_DIR") or _ROOT / "build") / "text"
_INT8_RECIPE = {"format": 1, "opset": OPSET, "per_channel": True, "reduce_range": True}


# ----------------------------------------------------------------------------- the models


class TeacherClassifier(nn.Module):
    """The whole teacher: MiniLM, mean pooling, L2 norm, then the head: ``(logits, embedding)``."""

    def __init__(self, encoder: MiniLM, head: nn.Module):
        super().__init__()
        self.encoder, self.head = encoder, head

    def forward(self, ids: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        e = F.normalize(_mean_pool(self.encoder(ids, mask), mask), p=2, dim=1)  # (B, 384)
        return self.head(e), e  # (B, K), (B, 384)


class TextModel(NamedTuple):
    """A text classifier as deployed: ``run(*tokenize(texts))[0]`` are its logits.

    ``tokenize``: texts -> ``(ids, mask)``, each ``(B, T)``, padded to the longest text;
    ``run``: ``(ids, mask)`` -> ``(logits, ...)`` without gradients (a PyTorch module or an ONNX
    Runtime session); ``network``: the fp32 ``nn.Module`` whose parameters and multiply-adds are
    counted (for an int8 copy, the model it was quantised from).
    """

    tokenize: Callable[[list[str]], tuple[Tensor, Tensor]]
    run: Callable[[Tensor, Tensor], Sequence[Tensor]]
    network: nn.Module

    def logits(self, texts: list[str]) -> Tensor:
        """The model's logits ``(N, K)`` for ``texts``, tokenisation included."""
        return self.run(*self.tokenize(texts))[0]


def _no_grad(module: nn.Module) -> Callable[[Tensor, Tensor], Sequence[Tensor]]:
    def run(ids: Tensor, mask: Tensor) -> Sequence[Tensor]:
        with torch.no_grad():
            return module(ids, mask)
    return run


def _teacher_tokenize(tokenizer) -> Callable[[list[str]], tuple[Tensor, Tensor]]:
    from tokenizers import Tokenizer

    tok = Tokenizer.from_str(tokenizer.to_str())  # a copy with load_tokenizer's settings, whatever the caller's
    tok.enable_truncation(max_length=MAX_LENGTH)
    tok.enable_padding(pad_id=0, pad_token="[PAD]")

    def tokenize(texts: list[str]) -> tuple[Tensor, Tensor]:
        enc = tok.encode_batch(texts)  # [CLS] pieces [SEP], padded to the longest
        return torch.tensor([e.ids for e in enc]), torch.tensor([e.attention_mask for e in enc])  # (B, T)
    return tokenize


def teacher_model(encoder: MiniLM, tokenizer, head: nn.Module) -> TextModel:
    """The fp32 teacher as deployed: WordPiece with ``[CLS]``/``[SEP]``, MiniLM, pooling, the head.

    Args:
        encoder: :func:`~distill_lib.text.encoder.load_minilm`'s model.
        tokenizer: :func:`~distill_lib.text.encoder.load_tokenizer`'s (copied; truncation at 256
            pieces and padding to the longest text, whatever its settings).
        head: the classifier on the 384-number embedding (``TextTeacher.head``).

    Returns:
        TextModel: ``run`` returns ``(logits (B, K), embedding (B, 384))``; ``network`` is the
        :class:`TeacherClassifier`, put in eval mode.

    Raises:
        TypeError: an argument of the wrong type.

    Example::

        >>> teacher = teacher_model(load_minilm(), load_tokenizer(), load_text_teacher().head)
        >>> teacher.logits(["a domesticated carnivorous mammal"]).argmax(1)
    """
    if not isinstance(encoder, MiniLM):
        raise TypeError(f"encoder must be a MiniLM (from load_minilm), got {type(encoder).__name__}")
    check_module("head", head)
    network = TeacherClassifier(encoder, head).eval()
    return TextModel(_teacher_tokenize(_check_tokenizer(tokenizer)), _no_grad(network), network)


def student_model(student: nn.Module, tokenizer, vocab: Vocab, max_length: int = MAX_TOKENS) -> TextModel:
    """A student as deployed: WordPiece without ``[CLS]``/``[SEP]``, its vocabulary, the network.

    Tokenises as :func:`~distill_lib.text.tokens.encode_texts` does (cut at ``max_length`` pieces,
    an empty text becomes one ``[UNK]``) but pads to the longest text of the batch, not to
    ``max_length``, and prepares the ``tokenizers`` copy once (``encode_texts`` copies it on every
    call, about 25 ms, which would be most of a student's time on one sentence).

    Args:
        student: from :func:`~distill_lib.text.students.make_student` (``model(ids, mask)`` gives
            ``(logits, embedding)``); put in eval mode.
        tokenizer: the teacher's ``tokenizers.Tokenizer``.
        vocab: the students' :class:`~distill_lib.text.tokens.Vocab` (made with this tokenizer).
        max_length: pieces kept per text, >= 1.

    Returns:
        TextModel: ``tokenize(texts)`` equals ``encode_texts(tokenizer, vocab, texts, max_length)``
        trimmed to its longest row.

    Raises:
        TypeError, ValueError: an argument of the wrong type; ``vocab`` made with another
            tokenizer; ``max_length < 1``.

    Example::

        >>> gru = student_model(make_student("gru", vocab.size, 10, 384), tokenizer, vocab)
        >>> gru.logits(["a domesticated carnivorous mammal"]).shape
        torch.Size([1, 10])
    """
    from tokenizers import Tokenizer

    check_module("student", student)
    tokenizer = _check_tokenizer(tokenizer)
    if not isinstance(vocab, Vocab):
        raise TypeError(f"vocab must be a Vocab (from build_vocab), got {type(vocab).__name__}")
    if vocab.table.shape != (tokenizer.get_vocab_size(),):
        raise ValueError(f"vocab maps {vocab.table.shape[0]} WordPiece ids but the tokenizer has "
                         f"{tokenizer.get_vocab_size()}; build the vocab with this tokenizer")
    max_length = check_int("max_length", max_length, low=1)
    plain = Tokenizer.from_str(tokenizer.to_str())  # once: no padding, no truncation, no [CLS]/[SEP]
    plain.no_padding()
    plain.no_truncation()
    table = vocab.table.tolist()  # teacher id -> student id, as a list: the fastest look-up for a few tokens

    def tokenize(texts: list[str]) -> tuple[Tensor, Tensor]:
        pieces = [[table[i] for i in e.ids[:max_length]] or [UNK]
                  for e in plain.encode_batch(texts, add_special_tokens=False)]
        width = max(len(p) for p in pieces)
        ids = torch.tensor([p + [PAD] * (width - len(p)) for p in pieces])  # (B, T), padded to the longest
        return ids, ids != PAD

    student.eval()
    return TextModel(tokenize, _no_grad(student), student)


# ----------------------------------------------------------------------------- the int8 teacher


def _state_sha256(module: nn.Module) -> str:
    """SHA-256 of a module's state: every tensor's name, dtype, shape and bytes, with the int8 recipe."""
    h = hashlib.sha256(json.dumps(_INT8_RECIPE, sort_keys=True).encode())
    for name, t in module.state_dict().items():
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)}".encode())
        h.update(t.detach().contiguous().cpu().numpy().tobytes())
    return h.hexdigest()


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _export_int8(network: TeacherClassifier, path: Path) -> None:
    """Export to ONNX (fp32, dynamic batch and length), then ORT's dynamic per-channel int8, into ``path``."""
    ids = torch.tensor([[1, 2, 3, 4, 5], [1, 2, 3, 0, 0]])  # two texts, one padded (any ids < the vocabulary)
    mask = (ids != 0).long()
    batch, length = torch.export.Dim("batch"), torch.export.Dim("length")
    with tempfile.TemporaryDirectory(prefix="teacher-onnx-") as folder:
        fp32 = Path(folder) / "teacher_fp32.onnx"
        with _quiet_exporter(), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r".*axis name.*", category=UserWarning)
            torch.onnx.export(network.eval(), (ids, mask), str(fp32), dynamo=True, verbose=False,
                              external_data=False, opset_version=OPSET, input_names=["ids", "mask"],
                              output_names=["logits", "sentence_embedding"],
                              dynamic_shapes=({0: batch, 1: length}, {0: batch, 1: length}))
        quantize_dynamic_onnx(fp32, path, per_channel=_INT8_RECIPE["per_channel"],
                              reduce_range=_INT8_RECIPE["reduce_range"])


def teacher_int8_onnx(network: TeacherClassifier, folder: str | os.PathLike = INT8_CACHE_DIR) -> Path:
    """The teacher as an int8 ONNX file (ONNX Runtime's dynamic quantisation), built once and cached.

    The :class:`TeacherClassifier` is exported with ``torch.onnx.export(dynamo=True)`` (inputs
    ``ids``, ``mask`` of shape ``(batch, length)``, int64; outputs ``logits``, ``sentence_embedding``), then
    quantised by :func:`~distill_lib.deployment.quantize_dynamic_onnx` with per-channel int8
    weights (7-bit range, safe on CPUs without VNNI) for every ``MatMul`` and the embedding
    ``Gather``; activations are quantised at run time. About 13 s on two cores the first time;
    afterwards the cached file is used.

    The file is ``folder/teacher_int8_<key>.onnx``, where ``key`` is the SHA-256 of the network's
    weights and the quantisation recipe (other weights, another file), with a ``.sha256`` file
    beside it holding the file's own SHA-256. A file that fails that check or that ONNX Runtime
    cannot load is a warning and a rebuild.

    Args:
        network: the fp32 teacher (``teacher_model(...).network``).
        folder: where to keep the file (created if missing); default ``build/text/``.

    Returns:
        The path of the int8 ``.onnx`` file.

    Raises:
        TypeError: ``network`` not a :class:`TeacherClassifier`, ``folder`` not a path.

    Example::

        >>> path = teacher_int8_onnx(teacher.network)
        >>> path.name
        'teacher_int8_3f0c....onnx'
    """
    if not isinstance(network, TeacherClassifier):
        raise TypeError(f"network must be a TeacherClassifier (teacher_model(...).network), got {type(network).__name__}")
    if not isinstance(folder, (str, os.PathLike)):
        raise TypeError(f"folder must be a str or a path, got {type(folder).__name__} ({folder!r:.80})")
    folder = Path(folder)
    path = folder / f"teacher_int8_{_state_sha256(network)[:16]}.onnx"
    check = path.with_suffix(".sha256")
    if path.exists() or check.exists():
        reason = None
        try:
            if not path.is_file() or not check.is_file() or check.read_text().strip() != _file_sha256(path):
                reason = "its SHA-256 does not match the one recorded when it was written"
            else:
                ort_session(path)
                return path
        except (OSError, ValueError) as err:
            reason = f"ONNX Runtime cannot load it ({(str(err).splitlines() or [''])[0][:120]})"
        warnings.warn(f"Not using the int8 teacher at {path}: {reason}. Rebuilding it (about 15 s).", stacklevel=2)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + f".{os.getpid()}.tmp.onnx")
    try:
        _export_int8(network, tmp)
        check.write_text(_file_sha256(tmp) + "\n")
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def teacher_int8_model(teacher: TextModel, *, num_threads: int = 1,
                       folder: str | os.PathLike = INT8_CACHE_DIR) -> TextModel:
    """The teacher in int8 on ONNX Runtime: same tokeniser, :func:`teacher_int8_onnx`'s file.

    Args:
        teacher: from :func:`teacher_model`.
        num_threads: ONNX Runtime's threads (fixed when the session is made), >= 1.
        folder: the cache folder of :func:`teacher_int8_onnx`.

    Returns:
        TextModel: ``run`` gives ``(logits, embedding)`` as float32 tensors; ``network`` is the fp32
        teacher's (the same parameters and multiply-adds, stored and multiplied in int8).

    Raises:
        TypeError, ValueError: ``teacher`` not a teacher's :class:`TextModel`, bad ``num_threads``.

    Example::

        >>> int8 = teacher_int8_model(teacher)
        >>> F.cosine_similarity(int8.run(*int8.tokenize(texts))[1], teacher.run(*teacher.tokenize(texts))[1])
    """
    if not isinstance(teacher, TextModel) or not isinstance(teacher.network, TeacherClassifier):
        raise TypeError(f"teacher must be the TextModel of teacher_model(...), got {type(teacher).__name__}")
    num_threads = check_int("num_threads", num_threads, low=1)
    session = ort_session(teacher_int8_onnx(teacher.network, folder), num_threads=num_threads)

    def run(ids: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        logits, embedding = session.run(None, {"ids": ids.numpy(), "mask": mask.numpy()})
        return torch.from_numpy(logits), torch.from_numpy(embedding)

    return TextModel(teacher.tokenize, run, teacher.network)


# ----------------------------------------------------------------------------- multiply-adds


def _cpu_sdpa_flop(query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs) -> int:
    return sdpa_flop_count(query_shape, key_shape, value_shape)  # QK^T and the weighted sum of V


#: What FlopCounterMode lacks on the CPU: the formula for F.scaled_dot_product_attention's CPU kernel.
_CPU_ATTENTION = {torch.ops.aten._scaled_dot_product_flash_attention_for_cpu: _cpu_sdpa_flop}


def _multiply_adds(model: nn.Module, ids: Tensor, mask: Tensor) -> float:
    """Multiply-adds of one forward pass, per row of the batch (FlopCounterMode's FLOPs / 2)."""
    counter = FlopCounterMode(display=False, custom_mapping=_CPU_ATTENTION)
    with counter, torch.no_grad():
        model(ids, mask)  # every matmul, linear, GRU gate and attention product is recorded
    return counter.get_total_flops() / 2 / ids.shape[0]


def _check_batch(ids: object, mask: object) -> None:
    if not isinstance(ids, Tensor) or ids.dtype != torch.long or ids.ndim != 2 or ids.numel() == 0:
        raise ValueError(f"ids must be a non-empty int64 tensor (B, T), got {ids!r:.80}")
    if not isinstance(mask, Tensor) or mask.shape != ids.shape:
        raise ValueError(f"mask must be a tensor of the shape of ids {tuple(ids.shape)}, got {mask!r:.80}")


def multiply_adds(model: nn.Module, ids: Tensor, mask: Tensor) -> float:
    """Multiply-adds (MACs) of ``model(ids, mask)`` per row, counted by ``FlopCounterMode``.

    The products of matrix multiplications (``Linear``, GRU gates, attention; see the module's
    docstring), at the batch's width ``T``: padding positions count as the model computes them.

    Args:
        model: any module called as ``model(ids, mask)`` (a student, a :class:`TeacherClassifier`,
            a bare :class:`~distill_lib.text.encoder.MiniLM`). It is run once, without gradients.
        ids: token ids, int64.
        mask: 1/True on a real token.

    Shape:
        ids, mask: ``(B, T)``.

    Returns:
        float: total MACs of the pass / ``B``.

    Raises:
        TypeError, ValueError: ``model`` not a module; ``ids``/``mask`` of the wrong type or shape.

    Example::

        >>> ids, mask = teacher.tokenize(["a domesticated carnivorous mammal"])   # 8 pieces
        >>> multiply_adds(teacher.network, ids, mask) / 1e6
        85.8
    """
    check_module("model", model)
    _check_batch(ids, mask)
    return _multiply_adds(model, ids, mask)


def macs_per_sentence(model: TextModel, texts: list[str]) -> Tensor:
    """Multiply-adds of each text run alone (batch 1, no padding), tokenised as the model deploys.

    The count depends only on the number of tokens, so it is made once per length.

    Args:
        model: a :class:`TextModel` (its ``network`` is counted).
        texts: non-empty strings.

    Shape:
        output: ``(N,)`` float64.

    Returns:
        Tensor: MACs of each text; ``.median()`` is the cost of a sentence of median length.

    Raises:
        TypeError, ValueError: ``model`` not a :class:`TextModel`; empty or non-text ``texts``.

    Example::

        >>> macs_per_sentence(teacher, split.texts_val[:64]).median()
    """
    if not isinstance(model, TextModel):
        raise TypeError(f"model must be a TextModel (teacher_model, student_model), got {type(model).__name__}")
    texts = _check_texts("texts", texts)
    ids, mask = model.tokenize(texts)  # (N, T)
    lengths = mask.sum(1).tolist()
    first = {n: i for i, n in reversed(list(enumerate(lengths)))}  # length -> a text of that length
    by_length = {n: _multiply_adds(model.network, ids[i:i + 1, :n], mask[i:i + 1, :n]) for n, i in first.items()}
    return torch.tensor([by_length[n] for n in lengths], dtype=torch.float64)


# ----------------------------------------------------------------------------- bytes


class ModelBytes(NamedTuple):
    """Parameters, and bytes stored in fp32 and in int8 (the module docstring's convention)."""

    params: int
    fp32: int
    int8: int


_MATRIX_LAYERS = (nn.Linear, nn.Embedding, nn.RNNBase)


def _int8_bytes(model: nn.Module) -> int:
    """Bytes in int8: 1 per weight of a Linear/Embedding/RNN matrix + 4 per row (its scale); others 4."""
    matrices = {id(p): p for m in model.modules() if isinstance(m, _MATRIX_LAYERS)
                for name, p in m.named_parameters(recurse=False) if p.ndim == 2 and name.startswith("weight")}
    int8 = sum(p.numel() + 4 * p.shape[0] for p in matrices.values())  # (rows, cols) codes + rows fp32 scales
    return int8 + 4 * sum(p.numel() for p in model.parameters() if id(p) not in matrices)


def model_bytes(model: nn.Module) -> ModelBytes:
    """Parameters and bytes of ``model``: fp32 (4 per parameter) and int8 (the module's convention).

    int8: each weight matrix of an ``nn.Linear``, ``nn.Embedding`` or ``nn.GRU``/``nn.LSTM``/
    ``nn.RNN`` takes 1 byte per weight plus a 4-byte fp32 scale per row (output channel); every
    other parameter (biases, LayerNorm) 4 bytes. Shared parameters count once.

    Args:
        model: any module.

    Returns:
        ModelBytes: ``(params, fp32, int8)``.

    Raises:
        TypeError: ``model`` not a module.

    Example::

        >>> model_bytes(nn.Linear(3, 2))    # 6 codes + 2 scales * 4 + 2 biases * 4
        ModelBytes(params=8, fp32=32, int8=22)
    """
    check_module("model", model)
    params = sum(p.numel() for p in model.parameters())
    return ModelBytes(params, 4 * params, _int8_bytes(model))


# ----------------------------------------------------------------------------- speed


class Throughput(NamedTuple):
    """Sentences per second at one batch size: ``sentences`` texts per timed call, its :class:`Timing`."""

    batch_size: int
    sentences: int
    timing: Timing

    @property
    def per_second(self) -> float:
        """Sentences per second: ``sentences / median seconds per call``."""
        return self.sentences / self.timing.median

    @property
    def spread(self) -> float:
        """The interquartile range of the call's time over its median (0.05: the middle half within 5 %)."""
        return self.timing.iqr / self.timing.median

    def __str__(self) -> str:
        spread = f"IQR {100 * self.spread:.0f} % of the time" if self.timing.iqr > 0 else "a single timed call"
        return f"{self.per_second:,.0f} sentences/s at batch {self.batch_size} ({spread}, {self.timing.num_threads} thread(s))"


@contextlib.contextmanager
def _tokenizer_threads(num_threads: int) -> Iterator[None]:
    """On one thread, the ``tokenizers`` library's own thread pool is switched off too (and restored)."""
    before = os.environ.get("TOKENIZERS_PARALLELISM")
    if num_threads == 1:
        os.environ["TOKENIZERS_PARALLELISM"] = "false"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("TOKENIZERS_PARALLELISM", None)
        else:
            os.environ["TOKENIZERS_PARALLELISM"] = before


def _check_text_model(name: str, model: object) -> TextModel:
    if not isinstance(model, TextModel):
        raise TypeError(f"{name} must be a TextModel (teacher_model, student_model, teacher_int8_model), "
                        f"got {type(model).__name__}")
    return model


def _check_min_run_time(min_run_time: object) -> float:
    value = check_real("min_run_time", min_run_time)
    if not (0 < value < math.inf):
        raise ValueError(f"min_run_time={value} must be a finite number of seconds > 0")
    return value


def sentences_per_second(model: TextModel, texts: list[str], batch_size: int = 1, *, num_threads: int = 1,
                         min_run_time: float = 0.2) -> Throughput:
    """How many of ``texts`` per second ``model`` classifies, **tokenisation included**, in batches.

    One timed call tokenises and runs all ``texts``, ``batch_size`` at a time, in their order
    (each batch padded to its longest text); :func:`distill_lib.timing.measure` times it (a
    warm-up call, then calls until ``min_run_time`` has passed; at least two calls in all).

    Args:
        model: a :class:`TextModel`.
        texts: the texts of one call, at least ``batch_size`` of them.
        batch_size: texts per forward pass, >= 1.
        num_threads: PyTorch's threads during the timing (restored afterwards); at 1 the
            ``tokenizers`` thread pool is off too. An ONNX Runtime model keeps the thread count
            its session was made with (:func:`teacher_int8_model`).
        min_run_time: seconds of timed calls, > 0.

    Returns:
        Throughput: ``.per_second``, and the :class:`~distill_lib.timing.Timing` of one call.

    Raises:
        TypeError, ValueError: ``model`` not a :class:`TextModel`; empty or non-text ``texts``;
            ``batch_size`` out of ``[1, len(texts)]``; bad ``num_threads`` or ``min_run_time``.

    Example::

        >>> print(sentences_per_second(teacher, split.texts_val[:32], batch_size=1))
        85 sentences/s at batch 1 (IQR 3 % of the time, 1 thread(s))
    """
    model = _check_text_model("model", model)
    texts = _check_texts("texts", texts)
    batch_size = check_int("batch_size", batch_size, low=1, high=len(texts))
    num_threads = check_int("num_threads", num_threads, low=1)
    min_run_time = _check_min_run_time(min_run_time)
    batches = [texts[i:i + batch_size] for i in range(0, len(texts), batch_size)]

    def call() -> None:
        for batch in batches:
            model.run(*model.tokenize(batch))

    with _tokenizer_threads(num_threads):
        timing = measure(call, num_threads=num_threads, min_run_time=min_run_time)
    return Throughput(batch_size, len(texts), timing)


# ----------------------------------------------------------------------------- the table


class CostRow(NamedTuple):
    """One model's costs: sizes, multiply-adds per sentence (median over the texts), speeds by batch size."""

    name: str
    params: int
    macs: float
    bytes_fp32: int
    bytes_int8: int
    speeds: tuple[Throughput, ...]


def cost_table(models: dict[str, TextModel], texts: list[str], *, batch_sizes: Sequence[int] = (1, 256),
               min_sentences: int = 32, num_threads: int = 1, min_run_time: float = 0.05) -> list[CostRow]:
    """Parameters, bytes, multiply-adds per sentence and sentences per second of each model.

    MACs: the median of :func:`macs_per_sentence` over ``texts`` (each text alone). Speed: at each
    batch size ``b``, :func:`sentences_per_second` on the first ``b * ceil(min_sentences / b)``
    texts (at batch 1, ``min_sentences`` texts one by one; at 256, one batch of 256).

    The default ``min_run_time`` keeps it short (two calls per figure: the notebook's table of five
    models takes a few seconds, the teacher's batch of 256 most of it); ``tools/bench_nb09.py`` measures
    longer, with ratios timed side by side.

    Args:
        models: name -> :class:`TextModel`.
        texts: the texts to count and time on; at least ``max(b * ceil(min_sentences / b))``.
        batch_sizes: each >= 1.
        min_sentences: texts per timed call at least, >= 1.
        num_threads, min_run_time: as :func:`sentences_per_second`.

    Returns:
        A list of :class:`CostRow`, in the order of ``models``.

    Raises:
        TypeError, ValueError: a model not a :class:`TextModel`; too few texts; bad sizes.

    Example::

        >>> rows = cost_table({"teacher": teacher, "teacher int8": int8, "gru": gru}, texts)
        >>> print(format_cost_table(rows, baseline="teacher"))
    """
    if not isinstance(models, dict) or not models:
        raise TypeError(f"models must be a non-empty dict name -> TextModel, got {models!r:.80}")
    for name, m in models.items():
        _check_text_model(f"models[{name!r}]", m)
    texts = _check_texts("texts", texts)
    if isinstance(batch_sizes, (str, bytes)) or not isinstance(batch_sizes, Sequence) or not batch_sizes:
        raise ValueError(f"batch_sizes must be a non-empty sequence of integers >= 1, got {batch_sizes!r}")
    sizes = [check_int(f"batch_sizes[{i}]", b, low=1) for i, b in enumerate(batch_sizes)]
    min_sentences = check_int("min_sentences", min_sentences, low=1)
    num_threads = check_int("num_threads", num_threads, low=1)
    min_run_time = _check_min_run_time(min_run_time)
    counts = {b: b * math.ceil(min_sentences / b) for b in sizes}
    if len(texts) < max(counts.values()):
        raise ValueError(f"texts has {len(texts)} texts; batch sizes {sizes} with min_sentences={min_sentences} "
                         f"need {max(counts.values())}")
    rows, counted = [], {}
    for name, m in models.items():
        if id(m.network) not in counted:  # an int8 copy shares its fp32 network's counts
            counted[id(m.network)] = (model_bytes(m.network), float(macs_per_sentence(m, texts).median()))
        size, macs = counted[id(m.network)]
        speeds = tuple(sentences_per_second(m, texts[:counts[b]], b, num_threads=num_threads,
                                            min_run_time=min_run_time) for b in sizes)
        rows.append(CostRow(name, size.params, macs, size.fp32, size.int8, speeds))
    return rows


def _si(x: float) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if x >= scale:
            return f"{x / scale:.3g}{unit}"
    return f"{x:.3g}"


def format_cost_table(rows: Sequence[CostRow], baseline: str | None = None) -> str:
    """The rows of :func:`cost_table` as a fixed-width text table.

    With ``baseline`` (a row's name), each row also shows how many times fewer multiply-adds it
    needs than the baseline and how many times more sentences per second it classifies, per
    batch size (> 1: cheaper, faster). These speed ratios come from separate measurements; for
    ratios timed side by side, see ``tools/bench_nb09.py``.

    Raises:
        TypeError: ``rows`` not :class:`CostRow` tuples. ValueError: ``baseline`` not a row's name.
    """
    if not isinstance(rows, (list, tuple)) or not rows or not all(isinstance(r, CostRow) for r in rows):
        raise TypeError("rows must be a non-empty list of CostRow from cost_table")
    by_name = {r.name: r for r in rows}
    if baseline is not None and baseline not in by_name:
        raise ValueError(f"baseline={baseline!r} is not one of the rows {list(by_name)}")
    width = max(len("model"), *(len(r.name) for r in rows))
    speed_heads = "".join(f"  {'sent/s b' + str(s.batch_size):>12}" for s in rows[0].speeds)
    lines = [f"{'model':<{width}}  {'params':>7}  {'MACs/sent':>9}  {'fp32 MB':>8}  {'int8 MB':>8}{speed_heads}"
             + ("  vs " + baseline if baseline else "")]
    for r in rows:
        line = (f"{r.name:<{width}}  {_si(r.params):>7}  {_si(r.macs):>9}  {r.bytes_fp32 / 1e6:>8.2f}  "
                f"{r.bytes_int8 / 1e6:>8.2f}" + "".join(f"  {s.per_second:>12,.0f}" for s in r.speeds))
        if baseline:
            base = by_name[baseline]
            line += f"  {base.macs / r.macs:,.0f}x fewer MACs, " + ", ".join(
                f"{s.per_second / b.per_second:,.1f}x at b{s.batch_size}" for s, b in zip(r.speeds, base.speeds))
        lines.append(line)
    return "\n".join(lines)
