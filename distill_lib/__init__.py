"""distill_lib: the helper library behind the knowledge-distillation workbook.

One module per concept, each introduced by a notebook:

- :mod:`distill_lib.data`: the digits, the split, transfer sets (notebook 00)
- :mod:`distill_lib.models`: MLPs and their size (notebook 00)
- :mod:`distill_lib.training`: ``set_seed``, ``fit``, ``evaluate`` (notebook 00)
- :mod:`distill_lib.teacher`: the cached teacher (notebook 00)
- :mod:`distill_lib.student`: the workbook's student and its training recipe (notebooks 01-05)
- :mod:`distill_lib.stats`: results over seeds, 95 % intervals, the one rule for "beyond noise" (every notebook)
- :mod:`distill_lib.plots`: accuracies as points with intervals (every notebook)
- :mod:`distill_lib.timing`: timing with ``torch.utils.benchmark``; speed ratios > 1 mean faster (04, 05)
- :mod:`distill_lib.losses`: logit matching, temperature softmax, KL, the combined and transfer-set losses (notebooks 01-03)
- :mod:`distill_lib.logit_matching`: centring logits, the MSE's offset and shape parts (notebook 01)
- :mod:`distill_lib.temperature`: entropy, soft targets, the high-temperature limit (notebook 02)
- :mod:`distill_lib.distillation`: transfer sets, the distillation loop and experiments (notebook 03)
- :mod:`distill_lib.quantization`: affine quantization, PTQ, QAT, int8 execution (notebook 04)
- :mod:`distill_lib.pruning`: magnitude masks, prune-and-fine-tune, removing hidden units (notebook 05)
- :mod:`distill_lib.widgets`: sliders over a live figure, safe to run headless
- :mod:`distill_lib.results`: recording a notebook's key numbers for the tests
"""

__version__ = "0.1.0"
