"""Notebook 10's distillation losses against PyTorch's built-ins and hand computations; top-k targets; errors.

The word-level loss with ``k = V`` is ``F.kl_div``; with ``k < V`` a per-position loop over explicit
buckets, never larger than the full KL (the data-processing inequality). The reverse KL is
``F.kl_div`` with the roles swapped and ``log_target=True``; a toy shows it is mode-seeking where
the forward KL covers both modes.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from distill_lib.lm import distill as lm_distill
from distill_lib.lm.distill import (
    _forward_kl_topk,
    _masked_cross_entropy,
    _reverse_kl,
    _student_step,
    _topk_targets,
    forward_kl_topk,
    masked_cross_entropy,
    reverse_kl,
    topk_targets,
)
from distill_lib.lm.model import CharTransformer
from distill_lib.lm.students import CharGRU

MASK = torch.tensor([[True, False, True], [False, True, True]])  # (B, T) = (2, 3): four positions kept


def logits(*shape: int, seed: int = 0, scale: float = 2.0) -> torch.Tensor:
    return scale * torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def teacher_top(teacher_logits: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    top_p, top_ids = F.softmax(teacher_logits, dim=-1).topk(k, dim=-1)
    return top_ids, top_p


def tiny_teacher(dropout: float = 0.0) -> CharTransformer:
    torch.manual_seed(0)
    return CharTransformer(79, context=16, width=16, heads=2, layers=1, dropout=dropout)


def full_kl_per_position(student_logits, teacher_logits):
    """KL(teacher || student) at every position, (B, T), from F.kl_div."""
    return F.kl_div(F.log_softmax(student_logits, -1), F.softmax(teacher_logits, -1), reduction="none").sum(-1)


def test_all_names_exist():
    assert sorted(lm_distill.__all__) == ["forward_kl_topk", "masked_cross_entropy", "reverse_kl", "topk_targets"]
    assert all(hasattr(lm_distill, name) for name in lm_distill.__all__)


# ---------------------------------------------------------------------------------------------------
# Word-level KD: forward KL with top-k targets and a tail bucket
# ---------------------------------------------------------------------------------------------------

def test_forward_kl_with_k_equal_to_v_is_f_kl_div():
    s, t = logits(2, 3, 5, seed=0), logits(2, 3, 5, seed=1)
    p = F.softmax(t, dim=-1)
    top_ids, top_p = teacher_top(t, k=5)
    expected = F.kl_div(F.log_softmax(s, -1), p, reduction="sum") / (2 * 3)
    torch.testing.assert_close(forward_kl_topk(s, top_ids, top_p), expected, atol=1e-6, rtol=1e-5)
    # in any order of the ids, and with the mask: the mean over the kept positions
    shuffled = torch.randperm(5, generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(forward_kl_topk(s, top_ids[..., shuffled], top_p[..., shuffled]), expected,
                               atol=1e-6, rtol=1e-5)
    masked = full_kl_per_position(s, t)[MASK].mean()
    torch.testing.assert_close(forward_kl_topk(s, top_ids, top_p, MASK), masked, atol=1e-6, rtol=1e-5)
    assert not torch.allclose(masked, expected)  # the mask matters here
    torch.testing.assert_close(_forward_kl_topk(s, top_ids, top_p, MASK), masked, atol=1e-6, rtol=1e-5)


def test_forward_kl_with_k_equal_to_v_has_f_kl_divs_gradient():
    s, t = logits(2, 3, 5, seed=3).requires_grad_(), logits(2, 3, 5, seed=4)
    top_ids, top_p = teacher_top(t, k=5)
    forward_kl_topk(s, top_ids, top_p).backward()
    torch.testing.assert_close(s.grad, (F.softmax(s, -1) - F.softmax(t, -1)).detach() / 6, atol=1e-7, rtol=1e-5)


@pytest.mark.parametrize("k", [1, 2, 4])
def test_forward_kl_top_k_equals_the_bucketed_kl_by_hand(k):
    V = 6
    s, t = logits(2, 3, V, seed=5), logits(2, 3, V, seed=6)
    top_ids, top_p = teacher_top(t, k)
    per_position = torch.zeros(2, 3, dtype=torch.float64)
    for b in range(2):
        for i in range(3):
            q = torch.softmax(s[b, i].double(), -1).tolist()
            ids, probs = top_ids[b, i].tolist(), top_p[b, i].double().tolist()
            rest = [v for v in range(V) if v not in ids]
            p_tail, q_tail = 1.0 - sum(probs), sum(q[v] for v in rest)
            per_position[b, i] = sum(pj * math.log(pj / q[j]) for j, pj in zip(ids, probs)) \
                + p_tail * math.log(p_tail / q_tail)
    loss = forward_kl_topk(s, top_ids, top_p)
    assert abs(loss.item() - per_position.mean().item()) < 1e-5
    masked = forward_kl_topk(s, top_ids, top_p, MASK)
    assert abs(masked.item() - per_position[MASK].mean().item()) < 1e-5


@pytest.mark.parametrize("k", [1, 3])
def test_forward_kl_top_k_gradient_by_hand(k):
    """d/ds_v: q_v - p_v for the teacher's top k; q_v - p_tail q_v / q_tail for the others."""
    V = 6
    s, t = logits(1, 2, V, seed=7).requires_grad_(), logits(1, 2, V, seed=8)
    top_ids, top_p = teacher_top(t, k)
    forward_kl_topk(s, top_ids, top_p).backward()
    q = F.softmax(s.detach(), -1)
    expected = torch.zeros(1, 2, V)
    for i in range(2):
        in_top = torch.zeros(V, dtype=torch.bool)
        in_top[top_ids[0, i]] = True
        p_tail, q_tail = 1 - top_p[0, i].sum(), q[0, i][~in_top].sum()
        expected[0, i] = q[0, i] - q[0, i] * p_tail / q_tail
        expected[0, i, top_ids[0, i]] = q[0, i, top_ids[0, i]] - top_p[0, i]
    torch.testing.assert_close(s.grad, expected / 2, atol=1e-7, rtol=1e-5)


