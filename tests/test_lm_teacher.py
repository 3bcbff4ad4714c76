"""Notebook 10's teacher: bits per character, training windows and schedule, a tiny training run, the checked cache."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from distill_lib.lm import ALPHABET, AUSTEN_SHA256
from distill_lib.lm import teacher as lm_teacher
from distill_lib.lm.model import CharTransformer
from distill_lib.lm.teacher import (
    LM_TEACHER_RECIPE,
    _learning_rate,
    _random_windows,
    bits_per_char,
    load_lm_teacher,
    save_lm_teacher,
    train_lm_teacher,
)

#: A recipe that trains in well under a second.
TINY = dict(LM_TEACHER_RECIPE, context=16, width=16, heads=2, layers=1, dropout=0.0, batch_size=8, steps=12,
            warmup=3, eval_every=5, eval_chars=300)


class Uniform(nn.Module):
    """Predicts the uniform distribution over ``V`` characters at every position."""

    def __init__(self, V):
        super().__init__()
        self.V = V

    def forward(self, idx):
        return torch.zeros(*idx.shape, self.V)  # (B, T, V)


@pytest.fixture(scope="module")
def short_split():
    """The real split with validation and test cut to 3,000 characters (the final scoring stays fast)."""
    train, val, test = lm_teacher._encoded_split(0)
    return train, val[:3000], test[:3000]


@pytest.fixture
def tiny_training(monkeypatch, short_split):
    """LM_TEACHER_RECIPE is TINY and the held-out text short: the loader's retraining takes a moment."""
    monkeypatch.setattr(lm_teacher, "LM_TEACHER_RECIPE", dict(TINY))
    monkeypatch.setattr(lm_teacher, "_encoded_split", lambda seed: short_split)


@pytest.fixture
def tiny_file(tiny_training, tmp_path):
    model, meta = train_lm_teacher(TINY, progress=False)
    return save_lm_teacher(model, meta, tmp_path / "lm_teacher.pt"), model, meta


def test_all_names_exist():
    assert all(hasattr(lm_teacher, name) for name in lm_teacher.__all__)
    assert set(lm_teacher.__all__) == {"LM_TEACHER_PATH", "LM_TEACHER_RECIPE", "bits_per_char", "load_lm_teacher",
                                       "save_lm_teacher", "train_lm_teacher"}


@pytest.mark.parametrize("n, context", [(50, 7), (50, 49), (50, 100), (2, 1), (65, 16)])
def test_bits_per_char_of_a_uniform_model_is_log2_v(n, context):
    ids = torch.randint(79, (n,), generator=torch.Generator().manual_seed(0))
    # float32 cross-entropy: log(79) to about 3e-7 relative, so 1e-5 bits of tolerance.
    assert bits_per_char(Uniform(79), ids, context) == pytest.approx(math.log2(79), abs=1e-5)


def test_bits_per_char_of_a_fixed_distribution_by_hand():
    # p = (1/2, 1/4, 1/4) whatever came before; the targets are ids[1:] = 0, 1, 2, 0: 1 + 2 + 2 + 1 bits.
    log_p = torch.log(torch.tensor([0.5, 0.25, 0.25]))

    class Fixed(nn.Module):
        def forward(self, idx):
            return log_p.expand(*idx.shape, 3)

    ids = torch.tensor([2, 0, 1, 2, 0])
    for context in (1, 2, 3, 4, 10):
        assert bits_per_char(Fixed(), ids, context, batch_size=1) == pytest.approx(6 / 4)


def test_bits_per_char_is_the_windowed_definition():
    torch.manual_seed(0)
    model = CharTransformer(vocab_size=9, context=6, width=8, heads=2, layers=1).eval()
    ids = torch.randint(9, (40,), generator=torch.Generator().manual_seed(1))
    nats = 0.0
    for start in range(0, 39, 6):  # windows [0, 6), [6, 12), ...: each character but the first predicted once
        x, y = ids[start:start + 6], ids[start + 1:start + 7]
        with torch.no_grad():
            nats += F.cross_entropy(model(x[None, : len(y)])[0], y, reduction="sum").item()
    expected = nats / 39 / math.log(2)
    for batch_size in (1, 2, 64):
        assert bits_per_char(model, ids, batch_size=batch_size) == pytest.approx(expected, rel=1e-6)
    # A shorter window gives each character less context: a different (here, any) value, still finite.
    assert math.isfinite(bits_per_char(model, ids, context=3))


