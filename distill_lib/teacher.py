"""The teacher: a 64-256-256-10 MLP trained once by the library and cached in ``data/``.

``load_teacher()`` returns the cached teacher after checking it; when the file
is missing, unreadable, made by another recipe or for other data, or does not
reproduce its recorded test accuracy, it *warns* and retrains (about 10 s on
two CPU cores) instead of crashing or returning a wrong model.

The checkpoint is a plain dictionary of tensors and metadata saved with
``torch.save`` and read with ``torch.load(weights_only=True)``, which refuses
to unpickle arbitrary objects.

Regenerate it with ``python -m distill_lib.teacher`` (or ``make teacher``).
"""

from __future__ import annotations

import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from . import __version__
from .data import DIGITS_SHA256, DigitsSplit, augment, load_split
from .models import count_parameters, mlp
from .training import evaluate, fit, set_seed

__all__ = ["TEACHER_RECIPE", "DEFAULT_TEACHER_PATH", "train_teacher", "load_teacher", "save_teacher"]

#: Everything that determines the teacher. A checkpoint made with another recipe is retrained.
TEACHER_RECIPE: dict[str, Any] = {
    "sizes": [64, 256, 256, 10],
    "dropout": 0.3,
    "augment_copies": 9,
    "epochs": 30,
    "batch_size": 128,
    "lr": 1e-3,
    "weight_decay": 1e-4,
    "seed": 0,
    "split_seed": 0,
}
_FORMAT = 1
DEFAULT_TEACHER_PATH = Path(__file__).resolve().parent.parent / "data" / "teacher_mlp.pt"


def train_teacher(split: DigitsSplit | None = None, *, progress: bool | None = None) -> tuple[nn.Module, dict]:
    """Train a teacher from :data:`TEACHER_RECIPE` (deterministic on a given machine).

    Returns:
        ``(teacher, metadata)``; the teacher is in eval mode. ``metadata`` holds
        the recipe, data checksum, library and torch versions, parameter count
        and validation and test accuracy.
    """
    r = TEACHER_RECIPE
    split = split if split is not None else load_split(r["split_seed"])
    X, y = augment(split.X_train, split.y_train, copies=r["augment_copies"], seed=r["seed"])
    set_seed(r["seed"])
    teacher = mlp(r["sizes"], dropout=r["dropout"])
    fit(teacher, X, y, epochs=r["epochs"], lr=r["lr"], weight_decay=r["weight_decay"],
        batch_size=r["batch_size"], seed=r["seed"], progress=progress, desc="teacher")
    meta = {
        "format": _FORMAT,
        "recipe": dict(r),
        "data_sha256": DIGITS_SHA256,
        "library_version": __version__,
        "torch_version": str(torch.__version__),
        "num_parameters": count_parameters(teacher),
        "val_accuracy": evaluate(teacher, split.X_val, split.y_val),
        "test_accuracy": evaluate(teacher, split.X_test, split.y_test),
    }
    return teacher, meta


def save_teacher(teacher: nn.Module, meta: dict, path: str | os.PathLike = DEFAULT_TEACHER_PATH) -> Path:
    """Write ``{"state_dict", "meta"}`` atomically (a temporary file, then a rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    os.close(fd)
    try:
        torch.save({"state_dict": teacher.state_dict(), "meta": meta}, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def _problem_with(checkpoint: object, split: DigitsSplit) -> tuple[str | None, nn.Module | None]:
    """Return ``(reason, None)`` if the checkpoint is unusable, else ``(None, teacher)``."""
    if not isinstance(checkpoint, dict) or not {"state_dict", "meta"} <= checkpoint.keys():
        return "it is not a teacher checkpoint (expected keys 'state_dict' and 'meta')", None
    meta = checkpoint["meta"]
    if meta.get("format") != _FORMAT:
        return f"its format is {meta.get('format')!r}, expected {_FORMAT}", None
    if meta.get("recipe") != TEACHER_RECIPE:
        return f"it was trained with another recipe ({meta.get('recipe')})", None
    if meta.get("data_sha256") != DIGITS_SHA256:
        return "it was trained on other data (checksum mismatch)", None
    teacher = mlp(TEACHER_RECIPE["sizes"], dropout=TEACHER_RECIPE["dropout"])
    try:
        teacher.load_state_dict(checkpoint["state_dict"])
    except (RuntimeError, KeyError, TypeError) as err:
        return f"its weights do not fit the architecture ({str(err).splitlines()[0]})", None
    teacher.eval()
    accuracy = evaluate(teacher, split.X_test, split.y_test)
    # One test example of slack: another CPU may round one borderline logit differently.
    if abs(accuracy - meta.get("test_accuracy", -1.0)) > 1.5 / len(split.y_test):
        return f"it scores {accuracy:.4f} on the test set but recorded {meta.get('test_accuracy')}", None
    return None, teacher


def load_teacher(
    path: str | os.PathLike = DEFAULT_TEACHER_PATH,
    *,
    split: DigitsSplit | None = None,
    save: bool = True,
    progress: bool | None = None,
) -> tuple[nn.Module, dict]:
    """Load the cached teacher, or warn and retrain it if the cache is unusable.

    Args:
        path: the checkpoint file.
        split: the data split (loaded if not given).
        save: write a retrained teacher back to ``path``.
        progress: show the retraining progress bar (default: unless quiet).

    Returns:
        ``(teacher, metadata)`` with the teacher in eval mode.

    Example::

        >>> teacher, meta = load_teacher()
        >>> meta["test_accuracy"] >= 0.975
        True
    """
    path = Path(path)
    split = split if split is not None else load_split(TEACHER_RECIPE["split_seed"])
    if not path.exists():
        reason = "there is no file there"
    else:
        try:
            checkpoint = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:  # corrupt, truncated or not a safe checkpoint
            reason = f"it could not be read ({type(err).__name__}: {str(err).splitlines()[0][:120]})"
        else:
            reason, teacher = _problem_with(checkpoint, split)
            if reason is None:
                return teacher, checkpoint["meta"]
    warnings.warn(f"Not using the cached teacher at {path}: {reason}. Retraining it (about 10 s).", stacklevel=2)
    teacher, meta = train_teacher(split, progress=progress)
    if save:
        try:
            save_teacher(teacher, meta, path)
        except OSError as err:
            warnings.warn(f"Could not write the retrained teacher to {path}: {err}", stacklevel=2)
    return teacher, meta


def main() -> None:
    """Retrain the teacher from scratch and overwrite the cache (``python -m distill_lib.teacher``)."""
    teacher, meta = train_teacher(progress=True)
    path = save_teacher(teacher, meta)
    print(f"saved {path} ({path.stat().st_size} bytes)")
    for key in ("num_parameters", "val_accuracy", "test_accuracy", "library_version", "torch_version"):
        print(f"  {key}: {meta[key]}")


if __name__ == "__main__":
    main()
