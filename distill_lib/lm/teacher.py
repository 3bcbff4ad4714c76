"""Notebook 10's teacher: a character-level transformer trained once on Austen and cached in ``data/``.

The teacher is a :class:`~distill_lib.lm.model.CharTransformer` (a small GPT, Radford et al. 2019;
the training set-up follows Karpathy's nanoGPT) trained on the training chapters of
:func:`~distill_lib.lm.data.load_austen_split` to predict each next character: AdamW (Loshchilov &
Hutter 2019) with weight decay on the weight matrices only, a linear warm-up then a cosine decay
of the learning rate, gradient clipping, random windows of ``context`` characters as examples. Every
``eval_every`` steps it is scored on a fixed stretch of validation text and the best weights are kept.
Training to a useful level takes about an hour on two CPU cores, so the notebook never does it:
``python -m distill_lib.lm.teacher`` (``--threads 2``) trains it once and writes
``data/lm_teacher.pt``.

The score is **bits per character** (:func:`bits_per_char`): the mean cross-entropy, in bits, of
every character of a text given the characters before it in its window (a uniform guess over the
79 characters scores ``log2 79 = 6.30``; the entropy of English is estimated at about 1 bit per
character, Shannon 1951).

- :data:`LM_TEACHER_RECIPE`: everything that determines the teacher; a checkpoint made with another
  recipe is retrained.
- :func:`_random_windows`, :func:`_train_step`, :func:`_bits_per_char`: the training example, one
  training step and the score (shown in notebook 10).
- :func:`train_lm_teacher`: trains one from a recipe; :func:`save_lm_teacher`, :func:`load_lm_teacher`.

The checkpoint is a plain dictionary of tensors and metadata read with
``torch.load(weights_only=True)``, which refuses to unpickle arbitrary objects. :func:`load_lm_teacher`
checks all of it (recipe, data checksum, alphabet, weights' names, shapes and values, and that the
weights reproduce the recorded bits per character on a stretch of validation text); an unusable file
is a *warning* and a retrain, never a crash.
"""

from __future__ import annotations

import argparse
import copy
import functools
import math
import os
import time
import warnings
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .. import __version__
from .._validation import check_int, check_module, check_real
from ..training import progress_enabled
from .data import ALPHABET, AUSTEN_SHA256, Alphabet, load_austen_split
from .model import CharTransformer

__all__ = ["LM_TEACHER_PATH", "LM_TEACHER_RECIPE", "bits_per_char", "load_lm_teacher", "save_lm_teacher",
           "train_lm_teacher"]

#: Where the teacher's checkpoint lives.
LM_TEACHER_PATH = Path(__file__).resolve().parents[2] / "data" / "lm_teacher.pt"

#: Everything that determines the teacher: the architecture (``context`` ... ``dropout``), the
#: optimisation (``batch_size`` ... ``grad_clip``: ``steps`` steps or ``minutes`` of training,
#: whichever ends first, ``lr`` warmed up over ``warmup`` steps and decayed to ``min_lr`` by the end),
#: the validation during training (every ``eval_every`` steps on the first ``eval_chars``
#: characters of the validation text) and the seeds. 2.72 M parameters, 4,096 characters a step:
#: 0.76 steps per second measured on one thread while other work shared the two cores; two idle
#: cores should give roughly twice that (an estimate), so the hour, not the steps, usually ends
#: training. On a busy machine use one thread: two threads that wait for each other were slower.
LM_TEACHER_RECIPE: dict[str, Any] = {
    "context": 128,
    "width": 192,
    "heads": 6,
    "layers": 6,
    "dropout": 0.1,
    "batch_size": 32,
    "steps": 6000,
    "minutes": 60.0,
    "lr": 1.5e-3,
    "min_lr": 1.5e-4,
    "warmup": 200,
    "weight_decay": 0.1,
    "grad_clip": 1.0,
    "eval_every": 250,
    "eval_chars": 32768,
    "seed": 0,
    "split_seed": 0,
}
_FORMAT = 1
#: Characters of validation text whose bits per character the checkpoint records and the loader recomputes.
_CHECK_CHARS = 4096
#: Keys of ``LM_TEACHER_RECIPE`` that are integers, with their smallest allowed value; the others are reals.
_RECIPE_INTS = {"context": 1, "width": 1, "heads": 1, "layers": 1, "batch_size": 1, "steps": 1, "warmup": 0,
                "eval_every": 1, "eval_chars": 2, "seed": 0, "split_seed": 0}
