r"""Every model of notebook 06 over seeds, evaluated and sized, cached in ``data/`` (notebook 06).

The pipeline of :mod:`~distill_lib.compression.pipeline` makes many models: for each seed and both
orders, every (units removed, sparsity, bits) stage; dense students of several widths from scratch and
distilled; the teacher compressed for order (b). Training them all takes minutes on two cores, more
than a notebook's minute, so :func:`run_sweep` does it once and :func:`load_sweep` caches what the
notebook needs: for every *arm* (one kind of model, one per seed), its per-image correctness on the
validation and test sets (the input of :mod:`distill_lib.stats`) and the size of its real file
(:func:`~distill_lib.compression.storage.save_compressed`, read back and checked by the storage tests).
Notebook 06 reruns order (a) on seed 0 live with the shown code, at the units setting it chose, and
compares every one of those snapshots with the cache.

The cache is a plain dictionary of tensors, numbers and strings (``torch.load(weights_only=True)``),
keyed by the recipe, the teacher's weights, the data, the storage format and the library and torch
versions; anything unusable (no file, a broken file, another key) means a warning and a rebuild,
never a crash. Regenerate it with ``python -m distill_lib.compression`` (``make pipeline``).
"""

from __future__ import annotations

import copy
import hashlib
import os
import tempfile
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from .. import __version__
from ..data import DIGITS_SHA256, DigitsSplit, load_split
from ..stats import Runs
from ..student import train_student
from ..training import predict_logits, set_seed
from . import storage
from .pipeline import PIPELINE_RECIPE, check_pipeline_recipe, compress_student, compress_teacher
from .weight_sharing import apply_shared, share_weights

__all__ = [
    "DEFAULT_SWEEP_PATH",
    "Arm",
    "Sweep",
    "model_sha256",
    "run_sweep",
    "load_sweep",
    "save_sweep",
    "file_bytes",
]

_FORMAT = 1
DEFAULT_SWEEP_PATH = Path(__file__).resolve().parent.parent.parent / "data" / "pipeline_sweep.pt"
#: Weight sharing without fine-tuning, evaluated on every pruned snapshot: (method, bits).
UNTUNED = (("linear", 8), ("linear", 4), ("kmeans", 4))


@dataclass(frozen=True)
class Arm:
    """One kind of model, one per seed: what it is, how it scores, how many bytes its file takes.

    ``params`` says what it is: ``kind`` (``"teacher"``, ``"teacher compressed"``, ``"dense"``,
    ``"pipeline"``) and, as they apply, ``order`` (``"a"``/``"b"``), ``width``, ``distilled``,
    ``unit_sparsity``, ``sparsity``, ``bits`` (``None``: float32 weights), ``method``
    (``"kmeans"``/``"linear"``), ``finetuned`` and ``stage`` (the file's stage).
    """

    params: dict
    val: Runs  # (S, 359) per-image correctness on the validation set
    test: Runs  # (S, 359) on the test set: read once, in the notebook's final table
    bytes: tuple[int, ...]  # the file size of each seed's model

    @property
    def mean_bytes(self) -> float:
        return float(np.mean(self.bytes))

    @property
    def name(self) -> str:
        return arm_name(self.params)


@dataclass
class Sweep:
    """Every arm of the sweep, the key it was made with, and how long it took."""

    arms: list[Arm]
    key: dict
    seconds: float
    teacher_choice: dict = field(default_factory=dict)  # order (b): the compressed teacher chosen on validation

    def find(self, **params: Any) -> list[Arm]:
        """The arms whose ``params`` contain all of ``params`` (e.g. ``kind="dense", width=32``)."""
        return [a for a in self.arms if all(a.params.get(k, _MISSING) == v for k, v in params.items())]

    def one(self, **params: Any) -> Arm:
        """The one arm matching ``params``; ``KeyError`` naming them if there is not exactly one."""
        found = self.find(**params)
        if len(found) != 1:
            raise KeyError(f"{len(found)} arms match {params}; expected exactly one")
        return found[0]

    @property
    def teacher(self) -> Arm:
        return self.one(kind="teacher")

    def stages(self, order: str) -> list[Arm]:
        """The snapshots of :func:`compress_student` in ``order`` (``"a"``/``"b"``): pruned (float32 weights)
        and k-means with a fine-tuned codebook; the untuned weight sharing is left out."""
        if order not in ("a", "b"):
            raise ValueError(f"order={order!r} is not allowed; choose 'a' (distil first) or 'b' (teacher first)")
        return [a for a in self.find(kind="pipeline", order=order) if a.params["bits"] is None or a.params["finetuned"]]


