"""distill_lib.quantization.experiments: notebook 04's experiments over seeds, and ``compare``.

The experiments are checked against direct calls on tiny untrained MLPs (fast); ``compare``
against hand-made values. The last section asserts the claims notebook 04 makes at its default
parameters (5 distilled students, the same settings), through the same library calls.
"""

import pytest
import torch

from distill_lib.data import load_split
from distill_lib.distillation import SeedStats
from distill_lib.models import mlp
from distill_lib.quantization import (
    FakeQuantMLP,
    calibration_experiment,
    compare,
    distilled_students,
    ptq_experiment,
    qat_experiment,
    quantization_aware_training,
    seed_accuracy,
    weight_only_experiment,
)
from distill_lib.teacher import load_teacher
from distill_lib.training import evaluate, predict_logits


@pytest.fixture(scope="module")
def tiny(split):
    """Three untrained 64-12-10 MLPs, {seed: model}: fast stand-ins for the students."""
    models = {}
    for seed in (3, 4, 5):
        torch.manual_seed(seed)
        models[seed] = mlp([64, 12, 10])
    return models


# ---------------------------------------------------------------- compare: clear or within noise


def stats(*values, seeds=None):
    return SeedStats(tuple(seeds or range(len(values))), tuple(values))


def test_compare_by_hand():
    c = compare(stats(0.9, 0.8, 0.7), stats(0.5, 0.6, 0.6))
    assert (c.verdict, c.higher, c.lower, c.n) == ("higher", 3, 0, 3)
    assert c.difference.values == pytest.approx((0.4, 0.2, 0.1))
    assert compare(stats(0.5, 0.6, 0.6), stats(0.9, 0.8, 0.7)).verdict == "lower"
    # one seed disagrees: within noise, however large the mean difference
    c = compare(stats(0.9, 0.9, 0.4), stats(0.1, 0.1, 0.5))
    assert (c.verdict, c.higher, c.lower) == ("within noise", 2, 1) and c.difference.mean > 0.45
    # a tie counts in neither direction
    c = compare(stats(0.9, 0.8, 0.7), stats(0.5, 0.8, 0.6))
    assert (c.verdict, c.higher, c.lower) == ("within noise", 2, 0)
    # two seeds never give a verdict
    assert compare(stats(0.9, 0.8), stats(0.1, 0.1)).verdict == "within noise"


def test_compare_bad_input():
    with pytest.raises(ValueError, match="same seeds"):
        compare(stats(0.9, 0.8, 0.7), stats(0.9, 0.8, 0.7, seeds=(1, 2, 3)))
    with pytest.raises(TypeError, match="two SeedStats, got list and SeedStats"):
        compare([0.9, 0.8], stats(0.9, 0.8))


# ---------------------------------------------------------------- the experiments, by direct calls


def test_weight_only_experiment_matches_direct_calls(split, tiny):
    result = weight_only_experiment(tiny, split, [8, 3])
    assert set(result) == {(8, "per-tensor"), (8, "per-channel"), (3, "per-tensor"), (3, "per-channel")}
    for (bits, scheme), r in result.items():
        direct = [evaluate(FakeQuantMLP(m, weight_bits=bits, per_channel=scheme == "per-channel"),
                           split.X_test, split.y_test) for m in tiny.values()]
        assert r["accuracy"].seeds == (3, 4, 5) and list(r["accuracy"].values) == direct
    assert result[3, "per-channel"]["mse"].mean < result[3, "per-tensor"]["mse"].mean
    assert result[8, "per-tensor"]["mse"].mean < result[3, "per-tensor"]["mse"].mean / 100


def test_ptq_and_seed_accuracy_match_direct_calls(split, tiny):
    X_cal = split.X_train[:50]
    r = ptq_experiment(tiny, split, X_cal, activation_bits=4, method="percentile", percentile=99.0)
    direct = [evaluate(FakeQuantMLP(m, weight_bits=8, activation_bits=4).calibrate(X_cal, method="percentile",
                                                                                   percentile=99.0),
                       split.X_test, split.y_test) for m in tiny.values()]
    assert list(r.values) == direct
    assert list(seed_accuracy(tiny, split.X_test, split.y_test).values) == [
        evaluate(m, split.X_test, split.y_test) for m in tiny.values()]


def test_calibration_experiment_uses_nested_seeded_subsets(split, tiny):
    rows = calibration_experiment(tiny, split, sizes=[3, 40], activation_bits=4, method="minmax")
    assert len(rows) == 2
    for n, row in zip([3, 40], rows):
        errors = []
        for seed, m in tiny.items():
            subset = torch.randperm(len(split.X_train), generator=torch.Generator().manual_seed(seed))[:n]
            q = FakeQuantMLP(m, weight_bits=8, activation_bits=4).calibrate(split.X_train[subset])
            errors.append(q.activation_errors(split.X_test)[1])
        assert list(row["error"].values) == errors, n


