"""Notebook 10's teacher architecture: a character-level GPT, and sampling text from a language model.

A decoder-only transformer as in GPT-2 (Radford et al. 2019, "Language Models are Unsupervised
Multitask Learners") and Karpathy's nanoGPT (https://github.com/karpathy/nanoGPT), whose layout and
shape comments this file follows: token and position embeddings, ``layers`` pre-LayerNorm blocks of
causal self-attention (Vaswani et al. 2017, "Attention Is All You Need") and a 4x-wide GELU MLP, a
final LayerNorm and a linear head giving next-character logits at every position. Attention runs
through ``torch.nn.functional.scaled_dot_product_attention(is_causal=True)``, PyTorch's fused kernel
(no ``(T, T)`` mask tensor is built). Dropout acts on the embeddings and on each branch's output
before it joins the residual stream, not on the attention weights: on the CPU, dropout inside
``scaled_dot_product_attention`` leaves the fused kernel, and a training step of the teacher took
about 15 % longer with it (measured on one core).

- :class:`CausalSelfAttention`: multi-head attention in which position ``t`` sees positions ``<= t``.
- :class:`Block`: ``x + attn(ln(x))``, then ``x + mlp(ln(x))``.
- :class:`CharTransformer`: ``(B, T)`` character ids -> ``(B, T, V)`` next-character logits.
- :func:`generate`: append ``length`` characters, each drawn from ``softmax(logits / temperature)``
  (any model mapping ``(B, T)`` ids to ``(B, T, V)`` logits; a model with a ``context`` attribute
  sees only its last ``context`` characters).
- :func:`generate_cached`: the same for a :class:`CharTransformer`, each block keeping its keys and
  values (a KV cache), so that a new character costs one position instead of a whole window.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._validation import check_int, check_module, check_real, check_temperature

__all__ = ["Block", "CausalSelfAttention", "CharTransformer", "generate", "generate_cached"]


class CausalSelfAttention(nn.Module):
    """Multi-head self-attention in which position t attends to positions <= t only."""

    def __init__(self, width, heads, dropout=0.0):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(width, 3 * width)  # queries, keys and values of all heads at once
        self.proj = nn.Linear(width, width)
        self.drop = nn.Dropout(dropout)

    def forward(self, x):
        B, T, C = x.shape  # batch, time (characters), channels (width)
        q, k, v = self.qkv(x).split(C, dim=2)  # 3 x (B, T, C)
        q, k, v = (z.view(B, T, self.heads, C // self.heads).transpose(1, 2) for z in (q, k, v))  # (B, H, T, C/H)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # (B, H, T, C/H)
        y = y.transpose(1, 2).contiguous().view(B, T, C)  # (B, T, C): the heads side by side
        return self.drop(self.proj(y))  # (B, T, C)


class Block(nn.Module):
    """A pre-LayerNorm transformer block: x + attention(ln(x)), then x + mlp(ln(x))."""

    def __init__(self, width, heads, dropout=0.0):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.attn = CausalSelfAttention(width, heads, dropout)
        self.mlp = nn.Sequential(nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width),
                                 nn.Dropout(dropout))

    def forward(self, x):
        x = x + self.attn(self.ln1(x))  # (B, T, C)
        return x + self.mlp(self.ln2(x))  # (B, T, C)


class CharTransformer(nn.Module):
    """A character-level GPT: ``(B, T)`` ids -> ``(B, T, V)`` logits for the character after each position.

    Args: ``vocab_size`` characters ``V``; ``context``, the most characters read at once;
    ``layers`` blocks of ``width`` channels (a multiple of ``heads``) and ``heads`` attention heads;
    ``dropout`` in ``[0, 1)`` (embeddings and branch outputs). Shape: ``idx`` ``(B, T)`` int64, ``1 <= T <= context``; position ``t``
    of the output depends on ``idx[:, :t + 1]`` only. Raises ``TypeError``/``ValueError`` naming a bad
    size or input. Weights start as GPT-2's (:func:`_init_gpt2`).
    Example: ``CharTransformer(79, 128, 64, 4, 2)(torch.zeros(3, 10, dtype=torch.long)).shape == (3, 10, 79)``.
    """

    def __init__(self, vocab_size: int, context: int, width: int, heads: int, layers: int, dropout: float = 0.0):
        super().__init__()
        _check_sizes(vocab_size, context, width, heads, layers, dropout)
        self.vocab_size, self.context = vocab_size, context
        self.token_embedding = nn.Embedding(vocab_size, width)
        self.position_embedding = nn.Embedding(context, width)
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.Sequential(*[Block(width, heads, dropout) for _ in range(layers)])
        self.ln_f = nn.LayerNorm(width)
        self.head = nn.Linear(width, vocab_size)
        _init_gpt2(self, layers)

    def forward(self, idx: Tensor) -> Tensor:
        _check_ids(idx, self.vocab_size, self.context)
        positions = torch.arange(idx.shape[1], device=idx.device)  # (T,)
        x = self.drop(self.token_embedding(idx) + self.position_embedding(positions))  # (B, T, C)
        x = self.ln_f(self.blocks(x))  # (B, T, C)
        return self.head(x)  # (B, T, V)


def _check_sizes(vocab_size, context, width, heads, layers, dropout) -> None:
    """Raise ``TypeError``/``ValueError`` naming a size that is not an integer in range, or a bad dropout."""
    for name, value in (("vocab_size", vocab_size), ("context", context), ("width", width), ("heads", heads),
                        ("layers", layers)):
        check_int(name, value, low=1)
    if width % heads:
        raise ValueError(f"width={width} is not a multiple of heads={heads}; each head gets width // heads channels")
    dropout = check_real("dropout", dropout)
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout={dropout!r} is out of range; allowed: [0, 1)")


def _check_ids(idx, vocab_size, context) -> None:
    """Raise ``TypeError``/``ValueError`` unless ``idx`` is ``(B, T)`` integer ids in range, ``1 <= T <= context``."""
    if not isinstance(idx, Tensor) or idx.dtype not in (torch.int64, torch.int32) or idx.dim() != 2:
        raise TypeError(f"idx must be a (B, T) int64 tensor of character ids, got "
                        f"{type(idx).__name__} {getattr(idx, 'dtype', '')} {tuple(getattr(idx, 'shape', ()))}")
    if not 1 <= idx.shape[1] <= context:
        raise ValueError(f"idx has T={idx.shape[1]} characters; allowed: [1, {context}] (the context)")
    low, high = int(idx.min()), int(idx.max())
    if low < 0 or high >= vocab_size:
        raise ValueError(f"idx holds the id {low if low < 0 else high}, out of range; allowed: [0, {vocab_size - 1}]")


def _init_gpt2(model: nn.Module, layers: int) -> None:
    """GPT-2's initialisation: weights and embeddings normal with std 0.02, biases 0, LayerNorms 1;
    the projections back into the residual stream with std ``0.02 / sqrt(2 * layers)`` (Radford et al. 2019)."""
    for name, p in model.named_parameters():
        if name.endswith("bias"):
            nn.init.zeros_(p)
        elif p.dim() == 2:  # embeddings and linear weights; the LayerNorms keep weight 1
            residual = name.endswith(("attn.proj.weight", "mlp.2.weight"))
            nn.init.normal_(p, std=0.02 / math.sqrt(2 * layers) if residual else 0.02)


@torch.no_grad()
def _sample(model, idx, length, temperature, window, generator):
    """Append `length` ids, each drawn from softmax(logits / temperature) at the last position."""
    for _ in range(length):
        logits = model(idx[:, -window:])[:, -1, :]  # (B, V): the next character's logits
        probs = F.softmax(logits / temperature, dim=-1)  # (B, V)
        next_id = torch.multinomial(probs, 1, generator=generator)  # (B, 1)
        idx = torch.cat([idx, next_id], dim=1)  # (B, T + 1)
    return idx


def generate(
    model: nn.Module,
    prompt_ids: Tensor,
    length: int,
    temperature: float = 1.0,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Sample ``length`` characters after a prompt, one at a time, from ``softmax(logits / temperature)``.

    Each new character is drawn from the model's next-character distribution at the last position,
    sharpened (``temperature < 1``) or flattened (``> 1``) by the temperature, and appended; the model
    reads the last ``model.context`` characters if it has a ``context`` attribute, else all of them.
    The model runs in eval mode and without gradients; its mode is restored afterwards.

    Args:
        model: maps ``(B, T)`` int64 ids to ``(B, T, V)`` logits (e.g. a :class:`CharTransformer`).
        prompt_ids: the prompt's ids, ``(T,)`` or ``(B, T)`` for ``B`` prompts of equal length, ``T >= 1``,
            each in ``[0, V - 1]`` when the model has a ``vocab_size``.
        length: how many characters to append, >= 1.
        temperature: a finite number > 0 (1 samples the model's own distribution).
        generator: the random number generator to draw with (``None``: PyTorch's global one).

    Shape:
        ``prompt_ids (T,) -> (length,)``; ``(B, T) -> (B, length)``.

    Returns:
        The ``length`` new ids (int64) after each prompt, without the prompt.

    Raises:
        TypeError: ``model`` not a module, ``prompt_ids`` not an integer tensor, ``length`` not an
            integer, ``temperature`` not a real number, ``generator`` not a ``torch.Generator``.
        ValueError: an empty prompt, ``prompt_ids`` not 1-D or 2-D, an id out of range,
            ``length < 1``, ``temperature <= 0`` or not finite.

    Example::

        >>> alphabet = Alphabet()
        >>> ids = generate(model, alphabet.encode("Emma "), 50, temperature=0.8,
        ...                generator=torch.Generator().manual_seed(0))
        >>> alphabet.decode(ids)  # 50 characters in the style of the training text
    """
    idx, length, temperature = _check_sampling(model, prompt_ids, length, temperature, generator)
    context = getattr(model, "context", None)
    window = context if isinstance(context, int) else prompt_ids.shape[-1] + length
    return _sample_in_eval(model, prompt_ids, idx, length,
                           lambda x: _sample(model, x, length, temperature, window, generator))


