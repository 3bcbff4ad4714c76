"""The sweep of notebook 06 and its cache (distill_lib.compression.sweep): what it holds, and a broken cache."""

import copy
import warnings

import numpy as np
import pytest
import torch

from distill_lib.compression import sweep as sweep_module
from distill_lib.compression.pipeline import PIPELINE_RECIPE, compress_student
from distill_lib.compression.sweep import (
    DEFAULT_SWEEP_PATH,
    arm_name,
    choose_teacher,
    file_bytes,
    load_sweep,
    model_sha256,
    run_sweep,
    save_sweep,
    sweep_key,
)
from distill_lib.student import train_student
from distill_lib.training import predict_logits
from tests.compression_helpers import TINY_RECIPE


@pytest.fixture(scope="module")
def tiny(teacher, split):
    return run_sweep(teacher, split, TINY_RECIPE)


def test_the_sweep_holds_every_arm_once(tiny, split, teacher):
    kinds = [a.params["kind"] for a in tiny.arms]
    assert kinds.count("teacher") == 1 and kinds.count("teacher compressed") == 1
    assert kinds.count("dense") == 2  # one width, scratch and distilled
    # 2 orders x 2 unit settings x 3 snapshots x (pruned + 3 untuned + 1 fine-tuned)
    assert kinds.count("pipeline") == 2 * 2 * 3 * 5
    assert len({a.name for a in tiny.arms}) == len(tiny.arms)  # names tell the arms apart
    for arm in tiny.arms:
        seeds = (0,) if arm.params["kind"].startswith("teacher") else (0, 1)
        assert arm.val.seeds == seeds and arm.test.seeds == seeds
        assert arm.val.correct.shape == (len(seeds), len(split.y_val))
        assert len(arm.bytes) == len(seeds) and min(arm.bytes) > 0
    # the teacher's row is the teacher's answers, its bytes its dense file
    hits = (predict_logits(teacher, split.X_test).argmax(1) == split.y_test).numpy()
    assert np.array_equal(tiny.teacher.test.correct[0], hits)
    assert tiny.teacher.bytes[0] == file_bytes(teacher, "dense")
    assert tiny.teacher.bytes[0] > 4 * 83_466  # every float32 parameter, and a header
    # files shrink along the pipeline (means over seeds): pruned < dense, Huffman-coded codes < pruned
    dense = tiny.one(kind="pipeline", order="a", unit_sparsity=0.0, sparsity=0.0, bits=None)
    pruned = tiny.one(kind="pipeline", order="a", unit_sparsity=0.0, sparsity=0.9, bits=None)
    coded = tiny.one(kind="pipeline", order="a", unit_sparsity=0.0, sparsity=0.9, bits=2, finetuned=True)
    assert coded.mean_bytes < pruned.mean_bytes < dense.mean_bytes


def test_the_compressed_teacher_is_chosen_on_validation(tiny):
    candidates = tiny.find(kind="teacher compressed")
    chosen = choose_teacher(candidates, tiny.teacher)
    assert tiny.teacher_choice["sparsity"] == chosen.params["sparsity"]
    assert tiny.teacher_choice["bits"] == chosen.params["bits"]
    assert tiny.teacher_choice["val_accuracy"] == pytest.approx(chosen.val.mean)


def test_the_live_pipeline_reproduces_the_sweep(tiny, split, teacher):
    """What notebook 06 checks: the shown code, run again on seed 0, gives the cached answers."""
    logits = predict_logits(teacher, split.X_train)
    student, _ = train_student(split.X_train, split.y_train, teacher=teacher, augment_copies=9, temperature=4.0,
                               lam=0.9, sizes=TINY_RECIPE["student_sizes"], seed=0)
    stages = compress_student(student, split.X_train, split.y_train, logits, TINY_RECIPE, 0.5)
    for (sparsity, bits), (model, _) in stages.items():
        arm = tiny.one(kind="pipeline", order="a", unit_sparsity=0.5, sparsity=sparsity, bits=bits,
                       method=None if bits is None else "kmeans", finetuned=bits is not None)
        live = (predict_logits(model, split.X_val).argmax(1) == split.y_val).numpy()
        assert np.array_equal(live, arm.val.correct[0]), arm.name


def test_save_and_load_round_trip(tiny, teacher, split, tmp_path):
    path = save_sweep(tiny, tmp_path / "sweep.pt")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a good cache: no warning, no rebuild
        loaded = load_sweep(teacher, split, path=path, recipe=TINY_RECIPE)
    assert [a.name for a in loaded.arms] == [a.name for a in tiny.arms]
    for a, b in zip(loaded.arms, tiny.arms):
        assert np.array_equal(a.val.correct, b.val.correct) and np.array_equal(a.test.correct, b.test.correct)
        assert a.bytes == b.bytes and a.params == b.params
    assert loaded.teacher_choice == tiny.teacher_choice