def test_qat_experiment_matches_direct_calls(split, tiny):
    X_cal = split.X_train[:64]
    r = qat_experiment(tiny, split, X_cal, bits=3, teacher_logits=None, epochs=3)
    for i, (seed, m) in enumerate(tiny.items()):
        q = FakeQuantMLP(m, weight_bits=3, activation_bits=3).calibrate(X_cal)
        assert r["ptq"].values[i] == evaluate(q, split.X_test, split.y_test)
        quantization_aware_training(q, split.X_train, split.y_train, epochs=3, seed=seed)
        assert r["qat"].values[i] == evaluate(q, split.X_test, split.y_test)


def test_experiments_refuse_bad_input(split, tiny):
    one = {0: next(iter(tiny.values()))}
    with pytest.raises(ValueError, match=r"students holds 1 student\(s\); need at least 2"):
        weight_only_experiment(one, split, [8])
    with pytest.raises(TypeError, match=r"students must be a dict \{seed: student\}, got list"):
        weight_only_experiment(list(tiny.values()), split, [8])
    with pytest.raises(TypeError, match=r"split must be a DigitsSplit \(see distill_lib.data.load_split\), got tuple"):
        weight_only_experiment(tiny, (split.X_test, split.y_test), [8])
    with pytest.raises(ValueError, match=r"bit_widths\[1\]=1 is out of range; allowed: \[2, 16\]"):
        weight_only_experiment(tiny, split, [8, 1])
    with pytest.raises(ValueError, match=r"sizes\[1\]=2000 is out of range; allowed: \[1, 1079\]"):
        calibration_experiment(tiny, split, sizes=[4, 2000], activation_bits=8)
    with pytest.raises(ValueError, match="sizes is empty"):
        calibration_experiment(tiny, split, sizes=[], activation_bits=8)
    with pytest.raises(ValueError, match=r"lam=2"):
        qat_experiment(tiny, split, split.X_train[:8], bits=4, teacher_logits=None, lam=2)
    with pytest.raises(ValueError, match=r"seeds=\[1, 1\] must hold at least 2 distinct seeds"):
        distilled_students(split, None, [1, 1])


# ---------------------------------------------------------------- the notebook's claims at its defaults


@pytest.fixture(scope="module")
def students(split):
    teacher, _ = load_teacher(split=split)
    return distilled_students(split, predict_logits(teacher, split.X_train), range(5))


def test_claim_per_channel_beats_per_tensor_at_4_and_3_bits(split, students):
    r = weight_only_experiment(students, split, [4, 3])
    for bits, margin in ((4, 0.01), (3, 0.2)):
        c = compare(r[bits, "per-channel"]["accuracy"], r[bits, "per-tensor"]["accuracy"])
        assert c.verdict == "higher" and c.difference.mean > margin, f"{bits} bits: {c}"


def test_claim_calibration_at_4_bits(split, students):
    # the notebook's sizes 4 and 1079: min/max's error rises with more images; the percentile wins at 1079
    rows = {m: calibration_experiment(students, split, sizes=[4, 1079], activation_bits=4, method=m)
            for m in ("minmax", "percentile")}
    assert compare(rows["minmax"][1]["error"], rows["minmax"][0]["error"]).verdict == "higher"
    assert compare(rows["percentile"][1]["error"], rows["minmax"][1]["error"]).verdict == "lower"


def test_claim_8_bit_ptq_costs_nothing_and_qat_beats_ptq_at_3_and_2_bits(split, students):
    teacher, _ = load_teacher(split=split)
    teacher_logits = predict_logits(teacher, split.X_train)
    X_cal = split.X_train[:256]
    fp32 = seed_accuracy(students, split.X_test, split.y_test)
    ptq8 = ptq_experiment(students, split, X_cal)
    assert fp32.mean - ptq8.mean <= 0.005, f"8-bit PTQ {ptq8} vs float32 {fp32}"
    for bits in (3, 2):
        r = qat_experiment(students, split, X_cal, bits=bits, teacher_logits=teacher_logits, epochs=60)
        c = compare(r["qat"], r["ptq"])
        assert c.verdict == "higher", f"{bits} bits: PTQ {r['ptq']}, QAT {r['qat']}"
    assert r["qat"].mean > 0.7, f"2-bit QAT reaches only {r['qat']}"
