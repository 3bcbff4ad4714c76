"""The sliders of notebook 06 (distill_lib.compression.widget): one-shot compression, its file and its accuracy."""

import matplotlib
import pytest
import torch

from distill_lib.compression.sweep import file_bytes
from distill_lib.compression.weight_sharing import apply_shared, share_weights
from distill_lib.compression.widget import PipelinePreview, draw_preview, pipeline_preview
from distill_lib.models import mlp
from distill_lib.pruning import copy_model, make_permanent, prune_magnitude
from distill_lib.training import fit, predict_logits


@pytest.fixture(scope="module")
def student(split):
    torch.manual_seed(0)
    model = mlp([64, 32, 10])
    fit(model, split.X_train, split.y_train, epochs=60, lr=0.01, seed=0, progress=False)
    return model


def test_preview_is_the_one_shot_pipeline(student, split):
    val = (split.X_val, split.y_val)
    before = {k: v.clone() for k, v in student.state_dict().items()}
    view = pipeline_preview(student, 0.8, 3, eval_set=val, teacher_bytes=100_000)
    # the same steps by hand: global magnitude pruning, k-means sharing, the Huffman file
    by_hand = copy_model(student)
    prune_magnitude(by_hand, 0.8, scope="global")
    by_hand = make_permanent(by_hand)
    shared = share_weights(by_hand, 3, method="kmeans")
    by_hand = apply_shared(by_hand, shared)
    assert view.bytes == file_bytes(by_hand, "huffman", shared)
    hits = int((predict_logits(by_hand, split.X_val).argmax(1) == split.y_val).sum())
    assert view.accuracy == pytest.approx(100 * hits / len(split.y_val))
    assert view.ratio == pytest.approx(100_000 / view.bytes)
    assert all(torch.equal(v, student.state_dict()[k]) for k, v in before.items())  # the student is untouched


def test_preview_without_bits_or_sparsity(student, split):
    val = (split.X_val, split.y_val)
    dense = pipeline_preview(student, 0.0, None, eval_set=val, teacher_bytes=1000)
    assert dense.bytes == file_bytes(student, "dense")
    assert dense.accuracy == pytest.approx(100 * float((predict_logits(student, split.X_val).argmax(1) == split.y_val).float().mean()), abs=1e-4)
    pruned = pipeline_preview(student, 0.9, None, eval_set=val, teacher_bytes=1000)
    assert pruned.bytes < dense.bytes  # float32 values + indices of 10 % of the weights
    coded = pipeline_preview(student, 0.9, 2, eval_set=val, teacher_bytes=1000)
    assert coded.bytes < pruned.bytes


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(sparsity=1.0), ValueError, "sparsity"),
        (dict(bits=0), ValueError, "bits=0"),
        (dict(bits=9), ValueError, "bits=9"),
        (dict(teacher_bytes=0), ValueError, "teacher_bytes=0"),
        (dict(index_bits=17), ValueError, "index_bits=17"),
        (dict(eval_set=[1, 2]), TypeError, "eval_set"),
    ],
)
def test_preview_bad_input(student, split, kwargs, error, match):
    args = dict(sparsity=0.5, bits=4, eval_set=(split.X_val, split.y_val), teacher_bytes=1000)
    args.update(kwargs)
    with pytest.raises(error, match=match):
        pipeline_preview(student, args.pop("sparsity"), args.pop("bits"), **args)


def test_draw_preview_returns_a_closed_figure(student, split):
    view = PipelinePreview(0.5, 4, 2000, 50.0, 97.0)
    fig = draw_preview(view, [(3000.0, 98.0, "a"), (1000.0, 95.0, "b")], teacher_accuracy=99.4, teacher_bytes=100_000)
    assert isinstance(fig, matplotlib.figure.Figure)
    assert "50x" in fig.axes[0].get_title() and fig.axes[0].get_xscale() == "log"
    with pytest.raises(TypeError, match="view must be a PipelinePreview"):
        draw_preview("view", [], teacher_accuracy=99.0, teacher_bytes=10)
