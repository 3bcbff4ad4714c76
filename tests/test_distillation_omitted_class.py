"""distill_lib.distillation.omitted_class: the bias correction, its search range, the AUROC, the experiment."""

import numpy as np
import pytest
import torch

from distill_lib.distillation import bias_candidates, choose_bias, omitted_class_experiment, one_vs_rest_auroc
from distill_lib.student import train_student
from distill_lib.training import predict_logits

B = torch.arange(0.0, 4.01, 0.25)  # 0, 0.25, ..., 4


def test_choose_bias_hand_made():
    # Class 1 is always 1.0 too low: examples 0-1 are 0s (margin 2 and 3), examples 2-3 are 1s
    # whose logit trails class 0 by 0.5 and 1.5. Adding b to class 1 gets example 2 right for
    # b > 0.5, example 3 for b > 1.5, and loses example 0 for b > 2, example 1 for b > 3.
    z = torch.tensor([[2.0, 0.0], [3.0, 0.0], [0.5, 0.0], [1.5, 0.0]])
    y = torch.tensor([0, 0, 1, 1])
    bias, accuracy = choose_bias(z, y, digit=1, biases=B)
    expected = torch.tensor([(y == (z + torch.tensor([0.0, b])).argmax(1)).float().mean() for b in B.tolist()])
    torch.testing.assert_close(accuracy, expected)
    # Best accuracy 1.0 for b in (1.5, 2], i.e. candidates 1.75 and 2.0: the lower middle is 1.75.
    assert accuracy.max() == 1.0 and bias == 1.75


def test_choose_bias_stays_at_zero_without_evidence():
    z, y = torch.tensor([[2.0, -5.0], [0.0, -5.0]]), torch.tensor([0, 0])
    bias, accuracy = choose_bias(z, y, digit=1, biases=torch.linspace(0, 3, 7))
    assert bias == 0.0 and (accuracy == 1.0).all()


def test_choose_bias_odd_plateau_takes_the_middle():
    z, y = torch.tensor([[0.0, -1.0]]), torch.tensor([1])
    bias, accuracy = choose_bias(z, y, digit=1, biases=torch.tensor([0.0, 0.5, 2.0, 3.0, 4.0]))
    assert accuracy.tolist() == [0.0, 0.0, 1.0, 1.0, 1.0] and bias == 3.0


def test_choose_bias_bad_input():
    z, y = torch.zeros(3, 10), torch.zeros(3, dtype=torch.long)
    with pytest.raises(ValueError, match=r"digit=10 is out of range"):
        choose_bias(z, y, 10, B)
    with pytest.raises(ValueError, match="strictly increasing"):
        choose_bias(z, y, 3, torch.tensor([0.0, 2.0, 1.0]))
    with pytest.raises(TypeError, match="1-D floating-point"):
        choose_bias(z, y, 3, torch.tensor([0, 1]))
    with pytest.raises(ValueError, match=r"y_val must have shape \(3,\)"):
        choose_bias(z, y[:2], 3, B)
    with pytest.raises(ValueError, match=r"y_val contain class index 42; allowed range is \[0, 9\]"):
        choose_bias(z, torch.tensor([0, 1, 42]), 3, B)
    with pytest.raises(ValueError, match="val_logits contains 1 NaN"):
        choose_bias(z.index_put((torch.tensor([0]), torch.tensor([0])), torch.tensor(float("nan"))), y, 3, B)


def test_bias_candidates_widen_until_the_curve_turns_over():
    # Class 1 trails by 10 on its own examples: the best bias lies above 10, beyond the first range [0, 4].
    z = torch.tensor([[20.0, 0.0], [30.0, 0.0], [10.0, 0.0], [12.0, 0.0]])
    y = torch.tensor([0, 0, 1, 1])
    biases = bias_candidates([z], y, digit=1, step=0.25, start=4.0)
    # [0, 16]: the best (from 12.25) lies in the second half; [0, 32]: in the first half, and 32 is worse.
    assert biases[0] == 0 and biases[-1] == 32.0
    bias, accuracy = choose_bias(z, y, 1, biases)
    assert 12.0 < bias <= 20.0 and accuracy.max() == 1.0 and accuracy[-1] < 1.0
    with pytest.raises(ValueError, match=r"need 0 < step=0.0"):
        bias_candidates([z], y, digit=1, step=0.0)
    with pytest.raises(TypeError, match="a non-empty list of"):
        bias_candidates(z, y, digit=1)


def test_one_vs_rest_auroc_against_pairs():
    g = torch.Generator().manual_seed(0)
    scores = torch.randn(60, generator=g).round(decimals=1)  # ties included
    positive = torch.rand(60, generator=g) < 0.3
    pos, neg = scores[positive], scores[~positive]
    pairs = (pos[:, None] > neg[None, :]).double() + 0.5 * (pos[:, None] == neg[None, :]).double()
    assert one_vs_rest_auroc(scores, positive) == pytest.approx(pairs.mean().item(), abs=1e-12)
    assert one_vs_rest_auroc(scores + 7.0, positive) == one_vs_rest_auroc(scores, positive)  # no threshold
    assert one_vs_rest_auroc(torch.tensor([0.1, 0.9, 0.4]), torch.tensor([False, True, False])) == 1.0
    sklearn = pytest.importorskip("sklearn.metrics")
    assert one_vs_rest_auroc(scores, positive) == pytest.approx(sklearn.roc_auc_score(positive, scores), abs=1e-12)


def test_one_vs_rest_auroc_bad_input():
    with pytest.raises(ValueError, match="1 True and 0 False"):
        one_vs_rest_auroc(torch.tensor([1.0]), torch.tensor([True]))
    with pytest.raises(TypeError, match="positive must be a bool tensor of shape"):
        one_vs_rest_auroc(torch.tensor([1.0, 2.0]), torch.tensor([1, 0]))


def test_omitted_class_experiment_small(split, teacher):
    arms, biases = omitted_class_experiment(split, teacher, digit=3, seeds=[0, 1], epochs=20)
    assert set(arms) == {"distilled", "scratch"} and biases[0] == 0
    d = arms["distilled"]
    assert d.before.correct.shape == (2, len(split.y_test))
    assert d.digit_before.correct.shape == (2, int((split.y_test == 3).sum()))
    assert len(d.val_curve) == len(biases) and d.val_curve[-1] < d.val_curve.max()  # turned over
    # Seed 1 of "scratch" is train_student on the training set without 3s.
    keep = split.y_train != 3
    student, _ = train_student(split.X_train[keep], split.y_train[keep], seed=1, epochs=20)
    assert arms["scratch"].before.correct[1].tolist() == (predict_logits(student, split.X_test).argmax(1)
                                                          == split.y_test).tolist()
    z = predict_logits(student, split.X_test)
    assert arms["scratch"].auroc_per_seed[1] == pytest.approx(one_vs_rest_auroc(z[:, 3], split.y_test == 3))
    assert arms["scratch"].digit_before.mean == 0.0  # never saw a 3, never predicts one


def test_omitted_class_experiment_bad_input(split, teacher):
    with pytest.raises(ValueError, match=r"digit=12 is out of range"):
        omitted_class_experiment(split, teacher, digit=12)
    with pytest.raises(ValueError, match=r"lam=2.0"):
        omitted_class_experiment(split, teacher, lam=2.0)
    with pytest.raises(TypeError, match="split must be a DigitsSplit"):
        omitted_class_experiment((split.X_train, split.y_train), teacher)
    with pytest.raises(ValueError, match=r"seeds=\[0, 0\]"):
        omitted_class_experiment(split, teacher, seeds=[0, 0])
