"""distill_lib.compression.storage: every stage read back to identical logits, bytes counted by hand, broken files."""

import math
import os
import struct
import tempfile
import zlib
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

from distill_lib.compression.storage import (
    FORMAT_VERSION,
    BYTE_CATEGORIES,
    STAGES,
    _pack_bits,
    _unpack_bits,
    load_compressed,
    read_header,
    save_compressed,
)
from distill_lib.compression.weight_sharing import SharedWeights, apply_shared, share_weights
from distill_lib.models import count_parameters, mlp
from distill_lib.pruning import make_permanent, prune_magnitude


def random_shared(model, bits, sparsity, seed):
    """Random masks, codebooks and codes for every Linear layer; the model's weights set to them."""
    g = torch.Generator().manual_seed(seed)
    shared = []
    for layer in (m for m in model if isinstance(m, nn.Linear)):
        mask = torch.rand(layer.weight.shape, generator=g) >= sparsity
        K = int(torch.randint(1, 2**bits + 1, (1,), generator=g))
        codebook = torch.randn(K, generator=g)
        codes = torch.randint(0, K, layer.weight.shape, generator=g) * mask
        s = SharedWeights(codebook, codes, mask, bits)
        with torch.no_grad():
            layer.weight.copy_(s.weight())
        shared.append(s)
    return shared


def prepared(sizes, stage, *, sparsity=0.8, bits=4, seed=0, dropout=0.0):
    """A random MLP ready for ``stage``, and its ``shared`` (None for dense/pruned)."""
    torch.manual_seed(seed)
    model = mlp(list(sizes), dropout=dropout)
    if stage in ("quantized", "huffman"):
        return model, random_shared(model, bits, sparsity, seed)
    if stage == "pruned":
        g = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for m in model:
                if isinstance(m, nn.Linear):
                    m.weight.mul_(torch.rand(m.weight.shape, generator=g) >= sparsity)
    return model, None


def check_round_trip(model, path, **kwargs):
    report = save_compressed(model, path, **kwargs)
    assert report.bytes == os.path.getsize(path) == sum(report.breakdown.values())
    assert set(report.breakdown) == set(BYTE_CATEGORIES) and min(report.breakdown.values()) >= 0
    loaded = load_compressed(path)
    X = torch.randn(32, model[0].in_features, generator=torch.Generator().manual_seed(1))
    model.eval()
    with torch.no_grad():
        assert torch.equal(loaded(X), model(X)), f"logits differ after {kwargs}"
    assert not loaded.training and not any(isinstance(m, nn.Dropout) for m in loaded)
    return report, loaded


# ---------------------------------------------------------------- round trips


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    sizes=st.lists(st.integers(1, 40), min_size=2, max_size=5),
    stage=st.sampled_from(STAGES),
    sparsity=st.sampled_from([0.0, 0.5, 0.9, 0.99, 1.0]),
    bits=st.integers(1, 8),
    index_bits=st.integers(1, 16),
    index=st.sampled_from(["relative", "csr"]),
    seed=st.integers(0, 1000),
)
def test_every_stage_round_trips_to_identical_logits(sizes, stage, sparsity, bits, index_bits, index, seed):
    if stage == "huffman":
        index = "relative"
    model, shared = prepared(sizes, stage, sparsity=sparsity, bits=bits, seed=seed)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "m.dc"
        report, loaded = check_round_trip(model, path, stage=stage, shared=shared, index_bits=index_bits, index=index)
        assert read_header(path) == {"version": FORMAT_VERSION, "stage": stage, "index": index, "index_bits": index_bits,
                                     "widths": list(sizes)}
    for a, b in zip(loaded.parameters(), (p for m in model if isinstance(m, nn.Linear) for p in m.parameters())):
        assert torch.equal(a, b)


def test_teacher_shape_with_dropout_and_bytes_of_the_dense_file(tmp_path):
    model, _ = prepared([64, 256, 256, 10], "dense", dropout=0.3)
    report, loaded = check_round_trip(model, tmp_path / "t.dc", stage="dense")
    assert report.breakdown["weights"] + report.breakdown["biases"] == 4 * count_parameters(model) == 340_008
    assert report.breakdown["header"] == 9 + 4 * 4 + 4  # magic and 5 bytes, 4 widths, CRC-32
    assert [type(m) for m in loaded] == [nn.Linear, nn.ReLU, nn.Linear, nn.ReLU, nn.Linear]