#: The metadata a checkpoint must hold, and the type of each value.
_META_TYPES: dict[str, type] = {
    "format": int, "recipe": dict, "data_sha256": str, "alphabet": str, "library_version": str,
    "torch_version": str, "num_parameters": int, "threads": int, "steps_done": int, "best_step": int,
    "train_seconds": float, "stopped_by": str, "val_bits_per_char": float, "test_bits_per_char": float,
    "check_bits_per_char": float, "history": Tensor,
}


def _random_windows(ids, context, batch_size, generator):
    """Random windows of the text: inputs (B, T) and, for each position, the character after it (B, T)."""
    starts = torch.randint(len(ids) - context, (batch_size,), generator=generator)  # (B,)
    rows = starts[:, None] + torch.arange(context + 1)  # (B, T + 1)
    windows = ids[rows]  # (B, T + 1)
    return windows[:, :-1], windows[:, 1:]  # (B, T) inputs, (B, T) targets


def _train_step(model, optimizer, x, y, grad_clip):
    """One AdamW step on the mean next-character cross-entropy over all B * T positions."""
    logits = model(x)  # (B, T, V)
    loss = F.cross_entropy(logits.flatten(0, 1), y.flatten())  # mean over B * T positions, in nats
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    optimizer.step()
    return loss.item()


@torch.no_grad()
def _bits_per_char(model, ids, context, batch_size):
    """Mean cross-entropy in bits of each character given the ones before it in its window."""
    n = (len(ids) - 1) // context  # full windows; every character but the first is a target once
    x = ids[: n * context].view(n, context)  # (N, T) inputs
    y = ids[1 : n * context + 1].view(n, context)  # (N, T) targets: the next characters
    batches = list(zip(x.split(batch_size), y.split(batch_size)))
    if n * context + 1 < len(ids):  # the last, shorter window
        batches.append((ids[n * context : -1][None], ids[n * context + 1 :][None]))  # (1, r), (1, r)
    nats = sum(F.cross_entropy(model(xb).flatten(0, 1), yb.flatten(), reduction="sum").item()
               for xb, yb in batches)
    return nats / (len(ids) - 1) / math.log(2)  # nats per character -> bits per character


def bits_per_char(model: nn.Module, text_ids: Tensor, context: int | None = None, batch_size: int = 64) -> float:
    """A language model's cross-entropy on a text, in bits per character.

    The text is cut into consecutive, non-overlapping windows of ``context`` characters (the last
    one shorter); the model reads each window and predicts, at each of its positions, the next
    character. Every character of the text except the first is predicted exactly once, so the score
    is ``-(1 / (N - 1)) * sum_i log2 p(x_i | window's characters before x_i)``. The first characters
    of a window see little context, which makes this a slightly pessimistic (and cheap) estimate: a
    window sliding by one character would give each character the full context at ``context`` times
    the cost. The model runs in eval mode without gradients; its mode is restored.

    Args:
        model: maps ``(B, T)`` int64 ids to ``(B, T, V)`` logits (e.g. a
            :class:`~distill_lib.lm.model.CharTransformer`).
        text_ids: the text's character ids (``Alphabet().encode(text)``), at least 2.
        context: characters per window, >= 1 (default: ``model.context``; required if the model has none).
        batch_size: windows per forward pass, >= 1 (memory only; the score does not depend on it).

    Shape:
        ``text_ids``: ``(N,)`` with ``N >= 2``.

    Returns:
        float: bits per character (``log2 V`` for a model that always predicts the uniform distribution).

    Raises:
        TypeError: ``model`` not a module, ``text_ids`` not an integer tensor, ``context`` or
            ``batch_size`` not an integer.
        ValueError: ``text_ids`` not 1-D or shorter than 2, ``context < 1`` (or missing),
            ``batch_size < 1``.

    Example::

        >>> teacher, meta = load_lm_teacher()
        >>> bits_per_char(teacher, Alphabet().encode(load_austen_split().test))  # meta["test_bits_per_char"]
    """
    check_module("model", model)
    if not isinstance(text_ids, Tensor) or text_ids.dtype not in (torch.int64, torch.int32, torch.int16, torch.uint8):
        raise TypeError(f"text_ids must be an integer tensor of character ids, got {type(text_ids).__name__} "
                        f"{getattr(text_ids, 'dtype', '')}")
    if text_ids.dim() != 1 or len(text_ids) < 2:
        raise ValueError(f"text_ids must be 1-D with at least 2 characters, got shape {tuple(text_ids.shape)}")
    if context is None:
        context = getattr(model, "context", None)
        if context is None:
            raise ValueError("context=None but the model has no 'context' attribute; pass the window length")
    context = check_int("context", context, low=1)
    batch_size = check_int("batch_size", batch_size, low=1)
    was_training = model.training
    model.eval()
    try:
        return _bits_per_char(model, text_ids.long(), context, batch_size)
    finally:
        model.train(was_training)


