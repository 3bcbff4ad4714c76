"""Notebook 10's measures of generated text: its diversity, its loops, the teacher's verdict, its speed.

Held-out bits per character say how well a student predicts real text; they do not say what its
*own* text looks like. Generated text is judged here three ways, and timed:

- :func:`distinct_ngrams`: "distinct-n" (Li et al. 2016, "A Diversity-Promoting Objective Function
  for Neural Conversation Models", section 5): the number of distinct word n-grams divided by the
  number of word n-grams. Low: the model says the same few things.
- :func:`repetition`: the fraction of word n-grams that repeat one seen *earlier in the same
  sample*: 0 for text that never repeats itself, near 1 for a degenerate loop
  ("the the the the ..."), the failure Holtzman et al. (2020, "The Curious Case of Neural Text
  Degeneration") describe for likely-text decoding.
- :func:`teacher_bits_on_samples`: the teacher's bits per character on the generated characters
  given everything before them (the prompt and the sample so far): how plausible the teacher finds
  a student's text. Low is not always good: a loop of likely words scores low too, hence the two
  measures above (the same caution as MiniLLM, Gu et al. 2024, and GKD, Agarwal et al. 2024, who
  report teacher-scored quality together with diversity).
- :func:`chars_per_second` (:class:`GenerationSpeed`) and :func:`generation_speedup`: how fast a
  model generates with its fast path (:func:`~distill_lib.lm.students.generate_fast`), timed with
  :mod:`distill_lib.timing` (its one convention: a speedup ``> 1`` means the candidate is faster).

Words are ``text.split()``: runs of characters between whitespace, punctuation attached, case
kept ("Emma," and "emma" are different words). A sample's n-grams never cross into another sample.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .. import timing
from .._validation import check_int, check_module
from .model import CharTransformer, _check_sampling
from .students import CharGRU, generate_fast

__all__ = [
    "GenerationSpeed",
    "chars_per_second",
    "distinct_ngrams",
    "generation_speedup",
    "repetition",
    "teacher_bits_on_samples",
]


# ---------------------------------------------------------------------------------------------------
# The measures (shown in notebook 10)
# ---------------------------------------------------------------------------------------------------

def _ngrams(words, n):
    """The word n-grams of one sample, in order, as tuples of n words."""
    return [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]


def _distinct_ngrams(samples, n):
    """Distinct word n-grams / all word n-grams, pooled over the samples (Li et al. 2016)."""
    grams = [g for text in samples for g in _ngrams(text.split(), n)]
    return len(set(grams)) / len(grams)


def _repetition(samples, n):
    """The fraction of word n-grams that repeat an n-gram seen earlier in the same sample."""
    repeats = total = 0
    for text in samples:
        seen = set()
        for g in _ngrams(text.split(), n):
            repeats += g in seen
            seen.add(g)
            total += 1
    return repeats / total


@torch.no_grad()
def _teacher_bits_on_samples(teacher, prompt_ids, sample_ids):
    """The teacher's mean -log2 p(character | all before it) over the generated characters only."""
    x = torch.cat([prompt_ids, sample_ids], dim=1)[:, :-1]  # (B, P + L - 1): all but the last character
    logits = teacher(x)[:, prompt_ids.shape[1] - 1 :]  # (B, L, V): the predictions of the L sample characters
    nats = F.cross_entropy(logits.transpose(1, 2), sample_ids)  # mean over the B * L characters
    return nats.item() / math.log(2)


# ---------------------------------------------------------------------------------------------------
# Validating wrappers
# ---------------------------------------------------------------------------------------------------

def _check_samples(text: object) -> list[str]:
    """A str or a non-empty list/tuple of str, as a list of samples."""
    if isinstance(text, str):
        return [text]
    if not isinstance(text, Sequence) or isinstance(text, bytes):
        raise TypeError(f"text must be a str or a list of str, got {type(text).__name__}")
    if not text:
        raise ValueError("text is an empty list; give at least one sample")
    for i, sample in enumerate(text):
        if not isinstance(sample, str):
            raise TypeError(f"text[{i}] must be a str, got {type(sample).__name__}")
    return list(text)


