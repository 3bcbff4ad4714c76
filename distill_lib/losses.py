r"""Distillation losses: logit matching, softmax with temperature, KL and the combined loss.

The convention, stated once and used everywhere in the workbook
(Hinton, Vinyals & Dean 2015, "Distilling the Knowledge in a Neural Network"):

.. math::

    p^T = \mathrm{softmax}(\text{teacher\_logits} / T), \qquad
    q^T = \mathrm{softmax}(\text{student\_logits} / T)

    \mathcal{L}_{KD} = T^2 \cdot \frac{1}{N} \sum_{n} \mathrm{KL}(p^T_n \,\|\, q^T_n)

    \mathcal{L} = (1 - \lambda)\, \mathrm{CE}(\text{student\_logits}, \text{targets})
                  + \lambda\, \mathcal{L}_{KD}

* the KL divergence goes *from the teacher to the student*, ``KL(p || q)`` with the
  teacher's distribution ``p`` as the target: the *forward* KL, which is mass-covering
  (the student pays wherever the teacher puts mass and it puts little). The reverse
  KL, ``KL(q || p)``, would be mode-seeking: it lets the student drop the teacher's
  small probabilities, the "dark knowledge" distillation is after;
* it is averaged over the batch (``reduction="batchmean"``), not over every
  element: PyTorch's ``"mean"`` divides by ``N * C`` as well and is not the KL
  divergence;
* it is computed in log space (``log_softmax``) so that it stays finite for
  tiny temperatures and huge logits;
* it is multiplied by ``T**2`` so that its gradient keeps the same scale as the
  cross-entropy term whatever the temperature (its gradient shrinks as ``1/T**2``);
* the cross-entropy term uses temperature 1.

Many papers write the additive form ``CE + alpha * KL``. It is the same family:
``CE + alpha * L_KD = (1 + alpha) * [(1 - lam) * CE + lam * L_KD]`` with
``lam = alpha / (1 + alpha)``, i.e. the same minimiser and the same gradient
direction, rescaled by ``1 + alpha`` (which an optimiser's learning rate absorbs).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import torch
import torch.nn.functional as F
from torch import Tensor

from ._validation import check_lam, check_logits, check_real, check_same_shape, check_targets, check_temperature

__all__ = [
    "softmax_with_temperature",
    "log_softmax_with_temperature",
    "mse_logit_loss",
    "kd_kl_loss",
    "distillation_loss",
    "cross_entropy_loss",
    "UNLABELLED",
    "transfer_set_loss",
    "make_loss",
]


def _check_pair(student_logits: Tensor, teacher_logits: Tensor) -> None:
    check_logits("student_logits", student_logits)
    check_logits("teacher_logits", teacher_logits)
    check_same_shape("student_logits", student_logits, "teacher_logits", teacher_logits)


def softmax_with_temperature(logits: Tensor, temperature: float, dim: int = -1) -> Tensor:
    r"""Softmax of ``logits / temperature`` along ``dim``.

    ``T > 1`` flattens the distribution (more mass on the wrong classes, the
    teacher's "dark knowledge"), ``T < 1`` sharpens it, ``T -> 0`` tends to the
    one-hot argmax. Computed by ``torch.softmax``, which subtracts the maximum
    first, so it neither overflows nor underflows to ``0/0``.

    Args:
        logits: unnormalised scores (not probabilities), any shape, floating point.
        temperature: a finite number > 0.
        dim: the class dimension.

    Shape:
        - logits: ``(*, C, *)``
        - output: same shape; sums to 1 along ``dim``.

    Returns:
        Probabilities, same shape and dtype as ``logits``.

    Raises:
        TypeError: ``logits`` is not a floating-point tensor, ``temperature`` not a number.
        ValueError: ``temperature <= 0`` or not finite; ``logits`` empty or not finite.

    Example::

        >>> softmax_with_temperature(torch.tensor([[2.0, 1.0, 0.0]]), temperature=2.0)
        tensor([[0.5065, 0.3072, 0.1863]])
    """
    t = check_temperature(temperature)
    check_logits("logits", logits, ndim=None)
    return torch.softmax(logits / t, dim=dim)


def log_softmax_with_temperature(logits: Tensor, temperature: float, dim: int = -1) -> Tensor:
    r"""Log of :func:`softmax_with_temperature`, computed stably with log-sum-exp.

    Args:
        logits: unnormalised scores, any shape, floating point.
        temperature: a finite number > 0.
        dim: the class dimension.

    Returns:
        Log-probabilities (all <= 0), same shape as ``logits``.

    Example::

        >>> log_softmax_with_temperature(torch.tensor([[1000.0, 0.0]]), 0.1)
        tensor([[     0., -10000.]])
    """
    t = check_temperature(temperature)
    check_logits("logits", logits, ndim=None)
    return torch.log_softmax(logits / t, dim=dim)


def mse_logit_loss(student_logits: Tensor, teacher_logits: Tensor) -> Tensor:
    r"""Logit matching (Ba & Caruana 2014): mean squared error between logits.

    .. math:: \frac{1}{N C} \sum_{n, c} (z_{nc} - v_{nc})^2

    where ``z`` are the student's logits and ``v`` the teacher's, i.e.
    ``F.mse_loss(student_logits, teacher_logits)``. Ba & Caruana write
    ``1/(2N) * sum_n ||z_n - v_n||^2``, which is this times ``C / 2``: the
    same minimiser. In the high-temperature limit, for zero-mean logits,
    ``kd_kl_loss -> mse_logit_loss / 2`` (Hinton et al. 2015, section 2.1).

    Args:
        student_logits: the student's logits (not probabilities).
        teacher_logits: the teacher's logits, the regression target.

    Shape:
        both ``(N, C)``, exactly equal (no broadcasting); output a scalar.

    Raises:
        TypeError, ValueError: see :func:`distillation_loss`.

    Example::

        >>> mse_logit_loss(torch.tensor([[1.0, 2.0]]), torch.tensor([[0.0, 0.0]]))
        tensor(2.5000)
    """
    _check_pair(student_logits, teacher_logits)
    return F.mse_loss(student_logits, teacher_logits.detach(), reduction="mean")


def kd_kl_loss(student_logits: Tensor, teacher_logits: Tensor, temperature: float) -> Tensor:
    r"""Soft-target loss: ``T**2 * KL(teacher_T || student_T)``, averaged over the batch.

    .. math::

        T^2 \frac{1}{N} \sum_n \sum_c p^T_{nc} (\log p^T_{nc} - \log q^T_{nc})

    with ``p^T = softmax(teacher_logits / T)`` (the target) and
    ``q^T = softmax(student_logits / T)``. Both are handled as
    log-probabilities (``log_softmax``) so the value and its gradient stay
    finite for ``T`` in ``[0.05, 1000]`` and logits up to ``±1e4``; the sum
    is taken in float64 (see the comment in the code) and returned in the
    student's dtype. The teacher is detached: no gradient flows into it.

    Args:
        student_logits: the student's logits (not probabilities, not log-probabilities).
        teacher_logits: the teacher's logits at temperature 1.
        temperature: the shared temperature ``T``, finite and > 0.

    Shape:
        both ``(N, C)``, exactly equal; output a scalar >= 0.

    Returns:
        ``T**2 * F.kl_div(log q, log p, reduction="batchmean", log_target=True)``.

    Raises:
        TypeError, ValueError: see :func:`distillation_loss`.

    Example::

        >>> z = torch.tensor([[2.0, 0.0]]); v = torch.tensor([[0.0, 2.0]])
        >>> kd_kl_loss(z, v, temperature=1.0)
        tensor(1.5232)   # = 2 tanh(1)
    """
    t = check_temperature(temperature)
    _check_pair(student_logits, teacher_logits)
    return _kd_kl(student_logits, teacher_logits, t)


def _kd_kl(student_logits: Tensor, teacher_logits: Tensor, t: float) -> Tensor:
    """:func:`kd_kl_loss` without the input checks, for callers that have made them."""
    # Work in float64: at large T both distributions are close to uniform, the KL is a
    # small difference of log-probabilities, and T**2 multiplies its rounding error.
    # In float32 that costs about three significant digits at T = 1000.
    z = student_logits.to(torch.float64)
    v = teacher_logits.detach().to(torch.float64)
    log_q = torch.log_softmax(z / t, dim=1)  # (N, C) student, log-probabilities
    log_p = torch.log_softmax(v / t, dim=1)  # (N, C) teacher, log-probabilities
    kl = F.kl_div(log_q, log_p, reduction="batchmean", log_target=True)  # sum over C, mean over N
    return (kl * (t * t)).to(student_logits.dtype)


def cross_entropy_loss(student_logits: Tensor, targets: Tensor) -> Tensor:
    """Cross-entropy of the student's logits against class indices (temperature 1).

    A validated ``F.cross_entropy(student_logits, targets)``.

    Shape:
        student_logits ``(N, C)``, targets ``(N,)`` with values in ``[0, C)``.

    Example::

        >>> cross_entropy_loss(torch.tensor([[0.0, 0.0]]), torch.tensor([1]))
        tensor(0.6931)
    """
    check_logits("student_logits", student_logits)
    check_targets(targets, *student_logits.shape)
    return F.cross_entropy(student_logits, targets.long())


#: The target of an unlabelled row in a transfer set (PyTorch's ``ignore_index`` default).
UNLABELLED: int = -100


def _objective(student_logits, teacher_logits, targets, t, lam, label_smoothing=0.0):
    """(1 - lam) CE on the labelled rows + lam T^2 KL on every row; the inputs are already checked."""
    if lam == 1.0:
        return _kd_kl(student_logits, teacher_logits, t)  # teacher only: no label needed
    ce = F.cross_entropy(student_logits, targets, ignore_index=UNLABELLED,  # mean over labelled rows
                         label_smoothing=label_smoothing)
    if lam == 0.0:
        return ce  # labels only: no teacher needed
    return (1.0 - lam) * ce + lam * _kd_kl(student_logits, teacher_logits, t)  # KL: mean over all rows


def distillation_loss(
    student_logits: Tensor,
    teacher_logits: Tensor,
    targets: Tensor,
    temperature: float,
    lam: float,
) -> Tensor:
    r"""The knowledge-distillation loss ``(1 - lam) * CE + lam * T**2 * KL``.

    .. math::

        (1 - \lambda)\, \mathrm{CE}(z, y) + \lambda\, T^2\, \frac{1}{N}\sum_n
        \mathrm{KL}\big(\mathrm{softmax}(v_n/T) \,\|\, \mathrm{softmax}(z_n/T)\big)

    ``lam = 0`` is ordinary training on labels; ``lam = 1`` uses the teacher
    only. The additive form ``CE + alpha * KL`` found in many papers is the same
    family up to a rescaling by ``1 + alpha`` (see the module docstring). The
    KL goes from the teacher to the student: the *forward* KL, which is
    mass-covering (the student is penalised wherever the teacher puts mass and it
    does not); the reverse ``KL(q || p)`` would be mode-seeking.

    Args:
        student_logits: the student's logits ``z``.
        teacher_logits: the teacher's logits ``v`` (detached inside).
        targets: class indices ``y`` (ground-truth labels).
        temperature: ``T``, finite and > 0, used for the KL term only.
        lam: ``λ`` in ``[0, 1]``, the weight of the distillation term.

    Shape:
        student_logits, teacher_logits: ``(N, C)``, exactly equal;
        targets: ``(N,)``, integers in ``[0, C)``; output: a scalar.

    Raises:
        TypeError: a tensor of the wrong kind or dtype; a non-numeric
            ``temperature`` or ``lam``.
        ValueError: ``temperature <= 0`` or not finite; ``lam`` outside
            ``[0, 1]``; mismatched shapes; an empty batch; NaN or infinite
            logits; a target outside ``[0, C)``.

    Example::

        >>> z = torch.tensor([[2.0, 0.0]]); v = torch.tensor([[0.0, 2.0]])
        >>> distillation_loss(z, v, torch.tensor([0]), temperature=1.0, lam=0.5)
        tensor(0.8251)
    """
    t = check_temperature(temperature)
    lam = check_lam(lam)
    _check_pair(student_logits, teacher_logits)
    check_targets(targets, *student_logits.shape)
    return _objective(student_logits, teacher_logits, targets.long(), t, lam)


def _check_transfer_targets(targets: object, num_examples: int, num_classes: int) -> Tensor:
    """Class indices in ``[0, C)`` or :data:`UNLABELLED`, shape ``(N,)``."""
    # Type, dtype and shape as check_targets; its range check cannot know UNLABELLED, so it sees zeros.
    check_targets(torch.zeros_like(targets) if isinstance(targets, Tensor) else targets, num_examples, num_classes)
    bad = targets[(targets != UNLABELLED) & ((targets < 0) | (targets >= num_classes))]
    if len(bad):
        raise ValueError(
            f"targets contain class index {int(bad[0])}; allowed: [0, {num_classes - 1}] "
            f"or UNLABELLED={UNLABELLED} for a row without a label"
        )
    return targets


def _check_transfer_labels(targets: object, num_examples: int, num_classes: int, lam: float) -> Tensor:
    """:func:`_check_transfer_targets`, and below ``lam = 1`` at least one labelled row (else CE is 0/0)."""
    _check_transfer_targets(targets, num_examples, num_classes)
    if lam < 1.0 and not bool((targets != UNLABELLED).any()):
        raise ValueError(f"lam={lam} < 1 needs at least one labelled row, but every target is UNLABELLED")
    return targets


def _check_label_smoothing(label_smoothing: object) -> float:
    value = check_real("label_smoothing", label_smoothing)
    if not (0.0 <= value < 1.0):  # also catches NaN
        raise ValueError(f"label_smoothing={value!r} must be in the range [0, 1) (0 = one-hot labels)")
    return value


def transfer_set_loss(
    student_logits: Tensor,
    teacher_logits: Tensor,
    targets: Tensor,
    temperature: float,
    lam: float,
) -> Tensor:
    r"""The distillation loss on a partly labelled transfer set.

    .. math::

        (1 - \lambda)\, \frac{1}{|L|} \sum_{n \in L} \mathrm{CE}(z_n, y_n)
        \;+\; \lambda\, T^2\, \frac{1}{N} \sum_{n=1}^{N} \mathrm{KL}\big(p^T_n \,\|\, q^T_n\big)

    where ``L`` is the set of labelled rows (``targets != UNLABELLED``): the
    cross-entropy is averaged over the labelled rows (``F.cross_entropy``'s
    ``ignore_index``), the soft-target term (:func:`kd_kl_loss`) over all ``N``
    rows. It shares its one core with :func:`distillation_loss`, so when every row
    is labelled it *is* that loss.

    Args:
        student_logits: the student's logits ``z`` (not probabilities).
        teacher_logits: the teacher's logits ``v`` at temperature 1 (detached inside).
        targets: class indices, or :data:`UNLABELLED` (``-100``) for a row without a label.
        temperature: ``T`` > 0 for the soft term.
        lam: ``λ`` in ``[0, 1]``; below 1 at least one row must be labelled.

    Shape:
        student_logits, teacher_logits: ``(N, C)``, exactly equal; targets ``(N,)``; output a scalar.

    Raises:
        TypeError, ValueError: as :func:`distillation_loss`; also a
        ``ValueError`` when ``lam < 1`` and no row is labelled (the CE would be 0/0).

    Example::

        >>> z, v = torch.zeros(3, 10), torch.randn(3, 10)
        >>> transfer_set_loss(z, v, torch.tensor([4, UNLABELLED, UNLABELLED]), 4.0, 0.9)
    """
    t = check_temperature(temperature)
    lam = check_lam(lam)
    _check_pair(student_logits, teacher_logits)
    _check_transfer_labels(targets, *student_logits.shape, lam)
    return _objective(student_logits, teacher_logits, targets.long(), t, lam)


def make_loss(
    temperature: float = 4.0, lam: float = 0.0, *, label_smoothing: float = 0.0, checked: bool = True
) -> Callable[..., Tensor]:
    """The one way to build the loss a student trains with.

    Args:
        temperature: ``T`` of the soft term (checked even when ``lam = 0``).
        lam: ``λ`` in ``[0, 1]``; ``0`` means labels only (no teacher needed).
        label_smoothing: spread this much of each label's mass evenly over the classes
            (``F.cross_entropy``'s ``label_smoothing``), in ``[0, 1)``; applies to the
            cross-entropy term only.
        checked: ``True`` (default) checks the tensors on every call, as
            :func:`transfer_set_loss` does; ``False`` skips the checks, for a training loop
            whose caller has checked the data once (:func:`distill_lib.student.train_student`).

    Returns:
        ``loss_fn(student_logits, targets=..., teacher_logits=...)`` (keywords, as
        :func:`~distill_lib.training.fit` calls it; ``teacher_logits`` unused at ``lam = 0``):
        :func:`transfer_set_loss` with ``T`` and ``λ`` bound, i.e. :func:`distillation_loss`
        when every row is labelled and plain cross-entropy at ``λ = 0``.

    Raises:
        TypeError, ValueError: a bad ``temperature``, ``lam`` or ``label_smoothing``.

    Example::

        >>> loss_fn = make_loss(temperature=4.0, lam=0.9)
        >>> loss_fn(student_logits, targets=targets, teacher_logits=teacher_logits)
    """
    t, lam = check_temperature(temperature), check_lam(lam)
    smoothing = _check_label_smoothing(label_smoothing)
    if not isinstance(checked, bool):
        raise TypeError(f"checked must be True or False, got {type(checked).__name__} ({checked!r})")
    return partial(_loss_call, t=t, lam=lam, label_smoothing=smoothing, checked=checked)


def _loss_call(
    student_logits: Tensor, targets: Tensor | None = None, teacher_logits: Tensor | None = None, *,
    t: float, lam: float, label_smoothing: float, checked: bool,
) -> Tensor:
    """What :func:`make_loss` returns, with its settings bound."""
    if checked:
        check_logits("student_logits", student_logits)
        if lam > 0.0:
            if teacher_logits is None:
                raise ValueError(f"lam={lam} > 0 needs teacher_logits (pass teacher_logits=...)")
            _check_pair(student_logits, teacher_logits)
        if lam < 1.0:
            if targets is None:
                raise ValueError(f"lam={lam} < 1 needs targets (pass targets=...)")
            _check_transfer_labels(targets, *student_logits.shape, lam)
    if targets is not None:
        targets = targets.long()
    return _objective(student_logits, teacher_logits, targets, t, lam, label_smoothing)
