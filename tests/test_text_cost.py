"""Notebook 09's cost side by side: multiply-adds, bytes, the int8 teacher, sentences per second."""

from __future__ import annotations

import os
import warnings

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from distill_lib.text.cost import (
    CostRow,
    ModelBytes,
    TeacherClassifier,
    TextModel,
    Throughput,
    cost_table,
    format_cost_table,
    macs_per_sentence,
    model_bytes,
    multiply_adds,
    sentences_per_second,
    student_model,
    teacher_int8_model,
    teacher_int8_onnx,
    teacher_model,
)
from distill_lib.text.data import load_text_split
from distill_lib.text.encoder import MiniLM, load_minilm, load_tokenizer
from distill_lib.text.students import make_student
from distill_lib.text.teacher import teacher_head
from distill_lib.text.tokens import build_vocab, encode_texts

TEXTS = ["a domesticated carnivorous mammal", "a tall perennial woody plant",
         "a piece of furniture for one person to sit on", "any of various edible fruits"]
WIDTH, MLP, LAYERS = 384, 1536, 6


def teacher_macs(T: int, head: bool = True) -> int:
    """By hand: per token 4 C^2 (Q, K, V, out) + 2 C M (the MLP) per layer; attention 2 T^2 C per layer."""
    per_token = LAYERS * (4 * WIDTH**2 + 2 * WIDTH * MLP)  # 10,616,832
    return T * per_token + LAYERS * 2 * T * T * WIDTH + (WIDTH * 256 + 256 * 10 if head else 0)


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer()


@pytest.fixture(scope="module")
def vocab(tokenizer):
    return build_vocab(tokenizer, load_text_split().texts_train[:2000], min_count=2)


@pytest.fixture(scope="module")
def teacher(tokenizer):
    torch.manual_seed(0)
    return teacher_model(load_minilm(), tokenizer, teacher_head().eval())


@pytest.fixture(scope="module")
def students(tokenizer, vocab):
    return {name: student_model(make_student(name, vocab.size, 10, 384), tokenizer, vocab)
            for name in ("bag", "gru", "transformer")}


def ids_mask(B: int, T: int, vocab: int = 50):
    ids = torch.randint(2, vocab, (B, T), generator=torch.Generator().manual_seed(0))
    return ids, torch.ones(B, T, dtype=torch.bool)


# ----------------------------------------------------------------------------- multiply-adds


