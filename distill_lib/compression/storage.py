r"""One binary file per stage of Deep Compression, read back exactly (Han, Mao & Dally 2016, Figure 1; notebook 06).

The paper's Figure 1 is a pipeline of three storage formats, each smaller than
the last. :func:`save_compressed` writes an MLP (``nn.Sequential`` of Linear and
ReLU layers; Dropout layers are left out, they do nothing in eval mode) at one
of :data:`STAGES`:

* ``"dense"``: every weight and bias as float32, what the parameters cost;
* ``"pruned"``: each weight matrix's kept (non-zero) values as float32 plus
  where they are: the relative-index stream bit-packed at ``index_bits`` bits per
  entry (:func:`~distill_lib.compression.sparse_index.relative_indices`), or with
  ``index="csr"`` int32 row pointers and column indices;
* ``"quantized"``: the kept weights as codes into a float32 codebook
  (:class:`~distill_lib.compression.weight_sharing.SharedWeights`, one per Linear
  layer), bit-packed at ``bits`` bits per code, plus the index stream;
* ``"huffman"``: as ``"quantized"``, but each layer's codes and gaps
  Huffman-coded (:mod:`~distill_lib.compression.huffman`), each stream with its
  canonical code lengths (one byte per symbol) in the file.

Biases are float32 at every stage. :func:`load_compressed` reads any stage
back into an ``nn.Sequential`` in eval mode whose logits are bit-identical to
the saved model's: every stored float is the float the model used.

**Layout** (little-endian; the breakdown category of each field in brackets)::

    [header]  b"DCMP", then u8 each: version, stage, index format, index_bits, L (Linear layers)
    [header]  the L + 1 layer widths, u32 each
    then for each layer (out, in), by stage:
      dense      [weights] out*in float32
      pruned     [header] nnz u32 (+ entries u32 for relative)
                 [indices] entries gaps x index_bits bits | CSR: (out + 1) + nnz int32
                 [weights] nnz float32, row-major
      quantized  [header] bits u8, K u32, nnz u32 (+ entries u32)   [codebooks] K float32
                 [codes] nnz codes x bits bits   [indices] as pruned
      huffman    [header] bits u8, K u32, nnz u32   [codebooks] K float32   [header] code bytes u32
                 [codes] K code lengths (u8) + the Huffman-coded codes
                 [header] entries, table length m, gap bytes (u32)
                 [indices] m code lengths (u8) + the Huffman-coded gaps
      every      [biases] out float32
    [header]  CRC-32 of everything before it, u32

Bit streams are most significant bit first, padded with zeros to a whole byte.

A file that is truncated, corrupted (checksum), foreign (magic) or of another
format version raises ``ValueError`` naming the file and the problem.

Shown in notebook 06: :func:`_pack_bits` (the bit packing every stage uses).

Example::

    >>> report = save_compressed(model, "student.dc", stage="huffman", shared=shared)
    >>> report.bytes == sum(report.breakdown.values())
    True
    >>> torch.equal(load_compressed("student.dc")(X), model.eval()(X))
    True
"""

from __future__ import annotations

import math
import os
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from .._validation import check_finite_tensor, check_int
from .huffman import huffman_code_lengths, huffman_decode, huffman_encode
from .sparse_index import _positions_from_relative, _relative_indices

from .weight_sharing import SharedWeights

__all__ = [
    "STAGES", "INDEX_FORMATS", "BYTE_CATEGORIES", "FORMAT_VERSION", "FileReport", "save_compressed",
    "load_compressed", "read_header",
]

#: The paper's pipeline, one file format each.
STAGES = ("dense", "pruned", "quantized", "huffman")
#: Where the kept weights are: the paper's relative indices, or compressed sparse rows.
INDEX_FORMATS = ("relative", "csr")
#: Bumped whenever the layout changes (caches keyed on it are then rebuilt).
FORMAT_VERSION = 2  # 2: no relative-index stream for a layer with nothing pruned
#: The byte categories of :attr:`FileReport.breakdown`, in the order of the paper's Figure 1 bars.
BYTE_CATEGORIES = ("header", "weights", "codes", "indices", "codebooks", "biases")

#: The most weights a file may hold (1 GiB of float32): a corrupted width cannot ask for more memory.
MAX_WEIGHTS = 2**28

MAGIC = b"DCMP"
_HEAD = struct.Struct("<4s5B")  # magic, version, stage, index kind, index_bits, layers
_CRC = struct.Struct("<I")


