"""distill_lib.pruning.preview: what the sparsity slider of notebook 05 draws."""

import pytest
import torch
from torch.nn.utils import prune as torch_prune

from distill_lib.models import mlp
from distill_lib.pruning import accuracy_vs_sparsity, draw_preview, prune_preview
from distill_lib.training import evaluate, set_seed


def setup():
    set_seed(0)
    g = torch.Generator().manual_seed(0)
    return mlp([64, 128, 10]), (torch.rand(64, 64, generator=g), torch.randint(0, 10, (64,), generator=g))


def test_prune_preview_defaults_and_layers():
    model, eval_set = setup()
    view = prune_preview(model, 0.9, eval_set=eval_set, scope="layer")
    assert view.layer == "0" and view.weight.shape == view.mask.shape == (128, 64)
    assert int((view.mask == 0).sum()) == round(0.9 * 8192)
    assert torch.all(view.weight[view.mask == 0] == 0)
    assert view.layer_sparsity == round(0.9 * 8192) / 8192
    assert view.accuracy == accuracy_vs_sparsity(model, [0.9], eval_set=eval_set, scope="layer")[0]
    assert view.sparsity == (round(0.9 * 8192) + round(0.9 * 1280)) / 9472
    last = prune_preview(model, 0.0, eval_set=eval_set, layer="2")
    assert last.weight.shape == (10, 128) and last.layer_sparsity == 0.0
    assert last.accuracy == pytest.approx(100 * evaluate(model, *eval_set), abs=1e-4)
    assert not any(torch_prune.is_pruned(m) for m in model.modules())  # a copy was pruned


def test_bad_input():
    model, eval_set = setup()
    with pytest.raises(TypeError, match="'1' is a ReLU"):
        prune_preview(model, 0.5, eval_set=eval_set, layer="1")
    with pytest.raises(ValueError, match=r"sparsity=1\.0 is out of range"):
        prune_preview(model, 1.0, eval_set=eval_set)
    with pytest.raises(TypeError, match=r"eval_set must be a tuple \(X, targets\)"):
        prune_preview(model, 0.5, eval_set=eval_set[0])


def test_draw_preview_keeps_every_label_inside_the_picture():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    model, eval_set = setup()
    view = prune_preview(model, 0.9, eval_set=eval_set)
    fig = draw_preview(view, [0.0, 0.5, 0.9], [98.0, 90.0, view.accuracy])
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    box = fig.bbox
    labels = [t for ax in fig.axes for t in (ax.xaxis.label, ax.yaxis.label, ax.title) if t.get_text()]
    assert len(labels) == 3 * 3  # x label, y label and title on each of the three panels
    for text in labels:
        extent = text.get_window_extent(renderer)
        assert box.x0 <= extent.x0 and extent.x1 <= box.x1 and box.y0 <= extent.y0 and extent.y1 <= box.y1, text.get_text()
    mask_key = [t.get_text() for t in fig.axes[1].get_legend().get_texts()]
    assert any("pruned" in t for t in mask_key) and any("kept" in t for t in mask_key)
    assert fig.axes[2].yaxis.label.get_text() == "validation accuracy (%)"
    plt.close(fig)
    with pytest.raises(TypeError, match="eval_name must be a non-empty string"):
        draw_preview(view, [0.0], [1.0], eval_name="")
    with pytest.raises(TypeError, match="view must be a PrunePreview"):
        draw_preview(view.mask, [0.0], [1.0])
    with pytest.raises(ValueError, match="sparsities has 2 values but accuracies 1"):
        draw_preview(view, [0.0, 0.5], [1.0])
