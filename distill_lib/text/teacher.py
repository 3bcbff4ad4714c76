"""Notebook 09's teacher: a classifier head on the frozen all-MiniLM-L6-v2, and its cached outputs.

The teacher reads a gloss with the pretrained MiniLM (:mod:`~distill_lib.text.encoder`), takes the
normalised sentence embedding (384 numbers) and classifies it with a small MLP head trained on the
labelled train glosses; the validation set picks the epoch. The encoder stays frozen (no
fine-tuning): the head alone reaches about 91 % on validation.

Running MiniLM over the 81,481 glosses takes about 7 minutes on two CPU cores, so the notebook never
does it: ``python -m distill_lib.text.teacher`` (``make text-teacher``) runs it once and caches, in
``data/text_teacher.pt``,

- ``logits``: the teacher's logits for every gloss, ``(81481, 10)`` float16, in
  :func:`~distill_lib.text.data.load_glosses` order;
- ``codes``: the sentence embeddings of the glosses the students train on (train and transfer set)
  projected on their 128 main directions (``embedding @ basis``; the top right-singular vectors of
  those embeddings, which keep about 78 % of their squared length), ``(57219, 128)`` float16, for
  DistilBERT's cosine loss (all 384 dimensions in float32 would be 88 MB);
- the head's weights, the basis and the metadata (checksums of the glosses and the MiniLM weights,
  the recipe, validation and test accuracy, the build time).

:func:`load_text_teacher` checks all of it; an unusable file is a *warning* and a rebuild, never a
crash. It is read with ``torch.load(weights_only=True)`` (tensors and plain data only).

- :func:`teacher_head`: the head (an MLP) and :func:`_train_head`, its training loop (shown in notebook 09).
- :class:`TextTeacher`: the loaded cache; ``logits_of(texts)``, ``codes_of(texts)``, ``classify(texts)`` (live).
- :func:`build_text_teacher`, :func:`load_text_teacher`.
"""

from __future__ import annotations

import copy
import hashlib
import os
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .. import __version__
from .data import CATEGORIES, GLOSSES_SHA256, load_glosses, load_text_split
from .encoder import MINILM_SHA256, encode, load_minilm, load_tokenizer

__all__ = ["EMBED_COMPONENTS", "HEAD_RECIPE", "TEXT_TEACHER_PATH", "TextTeacher", "build_text_teacher",
           "load_text_teacher", "teacher_head"]

_ROOT = Path(__file__).resolve().parents[2]
#: Where the teacher's cache lives.
TEXT_TEACHER_PATH = _ROOT / "data" / "text_teacher.pt"
#: Where the MiniLM embeddings of every gloss are kept between builds (not shipped; 125 MB).
_EMBEDDINGS_PATH = _ROOT / "build" / "text" / "minilm_embeddings.pt"
#: The head and how it is trained (validation picks the epoch).
HEAD_RECIPE: dict[str, Any] = {"hidden": 256, "dropout": 0.3, "lr": 1e-2, "weight_decay": 1e-4,
                               "epochs": 30, "batch_size": 1024, "seed": 0}
#: Dimensions of the teacher embeddings kept for the cosine loss.
EMBED_COMPONENTS = 128
_FORMAT = 1


def teacher_head(hidden: int = 256, dropout: float = 0.3, in_features: int = 384,
                 num_classes: int = len(CATEGORIES)) -> nn.Sequential:
    """The teacher's classifier on the sentence embedding: dropout, Linear, GELU, dropout, Linear."""
    return nn.Sequential(nn.Dropout(dropout), nn.Linear(in_features, hidden), nn.GELU(),
                         nn.Dropout(dropout), nn.Linear(hidden, num_classes))


def _train_head(head, X, y, X_val, y_val, *, lr, weight_decay, epochs, batch_size, seed):
    """AdamW on shuffled mini-batches of embeddings; keep the epoch best on validation."""
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(head.parameters(), lr=lr, weight_decay=weight_decay)
    best = (-1.0, 0, None)
    for epoch in range(1, epochs + 1):
        head.train()
        for rows in torch.randperm(len(X), generator=g).split(batch_size):
            loss = F.cross_entropy(head(X[rows]), y[rows])  # X[rows]: (B, 384)
            opt.zero_grad()
            loss.backward()
            opt.step()
        head.eval()
        with torch.no_grad():
            acc = 100.0 * float((head(X_val).argmax(1) == y_val).float().mean())
        if acc > best[0]:
            best = (acc, epoch, copy.deepcopy(head.state_dict()))
    head.load_state_dict(best[2])
    return head.eval(), best[1], best[0]