def test_forward_kl_top_k_is_at_most_the_full_kl():
    """Merging characters into one bucket cannot increase a KL (the data-processing inequality)."""
    for case in range(40):
        V = 3 + case % 7
        k = 1 + case % (V - 1)  # 1 <= k < V
        s, t = logits(2, 4, V, seed=100 + case), logits(2, 4, V, seed=200 + case, scale=0.5 + case % 4)
        top_ids, top_p = teacher_top(t, k)
        bucketed = forward_kl_topk(s, top_ids, top_p)
        full = full_kl_per_position(s, t).mean()
        assert 0 <= bucketed <= full + 1e-6, f"case {case}: V={V}, k={k}: {bucketed:.6f} > {full:.6f}"


def test_forward_kl_top_k_is_zero_when_the_buckets_agree():
    """A student with the teacher's top-k probabilities and tail mass scores 0, however it spreads the tail."""
    p = torch.tensor([0.4, 0.25, 0.15, 0.1, 0.06, 0.04])  # teacher; top 3: 0.8, tail 0.2
    q = torch.tensor([0.4, 0.25, 0.15, 0.18, 0.01, 0.01])  # the tail's 0.2 spread otherwise
    s = q.log().view(1, 1, 6)
    top_ids, top_p = torch.tensor([[[0, 1, 2]]]), p[:3].view(1, 1, 3)
    assert abs(forward_kl_topk(s, top_ids, top_p).item()) < 1e-6
    full = (p * (p / q).log()).sum()  # what the top-3 cache cannot see: how the tail is spread
    assert full > 0.05
    torch.testing.assert_close(forward_kl_topk(s, torch.arange(6).view(1, 1, 6), p.view(1, 1, 6)), full)


