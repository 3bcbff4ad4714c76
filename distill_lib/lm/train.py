"""Notebook 10's training loop: one student language model trained by one of four arms.

The arms (losses in :mod:`~distill_lib.lm.distill`; data from :mod:`~distill_lib.lm.outputs`):

- ``"text"``: the next-character cross-entropy on real windows of Austen (no teacher; the article's recipe).
- ``"word"``: word-level KD, ``KL(teacher || student)`` at every position of the same windows, from
  the teacher's cached top-k (Hinton et al. 2015; Kim & Rush 2016, "word-level").
- ``"sequence"``: sequence-level KD, the cross-entropy on the teacher's continuations of the
  windows' first characters (Kim & Rush 2016).
- ``"on_policy"``: ``on_policy_from`` steps of ``"word"``, then the student continues real prompts
  itself and learns ``KL(student || teacher)`` on its own text, scored live by the teacher (GKD,
  Agarwal et al. 2024, with lambda = 1 and the reverse KL; the token-level part of MiniLLM's
  gradient, Gu et al. 2024). Both papers start on-policy training from a supervised student.

Every arm sees the same windows in the same order for a seed (the on-policy draws have their own
random stream), with the same learning-rate schedule; the targets differ, and so do the positions
that count: all 128 of a window for text and word, the 96 after the 32-character prompt for
sequence and on-policy. :func:`_arm_loss`, :func:`_on_policy_loss` and :func:`_train_lm_student`
are shown in notebook 10; :func:`train_lm_student` validates, evaluates and keeps the best checkpoint.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from .._validation import check_int, check_module
from .distill import _forward_kl_topk, _masked_cross_entropy, _reverse_kl, _student_step
from .model import CharTransformer
from .outputs import TeacherOutputs
from .students import _sample_fast
from .teacher import _bits_per_char, _learning_rate

__all__ = ["ARMS", "LM_TRAIN_RECIPE", "TrainResult", "train_lm_student"]

#: Added to the seed for the on-policy arm's sampling, so that its draws never move the windows' generator.
_SAMPLING_SEED = 1_000_003

#: The four ways of training a student, in the order the notebook shows them.
ARMS = ("text", "word", "sequence", "on_policy")

#: The students' optimisation: AdamW, warm-up then cosine decay from ``lr`` to ``min_lr``;
#: ``on_policy_from`` steps of word-level KD before the on-policy phase; validation bits per
#: character on ``eval_chars`` characters every ``eval_every`` steps picks the checkpoint.
LM_TRAIN_RECIPE: dict[str, Any] = {
    "steps": 800, "batch_size": 32, "lr": 3e-3, "min_lr": 3e-4, "warmup": 50, "weight_decay": 0.01,
    "grad_clip": 1.0, "on_policy_from": 600, "eval_every": 100, "eval_chars": 32768,
}


def _arm_loss(arm, student, teacher, outputs, rows, generator):
    """The loss of one batch (the windows `rows`) for each way of training a student."""
    prompt = outputs.meta["recipe"]["prompt"]
    if arm == "text":  # the article's recipe: real text, no teacher
        w = outputs.windows[rows]  # (B, T + 1)
        return _masked_cross_entropy(student(w[:, :-1]), w[:, 1:], torch.ones_like(w[:, 1:], dtype=torch.bool))
    if arm == "word":  # Hinton per position: KL(teacher || student) on the same text, teacher's top k
        x = outputs.windows[rows, :-1]  # (B, T)
        return _forward_kl_topk(student(x), outputs.top_ids[rows], outputs.top_p[rows], torch.ones_like(x, dtype=torch.bool))
    if arm == "sequence":  # Kim & Rush: cross-entropy on the teacher's continuations of the prompts
        s = outputs.samples[rows]  # (B, P + L)
        mask = (torch.arange(s.shape[1] - 1) >= prompt - 1).expand(len(s), -1)  # (B, P + L - 1): generated targets
        return _masked_cross_entropy(student(s[:, :-1]), s[:, 1:], mask)
    length = outputs.samples.shape[1] - prompt
    return _on_policy_loss(student, teacher, outputs.windows[rows, :prompt], length, generator)


def _on_policy_loss(student, teacher, prompts, length, generator):
    """GKD / MiniLLM: the student continues real prompts; reverse KL to the teacher on what it wrote."""
    with torch.no_grad():
        student.eval()  # sample from the student itself (no dropout)
        text = _sample_fast(student, prompts, length, 1.0, generator)  # (B, P + L): the student's own text
        student.train()
        teacher_logits = teacher(text[:, :-1])  # (B, P + L - 1, V): the teacher scores every position
    mask = (torch.arange(text.shape[1] - 1) >= prompts.shape[1] - 1).expand(len(text), -1)  # generated ones
    return _reverse_kl(student(text[:, :-1]), teacher_logits, mask)


def _train_lm_student(student, arm, teacher, outputs, recipe, batches, sampling, evaluate):
    """AdamW on one arm's loss with a cosine learning rate; `evaluate(step)` every eval_every steps."""
    optimizer = torch.optim.AdamW(student.parameters(), lr=recipe["lr"], weight_decay=recipe["weight_decay"])
    losses = []
    for step in range(recipe["steps"]):
        for group in optimizer.param_groups:
            group["lr"] = _learning_rate(recipe, step, step / recipe["steps"])
        rows = torch.randint(len(outputs.windows), (recipe["batch_size"],), generator=batches)  # (B,): same for every arm
        now = "word" if arm == "on_policy" and step < recipe["on_policy_from"] else arm  # start from a KD student
        loss = _arm_loss(now, student, teacher, outputs, rows, sampling)
        losses.append(_student_step(student, optimizer, loss, recipe["grad_clip"]))
        if (step + 1) % recipe["eval_every"] == 0:
            evaluate(step + 1)
    return losses


