"""Notebook 10's students: sizes against the teacher's, seeding, shapes, the GRU's state, fast sampling, errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from distill_lib.lm import students as lm_students
from distill_lib.lm.data import ALPHABET, Alphabet
from distill_lib.lm.model import CharTransformer, generate, generate_cached
from distill_lib.lm.students import LM_STUDENTS, CharGRU, generate_fast, make_lm_student
from distill_lib.lm.teacher import LM_TEACHER_RECIPE, _model_of

STUDENTS = ["gru", "transformer"]


def num_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def tiny_transformer() -> CharTransformer:
    torch.manual_seed(0)
    return CharTransformer(79, context=16, width=16, heads=2, layers=1)


def tiny_gru(vocab_size: int = 79) -> CharGRU:
    torch.manual_seed(0)
    return CharGRU(vocab_size, embed=8, width=16, layers=2)


class RecordingGRU(CharGRU):
    """A CharGRU that records how many characters each forward and each step reads."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.forward_lengths: list[int] = []
        self.step_lengths: list[int] = []

    def forward(self, idx):
        self.forward_lengths.append(idx.shape[1])
        return super().forward(idx)

    def step(self, idx, state=None):
        self.step_lengths.append(idx.shape[1])
        return super().step(idx, state)


def test_all_names_exist():
    assert sorted(lm_students.__all__) == ["CharGRU", "LM_STUDENTS", "generate_fast", "make_lm_student"]
    assert all(hasattr(lm_students, name) for name in lm_students.__all__)
    assert sorted(LM_STUDENTS) == STUDENTS


def test_hand_counted_parameters():
    # GRU: embedding 79*32; three gates, each 32*192 input + 192*192 hidden weights and two biases; head 192*79+79.
    assert num_parameters(make_lm_student("gru")) == 79 * 32 + 3 * (32 * 192 + 192 * 192 + 2 * 192) + 192 * 79 + 79
    # transformer: embeddings (79 + 128)*64; per block LayerNorms 2*128, qkv 64*192+192, proj 64*64+64,
    # mlp 64*256+256 + 256*64+64; final LayerNorm 128; head 64*79+79.
    block = 256 + 64 * 192 + 192 + 64 * 64 + 64 + 64 * 256 + 256 + 256 * 64 + 64
    assert num_parameters(make_lm_student("transformer")) == (79 + 128) * 64 + 2 * block + 128 + 64 * 79 + 79


@pytest.mark.parametrize("name", STUDENTS)
def test_student_has_at_least_ten_times_fewer_parameters_than_the_teacher(name):
    teacher = num_parameters(_model_of(LM_TEACHER_RECIPE))
    student = num_parameters(make_lm_student(name))
    assert teacher >= 10 * student, f"{name}: {student} parameters, teacher {teacher}"


@pytest.mark.parametrize("name", STUDENTS)
def test_same_seed_same_weights_other_seed_other_weights(name):
    a, b, c = make_lm_student(name, seed=3), make_lm_student(name, seed=3), make_lm_student(name, seed=4)
    for (key, pa), pb, pc in zip(a.named_parameters(), b.parameters(), c.parameters()):
        torch.testing.assert_close(pa, pb, atol=0, rtol=0, msg=f"{name}.{key} differs for the same seed")
        if pa.dim() == 2:  # weights and embeddings are random (biases and LayerNorms start constant)
            assert not torch.equal(pa, pc), f"{name}.{key} is the same for seeds 3 and 4"


@pytest.mark.parametrize("name", STUDENTS)
def test_output_shapes(name):
    student = make_lm_student(name)
    assert student(torch.zeros(3, 7, dtype=torch.long)).shape == (3, 7, len(ALPHABET)) == (3, 7, 79)
    assert student(torch.zeros(1, 1, dtype=torch.long)).shape == (1, 1, 79)
    assert make_lm_student(name, vocab_size=11)(torch.full((2, 4), 10)).shape == (2, 4, 11)


