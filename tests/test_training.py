"""distill_lib.training: seeding, fit with any loss, evaluation."""

from functools import partial

import pytest
import torch
import torch.nn.functional as F
from sklearn.metrics import confusion_matrix as sk_confusion_matrix

from distill_lib.losses import distillation_loss, kd_kl_loss, mse_logit_loss
from distill_lib.models import mlp
from distill_lib.training import confusion_matrix, evaluate, fit, predict_logits, progress_enabled, set_seed


def make_student(seed=0):
    set_seed(seed)
    return mlp([64, 32, 10])


def test_set_seed_makes_runs_repeatable(split):
    a, b = make_student(1), make_student(1)
    ha = fit(a, split.X_train, split.y_train, epochs=5, batch_size=100, seed=3, progress=False)
    hb = fit(b, split.X_train, split.y_train, epochs=5, batch_size=100, seed=3, progress=False)
    assert ha.loss == hb.loss
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    with pytest.raises(ValueError, match="seed=-1"):
        set_seed(-1)


def test_full_batch_fit_is_plain_adam(split):
    """fit's full-batch path takes exactly the steps of a hand-written loop."""
    ours, bare = make_student(0), make_student(0)
    fit(ours, split.X_train, split.y_train, epochs=20, lr=1e-2, progress=False)
    opt = torch.optim.Adam(bare.parameters(), lr=1e-2)
    for _ in range(20):
        opt.zero_grad()
        F.cross_entropy(bare(split.X_train), split.y_train).backward()
        opt.step()
    for p, q in zip(ours.parameters(), bare.parameters()):
        torch.testing.assert_close(p, q)


def test_fit_learns_and_records_history(split):
    model = make_student(0)
    history = fit(model, split.X_train, split.y_train, epochs=60, lr=1e-2,
                  val=(split.X_val, split.y_val), progress=False)
    assert len(history.loss) == 60 == len(history.val_accuracy)
    assert history.loss[-1] < history.loss[0] / 5
    assert evaluate(model, split.X_test, split.y_test) > 0.9
    assert not model.training


@pytest.mark.parametrize("batch_size", [None, 64, 5000])
def test_fit_passes_only_given_keywords(split, batch_size):
    teacher_logits = torch.randn(len(split.y_train), 10)
    seen = []

    def spy(student_logits, **kwargs):
        seen.append((student_logits.shape[0], sorted(kwargs)))
        return F.cross_entropy(student_logits, kwargs["targets"]) if "targets" in kwargs else student_logits.mean() * 0

    fit(make_student(), split.X_train, split.y_train, loss_fn=spy, epochs=1, batch_size=batch_size, progress=False)
    fit(make_student(), split.X_train, teacher_logits=teacher_logits, loss_fn=spy, epochs=1, batch_size=batch_size,
        progress=False)
    assert {tuple(k) for _, k in seen} == {("targets",), ("teacher_logits",)}
    assert sum(n for n, k in seen if k == ["targets"]) == len(split.y_train)


def test_library_losses_plug_in(split):
    teacher_logits = torch.randn(len(split.y_train), 10) * 3
    for kwargs in (
        dict(teacher_logits=teacher_logits, loss_fn=mse_logit_loss),
        dict(teacher_logits=teacher_logits, loss_fn=partial(kd_kl_loss, temperature=4.0)),
        dict(targets=split.y_train, teacher_logits=teacher_logits,
             loss_fn=partial(distillation_loss, temperature=4.0, lam=0.5)),
    ):
        history = fit(make_student(), split.X_train, epochs=15, lr=1e-2, progress=False, **kwargs)
        assert history.loss[-1] < history.loss[0]


def test_fit_bad_input(split):
    X, y = split.X_train, split.y_train
    with pytest.raises(ValueError, match="give targets, teacher_logits or both"):
        fit(make_student(), X)
    with pytest.raises(ValueError, match="epochs=0 is out of range"):
        fit(make_student(), X, y, epochs=0)
    with pytest.raises(ValueError, match=r"lr=-0.1 must be finite and > 0"):
        fit(make_student(), X, y, lr=-0.1)
    with pytest.raises(ValueError, match=r"lr=inf must be finite"):
        fit(make_student(), X, y, lr=float("inf"))
    with pytest.raises(ValueError, match="targets must be a tensor with 1079 rows"):
        fit(make_student(), X, y[:10])
    with pytest.raises(ValueError, match="batch_size=0"):
        fit(make_student(), X, y, batch_size=0)
    with pytest.raises(ValueError, match="loss_fn is required"):
        fit(make_student(), X, teacher_logits=torch.zeros(len(X), 10))


def test_evaluate_and_confusion_matrix_match_sklearn(split):
    model = make_student(0)
    fit(model, split.X_train, split.y_train, epochs=30, lr=1e-2, progress=False)
    predictions = predict_logits(model, split.X_test).argmax(1)
    M = confusion_matrix(model, split.X_test, split.y_test)
    assert M.tolist() == sk_confusion_matrix(split.y_test.numpy(), predictions.numpy(), labels=range(10)).tolist()
    assert evaluate(model, split.X_test, split.y_test) == pytest.approx(M.trace().item() / M.sum().item())


def test_progress_switch(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("DISTILL_LIB_QUIET", raising=False)
    assert progress_enabled()
    monkeypatch.setenv("CI", "true")
    assert not progress_enabled()
    monkeypatch.setenv("CI", "0")
    monkeypatch.setenv("DISTILL_LIB_QUIET", "1")
    assert not progress_enabled()


def test_progress_bar_in_a_terminal(split, capsys):
    fit(make_student(), split.X_train, split.y_train, epochs=3, progress=True, desc="demo")
    err = capsys.readouterr().err
    assert "demo" in err and "3/3" in err


def test_train_student_distils(split):
    from distill_lib.student import STUDENT_SIZES, train_student
    from distill_lib.models import count_parameters
    from distill_lib.teacher import load_teacher

    teacher, _ = load_teacher(split=split, save=False)
    v = predict_logits(teacher, split.X_train)
    scratch, _ = train_student(split.X_train, split.y_train, seed=0, epochs=100)
    distilled, history = train_student(split.X_train, split.y_train, teacher_logits=v, seed=0, epochs=100)
    assert count_parameters(distilled) == 64 * 128 + 128 + 128 * 10 + 10 and STUDENT_SIZES == [64, 128, 10]
    assert len(history.loss) == 100
    assert evaluate(distilled, split.X_test, split.y_test) > 0.93
    again, _ = train_student(split.X_train, split.y_train, seed=0, epochs=100)
    assert all(torch.equal(a, b) for a, b in zip(scratch.parameters(), again.parameters()))
    with pytest.raises(ValueError, match="lam=2"):
        train_student(split.X_train, split.y_train, teacher_logits=v, lam=2)


def test_evaluate_bad_targets(split):
    model = make_student()
    with pytest.raises(TypeError, match="integer tensor of class indices"):
        evaluate(model, split.X_test, split.y_test.float())
    with pytest.raises(ValueError, match="359 rows and targets 3"):
        evaluate(model, split.X_test, split.y_test[:3])
