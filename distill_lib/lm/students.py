"""Notebook 10's students: a character GRU (the article's choice) and a small character transformer.

Both map ``(B, T)`` character ids to ``(B, T, V)`` next-character logits, like the teacher
(:class:`~distill_lib.lm.model.CharTransformer`, 2.72 M parameters), and both have at least ten
times fewer parameters (:data:`LM_STUDENTS` gives the sizes; a test checks the ratio).

- :class:`CharGRU`: embedding -> GRU (Cho et al. 2014) -> linear head. Its state summarises all the
  text read so far, so generating a character costs one GRU step (:meth:`CharGRU.step`), whatever
  the length of the text; a transformer re-reads its window (or keeps a KV cache).
- :func:`make_lm_student`: a student by name (``"gru"`` or ``"transformer"``), seeded.
- :func:`generate_fast`: sampling with each architecture's fast path: a :class:`CharGRU` carries its
  state, a :class:`~distill_lib.lm.model.CharTransformer` keeps its keys and values
  (:func:`~distill_lib.lm.model.generate_cached`); the draws are those of
  :func:`~distill_lib.lm.model.generate` while the text fits in the context.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._validation import check_int
from .data import ALPHABET
from .model import CharTransformer, _check_sampling, _sample_cached, _sample_in_eval, generate_cached

__all__ = ["LM_STUDENTS", "CharGRU", "generate_fast", "make_lm_student"]

#: The two students' sizes (the teacher: 6 layers x 192, 2.72 M parameters).
LM_STUDENTS: dict[str, dict[str, Any]] = {
    "gru": {"embed": 32, "width": 192, "layers": 1},
    "transformer": {"context": 128, "width": 64, "heads": 4, "layers": 2, "dropout": 0.0},
}


class CharGRU(nn.Module):
    """Character embedding -> GRU -> linear head: next-character logits at every position."""

    def __init__(self, vocab_size: int, embed: int, width: int, layers: int = 1):
        super().__init__()
        for name, value in (("vocab_size", vocab_size), ("embed", embed), ("width", width), ("layers", layers)):
            check_int(name, value, low=1)
        self.vocab_size = vocab_size
        self.embedding = nn.Embedding(vocab_size, embed)
        self.gru = nn.GRU(embed, width, num_layers=layers, batch_first=True)
        self.head = nn.Linear(width, vocab_size)

    def forward(self, idx: Tensor) -> Tensor:
        return self.step(idx)[0]  # (B, T, V)

    def step(self, idx: Tensor, state: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Logits (B, T, V) for ids (B, T) read after `state` (layers, B, width), and the new state."""
        out, state = self.gru(self.embedding(idx), state)  # (B, T, width), (layers, B, width)
        return self.head(out), state  # (B, T, V), (layers, B, width)


def make_lm_student(name: str, seed: int = 0, vocab_size: int = len(ALPHABET)) -> nn.Module:
    """A freshly initialised student by name, its weights drawn after ``torch.manual_seed(seed)``.

    The global random state is restored afterwards (``torch.random.fork_rng``): building a student
    does not change later draws.

    Args:
        name: ``"gru"`` (:class:`CharGRU`) or ``"transformer"`` (a small
            :class:`~distill_lib.lm.model.CharTransformer`); sizes in :data:`LM_STUDENTS`.
        seed: the initialisation's seed (>= 0).
        vocab_size: the alphabet's size (>= 1; the Austen alphabet's by default).

    Returns:
        nn.Module: maps ``(B, T)`` int64 ids to ``(B, T, vocab_size)`` logits.

    Raises:
        TypeError: ``name`` not a str, ``seed`` or ``vocab_size`` not an integer.
        ValueError: an unknown ``name`` (the allowed ones listed), ``seed < 0``, ``vocab_size < 1``.

    Example::

        >>> student = make_lm_student("gru", seed=1)
        >>> student(torch.zeros(2, 5, dtype=torch.long)).shape
        torch.Size([2, 5, 79])
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, got {type(name).__name__}")
    if name not in LM_STUDENTS:
        raise ValueError(f"name={name!r} is not a student; allowed: {sorted(LM_STUDENTS)}")
    seed = check_int("seed", seed, low=0)
    vocab_size = check_int("vocab_size", vocab_size, low=1)
    with torch.random.fork_rng():  # the global random state is left as it was
        torch.manual_seed(seed)
        if name == "gru":
            return CharGRU(vocab_size, **LM_STUDENTS["gru"])
        return CharTransformer(vocab_size, **LM_STUDENTS["transformer"])


@torch.no_grad()
def _sample_gru(model, idx, length, temperature, generator):
    """Append `length` ids to idx (B, T), carrying the GRU's state: one step per new character."""
    logits, state = model.step(idx)  # (B, T, V), (layers, B, width)
    for _ in range(length):
        probs = F.softmax(logits[:, -1] / temperature, dim=-1)  # (B, V)
        next_id = torch.multinomial(probs, 1, generator=generator)  # (B, 1)
        idx = torch.cat([idx, next_id], dim=1)  # (B, T + 1)
        logits, state = model.step(next_id, state)  # (B, 1, V)
    return idx


def _sample_fast(model, idx, length, temperature, generator):
    """Append `length` ids to idx (B, T) with the model's fast path: a GRU's state or a transformer's KV cache."""
    if isinstance(model, CharGRU):
        return _sample_gru(model, idx, length, temperature, generator)
    return _sample_cached(model, idx, length, temperature, generator)


def generate_fast(
    model: nn.Module,
    prompt_ids: Tensor,
    length: int,
    temperature: float = 1.0,
    generator: torch.Generator | None = None,
) -> Tensor:
    """:func:`~distill_lib.lm.model.generate` with each student's fast path (a GRU's state, a KV cache).

    Args, Shape, Returns: as :func:`~distill_lib.lm.model.generate`; ``model`` is a :class:`CharGRU`
    or a :class:`~distill_lib.lm.model.CharTransformer` (the teacher too).

    Raises:
        TypeError: ``model`` neither a :class:`CharGRU` nor a ``CharTransformer``; the others as
            :func:`~distill_lib.lm.model.generate` (an empty prompt, ``length < 1`` and
            ``temperature <= 0`` are ``ValueError``).

    Example::

        >>> ids = generate_fast(make_lm_student("gru"), Alphabet().encode("Emma "), 20)
    """
    if isinstance(model, CharTransformer):
        return generate_cached(model, prompt_ids, length, temperature, generator)
    if not isinstance(model, CharGRU):
        raise TypeError(f"model must be a CharGRU or a CharTransformer, got {type(model).__name__}")
    idx, length, temperature = _check_sampling(model, prompt_ids, length, temperature, generator)
    return _sample_in_eval(model, prompt_ids, idx, length,
                           lambda x: _sample_gru(model, x, length, temperature, generator))
