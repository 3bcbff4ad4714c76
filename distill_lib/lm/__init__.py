"""Language models for notebook 10 (distilling a character-level language model).

- :mod:`~distill_lib.lm.data`: Jane Austen's six novels (``data/austen.tsv.gz``), checked against
  their SHA-256 on every load, split by chapters into train / validation / test text, and the
  character-level :class:`~distill_lib.lm.data.Alphabet` (``encode``/``decode``).
- :mod:`~distill_lib.lm.model`: a nanoGPT-like character transformer (causal self-attention) and sampling.
- :mod:`~distill_lib.lm.teacher`: the teacher's recipe, its training, bits per character, and the
  checked cache ``data/lm_teacher.pt``.
- :mod:`~distill_lib.lm.students`: the GRU and the small transformer students, and fast sampling.
- :mod:`~distill_lib.lm.distill`: the losses (word-level top-k KL, reverse KL, masked cross-entropy).
- :mod:`~distill_lib.lm.outputs`: the teacher's cached outputs (top-k probabilities, teacher-written text).
- :mod:`~distill_lib.lm.train`: the four arms (text, word, sequence, on-policy) and the training loop.
- :mod:`~distill_lib.lm.quality`: the quality of generated text, and generation speed.
- :mod:`~distill_lib.lm.sweep`: the cached experiment ``data/lm_sweep.pt``.
- :mod:`~distill_lib.lm.report`: the toy picture, the results picture and the generation widget.

Everything public is importable from here: ``from distill_lib.lm import load_austen_split``.
"""

from . import data, distill, model, outputs, quality, students, sweep, teacher, train
from .data import *
from .distill import *
from .model import *
from .outputs import *
from .quality import *
from .students import *
from .sweep import *
from .teacher import *
from .train import *

__all__ = [*data.__all__, *model.__all__, *teacher.__all__, *students.__all__, *distill.__all__,
           *outputs.__all__, *train.__all__, *quality.__all__, *sweep.__all__]
