"""Notebook 09's students: three small text classifiers over the students' WordPiece ids.

Each student maps ``(ids, mask)`` to ``(logits, embedding)``: ten category logits, and a vector
that the DistilBERT-style loss (:func:`~distill_lib.text.distill.cosine_embedding_loss`) pulls
towards the teacher's sentence embedding. All three average over the real tokens with the
teacher's own mean pooling (:func:`~distill_lib.text.encoder._mean_pool`).

- :class:`BagOfEmbeddings`: fastText without its n-grams (Joulin et al., *Bag of Tricks for
  Efficient Text Classification*, EACL 2017): the average of the tokens' embeddings, then linear heads.
- :class:`GRUStudent`: a one-layer GRU (Cho et al., 2014), its outputs averaged over the tokens.
- :class:`TinyTransformer`: a 2-layer pre-LayerNorm transformer encoder (Vaswani et al., 2017),
  64 wide, with learned positions.

:func:`make_student` builds one by name (:data:`STUDENTS`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._validation import check_int
from .encoder import _mean_pool
from .tokens import MAX_TOKENS, PAD

__all__ = ["STUDENTS", "BagOfEmbeddings", "GRUStudent", "TinyTransformer", "make_student"]


class BagOfEmbeddings(nn.Module):
    """fastText-like: the mean of the token embeddings, then a linear classifier."""

    def __init__(self, vocab_size: int, num_classes: int, embed_dim: int, width: int = 64):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, width, padding_idx=PAD)
        self.classify = nn.Linear(width, num_classes)
        self.to_teacher = nn.Linear(width, embed_dim)  # for the embedding loss only

    def forward(self, ids: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        h = _mean_pool(self.embed(ids), mask)  # (B, W)
        return self.classify(h), self.to_teacher(h)  # (B, K), (B, E)


class GRUStudent(nn.Module):
    """A one-layer GRU over the token embeddings, its outputs averaged over the real tokens."""

    def __init__(self, vocab_size: int, num_classes: int, embed_dim: int, width: int = 64, hidden: int = 96):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, width, padding_idx=PAD)
        self.gru = nn.GRU(width, hidden, batch_first=True)
        self.classify = nn.Linear(hidden, num_classes)
        self.to_teacher = nn.Linear(hidden, embed_dim)

    def forward(self, ids: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        out, _ = self.gru(self.embed(ids))  # (B, T, H); padding comes last, so it never feeds a real token
        h = _mean_pool(out, mask)  # (B, H)
        return self.classify(h), self.to_teacher(h)  # (B, K), (B, E)


class Block(nn.Module):
    """Pre-LayerNorm transformer block: x + attention(LN(x)), then x + MLP(LN(x))."""

    def __init__(self, width: int, heads: int, mlp: int):
        super().__init__()
        self.heads = heads
        self.ln1, self.ln2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.qkv = nn.Linear(width, 3 * width)
        self.out = nn.Linear(width, width)
        self.fc, self.proj = nn.Linear(width, mlp), nn.Linear(mlp, width)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        B, T, C = x.shape
        q, k, v = self.qkv(self.ln1(x)).view(B, T, 3, self.heads, C // self.heads).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask[:, None, None, :])  # (B, H, T, D)
        x = x + self.out(y.transpose(1, 2).reshape(B, T, C))  # (B, T, C)
        return x + self.proj(F.gelu(self.fc(self.ln2(x))))  # (B, T, C)


class TinyTransformer(nn.Module):
    """Token + position embeddings, ``layers`` pre-LN blocks, LayerNorm, mean pooling, linear heads."""

    def __init__(self, vocab_size: int, num_classes: int, embed_dim: int, width: int = 64,
                 heads: int = 4, mlp: int = 128, layers: int = 2, max_tokens: int = MAX_TOKENS):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, width, padding_idx=PAD)
        self.position = nn.Embedding(max_tokens, width)
        self.blocks = nn.ModuleList(Block(width, heads, mlp) for _ in range(layers))
        self.ln = nn.LayerNorm(width)
        self.classify = nn.Linear(width, num_classes)
        self.to_teacher = nn.Linear(width, embed_dim)

    def forward(self, ids: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        x = self.embed(ids) + self.position(torch.arange(ids.shape[1], device=ids.device))  # (B, T, W)
        for block in self.blocks:
            x = block(x, mask)  # (B, T, W)
        h = _mean_pool(self.ln(x), mask)  # (B, W)
        return self.classify(h), self.to_teacher(h)  # (B, K), (B, E)


#: The students by name, in the notebook's order.
STUDENTS = {"bag": BagOfEmbeddings, "gru": GRUStudent, "transformer": TinyTransformer}


def make_student(name: str, vocab_size: int, num_classes: int, embed_dim: int, *, seed: int = 0) -> nn.Module:
    """A fresh student ``name`` (a key of :data:`STUDENTS`), its weights drawn with ``seed``.

    Args:
        name: ``"bag"``, ``"gru"`` or ``"transformer"``.
        vocab_size: student vocabulary size (:attr:`~distill_lib.text.tokens.Vocab.size`), >= 2.
        num_classes: categories, >= 2.
        embed_dim: width of the teacher embedding it learns to match, >= 1.
        seed: initial weights, an integer >= 0.

    Raises:
        TypeError, ValueError: an unknown name, a size out of range.

    Example::

        >>> s = make_student("gru", vocab_size=15_000, num_classes=10, embed_dim=64, seed=1)
        >>> logits, emb = s(ids, mask)    # (B, 10), (B, 64)
    """
    if not isinstance(name, str) or name not in STUDENTS:
        raise ValueError(f"name={name!r} is not a student; choose one of {sorted(STUDENTS)}")
    vocab_size = check_int("vocab_size", vocab_size, low=2)
    num_classes = check_int("num_classes", num_classes, low=2)
    embed_dim = check_int("embed_dim", embed_dim, low=1)
    seed = check_int("seed", seed, low=0)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return STUDENTS[name](vocab_size, num_classes, embed_dim)