def _save_atomically(checkpoint: dict, path: str | os.PathLike) -> Path:
    """``torch.save`` to a temporary file beside ``path``, then rename it: a crash never leaves half a file.

    The file gets the usual permissions (``mkstemp`` would make it readable by its owner only).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    os.close(fd)
    try:
        torch.save(checkpoint, tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def _texts_sha256(texts: list[str]) -> str:
    return hashlib.sha256("\n".join(texts).encode("utf-8")).hexdigest()


def _all_embeddings(texts: list[str], progress: bool) -> tuple[Tensor, float]:
    """MiniLM embeddings of every gloss: from build/text/ when they match, else computed (minutes)."""
    key = _texts_sha256(texts)
    if _EMBEDDINGS_PATH.is_file():
        try:
            d = torch.load(_EMBEDDINGS_PATH, map_location="cpu", weights_only=True)
            if (d["texts_sha256"] == key and d.get("minilm_sha256", MINILM_SHA256) == MINILM_SHA256
                    and d["embeddings"].shape == (len(texts), 384) and bool(torch.isfinite(d["embeddings"]).all())):
                return d["embeddings"], float(d["seconds"])
            why = "it is for other glosses or other weights"
        except Exception as err:  # an unusable file: say so, then compute them
            why = f"it could not be read ({type(err).__name__})"
        warnings.warn(f"Not using the MiniLM embeddings at {_EMBEDDINGS_PATH}: {why}; computing them again "
                      "(about 7 minutes on two cores)", stacklevel=3)
    if progress:
        print(f"encoding {len(texts):,} glosses with MiniLM (about 7 minutes on 2 cores) ...", flush=True)
    start = time.perf_counter()
    model, tok = load_minilm(), load_tokenizer()
    E = encode(model, tok, texts, batch_size=128)  # (N, 384), unit length
    seconds = time.perf_counter() - start
    try:
        _EMBEDDINGS_PATH.parent.mkdir(parents=True, exist_ok=True)
        torch.save({"texts_sha256": key, "minilm_sha256": MINILM_SHA256, "embeddings": E,
                    "seconds": seconds, "threads": torch.get_num_threads()}, _EMBEDDINGS_PATH)
    except OSError:
        pass
    return E, seconds


def build_text_teacher(path: str | os.PathLike = TEXT_TEACHER_PATH, *, progress: bool = True) -> Path:
    """Train the head, compute the teacher's outputs on every gloss and write the cache.

    Takes about 7 minutes on two CPU cores (MiniLM over 81,481 glosses), a few seconds when the
    embeddings of an earlier build are still in ``build/text/``; the head itself trains in ~20 s.

    Args:
        path: the cache file to write (atomically: a temporary file, then a rename).
        progress: print what it does.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        TypeError: ``path`` not a str or path, ``progress`` not a bool.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or a path, got {type(path).__name__}")
    if not isinstance(progress, bool):
        raise TypeError(f"progress must be True or False, got {progress!r}")
    start = time.perf_counter()
    glosses = load_glosses()
    texts = [g.text for g in glosses]
    row = {t: i for i, t in enumerate(texts)}
    split = load_text_split()
    E, encode_seconds = _all_embeddings(texts, progress)

    def rows(part): return torch.tensor([row[t] for t in part])

    r = HEAD_RECIPE
    torch.manual_seed(r["seed"])
    head = teacher_head(r["hidden"], r["dropout"])
    head_start = time.perf_counter()
    head, epoch, val_acc = _train_head(head, E[rows(split.texts_train)], split.y_train, E[rows(split.texts_val)],
                                       split.y_val, lr=r["lr"], weight_decay=r["weight_decay"], epochs=r["epochs"],
                                       batch_size=r["batch_size"], seed=r["seed"])
    head_seconds = time.perf_counter() - head_start
    with torch.no_grad():
        logits = head(E)  # (N, 10)
    test_acc = 100.0 * float((logits[rows(split.texts_test)].argmax(1) == split.y_test).float().mean())
    student_rows = torch.cat([rows(split.texts_train), rows(split.texts_transfer)])  # (M,)
    S = E[student_rows]  # (M, 384)
    _, sv, Vt = torch.linalg.svd(S, full_matrices=False)
    basis = Vt[:EMBED_COMPONENTS].T.contiguous()  # (384, 128)
    kept = float((sv[:EMBED_COMPONENTS] ** 2).sum() / (sv ** 2).sum())
    meta = {
        "format": _FORMAT, "glosses_sha256": GLOSSES_SHA256, "texts_sha256": _texts_sha256(texts),
        "minilm_sha256": MINILM_SHA256, "recipe": dict(r), "best_epoch": epoch,
        "val_accuracy": val_acc, "test_accuracy": test_acc, "embed_components": EMBED_COMPONENTS,
        "energy_kept": kept, "encode_seconds": encode_seconds, "head_seconds": head_seconds,
        "seconds_this_run": time.perf_counter() - start,
        "threads": torch.get_num_threads(), "library_version": __version__, "torch_version": str(torch.__version__),
    }
    checkpoint = {"meta": meta, "head": head.state_dict(), "logits": logits.half(),
                  "codes": (S @ basis).half(), "code_rows": student_rows, "basis": basis}
    path = _save_atomically(checkpoint, path)
    if progress:
        print(f"saved {path} ({path.stat().st_size / 1e6:.1f} MB): head val {val_acc:.2f} % "
              f"(epoch {epoch}), test {test_acc:.2f} %, {kept:.1%} of the embeddings' energy kept")
    return path