@dataclass(frozen=True)
class FileReport:
    """What :func:`save_compressed` wrote: the file, its stage, its size and where the bytes went.

    Attributes:
        path: the file written.
        stage: one of :data:`STAGES`.
        bytes: the file's size on disk (``os.path.getsize``).
        breakdown: bytes per category of :data:`BYTE_CATEGORIES` (header and checksum,
            float32 weights, codes, indices, codebooks, biases); sums to ``bytes``.
    """

    path: Path
    stage: str
    bytes: int
    breakdown: dict[str, int] = field(default_factory=dict)


# ---------------------------------------------------------------- the core (shown in notebook 06)


def _pack_bits(values: np.ndarray, width: int) -> bytes:
    """Each value in `width` bits, most significant first, concatenated and padded to whole bytes."""
    shifts = np.arange(width - 1, -1, -1)  # (width,)
    bits = (values[:, None] >> shifts) & 1  # (n, width) the binary digits of each value
    return np.packbits(bits.astype(np.uint8).reshape(-1)).tobytes()  # 8 bits per byte


def _unpack_bits(data: bytes, width: int, count: int) -> np.ndarray:
    """The inverse of :func:`_pack_bits`: ``count`` values of ``width`` bits."""
    bits = np.unpackbits(np.frombuffer(data, dtype=np.uint8))[: count * width]  # (count * width,)
    return bits.reshape(count, width).astype(np.int64) @ (1 << np.arange(width - 1, -1, -1))  # (count,)


# ---------------------------------------------------------------- validation


def _linear_layers(model: object) -> list[nn.Linear]:
    """The Linear layers of an MLP: Linear (ReLU Linear)*, Dropout anywhere; TypeError/ValueError otherwise."""
    if not isinstance(model, nn.Sequential):
        raise TypeError(f"model must be an nn.Sequential of Linear/ReLU/Dropout layers, got {type(model).__name__}")
    kept = [(i, m) for i, m in enumerate(model) if not isinstance(m, nn.Dropout)]
    for pos, (i, m) in enumerate(kept):
        want = nn.Linear if pos % 2 == 0 else nn.ReLU
        if type(m) is not want:
            raise ValueError(
                f"model[{i}] is {type(m).__name__}; expected {want.__name__} (an MLP alternates Linear and ReLU, "
                "starts and ends with Linear, Dropout allowed anywhere)"
            )
    layers = [m for _, m in kept[::2]]
    if not layers or len(kept) % 2 == 0:
        raise ValueError(f"model must start and end with a Linear layer, got {[type(m).__name__ for m in model]}")
    if len(layers) > 255:
        raise ValueError(f"model has {len(layers)} Linear layers; the format allows at most 255")
    if sum(layer.weight.numel() for layer in layers) > MAX_WEIGHTS:
        raise ValueError(f"model has {sum(layer.weight.numel() for layer in layers)} weights; the format allows "
                         f"at most {MAX_WEIGHTS}")
    for k, layer in enumerate(layers):
        if layer.bias is None:
            raise ValueError(f"Linear layer {k} has no bias; the format stores one bias per layer")
        check_finite_tensor(f"Linear layer {k} weight", layer.weight, dtype=torch.float32, what="weights")
        check_finite_tensor(f"Linear layer {k} bias", layer.bias, dtype=torch.float32, what="biases")
        if k and layer.in_features != layers[k - 1].out_features:
            previous = layers[k - 1].out_features
            raise ValueError(f"Linear layer {k} takes {layer.in_features} inputs but layer {k - 1} gives {previous}")
    return layers


