"""The teacher-output cache (distill_lib/lm/outputs.py): built from the teacher, checked on load, rebuilt when broken.

The real cache (data/lm_teacher_outputs.pt) is checked against the real teacher when both exist; the
other tests use a tiny stand-in teacher and a small recipe.
"""

import warnings

import pytest
import torch
import torch.nn.functional as F

from distill_lib.lm import outputs as out_mod
from distill_lib.lm.data import ALPHABET, Alphabet, load_austen_split
from distill_lib.lm.model import CharTransformer, generate_cached
from distill_lib.lm.outputs import (LM_OUTPUTS_PATH, LM_OUTPUTS_RECIPE, TeacherOutputs, _to_file,
                                    build_teacher_outputs, load_teacher_outputs, teacher_weights_sha256)
from distill_lib.lm.teacher import LM_TEACHER_PATH, load_lm_teacher

SMALL = dict(LM_OUTPUTS_RECIPE, windows=6, context=24, k=4, prompt=8, length=12)


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return CharTransformer(len(ALPHABET), context=24, width=16, heads=2, layers=1).eval()


@pytest.fixture(scope="module")
def built(tiny):
    return build_teacher_outputs(tiny, dict(SMALL))


def test_shapes_and_contents(tiny, built):
    assert built.windows.shape == (6, 25) and built.top_ids.shape == (6, 24, 4) and built.top_p.shape == (6, 24, 4)
    assert built.samples.shape == (6, 20)
    train = Alphabet().encode(load_austen_split().train)
    g = torch.Generator().manual_seed(SMALL["seed"])
    starts = torch.randint(len(train) - 25, (6,), generator=g)
    assert torch.equal(built.windows, train[starts[:, None] + torch.arange(25)])  # real training text
    probs = F.softmax(tiny(built.windows[:, :-1]), -1)
    top = probs.topk(4, dim=-1)
    assert torch.equal(built.top_ids, top.indices) and torch.allclose(built.top_p, top.values)
    assert torch.equal(built.samples[:, :8], built.windows[:, :8])  # the prompts are the windows' starts
    assert built.meta["teacher_sha256"] == teacher_weights_sha256(tiny)


def test_the_samples_are_the_teachers_continuations(tiny, built):
    g = torch.Generator().manual_seed(SMALL["seed"])
    torch.randint(10, (6,), generator=g)  # the window draw comes first from the same generator
    again = generate_cached(tiny, built.windows[:, :8], 12, 1.0, generator=g)
    assert torch.equal(again, built.samples[:, 8:])


def test_bad_arguments(tiny):
    with pytest.raises(TypeError, match="CharTransformer"):
        build_teacher_outputs(torch.nn.Linear(2, 2))
    with pytest.raises(ValueError, match="keys"):
        build_teacher_outputs(tiny, {"windows": 3})
    with pytest.raises(ValueError, match="k'\\]=80"):
        build_teacher_outputs(tiny, dict(SMALL, k=80))
    with pytest.raises(ValueError, match="exceeds"):
        build_teacher_outputs(tiny, dict(SMALL, prompt=20, length=20))
    with pytest.raises(ValueError, match="reads 24 characters"):
        build_teacher_outputs(tiny, dict(SMALL, context=64))
    with pytest.raises(TypeError, match="save"):
        load_teacher_outputs(tiny, save="yes")


@pytest.fixture
def small_recipe(monkeypatch):
    monkeypatch.setattr(out_mod, "LM_OUTPUTS_RECIPE", dict(SMALL))


def _write(path, payload):
    torch.save(payload, path)


def test_round_trip_and_broken_files(tiny, built, tmp_path, small_recipe):
    path = tmp_path / "outputs.pt"
    with pytest.warns(UserWarning, match="no file there"):
        first = load_teacher_outputs(tiny, path)
    assert path.is_file()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        again = load_teacher_outputs(tiny, path)  # a good file: no warning
    assert torch.equal(again.windows, first.windows) and torch.equal(again.samples, first.samples)
    assert torch.allclose(again.top_p, first.top_p, atol=1e-3)
    good = torch.load(path, weights_only=True)
    broken = {
        "truncated": None,
        "not a dict": [1, 2],
        "other recipe": dict(good, meta=dict(good["meta"], recipe=dict(SMALL, k=3))),
        "other teacher": dict(good, meta=dict(good["meta"], teacher_sha256="0" * 64)),
        "bad shape": dict(good, top_p=good["top_p"][:, :3]),
        "bad id": dict(good, samples=torch.full_like(good["samples"], 200)),
        "not probabilities": dict(good, top_p=torch.full_like(good["top_p"], 0.9)),
        "wrong prompts": dict(good, samples=torch.zeros_like(good["samples"])),
    }
    for name, payload in broken.items():
        if payload is None:
            path.write_bytes(path.read_bytes()[:100] if path.stat().st_size > 100 else b"x")
        else:
            _write(path, payload)
        with pytest.warns(UserWarning, match="Not using the cached teacher outputs"):
            rebuilt = load_teacher_outputs(tiny, path)
        assert torch.equal(rebuilt.windows, first.windows), name
    assert isinstance(rebuilt, TeacherOutputs)


def test_to_file_is_compact(built):
    saved = _to_file(built)
    assert saved["top_ids"].dtype == torch.uint8 and saved["top_p"].dtype == torch.float16
    assert saved["windows"].dtype == torch.uint8 and saved["samples"].dtype == torch.uint8


@pytest.mark.skipif(not (LM_TEACHER_PATH.is_file() and LM_OUTPUTS_PATH.is_file()), reason="no trained teacher yet")
def test_the_shipped_cache_is_the_teachers():
    teacher, _ = load_lm_teacher(retrain=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the shipped file must load without a rebuild
        cached = load_teacher_outputs(teacher, save=False)
    live = build_teacher_outputs(teacher)
    assert torch.equal(cached.windows, live.windows)
    assert (cached.top_ids == live.top_ids).float().mean() > 0.99  # float16 near-ties may swap
    assert torch.allclose(cached.top_p, live.top_p, atol=2e-3)
    same = (cached.samples == live.samples).all(1).float().mean()
    assert same >= 0.9, f"only {same:.0%} of the teacher's continuations were reproduced"