class TrainResult(NamedTuple):
    """What :func:`train_lm_student` returns: the per-step losses (nats), the validation history
    ``[(step, bits per character)]``, and the step whose checkpoint the student now holds."""

    losses: list[float]
    val_history: list[tuple[int, float]]
    best_step: int


def _check_train_recipe(recipe: object) -> dict[str, Any]:
    if not isinstance(recipe, dict) or set(recipe) != set(LM_TRAIN_RECIPE):
        keys = sorted(recipe) if isinstance(recipe, dict) else type(recipe).__name__
        raise ValueError(f"recipe must be a dict with the keys {sorted(LM_TRAIN_RECIPE)}, got {keys}")
    out = dict(recipe)
    for key in ("steps", "batch_size", "eval_every", "eval_chars"):
        out[key] = check_int(f"recipe[{key!r}]", recipe[key], low=2 if key == "eval_chars" else 1)
    out["warmup"] = check_int("recipe['warmup']", recipe["warmup"], low=0)
    out["on_policy_from"] = check_int("recipe['on_policy_from']", recipe["on_policy_from"], low=0, high=out["steps"])
    if out["eval_every"] > out["steps"]:
        raise ValueError(f"recipe['eval_every']={out['eval_every']} exceeds recipe['steps']={out['steps']}: "
                         "the checkpoint would never be evaluated")
    for key in ("lr", "min_lr", "weight_decay", "grad_clip"):
        value = recipe[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"recipe[{key!r}] must be a real number, got {type(value).__name__}")
        if not (0 <= value < float("inf")) or (key in ("lr", "grad_clip") and value == 0):
            raise ValueError(f"recipe[{key!r}]={value!r} is out of range; allowed: "
                             f"{'(0, inf)' if key in ('lr', 'grad_clip') else '[0, inf)'}")
    return out


