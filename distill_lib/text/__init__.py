"""Text: data and models for notebook 09.

- :mod:`~distill_lib.text.data`: WordNet 3.0's noun glosses (``data/wordnet_glosses.tsv.gz``),
  checked against their SHA-256 on every load, split deterministically into a labelled
  train / validation / test set over ten lexicographer categories and an unlabelled transfer set.

Everything public is importable from here: ``from distill_lib.text import load_text_split``.
"""

from . import data
from .data import CATEGORIES, GLOSSES_SHA256, Gloss, TextSplit, load_glosses, load_text_split

__all__ = [
    *data.__all__,
]
