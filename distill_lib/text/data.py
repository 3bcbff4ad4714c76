"""Notebook 09's data: WordNet 3.0's noun glosses, classified into WordNet's own categories.

Every noun synset of WordNet 3.0 (G. A. Miller, *WordNet: A Lexical Database for English*,
Communications of the ACM 38(11), 1995; C. Fellbaum (ed.), *WordNet: An Electronic Lexical
Database*, MIT Press, 1998) has a short definition (its *gloss*) and belongs to one
*lexicographer file* (lexnames(5WN)) such as ``noun.animal`` or ``noun.artifact``. The task:
read a definition, name its category.

``data/wordnet_glosses.tsv.gz`` holds 81,481 cleaned glosses (definitions only, leading domain
tags such as "(botany)" removed, duplicates dropped), exported once by
``python tools/export_wordnet.py`` from Debian's ``wordnet-base`` package; see ``data/README.md``
for the data card. Nothing is downloaded here.

- :func:`load_glosses`: every gloss as a :class:`Gloss` ``(offset, category, text)``, after
  checking the file's SHA-256 against :data:`GLOSSES_SHA256`.
- :func:`load_text_split`: the labelled train / validation / test split over the ten
  :data:`CATEGORIES` (stratified, 60 / 20 / 20 per class) and the unlabelled **transfer set**,
  the glosses of every other noun category, as a :class:`TextSplit`.

Like the digits' split (:func:`distill_lib.data.load_split`), the split uses no random number
generator: within each category, glosses are ordered by the SHA-256 of ``"{seed}:{offset}"``
(the synset offset, stable across exports); the first 20 % go to test, the next 20 % to
validation, the rest to train. Each part is then put in the order of ``"{seed + 1}:{offset}"``,
so its first rows are not one category's.
"""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor

from .._validation import check_int
from ..data import _hash_order

__all__ = [
    "GLOSSES_SHA256",
    "CATEGORIES",
    "Gloss",
    "TextSplit",
    "load_glosses",
    "load_text_split",
]

#: SHA-256 of ``data/wordnet_glosses.tsv.gz`` as shipped (the bytes of the file).
GLOSSES_SHA256 = "345bd286fb4a59c344c847618a160ab689d2b1d9a88b050b2d64c603f93a7091"

#: The ten labelled categories (WordNet lexicographer files); label ``i`` is ``CATEGORIES[i]``.
CATEGORIES = (
    "noun.animal",
    "noun.plant",
    "noun.food",
    "noun.artifact",
    "noun.person",
    "noun.location",
    "noun.body",
    "noun.substance",
    "noun.act",
    "noun.communication",
)

_GLOSSES_FILE = Path(__file__).resolve().parents[2] / "data" / "wordnet_glosses.tsv.gz"
_HEADER = "synset_offset\tcategory\tgloss"
_TEST_FRACTION = 0.2
_VAL_FRACTION = 0.2


class Gloss(NamedTuple):
    """One noun synset: its offset in ``data.noun``, its category (e.g. ``"noun.animal"``), its definition."""

    offset: int
    category: str
    text: str


@dataclass(frozen=True)
class TextSplit:
    """The labelled train / validation / test glosses and the unlabelled transfer set.

    ``texts_*`` are tuples of definitions; ``y_*`` int64 tensors ``(N,)`` of indices into
    :data:`CATEGORIES`, one per text. ``texts_transfer`` are the glosses of the other
    noun categories (``noun.attribute``, ``noun.state``, ...), with no label at all.
    """

    texts_train: tuple[str, ...]
    y_train: Tensor
    texts_val: tuple[str, ...]
    y_val: Tensor
    texts_test: tuple[str, ...]
    y_test: Tensor
    texts_transfer: tuple[str, ...]

    @property
    def sizes(self) -> dict[str, int]:
        """Glosses per part; seed 0: ``{"train": 36398, "val": 12131, "test": 12131, "transfer": 20821}``."""
        return {"train": len(self.texts_train), "val": len(self.texts_val),
                "test": len(self.texts_test), "transfer": len(self.texts_transfer)}


