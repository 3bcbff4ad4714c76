r"""The whole compression pipeline, in two orders (notebook 06, sections 1 and 4).

**Order (a), distil first** (Hinton et al. 2015, then Han et al. 2016): distil a student from the
teacher, then compress the student: remove hidden units (structured pruning), prune single weights
by magnitude in steps (unstructured), then share weights (k-means, ``2**bits`` centroids per layer)
and fine-tune the codebook; every fine-tuning step uses the distillation loss of notebook 03.

**Order (b), compress the teacher first** (what the seed articles propose): prune and quantise the
teacher (fine-tuned with cross-entropy, since there is nothing to distil from), then distil the
student from the *compressed* teacher and compress the student with the same steps and budgets,
every soft target now coming from the compressed teacher.

:func:`_compress_student` and :func:`_compress_teacher` are the shown cores (notebook 06 shows them in a
cell ``# Saved in distill_lib/compression/pipeline.py``); the public :func:`compress_student` and
:func:`compress_teacher` check every argument (the recipe with :func:`check_pipeline_recipe`), then call them. The
sweep that runs them over seeds and settings, with its bookkeeping (evaluation, bytes of real files),
is :mod:`distill_lib.compression.sweep`.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from typing import Any

from torch import Tensor, nn

from ..losses import make_loss
from ..pruning import copy_model, make_permanent, prune_and_finetune, remove_hidden_units
from ..pruning.masks import check_sparsity
from ..training import fit
from .weight_sharing import check_mlp, check_training_set, finetune_codebook, share_weights

__all__ = ["PIPELINE_RECIPE", "check_pipeline_recipe", "compress_student", "compress_teacher"]

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


def _compress_student(student, X, targets, teacher_logits, recipe, unit_sparsity):
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


def _compress_teacher(teacher, X, targets, recipe):
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



def compress_student(
    student: nn.Sequential, X: Tensor, targets: Tensor, teacher_logits: Tensor, recipe: Mapping[str, Any],
    unit_sparsity: float,
) -> dict[tuple[float, int | None], tuple[nn.Sequential, list | None]]:
    """Order (a)'s compression of a distilled student, with a snapshot after every stage (validates, then runs the core).

    Removes ``unit_sparsity`` of the hidden units (then ``recipe["unit_epochs"]`` of distillation fine-tuning),
    prunes single weights by global magnitude to each sparsity of ``recipe["schedule"]`` in turn
    (``recipe["epochs_per_step"]`` of fine-tuning each), and at every sparsity (0 included) shares the weights
    with k-means at each of ``recipe["bits"]`` and fine-tunes the codebook (eq. 3). Every fine-tune uses
    the distillation loss at ``recipe["temperature"]`` and ``recipe["lam"]``.

    Args:
        student: the trained student (``nn.Sequential`` MLP); not modified.
        X, targets: the training set, ``(N, F)`` and ``(N,)``.
        teacher_logits: the teacher's logits on ``X``, ``(N, C)``.
        recipe: :data:`PIPELINE_RECIPE` or one with the same keys (:func:`check_pipeline_recipe`).
        unit_sparsity: fraction of hidden units removed, in ``[0, 1)``.

    Returns:
        ``{(sparsity, bits): (model, shared)}``; ``bits=None`` is the pruned float32 model (``shared`` None),
        otherwise the model with the shared weights applied and its :class:`SharedWeights` list.

    Raises:
        TypeError, ValueError: a bad argument, named in the message, before anything is trained.

    Example::

        >>> stages = compress_student(student, split.X_train, split.y_train, teacher_logits, PIPELINE_RECIPE, 0.5)
        >>> model, shared = stages[(0.9, 4)]
    """
    linears = check_mlp(student, "student")
    recipe = check_pipeline_recipe(recipe)
    check_training_set(X, targets, teacher_logits, recipe["lam"], linears)
    unit_sparsity = check_sparsity(unit_sparsity, "unit_sparsity")
    return _compress_student(student, X, targets, teacher_logits, recipe, unit_sparsity)


def compress_teacher(
    teacher: nn.Sequential, X: Tensor, targets: Tensor, recipe: Mapping[str, Any],
) -> dict[tuple[float, int], tuple[nn.Sequential, list]]:
    """Order (b)'s first step: the teacher pruned to each of ``recipe["teacher_schedule"]`` and shared at each of
    ``recipe["teacher_bits"]``, fine-tuned with cross-entropy (validates, then runs the core).

    Args:
        teacher: the teacher (``nn.Sequential`` MLP, dropout allowed); not modified.
        X, targets: the training set.
        recipe: :data:`PIPELINE_RECIPE` or one with the same keys.

    Returns:
        ``{(sparsity, bits): (model, shared)}``.

    Raises:
        TypeError, ValueError: a bad argument, named in the message, before anything is trained.
    """
    linears = check_mlp(teacher, "teacher")
    recipe = check_pipeline_recipe(recipe)
    check_training_set(X, targets, None, 0.0, linears)  # cross-entropy: no teacher logits
    return _compress_teacher(teacher, X, targets, recipe)


def check_pipeline_recipe(recipe: object) -> dict:
    """The recipe, checked: the keys of :data:`PIPELINE_RECIPE`, each of a usable type and range."""
    if not isinstance(recipe, Mapping):
        raise TypeError(f"recipe must be a dict like PIPELINE_RECIPE, got {type(recipe).__name__}")
    missing, extra = set(PIPELINE_RECIPE) - set(recipe), set(recipe) - set(PIPELINE_RECIPE)
    if missing or extra:
        raise ValueError(f"recipe must have exactly the keys of PIPELINE_RECIPE; missing {sorted(missing)}, "
                         f"unexpected {sorted(map(str, extra))}")
    recipe = copy.deepcopy(dict(recipe))
    for key in ("schedule", "teacher_schedule"):
        values = recipe[key]
        if not values or any(not (isinstance(v, float) and 0 < v < 1) for v in values) or list(values) != sorted(values):
            raise ValueError(f"recipe[{key!r}]={values!r} must be increasing floats in (0, 1)")
    for key in ("bits", "teacher_bits"):
        if not recipe[key] or any(isinstance(b, bool) or not isinstance(b, int) or not 1 <= b <= 8 for b in recipe[key]):
            raise ValueError(f"recipe[{key!r}]={recipe[key]!r} must be integers in [1, 8]")
    if not recipe["seeds"] or len(set(recipe["seeds"])) != len(recipe["seeds"]):
        raise ValueError(f"recipe['seeds']={recipe['seeds']!r} must be distinct integers >= 0")
    for key in ("unit_epochs", "epochs_per_step", "codebook_epochs", "teacher_epochs_per_step", "augment_copies"):
        if isinstance(recipe[key], bool) or not isinstance(recipe[key], int) or recipe[key] < 1:
            raise ValueError(f"recipe[{key!r}]={recipe[key]!r} must be an integer >= 1")
    for key in ("lr", "codebook_lr", "teacher_lr", "temperature"):
        if not (isinstance(recipe[key], float) and math.isfinite(recipe[key]) and recipe[key] > 0):
            raise ValueError(f"recipe[{key!r}]={recipe[key]!r} must be a finite float > 0")
    if not (isinstance(recipe["lam"], float) and 0 < recipe["lam"] <= 1):
        raise ValueError(f"recipe['lam']={recipe['lam']!r} must be a float in (0, 1]")
    if any(not (isinstance(u, float) and 0 <= u < 1) for u in recipe["unit_sparsities"]):
        raise ValueError(f"recipe['unit_sparsities']={recipe['unit_sparsities']!r} must be floats in [0, 1)")
    return recipe
