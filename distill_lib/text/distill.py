"""Notebook 09's distillation: logit KD plus DistilBERT's embedding loss, and the training loop.

DistilBERT (Sanh et al., *DistilBERT, a distilled version of BERT*, 2019, §2-3) trains its
student on a weighted sum of three losses: the soft-target cross-entropy to the teacher's output
distribution (Hinton et al., 2015), the masked-language-model loss, and a **cosine embedding
loss** that aligns the directions of the student's and the teacher's hidden-state vectors
(PyTorch's ``nn.CosineEmbeddingLoss`` with target 1: ``1 - cos(s, t)``). A classifier has no
language-model loss; the labels' cross-entropy takes its place:

.. math::

    L = (1-\\lambda)\\,\\mathrm{CE}(z, y) + \\lambda T^2 \\mathrm{KL}(p^T \\| q^T)
        + \\beta\\,\\frac{1}{N}\\sum_n \\big(1 - \\cos(s_n, t_n)\\big)

The first two terms are the workbook's :func:`~distill_lib.losses.transfer_set_loss` (the
cross-entropy over the labelled rows only; unlabelled rows carry
:data:`~distill_lib.losses.UNLABELLED`), the last is :func:`cosine_embedding_loss` between the
student's ``to_teacher`` output and the teacher's sentence embedding.

- :func:`cosine_embedding_loss`: the mean of ``1 - cos`` over the rows.
- :func:`train_text_student`: the training loop (AdamW, shuffled mini-batches, a fixed number
  of steps, the validation set picking the best of a few checkpoints).
- :func:`predict_text`: logits of a student over many texts, in batches.
"""

from __future__ import annotations

import copy
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._validation import check_int, check_lam, check_module, check_real, check_temperature
from ..losses import UNLABELLED, _check_pair, _check_transfer_labels, _kd_kl, _objective
from .tokens import Tokens

__all__ = ["TrainResult", "cosine_embedding_loss", "predict_text", "text_distillation_loss", "train_text_student"]


def _cosine_loss(student: Tensor, teacher: Tensor) -> Tensor:
    """Mean over rows of 1 - cos(student, teacher)."""
    return (1.0 - F.cosine_similarity(student, teacher, dim=1)).mean()  # (N, E) -> scalar


def _check_embeddings(student: object, teacher: object) -> None:
    for name, t in (("student_embeddings", student), ("teacher_embeddings", teacher)):
        if not isinstance(t, Tensor) or not t.is_floating_point() or t.ndim != 2 or t.shape[0] == 0:
            raise TypeError(f"{name} must be a non-empty 2-d float tensor (N, E), got {t!r:.60}")
        if not bool(torch.isfinite(t).all()):
            raise ValueError(f"{name} contains NaN or infinite values")
    if student.shape != teacher.shape:
        raise ValueError(f"student_embeddings {tuple(student.shape)} and teacher_embeddings "
                         f"{tuple(teacher.shape)} must have the same shape")


def cosine_embedding_loss(student_embeddings: Tensor, teacher_embeddings: Tensor) -> Tensor:
    """DistilBERT's cosine embedding loss: the mean over rows of ``1 - cos(s_n, t_n)``.

    ``nn.CosineEmbeddingLoss()(s, t, torch.ones(N))``; 0 when every pair points the same way,
    1 when orthogonal, 2 when opposite. Only directions count, so the student's vector need not
    have the teacher's length.

    Shape:
        student_embeddings, teacher_embeddings: ``(N, E)``, equal; output: a scalar.

    Raises:
        TypeError: not 2-d float tensors. ValueError: different shapes, NaN or infinite values.

    Example::

        >>> cosine_embedding_loss(torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 3.0]]))
        tensor(1.)
    """
    _check_embeddings(student_embeddings, teacher_embeddings)
    return _cosine_loss(student_embeddings, teacher_embeddings)


def _text_kd_loss(logits, embeddings, targets, teacher_logits, teacher_embeddings, t, lam, beta):
    """(1 - lam) CE + lam T^2 KL + beta (1 - cos): the workbook's KD loss plus DistilBERT's cosine term."""
    if lam < 1.0 and not bool((targets != UNLABELLED).any()):  # a batch of transfer rows only: no CE term
        loss = lam * _kd_kl(logits, teacher_logits, t)
    else:
        loss = _objective(logits, teacher_logits, targets, t, lam)  # CE over labelled rows, KL over all
    if beta > 0:
        loss = loss + beta * _cosine_loss(embeddings, teacher_embeddings)
    return loss