def _check_recipe(recipe: object) -> dict[str, Any]:
    """A copy of ``recipe`` after checking it has the keys of :data:`LM_TEACHER_RECIPE`, each in range."""
    if not isinstance(recipe, dict):
        raise TypeError(f"recipe must be a dict like LM_TEACHER_RECIPE, got {type(recipe).__name__}")
    if set(recipe) != set(LM_TEACHER_RECIPE):
        missing, extra = sorted(set(LM_TEACHER_RECIPE) - set(recipe)), sorted(map(str, set(recipe) - set(LM_TEACHER_RECIPE)))
        raise ValueError(f"recipe must have the keys of LM_TEACHER_RECIPE; missing {missing}, unexpected {extra}")
    out = dict(recipe)
    for key, low in _RECIPE_INTS.items():
        out[key] = check_int(f"recipe[{key!r}]", recipe[key], low=low)
    for key in ("dropout", "lr", "min_lr", "weight_decay", "grad_clip", "minutes"):
        out[key] = check_real(f"recipe[{key!r}]", recipe[key])
        positive = key in ("lr", "grad_clip", "minutes")
        if not math.isfinite(out[key]) or out[key] < 0 or (positive and out[key] == 0):
            raise ValueError(f"recipe[{key!r}]={out[key]!r} is out of range; allowed: "
                             f"{'(0, inf)' if positive else '[0, inf)'}")
    if out["dropout"] >= 1:
        raise ValueError(f"recipe['dropout']={out['dropout']!r} is out of range; allowed: [0, 1)")
    if out["min_lr"] > out["lr"]:
        raise ValueError(f"recipe['min_lr']={out['min_lr']!r} exceeds recipe['lr']={out['lr']!r}")
    if out["width"] % out["heads"]:
        raise ValueError(f"recipe['width']={out['width']} is not a multiple of recipe['heads']={out['heads']}")
    return out


def _model_of(recipe: dict[str, Any]) -> CharTransformer:
    return CharTransformer(len(ALPHABET), recipe["context"], recipe["width"], recipe["heads"], recipe["layers"],
                           recipe["dropout"])


@functools.lru_cache(maxsize=2)
def _encoded_split(split_seed: int) -> tuple[Tensor, Tensor, Tensor]:
    """The train, validation and test text as character ids (cached: loading takes a few seconds)."""
    split, alphabet = load_austen_split(split_seed), Alphabet()
    return alphabet.encode(split.train), alphabet.encode(split.val), alphabet.encode(split.test)


def _learning_rate(recipe: dict[str, Any], step: int, fraction: float) -> float:
    """Linear warm-up over ``warmup`` steps, then cosine decay from ``lr`` to ``min_lr`` as ``fraction`` -> 1."""
    if step < recipe["warmup"]:
        return recipe["lr"] * (step + 1) / recipe["warmup"]
    start = recipe["warmup"] / recipe["steps"]
    decay = min(1.0, max(0.0, (fraction - start) / (1.0 - start))) if start < 1 else 1.0
    return recipe["min_lr"] + 0.5 * (recipe["lr"] - recipe["min_lr"]) * (1.0 + math.cos(math.pi * decay))


