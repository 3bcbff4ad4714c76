"""distill_lib.quantization.experiments: notebook 04's experiments over seeds, as stats.Runs.

The experiments are checked against direct calls on tiny untrained MLPs (fast). The last section
asserts the claims notebook 04 makes at its default parameters (5 distilled students, the same
settings, the validation set), through the same library calls and the workbook's one rule,
``distill_lib.stats.compare``.
"""

import numpy as np
import pytest
import torch

from distill_lib.models import mlp
from distill_lib.quantization import (
    CALIBRATION_CHOICES,
    FakeQuantMLP,
    calibration_experiment,
    calibration_set,
    choose_calibration,
    distilled_students,
    evaluate_runs,
    ptq_models,
    qat_models,
    quantization_aware_training,
    weight_only_experiment,
)
from distill_lib.stats import Runs, compare
from distill_lib.training import predict_logits


@pytest.fixture(scope="module")
def tiny():
    """Three untrained 64-12-10 MLPs, {seed: model}: fast stand-ins for the students."""
    models = {}
    for seed in (3, 4, 5):
        torch.manual_seed(seed)
        models[seed] = mlp([64, 12, 10])
    return models


def correct(model, eval_set):
    X, y = eval_set
    return (predict_logits(model, X).argmax(1) == y).numpy()


def test_evaluate_runs_is_per_image_correctness(split, tiny):
    val = (split.X_val, split.y_val)
    runs = evaluate_runs(tiny, val)
    assert isinstance(runs, Runs) and runs.seeds == (3, 4, 5) and runs.correct.shape == (3, 359)
    for row, model in zip(runs.correct, tiny.values()):
        assert np.array_equal(row, correct(model, val))
    assert runs.per_seed[0] == pytest.approx(100 * correct(tiny[3], val).mean())


def test_weight_only_experiment_matches_direct_calls(split, tiny):
    val = (split.X_val, split.y_val)
    result = weight_only_experiment(tiny, val, [8, 3])
    assert set(result) == {(8, "per-tensor"), (8, "per-channel"), (3, "per-tensor"), (3, "per-channel")}
    for (bits, scheme), r in result.items():
        for row, m in zip(r["accuracy"].correct, tiny.values()):
            assert np.array_equal(row, correct(FakeQuantMLP(m, weight_bits=bits, per_channel=scheme == "per-channel"),
                                               val))
    assert result[3, "per-channel"]["mse"] < result[3, "per-tensor"]["mse"]
    assert result[8, "per-tensor"]["mse"] < result[3, "per-tensor"]["mse"] / 100


def test_calibration_set_is_nested_and_seeded(split):
    small, large = calibration_set(split.X_train, 3, 7), calibration_set(split.X_train, 40, 7)
    assert torch.equal(small, large[:3])
    order = torch.randperm(len(split.X_train), generator=torch.Generator().manual_seed(7))
    assert torch.equal(large, split.X_train[order[:40]])
    assert not torch.equal(calibration_set(split.X_train, 3, 8), small)


def test_ptq_models_match_direct_calls(split, tiny):
    models = ptq_models(tiny, split.X_train, n_calibration=50, bits=4, method="percentile", percentile=99.0)
    for seed, m in tiny.items():
        direct = FakeQuantMLP(m, weight_bits=4, activation_bits=4).calibrate(
            calibration_set(split.X_train, 50, seed), method="percentile", percentile=99.0)
        assert torch.equal(models[seed](split.X_val), direct(split.X_val))


def test_calibration_experiment_and_the_choice(split, tiny):
    val = (split.X_val, split.y_val)
    rows = calibration_experiment(tiny, split.X_train, val, sizes=[3, 40], bits=4,
                                  choices=["min/max", "percentile 99.9"])
    assert set(rows) == {("min/max", 3), ("min/max", 40), ("percentile 99.9", 3), ("percentile 99.9", 40)}
    method, percentile = CALIBRATION_CHOICES["percentile 99.9"]
    models = ptq_models(tiny, split.X_train, n_calibration=40, bits=4, method=method, percentile=percentile)
    errors = [q.activation_errors(split.X_val)[-1] for q in models.values()]
    assert rows["percentile 99.9", 40]["error"] == pytest.approx(sum(errors) / 3)
    assert np.array_equal(rows["percentile 99.9", 40]["accuracy"].correct, evaluate_runs(models, val).correct)
    choice = choose_calibration(rows)
    best = max(r["accuracy"].mean for r in rows.values())
    assert rows[choice]["accuracy"].mean == best


def test_choose_calibration_breaks_ties_by_error_then_size():
    def runs(values):
        return Runs(np.array([values, values]), (0, 1))

    rows = {("min/max", 16): {"accuracy": runs([True, False]), "error": 0.1},
            ("min/max", 4): {"accuracy": runs([True, False]), "error": 0.1},
            ("percentile 99.9", 4): {"accuracy": runs([True, False]), "error": 0.05},
            ("percentile 99.99", 4): {"accuracy": runs([False, False]), "error": 0.01}}
    assert choose_calibration(rows) == ("percentile 99.9", 4)
    del rows["percentile 99.9", 4]
    assert choose_calibration(rows) == ("min/max", 4)
    with pytest.raises(ValueError, match="non-empty dict"):
        choose_calibration({})


