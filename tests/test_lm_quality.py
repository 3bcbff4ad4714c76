"""distill_lib.lm.quality: distinct-n, repetition, the teacher's bits on samples, generation speed."""

import math

import pytest
import torch
import torch.nn.functional as F

from distill_lib import timing
from distill_lib.lm import quality
from distill_lib.lm.model import CharTransformer
from distill_lib.lm.quality import (
    GenerationSpeed,
    chars_per_second,
    distinct_ngrams,
    generation_speedup,
    repetition,
    teacher_bits_on_samples,
)
from distill_lib.lm.students import CharGRU, generate_fast


def tiny_teacher(seed=0, context=16):
    torch.manual_seed(seed)
    return CharTransformer(79, context=context, width=16, heads=2, layers=1)


def tiny_gru(seed=0):
    torch.manual_seed(seed)
    return CharGRU(79, embed=8, width=16)


# --- distinct-n ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, n, expected",
    [
        ("the cat saw the cat", 1, 3 / 5),  # the, cat, saw
        ("the cat saw the cat", 2, 3 / 4),  # (the cat) twice
        ("the cat saw the cat", 3, 3 / 3),
        ("a a a a", 1, 1 / 4),
        ("a a a a", 2, 1 / 3),
        ("Emma, emma Emma", 1, 3 / 3),  # case and punctuation kept: three different words
        ("  one\ntwo\tthree  ", 1, 1.0),  # any whitespace separates words
    ],
    ids=["uni", "bi", "tri", "loop-uni", "loop-bi", "case-kept", "whitespace"],
)
def test_distinct_ngrams_by_hand(text, n, expected):
    assert distinct_ngrams(text, n) == pytest.approx(expected)


def test_distinct_ngrams_pools_samples_without_crossing_their_borders():
    # samples "a b" and "c a": bigrams (a b), (c a); joined, "a b c a" would add (b c)
    assert distinct_ngrams(["a b", "c a"], 2) == 1.0
    # unigrams pooled: a, b, c, a -> 3 distinct of 4 (a repeat across samples counts for distinct-n)
    assert distinct_ngrams(["a b", "c a"], 1) == pytest.approx(3 / 4)
    # a sample too short for n contributes nothing, but does not fail when another has n-grams
    assert distinct_ngrams(["x", "a b a b"], 2) == pytest.approx(2 / 3)


def test_distinct_ngrams_matches_a_counter():
    from collections import Counter
    from itertools import pairwise

    text = "it is a truth universally acknowledged that a single man in possession of a good fortune"
    grams = Counter(pairwise(text.split()))
    assert distinct_ngrams(text, 2) == pytest.approx(len(grams) / sum(grams.values()))


@pytest.mark.parametrize(
    "text, n, error, match",
    [
        ("one two", 3, ValueError, r"no word 3-gram: the text has 2 word\(s\)"),
        ("", 1, ValueError, r"the text has 0 word"),
        (["a", "b c"], 3, ValueError, r"at most 2 per sample \(2 samples\)"),
        ([], 1, ValueError, "empty list"),
        ("a b", 0, ValueError, r"n=0 is out of range"),
        ("a b", 1.0, TypeError, r"n must be an integer"),
        (b"a b", 1, TypeError, "text must be a str or a list of str, got bytes"),
        (["a", 3], 1, TypeError, r"text\[1\] must be a str, got int"),
    ],
    ids=["too-short", "empty-str", "list-too-short", "empty-list", "n-zero", "n-float", "bytes", "non-str"],
)
@pytest.mark.parametrize("fn", [distinct_ngrams, repetition], ids=["distinct", "repetition"])
def test_ngram_measures_reject_bad_input(fn, text, n, error, match):
    with pytest.raises(error, match=match):
        fn(text, n)


# --- repetition ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, n, expected",
    [
        ("a b c d e f", 2, 0.0),  # nothing repeats
        ("a b a b a b", 2, 3 / 5),  # (a b) (b a) (a b)* (b a)* (a b)*
        ("a b c a b c", 3, 1 / 4),  # (abc) (bca) (cab) (abc)*
        ("x y x", 1, 1 / 3),  # x, y, x*
        ("the " * 10, 4, 6 / 7),  # k = 10 words: (k - n) / (k - n + 1)
    ],
    ids=["none", "bigram-loop", "trigram-once", "unigram", "the-loop"],
)
def test_repetition_by_hand(text, n, expected):
    assert repetition(text, n) == pytest.approx(expected)


def test_repetition_of_a_loop_tends_to_one_and_default_n_is_4():
    scores = [repetition("the " * k) for k in (5, 50, 500)]
    assert scores == pytest.approx([1 / 2, 46 / 47, 496 / 497])
    assert scores[0] < scores[1] < scores[2] < 1


def test_repetition_counts_only_earlier_ngrams_of_the_same_sample():
    # each sample alone repeats nothing; together they share (a b): not a loop, still 0
    assert repetition(["a b c", "a b d"], 2) == 0.0
    # pooled: sample 1 has 1 repeat of 3 bigrams, sample 2 none of 2 -> 1 / 5
    assert repetition(["a b a b", "c d e"], 2) == pytest.approx(1 / 5)