def train_lm_teacher(
    recipe: dict[str, Any] | None = None,
    *,
    minutes: float | None = None,
    progress: bool | None = None,
) -> tuple[CharTransformer, dict[str, Any]]:
    """Train a character-level transformer on the Austen training text, keeping the best weights on validation.

    Each step draws ``batch_size`` random windows of ``context`` characters from the training text
    (:func:`_random_windows`) and takes one AdamW step on the mean next-character cross-entropy
    (:func:`_train_step`), with the learning rate warmed up linearly and then decayed along a cosine
    to ``min_lr``; weight decay applies to weight matrices and embeddings, not to biases and
    LayerNorms. Every ``eval_every`` steps (and after the last) the model is scored with
    :func:`bits_per_char` on the first ``eval_chars`` characters of the validation text; the best
    weights are kept. Finally the whole validation and test text are scored once.

    Training stops after ``recipe["steps"]`` steps or ``recipe["minutes"]`` minutes, whichever comes
    first, and the learning rate follows the larger of the fractions of steps and of time used, so
    that it has decayed by the end either way. A run that ends by its steps is deterministic on a
    given machine and number of threads; one that ends by time depends on the machine's speed.

    Args:
        recipe: a dict with the keys of :data:`LM_TEACHER_RECIPE` (default: that recipe).
        minutes: the time limit (> 0), instead of ``recipe["minutes"]`` (the metadata's recipe records
            the one used, so a teacher trained for another time is not :data:`LM_TEACHER_RECIPE`'s).
        progress: show a progress bar (default: unless ``DISTILL_LIB_QUIET``/``CI`` is set).

    Returns:
        ``(model, meta)``: the best :class:`~distill_lib.lm.model.CharTransformer`, in eval mode, and
        its metadata: the recipe, data checksum and alphabet, library and torch versions, parameters,
        threads, ``steps_done``, ``best_step``, ``train_seconds`` (the training loop with its
        validation), ``stopped_by`` (``"steps"`` or ``"time"``), ``val_bits_per_char`` and
        ``test_bits_per_char`` (the whole validation / test text), ``check_bits_per_char`` (the first
        4,096 validation characters, which :func:`load_lm_teacher` recomputes) and ``history``, a
        ``(K, 4)`` float64 tensor of ``(step, seconds, training bits/char since the last evaluation,
        validation bits/char)`` per evaluation.

    Raises:
        TypeError, ValueError: a recipe without the keys of :data:`LM_TEACHER_RECIPE` or with a value
            out of range (named), a bad ``minutes`` or ``progress``.

    Example::

        >>> model, meta = train_lm_teacher(minutes=2)  # a quick, weak teacher, never loaded as the real one
        >>> meta["stopped_by"], round(meta["val_bits_per_char"], 1)
    """
    recipe = _check_recipe(LM_TEACHER_RECIPE if recipe is None else recipe)
    if minutes is not None:
        minutes = check_real("minutes", minutes)
        if not (math.isfinite(minutes) and minutes > 0):
            raise ValueError(f"minutes={minutes!r} is out of range; allowed: (0, inf) or None")
        recipe["minutes"] = minutes
    if progress is not None and not isinstance(progress, bool):
        raise TypeError(f"progress must be True, False or None, got {progress!r}")
    progress = progress_enabled() if progress is None else progress
    train_ids, val_ids, test_ids = _encoded_split(recipe["split_seed"])
    if len(train_ids) <= recipe["context"]:
        raise ValueError(f"recipe['context']={recipe['context']} is out of range; allowed: [1, {len(train_ids) - 1}]")
    eval_ids = val_ids[: recipe["eval_chars"]]

    torch.manual_seed(recipe["seed"])  # the same initial weights on every run
    model = _model_of(recipe)
    matrices = [p for p in model.parameters() if p.dim() >= 2]
    others = [p for p in model.parameters() if p.dim() < 2]
    optimizer = torch.optim.AdamW([{"params": matrices, "weight_decay": recipe["weight_decay"]},
                                   {"params": others, "weight_decay": 0.0}], lr=recipe["lr"], betas=(0.9, 0.99))
    generator = torch.Generator().manual_seed(recipe["seed"])
    limit = 60.0 * recipe["minutes"]
    bar = _progress_bar(recipe["steps"]) if progress else None
    history: list[tuple[float, float, float, float]] = []
    best = (math.inf, 0, copy.deepcopy(model.state_dict()))
    losses: list[float] = []
    start, step, stopped_by = time.perf_counter(), 0, "steps"
    while step < recipe["steps"]:
        elapsed = time.perf_counter() - start
        if elapsed >= limit:
            stopped_by = "time"
            break
        lr = _learning_rate(recipe, step, max(step / recipe["steps"], elapsed / limit))
        for group in optimizer.param_groups:
            group["lr"] = lr
        model.train()
        x, y = _random_windows(train_ids, recipe["context"], recipe["batch_size"], generator)  # (B, T), (B, T)
        losses.append(_train_step(model, optimizer, x, y, recipe["grad_clip"]))
        step += 1
        if step % recipe["eval_every"] == 0 or step == recipe["steps"]:
            best = _evaluate(model, eval_ids, recipe, step, start, losses, history, best, bar)
        if bar is not None:
            bar.update(1)
    if losses:  # stopped by time between two evaluations
        best = _evaluate(model, eval_ids, recipe, step, start, losses, history, best, bar)
    train_seconds = time.perf_counter() - start
    if bar is not None:
        bar.close()
    model.load_state_dict(best[2])
    model.eval()
    meta = {
        "format": _FORMAT,
        "recipe": recipe,
        "data_sha256": AUSTEN_SHA256,
        "alphabet": ALPHABET,
        "library_version": __version__,
        "torch_version": str(torch.__version__),
        "num_parameters": sum(p.numel() for p in model.parameters()),
        "threads": torch.get_num_threads(),
        "steps_done": step,
        "best_step": best[1],
        "train_seconds": train_seconds,
        "stopped_by": stopped_by,
        "val_bits_per_char": bits_per_char(model, val_ids),
        "test_bits_per_char": bits_per_char(model, test_ids),
        "check_bits_per_char": bits_per_char(model, val_ids[:_CHECK_CHARS]),
        "history": torch.tensor(history, dtype=torch.float64).reshape(-1, 4),
    }
    return model, meta