def test_bits_per_char_restores_the_training_mode():
    model = CharTransformer(vocab_size=5, context=4, width=8, heads=2, layers=1, dropout=0.5).train()
    ids = torch.tensor([0, 1, 2, 3, 4, 0, 1])
    assert bits_per_char(model, ids) == bits_per_char(model, ids)  # dropout off while scoring
    assert model.training


@pytest.mark.parametrize(
    "kwargs, error, match",
    [({"text_ids": torch.tensor([3])}, ValueError, r"at least 2 characters, got shape \(1,\)"),
     ({"text_ids": torch.zeros(2, 5, dtype=torch.long)}, ValueError, r"got shape \(2, 5\)"),
     ({"text_ids": torch.zeros(5)}, TypeError, "integer tensor.*float32"),
     ({"text_ids": [1, 2, 3]}, TypeError, "got list"),
     ({"context": 0}, ValueError, r"context=0 is out of range; allowed: \[1, inf\]"),
     ({"context": 2.5}, TypeError, "context must be an integer"),
     ({"batch_size": 0}, ValueError, "batch_size=0"),
     ({"model": "teacher"}, TypeError, "model must be a torch.nn.Module")],
)
def test_bits_per_char_bad_input_named(kwargs, error, match):
    args = {"model": Uniform(5), "text_ids": torch.tensor([0, 1, 2, 3]), "context": 2, "batch_size": 4}
    args.update(kwargs)
    with pytest.raises(error, match=match):
        bits_per_char(**args)


def test_bits_per_char_needs_a_context_for_a_model_without_one():
    with pytest.raises(ValueError, match="context=None but the model has no 'context'"):
        bits_per_char(Uniform(5), torch.tensor([0, 1, 2]))


def test_random_windows_are_slices_and_targets_the_next_characters():
    ids = torch.arange(100) * 3
    x, y = _random_windows(ids, 10, 32, torch.Generator().manual_seed(0))
    assert x.shape == y.shape == (32, 10)
    starts = x[:, 0] // 3
    assert torch.equal(x, (starts[:, None] + torch.arange(10)) * 3)  # consecutive characters of the text
    assert torch.equal(y, x + 3)  # the character after each position
    assert int(starts.min()) >= 0 and int(starts.max()) <= 100 - 11  # the last target is inside the text


def test_learning_rate_warms_up_then_follows_a_cosine():
    recipe = {"lr": 1e-3, "min_lr": 1e-4, "warmup": 10, "steps": 110}
    assert [_learning_rate(recipe, s, s / 110) for s in (0, 4, 9)] == pytest.approx([1e-4, 5e-4, 1e-3])
    assert _learning_rate(recipe, 10, 10 / 110) == pytest.approx(1e-3)  # the top of the cosine
    assert _learning_rate(recipe, 60, 60 / 110) == pytest.approx(5.5e-4)  # halfway: the mean of lr and min_lr
    assert _learning_rate(recipe, 110, 1.0) == pytest.approx(1e-4)
    assert _learning_rate(recipe, 30, 1.0) == pytest.approx(1e-4)  # out of time: decayed whatever the step


def test_training_is_deterministic_and_keeps_the_best_evaluation(tiny_training):
    model, meta = train_lm_teacher(TINY, progress=False)
    again, _ = train_lm_teacher(TINY, progress=False)
    for (name, a), b in zip(model.state_dict().items(), again.state_dict().values()):
        assert torch.equal(a, b), name
    history = meta["history"]
    assert history.shape == (3, 4) and history[:, 0].tolist() == [5.0, 10.0, 12.0]  # every 5 steps and the last
    assert meta["best_step"] == int(history[history[:, 3].argmin(), 0])
    assert meta["steps_done"] == 12 and meta["stopped_by"] == "steps" and meta["recipe"] == TINY
    assert meta["data_sha256"] == AUSTEN_SHA256 and meta["alphabet"] == ALPHABET
    assert meta["threads"] == torch.get_num_threads() and meta["torch_version"] == str(torch.__version__)
    assert meta["num_parameters"] == sum(p.numel() for p in model.parameters())
    assert not model.training
    _, val, test = lm_teacher._encoded_split(0)
    assert meta["val_bits_per_char"] == pytest.approx(bits_per_char(model, val))
    assert meta["test_bits_per_char"] == pytest.approx(bits_per_char(model, test))
    assert meta["val_bits_per_char"] < math.log2(79)  # 12 steps already beat a uniform guess


