"""Notebook 10's cached experiment: two students x four arms x seeds, on the teacher's outputs.

``make lm-sweep`` (``python -m distill_lib.lm.sweep``) builds the teacher's outputs on
``LM_SWEEP_RECIPE["outputs"]["windows"]`` windows of training text (top-8 probabilities at every
position, and the teacher's continuation of each window's first 32 characters), then trains every
student by every arm for every seed (:func:`~distill_lib.lm.train.train_lm_student`; validation
picks each run's checkpoint), and records for each run:

- validation and test bits per character (the whole validation and test text),
- the quality of its text: ``quality_prompts`` validation prompts of 32 characters continued for
  ``quality_length`` (400) at temperature 1; the teacher's bits per character on the first
  ``quality_scored`` (96: what fits in its context with the prompt), and the distinct word bigrams
  and repeated word 4-grams of all 400 (:mod:`~distill_lib.lm.quality`),
- its training losses, validation history and seconds;

and the same quality measures for the teacher's own continuations and for the real continuations.
The seed-0 students are saved (float16) for the notebook's widget and speed measurements. Test
numbers are read once, in notebook 10's final table; validation chooses everything else.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, NamedTuple

import torch
from torch import Tensor

from .. import __version__
from .._validation import check_int
from .data import Alphabet, load_austen_split
from .outputs import TeacherOutputs, build_teacher_outputs, teacher_weights_sha256
from .quality import distinct_ngrams, repetition, teacher_bits_on_samples
from .students import _sample_fast, make_lm_student
from .teacher import LM_TEACHER_PATH, _bits_per_char, load_lm_teacher
from .train import ARMS, LM_TRAIN_RECIPE, train_lm_student

__all__ = ["LM_SWEEP_PATH", "LM_SWEEP_RECIPE", "LmSweep", "load_lm_sweep", "quality_of", "run_lm_sweep"]

#: Where the cached sweep lives.
LM_SWEEP_PATH = Path(__file__).resolve().parents[2] / "data" / "lm_sweep.pt"

#: Everything that determines the sweep.
LM_SWEEP_RECIPE: dict[str, Any] = {
    "students": ("gru", "transformer"),
    "arms": ARMS,
    "seeds": 4,
    "train": dict(LM_TRAIN_RECIPE),
    "outputs": {"windows": 8192, "context": 128, "k": 8, "prompt": 32, "length": 96, "seed": 1, "split_seed": 0},
    "quality_prompts": 64,
    "quality_length": 400,
    "quality_scored": 96,
    "quality_seed": 12345,
}
_FORMAT = 1


def _quality_prompts(recipe: dict[str, Any]) -> Tensor:
    """``quality_prompts`` windows of validation text, (Q, prompt + quality_length): prompts and real continuations."""
    val = Alphabet().encode(load_austen_split(recipe["outputs"]["split_seed"]).val)
    width = recipe["outputs"]["prompt"] + recipe["quality_length"]
    g = torch.Generator().manual_seed(recipe["quality_seed"])
    starts = torch.randint(len(val) - width, (recipe["quality_prompts"],), generator=g)
    return val[starts[:, None] + torch.arange(width)]  # (Q, P + L)


def quality_of(teacher: torch.nn.Module, prompts: Tensor, continuation: Tensor, scored: int) -> dict[str, float]:
    """The teacher's bits per character on a continuation's first ``scored`` characters (what fits in its
    context after the prompt), and the distinct word bigrams and repeated word 4-grams of the whole of it.

    Args:
        teacher: the scoring teacher. prompts: ``(Q, P)`` ids. continuation: ``(Q, L)`` ids, ``L >= scored``.
        scored: characters the teacher scores (``P + scored - 1 <= teacher.context``).

    Returns:
        ``{"teacher_bits": ..., "distinct_2": ..., "repetition_4": ...}``.
    """
    texts = [Alphabet().decode(row) for row in continuation]
    return {"teacher_bits": teacher_bits_on_samples(teacher, prompts, continuation[:, :scored]),
            "distinct_2": distinct_ngrams(texts, 2), "repetition_4": repetition(texts, 4)}


_STATE: dict[str, Any] = {}


def _worker_init(outputs: dict[str, Tensor], meta: dict[str, Any], recipe: dict[str, Any]) -> None:
    torch.set_num_threads(1)
    teacher, _ = load_lm_teacher(retrain=False)
    split = load_austen_split(recipe["outputs"]["split_seed"])
    a = Alphabet()
    _STATE.update(teacher=teacher, outputs=TeacherOutputs(**outputs, meta=meta), recipe=recipe,
                  val=a.encode(split.val), test=a.encode(split.test), prompts=_quality_prompts(recipe))


def _run(job: dict[str, Any]) -> dict[str, Any]:
    """Train one student by one arm for one seed; its scores."""
    s = _STATE
    r = s.get("recipe", LM_SWEEP_RECIPE)
    start = time.perf_counter()
    student = make_lm_student(job["student"], seed=job["seed"])
    result = train_lm_student(student, job["arm"], s["outputs"], s["val"], teacher=s["teacher"], recipe=r["train"],
                              seed=job["seed"])
    train_seconds = time.perf_counter() - start
    context = r["outputs"]["context"]
    with torch.no_grad():
        val_bits = _bits_per_char(student, s["val"], context, 64)
        test_bits = _bits_per_char(student, s["test"], context, 64)
        p = r["outputs"]["prompt"]
        g = torch.Generator().manual_seed(r["quality_seed"] + job["seed"])
        text = _sample_fast(student, s["prompts"][:, :p], r["quality_length"], 1.0, g)  # (Q, P + L)
    out = dict(job, val_bits=val_bits, test_bits=test_bits, best_step=result.best_step,
               val_history=result.val_history, losses=torch.tensor(result.losses, dtype=torch.float32),
               quality=quality_of(s["teacher"], s["prompts"][:, :p], text[:, p:], r["quality_scored"]),
               sample=Alphabet().decode(text[0]), train_seconds=train_seconds,
               seconds=time.perf_counter() - start)
    if job["seed"] == 0:
        out["state"] = {k: v.half() for k, v in student.state_dict().items()}
    return out


def run_lm_sweep(path: str | os.PathLike = LM_SWEEP_PATH, *, processes: int = 2, progress: bool = True,
                 recipe: dict[str, Any] | None = None) -> Path:
    """Build the teacher's outputs, run every (student, arm, seed), and write ``path`` (module docstring).

    ``recipe`` (default :data:`LM_SWEEP_RECIPE`) exists for a quick dry run with a smaller recipe;
    :func:`load_lm_sweep` accepts only a sweep made with :data:`LM_SWEEP_RECIPE`.

    Raises:
        TypeError: ``path`` not a path, ``processes`` not an integer, ``progress`` not a bool.
        ValueError: ``path``'s folder missing, ``processes < 1``, or no usable teacher
            (``make lm-teacher`` first); all checked before any training.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or a path, got {type(path).__name__}")
    if not Path(path).parent.is_dir():
        raise ValueError(f"path={str(path)!r}: its folder does not exist (checked before the sweep)")
    processes = check_int("processes", processes, low=1)
    if not isinstance(progress, bool):
        raise TypeError(f"progress must be True or False, got {progress!r}")
    if recipe is not None and (not isinstance(recipe, dict) or set(recipe) != set(LM_SWEEP_RECIPE)):
        raise ValueError(f"recipe must be a dict with the keys {sorted(LM_SWEEP_RECIPE)}, got {recipe!r:.80}")
    say = print if progress else (lambda *a, **k: None)
    r = LM_SWEEP_RECIPE if recipe is None else recipe
    start = time.perf_counter()
    teacher, teacher_meta = load_lm_teacher(retrain=False)
    outputs = build_teacher_outputs(teacher, dict(r["outputs"]))
    prompts = _quality_prompts(r)
    p = r["outputs"]["prompt"]
    g = torch.Generator().manual_seed(r["quality_seed"])
    teacher_text = _sample_fast(teacher, prompts[:, :p], r["quality_length"], 1.0, g)
    references = {"teacher": quality_of(teacher, prompts[:, :p], teacher_text[:, p:], r["quality_scored"]),
                  "real text": quality_of(teacher, prompts[:, :p], prompts[:, p:], r["quality_scored"])}
    outputs_seconds = time.perf_counter() - start
    say(f"teacher outputs: {outputs_seconds:.0f} s; references {references}", flush=True)
    shared = {"windows": outputs.windows, "top_ids": outputs.top_ids, "top_p": outputs.top_p,
              "samples": outputs.samples}
    jobs = [dict(student=st, arm=arm, seed=seed) for seed in range(r["seeds"]) for arm in reversed(r["arms"])
            for st in r["students"]]  # on-policy (slowest) first in each seed
    runs = []
    context = multiprocessing.get_context("spawn")  # fresh workers: no OpenMP state inherited from this process
    with ProcessPoolExecutor(processes, mp_context=context, initializer=_worker_init,
                             initargs=(shared, outputs.meta, r)) as pool:
        for out in pool.map(_run, jobs):
            runs.append(out)
            say(f"  {out['student']:11s} {out['arm']:9s} seed {out['seed']}: val {out['val_bits']:.3f} bits/char, "
                f"teacher bits on its text {out['quality']['teacher_bits']:.3f} ({out['seconds']:.0f} s)", flush=True)
    models = {(x["student"], x["arm"]): x.pop("state") for x in runs if "state" in x}
    meta = {"format": _FORMAT, "recipe": r, "teacher_sha256": teacher_weights_sha256(teacher),
            "teacher_val_bits": teacher_meta["val_bits_per_char"], "teacher_test_bits": teacher_meta["test_bits_per_char"],
            "references": references, "teacher_sample": Alphabet().decode(teacher_text[0]),
            "teacher_tail_mass": float(1 - outputs.top_p.sum(-1).mean()),
            "outputs_seconds": outputs_seconds, "seconds": time.perf_counter() - start, "processes": processes,
            "library_version": __version__, "torch_version": str(torch.__version__)}
    checkpoint = {"meta": meta, "runs": runs, "models": {f"{k[0]}/{k[1]}": v for k, v in models.items()}}
    from ..text.teacher import _save_atomically

    path = _save_atomically(checkpoint, path)
    say(f"saved {path} ({path.stat().st_size / 1e6:.1f} MB) in {meta['seconds'] / 60:.1f} min")
    return path


