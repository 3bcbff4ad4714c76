r"""Why the soft term is multiplied by ``T**2``: its gradient, measured (notebook 03, section 2)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import Tensor

from .._validation import check_logits, check_same_shape, check_temperature
from ..losses import cross_entropy_loss, kd_kl_loss

__all__ = ["GradientNorms", "soft_term_gradient_norms"]


class GradientNorms(NamedTuple):
    """Frobenius norms of the soft term's gradient with respect to the student's logits."""

    temperatures: Tensor  # (K,)
    with_t2: Tensor  # (K,) of  d [T^2 KL] / dz
    without_t2: Tensor  # (K,) of  d KL / dz
    high_temperature_limit: float  # lim_{T->inf} of with_t2: ||(z - mean z) - (v - mean v)|| / (N C)
    cross_entropy: float | None  # || d CE(z, targets) / dz ||, the scale to compare with


def soft_term_gradient_norms(
    student_logits: Tensor,
    teacher_logits: Tensor,
    temperatures: Sequence[float],
    targets: Tensor | None = None,
) -> GradientNorms:
    r"""Measure how the soft term's gradient scales with the temperature.

    The gradient of ``KL(p^T || q^T)`` (batch-averaged) with respect to the
    student's logits is ``(q^T - p^T) / (N T)``. For large ``T``,
    ``q^T - p^T ≈ ((z - \bar z) - (v - \bar v)) / (C T)``, so without the factor the
    gradient shrinks like ``1 / T**2``; with ``T**2`` it tends to the constant
    ``||(z - \bar z) - (v - \bar v)|| / (N C)`` (Hinton et al. 2015, section 2).
    Gradients are taken by autograd through :func:`~distill_lib.losses.kd_kl_loss`,
    in float64.

    Args:
        student_logits: the student's logits ``z``; teacher_logits: the teacher's ``v``.
        temperatures: the ``T`` values to measure (each > 0).
        targets: optional class indices; if given, also the cross-entropy's gradient norm.

    Shape:
        logits ``(N, C)``; targets ``(N,)``; output fields ``(len(temperatures),)``.

    Example::

        >>> g = soft_term_gradient_norms(z, v, [1, 10, 100])
        >>> g.without_t2 * g.temperatures**2   # equals g.with_t2
    """
    check_logits("student_logits", student_logits)
    check_logits("teacher_logits", teacher_logits)
    check_same_shape("student_logits", student_logits, "teacher_logits", teacher_logits)
    temps = [check_temperature(t) for t in temperatures]
    if not temps:
        raise ValueError("temperatures must hold at least one value")
    z0 = student_logits.detach().to(torch.float64)  # (N, C)
    v = teacher_logits.detach().to(torch.float64)  # (N, C)
    n, c = z0.shape
    with_t2, without_t2 = [], []
    for t in temps:
        z = z0.clone().requires_grad_()
        (grad,) = torch.autograd.grad(kd_kl_loss(z, v, t), z)  # (N, C)
        with_t2.append(grad.norm().item())
        z = z0.clone().requires_grad_()
        (grad,) = torch.autograd.grad(kd_kl_loss(z, v, t) / (t * t), z)  # the same KL, without the factor
        without_t2.append(grad.norm().item())
    centred = (z0 - z0.mean(dim=1, keepdim=True)) - (v - v.mean(dim=1, keepdim=True))  # (N, C)
    limit = centred.norm().item() / (n * c)
    ce_norm = None
    if targets is not None:
        z = z0.clone().requires_grad_()
        (grad,) = torch.autograd.grad(cross_entropy_loss(z, targets), z)
        ce_norm = grad.norm().item()
    return GradientNorms(torch.tensor(temps, dtype=torch.float64), torch.tensor(with_t2, dtype=torch.float64),
                         torch.tensor(without_t2, dtype=torch.float64), limit, ce_norm)