def _evaluate(model, eval_ids, recipe, step, start, losses, history, best, bar):
    """Score on the validation stretch, log a row of history, and return the best (bits, step, weights)."""
    val_bits = bits_per_char(model, eval_ids)
    train_bits = sum(losses) / len(losses) / math.log(2)
    history.append((float(step), time.perf_counter() - start, train_bits, val_bits))
    losses.clear()
    if bar is not None:
        bar.set_postfix(train_bits=f"{train_bits:.3f}", val_bits=f"{val_bits:.3f}")
    if val_bits < best[0]:
        return val_bits, step, copy.deepcopy(model.state_dict())
    return best


def _progress_bar(total: int):
    from tqdm.auto import tqdm  # a widget in JupyterLab, text in a terminal

    return tqdm(total=total, desc="lm teacher", unit="step", leave=True)


def save_lm_teacher(model: nn.Module, meta: dict[str, Any], path: str | os.PathLike = LM_TEACHER_PATH) -> Path:
    """Write ``{"state_dict", "meta"}`` atomically (a temporary file, then a rename).

    Args:
        model: the trained teacher.
        meta: its metadata, as :func:`train_lm_teacher` returns it.
        path: the file to write (default :data:`LM_TEACHER_PATH`).

    Returns:
        Path: the file written.

    Raises:
        TypeError: ``model`` not a module, ``meta`` not a dict, ``path`` not a path.

    Example::

        >>> save_lm_teacher(*train_lm_teacher())
    """
    check_module("model", model)
    if not isinstance(meta, dict):
        raise TypeError(f"meta must be a dict, got {type(meta).__name__}")
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or a path, got {type(path).__name__}")
    from ..text.teacher import _save_atomically

    return _save_atomically({"state_dict": model.state_dict(), "meta": meta}, path)


