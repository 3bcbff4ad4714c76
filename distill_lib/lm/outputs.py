"""The teacher's outputs that notebook 10 trains students on, computed once and cached compactly.

Two kinds of teacher output, on the same windows of Austen's training text:

- **Top-k next-character probabilities** at every position of ``windows`` windows of real text
  (word-level KD's targets; :func:`~distill_lib.lm.distill.topk_targets`): ``k`` character ids
  (uint8) and their probabilities (float16) per position. With ``k = 8`` of 79 characters this is
  24 bytes a position instead of 316 for the full distribution; what the cache drops is the shape
  of the teacher's distribution outside its top ``k`` (the loss keeps its total mass as one bucket).
- **Teacher-written text** (sequence-level KD's data, Kim & Rush 2016): each window's first
  ``prompt`` characters, continued by the teacher for ``length`` characters at temperature 1.

:func:`build_teacher_outputs` computes both (the sweep builds a large set, ``data/lm_teacher_outputs.pt``
holds a small one for the notebook); :func:`load_teacher_outputs` checks the file (format, shapes,
dtypes, ranges, the recipe and the SHA-256 of the teacher's weights) and rebuilds it, with a
warning, when anything is wrong. ``tests/test_lm_outputs.py`` recomputes the cache from the teacher.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from pathlib import Path
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from .._validation import check_int
from .data import ALPHABET, Alphabet, load_austen_split
from .distill import _topk_targets
from .model import CharTransformer, _sample_cached

__all__ = ["LM_OUTPUTS_PATH", "LM_OUTPUTS_RECIPE", "TeacherOutputs", "build_teacher_outputs",
           "load_teacher_outputs", "teacher_weights_sha256"]

#: Where the notebook's small cache lives.
LM_OUTPUTS_PATH = Path(__file__).resolve().parents[2] / "data" / "lm_teacher_outputs.pt"

#: What the notebook's cache holds: ``windows`` windows of ``context + 1`` training characters drawn
#: with ``seed``, the teacher's top ``k`` at each of their first ``context`` positions, and each
#: window's first ``prompt`` characters continued by the teacher for ``length`` characters.
LM_OUTPUTS_RECIPE: dict[str, int] = {"windows": 256, "context": 128, "k": 8, "prompt": 32, "length": 96,
                                     "seed": 0, "split_seed": 0}
_FORMAT = 1


class TeacherOutputs(NamedTuple):
    """The cached teacher outputs (all on the CPU).

    Shapes: ``windows (N, context + 1)`` int64 real text; ``top_ids (N, context, k)`` int64 and
    ``top_p (N, context, k)`` float32 (the teacher's top-k at each of the first ``context`` positions);
    ``samples (N, prompt + length)`` int64: each window's first ``prompt`` characters and the teacher's
    continuation. ``meta``: the recipe, the teacher's weights' SHA-256, the alphabet.
    """

    windows: Tensor
    top_ids: Tensor
    top_p: Tensor
    samples: Tensor
    meta: dict[str, Any]


def teacher_weights_sha256(teacher: nn.Module) -> str:
    """SHA-256 of a model's weights (names, then float32 bytes, in ``state_dict`` order)."""
    h = hashlib.sha256()
    for name, tensor in teacher.state_dict().items():
        h.update(name.encode("utf-8"))
        h.update(tensor.detach().float().contiguous().numpy().tobytes())
    return h.hexdigest()


def _check_recipe(recipe: object) -> dict[str, int]:
    if not isinstance(recipe, dict) or set(recipe) != set(LM_OUTPUTS_RECIPE):
        keys = sorted(recipe) if isinstance(recipe, dict) else type(recipe).__name__
        raise ValueError(f"recipe must be a dict with the keys {sorted(LM_OUTPUTS_RECIPE)}, got {keys}")
    out = {key: check_int(f"recipe[{key!r}]", value, low=0 if key in ("seed", "split_seed") else 1)
           for key, value in recipe.items()}
    if out["k"] > len(ALPHABET):
        raise ValueError(f"recipe['k']={out['k']} is out of range; allowed: [1, {len(ALPHABET)}]")
    if out["prompt"] + out["length"] > out["context"] + 1:
        raise ValueError(f"recipe['prompt'] + recipe['length'] = {out['prompt'] + out['length']} exceeds "
                         f"recipe['context'] + 1 = {out['context'] + 1}: a sample must fit in one window")
    return out


def build_teacher_outputs(teacher: CharTransformer, recipe: dict[str, int] | None = None,
                          batch_size: int = 128) -> TeacherOutputs:
    """Compute the teacher's top-k probabilities and continuations on windows of the training text.

    Args:
        teacher: the trained teacher (a :class:`~distill_lib.lm.model.CharTransformer` whose context
            is at least ``recipe["context"]``).
        recipe: sizes and seeds (default :data:`LM_OUTPUTS_RECIPE`; the sweep passes a larger one).
        batch_size: windows per teacher call (memory only).

    Returns:
        TeacherOutputs: see its docstring for the shapes.

    Raises:
        TypeError: ``teacher`` not a ``CharTransformer``. ValueError: a recipe with other keys or
        values out of range, a teacher with a shorter context or another alphabet's size.

    Example::

        >>> outputs = build_teacher_outputs(load_lm_teacher()[0])
    """
    if not isinstance(teacher, CharTransformer):
        raise TypeError(f"teacher must be a CharTransformer, got {type(teacher).__name__}")
    recipe = _check_recipe(dict(LM_OUTPUTS_RECIPE) if recipe is None else recipe)
    batch_size = check_int("batch_size", batch_size, low=1)
    if teacher.context < recipe["context"] or teacher.vocab_size != len(ALPHABET):
        raise ValueError(f"the teacher reads {teacher.context} characters of a {teacher.vocab_size}-character "
                         f"alphabet; the recipe needs >= {recipe['context']} of {len(ALPHABET)}")
    train = Alphabet().encode(load_austen_split(recipe["split_seed"]).train)  # (N,)
    generator = torch.Generator().manual_seed(recipe["seed"])
    width = recipe["context"] + 1
    starts = torch.randint(len(train) - width, (recipe["windows"],), generator=generator)  # (W,)
    windows = train[starts[:, None] + torch.arange(width)]  # (W, context + 1)
    was_training = teacher.training
    teacher.eval()
    tops, samples = [], []
    try:
        for x in windows.split(batch_size):
            tops.append(_topk_targets(teacher, x[:, :-1], recipe["k"]))  # 2 x (b, context, k)
            samples.append(_sample_cached(teacher, x[:, : recipe["prompt"]], recipe["length"], 1.0, generator))
    finally:
        teacher.train(was_training)
    meta = {"format": _FORMAT, "recipe": recipe, "teacher_sha256": teacher_weights_sha256(teacher),
            "alphabet": ALPHABET}
    return TeacherOutputs(windows, torch.cat([t[0] for t in tops]), torch.cat([t[1] for t in tops]).float(),
                          torch.cat(samples), meta)


def _to_file(outputs: TeacherOutputs) -> dict[str, Any]:
    """The compact form: uint8 ids, float16 probabilities."""
    return {"windows": outputs.windows.to(torch.uint8), "top_ids": outputs.top_ids.to(torch.uint8),
            "top_p": outputs.top_p.half(), "samples": outputs.samples.to(torch.uint8), "meta": outputs.meta}


def _problem_with(saved: object, teacher_sha: str, recipe: dict[str, int]) -> str | None:
    """Why a loaded file is unusable (a sentence), or ``None``."""
    if not isinstance(saved, dict) or set(saved) != {"windows", "top_ids", "top_p", "samples", "meta"}:
        return "it is not a dictionary with the keys windows, top_ids, top_p, samples and meta"
    meta = saved["meta"]
    if not isinstance(meta, dict) or meta.get("format") != _FORMAT:
        return f"its format is not {_FORMAT}"
    if meta.get("recipe") != recipe:
        return f"it was made with the recipe {meta.get('recipe')}, not {recipe}"
    if meta.get("teacher_sha256") != teacher_sha:
        return "it was made by another teacher (the SHA-256 of the weights differs)"
    if meta.get("alphabet") != ALPHABET:
        return "it was made with another alphabet"
    n, t, k = recipe["windows"], recipe["context"], recipe["k"]
    expected = {"windows": ((n, t + 1), torch.uint8), "top_ids": ((n, t, k), torch.uint8),
                "top_p": ((n, t, k), torch.float16), "samples": ((n, recipe["prompt"] + recipe["length"]), torch.uint8)}
    for key, (shape, dtype) in expected.items():
        value = saved[key]
        if not isinstance(value, Tensor) or tuple(value.shape) != shape or value.dtype != dtype:
            return f"{key} is not a {dtype} tensor of shape {shape}"
    if max(int(saved[key].max()) for key in ("windows", "top_ids", "samples")) >= len(ALPHABET):
        return "it holds a character id outside the alphabet"
    p = saved["top_p"].float()
    if not torch.isfinite(p).all() or p.min() < 0 or p.sum(-1).max() > 1.01:
        return "top_p holds values that are not probabilities"
    if not torch.equal(saved["samples"][:, : recipe["prompt"]], saved["windows"][:, : recipe["prompt"]]):
        return "the samples' prompts are not the windows' first characters"
    return None


def load_teacher_outputs(teacher: CharTransformer, path: str | os.PathLike = LM_OUTPUTS_PATH, *,
                         save: bool = True) -> TeacherOutputs:
    """Load the notebook's cached teacher outputs, or warn and rebuild them (seconds) if unusable.

    Args:
        teacher: the teacher the outputs must come from (its weights' SHA-256 is checked).
        path: the cache file (default :data:`LM_OUTPUTS_PATH`).
        save: write a rebuilt cache back to ``path``.

    Returns:
        TeacherOutputs: built with :data:`LM_OUTPUTS_RECIPE`.

    Raises:
        TypeError: ``teacher`` not a ``CharTransformer``, ``path`` not a path, ``save`` not a bool.
        (A bad *file* is never an error: it is a ``UserWarning`` and a rebuild.)

    Example::

        >>> outputs = load_teacher_outputs(teacher)
        >>> outputs.top_p.shape  # (256, 128, 8)
    """
    if not isinstance(teacher, CharTransformer):
        raise TypeError(f"teacher must be a CharTransformer, got {type(teacher).__name__}")
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or a path, got {type(path).__name__}")
    if not isinstance(save, bool):
        raise TypeError(f"save must be True or False, got {save!r}")
    path = Path(path)
    recipe = dict(LM_OUTPUTS_RECIPE)
    if not path.is_file():
        reason = "there is no file there"
    else:
        try:
            saved = torch.load(path, map_location="cpu", weights_only=True)
            reason = _problem_with(saved, teacher_weights_sha256(teacher), recipe)
        except Exception as err:  # truncated, corrupt, unsafe: rebuild rather than crash
            reason = f"it could not be read ({type(err).__name__}: {(str(err).splitlines() or [''])[0][:120]})"
        if reason is None:
            return TeacherOutputs(saved["windows"].long(), saved["top_ids"].long(), saved["top_p"].float(),
                                  saved["samples"].long(), saved["meta"])
    warnings.warn(f"Not using the cached teacher outputs at {path}: {reason}. Rebuilding them "
                  "(a few seconds).", stacklevel=2)
    outputs = build_teacher_outputs(teacher, recipe)
    if save:
        from ..text.teacher import _save_atomically

        try:
            _save_atomically(_to_file(outputs), path)
        except OSError as err:
            warnings.warn(f"Could not write the teacher outputs to {path}: {err}", stacklevel=2)
    return outputs
