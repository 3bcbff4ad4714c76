r"""The sparsity and bits sliders of notebook 06 (section 6): a plain function and its drawing.

:func:`pipeline_preview` compresses a copy of a student one-shot, without any fine-tuning: global
magnitude pruning to ``sparsity``, then k-means weight sharing with ``2**bits`` centroids per layer
(``bits=None`` keeps float32 values), writes the file of the last stage
(:func:`~distill_lib.compression.storage.save_compressed`) and measures its size and the validation
accuracy. :func:`draw_preview` shows where that lands against the sweep's models on the
accuracy-bytes plane. The widget's callback calls the two; the tests and ``tools/bench_nb06.py``
call them directly.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import matplotlib.pyplot as plt
from torch import Tensor, nn

from .._validation import check_eval_set, check_int, check_module, check_real
from ..pruning import copy_model, make_permanent, prune_magnitude
from ..pruning.apply import accuracy
from ..pruning.masks import check_sparsity
from .sweep import file_bytes
from .weight_sharing import apply_shared, share_weights

__all__ = ["PipelinePreview", "pipeline_preview", "draw_preview"]


@dataclass(frozen=True)
class PipelinePreview:
    """One slider position: the settings, the file's size, the ratio to the teacher and the accuracy."""

    sparsity: float
    bits: int | None
    bytes: int  # the file at the last stage ("huffman", or "pruned"/"dense" without bits)
    ratio: float  # teacher_bytes / bytes
    accuracy: float  # % on the evaluation set (validation)


def pipeline_preview(
    student: nn.Module,
    sparsity: float,
    bits: int | None,
    *,
    eval_set: tuple[Tensor, Tensor],
    teacher_bytes: int,
    index_bits: int = 5,
) -> PipelinePreview:
    """Compress a copy of ``student`` one-shot (no fine-tuning) and measure its file and its accuracy.

    Args:
        student: a trained MLP (``nn.Sequential`` of Linear/ReLU); not modified.
        sparsity: fraction of all weights pruned by global magnitude, in ``[0, 1)``.
        bits: k-means weight sharing with ``2**bits`` centroids per layer, 1..8; ``None`` keeps float32.
        eval_set: ``(X, targets)``, normally the validation set.
        teacher_bytes: the teacher's file size, for the ratio (> 0).
        index_bits: bits per relative index in the sparse format, 1..16.

    Returns:
        A :class:`PipelinePreview`.

    Raises:
        TypeError, ValueError: a bad argument, named in the message.

    Example::

        >>> view = pipeline_preview(student, 0.9, 4, eval_set=val_set, teacher_bytes=333_900)
        >>> view.ratio, view.accuracy
    """
    check_module("student", student)
    sparsity = check_sparsity(sparsity)
    if bits is not None:
        bits = check_int("bits", bits, low=1, high=8)
    eval_set = check_eval_set(eval_set, name="eval_set")
    teacher_bytes = check_int("teacher_bytes", teacher_bytes, low=1)
    index_bits = check_int("index_bits", index_bits, low=1, high=16)
    model = copy_model(student)
    if sparsity > 0:
        prune_magnitude(model, sparsity, scope="global")
    model = make_permanent(model)
    if bits is None:
        stage, shared = ("pruned" if sparsity > 0 else "dense"), None
    else:
        stage, shared = "huffman", share_weights(model, bits, method="kmeans")
        model = apply_shared(model, shared)
    size = file_bytes(model, stage, shared, index_bits)
    return PipelinePreview(sparsity, bits, size, teacher_bytes / size, accuracy(model, *eval_set))


def draw_preview(
    view: PipelinePreview,
    points: Sequence[tuple[float, float, str]],
    *,
    teacher_accuracy: float,
    teacher_bytes: int,
):
    """The accuracy-bytes plane: the sweep's models (validation means) and the slider's model.

    Args:
        view: from :func:`pipeline_preview`.
        points: ``(bytes, accuracy %, label)`` of the models to draw behind it (e.g. the sweep's arms).
        teacher_accuracy: the teacher's validation accuracy in %: the 1-point line is drawn below it.
        teacher_bytes: the teacher's file size: the 40x and 100x budgets are drawn from it.

    Returns:
        The matplotlib figure (closed, so that notebooks do not draw it twice).
    """
    if not isinstance(view, PipelinePreview):
        raise TypeError(f"view must be a PipelinePreview (from pipeline_preview), got {type(view).__name__}")
    teacher_accuracy = check_real("teacher_accuracy", teacher_accuracy)
    teacher_bytes = check_int("teacher_bytes", teacher_bytes, low=1)
    fig, ax = plt.subplots(figsize=(7.5, 3.8))
    if points:
        ax.scatter([p[0] for p in points], [p[1] for p in points], s=12, color="0.7", label="sweep (validation means)")
    ax.axhline(teacher_accuracy - 1.0, color="C3", ls="--", lw=1, label="1 point below the teacher")
    for ratio, ls in ((40, ":"), (100, "-.")):
        ax.axvline(teacher_bytes / ratio, color="0.4", ls=ls, lw=1, label=f"{ratio}x smaller than the teacher")
    ax.scatter([view.bytes], [view.accuracy], s=90, color="C1", zorder=3, edgecolor="k",
               label="this setting, one-shot (no fine-tuning)")
    ax.set_xscale("log")
    low = min([view.accuracy] + [p[1] for p in points]) if math.isfinite(view.accuracy) else 0
    ax.set_ylim(max(0.0, low - 2), 100.5)
    ax.set_xlabel("bytes of the file (log scale)")
    ax.set_ylabel("validation accuracy (%)")
    bits = "float32" if view.bits is None else f"{view.bits}-bit k-means"
    ax.set_title(f"{view.sparsity:.0%} sparse, {bits}: {view.bytes:,} bytes ({view.ratio:.0f}x), "
                 f"{view.accuracy:.1f} %", fontsize=10)
    ax.legend(fontsize=7, loc="lower right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    plt.close(fig)
    return fig