# --- the teacher's bits on samples ---------------------------------------------------------------


def bits_by_hand(model, prompt, sample):
    """One forward pass per generated character, reading everything before it; F.cross_entropy each time."""
    full = torch.cat([prompt, sample], dim=1)
    P = prompt.shape[1]
    nats = []
    with torch.no_grad():
        for b in range(sample.shape[0]):
            for j in range(sample.shape[1]):
                logits = model(full[b : b + 1, : P + j])[0, -1]  # (V,): the prediction of sample[b, j]
                nats.append(F.cross_entropy(logits[None], sample[b, j : j + 1]).item())
    return sum(nats) / len(nats) / math.log(2)


def test_teacher_bits_on_samples_matches_a_loop_of_cross_entropies():
    teacher = tiny_teacher()
    g = torch.Generator().manual_seed(1)
    prompt = torch.randint(79, (3, 5), generator=g)
    sample = torch.randint(79, (3, 12), generator=g)  # P + L - 1 = 16 = the context
    teacher.train()
    got = teacher_bits_on_samples(teacher, prompt, sample)
    assert teacher.training  # its mode is restored
    teacher.eval()
    assert got == pytest.approx(bits_by_hand(teacher, prompt, sample), rel=1e-5)


def test_teacher_bits_on_samples_leaves_the_prompt_out():
    teacher = tiny_teacher().eval()
    g = torch.Generator().manual_seed(2)
    prompt, sample = torch.randint(79, (2, 4), generator=g), torch.randint(79, (2, 3), generator=g)
    whole = teacher_bits_on_samples(teacher, prompt[:, :1], torch.cat([prompt[:, 1:], sample], dim=1))
    part = teacher_bits_on_samples(teacher, prompt, sample)
    assert whole != pytest.approx(part)  # different characters scored
    assert part == pytest.approx(bits_by_hand(teacher, prompt, sample), rel=1e-5)


def test_a_uniform_teacher_scores_log2_of_the_alphabet():
    teacher = tiny_teacher()
    torch.nn.init.zeros_(teacher.head.weight)
    torch.nn.init.zeros_(teacher.head.bias)
    prompt, sample = torch.zeros(2, 3, dtype=torch.long), torch.arange(20).view(2, 10)
    assert teacher_bits_on_samples(teacher, prompt, sample) == pytest.approx(math.log2(79), rel=1e-6)


def test_teacher_bits_on_a_gru_teacher_have_no_context_limit():
    gru = tiny_gru().eval()
    prompt, sample = torch.ones(1, 30, dtype=torch.long), torch.full((1, 40), 5)
    assert teacher_bits_on_samples(gru, prompt, sample) == pytest.approx(bits_by_hand(gru, prompt, sample), rel=1e-5)


@pytest.mark.parametrize(
    "prompt, sample, error, match",
    [
        (torch.zeros(1, 5, dtype=torch.long), torch.zeros(1, 13, dtype=torch.long), ValueError,
         r"P \+ L - 1 = 5 \+ 13 - 1 = 17 characters, more than its context=16"),
        (torch.zeros(2, 5, dtype=torch.long), torch.zeros(3, 4, dtype=torch.long), ValueError, "B=2 rows but sample_ids has 3"),
        (torch.zeros(5, dtype=torch.long), torch.zeros(1, 4, dtype=torch.long), ValueError, r"prompt_ids must be a non-empty \(B, T\)"),
        (torch.zeros(1, 0, dtype=torch.long), torch.zeros(1, 4, dtype=torch.long), ValueError, r"got shape \(1, 0\)"),
        (torch.zeros(1, 5, dtype=torch.long), torch.full((1, 4), 79), ValueError, r"sample_ids holds the id 79.*\[0, 78\]"),
        (torch.zeros(1, 5, dtype=torch.long), torch.full((1, 4), -1), ValueError, "sample_ids holds the id -1"),
        (torch.zeros(1, 5), torch.zeros(1, 4, dtype=torch.long), TypeError, "prompt_ids must be an integer tensor"),
    ],
    ids=["too-long", "batch-mismatch", "1-d", "empty-prompt", "id-too-large", "id-negative", "float-ids"],
)
def test_teacher_bits_on_samples_rejects_bad_input(prompt, sample, error, match):
    with pytest.raises(error, match=match):
        teacher_bits_on_samples(tiny_teacher(), prompt, sample)


def test_teacher_bits_on_samples_rejects_a_non_module():
    with pytest.raises(TypeError, match="teacher must be a torch.nn.Module, got function"):
        teacher_bits_on_samples(lambda x: x, torch.zeros(1, 2, dtype=torch.long), torch.zeros(1, 2, dtype=torch.long))


# --- speed ---------------------------------------------------------------------------------------