def _check_shared(shared: object, layers: list[nn.Linear]) -> list[SharedWeights]:
    """One SharedWeights per Linear layer, of its shape, whose weight() is the layer's weight.

    Checked field by field (any object with SharedWeights' fields passes), so that the
    checks of the format itself (bits in [1, 16], K <= 2**bits) are the ones that apply.
    """
    if not isinstance(shared, (list, tuple)):
        raise TypeError(f"shared must be a list of SharedWeights (one per Linear layer), got {type(shared).__name__}")
    if len(shared) != len(layers):
        raise ValueError(f"shared has {len(shared)} entries but the model has {len(layers)} Linear layers")
    for k, (s, layer) in enumerate(zip(shared, layers)):
        if not all(hasattr(s, a) for a in ("codebook", "codes", "mask", "bits", "weight")):
            raise TypeError(f"shared[{k}] must be a SharedWeights, got {type(s).__name__}")
        bits = check_int(f"shared[{k}].bits", s.bits, low=1, high=16)
        if not isinstance(s.mask, Tensor) or s.mask.dtype != torch.bool or s.mask.shape != layer.weight.shape:
            got = tuple(s.mask.shape) if isinstance(s.mask, Tensor) else type(s.mask).__name__
            shape = tuple(layer.weight.shape)
            raise ValueError(f"shared[{k}].mask has shape {got}; Linear layer {k}'s weight is {shape}")
        check_finite_tensor(f"shared[{k}].codebook", s.codebook, dtype=torch.float32, what="centroids")
        K = s.codebook.numel()
        if s.codebook.ndim != 1 or K > 2**bits:
            shape = tuple(s.codebook.shape)
            raise ValueError(f"shared[{k}].codebook has shape {shape}; need (K,) with K <= 2**bits = {2**bits}")
        if not isinstance(s.codes, Tensor) or s.codes.shape != s.mask.shape or s.codes.dtype.is_floating_point:
            raise ValueError(f"shared[{k}].codes must be an integer tensor of shape {tuple(s.mask.shape)}")
        kept = s.codes.detach()[s.mask]
        if kept.numel() and (int(kept.min()) < 0 or int(kept.max()) >= K):
            bad = int(kept.min()) if int(kept.min()) < 0 else int(kept.max())
            raise ValueError(f"shared[{k}].codes holds {bad} where kept; allowed: [0, {K - 1}]")
        differ = int((s.weight().detach() != layer.weight.detach()).sum())
        if differ:
            raise ValueError(
                f"shared[{k}].weight() differs from Linear layer {k}'s weight at {differ} position(s); "
                "the file stores the shared weights: pass the model with them applied"
            )
    return list(shared)


# ---------------------------------------------------------------- writing


