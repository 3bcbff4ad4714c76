"""Token ids for notebook 09's students: the teacher's WordPiece tokens, a smaller vocabulary.

The students read the same WordPiece tokens as the teacher (the ``tokenizers`` library with
all-MiniLM-L6-v2's ``tokenizer.json``), so a difference in accuracy is the model's, not the
tokeniser's. They do not need the teacher's 30,522-row embedding table: :func:`build_vocab` keeps
the WordPiece ids that occur at least ``min_count`` times in the texts a student trains on (the
train and transfer glosses; never validation or test), and maps every other id to ``[UNK]``.

- :class:`Vocab`: teacher id -> student id (``0`` = padding, ``1`` = unknown).
- :func:`build_vocab`: the vocabulary of a list of texts.
- :func:`encode_texts`: texts -> :class:`Tokens` ``(ids, mask)``, fixed width ``max_length``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import Tensor

from .._validation import check_int

__all__ = ["MAX_TOKENS", "PAD", "UNK", "Tokens", "Vocab", "build_vocab", "encode_texts"]

PAD, UNK = 0, 1
#: Students read at most this many WordPiece tokens (99.9 % of the glosses are shorter; [CLS]/[SEP] dropped).
MAX_TOKENS = 64


class Tokens(NamedTuple):
    """A batch of texts as student token ids.

    Shape:
        ids: ``(N, L)`` int64, padded with :data:`PAD` after the last token;
        mask: ``(N, L)`` bool, True on a real token. Every row has at least one real token.
    """

    ids: Tensor
    mask: Tensor

    def __len__(self) -> int:
        return self.ids.shape[0]

    def rows(self, index: Tensor) -> Tokens:
        """The rows ``index``, trimmed to the longest of them (less padding to compute on)."""
        ids, mask = self.ids[index], self.mask[index]  # (B, L)
        width = max(int(mask.sum(1).max()), 1)
        return Tokens(ids[:, :width], mask[:, :width])


class Vocab(NamedTuple):
    """Teacher WordPiece id -> student id; ``table[i]`` is the student id of teacher id ``i``."""

    table: Tensor  # (30522,) int64
    size: int      # student ids are 0 .. size - 1 (0 = PAD, 1 = UNK)


def _check_texts(name: str, texts: object) -> list[str]:
    if not isinstance(texts, (list, tuple)):
        raise TypeError(f"{name} must be a list or tuple of str, got {type(texts).__name__}")
    if len(texts) == 0:
        raise ValueError(f"{name}=[] is empty; give at least one text")
    for i, t in enumerate(texts):
        if not isinstance(t, str) or not t.strip():
            raise ValueError(f"{name}[{i}] must be a non-empty str, got {t!r:.80}")
    return list(texts)


def _check_tokenizer(tokenizer: object):
    from tokenizers import Tokenizer

    if not isinstance(tokenizer, Tokenizer):
        raise TypeError(f"tokenizer must be a tokenizers.Tokenizer (from load_tokenizer), got {type(tokenizer).__name__}")
    return tokenizer


def _wordpieces(tokenizer, texts: list[str]) -> list[list[int]]:
    """Teacher WordPiece ids of each text, without [CLS], [SEP] and padding."""
    from tokenizers import Tokenizer

    plain = Tokenizer.from_str(tokenizer.to_str())  # a copy: the caller's settings stay as they are
    plain.no_padding()
    plain.no_truncation()
    return [e.ids for e in plain.encode_batch(texts, add_special_tokens=False)]


def build_vocab(tokenizer, texts: Sequence[str], min_count: int = 2) -> Vocab:
    """The student vocabulary: every WordPiece that occurs ``min_count`` times or more in ``texts``.

    Args:
        tokenizer: the teacher's ``tokenizers.Tokenizer`` (:func:`~distill_lib.text.encoder.load_tokenizer`).
        texts: the texts the students train on (never validation or test texts).
        min_count: keep a WordPiece seen at least this often, >= 1.

    Returns:
        Vocab: kept pieces numbered from 2 in order of first appearance; the rest map to :data:`UNK`.

    Raises:
        TypeError, ValueError: a tokenizer of the wrong type, an empty or non-text ``texts``,
            ``min_count < 1``.
    """
    tokenizer = _check_tokenizer(tokenizer)
    texts = _check_texts("texts", texts)
    min_count = check_int("min_count", min_count, low=1)
    counts = Counter(i for ids in _wordpieces(tokenizer, texts) for i in ids)
    table = torch.full((tokenizer.get_vocab_size(),), UNK, dtype=torch.long)
    kept = [i for i, c in counts.items() if c >= min_count]
    table[torch.tensor(kept, dtype=torch.long)] = torch.arange(2, 2 + len(kept))
    return Vocab(table, 2 + len(kept))


def encode_texts(tokenizer, vocab: Vocab, texts: Sequence[str], max_length: int = MAX_TOKENS) -> Tokens:
    """Texts -> student token ids and mask, ``max_length`` wide (longer texts are cut).

    Args:
        tokenizer: the teacher's ``tokenizers.Tokenizer``.
        vocab: from :func:`build_vocab`.
        texts: non-empty strings.
        max_length: tokens kept per text, >= 1.

    Shape:
        output ids and mask: ``(N, max_length)``.

    Raises:
        TypeError, ValueError: as :func:`build_vocab`; ``vocab`` not a :class:`Vocab` or made with
            another tokenizer; ``max_length < 1``.
    """
    tokenizer = _check_tokenizer(tokenizer)
    if not isinstance(vocab, Vocab):
        raise TypeError(f"vocab must be a Vocab (from build_vocab), got {type(vocab).__name__}")
    if vocab.table.shape != (tokenizer.get_vocab_size(),):
        raise ValueError(f"vocab maps {vocab.table.shape[0]} WordPiece ids but the tokenizer has "
                         f"{tokenizer.get_vocab_size()}; build the vocab with this tokenizer")
    texts = _check_texts("texts", texts)
    max_length = check_int("max_length", max_length, low=1)
    pieces = [p[:max_length] for p in _wordpieces(tokenizer, texts)]
    lengths = torch.tensor([max(len(p), 1) for p in pieces])  # (N,); an empty text still gets one token
    flat = torch.cat([vocab.table[torch.tensor(p, dtype=torch.long)] if p else torch.tensor([UNK])
                      for p in pieces])  # student ids of all tokens, in order
    ids = torch.full((len(texts), max_length), PAD, dtype=torch.long)
    ids[torch.arange(max_length) < lengths[:, None]] = flat  # row-major fill: each row's first len tokens
    return Tokens(ids, ids != PAD)