def _check_ngrams(text: object, n: object) -> tuple[list[str], int]:
    """The samples and n, after checking that there is at least one word n-gram."""
    samples = _check_samples(text)
    n = check_int("n", n, low=1)
    if not any(len(s.split()) >= n for s in samples):
        words = [len(s.split()) for s in samples]
        shown = words[0] if len(words) == 1 else f"at most {max(words)} per sample ({len(words)} samples)"
        raise ValueError(f"no word {n}-gram: the text has {shown} word(s); n={n} needs at least {n} "
                         "words in one sample")
    return samples, n


def distinct_ngrams(text: str | Sequence[str], n: int) -> float:
    """Distinct-n (Li et al. 2016): distinct word n-grams divided by all word n-grams.

    A sample's words are ``sample.split()`` (case and punctuation kept). Its n-grams are the
    ``len(words) - n + 1`` runs of ``n`` consecutive words; the n-grams of all samples are pooled
    (none crosses from one sample into the next), and the score is the number of different ones
    over their number.

    Args:
        text: one sample (a str) or several (a list of str).
        n: the n-gram length, >= 1 (Li et al. report distinct-1 and distinct-2).

    Returns:
        float in ``(0, 1]``: 1 when no n-gram occurs twice; ``1 / count`` for one n-gram repeated.

    Raises:
        TypeError: ``text`` not a str or a list of str, ``n`` not an integer.
        ValueError: ``n < 1``, an empty list, or no sample with ``n`` words (no n-gram at all; the
            word counts named).

    Example::

        >>> distinct_ngrams("the cat saw the cat", 2)  # (the cat), (cat saw), (saw the), (the cat)
        0.75
    """
    samples, n = _check_ngrams(text, n)
    return _distinct_ngrams(samples, n)


def repetition(text: str | Sequence[str], n: int = 4) -> float:
    """The fraction of word n-grams that repeat an n-gram seen earlier in the same sample.

    With a sample's word n-grams ``g_1, ..., g_m`` (words: ``sample.split()``), ``g_i`` is a
    *repeat* when ``g_i = g_j`` for some ``j < i``; the score is the number of repeats over the
    number of n-grams, both summed over the samples. Only earlier n-grams of the same sample count:
    two samples that share an n-gram are not a loop. 0 for a sample with no repeated n-gram;
    ``k`` words of "the the the ..." give ``(k - n) / (k - n + 1)``, which tends to 1.

    Args:
        text: one sample (a str) or several (a list of str).
        n: the n-gram length, >= 1 (4: a repeated phrase, not a repeated common word).

    Returns:
        float in ``[0, 1)``.

    Raises:
        TypeError, ValueError: as :func:`distinct_ngrams`.

    Example::

        >>> repetition("a b a b a b", n=2)  # (a b) (b a) (a b) (b a) (a b): 3 of 5 seen before
        0.6
    """
    samples, n = _check_ngrams(text, n)
    return _repetition(samples, n)


def _check_ids(name: str, ids: object, vocab_size: int | None) -> Tensor:
    """``(B, T)`` integer ids, ``T >= 1``, in ``[0, vocab_size - 1]`` if the vocabulary is known."""
    if not isinstance(ids, Tensor) or ids.dtype not in (torch.int64, torch.int32, torch.int16, torch.uint8):
        raise TypeError(f"{name} must be an integer tensor of character ids, got {type(ids).__name__} "
                        f"{getattr(ids, 'dtype', '')}")
    if ids.dim() != 2 or 0 in ids.shape:
        raise ValueError(f"{name} must be a non-empty (B, T) tensor, got shape {tuple(ids.shape)}")
    low, high = int(ids.min()), int(ids.max())
    if low < 0 or (vocab_size is not None and high >= vocab_size):
        bad = low if low < 0 else high
        allowed = f"[0, {vocab_size - 1}]" if vocab_size is not None else ">= 0"
        raise ValueError(f"{name} holds the id {bad}, out of range; allowed: {allowed}")
    return ids.long()