def test_pruning_masks_are_read_through(tmp_path):
    torch.manual_seed(0)
    model = mlp([64, 32, 10])
    prune_magnitude(model, 0.9, scope="layer")  # torch's weight_orig * weight_mask, still attached
    report, loaded = check_round_trip(model, tmp_path / "p.dc", stage="pruned")
    assert report.breakdown["weights"] == 4 * (round(0.1 * 64 * 32) + round(0.1 * 32 * 10))
    permanent = make_permanent(model).state_dict()
    assert loaded.state_dict().keys() == permanent.keys()
    assert all(torch.equal(loaded.state_dict()[k], permanent[k]) for k in permanent)


def test_loading_draws_no_random_numbers(tmp_path):
    model, _ = prepared([8, 4, 3], "dense")
    save_compressed(model, tmp_path / "m.dc", stage="dense")
    state = torch.random.get_rng_state()
    load_compressed(tmp_path / "m.dc")
    assert torch.equal(torch.random.get_rng_state(), state)


def test_the_stages_shrink_a_90_percent_sparse_4_bit_student(tmp_path):
    sizes = [64, 128, 10]
    reports = {}
    for stage in STAGES:
        model, shared = prepared(sizes, stage, sparsity=0.9, bits=4, seed=3)
        reports[stage] = check_round_trip(model, tmp_path / f"{stage}.dc", stage=stage, shared=shared)[0].bytes
    assert reports["dense"] == 4 * (64 * 128 + 128 + 128 * 10 + 10) + 9 + 3 * 4 + 4
    assert reports["dense"] > reports["pruned"] > reports["quantized"] > reports["huffman"]
    assert 1000 <= reports["quantized"] <= 2000  # the brief's ~1-2 KB


# ---------------------------------------------------------------- bytes by hand


def tiny(stage):
    """A 3x4 layer, weights kept at flat positions 0, 5 and 11, codes [0, 0, 2] into a 3-entry codebook."""
    mask = torch.zeros(12, dtype=torch.bool)
    mask[[0, 5, 11]] = True
    mask = mask.reshape(3, 4)
    codes = torch.zeros(3, 4, dtype=torch.int64)
    codes[2, 3] = 2
    s = SharedWeights(torch.tensor([0.5, -1.0, 2.0]), codes, mask, bits=2)
    layer = nn.Linear(4, 3)
    with torch.no_grad():
        layer.weight.copy_(s.weight())
    return nn.Sequential(layer), ([s] if stage in ("quantized", "huffman") else None)


HEADER = 4 + 5 + 2 * 4 + 4  # magic, 5 one-byte fields, widths 4 and 3 (u32), CRC-32
BIASES = 3 * 4
HAND = {  # index_bits=2: gaps [0, 3, 1, 3, 2] (two fillers), 5 entries x 2 bits = 10 bits -> 2 bytes
    ("dense", "relative"): {"header": HEADER, "weights": 12 * 4, "biases": BIASES},
    ("pruned", "relative"): {"header": HEADER + 4 + 4, "weights": 3 * 4, "indices": 2, "biases": BIASES},
    # CSR: int32 row pointers (3 + 1) and column indices (3)
    ("pruned", "csr"): {"header": HEADER + 4, "weights": 3 * 4, "indices": 4 * 4 + 3 * 4, "biases": BIASES},
    # bits (u8), K, kept (u32 each), entries (u32); 3 codes x 2 bits -> 1 byte
    ("quantized", "relative"): {"header": HEADER + 1 + 4 + 4 + 4, "codebooks": 3 * 4, "codes": 1, "indices": 2,
                                "biases": BIASES},
    ("quantized", "csr"): {"header": HEADER + 1 + 4 + 4, "codebooks": 3 * 4, "codes": 1, "indices": 28,
                           "biases": BIASES},
    # + code stream size (u32) and gaps' entries, table length, stream size (u32 each);
    # codes [0, 0, 2]: counts [2, 0, 1] -> lengths [1, 0, 1] (3-byte table) + 3 bits -> 1 byte;
    # gaps [0, 3, 1, 3, 2]: counts [1, 1, 1, 2] -> lengths [2, 2, 2, 2] (4-byte table) + 10 bits -> 2 bytes
    ("huffman", "relative"): {"header": HEADER + 1 + 4 + 4 + 4 + 4 * 3, "codebooks": 3 * 4, "codes": 3 + 1,
                              "indices": 4 + 2, "biases": BIASES},
}


@pytest.mark.parametrize("stage, index", list(HAND))
def test_bytes_of_a_3x4_layer_by_hand(tmp_path, stage, index):
    model, shared = tiny(stage)
    report, _ = check_round_trip(model, tmp_path / "tiny.dc", stage=stage, shared=shared, index_bits=2, index=index)
    expected = dict.fromkeys(BYTE_CATEGORIES, 0) | HAND[stage, index]
    assert report.breakdown == expected, (stage, index)
    assert report.bytes == sum(expected.values())