def _sample_in_eval(model, prompt_ids, idx, length, sample) -> Tensor:
    """Run ``sample(idx) -> (B, T + length)`` with the model in eval mode (restored after); the new ids,
    ``(length,)`` for a 1-D prompt, else ``(B, length)``. The shared tail of every ``generate*`` function."""
    was_training = model.training
    model.eval()
    try:
        out = sample(idx)[:, -length:]  # (B, length)
    finally:
        model.train(was_training)
    return out.reshape(length) if prompt_ids.dim() == 1 else out


def _check_sampling(model, prompt_ids, length, temperature, generator) -> tuple[Tensor, int, float]:
    """Check :func:`generate`'s arguments; return the prompt as ``(B, T)`` int64, the length and the temperature."""
    check_module("model", model)
    if not isinstance(prompt_ids, Tensor) or prompt_ids.dtype.is_floating_point or prompt_ids.dtype.is_complex \
            or prompt_ids.dtype == torch.bool:
        raise TypeError(f"prompt_ids must be an integer tensor of character ids, got {type(prompt_ids).__name__} "
                        f"{getattr(prompt_ids, 'dtype', '')}")
    if prompt_ids.dim() not in (1, 2):
        raise ValueError(f"prompt_ids must be (T,) or (B, T), got shape {tuple(prompt_ids.shape)}")
    if prompt_ids.numel() == 0:
        raise ValueError(f"the prompt is empty (prompt_ids of shape {tuple(prompt_ids.shape)}); "
                         "give at least one character to start from")
    vocab_size = getattr(model, "vocab_size", None)
    if isinstance(vocab_size, int):
        low, high = int(prompt_ids.min()), int(prompt_ids.max())
        if low < 0 or high >= vocab_size:
            bad = low if low < 0 else high
            raise ValueError(f"prompt_ids holds the id {bad}, out of range; allowed: [0, {vocab_size - 1}]")
    length = check_int("length", length, low=1)
    temperature = check_temperature(temperature)
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")
    return prompt_ids.long().reshape(-1, prompt_ids.shape[-1]), length, temperature  # (B, T)