class TextTeacher:
    """The cached teacher: its outputs on every gloss, and the head for new text.

    Attributes:
        logits: ``(81481, 10)`` float32, in :func:`load_glosses` order.
        codes: ``(57219, 128)`` float32, the projected embeddings of the train and transfer glosses.
        basis: ``(384, 128)``: a new embedding's code is ``embedding @ basis``.
        head: the classifier (eval mode). meta: the metadata dictionary.
    """

    def __init__(self, checkpoint: dict[str, Any], texts: list[str]):
        self.meta = checkpoint["meta"]
        self.logits = checkpoint["logits"].float()
        self.codes = checkpoint["codes"].float()
        self.basis = checkpoint["basis"]
        self.head = teacher_head(self.meta["recipe"]["hidden"], self.meta["recipe"]["dropout"])
        self.head.load_state_dict(checkpoint["head"])
        self.head.eval().requires_grad_(False)
        self._row = {t: i for i, t in enumerate(texts)}
        self._code_row = {int(r): i for i, r in enumerate(checkpoint["code_rows"])}
        self._encoder = None

    def _rows(self, texts) -> Tensor:
        if not isinstance(texts, (list, tuple)) or not all(isinstance(t, str) for t in texts):
            raise TypeError(f"texts must be a list or tuple of str (glosses), got {texts!r:.80}")
        missing = [t for t in texts if t not in self._row]
        if missing:
            raise ValueError(f"texts[...]={missing[0]!r:.80} is not a WordNet gloss; "
                             "use classify() for new text")
        return torch.tensor([self._row[t] for t in texts], dtype=torch.long)

    def logits_of(self, texts) -> Tensor:
        """The cached logits of these glosses, ``(N, 10)``."""
        return self.logits[self._rows(texts)]

    def codes_of(self, texts) -> Tensor:
        """The cached embedding codes of these train/transfer glosses, ``(N, 128)``."""
        rows = self._rows(texts)
        bad = [t for t, r in zip(texts, rows.tolist()) if r not in self._code_row]
        if bad:
            raise ValueError(f"{bad[0]!r:.80} is not a train or transfer gloss: embeddings are cached "
                             "only for the texts the students train on")
        return self.codes[torch.tensor([self._code_row[r] for r in rows.tolist()])]

    def classify(self, texts: list[str]) -> Tensor:
        """Run the whole teacher (MiniLM, then the head) on new texts: logits ``(N, 10)``."""
        if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
            raise TypeError(f"texts must be a list of str, got {texts!r:.80}")
        if not texts:
            raise ValueError("texts=[] is empty; give at least one non-empty text")
        blank = [i for i, t in enumerate(texts) if not t.strip()]
        if blank:
            raise ValueError(f"texts[{blank[0]}]={texts[blank[0]]!r} is blank; every text must be non-empty")
        if self._encoder is None:
            self._encoder = (load_minilm(), load_tokenizer())
        with torch.no_grad():
            return self.head(encode(*self._encoder, texts))  # (N, 10)


