"""Text: data and models for notebook 09.

- :mod:`~distill_lib.text.data`: WordNet 3.0's noun glosses (``data/wordnet_glosses.tsv.gz``),
  checked against their SHA-256 on every load, split deterministically into a labelled
  train / validation / test set over ten lexicographer categories and an unlabelled transfer set.
- :mod:`~distill_lib.text.encoder`: the teacher's encoder, all-MiniLM-L6-v2 written as a plain-PyTorch
  BERT and loaded from the pinned pip package's ``model.safetensors`` after a SHA-256 check; its
  tokenizer from ``tokenizers``.
- :mod:`~distill_lib.text.tokens`: the students' token ids (the teacher's WordPiece tokens, a
  vocabulary of the pieces seen in the training texts).
- :mod:`~distill_lib.text.students`: three students (bag of embeddings, GRU, 2-layer transformer).
- :mod:`~distill_lib.text.distill`: logit KD plus DistilBERT's cosine embedding loss, and the
  training loop that keeps the best checkpoint on validation.
- :mod:`~distill_lib.text.teacher`: the teacher (a head on the frozen MiniLM) and its cached outputs
  (``data/text_teacher.pt``: logits on every gloss, embedding codes on the students' glosses).
- :mod:`~distill_lib.text.sweep`: the experiment (3 students x scratch / KD / KD + cosine x few / all
  labels x 5 seeds, T, lambda and beta chosen on validation), cached in ``data/text_sweep.pt``.
- :mod:`~distill_lib.text.cost`: multiply-adds, bytes and sentences per second, teacher and students.
- :mod:`~distill_lib.text.report`: the pictures (accuracy vs speed, confusion matrix), the
  disagreements and the type-a-definition widget.

Everything public is importable from here: ``from distill_lib.text import load_text_split``.
"""

from . import cost, data, distill, encoder, report, students, sweep, teacher, tokens
from .data import (
    CATEGORIES,
    GLOSSES_SHA256,
    Gloss,
    TextSplit,
    load_glosses,
    load_text_split,
)
from .cost import *
from .distill import *
from .report import *
from .sweep import *
from .teacher import *
from .encoder import *
from .students import *
from .tokens import *

__all__ = [
    *data.__all__,
    *encoder.__all__,
    *tokens.__all__,
    *students.__all__,
    *distill.__all__,
    *teacher.__all__,
    *sweep.__all__,
    *report.__all__,
    *cost.__all__,
]
