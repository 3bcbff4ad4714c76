"""The data: scikit-learn's bundled copy of the UCI optical digits, split and ready.

1,797 greyscale 8x8 images of handwritten digits, pixel values 0..16, ten
classes. Loaded from the copy that scikit-learn ships (no network), checked
against a SHA-256 checksum, scaled to ``[0, 1]`` and split deterministically
and stratified into train / validation / test. See ``data/README.md`` for the
data card.

The split does not depend on any random number generator's stream (which may
change between library versions): within each class, examples are ordered by
the SHA-256 of ``"{seed}:{index}"`` and the first 20% go to test, the next 20%
to validation, the rest to train.
"""

from __future__ import annotations

import hashlib
import importlib.util
import math
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ._validation import check_finite_tensor, check_int

__all__ = [
    "DIGITS_SHA256",
    "NUM_CLASSES",
    "NUM_FEATURES",
    "DigitsSplit",
    "LimitedLabels",
    "load_digits",
    "load_split",
    "digits_checksum",
    "limited_labels",
    "omit_class",
    "augment",
]

#: SHA-256 of the raw pixels (uint8, 1797x64, row-major) followed by the labels (uint8).
DIGITS_SHA256 = "87ff0c9e40dc7e2c0e34e7257799c2e3f3aec1a016363bb11cad869ec428a826"
NUM_CLASSES = 10
NUM_FEATURES = 64
_TEST_FRACTION = 0.2
_VAL_FRACTION = 0.2


def digits_checksum(pixels: np.ndarray, labels: np.ndarray) -> str:
    """SHA-256 of ``pixels`` and ``labels`` as uint8 bytes (the data card's checksum).

    Raises:
        ValueError: ``pixels`` not ``(N, 64)`` or ``labels`` not ``(N,)``.
    """
    pixels, labels = np.asarray(pixels), np.asarray(labels)
    if pixels.ndim != 2 or pixels.shape[1] != NUM_FEATURES:
        raise ValueError(f"pixels must have shape (N, {NUM_FEATURES}), got {pixels.shape}")
    if labels.shape != (len(pixels),):
        raise ValueError(f"labels must have shape ({len(pixels)},), one per image, got {labels.shape}")
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(pixels, dtype=np.uint8).tobytes())
    h.update(np.ascontiguousarray(labels, dtype=np.uint8).tobytes())
    return h.hexdigest()


def _digits_file() -> Path:
    """Where scikit-learn keeps its copy of the digits (found without importing scikit-learn, ~1 s)."""
    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("scikit-learn is not installed; it ships the digits (pip install scikit-learn)")
    return Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data" / "digits.csv.gz"


def load_digits() -> tuple[Tensor, Tensor]:
    """Load all 1,797 digits from scikit-learn's bundled copy and verify the checksum.

    Reads scikit-learn's ``datasets/data/digits.csv.gz`` directly (the file behind
    ``sklearn.datasets.load_digits``; one row per image, 64 pixels then the label).

    Returns:
        ``(X, y)``: ``X`` float32 of shape ``(1797, 64)`` scaled to ``[0, 1]``
        (pixel / 16), ``y`` int64 of shape ``(1797,)`` with values in ``0..9``.

    Raises:
        RuntimeError: scikit-learn or its digits file is missing, or the data does
            not match :data:`DIGITS_SHA256`.
    """
    path = _digits_file()
    if not path.is_file():
        raise RuntimeError(f"scikit-learn's digits file is missing at {path}; reinstall scikit-learn")
    table = np.loadtxt(path, delimiter=",", dtype=np.float64)  # (1797, 65)
    pixels = table[:, :-1].astype(np.uint8)  # (1797, 64), 0..16
    labels = table[:, -1].astype(np.uint8)  # (1797,)
    checksum = digits_checksum(pixels, labels)
    if checksum != DIGITS_SHA256:
        raise RuntimeError(
            f"scikit-learn's digits have checksum {checksum}, expected {DIGITS_SHA256}; "
            "the bundled data changed, so results would not be comparable"
        )
    X = torch.from_numpy(pixels.astype(np.float32) / 16.0)  # (1797, 64) in [0, 1]
    y = torch.from_numpy(labels.astype(np.int64))  # (1797,)
    return X, y


