"""Notebook 09's experiment: three students, from scratch and distilled, with few or all labels, over seeds.

The design (:data:`SWEEP_RECIPE`):

- **settings**: ``"few"`` = 20 labelled glosses per category (200 labels), every other train gloss
  and the transfer set unlabelled; ``"all"`` = the 36,398 labelled train glosses, the transfer
  set unlabelled.
- **arms**: ``"scratch"`` trains on the labelled rows alone (cross-entropy); ``"kd"`` on every row
  with the workbook's loss (CE on the labelled rows, ``T^2 KL`` to the cached teacher on all rows);
  ``"kd+cos"`` adds DistilBERT's cosine loss to the teacher's sentence embedding (weight ``beta``).
- **choices on validation**: ``T`` and ``lambda`` on a grid, then ``beta``, each by the mean
  validation accuracy of the bag-of-embeddings student over two seeds, separately per setting;
  the GRU and the transformer reuse them (tuning each would triple the cost).
- every run keeps its best of ``checks`` checkpoints on validation, and records its test
  predictions; the notebook reports the test set once.

``python -m distill_lib.text.sweep`` (``make text-sweep``) runs everything on two processes (54
minutes on two cores here) and writes ``data/text_sweep.pt``: the choices, per run the validation
accuracy, best step, seconds and test predictions, and the seed-0 weights (float16) of each
student's best distilled arm in the ``"all"`` setting, for the widget and the cost table.
:func:`load_text_sweep` checks the file; an unusable one raises a clear ``ValueError`` naming the
command that rebuilds it (an hour is too long to start silently inside a notebook).
"""

from __future__ import annotations

import hashlib
import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, NamedTuple

import torch
from torch import Tensor

from .. import __version__
from .._validation import check_int
from ..losses import UNLABELLED
from .data import CATEGORIES, TextSplit, load_text_split
from .distill import train_text_student
from .encoder import load_tokenizer
from .students import STUDENTS, make_student
from .teacher import EMBED_COMPONENTS, TextTeacher, load_text_teacher, _save_atomically
from .tokens import Tokens, Vocab, build_vocab, encode_texts

__all__ = ["SWEEP_RECIPE", "TEXT_SWEEP_PATH", "StudentData", "SweepResult", "load_text_sweep", "run_text_sweep",
           "student_data", "teacher_sha256"]

TEXT_SWEEP_PATH = Path(__file__).resolve().parents[2] / "data" / "text_sweep.pt"
SWEEP_RECIPE: dict[str, Any] = {
    "labels_per_class": 20, "steps": 1200, "lr": 3e-3, "batch_size": 128, "checks": 6, "seeds": 5,
    "temperatures": [1.0, 2.0, 4.0, 8.0], "lams": [0.5, 0.9, 1.0], "betas": [0.3, 1.0, 3.0], "select_seeds": 2,
}
SETTINGS = ("few", "all")
ARMS = ("scratch", "kd", "kd+cos")
_FORMAT = 1


class StudentData(NamedTuple):
    """Everything a student trains and is evaluated on (train + transfer rows, then val and test)."""

    vocab: Vocab
    tokens: Tokens           # (57219, 64): the train glosses, then the transfer glosses
    targets: dict[str, Tensor]  # setting -> (57219,) labels, UNLABELLED where hidden
    teacher_logits: Tensor   # (57219, 10), cached
    teacher_codes: Tensor    # (57219, 128), cached
    val: tuple[Tokens, Tensor]
    test: tuple[Tokens, Tensor]


def few_labels(y: Tensor, per_class: int) -> Tensor:
    """Keep the first ``per_class`` labels of each class (in split order), hide the rest (UNLABELLED)."""
    keep = torch.zeros(len(y), dtype=torch.bool)
    for c in range(len(CATEGORIES)):
        keep[(y == c).nonzero().flatten()[:per_class]] = True
    return torch.where(keep, y, torch.full_like(y, UNLABELLED))


