"""Language models for notebook 10 (distilling a character-level language model).

- :mod:`~distill_lib.lm.data`: Jane Austen's six novels (``data/austen.tsv.gz``), checked against
  their SHA-256 on every load, split by chapters into train / validation / test text, and the
  character-level :class:`~distill_lib.lm.data.Alphabet` (``encode``/``decode``).
- :mod:`~distill_lib.lm.model`: a nanoGPT-like character transformer (causal self-attention) and sampling.
- :mod:`~distill_lib.lm.teacher`: the teacher's recipe, its training, bits per character, and the
  checked cache ``data/lm_teacher.pt``.

Everything public is importable from here: ``from distill_lib.lm import load_austen_split``.
"""

from . import data, model, teacher
from .data import *
from .model import *
from .teacher import *

__all__ = [*data.__all__, *model.__all__, *teacher.__all__]