@dataclass(frozen=True)
class DigitsSplit:
    """Train / validation / test tensors, ready for full-batch training.

    ``X_*`` are float32 ``(N, 64)`` in ``[0, 1]``; ``y_*`` int64 ``(N,)``.
    """

    X_train: Tensor
    y_train: Tensor
    X_val: Tensor
    y_val: Tensor
    X_test: Tensor
    y_test: Tensor

    @property
    def sizes(self) -> dict[str, int]:
        """Number of examples in each part, e.g. ``{"train": 1079, "val": 359, "test": 359}``."""
        return {"train": len(self.y_train), "val": len(self.y_val), "test": len(self.y_test)}


def _hash_order(indices: np.ndarray, seed: int) -> np.ndarray:
    keys = [hashlib.sha256(f"{seed}:{i}".encode()).hexdigest() for i in indices]
    return indices[np.argsort(keys, kind="stable")]


def load_split(seed: int = 0) -> DigitsSplit:
    """Deterministic stratified split: 20% test, 20% validation, 60% train per class.

    Args:
        seed: selects a different (but equally deterministic) split; the
            workbook always uses ``seed=0``.

    Returns:
        A :class:`DigitsSplit`; with ``seed=0`` the sizes are 1079 / 359 / 359.

    Example::

        >>> split = load_split()
        >>> split.X_train.shape
        torch.Size([1079, 64])
    """
    seed = check_int("seed", seed, low=0)
    X, y = load_digits()
    labels = y.numpy()
    parts: dict[str, list[np.ndarray]] = {"train": [], "val": [], "test": []}
    for c in range(NUM_CLASSES):
        idx = _hash_order(np.flatnonzero(labels == c), seed)
        n_test = round(len(idx) * _TEST_FRACTION)
        n_val = round(len(idx) * _VAL_FRACTION)
        parts["test"].append(idx[:n_test])
        parts["val"].append(idx[n_test : n_test + n_val])
        parts["train"].append(idx[n_test + n_val :])
    # Interleave classes in a hash order too, so "the first k of each class" is not "the first rows".
    out = {}
    for name, chunks in parts.items():
        idx = torch.from_numpy(_hash_order(np.concatenate(chunks), seed + 1))
        out[f"X_{name}"], out[f"y_{name}"] = X[idx], y[idx]
    return DigitsSplit(**out)


class LimitedLabels(NamedTuple):
    """A transfer set with few labels: labelled examples and unlabelled ones.

    ``y_unlabelled`` is kept only to *evaluate*; training on it would defeat the point.
    """

    X_labelled: Tensor
    y_labelled: Tensor
    X_unlabelled: Tensor
    y_unlabelled: Tensor


def limited_labels(X: Tensor, y: Tensor, per_class: int) -> LimitedLabels:
    """Keep the labels of the first ``per_class`` examples of each class, hide the rest.

    Args:
        X: inputs, ``(N, F)``.
        y: class indices, ``(N,)``.
        per_class: labels to keep per class, 1 <= per_class <= the smallest class size.

    Returns:
        A :class:`LimitedLabels` with ``10 * per_class`` labelled rows and the rest unlabelled.

    Raises:
        TypeError, ValueError: a bad ``X`` or ``y`` (e.g. a label outside [0, 9]), or
            ``per_class`` above the number of images of the rarest digit (named).

    Example::

        >>> split = load_split()
        >>> view = limited_labels(split.X_train, split.y_train, per_class=10)
        >>> view.X_labelled.shape, view.X_unlabelled.shape
        (torch.Size([100, 64]), torch.Size([979, 64]))
    """
    _check_xy(X, y)
    per_class = check_int("per_class", per_class, low=1)
    counts = torch.bincount(y, minlength=NUM_CLASSES)  # (10,)
    smallest = int(counts.min())
    if per_class > smallest:
        digit = int(counts.argmin())
        raise ValueError(f"per_class={per_class} is more than the {smallest} image(s) of digit {digit} in y; "
                         f"allowed: [1, {smallest}]")
    keep = torch.zeros(len(y), dtype=torch.bool)
    for c in range(NUM_CLASSES):
        keep[torch.nonzero(y == c).flatten()[:per_class]] = True
    return LimitedLabels(X[keep], y[keep], X[~keep], y[~keep])


