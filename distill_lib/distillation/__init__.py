"""Notebook 03's experiments: distillation against fair baselines, over seeds.

Each file is one idea of notebook 03 (accuracies in %, from :mod:`distill_lib.stats`;
the student, its recipe and its training loop live in :mod:`distill_lib.student`, the
losses in :mod:`distill_lib.losses`):

* ``transfer_set.py``: :class:`TransferSet` and :func:`make_transfer_set`, what a student is
  distilled on (sections 4-8);
* ``gradient_norms.py``: :func:`soft_term_gradient_norms`, why the soft term is multiplied
  by ``T**2`` (section 2);
* ``experiment.py``: :func:`run_experiment`, every arm trained once per seed and scored image
  by image (:class:`~distill_lib.stats.Runs`), the loop behind sections 4-7;
* ``arms.py``: :func:`choose_scratch_recipe` (a scratch student given its best chance, chosen on
  validation), :func:`full_label_arms` and :func:`few_label_arms` (sections 4 and 5);
* ``omitted_class.py``: :func:`omitted_class_experiment`, Hinton et al.'s omitted digit, its bias
  correction chosen on validation (:func:`choose_bias`, :func:`bias_candidates`) and the AUROC of
  its logit (:func:`one_vs_rest_auroc`) (section 6);
* ``grid.py``: :func:`temperature_lam_grid` and :class:`GridResult`, validation accuracy over a
  ``T x λ`` grid, each cell compared with labels-only training (section 7);
* ``widget.py``: :func:`train_and_score` and :func:`draw_student`, the plain functions behind the
  widget (section 8).
"""

from .arms import (
    SCRATCH_AUGMENT_COPIES,
    SCRATCH_LABEL_SMOOTHING,
    ScratchChoice,
    choose_scratch_recipe,
    few_label_arms,
    full_label_arms,
)
from .experiment import Arm, Experiment, check_seeds, run_experiment
from .gradient_norms import GradientNorms, soft_term_gradient_norms
from .grid import GridResult, temperature_lam_grid
from .omitted_class import (
    BIAS_STEP,
    OmittedClassArm,
    bias_candidates,
    choose_bias,
    omitted_class_experiment,
    one_vs_rest_auroc,
)
from .transfer_set import TransferSet, make_transfer_set
from .widget import WIDGET_EPOCHS, Scored, draw_student, train_and_score

__all__ = [
    "TransferSet",
    "make_transfer_set",
    "GradientNorms",
    "soft_term_gradient_norms",
    "Arm",
    "Experiment",
    "check_seeds",
    "run_experiment",
    "SCRATCH_AUGMENT_COPIES",
    "SCRATCH_LABEL_SMOOTHING",
    "ScratchChoice",
    "choose_scratch_recipe",
    "full_label_arms",
    "few_label_arms",
    "BIAS_STEP",
    "OmittedClassArm",
    "bias_candidates",
    "choose_bias",
    "omitted_class_experiment",
    "one_vs_rest_auroc",
    "GridResult",
    "temperature_lam_grid",
    "WIDGET_EPOCHS",
    "Scored",
    "draw_student",
    "train_and_score",
]