@pytest.mark.parametrize("damage", ["missing", "empty", "truncated", "garbage", "other recipe", "other teacher"])
def test_a_broken_cache_warns_and_rebuilds(tiny, teacher, split, tmp_path, monkeypatch, damage):
    path = save_sweep(tiny, tmp_path / "sweep.pt")
    recipe = TINY_RECIPE
    calls = []
    monkeypatch.setattr(sweep_module, "run_sweep", lambda *args, **kwargs: calls.append(args) or tiny)
    if damage == "missing":
        path.unlink()
    elif damage == "empty":
        path.write_bytes(b"")
    elif damage == "truncated":
        path.write_bytes(path.read_bytes()[:200])
    elif damage == "garbage":
        path.write_bytes(b"not a sweep" * 50)
    elif damage == "other recipe":
        recipe = {**TINY_RECIPE, "codebook_epochs": 6}
    else:
        teacher = copy.deepcopy(teacher)  # another teacher: one bias moved a little
        with torch.no_grad():
            teacher[0].bias.add_(1e-3)
    with pytest.warns(UserWarning, match="Not using the cached pipeline sweep"):
        again = load_sweep(teacher, split, path=path, recipe=recipe)
    assert calls and again is tiny


def test_the_committed_cache_is_current(teacher, split):
    """CI and the notebook must find data/pipeline_sweep.pt usable, never rebuild it (minutes)."""
    reason, sweep = sweep_module._read(DEFAULT_SWEEP_PATH, sweep_key(PIPELINE_RECIPE, teacher), split)
    assert reason is None, f"data/pipeline_sweep.pt is unusable ({reason}): run `make pipeline` and commit it"
    assert len(sweep.find(kind="pipeline", order="a")) >= 100
    assert all(len(a.val.seeds) == len(PIPELINE_RECIPE["seeds"]) for a in sweep.find(kind="pipeline"))


def test_bad_arguments(teacher, split):
    with pytest.raises(TypeError, match="teacher must be a torch.nn.Module"):
        load_sweep("teacher", split)
    with pytest.raises(TypeError, match="split must be a DigitsSplit"):
        run_sweep(teacher, "split", TINY_RECIPE)
    with pytest.raises(ValueError, match="missing"):
        run_sweep(teacher, split, {k: v for k, v in TINY_RECIPE.items() if k != "bits"})
    with pytest.raises(ValueError, match=r"recipe\['schedule'\]"):
        run_sweep(teacher, split, {**TINY_RECIPE, "schedule": [0.9, 0.5]})
    with pytest.raises(ValueError, match=r"recipe\['bits'\]=\[9\]"):
        run_sweep(teacher, split, {**TINY_RECIPE, "bits": [9]})
    with pytest.raises(TypeError, match="save must be True or False"):
        load_sweep(teacher, split, save=1)
    with pytest.raises(TypeError, match="sweep must be a Sweep"):
        save_sweep({"arms": []})


def test_model_sha256_sees_every_weight():
    a = torch.nn.Linear(3, 2)
    b = copy.deepcopy(a)
    assert model_sha256(a) == model_sha256(b)
    with torch.no_grad():
        b.weight[1, 2] += 1e-6
    assert model_sha256(a) != model_sha256(b)


def test_arm_names():
    assert arm_name({"kind": "teacher"}) == "teacher"
    assert arm_name({"kind": "dense", "width": 32, "distilled": True}) == "distilled 64-32-10"
    assert arm_name({"kind": "pipeline", "order": "a", "unit_sparsity": 0.5, "sparsity": 0.9, "bits": 4,
                     "method": "kmeans", "finetuned": True}) == "a: units -50%, 90% sparse, k-means 4 bits"


def test_choose_teacher_rule():
    """The smallest compressed teacher within 1 point on validation; none within: the most accurate."""
    from distill_lib.stats import Runs

    def arm(hits, size):
        row = np.arange(100) < hits
        runs = Runs(row[None, :], (0,))
        return sweep_module.Arm({"kind": "teacher compressed", "hits": hits}, runs, runs, (size,))

    teacher = arm(99, 1000)
    assert choose_teacher([arm(98, 50), arm(97, 10), arm(99, 80)], teacher).params["hits"] == 98  # 98 >= 99 - 1
    assert choose_teacher([arm(90, 50), arm(95, 60)], teacher).params["hits"] == 95  # fallback: most accurate