_MISSING = object()


def arm_name(params: Mapping[str, Any]) -> str:
    """A short readable label, e.g. ``"a: units -50%, 90% sparse, k-means 4 bits"``."""
    kind = params["kind"]
    if kind == "teacher":
        return "teacher"
    if kind == "dense":
        return f"{'distilled' if params['distilled'] else 'scratch'} 64-{params['width']}-10"
    if kind == "teacher compressed":
        return f"teacher {params['sparsity']:.0%} sparse, k-means {params['bits']} bits"
    parts = [f"{params['order']}:"]
    if params["unit_sparsity"]:
        parts.append(f"units -{params['unit_sparsity']:.0%},")
    parts.append(f"{params['sparsity']:.0%} sparse")
    if params["bits"] is not None:
        method = "k-means" if params["method"] == "kmeans" else "linear"
        tuned = "" if params["finetuned"] or params["method"] == "linear" else " untuned"
        parts[-1] += ","
        parts.append(f"{method}{tuned} {params['bits']} bits")
    return " ".join(parts)


def model_sha256(model: nn.Module) -> str:
    """SHA-256 of a model's state (names, dtypes, shapes and values): a key for what was made from it."""
    digest = hashlib.sha256()
    for name, value in model.state_dict().items():
        digest.update(f"{name}:{value.dtype}:{tuple(value.shape)}".encode())
        digest.update(value.detach().contiguous().cpu().numpy().tobytes())
    return digest.hexdigest()


def file_bytes(model: nn.Module, stage: str, shared: list | None = None, index_bits: int = 5) -> int:
    """The size of ``model``'s file at ``stage`` (written to a temporary folder, then removed)."""
    with tempfile.TemporaryDirectory() as folder:
        report = storage.save_compressed(model, Path(folder) / "model.dc", stage=stage, shared=shared,
                                         index_bits=index_bits)
        return int(report.bytes)


def _correct(models: Sequence[nn.Module], X: Tensor, targets: Tensor) -> np.ndarray:
    rows = [(predict_logits(m, X).argmax(dim=1) == targets).numpy() for m in models]  # (N,) each
    return np.stack(rows)  # (S, N) bool


class _Collector:
    """Accumulates one row per seed for each arm, in the order the arms are first seen."""

    def __init__(self, split: DigitsSplit, index_bits: int) -> None:
        self.split, self.index_bits = split, index_bits
        self.rows: dict[tuple, dict] = {}

    def add(self, params: dict, model: nn.Module, stage: str, shared: list | None = None) -> None:
        key = tuple(sorted(params.items(), key=lambda kv: kv[0]))
        entry = self.rows.setdefault(key, {"params": dict(params), "val": [], "test": [], "bytes": []})
        entry["val"].append(_correct([model], self.split.X_val, self.split.y_val)[0])
        entry["test"].append(_correct([model], self.split.X_test, self.split.y_test)[0])
        entry["bytes"].append(file_bytes(model, stage, shared, self.index_bits))

    def arms(self, seeds: tuple[int, ...]) -> list[Arm]:
        out = []
        for entry in self.rows.values():
            rows = len(entry["val"])
            arm_seeds = seeds if rows == len(seeds) else tuple(seeds[:rows])
            out.append(Arm(entry["params"], Runs(np.stack(entry["val"]), arm_seeds),
                           Runs(np.stack(entry["test"]), arm_seeds), tuple(entry["bytes"])))
        return out


