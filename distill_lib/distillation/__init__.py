"""Training a student: from scratch on labels, or distilled from the teacher (notebook 03).

The default student is an MLP 64-128-10 (9,610 parameters, 8.8x fewer than the teacher);
notebooks 01, 02, 04 and 05 import :func:`train_student`, :data:`STUDENT_SIZES` and
:data:`STUDENT_RECIPE` from here. Each file is one idea of notebook 03 (accuracies are
fractions in ``[0, 1]``; each experiment is one call that trains several students):

* ``student.py``: :data:`STUDENT_SIZES`, :data:`STUDENT_RECIPE` and :func:`train_student`
  (used from section 4 on, and by the other notebooks);
* ``transfer_set.py``: :data:`UNLABELLED`, :func:`transfer_set_loss` (cross-entropy on the
  labelled rows, soft term on every row), :class:`TransferSet` and :func:`make_transfer_set`
  (sections 5-8);
* ``gradient_norms.py``: :func:`soft_term_gradient_norms`, why the soft term is multiplied
  by ``T**2`` (section 2);
* ``seeds.py``: :class:`SeedStats` and :func:`accuracy_over_seeds`, one student per seed,
  mean ± sample standard deviation, paired differences and when they exceed noise (sections 4-7);
* ``full_and_few_labels.py``: :func:`full_label_experiment` and :func:`few_label_experiment`,
  scratch against distilled (sections 4 and 5);
* ``omitted_class.py``: :func:`omitted_class_experiment`, Hinton et al.'s omitted digit and
  its bias correction, chosen on the validation set by :func:`choose_bias` (section 6);
* ``grid.py``: :func:`temperature_lam_grid` and :class:`GridResult`, validation accuracy over a
  ``T x λ`` grid and several seeds, and which cells differ beyond noise (section 7);
* ``widget.py``: :func:`train_and_score`, the plain function behind the widget (section 8).
"""

from .full_and_few_labels import few_label_experiment, full_label_experiment
from .gradient_norms import GradientNorms, soft_term_gradient_norms
from .grid import GridResult, temperature_lam_grid
from .omitted_class import DEFAULT_BIASES, OmittedClassArm, choose_bias, omitted_class_experiment
from .seeds import SeedStats, accuracy_over_seeds
from ..losses import UNLABELLED, transfer_set_loss
from .transfer_set import TransferSet, make_transfer_set
from .widget import WIDGET_EPOCHS, Scored, train_and_score

__all__ = [
    "UNLABELLED",
    "WIDGET_EPOCHS",
    "DEFAULT_BIASES",
    "transfer_set_loss",
    "TransferSet",
    "make_transfer_set",
    "SeedStats",
    "accuracy_over_seeds",
    "full_label_experiment",
    "few_label_experiment",
    "choose_bias",
    "OmittedClassArm",
    "omitted_class_experiment",
    "temperature_lam_grid",
    "GridResult",
    "GradientNorms",
    "soft_term_gradient_norms",
    "Scored",
    "train_and_score",
]