def _problem_with_meta(meta: object) -> str | None:
    """Why the metadata is unusable (a sentence), or ``None``."""
    if not isinstance(meta, dict):
        return f"its metadata is a {type(meta).__name__}, not a dict"
    for key, kind in _META_TYPES.items():
        if key not in meta:
            return f"its metadata has no {key!r}"
        if isinstance(meta[key], bool) or not isinstance(meta[key], kind):
            return f"its metadata {key!r} is a {type(meta[key]).__name__}, expected {kind.__name__}"
    if meta["format"] != _FORMAT:
        return f"its format is {meta['format']!r}, expected {_FORMAT}"
    recipe = meta["recipe"]
    if set(recipe) != set(LM_TEACHER_RECIPE):
        return f"its recipe has the keys {sorted(map(str, recipe))}, expected {sorted(LM_TEACHER_RECIPE)}"
    for key, expected in LM_TEACHER_RECIPE.items():
        # Compare types too: True == 1 and 1.0 == 1, but a recipe that says so was not ours.
        if type(recipe[key]) is not type(expected) or recipe[key] != expected:
            return f"it was trained with another recipe ({key}={recipe[key]!r}, expected {expected!r})"
    if meta["data_sha256"] != AUSTEN_SHA256 or meta["alphabet"] != ALPHABET:
        return "it was trained on other data (checksum or alphabet mismatch)"
    for key in ("val_bits_per_char", "test_bits_per_char", "check_bits_per_char"):
        if not 0.0 <= meta[key] <= 64.0:
            return f"its recorded {key} {meta[key]!r} is not a number of bits per character"
    history = meta["history"]
    if history.dim() != 2 or history.shape[1] != 4 or history.dtype != torch.float64:
        return f"its history has shape {tuple(history.shape)} {history.dtype}, expected (K, 4) float64"
    return None


def _problem_with_weights(state_dict: object, model: nn.Module) -> str | None:
    """Why the weights do not fit ``model`` (a sentence), or ``None``."""
    if not isinstance(state_dict, dict):
        return f"its state_dict is a {type(state_dict).__name__}, not a dict"
    expected = model.state_dict()
    if set(state_dict) != set(expected):
        missing = sorted(set(expected) - set(map(str, state_dict)))
        extra = sorted(map(str, set(state_dict) - set(expected)))
        return f"its weights do not fit the architecture (missing {missing}, unexpected {extra})"
    for name, reference in expected.items():
        value = state_dict[name]
        if not isinstance(value, Tensor):
            return f"its weight {name!r} is a {type(value).__name__}, not a tensor"
        if value.shape != reference.shape or value.dtype != reference.dtype:
            return (f"its weights do not fit the architecture ({name!r} is {value.dtype} {tuple(value.shape)}, "
                    f"expected {reference.dtype} {tuple(reference.shape)})")
        if not bool(torch.isfinite(value).all()):
            return f"its weight {name!r} holds NaN or infinite values"
    return None


def _problem_with(checkpoint: object) -> tuple[str | None, CharTransformer | None]:
    """Return ``(reason, None)`` if the checkpoint is unusable, else ``(None, model)``."""
    if not isinstance(checkpoint, dict) or not {"state_dict", "meta"} <= set(checkpoint):
        return "it is not a teacher checkpoint (expected a dict with keys 'state_dict' and 'meta')", None
    reason = _problem_with_meta(checkpoint["meta"])
    if reason is not None:
        return reason, None
    model = _model_of(LM_TEACHER_RECIPE)
    reason = _problem_with_weights(checkpoint["state_dict"], model)
    if reason is not None:
        return reason, None
    model.load_state_dict(checkpoint["state_dict"])
    model.eval()
    _, val_ids, _ = _encoded_split(LM_TEACHER_RECIPE["split_seed"])
    bits = bits_per_char(model, val_ids[:_CHECK_CHARS])
    recorded = checkpoint["meta"]["check_bits_per_char"]
    # Another CPU or thread count sums in another order; 1e-3 bits is far below any real difference.
    if not math.isclose(bits, recorded, abs_tol=1e-3):
        return f"its weights score {bits:.4f} bits per character on validation text but recorded {recorded:.4f}", None
    return None, model