def student_data(split: TextSplit | None = None, teacher: TextTeacher | None = None,
                 per_class: int = SWEEP_RECIPE["labels_per_class"]) -> StudentData:
    """The students' tokens, the two settings' targets and the cached teacher outputs (a few seconds).

    ``split`` and ``teacher`` are loaded when not given (:func:`load_text_split`, :func:`load_text_teacher`).
    """
    if split is not None and not isinstance(split, TextSplit):
        raise TypeError(f"split must be a TextSplit (from load_text_split), got {type(split).__name__}")
    if teacher is not None and not isinstance(teacher, TextTeacher):
        raise TypeError(f"teacher must be a TextTeacher (from load_text_teacher), got {type(teacher).__name__}")
    per_class = check_int("per_class", per_class, low=1)
    split = split if split is not None else load_text_split()
    teacher = teacher if teacher is not None else load_text_teacher()
    tok = load_tokenizer()
    texts = list(split.texts_train) + list(split.texts_transfer)
    vocab = build_vocab(tok, texts)
    hidden = torch.full((len(split.texts_transfer),), UNLABELLED, dtype=torch.long)
    targets = {"all": torch.cat([split.y_train, hidden]),
               "few": torch.cat([few_labels(split.y_train, per_class), hidden])}
    return StudentData(vocab, encode_texts(tok, vocab, texts), targets, teacher.logits_of(texts),
                       teacher.codes_of(texts), (encode_texts(tok, vocab, list(split.texts_val)), split.y_val),
                       (encode_texts(tok, vocab, list(split.texts_test)), split.y_test))


_DATA: StudentData | None = None


def _worker_init() -> None:
    global _DATA
    torch.set_num_threads(1)
    _DATA = student_data()


def _run(job: dict[str, Any]) -> dict[str, Any]:
    """Train one student (a job: student, setting, arm, seed, T, lam, beta); its validation and test results."""
    d, r = _DATA, SWEEP_RECIPE
    if (job["arm"] == "scratch" and (job["lam"], job["beta"]) != (0.0, 0.0)) or (job["arm"] == "kd" and job["beta"]):
        raise ValueError(f"job {job}: 'scratch' needs lam = beta = 0 and 'kd' beta = 0")
    start = time.perf_counter()
    targets = d.targets[job["setting"]]
    rows = torch.arange(len(targets)) if job["arm"] != "scratch" else (targets != UNLABELLED).nonzero().flatten()
    tokens = Tokens(d.tokens.ids[rows], d.tokens.mask[rows])
    model = make_student(job["student"], d.vocab.size, len(CATEGORIES), EMBED_COMPONENTS, seed=job["seed"])
    result = train_text_student(model, tokens, targets[rows], val=d.val, teacher_logits=d.teacher_logits[rows],
                                teacher_embeddings=d.teacher_codes[rows], temperature=job["temperature"],
                                lam=job["lam"], beta=job["beta"], steps=r["steps"], lr=r["lr"],
                                batch_size=r["batch_size"], checks=r["checks"], seed=job["seed"])
    with torch.no_grad():
        test_pred = torch.cat([model(*d.test[0].rows(torch.arange(i, min(i + 1024, len(d.test[1])))))[0].argmax(1)
                               for i in range(0, len(d.test[1]), 1024)])
    out = dict(job, val_accuracy=max(a for _, a in result.val_accuracy), best_step=result.best_step,
               history=result.val_accuracy, test_pred=test_pred.to(torch.int8),
               seconds=time.perf_counter() - start)
    if job["seed"] == 0 and job["setting"] == "all":
        out["state"] = {k: v.half() if v.is_floating_point() else v for k, v in model.state_dict().items()}
    return out


def _mean_val(runs: list[dict], **match: Any) -> float:
    vals = [x["val_accuracy"] for x in runs if all(x[k] == v for k, v in match.items())]
    return sum(vals) / len(vals)