def omit_class(X: Tensor, y: Tensor, digit: int) -> tuple[Tensor, Tensor]:
    """Drop every example of one class (Hinton et al. 2015, section 3: the omitted-3 experiment).

    Args:
        X: inputs, ``(N, F)``.
        y: class indices, ``(N,)``.
        digit: the class to remove, in ``[0, 9]``.

    Raises:
        TypeError, ValueError: a bad ``X``, ``y`` (e.g. a label outside [0, 9]) or ``digit``, named in the message.

    Returns:
        ``(X_kept, y_kept)`` without any example of ``digit``.
    """
    _check_xy(X, y)
    digit = check_int("digit", digit, low=0, high=NUM_CLASSES - 1)
    keep = y != digit
    return X[keep], y[keep]


def _check_xy(X: object, y: object) -> tuple[Tensor, Tensor]:
    """Images ``X`` (N, F), finite floats, and labels ``y`` (N,), int64 digits in [0, 9]; names the one at fault."""
    if not isinstance(X, Tensor):
        raise TypeError(f"X must be a torch.Tensor of images as rows, got {type(X).__name__}")
    if not isinstance(y, Tensor):
        raise TypeError(f"y must be a torch.Tensor of labels, got {type(y).__name__}")
    if X.ndim != 2:
        raise ValueError(f"X must have shape (N, F), images as rows, got {tuple(X.shape)}")
    check_finite_tensor("X", X, what="pixels")
    if y.dtype != torch.int64:
        raise TypeError(f"y must hold int64 class indices, got dtype={y.dtype}")
    if y.shape != (len(X),):
        raise ValueError(f"y must have shape ({len(X)},), one label per row of X, got {tuple(y.shape)}")
    bad = y[(y < 0) | (y >= NUM_CLASSES)]
    if len(bad):
        raise ValueError(f"y contains the label {int(bad[0])}; labels must be digits in [0, {NUM_CLASSES - 1}]")
    return X, y


def augment(X: Tensor, y: Tensor, copies: int, seed: int = 0) -> tuple[Tensor, Tensor]:
    """Add ``copies`` jittered copies of every image: small random rotations, scalings and shifts.

    Each copy draws a rotation of up to ±12 degrees, a scaling of up to ±10% and a
    shift of up to an eighth of the image, resampled bilinearly
    (``F.affine_grid`` + ``F.grid_sample``). The teacher is trained this way;
    the students are not, so part of what the teacher passes on is this invariance.

    Args:
        X: images as rows, ``(N, 64)`` in ``[0, 1]``.
        y: class indices, ``(N,)``.
        copies: jittered copies to add per image (>= 0).
        seed: seeds the jitter, so the result is the same on every run.

    Returns:
        ``(X_aug, y_aug)`` of ``(1 + copies) * N`` rows, the originals first.

    Raises:
        TypeError, ValueError: a bad ``X`` (not finite ``(N, 64)`` floats), ``y``,
            ``copies`` or ``seed``, named in the message.
    """
    _check_xy(X, y)
    if X.shape[1] != NUM_FEATURES:
        raise ValueError(f"X must hold 8x8 images as rows of {NUM_FEATURES}, got shape {tuple(X.shape)}")
    copies = check_int("copies", copies, low=0)
    seed = check_int("seed", seed, low=0)
    generator = torch.Generator().manual_seed(seed)
    images = X.reshape(-1, 1, 8, 8)  # (N, 1, 8, 8)
    n = len(X)
    xs, ys = [X], [y]
    for _ in range(copies):
        def uniform(half_width: float) -> Tensor:
            return (torch.rand(n, generator=generator) * 2 - 1) * half_width  # (N,)

        angle, scale = uniform(math.radians(12)), 1 + uniform(0.1)
        shift_x, shift_y = uniform(0.25), uniform(0.25)
        cos, sin = scale * torch.cos(angle), scale * torch.sin(angle)
        theta = torch.stack(
            [torch.stack([cos, -sin, shift_x], dim=1), torch.stack([sin, cos, shift_y], dim=1)], dim=1
        )  # (N, 2, 3)
        grid = F.affine_grid(theta, list(images.shape), align_corners=False)  # (N, 8, 8, 2)
        jittered = F.grid_sample(images, grid, align_corners=False, padding_mode="zeros")  # (N, 1, 8, 8)
        xs.append(jittered.reshape(n, NUM_FEATURES))
        ys.append(y)
    return torch.cat(xs), torch.cat(ys)
