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
                  eval_set=(split.X_val, split.y_val), progress=False)
    assert len(history.loss) == 60 == len(history.eval_accuracy)
    assert history.eval_accuracy[-1] == evaluate(model, split.X_val, split.y_val)
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


def _bad_fit_calls(X, y):
    nan_X = X.clone()
    nan_X[3, 5] = float("nan")
    v = torch.zeros(len(X), 10)
    return [
        (dict(), ValueError, "give targets, teacher_logits or both"),
        (dict(targets=y, epochs=0), ValueError, "epochs=0 is out of range"),
        (dict(targets=y, lr=-0.1), ValueError, r"lr=-0.1 must be finite and > 0"),
        (dict(targets=y, lr=float("inf")), ValueError, r"lr=inf must be finite"),
        (dict(targets=y, weight_decay=-1.0), ValueError, r"weight_decay=-1.0 must be finite and >= 0"),
        (dict(targets=y[:10]), ValueError, r"targets must have shape \(1079,\)"),
        (dict(targets=y.float()), TypeError, "targets must be an integer tensor"),
        (dict(targets=torch.full_like(y, 10)), ValueError, r"targets contain class index 10; allowed: \[0, 9\]"),
        (dict(targets=y, batch_size=0), ValueError, "batch_size=0"),
        (dict(teacher_logits=v), ValueError, "loss_fn is required"),
        (dict(teacher_logits=v[:, :7], loss_fn=mse_logit_loss), ValueError, "teacher_logits has 7 classes but the model outputs 10"),
        (dict(teacher_logits=v[:5], loss_fn=mse_logit_loss), ValueError, "teacher_logits has 5 rows but X has 1079"),
        (dict(targets=y, loss_fn="ce"), TypeError, "loss_fn must be callable"),
        (dict(targets=y, eval_set=(X[:359], y)), ValueError, r"eval_set\[1\] \(targets\) must have shape \(359,\)"),
        (dict(targets=y, eval_set=[X[:5], y[:5]]), TypeError, r"eval_set must be a tuple \(X, targets\)"),
        (dict(targets=y, eval_set=(X[:5], torch.full((5,), 11))), ValueError, r"eval_set\[1\] \(targets\) contain class index 11"),
        (dict(targets=y, seed=-3), ValueError, r"seed=-3 is out of range"),
        (dict(targets=y, progress="yes"), TypeError, "progress must be True, False or None"),
    ], nan_X


@pytest.mark.parametrize("case", range(18))
def test_fit_bad_input_changes_nothing(split, case):
    """Every bad argument is refused, named, before the weights, the mode or the RNG change."""
    X, y = split.X_train, split.y_train
    calls, _ = _bad_fit_calls(X, y)
    kwargs, error, match = calls[case]
    model = make_student()
    model.train()
    before = [p.detach().clone() for p in model.parameters()]
    rng = torch.get_rng_state()
    with pytest.raises(error, match=match):
        fit(model, X, **kwargs)
    assert model.training, "fit changed the model's mode before refusing its input"
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
    assert torch.equal(rng, torch.get_rng_state())


def test_fit_rejects_bad_model_and_inputs(split):
    X, y = split.X_train, split.y_train
    _, nan_X = _bad_fit_calls(X, y)
    with pytest.raises(TypeError, match="model must be a torch.nn.Module, got function"):
        fit(lambda x: x, X, y)
    with pytest.raises(ValueError, match=r"X contains 1 NaN or infinite value\(s\); inputs must be finite"):
        fit(make_student(), nan_X, y)
    with pytest.raises(TypeError, match=r"X must be a floating-point tensor of shape \(N, F\), got \(1079, 8, 8\)"):
        fit(make_student(), X.reshape(-1, 8, 8), y)
    frozen = make_student()
    for p in frozen.parameters():
        p.requires_grad_(False)
    with pytest.raises(ValueError, match="no trainable parameters"):
        fit(frozen, X, y)


def test_fit_accepts_unlabelled_rows_for_a_transfer_set_loss(split):
    from distill_lib.losses import UNLABELLED, make_loss

    targets = split.y_train.clone()
    targets[100:] = UNLABELLED
    v = torch.randn(len(targets), 10)
    history = fit(make_student(), split.X_train, targets, teacher_logits=v, loss_fn=make_loss(4.0, 0.5),
                  epochs=2, progress=False)
    assert len(history.loss) == 2


def test_train_epoch_is_the_loop_fit_runs(split):
    """fit = train_epoch once per epoch (same seed -> the same weights)."""
    from distill_lib.losses import cross_entropy_loss
    from distill_lib.training import train_epoch

    ours, by_hand = make_student(0), make_student(0)
    fit(ours, split.X_train, split.y_train, epochs=3, batch_size=256, seed=5, progress=False)
    set_seed(5)
    generator = torch.Generator().manual_seed(5)
    optimizer = torch.optim.Adam(by_hand.parameters(), lr=1e-2)
    losses = [train_epoch(by_hand, optimizer, cross_entropy_loss, split.X_train, {"targets": split.y_train}, 256,
                          generator) for _ in range(3)]
    assert all(torch.equal(a, b) for a, b in zip(ours.parameters(), by_hand.parameters()))
    assert all(isinstance(x, float) for x in losses)


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


def test_evaluate_bad_input_changes_nothing(split):
    model = make_student()
    model.train()
    nan_X = split.X_test.clone()
    nan_X[0, 0] = float("inf")
    for fn in (evaluate, confusion_matrix):
        with pytest.raises(TypeError, match="integer tensor of class indices"):
            fn(model, split.X_test, split.y_test.float())
        with pytest.raises(ValueError, match=r"X has 359 rows and targets has shape \(3,\)"):
            fn(model, split.X_test, split.y_test[:3])
        with pytest.raises(ValueError, match=r"targets contain class index 10; the model has 10 classes"):
            fn(model, split.X_test, torch.full_like(split.y_test, 10))
        with pytest.raises(ValueError, match=r"targets contain class index -1"):
            fn(model, split.X_test, torch.full_like(split.y_test, -1))
        with pytest.raises(ValueError, match="X contains 1 NaN or infinite value"):
            fn(model, nan_X, split.y_test)
        with pytest.raises(TypeError, match="model must be a torch.nn.Module"):
            fn("teacher", split.X_test, split.y_test)
        with pytest.raises(ValueError, match=r"X has shape \(359, 32\) but the model's first layer takes 64 features: "
                                             r"need shape \(N, 64\)"):
            fn(model, split.X_test[:, :32], split.y_test)
    with pytest.raises(ValueError, match=r"X has shape \(359, 32\).*need shape \(N, 64\)"):
        predict_logits(model, split.X_test[:, :32])
    with pytest.raises(ValueError, match=r"eval_set\[0\] \(X\) has shape \(359, 63\).*need shape \(N, 64\)"):
        fit(model, split.X_train, split.y_train, epochs=1, eval_set=(split.X_test[:, 1:], split.y_test))
    with pytest.raises(ValueError, match=r"X has shape \(1079, 63\).*need shape \(N, 64\)"):
        fit(model, split.X_train[:, 1:], split.y_train, epochs=1)
    assert model.training, "a refused call changed the model's mode"
    evaluate(model, split.X_test, split.y_test)
    predict_logits(model, split.X_test)
    assert model.training, "evaluate and predict_logits restore the mode they found"