def teacher_bits_on_samples(teacher: nn.Module, prompt_ids: Tensor, sample_ids: Tensor) -> float:
    """The teacher's bits per character on generated text, given the prompt: how plausible it finds it.

    The teacher reads ``cat(prompt, sample)`` without its last character in one forward pass; the
    score is ``-(1 / (B * L)) * sum_{b, j} log2 p_teacher(sample[b, j] | prompt[b], sample[b, :j])``,
    the prompt's characters being context only. The teacher runs in eval mode without gradients;
    its mode is restored. Everything must fit in one window: ``P + L - 1 <= teacher.context`` (a
    model without a ``context`` attribute reads any length).

    Args:
        teacher: maps ``(B, T)`` int64 ids to ``(B, T, V)`` logits (the
            :class:`~distill_lib.lm.model.CharTransformer` teacher).
        prompt_ids: the prompts, ``(B, P)`` integer ids, ``P >= 1``.
        sample_ids: what was generated after each prompt, ``(B, L)`` integer ids, ``L >= 1``
            (e.g. :func:`~distill_lib.lm.students.generate_fast`'s output).

    Shape:
        ``prompt_ids`` ``(B, P)``, ``sample_ids`` ``(B, L)``, the same ``B``.

    Returns:
        float: bits per character over the ``B * L`` generated characters.

    Raises:
        TypeError: ``teacher`` not a module, ids not integer tensors.
        ValueError: ids not 2-D or empty, different ``B``, an id out of ``[0, V - 1]``, or
            ``P + L - 1 > teacher.context`` (the numbers named).

    Example::

        >>> samples = generate_fast(student, prompts, 100, generator=torch.Generator().manual_seed(0))
        >>> teacher_bits_on_samples(teacher, prompts, samples)  # bits per character
    """
    check_module("teacher", teacher)
    vocab_size = getattr(teacher, "vocab_size", None)
    vocab_size = vocab_size if isinstance(vocab_size, int) else None
    prompt_ids = _check_ids("prompt_ids", prompt_ids, vocab_size)
    sample_ids = _check_ids("sample_ids", sample_ids, vocab_size)
    (B, P), (B_s, L) = prompt_ids.shape, sample_ids.shape
    if B != B_s:
        raise ValueError(f"prompt_ids has B={B} rows but sample_ids has {B_s}; give one sample per prompt")
    context = getattr(teacher, "context", None)
    if isinstance(context, int) and P + L - 1 > context:
        raise ValueError(f"the teacher would read P + L - 1 = {P} + {L} - 1 = {P + L - 1} characters, more than "
                         f"its context={context}; use a shorter prompt or sample (P + L - 1 <= {context})")
    was_training = teacher.training
    teacher.eval()
    try:
        return _teacher_bits_on_samples(teacher, prompt_ids, sample_ids)
    finally:
        teacher.train(was_training)


@dataclass(frozen=True)
class GenerationSpeed:
    """Characters generated per second (``batch * length / median`` seconds per call) and the IQR's share."""

    chars_per_second: float
    iqr_fraction: float  # interquartile range / median of the seconds per call: the timing's spread
    batch: int
    length: int
    num_threads: int

    def __str__(self) -> str:
        return (f"{self.chars_per_second:,.0f} characters/s ({self.batch} x {self.length} characters a call, "
                f"IQR {100 * self.iqr_fraction:.0f} % of the median, {self.num_threads} thread(s))")


def _check_generator_model(name: str, model: object) -> nn.Module:
    if not isinstance(model, (CharGRU, CharTransformer)):
        raise TypeError(f"{name} must be a CharGRU or a CharTransformer (generate_fast's models), "
                        f"got {type(model).__name__}")
    return model