class _Writer:
    """Bytes in order, each counted under a category of the breakdown."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.breakdown = dict.fromkeys(BYTE_CATEGORIES, 0)

    def add(self, category: str, data: bytes) -> None:
        self.parts.append(bytes(data))
        self.breakdown[category] += len(data)


def _floats(t: Tensor) -> bytes:
    return t.detach().cpu().contiguous().numpy().astype("<f4").tobytes()


def _write_indices(out: _Writer, mask: Tensor, index: str, index_bits: int, huffman: bool) -> None:
    """The positions of the kept weights: packed or Huffman-coded gaps, or CSR arrays."""
    if index == "csr":
        rows, cols = torch.nonzero(mask, as_tuple=True)
        crow = torch.cat([torch.zeros(1, dtype=torch.int64), torch.cumsum(mask.sum(1), 0)])
        out.add("indices", crow.numpy().astype("<i4").tobytes() + cols.numpy().astype("<i4").tobytes())
        return
    if bool(mask.all()):  # nothing pruned: the reader knows every position from nnz = out * in
        return
    gaps = _relative_indices(mask, index_bits).numpy()  # (entries,)
    if not huffman:
        out.add("header", struct.pack("<I", len(gaps)))
        out.add("indices", _pack_bits(gaps, index_bits))
        return
    lengths = huffman_code_lengths(np.bincount(gaps)) if len(gaps) else np.zeros(0, dtype=np.int64)
    payload = huffman_encode(gaps, lengths)
    out.add("header", struct.pack("<III", len(gaps), len(lengths), len(payload)))
    out.add("indices", lengths.astype(np.uint8).tobytes() + payload)


def _write_layer(
    out: _Writer, layer: nn.Linear, stage: str, shared: SharedWeights | None, index: str, index_bits: int
) -> None:
    weight = layer.weight.detach().cpu()
    if stage == "dense":
        out.add("weights", _floats(weight))
    elif stage == "pruned":
        mask = weight != 0
        out.add("header", struct.pack("<I", int(mask.sum())))
        _write_indices(out, mask, index, index_bits, huffman=False)
        out.add("weights", _floats(weight[mask]))
    else:
        mask, K = shared.mask.detach().cpu(), shared.codebook.numel()
        codes = shared.codes.detach().cpu()[mask].numpy()  # (nnz,) row-major
        out.add("header", struct.pack("<BII", shared.bits, K, len(codes)))
        out.add("codebooks", _floats(shared.codebook))
        if stage == "quantized":
            out.add("codes", _pack_bits(codes, shared.bits))
        else:
            lengths = huffman_code_lengths(np.bincount(codes, minlength=K))
            payload = huffman_encode(codes, lengths)
            out.add("header", struct.pack("<I", len(payload)))
            out.add("codes", lengths.astype(np.uint8).tobytes() + payload)
        _write_indices(out, mask, index, index_bits, huffman=stage == "huffman")
    out.add("biases", _floats(layer.bias))


def save_compressed(
    model: nn.Sequential,
    path: str | os.PathLike,
    *,
    stage: str,
    shared: list[SharedWeights] | None = None,
    index_bits: int = 5,
    index: str = "relative",
) -> FileReport:
    """Write an MLP as one binary file at a stage of Deep Compression, and count its bytes.

    Args:
        model: an ``nn.Sequential`` of ``Linear`` (with bias, float32) and ``ReLU``
            layers, alternating, starting and ending with ``Linear``; ``Dropout``
            layers anywhere are left out of the file. Pruning masks of
            :mod:`torch.nn.utils.prune` are read through (``layer.weight``).
        path: the file to write (overwritten).
        stage: one of :data:`STAGES`. ``"pruned"`` keeps the non-zero weights;
            ``"quantized"`` and ``"huffman"`` keep ``shared[k].mask``'s weights.
        shared: for ``"quantized"``/``"huffman"``, one ``SharedWeights`` per Linear
            layer, in order, with ``shared[k].weight()`` equal to layer ``k``'s
            weight (the file stores codes, so the model must already use them);
            ``None`` for ``"dense"``/``"pruned"``.
        index_bits: bits per relative index, 1 to 16 (the paper: 5 for fc layers).
        index: ``"relative"`` (the paper's gaps with fillers) or ``"csr"`` (int32 row
            pointers and column indices); ``"huffman"`` needs ``"relative"``.

    Returns:
        A :class:`FileReport` whose ``breakdown`` sums to the file's size.

    Raises:
        TypeError: ``model`` not an ``nn.Sequential``; ``shared`` not a list of SharedWeights.
        ValueError: a layer other than Linear/ReLU/Dropout or in the wrong order; ``stage``
            or ``index`` not allowed; ``index_bits`` outside [1, 16]; ``shared`` missing,
            given for ``"dense"``/``"pruned"``, of the wrong length, shape or bits, or
            not the model's weights. Nothing is written when an argument is bad.

    Example::

        >>> report = save_compressed(mlp([64, 128, 10]), "student.dc", stage="dense")
        >>> report.bytes, report.breakdown["weights"]
        (38465, 37888)
    """
    layers = _linear_layers(model)
    if stage not in STAGES:
        raise ValueError(f"stage={stage!r} is not allowed; choose one of {STAGES}")
    if index not in INDEX_FORMATS:
        raise ValueError(f"index={index!r} is not allowed; choose one of {INDEX_FORMATS}")
    if stage == "huffman" and index != "relative":
        raise ValueError(f"index={index!r} with stage='huffman': Huffman coding needs index='relative' (the gaps)")
    index_bits = check_int("index_bits", index_bits, low=1, high=16)
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or a path, got {type(path).__name__}")
    if stage in ("quantized", "huffman"):
        if shared is None:
            raise ValueError(f"stage={stage!r} needs shared: one SharedWeights per Linear layer")
        shared = _check_shared(shared, layers)
    elif shared is not None:
        raise ValueError(f"shared is only used by the stages 'quantized' and 'huffman', not stage={stage!r}; pass None")
    path = Path(path)

    out = _Writer()
    widths = [layers[0].in_features] + [layer.out_features for layer in layers]
    out.add("header", _HEAD.pack(MAGIC, FORMAT_VERSION, STAGES.index(stage), INDEX_FORMATS.index(index),
                                 index_bits, len(layers)))
    out.add("header", struct.pack(f"<{len(widths)}I", *widths))
    for k, layer in enumerate(layers):
        _write_layer(out, layer, stage, shared[k] if shared else None, index, index_bits)
    body = b"".join(out.parts)
    out.add("header", _CRC.pack(zlib.crc32(body)))
    path.write_bytes(body + out.parts[-1])
    return FileReport(path, stage, os.path.getsize(path), out.breakdown)


# ---------------------------------------------------------------- reading


class _Reader:
    """A cursor over a file's bytes that raises ValueError, naming the file, instead of reading past the end."""

    def __init__(self, path: Path, data: bytes) -> None:
        self.path, self.data, self.at = path, data, 0

    def fail(self, problem: str) -> ValueError:
        return ValueError(f"{self.path}: {problem}")

    def take(self, n: int, what: str) -> bytes:
        if self.at + n > len(self.data):
            left = len(self.data) - self.at
            raise self.fail(f"truncated: {what} needs {n} bytes at offset {self.at}, only {left} left")
        chunk = self.data[self.at : self.at + n]
        self.at += n
        return chunk

    def unpack(self, fmt: str, what: str) -> tuple:
        return struct.unpack(fmt, self.take(struct.calcsize(fmt), what))

    def floats(self, n: int, what: str) -> Tensor:
        return torch.from_numpy(np.frombuffer(self.take(4 * n, what), dtype="<f4").astype(np.float32))


