"""Language models: data for notebook 10 (distilling a character-level language model).

- :mod:`~distill_lib.lm.data`: Jane Austen's six novels (``data/austen.tsv.gz``), checked against
  their SHA-256 on every load, split by chapters into train / validation / test text, and the
  character-level :class:`~distill_lib.lm.data.Alphabet` (``encode``/``decode``).

Everything public is importable from here: ``from distill_lib.lm import load_austen_split``.
"""

from .data import (
    ALPHABET,
    AUSTEN_SHA256,
    BOOKS,
    Alphabet,
    AustenSplit,
    Chapter,
    load_austen,
    load_austen_split,
)

__all__ = [  # the same names as data.__all__ (tests/test_lm_data.py checks)
    "ALPHABET",
    "AUSTEN_SHA256",
    "BOOKS",
    "Alphabet",
    "AustenSplit",
    "Chapter",
    "load_austen",
    "load_austen_split",
]
