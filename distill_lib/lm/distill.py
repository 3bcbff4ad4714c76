"""Notebook 10's distillation losses for a language model, and the student's training loop.

Four ways to train a student language model (each shown in notebook 10, each tested against its
paper's definition or a PyTorch built-in):

- **Text alone** (the article's recipe, no teacher): the next-character cross-entropy on real text
  (:func:`~distill_lib.lm.teacher._train_step`'s loss).
- **Word-level KD** (Hinton et al. 2015 per position; Kim & Rush 2016, "Sequence-Level Knowledge
  Distillation", section 3.1, "word-level"): at every position of real text, the forward KL
  ``KL(p_teacher || p_student)`` over the next character. :func:`_forward_kl_topk` keeps only the
  teacher's ``k`` most likely characters and one *tail* bucket holding the rest of its mass
  (what a cache of top-k probabilities can hold): the student is told how much mass goes outside
  the top ``k``, not how to spread it there. With ``k = V`` it is the full KL (tested).
- **Sequence-level KD** (Kim & Rush 2016, section 3.2): the cross-entropy on text the *teacher
  generated*; :func:`_masked_cross_entropy` leaves out the prompt. Kim & Rush approximate the
  teacher's sequence distribution by its beam-search mode; notebook 10's cache holds samples at
  temperature 1 instead.
- **On-policy, reverse KL** (Gu et al. 2024, "MiniLLM", the token-level part of their gradient;
  Agarwal et al. 2024, "On-Policy Distillation of Language Models" (GKD) with lambda = 1 and the
  reverse KL as divergence): the *student* writes the continuation of a real prompt, the teacher
  scores every position of it, and the student minimises ``KL(p_student || p_teacher)`` there
  (:func:`_reverse_kl`); no gradient flows through the sampling, as in GKD. MiniLLM adds a
  policy-gradient term for the effect of each character on the later ones; it is not used here.

- :func:`forward_kl_topk`, :func:`reverse_kl`, :func:`masked_cross_entropy`: the losses, validated.
- :func:`topk_targets`: a teacher's top-k next-character probabilities (what the cache stores).
- :func:`_student_step`: one AdamW step of a student on any of the losses (shown in notebook 10).

All losses are means over the positions a ``(B, T)`` boolean mask keeps (a padded or prompt
position is left out), in nats.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._validation import check_int

__all__ = ["forward_kl_topk", "masked_cross_entropy", "reverse_kl", "topk_targets"]


@torch.no_grad()
def _topk_targets(teacher, x, k):
    """The teacher's k most likely next characters at every position of x (B, T), and their probabilities."""
    probs = F.softmax(teacher(x), dim=-1)  # (B, T, V)
    top_p, top_ids = probs.topk(k, dim=-1)  # (B, T, k) each, most likely first
    return top_ids, top_p


def _masked_mean(per_position, mask):
    """Mean of per_position (B, T) over the positions where mask (B, T) is True."""
    return (per_position * mask).sum() / mask.sum()


def _forward_kl_topk(student_logits, top_ids, top_p, mask):
    """KL(teacher || student) per position over the teacher's top-k characters plus one tail bucket."""
    logq = F.log_softmax(student_logits, dim=-1)  # (B, T, V)
    top_logq = logq.gather(-1, top_ids)  # (B, T, k): the student's log-probs of the teacher's top k
    tail_logq = torch.logsumexp(logq.scatter(-1, top_ids, float("-inf")), dim=-1)  # (B, T): the rest
    tail_p = (1.0 - top_p.sum(-1)).clamp_min(0.0)  # (B, T): the teacher's mass outside its top k
    tail = torch.xlogy(tail_p, tail_p) - tail_p * tail_logq  # (B, T); k = V: no tail (-inf, NaN), left out
    kl = (torch.xlogy(top_p, top_p) - top_p * top_logq).sum(-1) \
        + torch.where(tail_logq > float("-inf"), tail, 0.0)  # (B, T)
    return _masked_mean(kl, mask)


def _reverse_kl(student_logits, teacher_logits, mask):
    """KL(student || teacher) per position over all V characters (mode-seeking), masked mean."""
    logq = F.log_softmax(student_logits, dim=-1)  # (B, T, V) student
    logp = F.log_softmax(teacher_logits, dim=-1)  # (B, T, V) teacher
    kl = (logq.exp() * (logq - logp)).sum(-1)  # (B, T)
    return _masked_mean(kl, mask)


def _masked_cross_entropy(student_logits, targets, mask):
    """Next-character cross-entropy (B, T) averaged over the positions mask keeps (not the prompt)."""
    ce = F.cross_entropy(student_logits.transpose(1, 2), targets, reduction="none")  # (B, T)
    return _masked_mean(ce, mask)