def _read_file(path: str | os.PathLike) -> tuple[_Reader, dict]:
    """The checked bytes and header of a file: magic, version, checksum, stage and widths."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    data = path.read_bytes()
    r = _Reader(path, data)
    if len(data) < _HEAD.size + _CRC.size or data[:4] != MAGIC:
        raise r.fail(f"not a compressed-model file (expected magic {MAGIC!r}, got {data[:4]!r}, {len(data)} bytes)")
    if data[4] != FORMAT_VERSION:
        raise r.fail(f"format version {data[4]}; this library reads version {FORMAT_VERSION}")
    (crc,) = _CRC.unpack(data[-4:])
    if zlib.crc32(data[:-4]) != crc:
        raise r.fail("checksum mismatch: the file is corrupted or truncated")
    r.data = data[:-4]
    _, version, stage, index, index_bits, num_layers = r.unpack(_HEAD.format, "the header")
    if stage >= len(STAGES) or index >= len(INDEX_FORMATS) or not 1 <= index_bits <= 16 or num_layers < 1:
        raise r.fail(f"invalid header (stage {stage}, index {index}, index_bits {index_bits}, layers {num_layers})")
    widths = list(r.unpack(f"<{num_layers + 1}I", "the layer widths"))
    weights = sum(a * b for a, b in zip(widths[:-1], widths[1:]))
    if min(widths) < 1 or weights > MAX_WEIGHTS or 4 * sum(widths[1:]) > len(r.data):
        raise r.fail(f"invalid layer widths {widths} ({weights} weights, {len(data)} bytes)")
    header = {"version": version, "stage": STAGES[stage], "index": INDEX_FORMATS[index],
              "index_bits": index_bits, "widths": widths}
    return r, header


def read_header(path: str | os.PathLike) -> dict:
    """The header of a file written by :func:`save_compressed`, after checking magic, version and checksum.

    Returns:
        ``{"version", "stage", "index", "index_bits", "widths"}``, e.g. ``widths=[64, 128, 10]``.

    Raises:
        ValueError: the file is missing, foreign, of another version, corrupted or truncated.
    """
    return _read_file(path)[1]


def _read_mask(r: _Reader, shape: tuple[int, int], nnz: int, header: dict, huffman: bool) -> Tensor:
    rows, cols = shape
    if header["index"] == "csr":
        crow = torch.from_numpy(np.frombuffer(r.take(4 * (rows + 1), "row pointers"), dtype="<i4").astype(np.int64))
        col = torch.from_numpy(np.frombuffer(r.take(4 * nnz, "column indices"), dtype="<i4").astype(np.int64))
        counts = torch.diff(crow)
        bad_cols = nnz and (int(col.min()) < 0 or int(col.max()) >= cols)
        if int(crow[0]) != 0 or int(crow[-1]) != nnz or (counts < 0).any() or bad_cols:
            raise r.fail(f"invalid CSR arrays for a ({rows}, {cols}) layer with {nnz} kept weights")
        row = torch.repeat_interleave(torch.arange(rows), counts)
        flat = row * cols + col
        if nnz > 1 and (torch.diff(flat) <= 0).any():
            raise r.fail("CSR column indices are not increasing within a row")
    elif nnz == rows * cols:  # nothing pruned: no index stream was written
        flat = torch.arange(nnz)
    else:
        bits = header["index_bits"]
        if huffman:
            entries, table, size = r.unpack("<III", "the index stream's counts")
            lengths = np.frombuffer(r.take(table, "the gaps' code lengths"), dtype=np.uint8).astype(np.int64)
            payload = r.take(size, "the Huffman-coded gaps")
            try:
                gaps = huffman_decode(payload, lengths, entries)
            except ValueError as e:
                raise r.fail(f"bad Huffman-coded gaps: {e}") from None
        else:
            (entries,) = r.unpack("<I", "the index stream's count")
            gaps = _unpack_bits(r.take(math.ceil(entries * bits / 8), "the index stream"), bits, entries)
        gaps = torch.from_numpy(np.ascontiguousarray(gaps))
        escape = 2**bits - 1
        if entries and (int(gaps.max()) > escape or int(gaps[-1]) == escape):
            raise r.fail(f"invalid relative-index stream for index_bits={bits}")
        flat = _positions_from_relative(gaps, bits)
        if len(flat) != nnz or (nnz and int(flat[-1]) >= rows * cols):
            raise r.fail(f"the index stream gives {len(flat)} positions up to {int(flat[-1]) if nnz else -1}; "
                         f"expected {nnz} kept weights within {rows * cols}")
    mask = torch.zeros(rows * cols, dtype=torch.bool)
    mask[flat] = True
    return mask.reshape(rows, cols)


def _read_layer(r: _Reader, shape: tuple[int, int], header: dict) -> tuple[Tensor, Tensor]:
    stage, (rows, cols) = header["stage"], shape
    if stage == "dense":
        weight = r.floats(rows * cols, "the weights").reshape(rows, cols)
    elif stage == "pruned":
        (nnz,) = r.unpack("<I", "the number of kept weights")
        if nnz > rows * cols:
            raise r.fail(f"{nnz} kept weights in a ({rows}, {cols}) layer")
        mask = _read_mask(r, shape, nnz, header, huffman=False)
        weight = torch.zeros(rows, cols)
        weight[mask] = r.floats(nnz, "the kept weights")
    else:
        bits, K, nnz = r.unpack("<BII", "the layer's code counts")
        if not 1 <= bits <= 16 or not 1 <= K <= 2**bits or nnz > rows * cols:
            raise r.fail(f"invalid code counts (bits {bits}, K {K}, {nnz} kept weights in ({rows}, {cols}))")
        codebook = r.floats(K, "the codebook")
        if stage == "quantized":
            codes = _unpack_bits(r.take(math.ceil(nnz * bits / 8), "the codes"), bits, nnz)
        else:
            (size,) = r.unpack("<I", "the Huffman-coded codes' size")
            lengths = np.frombuffer(r.take(K, "the codes' code lengths"), dtype=np.uint8).astype(np.int64)
            try:
                codes = huffman_decode(r.take(size, "the Huffman-coded codes"), lengths, nnz)
            except ValueError as e:
                raise r.fail(f"bad Huffman-coded codes: {e}") from None
        if nnz and int(codes.max()) >= K:
            raise r.fail(f"a code {int(codes.max())} outside the codebook of K={K}")
        mask = _read_mask(r, shape, nnz, header, huffman=stage == "huffman")
        weight = torch.zeros(rows, cols)
        weight[mask] = codebook[torch.from_numpy(np.ascontiguousarray(codes))]
    return weight, r.floats(rows, "the biases")


def load_compressed(path: str | os.PathLike) -> nn.Sequential:
    """Read a file written by :func:`save_compressed` back into an MLP, in eval mode.

    Args:
        path: the file.

    Returns:
        ``nn.Sequential`` of ``Linear`` and ``ReLU`` layers (no Dropout) whose
        parameters are exactly the stored floats, so its logits equal the saved
        model's bit for bit (in eval mode).

    Raises:
        ValueError: the file is missing, foreign, of another version, corrupted
            (checksum), truncated or inconsistent; the message names the file.

    Example::

        >>> model = load_compressed("student.dc")
        >>> model(torch.zeros(1, 64)).shape
        torch.Size([1, 10])
    """
    r, header = _read_file(path)
    widths, modules = header["widths"], []
    for k, (n_in, n_out) in enumerate(zip(widths[:-1], widths[1:])):
        weight, bias = _read_layer(r, (n_out, n_in), header)
        layer = nn.utils.skip_init(nn.Linear, n_in, n_out)  # no random initialisation: no RNG consumed
        layer.weight, layer.bias = nn.Parameter(weight), nn.Parameter(bias)
        modules += [layer, nn.ReLU()] if k < len(widths) - 2 else [layer]
    if r.at != len(r.data):
        raise r.fail(f"{len(r.data) - r.at} unexpected bytes after the last layer")
    return nn.Sequential(*modules).eval()
