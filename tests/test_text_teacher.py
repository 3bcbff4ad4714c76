"""Notebook 09's teacher: the head, the cache checked against the live teacher, broken caches rebuilt."""

from __future__ import annotations

import shutil
import warnings

import pytest
import torch

from distill_lib.text import teacher as tt
from distill_lib.text.data import load_text_split
from distill_lib.text.encoder import encode, load_minilm, load_tokenizer


@pytest.fixture(scope="module")
def cached():
    return tt.load_text_teacher(rebuild=False)


@pytest.fixture(scope="module")
def split():
    return load_text_split()


@pytest.fixture(scope="module")
def live():
    return load_minilm(), load_tokenizer()


def test_cached_logits_are_the_live_teachers(cached, split, live):
    texts = list(split.texts_val[:8]) + list(split.texts_transfer[:8])
    with torch.no_grad():
        expected = cached.head(encode(*live, texts))  # (16, 10)
    got = cached.logits_of(texts)
    assert torch.allclose(got, expected, atol=2e-2, rtol=1e-2), (got - expected).abs().max()
    assert torch.equal(got.argmax(1), expected.argmax(1))


def test_cached_codes_are_the_projected_embeddings(cached, split, live):
    texts = list(split.texts_train[:8])
    expected = encode(*live, texts) @ cached.basis  # (8, 128)
    assert torch.allclose(cached.codes_of(texts), expected, atol=2e-3)


def test_basis_is_orthonormal_and_keeps_most_energy(cached):
    b = cached.basis
    assert torch.allclose(b.T @ b, torch.eye(tt.EMBED_COMPONENTS), atol=1e-4)
    assert 0.6 < cached.meta["energy_kept"] < 1.0


def test_recorded_accuracies_match_the_cached_logits(cached, split):
    for part in ("val", "test"):
        texts, y = getattr(split, f"texts_{part}"), getattr(split, f"y_{part}")
        acc = 100.0 * float((cached.logits_of(list(texts)).argmax(1) == y).float().mean())
        assert acc == pytest.approx(cached.meta[f"{part}_accuracy"], abs=0.1)
    assert cached.meta["recipe"] == tt.HEAD_RECIPE
    assert cached.meta["val_accuracy"] > 85.0  # a frozen MiniLM + MLP head is a strong teacher


def test_classify_runs_the_whole_teacher(cached, split):
    texts = list(split.texts_test[:4])
    assert torch.allclose(cached.classify(texts), cached.logits_of(texts), atol=2e-2)
    with pytest.raises(ValueError, match="non-empty"):
        cached.classify(["  "])


def test_lookups_refuse_texts_without_cached_outputs(cached, split):
    with pytest.raises(ValueError, match="not a WordNet gloss"):
        cached.logits_of(["a sentence that is in no dictionary"])
    with pytest.raises(ValueError, match="not a train or transfer gloss"):
        cached.codes_of([split.texts_val[0]])


def test_train_head_learns_and_keeps_the_best_epoch():
    g = torch.Generator().manual_seed(0)
    centres = torch.randn(3, 8, generator=g) * 3
    y = torch.arange(300) % 3
    X = centres[y] + torch.randn(300, 8, generator=g)
    torch.manual_seed(0)
    head = tt.teacher_head(16, 0.0, in_features=8, num_classes=3)
    head, epoch, acc = tt._train_head(head, X[:200], y[:200], X[200:], y[200:], lr=1e-2, weight_decay=0.0,
                                      epochs=5, batch_size=32, seed=0)
    assert 1 <= epoch <= 5 and acc > 90.0
    assert not head.training
    assert 100.0 * float((head(X[200:]).argmax(1) == y[200:]).float().mean()) == pytest.approx(acc)


def _broken(tmp_path, checkpoint):
    path = tmp_path / "teacher.pt"
    torch.save(checkpoint, path)
    return path


def _good():
    return torch.load(tt.TEXT_TEACHER_PATH, weights_only=True)


def _with(**change):
    d = _good()
    for k, v in change.items():
        if k == "meta":
            d["meta"] = {**d["meta"], **v}
        else:
            d[k] = v(d[k]) if callable(v) else v
    return d


BROKEN = {
    "not a dict": lambda: [1, 2],
    "no logits": lambda: {k: v for k, v in _good().items() if k != "logits"},
    "other recipe": lambda: _with(meta={"recipe": {**tt.HEAD_RECIPE, "hidden": 64}}),
    "other glosses": lambda: _with(meta={"texts_sha256": "0" * 64}),
    "other format": lambda: _with(meta={"format": 99}),
    "nan logits": lambda: _with(logits=lambda t: t.clone().index_fill_(0, torch.tensor([5]), float("nan"))),
    "short logits": lambda: _with(logits=lambda t: t[:-1]),
    "float32 codes": lambda: _with(codes=lambda t: t.float()),
    "bad rows": lambda: _with(code_rows=lambda t: t + 10**6),
    "wrong head": lambda: _with(head=lambda h: {k: v[..., :3] for k, v in h.items()}),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_unusable_cache_is_a_warning_and_a_rebuild(tmp_path, monkeypatch, case):
    path = _broken(tmp_path, BROKEN[case]())
    with pytest.raises(ValueError, match="unusable"):
        tt.load_text_teacher(path, rebuild=False)
    built = []

    def fake_build(p, progress):  # the real build takes minutes; a copy of the shipped cache stands in
        built.append(p)
        shutil.copy(tt.TEXT_TEACHER_PATH, p)

    monkeypatch.setattr(tt, "build_text_teacher", fake_build)
    with pytest.warns(UserWarning, match="Rebuilding"):
        teacher = tt.load_text_teacher(path)
    assert built == [path] and teacher.logits.shape[1] == 10


@pytest.mark.parametrize("content", [b"", b"not a torch file", None])
def test_unreadable_file_is_rebuilt(tmp_path, monkeypatch, content):
    path = tmp_path / "teacher.pt"
    if content is not None:
        path.write_bytes(content)
    else:
        torch.save(_good(), path)
        path.write_bytes(path.read_bytes()[:1000])  # truncated
    monkeypatch.setattr(tt, "build_text_teacher", lambda p, progress: shutil.copy(tt.TEXT_TEACHER_PATH, p))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        tt.load_text_teacher(path)
    assert any("Rebuilding" in str(w.message) for w in caught)


def test_bad_arguments_are_refused():
    with pytest.raises(TypeError, match="path must be"):
        tt.load_text_teacher(3)
    with pytest.raises(TypeError, match="rebuild must be"):
        tt.load_text_teacher(rebuild="yes")
    with pytest.raises(TypeError, match="progress must be"):
        tt.build_text_teacher(progress=1)


def test_lookups_and_classify_refuse_bad_types(cached):
    with pytest.raises(TypeError, match="list or tuple of str"):
        cached.logits_of("a dog")
    with pytest.raises(TypeError, match="list or tuple of str"):
        cached.codes_of([3])
    with pytest.raises(TypeError, match="list of str"):
        cached.classify("a dog")
    with pytest.raises(ValueError, match=r"texts\[1\]"):
        cached.classify(["a dog", " "])
    with pytest.raises(ValueError, match="empty"):
        cached.classify([])