def test_forward_kl_gradient_flows_to_the_student_logits_only():
    s = logits(2, 3, 5, seed=9).requires_grad_()
    t = logits(2, 3, 5, seed=10).requires_grad_()
    top_p, top_ids = F.softmax(t, -1).topk(2, dim=-1)  # a target still attached to t's graph
    forward_kl_topk(s, top_ids, top_p).backward()
    assert s.grad is not None and s.grad.abs().sum() > 0
    torch.testing.assert_close(s.grad.sum(-1), torch.zeros(2, 3), atol=1e-7, rtol=0)  # softmax: shift-invariant
    assert t.grad is None


# ---------------------------------------------------------------------------------------------------
# Reverse KL
# ---------------------------------------------------------------------------------------------------

def test_reverse_kl_is_f_kl_div_with_the_roles_swapped():
    s, t = logits(2, 3, 7, seed=11), logits(2, 3, 7, seed=12)
    logq, logp = F.log_softmax(s, -1), F.log_softmax(t, -1)
    expected = F.kl_div(logp, logq, log_target=True, reduction="sum") / 6
    torch.testing.assert_close(reverse_kl(s, t), expected, atol=1e-6, rtol=1e-5)
    per_position = F.kl_div(logp, logq, log_target=True, reduction="none").sum(-1)  # (B, T)
    torch.testing.assert_close(reverse_kl(s, t, MASK), per_position[MASK].mean(), atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(_reverse_kl(s, t, MASK), per_position[MASK].mean(), atol=1e-6, rtol=1e-5)
    assert not torch.allclose(reverse_kl(s, t, MASK), expected)


def test_reverse_kl_is_zero_for_equal_distributions():
    s = logits(2, 3, 7, seed=13)
    assert abs(reverse_kl(s, s.clone()).item()) < 1e-6
    assert abs(reverse_kl(s, s + 5.0).item()) < 1e-5  # the same softmax


def test_reverse_and_forward_kl_differ_on_a_hand_example():
    """Teacher p = (0.5, 0.5), student q = (0.9, 0.1)."""
    p, q = [0.5, 0.5], [0.9, 0.1]
    s, t = torch.tensor(q).log().view(1, 1, 2), torch.tensor(p).log().view(1, 1, 2)
    forward = 0.5 * math.log(0.5 / 0.9) + 0.5 * math.log(0.5 / 0.1)  # KL(p || q) = 0.5108
    reverse = 0.9 * math.log(0.9 / 0.5) + 0.1 * math.log(0.1 / 0.5)  # KL(q || p) = 0.3681
    assert abs(reverse_kl(s, t).item() - reverse) < 1e-6
    assert abs(forward_kl_topk(s, torch.tensor([[[0, 1]]]), torch.tensor([[p]])).item() - forward) < 1e-6
    assert abs(forward - reverse) > 0.1


def test_reverse_kl_gradient_flows_to_the_student_logits_only():
    s, t = logits(2, 3, 5, seed=14).requires_grad_(), logits(2, 3, 5, seed=15).requires_grad_()
    reverse_kl(s, t).backward()
    assert s.grad.abs().sum() > 0 and t.grad is None


def fit_student(loss_name: str, student: str, steps: int = 300) -> torch.Tensor:
    """The student's probabilities after Adam on one of the KLs to a bimodal teacher over 5 characters."""
    p = torch.tensor([0.49, 0.005, 0.01, 0.005, 0.49])
    if student == "gaussian":  # one bump: logits -(v - mean)^2 / (2 std^2), two parameters
        mean, log_std = torch.tensor(1.0, requires_grad=True), torch.tensor(-0.5, requires_grad=True)
        params = [mean, log_std]

        def student_logits():
            return (-(torch.arange(5.0) - mean) ** 2 / (2 * log_std.exp() ** 2)).view(1, 1, 5)
    else:  # a free logit vector: any distribution over the 5 characters
        free = torch.tensor([0.3, 0.1, 0.0, 0.0, 0.0], requires_grad=True)
        params = [free]

        def student_logits():
            return free.view(1, 1, 5)
    optimizer = torch.optim.Adam(params, lr=0.05)
    for _ in range(steps):
        if loss_name == "reverse":
            loss = reverse_kl(student_logits(), p.log().view(1, 1, 5))
        else:
            loss = forward_kl_topk(student_logits(), torch.arange(5).view(1, 1, 5), p.view(1, 1, 5))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return F.softmax(student_logits().detach().flatten(), -1)


def test_reverse_kl_seeks_one_mode_and_forward_kl_covers_both():
    """From the same start, a one-bump student picks one of the teacher's two modes under the reverse
    KL, and spreads over both (and the valley between them) under the forward KL."""
    reverse, forward = fit_student("reverse", "gaussian"), fit_student("forward", "gaussian")
    assert reverse[0] > 0.95 and reverse[4] < 0.01, reverse
    assert forward[0] > 0.15 and forward[4] > 0.15 and forward[2] > 0.15, forward


def test_a_student_that_can_fit_the_teacher_fits_it_under_both_kls():
    """Mode-seeking needs a student too small for the teacher: a free logit vector learns both modes either way."""
    for loss_name in ("reverse", "forward"):
        q = fit_student(loss_name, "free")
        assert q[0] > 0.45 and q[4] > 0.45, (loss_name, q)


# ---------------------------------------------------------------------------------------------------
# Cross-entropy, top-k targets, the training step
# ---------------------------------------------------------------------------------------------------

def test_masked_cross_entropy_is_f_cross_entropy():
    s = logits(2, 3, 7, seed=16)
    y = torch.randint(7, (2, 3), generator=torch.Generator().manual_seed(0))
    expected = F.cross_entropy(s.reshape(6, 7), y.reshape(6))
    torch.testing.assert_close(masked_cross_entropy(s, y), expected, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(masked_cross_entropy(s, y.int()), expected, atol=1e-6, rtol=1e-5)
    per_position = F.cross_entropy(s.reshape(6, 7), y.reshape(6), reduction="none").view(2, 3)
    torch.testing.assert_close(masked_cross_entropy(s, y, MASK), per_position[MASK].mean(), atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(_masked_cross_entropy(s, y, MASK), per_position[MASK].mean(), atol=1e-6, rtol=1e-5)
    assert not torch.allclose(per_position[MASK].mean(), expected)


def test_topk_targets_are_the_teachers_sorted_top_k_in_eval_mode():
    teacher = tiny_teacher(dropout=0.2).train()
    x = torch.randint(79, (2, 10), generator=torch.Generator().manual_seed(0))
    top_ids, top_p = topk_targets(teacher, x, k=5)
    assert teacher.training  # restored
    assert top_ids.shape == top_p.shape == (2, 10, 5) and top_ids.dtype == torch.int64
    assert not top_p.requires_grad
    assert (top_p.diff(dim=-1) <= 0).all()  # most likely first
    teacher.eval()
    with torch.no_grad():
        expected_p, expected_ids = F.softmax(teacher(x), -1).topk(5, dim=-1)
    torch.testing.assert_close(top_p, expected_p)
    assert torch.equal(top_ids, expected_ids)
    top_ids, top_p = topk_targets(teacher, x, k=79)
    assert not teacher.training  # an eval teacher stays in eval
    torch.testing.assert_close(top_p.sum(-1), torch.ones(2, 10))
    assert torch.equal(top_ids.sort(-1).values, torch.arange(79).expand(2, 10, 79))
    assert torch.equal(_topk_targets(teacher, x, 3)[0], expected_ids[..., :3])


def test_student_step_changes_the_parameters_and_returns_the_loss():
    torch.manual_seed(0)
    student = CharGRU(7, embed=4, width=8)
    optimizer = torch.optim.AdamW(student.parameters(), lr=1e-2)
    x = torch.randint(7, (2, 5), generator=torch.Generator().manual_seed(1))
    y = torch.randint(7, (2, 5), generator=torch.Generator().manual_seed(2))
    before = [p.detach().clone() for p in student.parameters()]
    loss = masked_cross_entropy(student(x), y)
    value = _student_step(student, optimizer, loss, grad_clip=1e-3)
    assert isinstance(value, float) and value == loss.item()
    assert all(not torch.equal(b, p) for b, p in zip(before, student.parameters()))
    norm = torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in student.parameters()]))
    assert norm <= 1e-3 * (1 + 1e-4)  # the gradient was clipped to grad_clip
    second = _student_step(student, optimizer, masked_cross_entropy(student(x), y))  # zero_grad between steps
    assert second < value