def _pipeline_arms(collector: _Collector, order: str, stages: dict, unit_sparsity: float) -> None:
    """Record every stage of :func:`compress_student` (and the untuned weight sharing of each snapshot)."""
    base = {"kind": "pipeline", "order": order, "unit_sparsity": unit_sparsity}
    for (sparsity, bits), (model, shared) in stages.items():
        if bits is None:
            stage = "pruned" if sparsity > 0 else "dense"
            collector.add({**base, "sparsity": sparsity, "bits": None, "method": None, "finetuned": False,
                           "stage": stage}, model, stage)
            for method, untuned_bits in UNTUNED:  # weight sharing alone, no fine-tuning
                plain = share_weights(model, untuned_bits, method=method)
                collector.add({**base, "sparsity": sparsity, "bits": untuned_bits, "method": method,
                               "finetuned": False, "stage": "huffman"}, apply_shared(model, plain), "huffman", plain)
        else:
            collector.add({**base, "sparsity": sparsity, "bits": bits, "method": "kmeans", "finetuned": True,
                           "stage": "huffman"}, model, "huffman", shared)


def choose_teacher(arms: Sequence[Arm], teacher: Arm, tolerance: float = 1.0) -> Arm:
    """Order (b)'s compressed teacher, chosen on validation: the smallest file within ``tolerance`` points."""
    within = [a for a in arms if a.val.mean >= teacher.val.mean - tolerance]
    if not within:  # nothing holds the line: the most accurate one
        return max(arms, key=lambda a: a.val.mean)
    return min(within, key=lambda a: (a.mean_bytes, -a.val.mean))


def sweep_key(recipe: Mapping[str, Any], teacher: nn.Module) -> dict:
    """What a cached sweep must have been made with to be reused."""
    return {
        "format": _FORMAT,
        "storage_format": int(storage.FORMAT_VERSION),
        "recipe": copy.deepcopy(dict(recipe)),
        "teacher_sha256": model_sha256(teacher),
        "data_sha256": DIGITS_SHA256,
        "library_version": __version__,
        "torch_version": str(torch.__version__),
    }


