"""distill_lib._validation: the shared input checks name the bad value and the allowed range."""

import math

import pytest
import torch

from distill_lib._validation import (
    check_finite_tensor,
    check_int,
    check_lam,
    check_module,
    check_real,
    check_eval_set,
    check_recipe,
    check_targets,
    check_temperature,
)


def test_numbers():
    assert check_temperature(torch.tensor(2.0)) == 2.0
    assert check_lam(1) == 1.0
    with pytest.raises(TypeError, match="temperature must be a real number, got bool"):
        check_temperature(True)
    with pytest.raises(ValueError, match=r"temperature=inf must be a finite number > 0"):
        check_temperature(math.inf)
    with pytest.raises(TypeError, match="x must be a real number, got str"):
        check_real("x", "1")
    with pytest.raises(ValueError, match=r"n=11 is out of range; allowed: \[1, 10\]"):
        check_int("n", 11, low=1, high=10)
    with pytest.raises(ValueError, match=r"n=-1 is out of range; allowed: \[0, inf\]"):
        check_int("n", -1, low=0)


def test_check_finite_tensor():
    x = torch.ones(2, 3)
    assert check_finite_tensor("w", x) is x
    with pytest.raises(TypeError, match="w must be a float32 tensor, got dtype=torch.float64"):
        check_finite_tensor("w", x.double(), dtype=torch.float32)
    with pytest.raises(TypeError, match="floating-point"):
        check_finite_tensor("w", torch.ones(2, dtype=torch.long))
    with pytest.raises(ValueError, match=r"w is empty \(shape \(0,\)\)"):
        check_finite_tensor("w", torch.ones(0))
    with pytest.raises(ValueError, match="w contains 2 NaN or infinite value.*weights must be finite"):
        check_finite_tensor("w", torch.tensor([1.0, math.nan, math.inf]), what="weights")


def test_check_targets_names_the_argument():
    with pytest.raises(ValueError, match=r"y_val contain class index 42; allowed range is \[0, 9\]"):
        check_targets(torch.tensor([1, 42]), 2, 10, name="y_val")
    with pytest.raises(TypeError, match="y_val must be an integer tensor"):
        check_targets(torch.tensor([1.0, 2.0]), 2, 10, name="y_val")


def test_check_recipe():
    assert check_recipe(4, 0.9, None) == (4.0, 0.9, None)
    assert check_recipe(2.0, 0, 10) == (2.0, 0.0, 10)
    with pytest.raises(ValueError, match=r"epochs=0 is out of range"):
        check_recipe(4.0, 0.9, 0)
    with pytest.raises(ValueError, match=r"lam=1.5 must be in the range \[0, 1\]"):
        check_recipe(4.0, 1.5, 10)


def test_check_eval_set_is_a_tuple_of_inputs_and_targets():
    X, y = torch.zeros(3, 4), torch.tensor([0, 1, 9])
    assert check_eval_set((X, y)) == (X, y)
    with pytest.raises(TypeError, match=r"val must be a tuple \(X, targets\), got list"):
        check_eval_set([X, y], name="val")
    with pytest.raises(TypeError, match=r"eval_set\[0\] \(X\) must be a non-empty floating-point tensor"):
        check_eval_set((torch.zeros(3, 4, dtype=torch.long), y))
    with pytest.raises(ValueError, match=r"eval_set\[0\] \(X\) contains 1 NaN"):
        check_eval_set((torch.tensor([[0.0], [math.nan], [1.0]]), y))
    with pytest.raises(ValueError, match=r"eval_set\[1\] \(targets\) contain class index 10"):
        check_eval_set((X, torch.tensor([0, 1, 10])))
    with pytest.raises(ValueError, match=r"must have shape \(3,\)"):
        check_eval_set((X, torch.tensor([0, 1])))


def test_check_module_names_the_argument():
    model = torch.nn.Linear(2, 3)
    assert check_module("model", model) is model
    with pytest.raises(TypeError, match=r"models\[1\] must be a torch.nn.Module, got dict"):
        check_module("models[1]", {"weight": torch.zeros(3, 2)})