def text_distillation_loss(logits: Tensor, embeddings: Tensor, targets: Tensor, teacher_logits: Tensor,
                           teacher_embeddings: Tensor, temperature: float, lam: float, beta: float) -> Tensor:
    """The loss notebook 09's students train with (see the module docstring).

    Args:
        logits, embeddings: the student's two outputs.
        targets: class indices, or :data:`~distill_lib.losses.UNLABELLED` for an unlabelled row.
        teacher_logits, teacher_embeddings: the teacher's outputs on the same rows.
        temperature: ``T`` > 0. lam: ``λ`` in [0, 1]. beta: weight of the cosine term, >= 0.

    Shape:
        logits, teacher_logits ``(N, K)``; embeddings, teacher_embeddings ``(N, E)``; targets ``(N,)``.

    Raises:
        TypeError, ValueError: as :func:`~distill_lib.losses.transfer_set_loss` and
            :func:`cosine_embedding_loss`; ``beta`` negative or not finite.
    """
    t, lam = check_temperature(temperature), check_lam(lam)
    beta = _check_beta(beta)
    _check_pair(logits, teacher_logits)
    _check_transfer_labels(targets, *logits.shape, lam)
    _check_embeddings(embeddings, teacher_embeddings)
    return _text_kd_loss(logits, embeddings, targets.long(), teacher_logits, teacher_embeddings, t, lam, beta)


def _check_beta(beta: object) -> float:
    b = check_real("beta", beta)
    if not (0.0 <= b < float("inf")):
        raise ValueError(f"beta={b!r} must be a finite number >= 0 (0 = no embedding loss)")
    return b


class TrainResult(NamedTuple):
    """What :func:`train_text_student` returns: the model (best checkpoint) and its history."""

    model: nn.Module
    best_step: int
    val_accuracy: list[tuple[int, float]]  # (step, validation accuracy in %) at each check


def _accuracy(model: nn.Module, tokens: Tokens, y: Tensor) -> float:
    return 100.0 * float((_predict(model, tokens).argmax(1) == y).float().mean())


def _predict(model: nn.Module, tokens: Tokens, batch_size: int = 1024) -> Tensor:
    """Logits over all rows, in batches, without gradients."""
    was_training = model.training
    model.eval()
    with torch.no_grad():
        out = [model(*tokens.rows(torch.arange(i, min(i + batch_size, len(tokens)))))[0]
               for i in range(0, len(tokens), batch_size)]
    model.train(was_training)
    return torch.cat(out)  # (N, K)


def _length_batches(lengths, batch_size, g):
    """One epoch of shuffled batches whose rows have similar lengths (less padding to compute)."""
    if len(lengths) <= batch_size * 32:  # too few rows to bucket without fixing the batches: plain shuffling
        return list(torch.randperm(len(lengths), generator=g).split(batch_size))
    chunks = torch.randperm(len(lengths), generator=g).split(batch_size * 32)  # random chunks of 32 batches
    batches = [b for c in chunks for b in c[lengths[c].argsort()].split(batch_size)]  # sorted inside a chunk
    return [batches[i] for i in torch.randperm(len(batches), generator=g)]  # in random order