def test_pack_bits_by_hand():
    assert _pack_bits(np.array([0, 3, 1, 3, 2]), 2) == bytes([0b00110111, 0b10000000])
    assert _pack_bits(np.array([5]), 3) == bytes([0b10100000])
    assert _pack_bits(np.array([], dtype=np.int64), 4) == b""
    values = np.arange(300) % 37
    assert np.array_equal(_unpack_bits(_pack_bits(values, 6), 6, 300), values)


# ---------------------------------------------------------------- broken files


@pytest.fixture
def small_file(tmp_path):
    model, shared = prepared([6, 5, 3], "huffman", sparsity=0.5, bits=3)
    path = tmp_path / "small.dc"
    save_compressed(model, path, stage="huffman", shared=shared, index_bits=2)
    return path


def test_corrupted_truncated_and_foreign_files(small_file, tmp_path):
    data = small_file.read_bytes()
    bad = tmp_path / "bad.dc"
    bad.write_bytes(data[:20] + bytes([data[20] ^ 0x01]) + data[21:])
    with pytest.raises(ValueError, match=rf"{bad}: checksum mismatch: the file is corrupted or truncated"):
        load_compressed(bad)
    bad.write_bytes(data[:-7])
    with pytest.raises(ValueError, match="checksum mismatch"):
        load_compressed(bad)
    bad.write_bytes(data[:6])
    with pytest.raises(ValueError, match=r"not a compressed-model file .* 6 bytes"):
        read_header(bad)
    torch.save({"weight": torch.ones(3)}, bad)
    with pytest.raises(ValueError, match=rf"{bad}: not a compressed-model file \(expected magic b'DCMP'"):
        load_compressed(bad)
    bad.write_bytes(b"")
    with pytest.raises(ValueError, match="not a compressed-model file"):
        load_compressed(bad)
    body = data[:4] + bytes([FORMAT_VERSION + 1]) + data[5:-4]
    bad.write_bytes(body + struct.pack("<I", zlib.crc32(body)))
    with pytest.raises(ValueError, match=f"format version {FORMAT_VERSION + 1}; this library reads version {FORMAT_VERSION}"):
        load_compressed(bad)
    with pytest.raises(ValueError, match="no such file"):
        load_compressed(tmp_path / "missing.dc")


def with_crc(body):
    return body + struct.pack("<I", zlib.crc32(body))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(position=st.integers(0, 10_000), value=st.integers(0, 255), cut=st.integers(0, 10_000))
def test_inconsistent_files_with_a_valid_checksum_raise_value_error(small_file, position, value, cut):
    """Whatever a file says, reading it gives a model or a ValueError naming the file, never a crash inside."""
    body = small_file.read_bytes()[:-4]
    edited = bytearray(body)
    edited[position % len(body)] = value
    for candidate in (bytes(edited), body[: cut % len(body)], body + bytes([value])):
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "x.dc"
            path.write_bytes(with_crc(candidate))
            try:
                load_compressed(path)
            except ValueError as e:
                assert str(path) in str(e)


def test_stream_level_problems_are_named(small_file, tmp_path):
    body = small_file.read_bytes()[:-4]
    bad = tmp_path / "x.dc"
    bad.write_bytes(with_crc(body + b"\x00"))
    with pytest.raises(ValueError, match="1 unexpected bytes after the last layer"):
        load_compressed(bad)
    bad.write_bytes(with_crc(body[:-3]))
    with pytest.raises(ValueError, match=r"truncated: the biases needs 12 bytes at offset \d+, only 9 left"):
        load_compressed(bad)
    bad.write_bytes(with_crc(body[:5] + bytes([9]) + body[6:]))
    with pytest.raises(ValueError, match="invalid header"):
        load_compressed(bad)


# ---------------------------------------------------------------- bad arguments, nothing written


def refused(tmp_path, error, match, model=None, **kwargs):
    model = model if model is not None else mlp([4, 3, 2])
    path = tmp_path / "never.dc"
    with pytest.raises(error, match=match):
        save_compressed(model, path, **kwargs)
    assert not path.exists()


