"""distill_lib.distillation.widget: the plain functions behind notebook 03's widget."""

import pytest
import torch

from distill_lib.distillation import TransferSet, draw_student, train_and_score
from distill_lib.student import train_on_transfer_set
from distill_lib.training import evaluate


def test_train_and_score(split, few):
    val = (split.X_val, split.y_val)
    scored = train_and_score(few, val, temperature=2.0, lam=0.5, width=16, seed=3, epochs=10)
    student, _ = train_on_transfer_set(*few, temperature=2.0, lam=0.5, sizes=[64, 16, 10], seed=3, epochs=10)
    assert scored.accuracy == pytest.approx(evaluate(student, *val))
    assert scored.per_class_accuracy.shape == (10,)
    counts = torch.bincount(split.y_val, minlength=10).float()
    assert (scored.per_class_accuracy * counts).sum().item() == pytest.approx(scored.accuracy * len(split.y_val))


def test_train_and_score_bad_input(split, few):
    val = (split.X_val, split.y_val)
    with pytest.raises(TypeError, match="transfer must be a TransferSet"):
        train_and_score((few.X, few.targets), val)
    with pytest.raises(ValueError, match=r"width=0 is out of range"):
        train_and_score(few, val, width=0)
    keep = split.y_val != 4
    with pytest.raises(ValueError, match=r"no example of class\(es\) \[4\]"):
        train_and_score(few, (split.X_val[keep], split.y_val[keep]), epochs=1)
    assert isinstance(few, TransferSet)


def test_draw_student_records_the_setting_and_lays_out_its_labels(split, few, full):
    import matplotlib

    matplotlib.use("Agg")
    tried = []
    fig = draw_student({"few": few, "all": full}, (split.X_val, split.y_val), torch.full((10,), 0.99), tried,
                       temperature=4.0, lam=0.9, width=8, labels="few", epochs=5)
    assert len(tried) == 1 and tried[0][:2] == (4.0, 0.9) and tried[0][2] == fig.scored.accuracy
    assert fig.get_layout_engine() is not None  # constrained layout: no clipped axis labels
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    for ax in fig.axes:
        box = ax.yaxis.label.get_window_extent(renderer)
        assert box.x0 >= 0, "the y label is clipped at the figure's left edge"
    with pytest.raises(ValueError, match=r"labels='none' must be one of \['few', 'all'\]"):
        draw_student({"few": few, "all": full}, (split.X_val, split.y_val), torch.ones(10), tried,
                     temperature=4.0, lam=0.9, width=8, labels="none")