class LmSweep(NamedTuple):
    """The loaded sweep: metadata, one dict per run, and the seed-0 students' weights by ``"student/arm"``."""

    meta: dict[str, Any]
    runs: list[dict[str, Any]]
    models: dict[str, dict[str, Tensor]]

    def find(self, **match: Any) -> list[dict[str, Any]]:
        """The runs whose fields equal ``match`` (e.g. ``student="gru", arm="word"``), by seed."""
        return sorted((x for x in self.runs if all(x.get(k) == v for k, v in match.items())), key=lambda x: x["seed"])

    def student(self, student: str, arm: str) -> torch.nn.Module:
        """The seed-0 student trained by ``arm``, in float32 and eval mode."""
        model = make_lm_student(student, seed=0)
        model.load_state_dict({k: v.float() for k, v in self.models[f"{student}/{arm}"].items()})
        return model.eval()


def load_lm_sweep(path: str | os.PathLike = LM_SWEEP_PATH, teacher: torch.nn.Module | None = None) -> LmSweep:
    """Load and check the cached sweep.

    Args:
        path: the sweep file (default :data:`LM_SWEEP_PATH`).
        teacher: the loaded teacher, whose weights' SHA-256 the sweep must record (default: load it).

    Raises:
        TypeError: ``path`` not a str or path.
        ValueError: the file is missing, unreadable or not this recipe's sweep on this teacher; the
            message says why and names the command that rebuilds it (``make lm-sweep``).
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or a path, got {type(path).__name__}")
    path = Path(path)
    fix = "rebuild it with `make lm-sweep` (python -m distill_lib.lm.sweep, about 45 minutes on 2 cores)"
    try:
        d = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise ValueError(f"the language-model sweep {path} could not be read ({type(err).__name__}: "
                         f"{(str(err).splitlines() or [''])[0][:120]}); {fix}") from None
    if teacher is None:
        teacher = load_lm_teacher(LM_TEACHER_PATH, retrain=False)[0]
    try:
        reason = _problem_with(d, teacher_weights_sha256(teacher))
    except Exception as err:  # a malformed file: the same clear error
        reason = f"it could not be checked ({type(err).__name__}: {str(err)[:120]})"
    if reason is not None:
        raise ValueError(f"the language-model sweep {path} is unusable: {reason}; {fix}")
    return LmSweep(d["meta"], d["runs"], d["models"])


def _problem_with(d: object, teacher_sha: str) -> str | None:
    if not isinstance(d, dict) or set(d) != {"meta", "runs", "models"}:
        return "it is not a sweep dictionary (meta, runs, models)"
    meta, r = d["meta"], LM_SWEEP_RECIPE
    if not isinstance(meta, dict) or meta.get("format") != _FORMAT or meta.get("recipe") != r:
        return "it was made with another format or recipe than LM_SWEEP_RECIPE"
    if meta.get("teacher_sha256") != teacher_sha:
        return "it was trained on another teacher than data/lm_teacher.pt"
    runs = d["runs"]
    expected = {(st, arm, seed) for st in r["students"] for arm in r["arms"] for seed in range(r["seeds"])}
    if not isinstance(runs, list) or {(x.get("student"), x.get("arm"), x.get("seed")) for x in runs
                                      if isinstance(x, dict)} != expected or len(runs) != len(expected):
        return f"it does not hold exactly one run per (student, arm, seed) ({len(expected)} runs)"
    for x in runs:
        q = x.get("quality")
        numbers = [x.get("val_bits"), x.get("test_bits")] + (list(q.values()) if isinstance(q, dict) else [None])
        if not all(isinstance(v, float) and math.isfinite(v) for v in numbers):
            return "a run lacks its bits per character or its quality scores, or holds a NaN"
    models = d["models"]
    names = {f"{st}/{arm}" for st in r["students"] for arm in r["arms"]}
    if not isinstance(models, dict) or set(models) != names:
        return "it does not save one seed-0 student per (student, arm)"
    for name, state in models.items():
        reference = make_lm_student(name.split("/")[0]).state_dict()
        if not isinstance(state, dict) or set(state) != set(reference) or any(
                not isinstance(state[k], Tensor) or state[k].shape != v.shape or not bool(torch.isfinite(state[k].float()).all())
                for k, v in reference.items()):
            return f"the saved {name} student's weights do not fit a {name.split('/')[0]} student"
    return None


def main() -> None:
    """``python -m distill_lib.lm.sweep``: the whole sweep, on two processes."""
    from distill_lib.lm import sweep  # the importable module, not __main__: what the spawned workers unpickle

    sweep.run_lm_sweep()


if __name__ == "__main__":
    main()