def test_training_learns_more_than_character_frequencies(tiny_training, short_split):
    train, val, _ = short_split
    counts = torch.bincount(train, minlength=79).double()
    log2_p = torch.log2(counts / counts.sum())  # the unigram model of the training text
    unigram_bits = -float(log2_p[val[1:300]].mean())  # on the validation stretch training scores (about 4.6)
    recipe = dict(TINY, width=32, batch_size=32, steps=300, eval_every=100, lr=1e-2, warmup=20)
    _, meta = train_lm_teacher(recipe, progress=False)  # about 1 s
    assert meta["history"][-1, 3] < unigram_bits - 0.5 and meta["history"][-1, 3] < meta["history"][0, 3]


def test_a_time_limit_stops_training(tiny_training, tmp_path):
    model, meta = train_lm_teacher(TINY, minutes=1e-9, progress=False)
    assert meta["stopped_by"] == "time" and meta["steps_done"] == 0 and meta["best_step"] == 0
    assert meta["history"].shape == (0, 4) and meta["recipe"]["minutes"] == 1e-9
    with pytest.warns(UserWarning, match=r"another recipe \(minutes=1e-09"):  # not the recipe's teacher
        load_lm_teacher(save_lm_teacher(model, meta, tmp_path / "quick.pt"), save=False, progress=False)


@pytest.mark.parametrize(
    "change, error, match",
    [({"width": 15}, ValueError, r"recipe\['width'\]=15 is not a multiple of recipe\['heads'\]=2"),
     ({"steps": 0}, ValueError, r"recipe\['steps'\]=0 is out of range"),
     ({"lr": 0.0}, ValueError, r"recipe\['lr'\]=0.0 is out of range; allowed: \(0, inf\)"),
     ({"dropout": 1.0}, ValueError, r"recipe\['dropout'\]=1.0"),
     ({"min_lr": 1.0}, ValueError, r"recipe\['min_lr'\]=1.0 exceeds"),
     ({"batch_size": 8.0}, TypeError, r"recipe\['batch_size'\] must be an integer"),
     ({"weight_decay": float("nan")}, ValueError, r"recipe\['weight_decay'\]=nan"),
     ({"minutes": 0.0}, ValueError, r"recipe\['minutes'\]=0.0 is out of range; allowed: \(0, inf\)"),
     ({"extra": 1}, ValueError, r"unexpected \['extra'\]")],
)
def test_bad_recipe_named(change, error, match):
    with pytest.raises(error, match=match):
        train_lm_teacher(dict(TINY, **change), progress=False)


def test_bad_arguments_named():
    with pytest.raises(ValueError, match=r"missing \['seed'\]"):
        train_lm_teacher({k: v for k, v in TINY.items() if k != "seed"})
    with pytest.raises(TypeError, match="recipe must be a dict"):
        train_lm_teacher([("width", 16)])
    with pytest.raises(ValueError, match=r"minutes=0.0 is out of range"):
        train_lm_teacher(TINY, minutes=0)
    with pytest.raises(TypeError, match="progress must be True, False or None"):
        train_lm_teacher(TINY, progress=1)
    with pytest.raises(TypeError, match="retrain must be True or False"):
        load_lm_teacher(retrain="no")
    with pytest.raises(TypeError, match="path must be a str or a path, got int"):
        load_lm_teacher(3)


def test_a_good_file_loads_without_warning(tiny_file, recwarn):
    path, model, meta = tiny_file
    loaded, loaded_meta = load_lm_teacher(path, retrain=False)
    assert not recwarn.list
    assert all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(), model.state_dict().values()))
    assert loaded_meta["val_bits_per_char"] == meta["val_bits_per_char"] and not loaded.training


def _rewrite(path, edit):
    checkpoint = torch.load(path, weights_only=True)
    edit(checkpoint)
    torch.save(checkpoint, path)


def _set(keys, value):
    def edit(checkpoint):
        target = checkpoint
        for key in keys[:-1]:
            target = target[key]
        target[keys[-1]] = value
    return edit