# ---------------------------------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------------------------------

S = logits(2, 3, 5, seed=20)
IDS, P = teacher_top(logits(2, 3, 5, seed=21), k=2)


def call_loss(loss: str, student_logits, mask=None):
    """One of the three losses on (2, 3, 5) student logits, with valid targets."""
    if loss == "forward":
        return forward_kl_topk(student_logits, IDS, P, mask)
    if loss == "reverse":
        return reverse_kl(student_logits, S, mask)
    return masked_cross_entropy(student_logits, torch.zeros(2, 3, dtype=torch.long), mask)


@pytest.mark.parametrize("loss", ["forward", "reverse", "ce"])
def test_bad_student_logits_and_masks(loss):
    with pytest.raises(TypeError, match="student_logits must be a floating-point tensor.*int64"):
        call_loss(loss, torch.zeros(2, 3, 5, dtype=torch.long))
    with pytest.raises(TypeError, match="student_logits must be a floating-point tensor.*got list"):
        call_loss(loss, S.tolist())
    with pytest.raises(ValueError, match=r"student_logits must be a non-empty \(B, T, V\) tensor, got shape \(6, 5\)"):
        call_loss(loss, S.reshape(6, 5))
    with pytest.raises(ValueError, match=r"non-empty \(B, T, V\) tensor, got shape \(2, 0, 5\)"):
        call_loss(loss, S[:, :0])
    for bad in (float("nan"), float("inf")):
        s = S.clone()
        s[1, 2, 0] = bad
        with pytest.raises(ValueError, match="student_logits holds a NaN or an infinite value"):
            call_loss(loss, s)
    with pytest.raises(ValueError, match=r"mask keeps no position \(all False\)"):
        call_loss(loss, S, torch.zeros(2, 3, dtype=torch.bool))
    with pytest.raises(TypeError, match="mask must be a bool tensor.*int64"):
        call_loss(loss, S, torch.ones(2, 3, dtype=torch.long))
    with pytest.raises(ValueError, match=r"mask has shape \(3, 2\); it must be \(B, T\) = \(2, 3\)"):
        call_loss(loss, S, torch.ones(3, 2, dtype=torch.bool))