def test_choose_calibration_keeps_the_default_unless_beaten_beyond_noise():
    def runs(correct):
        return Runs(np.array(correct), (0, 1))

    tied = runs([[True] * 99 + [False], [True] * 99 + [False]])
    slightly_better = runs([[True] * 100, [True] * 99 + [False]])      # +0.5 points: within noise
    much_better = runs([[True] * 100, [True] * 100])
    poor = runs([[True] * 50 + [False] * 50, [True] * 50 + [False] * 50])
    rows = {("min/max", 256): {"accuracy": tied, "error": 0.1},
            ("percentile 99.9", 4): {"accuracy": slightly_better, "error": 0.1}}
    assert not compare(slightly_better, tied).beyond_noise
    assert choose_calibration(rows) == ("percentile 99.9", 4)                       # the best mean, without a default
    assert choose_calibration(rows, default=("min/max", 256)) == ("min/max", 256)   # a tie-break is not evidence
    rows = {("min/max", 256): {"accuracy": poor, "error": 0.1}, ("min/max", 4): {"accuracy": much_better, "error": 0.1}}
    assert compare(much_better, poor).beyond_noise
    assert choose_calibration(rows, default=("min/max", 256)) == ("min/max", 4)
    with pytest.raises(ValueError, match=r"default=\('min/max', 16\) is not one of the settings tried"):
        choose_calibration(rows, default=("min/max", 16))


def test_qat_models_train_copies(split, tiny):
    ptq = ptq_models(tiny, split.X_train, n_calibration=64, bits=3)
    before = {s: [p.clone() for p in q.parameters()] for s, q in ptq.items()}
    trained = qat_models(ptq, split, teacher_logits=None, epochs=3)
    for seed, q in ptq.items():
        assert all(torch.equal(a, b) for a, b in zip(before[seed], q.parameters())), "PTQ models must not change"
        direct = FakeQuantMLP(tiny[seed], weight_bits=3, activation_bits=3).calibrate(
            calibration_set(split.X_train, 64, seed))
        quantization_aware_training(direct, split.X_train, split.y_train, epochs=3, seed=seed)
        assert torch.equal(trained[seed](split.X_val), direct(split.X_val))


def test_experiments_refuse_bad_input(split, tiny):
    val = (split.X_val, split.y_val)
    one = {0: next(iter(tiny.values()))}
    with pytest.raises(ValueError, match=r"students holds 1 model\(s\); need at least 2 seeds"):
        weight_only_experiment(one, val, [8])
    with pytest.raises(TypeError, match=r"students must be a dict \{seed: model\}, got list"):
        weight_only_experiment(list(tiny.values()), val, [8])
    with pytest.raises(TypeError, match=r"eval_set must be a tuple \(X, targets\), got DigitsSplit"):
        weight_only_experiment(tiny, split, [8])
    with pytest.raises(ValueError, match=r"bit_widths\[1\]=1 is out of range; allowed: \[2, 16\]"):
        weight_only_experiment(tiny, val, [8, 1])
    with pytest.raises(ValueError, match=r"sizes\[1\]=2000 is out of range; allowed: \[1, 1079\]"):
        calibration_experiment(tiny, split.X_train, val, sizes=[4, 2000], bits=8)
    with pytest.raises(ValueError, match="sizes is empty"):
        calibration_experiment(tiny, split.X_train, val, sizes=[], bits=8)
    with pytest.raises(ValueError, match=r"choices=\['median'\]: each must be one of"):
        calibration_experiment(tiny, split.X_train, val, sizes=[4], bits=8, choices=["median"])
    with pytest.raises(ValueError, match=r"lam=2"):
        qat_models(ptq_models(tiny, split.X_train, n_calibration=8, bits=4), split, teacher_logits=None, lam=2)
    with pytest.raises(TypeError, match=r"models\[3\] must be a FakeQuantMLP"):
        qat_models(tiny, split, teacher_logits=None)
    with pytest.raises(ValueError, match=r"seeds=\[1, 1\] must hold at least 2 distinct seeds"):
        distilled_students(split, None, [1, 1])
    with pytest.raises(ValueError, match=r"lam=2"):
        distilled_students(split, None, [1, 2], lam=2)
    with pytest.raises(ValueError, match=r"n=0 is out of range; allowed: \[1, 1079\]"):
        calibration_set(split.X_train, 0, 1)


# ---------------------------------------------------------------- the notebook's claims at its defaults


@pytest.fixture(scope="module")
def students(split, teacher):
    return distilled_students(split, predict_logits(teacher, split.X_train), range(5))


def test_claim_per_channel_beats_per_tensor_at_3_bits(split, students):
    r = weight_only_experiment(students, (split.X_val, split.y_val), [3])
    d = compare(r[3, "per-channel"]["accuracy"], r[3, "per-tensor"]["accuracy"])
    assert d.beyond_noise and d.mean > 20, f"3 bits: {d}"


def test_claim_8_bit_ptq_costs_nothing_and_qat_beats_ptq_at_3_and_2_bits(split, teacher, students):
    val = (split.X_val, split.y_val)
    fp32 = evaluate_runs(students, val)
    ptq8 = evaluate_runs(ptq_models(students, split.X_train, n_calibration=256, bits=8), val)
    assert ptq8.mean - fp32.mean >= -0.5, f"8-bit PTQ {ptq8} vs float32 {fp32}"
    teacher_logits = predict_logits(teacher, split.X_train)
    for bits in (3, 2):
        ptq = ptq_models(students, split.X_train, n_calibration=256, bits=bits)
        qat = qat_models(ptq, split, teacher_logits=teacher_logits, epochs=60)
        d = compare(evaluate_runs(qat, val), evaluate_runs(ptq, val))
        assert d.beyond_noise and d.mean > 1, f"{bits} bits: QAT - PTQ = {d}"
    assert evaluate_runs(qat, val).mean > 70, "2-bit QAT should reach well above chance"