def _train_text_student(model, tokens, targets, teacher_logits, teacher_emb, val, *,
                        t, lam, beta, steps, lr, batch_size, checks, seed):
    """AdamW on length-bucketed mini-batches for `steps` steps; keep the checkpoint best on validation."""
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    lengths, batches = tokens.mask.sum(1), []  # (N,) real tokens per row
    best, history = (-1.0, 0, None), []
    for step in range(1, steps + 1):
        if not batches:  # a new epoch
            batches = _length_batches(lengths, batch_size, g)
        rows = batches.pop()
        logits, emb = model(*tokens.rows(rows))  # (B, K), (B, E)
        loss = _text_kd_loss(logits, emb, targets[rows], teacher_logits[rows], teacher_emb[rows], t, lam, beta)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % max(steps // checks, 1) == 0 or step == steps:
            acc = _accuracy(model, *val)  # the validation set picks the checkpoint
            history.append((step, acc))
            if acc > best[0]:
                best = (acc, step, copy.deepcopy(model.state_dict()))
    model.load_state_dict(best[2])
    return TrainResult(model.eval(), best[1], history)


def train_text_student(model: nn.Module, tokens: Tokens, targets: Tensor, *, val: tuple[Tokens, Tensor],
                       teacher_logits: Tensor | None = None, teacher_embeddings: Tensor | None = None,
                       temperature: float = 4.0, lam: float = 0.0, beta: float = 0.0, steps: int = 1000,
                       lr: float = 3e-3, batch_size: int = 128, checks: int = 5, seed: int = 0) -> TrainResult:
    """Train a text student with :func:`text_distillation_loss`, keeping its best checkpoint on validation.

    Args:
        model: a student (``model(ids, mask) -> (logits, embedding)``), trained in place.
        tokens: the training texts (:func:`~distill_lib.text.tokens.encode_texts`).
        targets: a class index per row, or UNLABELLED (``-100``) for an unlabelled transfer text.
        val: ``(tokens, labels)`` of the validation set; it picks the best of ``checks`` checkpoints.
        teacher_logits: ``(N, K)``, needed when ``lam > 0``.
        teacher_embeddings: ``(N, E)``, needed when ``beta > 0``.
        temperature, lam, beta: of the loss.
        steps: optimiser steps, >= 1. lr: AdamW's learning rate, > 0.
        batch_size: rows per step, >= 1. checks: validation checks over the run, >= 1.
        seed: the order of the rows (the caller seeds the initial weights), >= 0.

    Returns:
        TrainResult: the model at its best validation check, that step, the validation history.

    Raises:
        TypeError, ValueError: a bad argument (named in the message), before any weight changes.
    """
    model = check_module("model", model)
    if not isinstance(tokens, Tokens):
        raise TypeError(f"tokens must be a Tokens (from encode_texts), got {type(tokens).__name__}")
    n = len(tokens)
    t, lam, beta = check_temperature(temperature), check_lam(lam), _check_beta(beta)
    probe = model(*tokens.rows(torch.arange(min(n, 2))))
    k = probe[0].shape[1]
    if not isinstance(targets, Tensor) or targets.shape != (n,):
        raise ValueError(f"targets must be a tensor of shape ({n},), one per row of tokens; got {targets!r:.60}")
    _check_transfer_labels(targets, n, k, lam)
    teacher_logits = _check_teacher("teacher_logits", teacher_logits, (n, k), lam > 0)
    teacher_embeddings = _check_teacher("teacher_embeddings", teacher_embeddings, (n, probe[1].shape[1]), beta > 0)
    if not (isinstance(val, tuple) and len(val) == 2 and isinstance(val[0], Tokens)
            and isinstance(val[1], Tensor) and val[1].shape == (len(val[0]),)):
        raise TypeError("val must be a (Tokens, labels) pair with one label per row")
    steps = check_int("steps", steps, low=1)
    lr_ = check_real("lr", lr)
    if not (0.0 < lr_ < float("inf")):
        raise ValueError(f"lr={lr_!r} must be a finite number > 0")
    batch_size = check_int("batch_size", batch_size, low=1)
    checks = check_int("checks", checks, low=1)
    seed = check_int("seed", seed, low=0)
    return _train_text_student(model, tokens, targets.long(), teacher_logits, teacher_embeddings, val,
                               t=t, lam=lam, beta=beta, steps=steps, lr=lr_, batch_size=min(batch_size, n),
                               checks=checks, seed=seed)


def _check_teacher(name: str, value: object, shape: tuple[int, int], needed: bool) -> Tensor:
    if value is None:
        if needed:
            raise ValueError(f"{name} is needed for this loss (lam > 0 needs teacher_logits, beta > 0 "
                             f"teacher_embeddings); pass a tensor of shape {shape}")
        return torch.zeros(shape[0], shape[1])  # unused by the loss
    if not isinstance(value, Tensor) or not value.is_floating_point():
        raise TypeError(f"{name} must be a float tensor of shape {shape}, got {value!r:.60}")
    if tuple(value.shape) != shape:
        raise ValueError(f"{name} must have shape {shape}, got {tuple(value.shape)}")
    if not bool(torch.isfinite(value).all()):
        raise ValueError(f"{name} contains NaN or infinite values")
    return value


def predict_text(model: nn.Module, tokens: Tokens, batch_size: int = 1024) -> Tensor:
    """A student's logits over every row of ``tokens``, ``(N, K)``, in eval mode, without gradients."""
    model = check_module("model", model)
    if not isinstance(tokens, Tokens):
        raise TypeError(f"tokens must be a Tokens (from encode_texts), got {type(tokens).__name__}")
    return _predict(model, tokens, check_int("batch_size", batch_size, low=1))