def test_forward_kl_rejects_bad_targets():
    with pytest.raises(TypeError, match="top_ids must be an integer tensor.*float32"):
        forward_kl_topk(S, IDS.float(), P)
    with pytest.raises(TypeError, match="top_p must be a floating-point tensor.*int64"):
        forward_kl_topk(S, IDS, P.long())
    with pytest.raises(ValueError, match=r"top_ids \(2, 3, 2\) and top_p \(2, 3, 1\)"):
        forward_kl_topk(S, IDS, P[..., :1])
    with pytest.raises(ValueError, match=r"top_ids \(2, 2, 2\) .* \(B, T\) = \(2, 3\)"):
        forward_kl_topk(S, IDS[:, :2], P[:, :2])
    with pytest.raises(ValueError, match=r"top_ids \(2, 3, 6\) .* 1 <= k <= V = 5"):  # k > V
        forward_kl_topk(S, torch.zeros(2, 3, 6, dtype=torch.long), torch.zeros(2, 3, 6))
    for bad in (5, -1):
        ids = IDS.clone()
        ids[0, 1, 1] = bad
        with pytest.raises(ValueError, match=rf"top_ids holds the id {bad}, out of range; allowed: \[0, 4\]"):
            forward_kl_topk(S, ids, P)
    ids = IDS.clone()
    ids[1, 2] = torch.tensor([3, 3])
    with pytest.raises(ValueError, match=r"top_ids repeats the id 3 at position \(b=1, t=2\)"):
        forward_kl_topk(S, ids, P)
    p = P.clone()
    p[0, 0] = torch.tensor([0.7, 0.6])
    with pytest.raises(ValueError, match="largest sum 1.3"):
        forward_kl_topk(S, IDS, p)
    p[0, 0] = torch.tensor([0.5, -0.1])
    with pytest.raises(ValueError, match="min -0.1"):
        forward_kl_topk(S, IDS, p)
    p[0, 0] = torch.tensor([0.5, float("nan")])
    with pytest.raises(ValueError, match="top_p must hold probabilities in"):
        forward_kl_topk(S, IDS, p)
    all_ids, all_p = teacher_top(logits(2, 3, 5, seed=22), k=5)
    with pytest.raises(ValueError, match=r"top_p sums to 0.9 at a position although k = V = 5"):
        forward_kl_topk(S, all_ids, all_p * 0.9)


