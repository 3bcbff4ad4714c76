"""The four arms and the training loop (distill_lib/lm/train.py), on a tiny stand-in teacher."""

import pytest
import torch
import torch.nn.functional as F

from distill_lib.lm.data import ALPHABET, Alphabet, load_austen_split
from distill_lib.lm.distill import reverse_kl
from distill_lib.lm.model import CharTransformer
from distill_lib.lm.outputs import LM_OUTPUTS_RECIPE, build_teacher_outputs
from distill_lib.lm.students import CharGRU, _sample_fast
from distill_lib.lm.teacher import _bits_per_char
from distill_lib.lm import train as train_mod
from distill_lib.lm.train import ARMS, LM_TRAIN_RECIPE, TrainResult, _arm_loss, _on_policy_loss, train_lm_student

RECIPE = dict(LM_TRAIN_RECIPE, steps=6, batch_size=4, warmup=1, on_policy_from=3, eval_every=2, eval_chars=512)


@pytest.fixture(scope="module")
def teacher():
    torch.manual_seed(0)
    return CharTransformer(len(ALPHABET), context=24, width=16, heads=2, layers=1).eval()


@pytest.fixture(scope="module")
def outputs(teacher):
    return build_teacher_outputs(teacher, dict(LM_OUTPUTS_RECIPE, windows=8, context=24, k=4, prompt=8, length=12))


@pytest.fixture(scope="module")
def val():
    return Alphabet().encode(load_austen_split().val[:2000])


def tiny_student(seed=0):
    torch.manual_seed(seed)
    return CharGRU(len(ALPHABET), embed=8, width=16)


@pytest.mark.parametrize("arm", ARMS)
def test_every_arm_trains_and_keeps_its_best_checkpoint(arm, teacher, outputs, val):
    student = tiny_student()
    seen = []
    result = train_lm_student(student, arm, outputs, val, teacher=teacher, recipe=dict(RECIPE), seed=1,
                              on_eval=lambda step, bits: seen.append((step, bits)))
    assert isinstance(result, TrainResult) and len(result.losses) == 6
    assert all(torch.isfinite(torch.tensor(result.losses)))
    assert [s for s, _ in result.val_history] == [2, 4, 6] and seen == result.val_history
    best_step, best_bits = min(result.val_history, key=lambda h: h[1])
    assert result.best_step == best_step
    assert _bits_per_char(student, val[:512], 24, 64) == pytest.approx(best_bits, abs=1e-6)  # the best one is kept
    assert not student.training and not teacher.training


def test_same_seed_same_run_and_arms_share_the_windows(teacher, outputs, val):
    a = train_lm_student(tiny_student(), "text", outputs, val, recipe=dict(RECIPE), seed=3)
    b = train_lm_student(tiny_student(), "text", outputs, val, recipe=dict(RECIPE), seed=3)
    assert a.losses == b.losses
    # on-policy runs word-level KD before on_policy_from: the same losses as the word arm, step for step
    word = train_lm_student(tiny_student(), "word", outputs, val, recipe=dict(RECIPE), seed=3)
    mixed = train_lm_student(tiny_student(), "on_policy", outputs, val, teacher=teacher, recipe=dict(RECIPE), seed=3)
    assert mixed.losses[:3] == word.losses[:3] and mixed.losses[3] != word.losses[3]


def test_every_arm_draws_the_same_windows(teacher, outputs, val, monkeypatch):
    seen = {}
    real = train_mod._arm_loss

    def spy(arm, student, teacher_, outputs_, rows, generator):
        seen.setdefault(current, []).append(rows.clone())
        return real(arm, student, teacher_, outputs_, rows, generator)

    monkeypatch.setattr(train_mod, "_arm_loss", spy)
    for current in ARMS:
        train_lm_student(tiny_student(), current, outputs, val, teacher=teacher, recipe=dict(RECIPE), seed=5)
    for arm in ARMS[1:]:
        assert all(torch.equal(a, b) for a, b in zip(seen[arm], seen["text"], strict=True)), arm


def test_a_recipe_that_never_evaluates_is_refused(outputs, val):
    with pytest.raises(ValueError, match="eval_every'\\]=7 exceeds"):
        train_lm_student(tiny_student(), "text", outputs, val, recipe=dict(RECIPE, eval_every=7))


def test_the_arm_losses_by_hand(teacher, outputs):
    student, rows = tiny_student(), torch.tensor([0, 5, 2])
    g = torch.Generator().manual_seed(0)
    w = outputs.windows[rows]
    assert _arm_loss("text", student, teacher, outputs, rows, g).item() == pytest.approx(
        F.cross_entropy(student(w[:, :-1]).flatten(0, 1), w[:, 1:].flatten()).item(), rel=1e-6)
    s = outputs.samples[rows]  # prompt 8, length 12: the targets s[:, 8:] are predicted at positions 7 .. 18
    logits = student(s[:, :-1])
    expected = F.cross_entropy(logits[:, 7:].flatten(0, 1), s[:, 8:].flatten())
    assert _arm_loss("sequence", student, teacher, outputs, rows, g).item() == pytest.approx(expected.item(), rel=1e-6)


def test_the_on_policy_loss_is_the_reverse_kl_on_the_students_own_text(teacher, outputs):
    student = tiny_student()
    prompts = outputs.windows[:3, :8]
    got = _on_policy_loss(student, teacher, prompts, 12, torch.Generator().manual_seed(7))
    text = _sample_fast(student, prompts, 12, 1.0, torch.Generator().manual_seed(7))  # the same draws
    assert torch.equal(text[:, :8], prompts)
    mask = torch.zeros(3, 19, dtype=torch.bool)
    mask[:, 7:] = True  # positions predicting a generated character
    expected = reverse_kl(student(text[:, :-1]), teacher(text[:, :-1]).detach(), mask)
    assert got.item() == pytest.approx(expected.item(), rel=1e-6)
    got.backward()
    assert all(p.grad is None for p in teacher.parameters())


def test_bad_arguments(teacher, outputs, val):
    with pytest.raises(ValueError, match="arm='kd'"):
        train_lm_student(tiny_student(), "kd", outputs, val)
    with pytest.raises(ValueError, match="needs the teacher"):
        train_lm_student(tiny_student(), "on_policy", outputs, val)
    with pytest.raises(TypeError, match="TeacherOutputs"):
        train_lm_student(tiny_student(), "text", {"windows": 1}, val)
    with pytest.raises(TypeError, match="student"):
        train_lm_student("gru", "text", outputs, val)
    with pytest.raises(ValueError, match="keys"):
        train_lm_student(tiny_student(), "text", outputs, val, recipe={"steps": 3})
    with pytest.raises(ValueError, match="on_policy_from"):
        train_lm_student(tiny_student(), "text", outputs, val, recipe=dict(RECIPE, on_policy_from=7))
    with pytest.raises(ValueError, match="lr'\\]=0"):
        train_lm_student(tiny_student(), "text", outputs, val, recipe=dict(RECIPE, lr=0))
    with pytest.raises(ValueError, match="eval_chars"):
        train_lm_student(tiny_student(), "text", outputs, val[:100], recipe=dict(RECIPE))
    with pytest.raises(TypeError, match="val_ids"):
        train_lm_student(tiny_student(), "text", outputs, val.float(), recipe=dict(RECIPE))
    with pytest.raises(ValueError, match="seed"):
        train_lm_student(tiny_student(), "text", outputs, val, recipe=dict(RECIPE), seed=-1)
    with pytest.raises(TypeError, match="on_eval"):
        train_lm_student(tiny_student(), "text", outputs, val, recipe=dict(RECIPE), on_eval=3)
