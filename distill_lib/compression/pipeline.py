r"""The whole compression pipeline, in two orders (notebook 06, sections 1 and 4).

**Order (a), distil first** (Hinton et al. 2015, then Han et al. 2016): distil a student from the
teacher, then compress the student: remove hidden units (structured pruning), prune single weights
by magnitude in steps (unstructured), then share weights (k-means, ``2**bits`` centroids per layer)
and fine-tune the codebook; every fine-tuning step uses the distillation loss of notebook 03.

**Order (b), compress the teacher first** (what the seed articles propose): prune and quantise the
teacher (fine-tuned with cross-entropy, since there is nothing to distil from), then distil the
student from the *compressed* teacher and compress the student with the same steps and budgets,
every soft target now coming from the compressed teacher.

:func:`compress_student` and :func:`compress_teacher` are the shown cores (notebook 06 shows them in a
cell ``# Saved in distill_lib/compression/pipeline.py``); they take an already-checked recipe. The
sweep that runs them over seeds and settings, with its bookkeeping (evaluation, bytes of real files),
is :mod:`distill_lib.compression.sweep`.
"""

from __future__ import annotations

from typing import Any

from ..losses import make_loss
from ..pruning import copy_model, make_permanent, prune_and_finetune, remove_hidden_units
from ..training import fit
from .weight_sharing import finetune_codebook, share_weights

__all__ = ["PIPELINE_RECIPE", "compress_student", "compress_teacher"]

#: Everything that determines the pipeline's models. The sweep's cache is keyed by it.
PIPELINE_RECIPE: dict[str, Any] = {
    # The student that order (a) compresses: wide, distilled on jittered copies (notebook 03's augmentation);
    # removing hidden units makes it 64-128-10 or 64-64-10 (Zhu & Gupta 2017: large-sparse beats small-dense).
    "student_sizes": [64, 256, 10],
    "augment_copies": 9,
    "temperature": 4.0,  # notebook 03's distillation loss, for every step of order (a)
    "lam": 0.9,
    "unit_sparsities": [0.0, 0.5, 0.75],  # structured: fraction of hidden units removed (validation chooses)
    "unit_epochs": 100,  # KD fine-tuning after removing units
    "schedule": [0.5, 0.7, 0.8, 0.85, 0.9, 0.95],  # unstructured sparsity after each pruning step
    "epochs_per_step": 50,  # KD fine-tuning after each pruning step
    "lr": 0.01,  # Adam, every pruning fine-tune
    "bits": [2, 3, 4, 5],  # weight sharing: 2**bits centroids per layer, codebook fine-tuned
    "codebook_epochs": 50,
    "codebook_lr": 0.01,
    "teacher_schedule": [0.5, 0.7, 0.8, 0.9, 0.95],  # order (b): the teacher's pruning steps
    "teacher_bits": [3, 4, 5],
    "teacher_epochs_per_step": 30,
    "teacher_lr": 0.001,
    "widths": [8, 16, 32, 64, 128, 256],  # dense students from scratch and distilled, for the Pareto plot
    "index_bits": 5,  # the relative index of the sparse format (Han et al. use 5 bits for fc layers)
    "seeds": [0, 1, 2, 3, 4],
}


def compress_student(student, X, targets, teacher_logits, recipe, unit_sparsity):
    """Order (a) after distilling: remove units, prune in steps, share weights; a snapshot after each stage."""
    loss_fn = make_loss(recipe["temperature"], recipe["lam"])  # every step recovers with the distillation loss
    model = remove_hidden_units(student, unit_sparsity)  # structured: a smaller dense MLP (a copy)
    if unit_sparsity > 0:
        fit(model, X, targets, teacher_logits=teacher_logits, loss_fn=loss_fn,
            epochs=recipe["unit_epochs"], lr=recipe["lr"], seed=0, progress=False)
    stages = {}  # (sparsity, bits) -> (model, shared); bits None: pruned only, float32 weights
    for step, sparsity in enumerate([0.0, *recipe["schedule"]]):
        if sparsity > 0:  # unstructured: prune a little more, fine-tune the survivors (masks stay on)
            prune_and_finetune(model, X, targets, sparsities=[sparsity], epochs=recipe["epochs_per_step"],
                               lr=recipe["lr"], teacher_logits=teacher_logits, temperature=recipe["temperature"],
                               lam=recipe["lam"], seed=step)
        pruned = make_permanent(copy_model(model))  # zeros in the weights, masks folded in
        stages[(sparsity, None)] = (pruned, None)
        for bits in recipe["bits"]:  # 2**bits shared values per layer, then fine-tune the centroids
            shared = share_weights(pruned, bits, method="kmeans")
            stages[(sparsity, bits)] = finetune_codebook(
                pruned, shared, X, targets, teacher_logits=teacher_logits, temperature=recipe["temperature"],
                lam=recipe["lam"], epochs=recipe["codebook_epochs"], lr=recipe["codebook_lr"], seed=step)
    return stages


def compress_teacher(teacher, X, targets, recipe):
    """Order (b)'s first step: prune the teacher in steps and share its weights, all with cross-entropy."""
    model = copy_model(teacher)
    stages = {}  # (sparsity, bits) -> (model, shared)
    for step, sparsity in enumerate(recipe["teacher_schedule"]):
        prune_and_finetune(model, X, targets, sparsities=[sparsity], epochs=recipe["teacher_epochs_per_step"],
                           lr=recipe["teacher_lr"], lam=0.0, seed=step)  # lam = 0: cross-entropy on the labels
        pruned = make_permanent(copy_model(model))
        for bits in recipe["teacher_bits"]:
            shared = share_weights(pruned, bits, method="kmeans")
            stages[(sparsity, bits)] = finetune_codebook(
                pruned, shared, X, targets, lam=0.0, epochs=recipe["codebook_epochs"],
                lr=recipe["codebook_lr"], seed=step)
    return stages

