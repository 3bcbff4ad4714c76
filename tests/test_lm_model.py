"""Notebook 10's transformer: shapes, parameter count, causal attention against a hand-written one, sampling."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from distill_lib.lm import model as lm_model
from distill_lib.lm.model import Block, CausalSelfAttention, CharTransformer, generate


def tiny(**overrides) -> CharTransformer:
    torch.manual_seed(0)
    sizes = {"vocab_size": 7, "context": 8, "width": 16, "heads": 4, "layers": 2}
    sizes.update(overrides)
    return CharTransformer(**sizes).eval()


class FixedDistribution(nn.Module):
    """A 'language model' whose next-character logits are ``log p`` whatever it reads."""

    def __init__(self, probs):
        super().__init__()
        self.log_probs = nn.Parameter(torch.log(torch.as_tensor(probs, dtype=torch.float32)), requires_grad=False)
        self.vocab_size = len(probs)

    def forward(self, idx):
        return self.log_probs.expand(*idx.shape, -1)  # (B, T, V)


def test_all_names_exist():
    assert sorted(lm_model.__all__) == ["Block", "CausalSelfAttention", "CharTransformer", "generate", "generate_cached"]
    assert all(hasattr(lm_model, name) for name in lm_model.__all__)


def test_shapes_and_hand_counted_parameters():
    model = CharTransformer(vocab_size=5, context=4, width=8, heads=2, layers=1)
    # embeddings 5*8 + 4*8; block: 2 LayerNorms 2*16, qkv 8*24+24, proj 8*8+8, mlp 8*32+32 + 32*8+8;
    # final LayerNorm 16; head 8*5+5.
    expected = 40 + 32 + 32 + 216 + 72 + 288 + 264 + 16 + 45
    assert sum(p.numel() for p in model.parameters()) == expected == 1005
    assert model(torch.zeros(3, 4, dtype=torch.long)).shape == (3, 4, 5)
    assert model(torch.zeros(1, 1, dtype=torch.long)).shape == (1, 1, 5)


def test_attention_matches_a_hand_written_masked_softmax():
    torch.manual_seed(1)
    attn = CausalSelfAttention(width=12, heads=3).eval()
    x = torch.randn(2, 5, 12)
    q, k, v = attn.qkv(x).split(12, dim=2)
    q, k, v = (z.view(2, 5, 3, 4).transpose(1, 2) for z in (q, k, v))  # (B, H, T, 4)
    scores = q @ k.transpose(-2, -1) / math.sqrt(4)  # (B, H, T, T)
    future = torch.triu(torch.ones(5, 5, dtype=torch.bool), diagonal=1)
    weights = scores.masked_fill(future, float("-inf")).softmax(-1)
    expected = attn.proj((weights @ v).transpose(1, 2).reshape(2, 5, 12))
    torch.testing.assert_close(attn(x), expected, atol=1e-6, rtol=1e-5)


def test_a_future_character_does_not_change_earlier_logits():
    model = tiny()
    idx = torch.randint(7, (2, 8), generator=torch.Generator().manual_seed(0))
    for t in range(8):
        changed = idx.clone()
        changed[:, t] = (changed[:, t] + 1) % 7
        before, after = model(idx), model(changed)
        torch.testing.assert_close(after[:, :t], before[:, :t], atol=0, rtol=0)  # exactly unchanged
        assert not torch.allclose(after[:, t], before[:, t])  # ... while position t reads it


def test_block_is_residual_and_causal():
    torch.manual_seed(2)
    block = Block(width=8, heads=2).eval()
    x = torch.randn(1, 6, 8)
    y = block(x)
    x2 = x.clone()
    x2[:, 4] += 1.0
    torch.testing.assert_close(block(x2)[:, :4], y[:, :4], atol=0, rtol=0)
    for p in (block.attn.proj.weight, block.attn.proj.bias, block.mlp[2].weight, block.mlp[2].bias):
        nn.init.zeros_(p)  # with both branches' outputs zero, the block is the identity
    torch.testing.assert_close(block(x), x)


def test_initialisation_as_gpt2():
    model = CharTransformer(vocab_size=79, context=64, width=192, heads=6, layers=6)
    assert all(float(p.detach().abs().max()) == 0 for n, p in model.named_parameters() if n.endswith("bias"))
    assert torch.equal(model.ln_f.weight.detach(), torch.ones(192))
    # 36,864 and 15,168 draws: the sample standard deviation is within 2 % of the set one.
    assert model.blocks[0].attn.qkv.weight.detach().std().item() == pytest.approx(0.02, rel=0.02)
    assert model.blocks[0].attn.proj.weight.detach().std().item() == pytest.approx(0.02 / math.sqrt(12), rel=0.02)
    assert model.head.weight.detach().std().item() == pytest.approx(0.02, rel=0.02)


def test_dropout_only_in_training_mode():
    model = tiny(dropout=0.5)
    idx = torch.randint(7, (2, 8), generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(model(idx), model(idx), atol=0, rtol=0)
    model.train()
    assert not torch.allclose(model(idx), model(idx))


@pytest.mark.parametrize(
    "overrides, error, match",
    [({"width": 10, "heads": 4}, ValueError, "width=10 is not a multiple of heads=4"),
     ({"layers": 0}, ValueError, r"layers=0 is out of range; allowed: \[1, inf\]"),
     ({"context": 0}, ValueError, "context=0"),
     ({"vocab_size": 2.0}, TypeError, "vocab_size must be an integer"),
     ({"dropout": 1.0}, ValueError, r"dropout=1.0 is out of range; allowed: \[0, 1\)"),
     ({"dropout": -0.1}, ValueError, "dropout=-0.1"),
     ({"dropout": "0.1"}, TypeError, "dropout must be a real number")],
)
def test_bad_sizes_named(overrides, error, match):
    with pytest.raises(error, match=match):
        tiny(**overrides)


@pytest.mark.parametrize(
    "idx, error, match",
    [(torch.zeros(2, 9, dtype=torch.long), ValueError, r"T=9 characters; allowed: \[1, 8\]"),
     (torch.zeros(2, 0, dtype=torch.long), ValueError, "T=0"),
     (torch.zeros(2, 3), TypeError, "torch.float32"),
     (torch.zeros(6, dtype=torch.long), TypeError, r"\(B, T\) int64"),
     ([[1, 2]], TypeError, "got list"),
     (torch.tensor([[1, 7]]), ValueError, r"id 7, out of range; allowed: \[0, 6\]"),
     (torch.tensor([[-2, 1]]), ValueError, "id -2")],
)
def test_bad_input_named(idx, error, match):
    with pytest.raises(error, match=match):
        tiny()(idx)


def test_generate_shapes_reproducible_and_in_range():
    model = tiny()
    prompt = torch.tensor([1, 2, 3])
    a = generate(model, prompt, 20, generator=torch.Generator().manual_seed(0))
    b = generate(model, prompt, 20, generator=torch.Generator().manual_seed(0))
    assert a.shape == (20,) and a.dtype == torch.int64 and torch.equal(a, b)
    assert 0 <= int(a.min()) and int(a.max()) < 7
    batch = generate(model, torch.tensor([[1, 2, 3], [4, 5, 6]]), 5, generator=torch.Generator().manual_seed(0))
    assert batch.shape == (2, 5)
    # A prompt longer than the context: the model reads its last 8 characters only.
    assert generate(model, torch.arange(20) % 7, 3).shape == (3,)


def test_generate_with_a_small_temperature_is_greedy():
    model = tiny()
    idx = torch.tensor([[3, 1]])
    for _ in range(12):  # greedy decoding by hand
        idx = torch.cat([idx, model(idx[:, -8:])[:, -1].argmax(-1, keepdim=True)], dim=1)
    got = generate(model, torch.tensor([3, 1]), 12, temperature=1e-4, generator=torch.Generator().manual_seed(5))
    assert got.tolist() == idx[0, 2:].tolist()


@pytest.mark.parametrize("temperature", [0.5, 1.0, 2.0])
def test_generate_samples_softmax_of_logits_over_temperature(temperature):
    probs = torch.tensor([0.6, 0.25, 0.1, 0.05])
    expected = probs ** (1 / temperature) / (probs ** (1 / temperature)).sum()  # softmax(log p / T)
    prompts = torch.zeros(20000, 1, dtype=torch.long)
    draws = generate(FixedDistribution(probs), prompts, 1, temperature, torch.Generator().manual_seed(0))
    freq = torch.bincount(draws.flatten(), minlength=4) / draws.numel()
    # 20,000 draws: each frequency's standard error is at most 0.0036; 4 of them is 0.015.
    torch.testing.assert_close(freq, expected, atol=0.015, rtol=0)


def test_generate_restores_the_training_mode():
    model = tiny(dropout=0.3).train()
    generate(model, torch.tensor([1]), 2)
    assert model.training
    model.eval()
    generate(model, torch.tensor([1]), 2)
    assert not model.training


@pytest.mark.parametrize(
    "kwargs, error, match",
    [({"prompt_ids": torch.zeros(0, dtype=torch.long)}, ValueError, r"prompt is empty \(prompt_ids of shape \(0,\)\)"),
     ({"prompt_ids": torch.zeros(2, 0, dtype=torch.long)}, ValueError, "prompt is empty"),
     ({"prompt_ids": torch.zeros(1, 1, 1, dtype=torch.long)}, ValueError, r"\(T,\) or \(B, T\), got shape \(1, 1, 1\)"),
     ({"prompt_ids": torch.tensor([1, 7])}, ValueError, r"id 7, out of range; allowed: \[0, 6\]"),
     ({"prompt_ids": torch.tensor([-1, 2])}, ValueError, "id -1"),
     ({"prompt_ids": torch.tensor([1.0])}, TypeError, "integer tensor.*float32"),
     ({"prompt_ids": [1, 2]}, TypeError, "got list"),
     ({"length": 0}, ValueError, r"length=0 is out of range; allowed: \[1, inf\]"),
     ({"length": -3}, ValueError, "length=-3"),
     ({"length": 2.0}, TypeError, "length must be an integer"),
     ({"temperature": 0.0}, ValueError, "temperature=0.0 must be a finite number > 0"),
     ({"temperature": -1}, ValueError, "temperature=-1.0"),
     ({"temperature": float("inf")}, ValueError, "temperature=inf"),
     ({"temperature": float("nan")}, ValueError, "temperature=nan"),
     ({"generator": 0}, TypeError, "generator must be a torch.Generator or None, got int"),
     ({"model": "gpt"}, TypeError, "model must be a torch.nn.Module")],
)
def test_generate_bad_input_named(kwargs, error, match):
    args = {"model": tiny(), "prompt_ids": torch.tensor([1, 2]), "length": 4, "temperature": 1.0, "generator": None}
    args.update(kwargs)
    with pytest.raises(error, match=match):
        generate(**args)


def test_generate_works_for_a_model_without_context_or_vocab_size():
    class Bigram(nn.Module):
        def __init__(self):
            super().__init__()
            self.table = nn.Embedding(5, 5)

        def forward(self, idx):
            return self.table(idx)  # (B, T, 5)

    out = generate(Bigram(), torch.tensor([0, 1]), 30, generator=torch.Generator().manual_seed(0))
    assert out.shape == (30,) and int(out.max()) < 5


def test_cached_forward_gives_the_full_forward_logits():
    model = tiny()
    idx = torch.randint(7, (3, 8), generator=torch.Generator().manual_seed(0))
    full = model(idx)
    cache = [None] * len(model.blocks)
    prefix = lm_model._forward_cached(model, idx[:, :3], cache)  # the prompt at once, then one position at a time
    steps = [lm_model._forward_cached(model, idx[:, t:t + 1], cache) for t in range(3, 8)]
    torch.testing.assert_close(torch.cat([prefix, *steps], dim=1), full, atol=1e-5, rtol=1e-5)
    assert cache[0][0].shape == (3, 4, 8, 4)  # (B, H, positions, C/H) keys of the first block


def test_generate_cached_draws_as_generate_within_the_context():
    model = tiny(context=32)
    prompt = torch.tensor([[1, 2, 3], [4, 5, 6]])
    slow = generate(model, prompt, 29, 0.9, torch.Generator().manual_seed(3))
    fast = lm_model.generate_cached(model, prompt, 29, 0.9, torch.Generator().manual_seed(3))
    assert torch.equal(fast, slow)


def test_generate_cached_past_the_context():
    # With a context of 1 both read only the last character: the restarts change nothing.
    model = tiny(context=1)
    slow = generate(model, torch.tensor([2]), 40, generator=torch.Generator().manual_seed(0))
    fast = lm_model.generate_cached(model, torch.tensor([2]), 40, generator=torch.Generator().manual_seed(0))
    assert torch.equal(fast, slow)
    # A longer context restarts from its second half: still the right shape and ids, the mode restored.
    model = tiny(context=6, dropout=0.2).train()
    out = lm_model.generate_cached(model, torch.tensor([[1, 2], [3, 4]]), 50, generator=torch.Generator().manual_seed(0))
    assert out.shape == (2, 50) and 0 <= int(out.min()) and int(out.max()) < 7 and model.training


def test_generate_cached_bad_input_named():
    with pytest.raises(TypeError, match="model must be a CharTransformer"):
        lm_model.generate_cached(nn.Linear(2, 2), torch.tensor([1]), 3)
    with pytest.raises(ValueError, match="prompt is empty"):
        lm_model.generate_cached(tiny(), torch.zeros(0, dtype=torch.long), 3)
    with pytest.raises(ValueError, match="temperature=0.0"):
        lm_model.generate_cached(tiny(), torch.tensor([1]), 3, temperature=0.0)
    with pytest.raises(ValueError, match="length=0"):
        lm_model.generate_cached(tiny(), torch.tensor([1]), 0)