def run_text_sweep(path: str | os.PathLike = TEXT_SWEEP_PATH, *, processes: int = 2, progress: bool = True) -> Path:
    """Run the selection and the sweep (module docstring) and write ``path``. 54 minutes on 2 cores here."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or a path, got {type(path).__name__}")
    if not Path(path).parent.is_dir():
        raise ValueError(f"path={str(path)!r}: its folder does not exist (checked before an hour of training)")
    processes = check_int("processes", processes, low=1)
    if not isinstance(progress, bool):
        raise TypeError(f"progress must be True or False, got {progress!r}")
    r = SWEEP_RECIPE
    start = time.perf_counter()
    say = print if progress else (lambda *a, **k: None)
    with ProcessPoolExecutor(processes, initializer=_worker_init) as pool:
        # 1. T and lambda on validation (bag student, beta = 0), per setting.
        grid = [dict(student="bag", setting=s, arm="kd", seed=seed, temperature=t, lam=lam, beta=0.0)
                for s in SETTINGS for t in r["temperatures"] for lam in r["lams"] for seed in range(r["select_seeds"])]
        select = list(pool.map(_run, grid))
        chosen = {}
        for s in SETTINGS:
            t, lam = max(((t, lam) for t in r["temperatures"] for lam in r["lams"]),
                         key=lambda p: _mean_val(select, setting=s, temperature=p[0], lam=p[1]))
            chosen[s] = {"temperature": t, "lam": lam}
        say(f"chosen T, lambda: {chosen} ({time.perf_counter() - start:.0f} s)", flush=True)
        # 2. beta on validation at those T, lambda.
        grid = [dict(student="bag", setting=s, arm="kd+cos", seed=seed, beta=b, **chosen[s])
                for s in SETTINGS for b in r["betas"] for seed in range(r["select_seeds"])]
        select_beta = list(pool.map(_run, grid))
        for s in SETTINGS:
            chosen[s]["beta"] = max(r["betas"], key=lambda b: _mean_val(select_beta, setting=s, beta=b))
        say(f"chosen beta: {chosen} ({time.perf_counter() - start:.0f} s)", flush=True)
        # 3. The sweep: slow students first, so that the two processes finish together.
        jobs = []
        for student in ("transformer", "gru", "bag"):
            for s in SETTINGS:
                arms = {"scratch": dict(temperature=1.0, lam=0.0, beta=0.0),
                        "kd": dict(chosen[s], beta=0.0), "kd+cos": dict(chosen[s])}
                jobs += [dict(student=student, setting=s, arm=a, seed=seed, **hp)
                         for a, hp in arms.items() for seed in range(r["seeds"])]
        runs = []
        for out in pool.map(_run, jobs):
            runs.append(out)
            say(f"  {out['student']:11s} {out['setting']:4s} {out['arm']:7s} seed {out['seed']}: "
                f"val {out['val_accuracy']:.2f} % ({out['seconds']:.0f} s)", flush=True)
    models = {}
    for student in STUDENTS:
        arm = max(("kd", "kd+cos"), key=lambda a: _mean_val(runs, student=student, setting="all", arm=a))
        state = next(x["state"] for x in runs if x["student"] == student and x["setting"] == "all"
                     and x["arm"] == arm and x["seed"] == 0)
        models[student] = {"arm": arm, "state": state}
    for x in runs:
        x.pop("state", None)
    for x in select + select_beta:
        x.pop("state", None)
        x.pop("test_pred")  # selection runs never look at the test set
    d = _DATA or student_data()
    meta = {"format": _FORMAT, "recipe": dict(r), "chosen": chosen, "seconds": time.perf_counter() - start,
            "processes": processes, "vocab_size": d.vocab.size, "test_sha256": _labels_sha256(d.test[1]),
            "teacher_sha256": teacher_sha256(load_text_teacher()),
            "library_version": __version__, "torch_version": str(torch.__version__)}
    checkpoint = {"meta": meta, "runs": runs, "selection": select + select_beta, "models": models}
    path = _save_atomically(checkpoint, path)
    say(f"saved {path} ({path.stat().st_size / 1e6:.1f} MB) in {meta['seconds'] / 60:.1f} min")
    return path


def teacher_sha256(teacher: TextTeacher) -> str:
    """SHA-256 of the teacher outputs the students learnt from (cached logits and codes, as float16 bytes)."""
    h = hashlib.sha256()
    for t in (teacher.logits, teacher.codes):
        h.update(t.half().numpy().tobytes())
    return h.hexdigest()


def _labels_sha256(y: Tensor) -> str:
    return hashlib.sha256(y.to(torch.int64).numpy().tobytes()).hexdigest()


class SweepResult(NamedTuple):
    """The loaded sweep: metadata, one dict per run, the selection runs, and the saved students."""

    meta: dict[str, Any]
    runs: list[dict[str, Any]]
    selection: list[dict[str, Any]]
    models: dict[str, dict[str, Any]]

    def find(self, **match: Any) -> list[dict[str, Any]]:
        """The runs whose fields equal ``match`` (e.g. ``student="gru", setting="few", arm="kd"``), by seed."""
        return sorted((x for x in self.runs if all(x.get(k) == v for k, v in match.items())), key=lambda x: x["seed"])


def load_text_sweep(path: str | os.PathLike = TEXT_SWEEP_PATH) -> SweepResult:
    """Load and check the cached sweep.

    Raises:
        TypeError: ``path`` not a str or path.
        ValueError: the file is missing, unreadable or not this recipe's sweep; the message says
            why and names the command that rebuilds it (``make text-sweep``, 54 minutes here).
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or a path, got {type(path).__name__}")
    path = Path(path)
    fix = "rebuild it with `make text-sweep` (python -m distill_lib.text.sweep, 54 minutes on 2 cores here)"
    try:
        d = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise ValueError(f"the text sweep {path} could not be read ({type(err).__name__}: "
                         f"{(str(err).splitlines() or [''])[0][:120]}); {fix}") from None
    try:
        reason = _problem_with(d)
    except Exception as err:  # a malformed file: the same clear error, never a crash deep inside
        reason = f"it could not be checked ({type(err).__name__}: {str(err)[:120]})"
    if reason is not None:
        raise ValueError(f"the text sweep {path} is unusable: {reason}; {fix}")
    return SweepResult(d["meta"], d["runs"], d["selection"], d["models"])