def _generation(model: nn.Module, prompt_ids: Tensor, length: int):
    """A call of no arguments: ``length`` characters after each prompt, a fixed seed, temperature 1."""
    return lambda: generate_fast(model, prompt_ids, length, temperature=1.0,
                                 generator=torch.Generator().manual_seed(0))


def chars_per_second(
    model: nn.Module,
    prompt_ids: Tensor,
    length: int,
    *,
    num_threads: int = 1,
    min_run_time: float = 0.2,
) -> GenerationSpeed:
    """How many characters per second ``model`` generates with its fast path.

    Times ``generate_fast(model, prompt_ids, length, temperature=1.0, generator=...)`` (a fresh
    ``torch.Generator().manual_seed(0)`` each call) with :func:`distill_lib.timing.measure`; the
    speed is ``B * length / median`` seconds per call. Shared machines are noisy: compare two
    models with :func:`generation_speedup`, which alternates their measurements.

    Args:
        model: a :class:`~distill_lib.lm.students.CharGRU` or a
            :class:`~distill_lib.lm.model.CharTransformer` (teacher or student).
        prompt_ids: the prompts, ``(T,)`` or ``(B, T)`` ids (``B`` prompts generated at once).
        length: characters to generate after each prompt, >= 1.
        num_threads: PyTorch threads during the measurement (>= 1; restored afterwards).
        min_run_time: seconds to spend measuring (> 0).

    Returns:
        :class:`GenerationSpeed`.

    Raises:
        TypeError: ``model`` neither a ``CharGRU`` nor a ``CharTransformer``; the others as
            :func:`~distill_lib.lm.model.generate` and :func:`~distill_lib.timing.measure`.
        ValueError: an empty prompt, an id out of range, ``length < 1``, bad ``num_threads`` or
            ``min_run_time``.

    Example::

        >>> print(chars_per_second(student, Alphabet().encode("Emma ").repeat(8, 1), 100))
    """
    _check_generator_model("model", model)
    idx, length, _ = _check_sampling(model, prompt_ids, length, 1.0, None)  # idx: (B, T)
    t = timing.measure(_generation(model, prompt_ids, length), num_threads=num_threads, min_run_time=min_run_time)
    batch = idx.shape[0]
    return GenerationSpeed(batch * length / t.median, t.iqr / t.median, batch, length, t.num_threads)


def generation_speedup(
    teacher: nn.Module,
    student: nn.Module,
    prompt_ids: Tensor,
    length: int,
    *,
    num_threads: int = 1,
    repeats: int = 5,
    min_run_time: float = 0.1,
) -> timing.Speedup:
    """How many times faster ``student`` generates than ``teacher``, measured side by side.

    :func:`distill_lib.timing.speedup` with the teacher as the baseline: each repeat times the same
    generation (as :func:`chars_per_second`) by both models, alternating which goes first; a ratio
    ``> 1`` means the student is faster.

    Args:
        teacher, student: :class:`~distill_lib.lm.students.CharGRU` or
            :class:`~distill_lib.lm.model.CharTransformer` models over the same alphabet.
        prompt_ids: ``(T,)`` or ``(B, T)`` ids; length: characters per prompt, >= 1.
        num_threads: PyTorch threads (>= 1); repeats: rounds (>= 3); min_run_time: seconds per
            measurement (> 0).

    Returns:
        :class:`~distill_lib.timing.Speedup` (``.median``, ``.low``, ``.high``, ``.meaningful``).

    Raises:
        TypeError, ValueError: as :func:`chars_per_second`, for either model.

    Example::

        >>> print(generation_speedup(teacher, student, prompts, 100))  # e.g. "6.1x (min 5.8, max 6.4 ...)"
    """
    _check_generator_model("teacher", teacher)
    _check_generator_model("student", student)
    _check_sampling(teacher, prompt_ids, length, 1.0, None)
    _check_sampling(student, prompt_ids, length, 1.0, None)
    return timing.speedup(_generation(teacher, prompt_ids, length), _generation(student, prompt_ids, length),
                          num_threads=num_threads, repeats=repeats, min_run_time=min_run_time)