def test_bad_arguments_write_nothing(tmp_path):
    model, shared = prepared([4, 3, 2], "quantized", bits=2)
    refused(tmp_path, ValueError, r"stage='zip' is not allowed; choose one of \('dense', 'pruned'", stage="zip")
    refused(tmp_path, ValueError, "stage='quantized' needs shared", stage="quantized")
    refused(tmp_path, ValueError, "shared is only used by the stages 'quantized' and 'huffman', not stage='dense'",
            model=model, stage="dense", shared=shared)
    refused(tmp_path, ValueError, "shared has 1 entries but the model has 2 Linear layers",
            model=model, stage="huffman", shared=shared[:1])
    refused(tmp_path, TypeError, "shared must be a list of SharedWeights", model=model, stage="huffman",
            shared=shared[0])
    refused(tmp_path, ValueError, r"shared\[0\].mask has shape \(2, 3\); Linear layer 0's weight is \(3, 4\)",
            model=model, stage="quantized", shared=[shared[1], shared[0]])
    other = mlp([4, 3, 2])
    with torch.no_grad():
        other[0].weight.copy_(shared[0].weight())
    refused(tmp_path, ValueError, r"shared\[1\].weight\(\) differs from Linear layer 1's weight at \d+ position",
            model=other, stage="quantized", shared=shared)
    s = shared[0]
    too_few_bits = SimpleNamespace(codebook=torch.randn(5), codes=s.codes, mask=s.mask, bits=2, weight=s.weight)
    refused(tmp_path, ValueError, r"shared\[0\].codebook has shape \(5,\); need \(K,\) with K <= 2\*\*bits = 4",
            model=model, stage="quantized", shared=[too_few_bits, shared[1]])
    no_bits = SimpleNamespace(codebook=s.codebook, codes=s.codes, mask=s.mask, bits=0, weight=s.weight)
    refused(tmp_path, ValueError, r"shared\[0\].bits=0 is out of range; allowed: \[1, 16\]",
            model=model, stage="quantized", shared=[no_bits, shared[1]])
    refused(tmp_path, TypeError, r"shared\[0\] must be a SharedWeights, got dict", model=model, stage="quantized",
            shared=[{}, shared[1]])
    for bad in (0, 17):
        refused(tmp_path, ValueError, rf"index_bits={bad} is out of range; allowed: \[1, 16\]", stage="pruned",
                index_bits=bad)
    refused(tmp_path, ValueError, r"index='coo' is not allowed; choose one of \('relative', 'csr'\)",
            stage="pruned", index="coo")
    refused(tmp_path, ValueError, "index='csr' with stage='huffman'", model=model, stage="huffman", shared=shared,
            index="csr")


def test_models_that_are_not_plain_mlps(tmp_path):
    refused(tmp_path, TypeError, "model must be an nn.Sequential of Linear/ReLU/Dropout layers, got Linear",
            model=nn.Linear(4, 2), stage="dense")
    refused(tmp_path, ValueError, r"model\[1\] is Sigmoid; expected ReLU",
            model=nn.Sequential(nn.Linear(4, 3), nn.Sigmoid(), nn.Linear(3, 2)), stage="dense")
    refused(tmp_path, ValueError, "must start and end with a Linear layer",
            model=nn.Sequential(nn.Linear(4, 3), nn.ReLU()), stage="dense")
    refused(tmp_path, ValueError, "must start and end with a Linear layer", model=nn.Sequential(), stage="dense")
    refused(tmp_path, ValueError, "Linear layer 1 takes 5 inputs but layer 0 gives 3",
            model=nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(5, 2)), stage="dense")
    refused(tmp_path, ValueError, "Linear layer 0 has no bias",
            model=nn.Sequential(nn.Linear(4, 3, bias=False)), stage="dense")
    refused(tmp_path, TypeError, "Linear layer 0 weight must be a float32 tensor",
            model=nn.Sequential(nn.Linear(4, 3).double()), stage="dense")


def test_a_layer_with_nothing_pruned_stores_no_index(tmp_path):
    """Format 2: a dense layer's positions follow from its shape; no gaps are written (Han et al. store none)."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.ReLU(), torch.nn.Linear(5, 3))
    with torch.no_grad():
        model[2].weight[0, :2] = 0.0  # the second layer loses two weights, the first none
    for stage in ("pruned", "huffman"):
        shared = share_weights(model, 2) if stage == "huffman" else None
        coded = apply_shared(model, shared) if shared else model
        report = save_compressed(coded, tmp_path / f"{stage}.dc", stage=stage, shared=shared)
        again = load_compressed(report.path)
        assert torch.equal(again(torch.ones(2, 6)), coded.eval()(torch.ones(2, 6)))
        gap_bytes = report.breakdown["indices"]
        # only the second layer has an index stream: 13 entries (the pruned stage packs 5 bits each)
        if stage == "pruned":
            assert gap_bytes == math.ceil(13 * 5 / 8)
        assert gap_bytes > 0


def test_save_refuses_a_path_that_is_not_a_path(tmp_path):
    model = torch.nn.Sequential(torch.nn.Linear(3, 2))
    with pytest.raises(TypeError, match="path must be a str or a path, got int"):
        save_compressed(model, 5, stage="dense")
