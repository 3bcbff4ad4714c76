"""Notebook 10's sweep (distill_lib/lm/sweep.py): one run end to end on a tiny stand-in, and the checked loader."""

import pytest
import torch

from distill_lib.lm import sweep as sweep_mod
from distill_lib.lm.data import ALPHABET, Alphabet, load_austen_split
from distill_lib.lm.model import CharTransformer
from distill_lib.lm.outputs import LM_OUTPUTS_RECIPE, build_teacher_outputs, teacher_weights_sha256
from distill_lib.lm.quality import distinct_ngrams, repetition, teacher_bits_on_samples
from distill_lib.lm.students import make_lm_student
from distill_lib.lm.sweep import LM_SWEEP_PATH, LM_SWEEP_RECIPE, _problem_with, load_lm_sweep, quality_of
from distill_lib.lm.train import LM_TRAIN_RECIPE


@pytest.fixture(scope="module")
def teacher():
    torch.manual_seed(0)
    return CharTransformer(len(ALPHABET), context=128, width=16, heads=2, layers=1).eval()


def test_quality_of_is_the_three_measures(teacher):
    prompts = Alphabet().encode(load_austen_split().val[:256]).view(2, 128)[:, :32]
    continuation = Alphabet().encode(load_austen_split().val[256:656]).view(2, 200)
    q = quality_of(teacher, prompts, continuation, 96)
    texts = [Alphabet().decode(row) for row in continuation]  # all 200 characters for the n-grams
    assert q == {"teacher_bits": pytest.approx(teacher_bits_on_samples(teacher, prompts, continuation[:, :96])),
                 "distinct_2": distinct_ngrams(texts, 2), "repetition_4": repetition(texts, 4)}


def test_one_run_end_to_end(teacher, monkeypatch):
    recipe = dict(LM_SWEEP_RECIPE, quality_prompts=4, quality_length=150,
                  train=dict(LM_TRAIN_RECIPE, steps=4, batch_size=4, warmup=1, on_policy_from=2, eval_every=2,
                             eval_chars=1024),
                  outputs=dict(LM_OUTPUTS_RECIPE, windows=8, seed=1))
    monkeypatch.setattr(sweep_mod, "LM_SWEEP_RECIPE", recipe)
    outputs = build_teacher_outputs(teacher, dict(recipe["outputs"]))
    split = load_austen_split()
    a = Alphabet()
    monkeypatch.setattr(sweep_mod, "_STATE", dict(
        teacher=teacher, outputs=outputs, val=a.encode(split.val[:5000]), test=a.encode(split.test[:3000]),
        prompts=sweep_mod._quality_prompts(recipe)))
    out = sweep_mod._run(dict(student="gru", arm="on_policy", seed=0))
    assert set(out) >= {"val_bits", "test_bits", "best_step", "val_history", "losses", "quality", "sample", "state"}
    assert 0 < out["val_bits"] < 8 and 0 < out["test_bits"] < 8 and len(out["losses"]) == 4
    assert set(out["quality"]) == {"teacher_bits", "distinct_2", "repetition_4"}
    assert len(out["sample"]) == 32 + 150 and all(v.dtype == torch.float16 for v in out["state"].values())
    assert "state" not in sweep_mod._run(dict(student="transformer", arm="text", seed=1))


def _fake_sweep(teacher_sha):
    r = LM_SWEEP_RECIPE
    runs = [dict(student=s, arm=a, seed=seed, val_bits=2.0, test_bits=2.1,
                 quality={"teacher_bits": 2.0, "distinct_2": 0.9, "repetition_4": 0.0})
            for s in r["students"] for a in r["arms"] for seed in range(r["seeds"])]
    models = {f"{s}/{a}": {k: v.half() for k, v in make_lm_student(s).state_dict().items()}
              for s in r["students"] for a in r["arms"]}
    return {"meta": {"format": sweep_mod._FORMAT, "recipe": r, "teacher_sha256": teacher_sha}, "runs": runs,
            "models": models}


def test_the_loader_checks_everything(teacher, tmp_path):
    sha = teacher_weights_sha256(teacher)
    good = _fake_sweep(sha)
    assert _problem_with(good, sha) is None
    path = tmp_path / "sweep.pt"
    torch.save(good, path)
    loaded = load_lm_sweep(path, teacher=teacher)
    assert len(loaded.find(student="gru", arm="word")) == LM_SWEEP_RECIPE["seeds"]
    assert loaded.student("gru", "word").training is False
    bad = {
        "another teacher": dict(good, meta=dict(good["meta"], teacher_sha256="0" * 64)),
        "another recipe": dict(good, meta=dict(good["meta"], recipe=dict(LM_SWEEP_RECIPE, seeds=2))),
        "a missing run": dict(good, runs=good["runs"][1:]),
        "a NaN": dict(good, runs=[dict(good["runs"][0], val_bits=float("nan"))] + good["runs"][1:]),
        "a missing model": dict(good, models={k: v for k, v in list(good["models"].items())[1:]}),
        "a wrong shape": dict(good, models=dict(good["models"], **{"gru/text": {
            k: v[:1] for k, v in good["models"]["gru/text"].items()}})),
    }
    for name, payload in bad.items():
        torch.save(payload, path)
        with pytest.raises(ValueError, match="make lm-sweep"):
            load_lm_sweep(path, teacher=teacher)
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="could not be read.*make lm-sweep"):
        load_lm_sweep(path, teacher=teacher)
    with pytest.raises(TypeError, match="path"):
        load_lm_sweep(3)


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="folder does not exist"):
        sweep_mod.run_lm_sweep(tmp_path / "missing" / "sweep.pt")
    with pytest.raises(ValueError, match="processes"):
        sweep_mod.run_lm_sweep(tmp_path / "sweep.pt", processes=0)
    with pytest.raises(TypeError, match="progress"):
        sweep_mod.run_lm_sweep(tmp_path / "sweep.pt", progress="yes")


@pytest.mark.skipif(not LM_SWEEP_PATH.is_file(), reason="no sweep yet")
def test_the_shipped_sweep_loads():
    sweep = load_lm_sweep()
    assert len(sweep.runs) == len(LM_SWEEP_RECIPE["students"]) * len(LM_SWEEP_RECIPE["arms"]) * LM_SWEEP_RECIPE["seeds"]