def _student_step(student, optimizer, loss, grad_clip=1.0):
    """One AdamW step on a loss already computed from the student's logits; returns its value."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    nn.utils.clip_grad_norm_(student.parameters(), grad_clip)
    optimizer.step()
    return loss.item()


# ---------------------------------------------------------------------------------------------------
# Validating wrappers
# ---------------------------------------------------------------------------------------------------

def _check_logits(name: str, logits: object) -> Tensor:
    if not isinstance(logits, Tensor) or not logits.dtype.is_floating_point:
        raise TypeError(f"{name} must be a floating-point tensor (B, T, V), got {type(logits).__name__} "
                        f"{getattr(logits, 'dtype', '')}")
    if logits.dim() != 3 or 0 in logits.shape:
        raise ValueError(f"{name} must be a non-empty (B, T, V) tensor, got shape {tuple(logits.shape)}")
    if not torch.isfinite(logits).all():
        raise ValueError(f"{name} holds a NaN or an infinite value; logits must be finite")
    return logits


def _check_mask(mask: object, shape: tuple[int, int]) -> Tensor:
    if mask is None:
        return torch.ones(shape, dtype=torch.bool)
    if not isinstance(mask, Tensor) or mask.dtype != torch.bool:
        raise TypeError(f"mask must be a bool tensor (B, T) (True: the position counts), got {type(mask).__name__} "
                        f"{getattr(mask, 'dtype', '')}")
    if tuple(mask.shape) != shape:
        raise ValueError(f"mask has shape {tuple(mask.shape)}; it must be (B, T) = {shape}, like the logits")
    if not mask.any():
        raise ValueError("mask keeps no position (all False); the mean over no position is undefined")
    return mask


def forward_kl_topk(student_logits: Tensor, top_ids: Tensor, top_p: Tensor, mask: Tensor | None = None) -> Tensor:
    """Word-level KD: ``KL(teacher || student)`` per position, from the teacher's top-k and a tail bucket.

    With ``p`` the teacher's top-``k`` probabilities (``p_tail = 1 - sum p``) and ``q`` the
    student's softmax, the loss at a position is
    ``sum_j p_j log(p_j / q_j) + p_tail log(p_tail / q_tail)``, ``q_tail`` the student's mass outside
    the teacher's top ``k``; the mean is over the positions ``mask`` keeps. With ``k = V`` it is
    ``F.kl_div(log q, p, reduction="sum") / positions``.

    Args:
        student_logits: ``(B, T, V)`` finite logits.
        top_ids: ``(B, T, k)`` int64 character ids, each in ``[0, V - 1]``, distinct along the last dim.
        top_p: ``(B, T, k)`` their teacher probabilities, each in ``[0, 1]``, summing to <= 1 (+1e-3).
        mask: ``(B, T)`` bool, True where the position counts (default: all); at least one True.

    Returns:
        Tensor: the scalar loss in nats (differentiable in ``student_logits``).

    Raises:
        TypeError: a tensor of the wrong type or dtype. ValueError: shapes that disagree, an id
        out of range, probabilities out of range, an empty mask, non-finite logits.

    Example::

        >>> top_ids, top_p = topk_targets(teacher, x, k=8)
        >>> loss = forward_kl_topk(student(x), top_ids, top_p)
    """
    logits = _check_logits("student_logits", student_logits)
    B, T, V = logits.shape
    if not isinstance(top_ids, Tensor) or top_ids.dtype not in (torch.int64, torch.int32, torch.uint8):
        raise TypeError(f"top_ids must be an integer tensor (B, T, k), got {type(top_ids).__name__} "
                        f"{getattr(top_ids, 'dtype', '')}")
    if not isinstance(top_p, Tensor) or not top_p.dtype.is_floating_point:
        raise TypeError(f"top_p must be a floating-point tensor (B, T, k), got {type(top_p).__name__} "
                        f"{getattr(top_p, 'dtype', '')}")
    if top_ids.dim() != 3 or tuple(top_ids.shape[:2]) != (B, T) or not 1 <= top_ids.shape[2] <= V \
            or top_p.shape != top_ids.shape:
        raise ValueError(f"top_ids {tuple(top_ids.shape)} and top_p {tuple(top_p.shape)} must both be (B, T, k) "
                         f"with (B, T) = {(B, T)} and 1 <= k <= V = {V}")
    top_ids = top_ids.long()
    if int(top_ids.min()) < 0 or int(top_ids.max()) >= V:
        bad = int(top_ids.min()) if int(top_ids.min()) < 0 else int(top_ids.max())
        raise ValueError(f"top_ids holds the id {bad}, out of range; allowed: [0, {V - 1}]")
    sorted_ids = top_ids.sort(-1).values  # (B, T, k)
    repeats = (sorted_ids.diff(dim=-1) == 0).nonzero()  # (n, 3): (b, t, j) with id j == id j + 1
    if len(repeats):
        b, t, j = repeats[0].tolist()
        raise ValueError(f"top_ids repeats the id {int(sorted_ids[b, t, j])} at position (b={b}, t={t}); "
                         "the k ids of a position must be distinct")
    top_p = top_p.detach().float()  # a target: no gradient flows back to the teacher
    if not torch.isfinite(top_p).all() or top_p.min() < 0 or top_p.max() > 1 or top_p.sum(-1).max() > 1 + 1e-3:
        raise ValueError(f"top_p must hold probabilities in [0, 1] summing to <= 1 per position; got min "
                         f"{float(top_p.min()):.4g}, max {float(top_p.max()):.4g}, largest sum {float(top_p.sum(-1).max()):.4g}")
    if top_ids.shape[2] == V and top_p.sum(-1).min() < 1 - 1e-3:
        raise ValueError(f"top_p sums to {float(top_p.sum(-1).min()):.4g} at a position although k = V = {V}: "
                         "with every character listed there is no tail bucket, so each position must sum to 1")
    return _forward_kl_topk(logits, top_ids, top_p, _check_mask(mask, (B, T)))


def reverse_kl(student_logits: Tensor, teacher_logits: Tensor, mask: Tensor | None = None) -> Tensor:
    """``KL(student || teacher)`` per position over all ``V`` characters, averaged over ``mask``.

    ``sum_v q_v (log q_v - log p_v)`` with ``q`` the student's and ``p`` the teacher's softmax: it
    is large where the student puts mass the teacher does not (mode-seeking), and does not mind
    teacher mass the student leaves out. Equal to
    ``F.kl_div(log p, log q, log_target=True, reduction="sum") / positions``.

    Args:
        student_logits, teacher_logits: ``(B, T, V)`` finite logits of the same shape.
        mask: ``(B, T)`` bool, True where the position counts (default: all); at least one True.

    Returns:
        Tensor: the scalar loss in nats (differentiable in ``student_logits``).

    Raises:
        TypeError: not floating-point tensors, or a mask that is not bool. ValueError: shapes that
        disagree, non-finite logits, an empty mask.

    Example::

        >>> loss = reverse_kl(student(samples), teacher(samples), mask=generated)
    """
    logits = _check_logits("student_logits", student_logits)
    teacher = _check_logits("teacher_logits", teacher_logits).detach()  # a target: no gradient to the teacher
    if teacher.shape != logits.shape:
        raise ValueError(f"teacher_logits has shape {tuple(teacher.shape)}; it must equal student_logits' "
                         f"{tuple(logits.shape)}")
    return _reverse_kl(logits, teacher, _check_mask(mask, tuple(logits.shape[:2])))


def masked_cross_entropy(student_logits: Tensor, targets: Tensor, mask: Tensor | None = None) -> Tensor:
    """The next-character cross-entropy, averaged over the positions ``mask`` keeps.

    Args:
        student_logits: ``(B, T, V)`` finite logits.
        targets: ``(B, T)`` int64 ids in ``[0, V - 1]`` (the character after each position).
        mask: ``(B, T)`` bool, True where the position counts (default: all); at least one True.

    Returns:
        Tensor: the scalar loss in nats; with no mask, ``F.cross_entropy`` over all positions.

    Raises:
        TypeError, ValueError: as :func:`forward_kl_topk`, for the targets' type, shape and range.

    Example::

        >>> loss = masked_cross_entropy(student(x), y, mask=generated)  # the prompt left out
    """
    logits = _check_logits("student_logits", student_logits)
    B, T, V = logits.shape
    if not isinstance(targets, Tensor) or targets.dtype not in (torch.int64, torch.int32, torch.uint8):
        raise TypeError(f"targets must be an integer tensor (B, T), got {type(targets).__name__} "
                        f"{getattr(targets, 'dtype', '')}")
    if tuple(targets.shape) != (B, T):
        raise ValueError(f"targets has shape {tuple(targets.shape)}; it must be (B, T) = {(B, T)}")
    if int(targets.min()) < 0 or int(targets.max()) >= V:
        bad = int(targets.min()) if int(targets.min()) < 0 else int(targets.max())
        raise ValueError(f"targets holds the id {bad}, out of range; allowed: [0, {V - 1}]")
    return _masked_cross_entropy(logits, targets.long(), _check_mask(mask, (B, T)))


def topk_targets(teacher: nn.Module, x: Tensor, k: int = 8) -> tuple[Tensor, Tensor]:
    """The teacher's ``k`` most likely next characters at every position of ``x``, with their probabilities.

    The teacher runs without gradients in eval mode (its mode is restored).

    Args:
        teacher: maps ``(B, T)`` ids to ``(B, T, V)`` logits.
        x: ``(B, T)`` int64 character ids.
        k: how many characters to keep per position, in ``[1, V]``.

    Returns:
        ``(top_ids, top_p)``: ``(B, T, k)`` int64 ids, most likely first, and their float probabilities.

    Raises:
        TypeError: ``k`` not an integer. ValueError: ``k`` out of ``[1, V]``; bad ids as the teacher's own checks.

    Example::

        >>> top_ids, top_p = topk_targets(teacher, x, k=8)
    """
    k = check_int("k", k, low=1)
    was_training = teacher.training
    teacher.eval()
    try:
        V = teacher(x[:1, :1]).shape[-1]
        if k > V:
            raise ValueError(f"k={k} is out of range; allowed: [1, {V}] (the alphabet's size)")
        return _topk_targets(teacher, x, k)
    finally:
        teacher.train(was_training)