BROKEN = {
    "missing": (lambda p: p.unlink(), "there is no file there"),
    "empty": (lambda p: p.write_bytes(b""), "the file is empty"),
    "garbage": (lambda p: p.write_bytes(b"not a checkpoint"), "could not be read"),
    "truncated": (lambda p: p.write_bytes(p.read_bytes()[:200]), "could not be read"),
    "unsafe pickle": (lambda p: torch.save({"state_dict": {}, "meta": nn.Linear(1, 1)}, p), "could not be read"),
    "a bare tensor": (lambda p: torch.save(torch.zeros(3), p), "not a teacher checkpoint"),
    "no meta key": (lambda p: _rewrite(p, lambda c: c["meta"].pop("val_bits_per_char")), "no 'val_bits_per_char'"),
    "meta of the wrong type": (lambda p: _rewrite(p, _set(["meta", "threads"], 2.0)), "'threads' is a float, expected int"),
    "another format": (lambda p: _rewrite(p, _set(["meta", "format"], 99)), "format is 99"),
    "another recipe": (lambda p: _rewrite(p, _set(["meta", "recipe", "lr"], 0.5)), r"another recipe \(lr=0.5"),
    "a recipe of another type": (lambda p: _rewrite(p, _set(["meta", "recipe", "steps"], 12.0)), "steps=12.0"),
    "other data": (lambda p: _rewrite(p, _set(["meta", "data_sha256"], "0" * 64)), "other data"),
    "another alphabet": (lambda p: _rewrite(p, _set(["meta", "alphabet"], "abc")), "other data"),
    "bits out of range": (lambda p: _rewrite(p, _set(["meta", "test_bits_per_char"], -1.0)), "test_bits_per_char -1.0"),
    "bad history": (lambda p: _rewrite(p, _set(["meta", "history"], torch.zeros(3))), r"history has shape \(3,\)"),
    "a missing weight": (lambda p: _rewrite(p, lambda c: c["state_dict"].pop("head.bias")), r"missing \['head.bias'\]"),
    "a weight of another shape": (lambda p: _rewrite(p, _set(["state_dict", "head.bias"], torch.zeros(80))),
                                  r"'head.bias' is torch.float32 \(80,\)"),
    "a NaN weight": (lambda p: _rewrite(p, lambda c: c["state_dict"]["head.weight"].fill_(float("nan"))),
                     "'head.weight' holds NaN"),
    "other weights": (lambda p: _rewrite(p, lambda c: c["state_dict"]["head.bias"][:1].add_(1.0)),  # one logit
                      "weights score .* but recorded"),
}


@pytest.mark.parametrize("case", list(BROKEN), ids=list(BROKEN))
def test_an_unusable_file_is_a_warning_and_a_retrain(tiny_file, case):
    path, model, meta = tiny_file
    breaks, reason = BROKEN[case]
    breaks(path)
    with pytest.raises(ValueError, match=reason):
        load_lm_teacher(path, retrain=False)
    with pytest.warns(UserWarning, match=reason):
        retrained, new_meta = load_lm_teacher(path, save=False, progress=False)
    assert all(torch.equal(a, b) for a, b in zip(retrained.state_dict().values(), model.state_dict().values()))
    assert new_meta["check_bits_per_char"] == meta["check_bits_per_char"]
    with pytest.warns(UserWarning, match=reason):  # save=False left the broken file as it was
        load_lm_teacher(path, progress=False)
    load_lm_teacher(path, retrain=False)  # ... and the retrain with save=True replaced it


def test_main_trains_and_saves(tiny_training, tmp_path, capsys):
    out = tmp_path / "teacher.pt"
    lm_teacher.main(["--out", str(out)])
    assert "val_bits_per_char" in capsys.readouterr().out
    model, meta = load_lm_teacher(out, retrain=False)
    assert meta["recipe"] == TINY and isinstance(model, CharTransformer)


def test_save_bad_arguments_named(tmp_path):
    with pytest.raises(TypeError, match="model must be a torch.nn.Module"):
        save_lm_teacher("model", {}, tmp_path / "x.pt")
    with pytest.raises(TypeError, match="meta must be a dict, got list"):
        save_lm_teacher(nn.Linear(1, 1), [], tmp_path / "x.pt")
