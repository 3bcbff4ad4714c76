"""Pruning: magnitude masks, prune-and-fine-tune, and removing hidden units (notebook 05).

Two ways to make a network sparse:

* **Unstructured magnitude pruning** zeroes the individual weights with the
  smallest absolute value, in each layer separately (``scope="layer"``) or over
  all layers at once (``scope="global"``), and keeps them at zero with PyTorch's
  pruning masks. The model keeps its size and its speed.
* **Structured pruning** removes whole hidden units. The result is a genuinely
  smaller dense network, e.g. 64-128-10 -> 64-64-10.

One file per idea, in the order of notebook 05:

- :mod:`~distill_lib.pruning.masks` (section 1): masks on plain tensors; exactly
  ``round(sparsity * n)`` weights pruned, ties broken by position, one layer or all.
- :mod:`~distill_lib.pruning.apply` (sections 1-2): masks on a model in place
  (``prune_magnitude``), folding them in (``make_permanent``), copying a masked
  model, counting zeros, and the one-shot accuracy and layer-sensitivity scans.
- :mod:`~distill_lib.pruning.finetune` (section 3): the sparsity schedule and
  iterative (or one-shot) pruning with cross-entropy or distillation fine-tuning.
- :mod:`~distill_lib.pruning.structured` (section 4): removing hidden units.
- :mod:`~distill_lib.pruning.size` (section 4): non-zero parameters and bytes, dense or CSR.
- :mod:`~distill_lib.pruning.preview` (section 5): the plain function behind the
  sparsity slider.

Timing goes through :mod:`distill_lib.timing`. Everything public is importable
from here: ``from distill_lib.pruning import prune_magnitude``.

References: S. Han, J. Pool, J. Tran, W. Dally, *Learning both Weights and
Connections for Efficient Neural Networks*, NeurIPS 2015 (prune, retrain,
repeat); H. Li et al., *Pruning Filters for Efficient ConvNets*, ICLR 2017
(remove whole units by the L1 norm of their weights).
"""

from . import apply, finetune, masks, preview, size, structured
from .apply import (
    accuracy_vs_sparsity,
    copy_model,
    layer_sensitivity,
    make_permanent,
    prunable_layers,
    prune_magnitude,
    weight_sparsity,
)
from .finetune import PruneHistory, prune_and_finetune, sparsity_schedule
from .masks import SCOPES, check_sparsity, global_magnitude_masks, magnitude_mask, smallest_k_mask
from .preview import PrunePreview, draw_preview, prune_preview
from .size import LAYOUTS, nonzero_parameters, storage_bytes
from .structured import remove_hidden_units, units_to_keep

__all__ = [
    *masks.__all__,
    *apply.__all__,
    *finetune.__all__,
    *structured.__all__,
    *size.__all__,
    *preview.__all__,
]