def run_sweep(teacher: nn.Module, split: DigitsSplit, recipe: Mapping[str, Any] = PIPELINE_RECIPE,
              *, progress: bool = False) -> Sweep:
    """Train, compress, evaluate and size every model of notebook 06 (minutes on two cores).

    Args:
        teacher: the teacher (``load_teacher``), used in eval mode and never modified.
        split: the digits split.
        recipe: :data:`~distill_lib.compression.pipeline.PIPELINE_RECIPE` or a smaller one of the same keys.
        progress: print one line per finished step.

    Returns:
        A :class:`Sweep`.
    """
    recipe = check_pipeline_recipe(recipe)
    if not isinstance(teacher, nn.Module):
        raise TypeError(f"teacher must be a torch.nn.Module, got {type(teacher).__name__}")
    if not isinstance(split, DigitsSplit):
        raise TypeError(f"split must be a DigitsSplit (from load_split()), got {type(split).__name__}")
    start = time.perf_counter()
    seeds = tuple(recipe["seeds"])
    X, y = split.X_train, split.y_train
    say = print if progress else (lambda *_: None)
    teacher = copy.deepcopy(teacher).eval()
    teacher_logits = predict_logits(teacher, X)  # (N, 10)

    fixed = _Collector(split, recipe["index_bits"])  # models without seeds: one row
    fixed.add({"kind": "teacher", "stage": "dense"}, teacher, "dense")
    set_seed(0)
    teacher_stages = compress_teacher(teacher, X, y, recipe)
    for (sparsity, bits), (model, shared) in teacher_stages.items():
        fixed.add({"kind": "teacher compressed", "sparsity": sparsity, "bits": bits, "stage": "huffman"},
                  model, "huffman", shared)
    fixed_arms = fixed.arms((0,))
    teacher_arm = fixed_arms[0]
    chosen = choose_teacher(fixed_arms[1:], teacher_arm)
    small_teacher = teacher_stages[(chosen.params["sparsity"], chosen.params["bits"])][0]
    small_logits = predict_logits(small_teacher, X)
    say(f"order (b): compressed teacher {chosen.name}, val {chosen.val.mean:.2f} %, {chosen.mean_bytes:.0f} bytes "
        f"({time.perf_counter() - start:.0f} s)")

    per_seed = _Collector(split, recipe["index_bits"])
    for seed in seeds:
        for width in recipe["widths"]:
            sizes = [recipe["student_sizes"][0], width, recipe["student_sizes"][-1]]
            scratch, _ = train_student(X, y, sizes=sizes, seed=seed, augment_copies=recipe["augment_copies"])
            per_seed.add({"kind": "dense", "width": width, "distilled": False, "stage": "dense"}, scratch, "dense")
            distilled, _ = train_student(X, y, teacher=teacher, augment_copies=recipe["augment_copies"],
                                         temperature=recipe["temperature"], lam=recipe["lam"], sizes=sizes, seed=seed)
            per_seed.add({"kind": "dense", "width": width, "distilled": True, "stage": "dense"}, distilled, "dense")
        for order, source, logits in (("a", teacher, teacher_logits), ("b", small_teacher, small_logits)):
            student, _ = train_student(X, y, teacher=source, augment_copies=recipe["augment_copies"],
                                       temperature=recipe["temperature"], lam=recipe["lam"],
                                       sizes=recipe["student_sizes"], seed=seed)
            for unit_sparsity in recipe["unit_sparsities"]:
                stages = compress_student(student, X, y, logits, recipe, unit_sparsity)
                _pipeline_arms(per_seed, order, stages, unit_sparsity)
        say(f"seed {seed} done ({time.perf_counter() - start:.0f} s)")

    teacher_choice = {"sparsity": chosen.params["sparsity"], "bits": chosen.params["bits"],
                      "val_accuracy": chosen.val.mean, "bytes": int(chosen.bytes[0])}
    return Sweep(fixed_arms + per_seed.arms(seeds), sweep_key(recipe, teacher), time.perf_counter() - start,
                 teacher_choice)


# ---------------------------------------------------------------------------------- the cache


def _pack(runs: Runs) -> dict:
    return {"bits": torch.from_numpy(np.packbits(runs.correct, axis=1)), "n": int(runs.correct.shape[1]),
            "seeds": list(runs.seeds)}


def _unpack(entry: Mapping[str, Any]) -> Runs:
    packed = entry["bits"].numpy()
    correct = np.unpackbits(packed, axis=1, count=int(entry["n"])).astype(bool)
    return Runs(correct, tuple(int(s) for s in entry["seeds"]))


