"""Compression end to end: Deep Compression's storage, weight sharing, and the whole pipeline (notebook 06).

Notebook 06 compresses the distilled student as far as it goes, and asks whether the order of
the steps matters. One file per idea, in the order of the notebook:

- :mod:`~distill_lib.compression.pipeline` (sections 1, 4): the two orders, distil then compress
  (``compress_student``) and compress the teacher first (``compress_teacher``);
- :mod:`~distill_lib.compression.sparse_index` (section 2): where the kept weights are, as CSR or as
  the paper's relative indices;
- :mod:`~distill_lib.compression.weight_sharing` (section 2): linear codes and k-means codebooks,
  and fine-tuning the codebook;
- :mod:`~distill_lib.compression.huffman` (section 2): Huffman codes for the codes and the indices;
- :mod:`~distill_lib.compression.storage` (section 2): one binary file per stage, read back exactly;
- :mod:`~distill_lib.compression.sweep` (sections 3-5): every model over seeds, evaluated and sized,
  cached in ``data/``;
- :mod:`~distill_lib.compression.frontier` (section 5): the Pareto frontier, and the choices made on
  validation;
- :mod:`~distill_lib.compression.widget` (section 6): the sparsity and bits sliders.

Deployment on ONNX Runtime is :mod:`distill_lib.deployment`. Everything public is importable from
here: ``from distill_lib.compression import save_compressed``.

Reference: S. Han, H. Mao, W. J. Dally, *Deep Compression: Compressing Deep Neural Networks with
Pruning, Trained Quantization and Huffman Coding*, ICLR 2016.
"""

from . import frontier, huffman, pipeline, sparse_index, storage, sweep, weight_sharing, widget
from .frontier import *  # noqa: F403
from .huffman import *  # noqa: F403
from .pipeline import *  # noqa: F403
from .sparse_index import *  # noqa: F403
from .storage import *  # noqa: F403
from .sweep import *  # noqa: F403
from .weight_sharing import *  # noqa: F403
from .widget import *  # noqa: F403

__all__ = [
    *pipeline.__all__,
    *sparse_index.__all__,
    *weight_sharing.__all__,
    *huffman.__all__,
    *storage.__all__,
    *sweep.__all__,
    *frontier.__all__,
    *widget.__all__,
]
