"""Notebook 09's student side: token ids, the three students, the KD + cosine loss, the training loop."""

from __future__ import annotations

from collections import Counter

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from distill_lib.losses import UNLABELLED, transfer_set_loss
from distill_lib.text.distill import (
    cosine_embedding_loss,
    predict_text,
    text_distillation_loss,
    train_text_student,
)
from distill_lib.text.encoder import load_tokenizer
from distill_lib.text.students import STUDENTS, make_student
from distill_lib.text.tokens import PAD, UNK, Tokens, build_vocab, encode_texts

TEXTS = ["a domesticated carnivorous mammal", "a tall perennial woody plant",
         "a piece of furniture for one person to sit on", "any of various edible fruits"]


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer()


@pytest.fixture(scope="module")
def vocab(tokenizer):
    return build_vocab(tokenizer, TEXTS + TEXTS[:2], min_count=2)


def test_vocab_keeps_pieces_seen_min_count_times(tokenizer, vocab):
    counts = Counter(i for t in TEXTS + TEXTS[:2] for i in tokenizer.encode(t).ids[1:-1])  # no [CLS]/[SEP]
    kept = {i for i, c in counts.items() if c >= 2}
    assert vocab.size == 2 + len(kept)
    assert sorted(int(vocab.table[i]) for i in kept) == list(range(2, vocab.size))
    assert all(int(vocab.table[i]) == UNK for i, c in counts.items() if c < 2)
    assert int(vocab.table[tokenizer.token_to_id("[CLS]")]) == UNK


def test_encode_texts_pads_after_the_tokens_and_cuts_at_max_length(tokenizer, vocab):
    tok = encode_texts(tokenizer, vocab, TEXTS, max_length=6)
    assert tok.ids.shape == tok.mask.shape == (4, 6)
    n0 = len(tokenizer.encode(TEXTS[0]).ids) - 2
    assert tok.mask[0].tolist() == [True] * min(n0, 6) + [False] * (6 - min(n0, 6))
    assert bool((tok.ids[~tok.mask] == PAD).all())
    rare = encode_texts(tokenizer, vocab, ["zygote xylophone"])  # pieces never seen: all unknown
    assert bool((rare.ids[rare.mask] == UNK).all()) and int(rare.mask.sum()) >= 1
    trimmed = tok.rows(torch.tensor([0]))
    assert trimmed.ids.shape[1] == int(tok.mask[0].sum())


@pytest.mark.parametrize("bad, match", [([], "empty"), (["ok", ""], r"texts\[1\]"), ("text", "list")])
def test_encode_texts_refuses_bad_texts(tokenizer, vocab, bad, match):
    with pytest.raises((TypeError, ValueError), match=match):
        encode_texts(tokenizer, vocab, bad)


def test_build_vocab_refuses_bad_min_count(tokenizer):
    with pytest.raises(ValueError, match="min_count"):
        build_vocab(tokenizer, TEXTS, min_count=0)


@pytest.mark.parametrize("name", sorted(STUDENTS))
def test_students_ignore_padding(name):
    """Appending padding to a text changes neither its logits nor its embedding."""
    s = make_student(name, vocab_size=50, num_classes=10, embed_dim=8, seed=1).eval()
    ids = torch.tensor([[5, 6, 7, 8]])
    mask = torch.ones_like(ids, dtype=torch.bool)
    padded = torch.tensor([[5, 6, 7, 8, PAD, PAD]])
    pmask = padded != PAD
    with torch.no_grad():
        a, b = s(ids, mask), s(padded, pmask)
    assert a[0].shape == (1, 10) and a[1].shape == (1, 8)
    torch.testing.assert_close(a[0], b[0], atol=1e-5, rtol=0)
    torch.testing.assert_close(a[1], b[1], atol=1e-5, rtol=0)


def test_make_student_is_seeded_and_validates():
    a = make_student("bag", 20, 3, 4, seed=2)
    b = make_student("bag", 20, 3, 4, seed=2)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    with pytest.raises(ValueError, match="lstm"):
        make_student("lstm", 20, 3, 4)
    with pytest.raises(ValueError, match="vocab_size"):
        make_student("gru", 1, 3, 4)


def test_cosine_embedding_loss_is_pytorchs():
    torch.manual_seed(0)
    s, t = torch.randn(7, 5), torch.randn(7, 5)
    expected = nn.CosineEmbeddingLoss()(s, t, torch.ones(7))
    torch.testing.assert_close(cosine_embedding_loss(s, t), expected)
    assert float(cosine_embedding_loss(torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 3.0]]))) == pytest.approx(1.0)
    assert float(cosine_embedding_loss(torch.tensor([[2.0, 0.0]]), torch.tensor([[-1.0, 0.0]]))) == pytest.approx(2.0)