def _problem_with(d: object) -> str | None:
    if not isinstance(d, dict) or not all(k in d for k in ("meta", "runs", "selection", "models")):
        return "it is not a sweep dictionary (meta, runs, selection, models)"
    meta = d["meta"]
    if not isinstance(meta, dict) or meta.get("format") != _FORMAT or meta.get("recipe") != SWEEP_RECIPE:
        return "it was made with another format or recipe than SWEEP_RECIPE"
    if meta.get("teacher_sha256") != teacher_sha256(load_text_teacher(rebuild=False)):
        return "it was trained on another teacher's outputs than data/text_teacher.pt"
    n_test = len(load_text_split().y_test)  # checked again below with the labels' hash
    expected = len(STUDENTS) * len(SETTINGS) * len(ARMS) * SWEEP_RECIPE["seeds"]
    runs = d["runs"]
    if not isinstance(runs, list) or len(runs) != expected:
        return f"it holds {len(runs) if isinstance(runs, list) else runs!r:.40} runs, expected {expected}"
    for x in runs:
        if (not isinstance(x, dict) or not isinstance(x.get("test_pred"), Tensor) or x["test_pred"].shape != (n_test,)
                or not isinstance(x.get("val_accuracy"), float)):
            return "a run lacks its validation accuracy or its test predictions"
    split = load_text_split()
    if meta.get("test_sha256") != _labels_sha256(split.y_test):
        return "its test predictions are for another test set"
    chosen = meta.get("chosen")
    if not isinstance(chosen, dict) or set(chosen) != set(SETTINGS) or any(
            not isinstance(c, dict) or set(c) != {"temperature", "lam", "beta"} for c in chosen.values()):
        return "its choices (meta['chosen']: T, lambda, beta per setting) are missing or malformed"
    r = SWEEP_RECIPE
    selection = d["selection"]
    expected_selection = len(SETTINGS) * r["select_seeds"] * (len(r["temperatures"]) * len(r["lams"]) + len(r["betas"]))
    if not isinstance(selection, list) or len(selection) != expected_selection or any(
            not isinstance(x, dict) or not isinstance(x.get("val_accuracy"), float) for x in selection):
        return f"it holds a malformed selection (expected {expected_selection} runs with a validation accuracy)"
    models = d["models"]
    if not isinstance(models, dict) or set(models) != set(STUDENTS):
        return f"it saves models for {sorted(models) if isinstance(models, dict) else models!r:.60}, expected {sorted(STUDENTS)}"
    vocab_size = meta.get("vocab_size")
    for name, saved in models.items():
        if not isinstance(saved, dict) or saved.get("arm") not in ("kd", "kd+cos") or not isinstance(saved.get("state"), dict):
            return f"the saved {name} student is malformed"
        reference = make_student(name, vocab_size, len(CATEGORIES), EMBED_COMPONENTS).state_dict()
        state = saved["state"]
        if set(state) != set(reference) or any(
                not isinstance(state[k], Tensor) or state[k].shape != v.shape or not bool(torch.isfinite(state[k].float()).all())
                for k, v in reference.items()):
            return f"the saved {name} student's weights do not fit a {name} student of vocabulary {vocab_size}"
    return None


def main() -> None:
    """``python -m distill_lib.text.sweep``: the whole sweep, on two processes."""
    run_text_sweep()


if __name__ == "__main__":
    main()