def test_reverse_kl_rejects_bad_teacher_logits():
    with pytest.raises(TypeError, match="teacher_logits must be a floating-point tensor.*int64"):
        reverse_kl(S, torch.zeros(2, 3, 5, dtype=torch.long))
    with pytest.raises(ValueError, match=r"teacher_logits has shape \(2, 3, 4\); it must equal student_logits' \(2, 3, 5\)"):
        reverse_kl(S, S[..., :4])
    t = S.clone()
    t[0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="teacher_logits holds a NaN"):
        reverse_kl(S, t)


def test_masked_cross_entropy_rejects_bad_targets():
    with pytest.raises(TypeError, match="targets must be an integer tensor.*float32"):
        masked_cross_entropy(S, torch.zeros(2, 3))
    with pytest.raises(ValueError, match=r"targets has shape \(2, 4\); it must be \(B, T\) = \(2, 3\)"):
        masked_cross_entropy(S, torch.zeros(2, 4, dtype=torch.long))
    for bad in (5, -1):
        y = torch.zeros(2, 3, dtype=torch.long)
        y[1, 1] = bad
        with pytest.raises(ValueError, match=rf"targets holds the id {bad}, out of range; allowed: \[0, 4\]"):
            masked_cross_entropy(S, y)


def test_topk_targets_rejects_bad_k_and_ids_and_restores_the_mode():
    teacher = tiny_teacher().train()
    x = torch.zeros(1, 4, dtype=torch.long)
    with pytest.raises(ValueError, match=r"k=80 is out of range; allowed: \[1, 79\]"):
        topk_targets(teacher, x, k=80)
    assert teacher.training
    with pytest.raises(ValueError, match=r"k=0 is out of range"):
        topk_targets(teacher, x, k=0)
    with pytest.raises(TypeError, match=r"k must be an integer, got float \(2.0\)"):
        topk_targets(teacher, x, k=2.0)
    with pytest.raises(ValueError, match=r"idx holds the id 79, out of range"):
        topk_targets(teacher, torch.tensor([[1, 79]]), k=3)
    with pytest.raises(TypeError, match=r"idx must be a \(B, T\) int64 tensor.*float32"):
        topk_targets(teacher, torch.zeros(1, 4), k=3)
    assert teacher.training