class PerToken(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed, self.linear = nn.Embedding(50, 3), nn.Linear(3, 2)

    def forward(self, ids, mask):
        return self.linear(self.embed(ids))


def test_multiply_adds_of_a_linear_per_token_is_T_in_out():
    ids, mask = ids_mask(4, 5)
    assert multiply_adds(PerToken(), ids, mask) == 5 * 3 * 2  # per row, whatever B


def test_multiply_adds_equals_flop_counter_over_two():
    from torch.utils.flop_counter import FlopCounterMode

    model, x = nn.Linear(16, 8), torch.randn(3, 16)
    counter = FlopCounterMode(display=False)
    with counter:
        model(x)
    assert counter.get_total_flops() == 2 * 3 * 16 * 8  # the tool's own count: FLOPs = 2 x MACs

    class Wrap(nn.Module):
        def forward(self, ids, mask):
            return model(x)
    assert multiply_adds(Wrap(), *ids_mask(3, 1)) == 16 * 8


@pytest.mark.parametrize("T", [1, 7])
def test_student_multiply_adds_by_hand(T):
    ids, mask = ids_mask(2, T)
    heads = 10 + 384  # classify + to_teacher, both computed by forward
    hand = {
        "bag": 64 * heads,  # the embedding look-up and the mean are not multiply-adds
        "gru": T * 3 * (64 * 96 + 96 * 96) + 96 * heads,  # three gates, input and hidden matrices, per token
        "transformer": T * 2 * (64 * 192 + 64 * 64 + 2 * 64 * 128) + 2 * 2 * T * T * 64 + 64 * heads,
    }
    for name, macs in hand.items():
        assert multiply_adds(make_student(name, 50, 10, 384), ids, mask) == macs, name


def test_gru_matmuls_are_counted_by_flop_counter():
    """FlopCounterMode sees nn.GRU on the CPU as addmm calls: nothing counted by hand in the library."""
    from torch.utils.flop_counter import FlopCounterMode

    gru = nn.GRU(4, 5, batch_first=True)
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        gru(torch.randn(1, 6, 4))
    assert counter.get_total_flops() == 2 * 6 * 3 * (4 * 5 + 5 * 5)


@pytest.mark.parametrize("T", [3, 16])
def test_teacher_multiply_adds_by_formula(teacher, T):
    ids, mask = ids_mask(1, T, vocab=30522)
    assert multiply_adds(teacher.network.encoder, ids, mask) == teacher_macs(T, head=False)
    assert multiply_adds(teacher.network, ids, mask) == teacher_macs(T)


def test_macs_per_sentence_counts_each_text_alone(teacher, students):
    lengths = teacher.tokenize(TEXTS)[1].sum(1).tolist()  # with [CLS] and [SEP]
    assert macs_per_sentence(teacher, TEXTS).tolist() == [teacher_macs(n) for n in lengths]
    gru_lengths = students["gru"].tokenize(TEXTS)[1].sum(1).tolist()
    assert gru_lengths == [n - 2 for n in lengths]
    assert macs_per_sentence(students["gru"], TEXTS).tolist() == [
        n * 3 * (64 * 96 + 96 * 96) + 96 * 394 for n in gru_lengths]
    assert macs_per_sentence(students["bag"], TEXTS).tolist() == [64 * 394] * 4


def test_multiply_adds_bad_input(teacher):
    ids, mask = ids_mask(2, 3)
    with pytest.raises(TypeError, match="model must be a torch.nn.Module, got str"):
        multiply_adds("teacher", ids, mask)
    with pytest.raises(ValueError, match="ids must be a non-empty int64"):
        multiply_adds(PerToken(), ids.float(), mask)
    with pytest.raises(ValueError, match=r"mask must be a tensor of the shape of ids \(2, 3\)"):
        multiply_adds(PerToken(), ids, mask[:, :2])
    with pytest.raises(TypeError, match="model must be a TextModel"):
        macs_per_sentence(teacher.network, TEXTS)
    with pytest.raises(ValueError, match="texts=\\[\\] is empty"):
        macs_per_sentence(teacher, [])
    with pytest.raises(ValueError, match=r"texts\[1\] must be a non-empty str"):
        macs_per_sentence(teacher, ["a dog", " "])


# ----------------------------------------------------------------------------- bytes


def test_model_bytes_by_hand():
    assert model_bytes(nn.Linear(3, 2)) == ModelBytes(8, 32, 6 + 2 * 4 + 2 * 4)  # codes + scales + biases
    assert model_bytes(nn.Embedding(5, 3)) == ModelBytes(15, 60, 15 + 5 * 4)  # a scale per row (token)
    assert model_bytes(nn.LayerNorm(4)) == ModelBytes(8, 32, 32)  # not a matrix: stays fp32
    gru = nn.GRU(2, 3)  # weight_ih (9, 2), weight_hh (9, 3), two biases of 9
    assert model_bytes(gru) == ModelBytes(63, 252, (18 + 9 * 4) + (27 + 9 * 4) + 18 * 4)
    shared = nn.Sequential(nn.Linear(3, 3, bias=False), nn.Linear(3, 3, bias=False))
    shared[1].weight = shared[0].weight
    assert model_bytes(shared) == ModelBytes(9, 36, 9 + 3 * 4)  # a shared matrix counts once


def test_model_bytes_of_the_models(teacher):
    bag = make_student("bag", 1000, 10, 384)  # embed (1000, 64), classify (10, 64), to_teacher (384, 64)
    int8 = (1000 * 64 + 4 * 1000) + (640 + 40) + (384 * 64 + 4 * 384) + 4 * (10 + 384)
    assert model_bytes(bag) == ModelBytes(64_000 + 650 + 24_960, 4 * (64_000 + 650 + 24_960), int8)
    encoder = model_bytes(teacher.network.encoder)
    assert encoder.params == 22_565_376 and encoder.fp32 == 4 * 22_565_376
    matrices = [(30522, 384), (512, 384), (2, 384)] + LAYERS * ([(384, 384)] * 4 + [(1536, 384), (384, 1536)])
    in_matrices = sum(r * c for r, c in matrices)
    assert encoder.int8 == sum(r * c + 4 * r for r, c in matrices) + 4 * (encoder.params - in_matrices)
    with pytest.raises(TypeError, match="model must be a torch.nn.Module, got int"):
        model_bytes(3)


# ----------------------------------------------------------------------------- tokenisation


def test_student_tokenize_is_encode_texts_trimmed(tokenizer, vocab):
    texts = TEXTS + ["\x07", "zygomorphic xerophytic " * 20]  # no pieces at all -> [UNK]; a text cut at max_length
    for max_length in (5, 64):
        model = student_model(make_student("bag", vocab.size, 10, 384), tokenizer, vocab, max_length=max_length)
        ids, mask = model.tokenize(texts)
        expected = encode_texts(tokenizer, vocab, texts, max_length=max_length)
        assert torch.equal(ids, expected.ids[:, :ids.shape[1]]) and not expected.mask[:, ids.shape[1]:].any()
        assert torch.equal(mask, expected.mask[:, :ids.shape[1]])


def test_teacher_tokenize_adds_cls_sep_and_pads(teacher, tokenizer):
    ids, mask = teacher.tokenize(TEXTS)
    assert ids.shape == mask.shape and ids.shape[1] == int(mask.sum(1).max())
    first = tokenizer.encode(TEXTS[0]).ids
    assert ids[0, :len(first)].tolist() == first and first[0] == 101 and first[-1] == 102  # [CLS] ... [SEP]


def test_model_builders_bad_input(tokenizer, vocab):
    with pytest.raises(TypeError, match="encoder must be a MiniLM"):
        teacher_model(nn.Linear(2, 2), tokenizer, nn.Linear(384, 10))
    with pytest.raises(TypeError, match="tokenizer must be a tokenizers.Tokenizer"):
        student_model(nn.Linear(2, 2), "wordpiece", vocab)
    with pytest.raises(TypeError, match="vocab must be a Vocab"):
        student_model(nn.Linear(2, 2), tokenizer, {"a": 2})
    with pytest.raises(ValueError, match=r"max_length=0 is out of range"):
        student_model(nn.Linear(2, 2), tokenizer, vocab, max_length=0)


# ----------------------------------------------------------------------------- the int8 teacher


def test_int8_teacher_agrees_with_fp32(teacher):
    """ORT dynamic int8 (per channel): the sentence embeddings of 32 glosses keep a mean cosine > 0.98."""
    texts = load_text_split().texts_val[:32]
    int8 = teacher_int8_model(teacher)  # cached under build/text after the first run
    ids, mask = teacher.tokenize(texts)
    logits, embedding = teacher.run(ids, mask)
    logits8, embedding8 = int8.run(ids, mask)
    cosine = F.cosine_similarity(embedding, embedding8)  # (32,)
    assert cosine.mean() > 0.98 and cosine.min() > 0.95, cosine
    assert logits8.shape == logits.shape == (32, 10)
    assert int8.network is teacher.network and int8.tokenize is teacher.tokenize


def tiny_teacher(seed: int = 0) -> TeacherClassifier:
    torch.manual_seed(seed)
    encoder = MiniLM(vocab=20, max_positions=16, width=8, heads=2, mlp=16, layers=1)
    return TeacherClassifier(encoder, nn.Linear(8, 3)).eval()


def test_int8_cache_is_reused_and_rebuilt_when_broken(tmp_path):
    network = tiny_teacher()
    path = teacher_int8_onnx(network, tmp_path)
    assert path.parent == tmp_path and path.with_suffix(".sha256").is_file()
    stamp = path.stat().st_mtime_ns
    assert teacher_int8_onnx(network, tmp_path) == path and path.stat().st_mtime_ns == stamp  # reused
    other = teacher_int8_onnx(tiny_teacher(seed=1), tmp_path)
    assert other != path  # other weights, another file
    path.write_bytes(b"not an onnx file")
    with pytest.warns(UserWarning, match="Not using the int8 teacher.*SHA-256 does not match.*Rebuilding"):
        again = teacher_int8_onnx(network, tmp_path)
    assert again == path and path.stat().st_size > 1000
    path.with_suffix(".sha256").write_text(__import__("hashlib").sha256(b"junk").hexdigest())
    path.write_bytes(b"junk")
    with pytest.warns(UserWarning, match="ONNX Runtime cannot load it"):
        teacher_int8_onnx(network, tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        teacher_int8_onnx(network, tmp_path)  # sound again: no warning
    with pytest.raises(TypeError, match="network must be a TeacherClassifier"):
        teacher_int8_onnx(nn.Linear(2, 2), tmp_path)
    with pytest.raises(TypeError, match="folder must be a str or a path, got int"):
        teacher_int8_onnx(network, 3)


def test_teacher_int8_model_bad_input(students):
    with pytest.raises(TypeError, match="teacher must be the TextModel of teacher_model"):
        teacher_int8_model(students["bag"])


# ----------------------------------------------------------------------------- speed and the table


def test_sentences_per_second(students):
    threads, parallel = torch.get_num_threads(), os.environ.get("TOKENIZERS_PARALLELISM")
    speed = sentences_per_second(students["bag"], TEXTS, batch_size=2, min_run_time=0.01)
    assert isinstance(speed, Throughput) and speed.sentences == 4 and speed.batch_size == 2
    assert speed.per_second == pytest.approx(4 / speed.timing.median) and speed.timing.num_threads == 1
    assert "sentences/s at batch 2" in str(speed)
    assert torch.get_num_threads() == threads and os.environ.get("TOKENIZERS_PARALLELISM") == parallel


def test_sentences_per_second_bad_input(students):
    bag = students["bag"]
    with pytest.raises(TypeError, match="model must be a TextModel"):
        sentences_per_second(bag.network, TEXTS)
    with pytest.raises(ValueError, match=r"batch_size=5 is out of range; allowed: \[1, 4\]"):
        sentences_per_second(bag, TEXTS, batch_size=5)
    with pytest.raises(ValueError, match=r"num_threads=0 is out of range"):
        sentences_per_second(bag, TEXTS, num_threads=0)
    with pytest.raises(ValueError, match=r"min_run_time=0.0 must be a finite number"):
        sentences_per_second(bag, TEXTS, min_run_time=0)
    with pytest.raises(TypeError, match="texts must be a list or tuple of str, got str"):
        sentences_per_second(bag, "a dog")


def test_cost_table_rows(students):
    texts = load_text_split().texts_val[:8]
    rows = cost_table(students, texts, batch_sizes=(1, 8), min_sentences=4, min_run_time=0.01)
    assert [r.name for r in rows] == ["bag", "gru", "transformer"] and all(isinstance(r, CostRow) for r in rows)
    for r in rows:
        network = students[r.name].network
        assert (r.params, r.bytes_fp32, r.bytes_int8) == tuple(model_bytes(network))
        assert r.macs == float(macs_per_sentence(students[r.name], texts).median())
        assert [(s.batch_size, s.sentences) for s in r.speeds] == [(1, 4), (8, 8)]
    table = format_cost_table(rows, baseline="gru")
    assert table.splitlines()[0].startswith("model") and "sent/s b8" in table and "1x fewer MACs" in table
    assert len(table.splitlines()) == 4


def test_cost_table_bad_input(students):
    texts = load_text_split().texts_val[:8]
    with pytest.raises(ValueError, match="texts has 8 texts; batch sizes \\[1, 256\\].*need 256"):
        cost_table(students, texts)
    with pytest.raises(TypeError, match=r"models\['x'\] must be a TextModel"):
        cost_table({"x": nn.Linear(2, 2)}, texts)
    with pytest.raises(ValueError, match=r"batch_sizes\[0\]=0 is out of range"):
        cost_table(students, texts, batch_sizes=(0,))
    with pytest.raises(ValueError, match="batch_sizes must be a non-empty sequence"):
        cost_table(students, texts, batch_sizes=())
    rows = cost_table({"bag": students["bag"]}, texts, batch_sizes=(1,), min_sentences=2, min_run_time=0.01)
    with pytest.raises(ValueError, match="baseline='teacher' is not one of the rows \\['bag'\\]"):
        format_cost_table(rows, baseline="teacher")
    with pytest.raises(TypeError, match="rows must be a non-empty list of CostRow"):
        format_cost_table([("bag", 1)])


def test_text_model_logits(students):
    logits = students["gru"].logits(TEXTS)
    assert logits.shape == (4, 10)
    assert isinstance(students["gru"], TextModel)