def load_lm_teacher(
    path: str | os.PathLike = LM_TEACHER_PATH,
    *,
    retrain: bool = True,
    save: bool = True,
    progress: bool | None = None,
) -> tuple[CharTransformer, dict[str, Any]]:
    """Load the cached teacher, or warn and retrain it (about an hour on two cores) if the file is unusable.

    Args:
        path: the checkpoint file (default :data:`LM_TEACHER_PATH`).
        retrain: retrain when the file is unusable; ``False`` raises ``ValueError`` instead (for tools
            and notebooks that must not wait an hour).
        save: write a retrained teacher back to ``path``.
        progress: show the retraining progress bar (default: unless quiet).

    Returns:
        ``(model, meta)``: the :class:`~distill_lib.lm.model.CharTransformer` in eval mode and its
        metadata (see :func:`train_lm_teacher`).

    Raises:
        TypeError: ``path`` not a path, ``retrain``/``save`` not a bool, ``progress`` not a bool or None.
        ValueError: the file is unusable and ``retrain=False`` (the message says why).
        (A bad *file* is otherwise never an error: it is a ``UserWarning`` and a retrain.)

    Example::

        >>> teacher, meta = load_lm_teacher()
        >>> meta["test_bits_per_char"]  # the data card quotes it
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or a path, got {type(path).__name__}")
    for name, value in (("retrain", retrain), ("save", save)):
        if not isinstance(value, bool):
            raise TypeError(f"{name} must be True or False, got {value!r}")
    if progress is not None and not isinstance(progress, bool):
        raise TypeError(f"progress must be True, False or None, got {progress!r}")
    path = Path(path)
    if not path.is_file():
        reason = "there is no file there"
    elif path.stat().st_size == 0:
        reason = "the file is empty"
    else:
        try:
            checkpoint = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:  # corrupt, truncated or not a safe checkpoint
            reason = f"it could not be read ({type(err).__name__}: {(str(err).splitlines() or [''])[0][:120]})"
        else:
            try:
                reason, model = _problem_with(checkpoint)
            except Exception as err:  # a last guard: whatever else is wrong, retrain rather than crash
                reason = f"it could not be checked ({type(err).__name__}: {(str(err).splitlines() or [''])[0][:120]})"
            else:
                if reason is None:
                    return model, checkpoint["meta"]
    if not retrain:
        raise ValueError(f"the language-model teacher at {path} is unusable: {reason}")
    warnings.warn(f"Not using the cached language-model teacher at {path}: {reason}. "
                  "Retraining it (about an hour on two cores; python -m distill_lib.lm.teacher).", stacklevel=2)
    model, meta = train_lm_teacher(LM_TEACHER_RECIPE, progress=progress)
    if save:
        try:
            save_lm_teacher(model, meta, path)
        except OSError as err:
            warnings.warn(f"Could not write the retrained teacher to {path}: {err}", stacklevel=2)
    return model, meta


def main(argv: list[str] | None = None) -> None:
    """Train the teacher from :data:`LM_TEACHER_RECIPE` and overwrite the cache (``python -m distill_lib.lm.teacher``)."""
    parser = argparse.ArgumentParser(description="Train notebook 10's character-level transformer teacher.")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--minutes", type=float, default=None,
                        help="a time limit instead of the recipe's (the checkpoint is then not the recipe's teacher)")
    parser.add_argument("--out", default=str(LM_TEACHER_PATH), help="where to write the checkpoint")
    args = parser.parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(check_int("--threads", args.threads, low=1))  # a command, not library code
    model, meta = train_lm_teacher(LM_TEACHER_RECIPE, minutes=args.minutes, progress=True)
    path = save_lm_teacher(model, meta, args.out)
    print(f"saved {path} ({path.stat().st_size} bytes)")
    for key in ("num_parameters", "threads", "steps_done", "best_step", "train_seconds", "stopped_by",
                "val_bits_per_char", "test_bits_per_char", "torch_version"):
        print(f"  {key}: {meta[key]}")


if __name__ == "__main__":
    main()