def test_gru_step_in_pieces_equals_one_forward_over_the_whole():
    gru = tiny_gru(11).eval()
    idx = torch.randint(11, (2, 9), generator=torch.Generator().manual_seed(0))
    whole = gru(idx)
    logits1, state = gru.step(idx[:, :4])
    logits2, state = gru.step(idx[:, 4:5], state)
    logits3, state = gru.step(idx[:, 5:], state)
    assert state.shape == (2, 2, 16)  # (layers, B, width)
    torch.testing.assert_close(torch.cat([logits1, logits2, logits3], dim=1), whole, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(state, gru.step(idx)[1], atol=1e-6, rtol=1e-5)
    # the state carries the text read so far: without it, the same characters give other logits
    assert not torch.allclose(gru(idx[:, 4:]), whole[:, 4:], atol=1e-3)


def test_generic_generate_rereads_the_whole_text_of_a_gru_and_generate_fast_one_step_each():
    torch.manual_seed(0)
    gru = RecordingGRU(79, embed=8, width=16)
    assert getattr(gru, "context", None) is None  # so generate() reads every character drawn so far
    generate(gru, torch.zeros(5, dtype=torch.long), 4, generator=torch.Generator().manual_seed(0))
    assert gru.forward_lengths == [5, 6, 7, 8]
    gru.forward_lengths.clear()
    gru.step_lengths.clear()
    generate_fast(gru, torch.zeros(5, dtype=torch.long), 4, generator=torch.Generator().manual_seed(0))
    assert gru.forward_lengths == [] and gru.step_lengths == [5, 1, 1, 1, 1]  # the prompt, then one per character


@pytest.mark.parametrize("temperature", [1.0, 0.7, 2.0])
def test_generate_fast_for_a_gru_draws_what_generate_draws(temperature):
    gru = tiny_gru().train()
    prompt = Alphabet().encode("Emma was ")
    fast = generate_fast(gru, prompt, 60, temperature, generator=torch.Generator().manual_seed(5))
    slow = generate(gru, prompt, 60, temperature, generator=torch.Generator().manual_seed(5))
    assert fast.shape == (60,) and fast.dtype == torch.int64
    assert torch.equal(fast, slow)
    assert gru.training  # its mode is restored
    assert len(set(fast.tolist())) > 5  # an untrained model: many different characters


def test_generate_fast_for_a_gru_batch_of_prompts():
    gru = tiny_gru().eval()
    prompts = torch.randint(79, (3, 4), generator=torch.Generator().manual_seed(1))
    fast = generate_fast(gru, prompts, 25, 0.9, generator=torch.Generator().manual_seed(2))
    slow = generate(gru, prompts, 25, 0.9, generator=torch.Generator().manual_seed(2))
    assert fast.shape == (3, 25) and torch.equal(fast, slow)
    assert not gru.training


def test_generate_fast_for_a_transformer_is_generate_cached_and_generate_while_the_text_fits():
    model = tiny_transformer().train()
    prompt = Alphabet().encode("Emma ")
    fast = generate_fast(model, prompt, 40, 0.8, generator=torch.Generator().manual_seed(3))  # past context 16
    cached = generate_cached(model, prompt, 40, 0.8, generator=torch.Generator().manual_seed(3))
    assert fast.shape == (40,) and torch.equal(fast, cached)
    fits = generate_fast(model, prompt, 11, 0.8, generator=torch.Generator().manual_seed(4))  # 5 + 11 = 16
    assert torch.equal(fits, generate(model, prompt, 11, 0.8, generator=torch.Generator().manual_seed(4)))
    assert model.training


def test_generate_fast_same_generator_seed_same_text_other_seed_other_text():
    gru = tiny_gru()
    prompt = Alphabet().encode("Emma ")
    a = generate_fast(gru, prompt, 50, generator=torch.Generator().manual_seed(0))
    b = generate_fast(gru, prompt, 50, generator=torch.Generator().manual_seed(0))
    c = generate_fast(gru, prompt, 50, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_unknown_student_and_bad_seeds():
    with pytest.raises(ValueError, match=r"name='lstm'.*\['gru', 'transformer'\]"):
        make_lm_student("lstm")
    with pytest.raises(TypeError, match="name must be a str, got int"):
        make_lm_student(3)
    with pytest.raises(ValueError, match=r"seed=-1 is out of range"):
        make_lm_student("gru", seed=-1)
    with pytest.raises(TypeError, match=r"seed must be an integer, got float \(1.5\)"):
        make_lm_student("gru", seed=1.5)
    with pytest.raises(ValueError, match=r"vocab_size=0 is out of range"):
        make_lm_student("transformer", vocab_size=0)
    with pytest.raises(ValueError, match=r"embed=0 is out of range"):
        CharGRU(79, embed=0, width=8)
    with pytest.raises(TypeError, match=r"width must be an integer, got float \(8.0\)"):
        CharGRU(79, embed=4, width=8.0)


@pytest.mark.parametrize("kind", ["gru", "transformer"])
def test_generate_fast_rejects_bad_sampling_arguments(kind):
    model = tiny_gru() if kind == "gru" else tiny_transformer()
    prompt = Alphabet().encode("Emma")
    with pytest.raises(ValueError, match=r"prompt is empty.*\(0,\)"):
        generate_fast(model, torch.zeros(0, dtype=torch.long), 5)
    with pytest.raises(ValueError, match=r"prompt is empty.*\(2, 0\)"):
        generate_fast(model, torch.zeros(2, 0, dtype=torch.long), 5)
    for temperature in (0.0, -1.0):
        with pytest.raises(ValueError, match=rf"temperature={temperature}"):
            generate_fast(model, prompt, 5, temperature)
    with pytest.raises(ValueError, match="temperature=nan"):
        generate_fast(model, prompt, 5, float("nan"))
    for length in (0, -3):
        with pytest.raises(ValueError, match=rf"length={length} is out of range"):
            generate_fast(model, prompt, length)
    with pytest.raises(TypeError, match=r"length must be an integer, got float \(5.0\)"):
        generate_fast(model, prompt, 5.0)
    with pytest.raises(ValueError, match=r"id 79, out of range; allowed: \[0, 78\]"):
        generate_fast(model, torch.tensor([3, 79]), 5)
    with pytest.raises(ValueError, match=r"id -1, out of range"):
        generate_fast(model, torch.tensor([-1, 3]), 5)
    with pytest.raises(TypeError, match=r"prompt_ids must be an integer tensor.*float32"):
        generate_fast(model, torch.zeros(3), 5)
    with pytest.raises(TypeError, match="generator must be a torch.Generator or None, got int"):
        generate_fast(model, prompt, 5, generator=0)


def test_generate_fast_rejects_another_model():
    with pytest.raises(TypeError, match="CharGRU or a CharTransformer, got Linear"):
        generate_fast(nn.Linear(3, 3), torch.zeros(2, dtype=torch.long), 5)
    with pytest.raises(TypeError, match="got GRU"):
        generate_fast(nn.GRU(3, 3), torch.zeros(2, dtype=torch.long), 5)