def _problem_with(checkpoint: object, texts: list[str]) -> str | None:
    """Why a loaded checkpoint is unusable (a sentence), or None."""
    if not isinstance(checkpoint, dict):
        return f"it holds a {type(checkpoint).__name__}, not a dictionary"
    need = {"meta": dict, "head": dict, "logits": Tensor, "codes": Tensor, "code_rows": Tensor, "basis": Tensor}
    for key, kind in need.items():
        if not isinstance(checkpoint.get(key), kind):
            return f"'{key}' is missing or not a {kind.__name__}"
    meta = checkpoint["meta"]
    if meta.get("format") != _FORMAT:
        return f"its format is {meta.get('format')!r}, expected {_FORMAT}"
    if meta.get("texts_sha256") != _texts_sha256(texts) or meta.get("minilm_sha256") != MINILM_SHA256:
        return "it was built from other glosses or other MiniLM weights"
    recipe = meta.get("recipe")
    if not isinstance(recipe, dict) or recipe != HEAD_RECIPE:
        return f"its recipe {recipe!r:.120} is not HEAD_RECIPE"
    n, m = len(texts), checkpoint["code_rows"].shape
    shapes = {"logits": ((n, len(CATEGORIES)), torch.float16), "codes": ((m[0], EMBED_COMPONENTS), torch.float16),
              "basis": ((384, EMBED_COMPONENTS), torch.float32)}
    for key, (shape, dtype) in shapes.items():
        t = checkpoint[key]
        if tuple(t.shape) != shape or t.dtype != dtype:
            return f"'{key}' has shape {tuple(t.shape)} {t.dtype}, expected {shape} {dtype}"
        if not bool(torch.isfinite(t).all()):
            return f"'{key}' contains NaN or infinite values"
    rows = checkpoint["code_rows"]
    if rows.ndim != 1 or rows.dtype != torch.int64 or len(rows) == 0 or int(rows.min()) < 0 or int(rows.max()) >= n:
        return "'code_rows' is not a list of gloss rows"
    head = teacher_head(recipe["hidden"], recipe["dropout"])
    try:
        head.load_state_dict(checkpoint["head"])
    except (RuntimeError, KeyError, TypeError) as err:
        return f"the head's weights do not fit ({(str(err).splitlines() or [''])[0][:120]})"
    if not all(bool(torch.isfinite(p).all()) for p in head.parameters()):
        return "the head's weights contain NaN or infinite values"
    return None


def load_text_teacher(path: str | os.PathLike = TEXT_TEACHER_PATH, *, rebuild: bool = True) -> TextTeacher:
    """Load the cached teacher; an unusable cache is a warning and a rebuild (about 7 minutes).

    Args:
        path: the cache file (:data:`TEXT_TEACHER_PATH`).
        rebuild: rebuild an unusable cache (``False``: raise ``ValueError`` instead, for tools that must not wait).

    Returns:
        TextTeacher: the cached logits and codes, and the head.

    Raises:
        TypeError: ``path`` not a str or path, ``rebuild`` not a bool.
        ValueError: the cache is unusable and ``rebuild=False`` (the message says why).

    Example::

        >>> teacher = load_text_teacher()
        >>> teacher.logits_of(split.texts_test).argmax(1)  # the teacher's test predictions
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or a path, got {type(path).__name__}")
    if not isinstance(rebuild, bool):
        raise TypeError(f"rebuild must be True or False, got {rebuild!r}")
    path = Path(path)
    texts = [g.text for g in load_glosses()]
    if not path.is_file():
        reason = "there is no file there"
    else:
        try:
            checkpoint = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:  # empty, truncated, corrupt or not a safe checkpoint
            reason = f"it could not be read ({type(err).__name__}: {(str(err).splitlines() or [''])[0][:120]})"
        else:
            try:
                reason = _problem_with(checkpoint, texts)
            except Exception as err:  # whatever else is wrong: rebuild rather than crash
                reason = f"it could not be checked ({type(err).__name__}: {str(err)[:120]})"
            if reason is None:
                return TextTeacher(checkpoint, texts)
    if not rebuild:
        raise ValueError(f"the text teacher's cache {path} is unusable: {reason}")
    warnings.warn(f"Not using the text teacher's cache at {path}: {reason}. Rebuilding it "
                  "(about 7 minutes on two cores). A rebuilt teacher's outputs differ in the last bits, so "
                  "notebook 09's cached sweep will then ask for `make text-sweep`.", stacklevel=2)
    build_text_teacher(path, progress=False)
    return TextTeacher(torch.load(path, map_location="cpu", weights_only=True), texts)


def main() -> None:
    """Rebuild the cache from scratch (``python -m distill_lib.text.teacher``)."""
    build_text_teacher(progress=True)


if __name__ == "__main__":
    main()