def save_sweep(sweep: Sweep, path: str | os.PathLike = DEFAULT_SWEEP_PATH) -> Path:
    """Write the sweep atomically (a temporary file, then a rename); a few hundred kB."""
    if not isinstance(sweep, Sweep):
        raise TypeError(f"sweep must be a Sweep (from run_sweep), got {type(sweep).__name__}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": _FORMAT,
        "key": sweep.key,
        "seconds": float(sweep.seconds),
        "teacher_choice": dict(sweep.teacher_choice),
        "arms": [{"params": dict(a.params), "val": _pack(a.val), "test": _pack(a.test),
                  "bytes": torch.tensor(a.bytes, dtype=torch.int64)} for a in sweep.arms],
    }
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    os.close(fd)
    try:
        torch.save(payload, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def _read(path: Path, key: dict, split: DigitsSplit) -> tuple[str | None, Sweep | None]:
    """``(None, sweep)`` from a usable cache file, else ``(reason, None)``."""
    if not path.is_file():
        return "there is no file there", None
    if path.stat().st_size == 0:
        return "the file is empty", None
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # corrupt, truncated or not a safe file
        return f"it could not be read ({type(err).__name__}: {(str(err).splitlines() or [''])[0][:120]})", None
    if not isinstance(payload, dict) or payload.get("format") != _FORMAT:
        return "it is not a sweep file of this format", None
    if payload.get("key") != key:
        stored = payload.get("key") if isinstance(payload.get("key"), dict) else {}
        differ = sorted(k for k in set(key) | set(stored) if stored.get(k) != key.get(k))
        return f"it was made with another {', '.join(differ) or 'key'}", None
    try:
        arms = [Arm(dict(e["params"]), _unpack(e["val"]), _unpack(e["test"]),
                    tuple(int(b) for b in e["bytes"].tolist())) for e in payload["arms"]]
        sweep = Sweep(arms, payload["key"], float(payload["seconds"]), dict(payload["teacher_choice"]))
        for arm in arms:
            if arm.val.correct.shape[1] != len(split.y_val) or arm.test.correct.shape[1] != len(split.y_test):
                return f"arm {arm.name!r} has outcomes for another number of images", None
            if len(arm.bytes) != len(arm.val.seeds) or min(arm.bytes) <= 0:
                return f"arm {arm.name!r} has bad file sizes {arm.bytes}", None
        sweep.teacher  # exactly one teacher arm
    except Exception as err:  # whatever else is malformed: rebuild rather than crash
        return f"its contents are malformed ({type(err).__name__}: {str(err)[:120]})", None
    return None, sweep


def load_sweep(
    teacher: nn.Module,
    split: DigitsSplit | None = None,
    *,
    path: str | os.PathLike = DEFAULT_SWEEP_PATH,
    recipe: Mapping[str, Any] = PIPELINE_RECIPE,
    save: bool = True,
    progress: bool = False,
) -> Sweep:
    """The cached sweep, or a warning and a rebuild (:func:`run_sweep`) when the cache is unusable.

    Args:
        teacher: the teacher the sweep must have been made from (its weights are part of the key).
        split: the digits split (loaded if not given).
        path: the cache file.
        recipe: the recipe the sweep must have been made with.
        save: write a rebuilt sweep back to ``path``.
        progress: print progress while rebuilding.

    Returns:
        A :class:`Sweep`.

    Raises:
        TypeError: a bad argument. (A bad *file* is never an error: a ``UserWarning`` and a rebuild.)

    Example::

        >>> sweep = load_sweep(teacher, split)
        >>> print(sweep.teacher.test.interval())
    """
    if not isinstance(teacher, nn.Module):
        raise TypeError(f"teacher must be a torch.nn.Module, got {type(teacher).__name__}")
    if split is not None and not isinstance(split, DigitsSplit):
        raise TypeError(f"split must be a DigitsSplit (from load_split()), got {type(split).__name__}")
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or a path, got {type(path).__name__}")
    for name, flag in (("save", save), ("progress", progress)):
        if not isinstance(flag, bool):
            raise TypeError(f"{name} must be True or False, got {flag!r}")
    recipe = check_pipeline_recipe(recipe)
    split = split if split is not None else load_split()
    path = Path(path)
    reason, sweep = _read(path, sweep_key(recipe, teacher), split)
    if sweep is not None:
        return sweep
    warnings.warn(f"Not using the cached pipeline sweep at {path}: {reason}. Rebuilding it "
                  f"(several minutes on two cores; `make pipeline` does it ahead of time).", stacklevel=2)
    sweep = run_sweep(teacher, split, recipe, progress=progress)
    if save:
        try:
            save_sweep(sweep, path)
        except OSError as err:
            warnings.warn(f"Could not write the rebuilt sweep to {path}: {err}", stacklevel=2)
    return sweep


def main() -> None:
    """Rebuild the cache (``python -m distill_lib.compression``, ``make pipeline``)."""
    from ..teacher import load_teacher

    torch.set_num_threads(1)
    split = load_split()
    teacher, _ = load_teacher(split=split)
    sweep = run_sweep(teacher, split, progress=True)
    path = save_sweep(sweep)
    print(f"saved {path} ({path.stat().st_size:,} bytes, {len(sweep.arms)} arms, {sweep.seconds:.0f} s)")


if __name__ == "__main__":
    main()
