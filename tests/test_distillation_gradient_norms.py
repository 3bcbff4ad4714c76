"""distill_lib.distillation: why the soft term is multiplied by T^2 (notebook 03, section 2).

The measured gradient norms are checked against the closed form ``T (q - p) / N``, against
autograd through ``F.cross_entropy``, and against the high-temperature limit.
"""

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from distill_lib.distillation import soft_term_gradient_norms


def rand_logits(n=6, c=10, scale=3.0, seed=0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(n, c, generator=g, dtype=torch.float64) * scale).to(dtype)


# ---------------------------------------------------------------- why T^2


def test_soft_term_gradient_norms_closed_form():
    z, v, y = rand_logits(seed=11), rand_logits(seed=12), torch.arange(6) % 10
    temps = [0.5, 1.0, 3.0, 10.0]
    g = soft_term_gradient_norms(z, v, temps, targets=y)
    n = len(z)
    for i, T in enumerate(temps):
        q, p = F.softmax(z.double() / T, 1), F.softmax(v.double() / T, 1)
        assert g.with_t2[i].item() == pytest.approx((T * (q - p) / n).norm().item(), rel=1e-9)
        assert g.without_t2[i].item() == pytest.approx(((q - p) / (n * T)).norm().item(), rel=1e-9)
    torch.testing.assert_close(g.without_t2 * g.temperatures**2, g.with_t2)
    zz = z.double().requires_grad_()
    F.cross_entropy(zz, y).backward()
    assert g.cross_entropy == pytest.approx(zz.grad.norm().item(), rel=1e-9)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), scale=st.floats(0.1, 5.0))
def test_soft_term_gradient_tends_to_the_logit_matching_limit(seed, scale):
    """With T^2 the gradient tends to ||(z - mean z) - (v - mean v)|| / (N C); without, it vanishes as 1/T^2."""
    z, v = rand_logits(seed=seed, scale=scale), rand_logits(seed=seed + 1, scale=scale)
    g = soft_term_gradient_norms(z, v, [1e5, 2e5])  # the next-order term is O(|z| / T) ~ 1e-4 here
    assert g.with_t2[0].item() == pytest.approx(g.high_temperature_limit, rel=1e-3)
    assert g.without_t2[1].item() == pytest.approx(g.without_t2[0].item() / 4, rel=1e-3)
    assert g.cross_entropy is None


def test_soft_term_gradient_norms_bad_input():
    z = rand_logits()
    with pytest.raises(ValueError, match="temperature=-2.0"):
        soft_term_gradient_norms(z, z, [1.0, -2.0])
    with pytest.raises(ValueError, match="at least one value"):
        soft_term_gradient_norms(z, z, [])
    with pytest.raises(ValueError, match="no broadcasting"):
        soft_term_gradient_norms(z, z[:2], [1.0])
    with pytest.raises(ValueError, match=r"class index 10"):
        soft_term_gradient_norms(z, z, [1.0], targets=torch.full((6,), 10))