@torch.no_grad()
def _forward_cached(model, idx, cache):
    """Logits (B, t, V) of new ids (B, t) after the positions whose keys and values each block keeps in cache."""
    B, t = idx.shape
    past = 0 if cache[0] is None else cache[0][0].shape[2]  # positions already read (then t == 1)
    x = model.token_embedding(idx) + model.position_embedding(torch.arange(past, past + t, device=idx.device))  # (B, t, C)
    C = x.shape[2]
    for i, block in enumerate(model.blocks):
        attn = block.attn
        q, k, v = (z.view(B, t, attn.heads, C // attn.heads).transpose(1, 2)
                   for z in attn.qkv(block.ln1(x)).split(C, dim=2))  # (B, H, t, C/H)
        if cache[i] is not None:  # the earlier positions' keys and values first
            k, v = torch.cat([cache[i][0], k], dim=2), torch.cat([cache[i][1], v], dim=2)  # (B, H, past + t, C/H)
        cache[i] = (k, v)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=past == 0)  # (B, H, t, C/H)
        x = x + attn.proj(y.transpose(1, 2).reshape(B, t, C))  # (B, t, C)
        x = x + block.mlp(block.ln2(x))  # (B, t, C)
    return model.head(model.ln_f(x))  # (B, t, V)


@torch.no_grad()
def _sample_cached(model, idx, length, temperature, generator):
    """As _sample, but each block keeps its keys and values; a full context restarts from its second half."""
    keep = max(1, model.context // 2)
    cache = [None] * len(model.blocks)
    logits = _forward_cached(model, idx[:, -model.context:], cache)[:, -1]  # (B, V)
    for _ in range(length):
        next_id = torch.multinomial(F.softmax(logits / temperature, dim=-1), 1, generator=generator)  # (B, 1)
        idx = torch.cat([idx, next_id], dim=1)  # (B, T + 1)
        if cache[0][0].shape[2] == model.context:  # no position left: read the last `keep` characters afresh
            cache = [None] * len(model.blocks)
            logits = _forward_cached(model, idx[:, -keep:], cache)[:, -1]  # (B, V)
        else:
            logits = _forward_cached(model, next_id, cache)[:, -1]  # (B, V): one new position
    return idx


def generate_cached(
    model: CharTransformer,
    prompt_ids: Tensor,
    length: int,
    temperature: float = 1.0,
    generator: torch.Generator | None = None,
) -> Tensor:
    """:func:`generate` for a :class:`CharTransformer`, keeping each block's keys and values (a KV cache).

    :func:`generate` runs the model over the whole window (up to ``context`` characters) for every
    new character; here each new character costs one position, and the attention reads the cached
    keys and values of the others. While the prompt and the text drawn so far fit in the context,
    the draws are those of :func:`generate` (the same logits, up to rounding, so the same ids for the
    same ``generator``). The learned position embeddings end at ``context``: when the cache is full,
    it restarts from the last ``context // 2`` characters, so that past the context the model reads
    between ``context // 2`` and ``context`` characters instead of exactly ``context`` (a slightly
    weaker model, for many times the speed; measure both before comparing generation speeds).

    Args, Shape, Returns: as :func:`generate`; ``model`` must be a :class:`CharTransformer`.

    Raises:
        TypeError: ``model`` not a :class:`CharTransformer`; the others as :func:`generate`.
        ValueError: as :func:`generate`.

    Example::

        >>> ids = generate_cached(teacher, Alphabet().encode("Emma "), 500, temperature=0.8)
    """
    if not isinstance(model, CharTransformer):
        raise TypeError(f"model must be a CharTransformer (generate() takes any model), got {type(model).__name__}")
    idx, length, temperature = _check_sampling(model, prompt_ids, length, temperature, generator)
    return _sample_in_eval(model, prompt_ids, idx, length,
                           lambda x: _sample_cached(model, x, length, temperature, generator))