def test_cosine_embedding_loss_refuses_bad_input():
    with pytest.raises(ValueError, match="same shape"):
        cosine_embedding_loss(torch.ones(2, 3), torch.ones(2, 4))
    with pytest.raises(ValueError, match="NaN"):
        cosine_embedding_loss(torch.tensor([[float("nan"), 1.0]]), torch.ones(1, 2))


def test_text_distillation_loss_adds_beta_times_cosine_to_the_transfer_set_loss():
    torch.manual_seed(1)
    z, v = torch.randn(6, 4), torch.randn(6, 4)
    s, t = torch.randn(6, 3), torch.randn(6, 3)
    y = torch.tensor([0, 1, UNLABELLED, 3, UNLABELLED, 2])
    got = text_distillation_loss(z, s, y, v, t, temperature=2.0, lam=0.7, beta=0.5)
    expected = transfer_set_loss(z, v, y, 2.0, 0.7) + 0.5 * (1 - F.cosine_similarity(s, t)).mean()
    torch.testing.assert_close(got, expected)
    with pytest.raises(ValueError, match="beta"):
        text_distillation_loss(z, s, y, v, t, temperature=2.0, lam=0.7, beta=-1.0)


def test_training_learns_a_separable_toy_task_and_keeps_the_best_checkpoint():
    torch.manual_seed(0)
    n = 200
    y = torch.randint(0, 2, (n,))
    ids = torch.stack([torch.where(y == 1, 2, 3), torch.randint(4, 10, (n,))], 1)  # token 2 or 3 gives the class
    tok = Tokens(ids, ids != PAD)
    s = make_student("bag", 10, 2, 4, seed=0)
    r = train_text_student(s, tok, y, val=(tok, y), steps=60, lr=0.05, batch_size=32, checks=3)
    assert r.best_step in [step for step, _ in r.val_accuracy]
    assert max(acc for _, acc in r.val_accuracy) == pytest.approx(
        100.0 * float((predict_text(r.model, tok).argmax(1) == y).float().mean()))
    assert max(acc for _, acc in r.val_accuracy) > 95.0


def test_training_refuses_missing_teacher_before_changing_weights():
    ids = torch.tensor([[2, 3], [4, 5]])
    tok = Tokens(ids, ids != PAD)
    s = make_student("bag", 10, 2, 4, seed=0)
    before = [p.clone() for p in s.parameters()]
    with pytest.raises(ValueError, match="teacher_logits"):
        train_text_student(s, tok, torch.tensor([0, 1]), val=(tok, torch.tensor([0, 1])), lam=0.5)
    with pytest.raises(ValueError, match="lr"):
        train_text_student(s, tok, torch.tensor([0, 1]), val=(tok, torch.tensor([0, 1])), lr=0.0)
    assert all(torch.equal(p, q) for p, q in zip(before, s.parameters()))


def test_a_batch_without_labels_uses_the_kl_term_only():
    from distill_lib.losses import UNLABELLED, _kd_kl
    from distill_lib.text.distill import _text_kd_loss

    g = torch.Generator().manual_seed(0)
    z, tz = torch.randn(6, 4, generator=g, requires_grad=True), torch.randn(6, 4, generator=g)
    e, te = torch.randn(6, 3, generator=g), torch.randn(6, 3, generator=g)
    none = torch.full((6,), UNLABELLED)
    loss = _text_kd_loss(z, e, none, tz, te, 2.0, 0.5, 0.0)  # CE over no labelled row would be 0/0
    assert torch.isfinite(loss) and torch.allclose(loss, 0.5 * _kd_kl(z, tz, 2.0))
    loss.backward()
    assert torch.isfinite(z.grad).all()


@pytest.mark.parametrize("n", [200, 10_000])
def test_length_batches_cover_every_row_once_and_change_between_epochs(n):
    from distill_lib.text.distill import _length_batches

    g = torch.Generator().manual_seed(0)
    lengths = torch.randint(1, 40, (n,), generator=g)
    epochs = [_length_batches(lengths, 128, g) for _ in range(2)]
    for batches in epochs:
        assert sorted(torch.cat(batches).tolist()) == list(range(n))  # every row exactly once
        assert all(len(b) <= 128 for b in batches)
    first = {frozenset(b.tolist()) for b in epochs[0]}
    assert first != {frozenset(b.tolist()) for b in epochs[1]}  # not the same batches every epoch
    if n > 128 * 32:  # bucketed: a batch's lengths are closer than a random batch's
        spread = torch.tensor([float(lengths[b].float().std()) for b in epochs[0] if len(b) > 1]).mean()
        assert spread < 0.5 * float(lengths.float().std())