def load_glosses() -> list[Gloss]:
    """Load every exported noun gloss, after checking the file against :data:`GLOSSES_SHA256`.

    Returns:
        A list of :class:`Gloss`, sorted by synset offset: the ten labelled :data:`CATEGORIES`
        and every other noun category, written as in WordNet (``"noun.state"``, ...).

    Raises:
        RuntimeError: ``data/wordnet_glosses.tsv.gz`` is missing, or its SHA-256 is not
            :data:`GLOSSES_SHA256` (the shipped data changed, so results would not be comparable).
        ValueError: the file has the right checksum but is not the expected TSV (names the line).

    Example::

        >>> glosses = load_glosses()
        >>> glosses[0].category
        'noun.Tops'
    """
    path = _GLOSSES_FILE
    if not path.is_file():
        raise RuntimeError(f"the WordNet glosses are missing at {path}; "
                           "they ship with the workbook (python tools/export_wordnet.py rebuilds them)")
    raw = path.read_bytes()
    checksum = hashlib.sha256(raw).hexdigest()
    if checksum != GLOSSES_SHA256:
        raise RuntimeError(
            f"{path} has SHA-256 {checksum}, expected {GLOSSES_SHA256}: "
            "the shipped data changed, so results would not be comparable"
        )
    try:
        lines = gzip.decompress(raw).decode("utf-8").splitlines()
    except (OSError, EOFError, UnicodeDecodeError) as error:
        raise ValueError(f"{path} is not gzip'd UTF-8 text: {error}") from None
    if not lines or lines[0] != _HEADER:
        raise ValueError(f"{path}: the first line must be the header {_HEADER!r}")
    glosses = []
    for number, line in enumerate(lines[1:], start=2):
        fields = line.split("\t")
        if len(fields) != 3 or not fields[0].isdigit() or not fields[2]:
            raise ValueError(f"{path} line {number} is not 'offset<TAB>category<TAB>gloss': {line[:80]!r}")
        glosses.append(Gloss(int(fields[0]), fields[1], fields[2]))
    return glosses


def load_text_split(seed: int = 0) -> TextSplit:
    """Deterministic stratified split of the ten categories (60 / 20 / 20) and the transfer set.

    Within each of the :data:`CATEGORIES`, glosses are ordered by ``sha256(f"{seed}:{offset}")``;
    the first 20 % (rounded) go to test, the next 20 % to validation, the rest to train. The
    transfer set holds every gloss of the other noun categories, unlabelled. Each part is
    ordered by ``sha256(f"{seed + 1}:{offset}")``, so its first rows mix the categories.

    Args:
        seed: selects a different (but equally deterministic) split, an integer >= 0;
            the workbook always uses ``seed=0``.

    Returns:
        A :class:`TextSplit`; the four parts are disjoint.

    Raises:
        TypeError: ``seed`` is not an integer (booleans refused).
        ValueError: ``seed`` < 0.
        RuntimeError: the data file is missing or changed (see :func:`load_glosses`).

    Example::

        >>> split = load_text_split()
        >>> split.sizes
        {'train': 36398, 'val': 12131, 'test': 12131, 'transfer': 20821}
        >>> split.texts_train[0], CATEGORIES[split.y_train[0]]
        ('an oboe pitched a minor third lower than the ordinary oboe; used to perform baroque music', 'noun.artifact')
    """
    seed = check_int("seed", seed, low=0)
    glosses = load_glosses()
    offsets = np.array([g.offset for g in glosses], dtype=np.int64)  # (N,)
    label_of = {name: i for i, name in enumerate(CATEGORIES)}
    labels = np.array([label_of.get(g.category, -1) for g in glosses], dtype=np.int64)  # (N,), -1 = other
    parts: dict[str, list[np.ndarray]] = {"train": [], "val": [], "test": []}
    for c in range(len(CATEGORIES)):
        rows = np.flatnonzero(labels == c)
        order = _hash_rows(rows, offsets, seed)
        n_test = round(len(order) * _TEST_FRACTION)
        n_val = round(len(order) * _VAL_FRACTION)
        parts["test"].append(order[:n_test])
        parts["val"].append(order[n_test : n_test + n_val])
        parts["train"].append(order[n_test + n_val :])
    parts["transfer"] = [np.flatnonzero(labels == -1)]
    out: dict[str, object] = {}
    for name, chunks in parts.items():
        rows = np.concatenate(chunks)
        rows = _hash_rows(rows, offsets, seed + 1)
        out[f"texts_{name}"] = tuple(glosses[i].text for i in rows)
        if name != "transfer":
            out[f"y_{name}"] = torch.from_numpy(labels[rows].copy())  # (n,) int64
    return TextSplit(**out)


def _hash_rows(rows: np.ndarray, offsets: np.ndarray, seed: int) -> np.ndarray:
    """``rows`` reordered by ``sha256(f"{seed}:{offset}")`` of their synset offsets (the digits' rule)."""
    row_of = {int(offsets[r]): int(r) for r in rows}
    return np.array([row_of[int(o)] for o in _hash_order(offsets[rows], seed)], dtype=np.int64)