def train_lm_student(
    student: nn.Module,
    arm: str,
    outputs: TeacherOutputs,
    val_ids: Tensor,
    *,
    teacher: CharTransformer | None = None,
    recipe: dict[str, Any] | None = None,
    seed: int = 0,
    on_eval: Callable[[int, float], None] | None = None,
) -> TrainResult:
    """Train a student by one arm, keep its best checkpoint on validation, and return the history.

    Args:
        student: a student from :func:`~distill_lib.lm.students.make_lm_student` (trained in place).
        arm: one of :data:`ARMS`.
        outputs: the teacher's cached outputs (:func:`~distill_lib.lm.outputs.load_teacher_outputs`).
        val_ids: validation text's ids ``(N,)``; the first ``recipe["eval_chars"]`` are scored.
        teacher: the teacher, needed by ``"on_policy"`` only (it scores the student's text live).
        recipe: the optimisation (default :data:`LM_TRAIN_RECIPE`).
        seed: the batches' and the on-policy samples' seed (>= 0; the weights' seed is the student's).
        on_eval: called as ``on_eval(step, bits_per_char)`` after each evaluation (progress display).

    Returns:
        TrainResult: losses, validation history, the step of the checkpoint kept (0: the initial weights).

    Raises:
        TypeError: ``student`` not a module, ``outputs`` not :class:`TeacherOutputs`, ``val_ids`` not
            integer ids, a bad ``seed`` or ``on_eval``.
        ValueError: an unknown ``arm`` (the allowed ones listed), ``"on_policy"`` without a teacher,
            a bad recipe, ``val_ids`` shorter than ``eval_chars``; after training, no finite
            validation score (the training diverged).

    Example::

        >>> result = train_lm_student(make_lm_student("gru"), "word", outputs, Alphabet().encode(split.val))
    """
    check_module("student", student)
    if not isinstance(arm, str) or arm not in ARMS:
        raise ValueError(f"arm={arm!r} is not an arm; allowed: {list(ARMS)}")
    if not isinstance(outputs, TeacherOutputs):
        raise TypeError(f"outputs must be TeacherOutputs (load_teacher_outputs), got {type(outputs).__name__}")
    if arm == "on_policy" and not isinstance(teacher, CharTransformer):
        raise ValueError(f"arm='on_policy' needs the teacher (a CharTransformer) to score the student's text, "
                         f"got teacher={type(teacher).__name__}")
    recipe = _check_train_recipe(dict(LM_TRAIN_RECIPE) if recipe is None else recipe)
    if not isinstance(val_ids, Tensor) or val_ids.dtype != torch.int64 or val_ids.dim() != 1:
        raise TypeError(f"val_ids must be a 1-D int64 tensor of character ids, got {type(val_ids).__name__} "
                        f"{getattr(val_ids, 'dtype', '')} {tuple(getattr(val_ids, 'shape', ()))}")
    if len(val_ids) < recipe["eval_chars"]:
        raise ValueError(f"val_ids has {len(val_ids)} characters; recipe['eval_chars'] = {recipe['eval_chars']} are scored")
    seed = check_int("seed", seed, low=0)
    if on_eval is not None and not callable(on_eval):
        raise TypeError(f"on_eval must be callable or None, got {type(on_eval).__name__}")
    eval_ids = val_ids[: recipe["eval_chars"]]
    context = getattr(student, "context", outputs.windows.shape[1] - 1)
    history: list[tuple[int, float]] = []
    best: dict[str, Any] = {"bits": float("inf"), "step": 0, "state": copy.deepcopy(student.state_dict())}

    def evaluate(step: int) -> None:
        student.eval()
        with torch.no_grad():
            bits = _bits_per_char(student, eval_ids, context, 64)
        student.train()
        history.append((step, bits))
        if bits < best["bits"]:
            best.update(bits=bits, step=step, state=copy.deepcopy(student.state_dict()))
        if on_eval is not None:
            on_eval(step, bits)

    teacher_was_training = teacher.training if teacher is not None else False
    if teacher is not None:
        teacher.eval()
    student.train()
    batches = torch.Generator().manual_seed(seed)  # the windows: the same for every arm
    sampling = torch.Generator().manual_seed(seed + _SAMPLING_SEED)  # the on-policy draws: their own stream
    try:
        losses = _train_lm_student(student, arm, teacher, outputs, recipe, batches, sampling, evaluate)
    finally:
        if teacher is not None:
            teacher.train(teacher_was_training)
    if not math.isfinite(best["bits"]):
        raise ValueError(f"arm={arm!r}: no evaluation gave a finite validation score (the training diverged); "
                         f"last losses {losses[-3:]}")
    student.load_state_dict(best["state"])
    student.eval()
    return TrainResult(losses, history, best["step"])