def test_chars_per_second_times_generate_fast_and_divides_batch_times_length(monkeypatch):
    model, prompts = tiny_gru(), torch.zeros(3, 4, dtype=torch.long)
    seen = {}

    def fake_measure(fn, *, num_threads, min_run_time):
        seen.update(out=fn(), again=fn(), num_threads=num_threads, min_run_time=min_run_time)
        return timing.Timing(median=0.5, iqr=0.05, num_threads=num_threads)

    monkeypatch.setattr(quality.timing, "measure", fake_measure)
    speed = chars_per_second(model, prompts, 7, num_threads=2, min_run_time=0.3)
    assert speed == GenerationSpeed(chars_per_second=3 * 7 / 0.5, iqr_fraction=0.1, batch=3, length=7, num_threads=2)
    assert (seen["num_threads"], seen["min_run_time"]) == (2, 0.3)
    expected = generate_fast(model, prompts, 7, temperature=1.0, generator=torch.Generator().manual_seed(0))
    assert torch.equal(seen["out"], expected) and torch.equal(seen["again"], expected)  # a fresh seed each call
    one = chars_per_second(model, torch.zeros(4, dtype=torch.long), 7)  # a 1-D prompt is one prompt
    assert (one.batch, one.chars_per_second) == (1, 7 / 0.5)
    assert "characters/s" in str(one)


def test_chars_per_second_measures_a_real_model():
    speed = chars_per_second(tiny_teacher(), torch.zeros(2, 3, dtype=torch.long), 5, min_run_time=0.01)
    assert speed.batch == 2 and speed.length == 5 and speed.num_threads == 1
    assert math.isfinite(speed.chars_per_second) and speed.chars_per_second > 0 and speed.iqr_fraction >= 0


def test_generation_speedup_uses_the_teacher_as_baseline(monkeypatch):
    teacher, student, prompts = tiny_teacher(), tiny_gru(), torch.zeros(2, 3, dtype=torch.long)
    seen = {}

    def fake_speedup(baseline, candidate, *, num_threads, repeats, min_run_time):
        seen.update(baseline=baseline(), candidate=candidate(), args=(num_threads, repeats, min_run_time))
        return timing.Speedup((2.0, 3.0, 4.0), 0.3, 0.1)

    monkeypatch.setattr(quality.timing, "speedup", fake_speedup)
    result = generation_speedup(teacher, student, prompts, 6, num_threads=1, repeats=3, min_run_time=0.05)
    assert result.median == 3.0 and seen["args"] == (1, 3, 0.05)
    for name, model in (("baseline", teacher), ("candidate", student)):
        expected = generate_fast(model, prompts, 6, temperature=1.0, generator=torch.Generator().manual_seed(0))
        assert torch.equal(seen[name], expected), name


def test_generation_speedup_measures_real_models():
    s = generation_speedup(tiny_teacher(), tiny_gru(), torch.zeros(1, 3, dtype=torch.long), 4, repeats=3,
                           min_run_time=0.01)
    assert len(s.ratios) == 3 and all(r > 0 for r in s.ratios)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"model": torch.nn.Linear(2, 2)}, TypeError, "model must be a CharGRU or a CharTransformer .*, got Linear"),
        ({"length": 0}, ValueError, r"length=0 is out of range"),
        ({"prompt_ids": torch.zeros(1, 0, dtype=torch.long)}, ValueError, "the prompt is empty"),
        ({"prompt_ids": torch.full((1, 2), 99)}, ValueError, "holds the id 99"),
        ({"num_threads": 0}, ValueError, r"num_threads=0 is out of range"),
        ({"min_run_time": 0.0}, ValueError, "min_run_time=0.0 must be"),
    ],
    ids=["not-a-generator-model", "length-zero", "empty-prompt", "id-out-of-range", "threads-zero", "run-time-zero"],
)
def test_chars_per_second_rejects_bad_input(kwargs, error, match):
    args = {"model": tiny_gru(), "prompt_ids": torch.zeros(1, 2, dtype=torch.long), "length": 3} | kwargs
    with pytest.raises(error, match=match):
        chars_per_second(args.pop("model"), args.pop("prompt_ids"), args.pop("length"), **args)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"student": "gru"}, TypeError, "student must be a CharGRU or a CharTransformer .*, got str"),
        ({"teacher": torch.nn.GRU(2, 2)}, TypeError, "teacher must be a CharGRU or a CharTransformer .*, got GRU"),
        ({"length": -1}, ValueError, r"length=-1 is out of range"),
        ({"repeats": 2}, ValueError, r"repeats=2 is out of range"),
    ],
    ids=["student-str", "teacher-plain-gru", "length-negative", "repeats-two"],
)
def test_generation_speedup_rejects_bad_input(kwargs, error, match):
    args = {"teacher": tiny_teacher(), "student": tiny_gru(), "prompt_ids": torch.zeros(1, 2, dtype=torch.long),
            "length": 3} | kwargs
    with pytest.raises(error, match=match):
        generation_speedup(args.pop("teacher"), args.pop("student"), args.pop("prompt_ids"), args.pop("length"), **args)

