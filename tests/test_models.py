"""distill_lib.models: the MLP builder and size accounting."""

import pytest
import torch
from torch import nn

from distill_lib.models import count_parameters, mlp, serialized_size, size_in_bytes


def test_mlp_layers_and_shapes():
    model = mlp([64, 32, 16, 10], dropout=0.1)
    kinds = [type(m).__name__ for m in model]
    assert kinds == ["Linear", "ReLU", "Dropout", "Linear", "ReLU", "Dropout", "Linear"]
    assert model(torch.zeros(5, 64)).shape == (5, 10)
    assert [type(m).__name__ for m in mlp([64, 10])] == ["Linear"]
    assert not any(isinstance(m, nn.Dropout) for m in mlp([64, 32, 10]))


def test_counts_by_hand():
    # 64*256 + 256 + 256*256 + 256 + 256*10 + 10
    teacher = mlp([64, 256, 256, 10], 0.3)
    assert count_parameters(teacher) == 85_002
    assert size_in_bytes(teacher) == 85_002 * 4
    student = mlp([64, 32, 10])
    assert count_parameters(student) == 64 * 32 + 32 + 32 * 10 + 10 == 2410
    assert size_in_bytes(student.to(torch.float64)) == 2410 * 8


def test_serialized_size_is_close_to_raw_bytes():
    model = mlp([64, 256, 256, 10])
    raw = size_in_bytes(model)
    assert raw < serialized_size(model) < raw * 1.05 + 4096


@pytest.mark.parametrize(
    "sizes, dropout, error, pattern",
    [
        ([64], 0.0, ValueError, "at least two"),
        ([64, 0, 10], 0.0, ValueError, r"sizes\[1\]=0 is out of range"),
        ([64, 2.5, 10], 0.0, TypeError, r"sizes\[1\] must be an integer"),
        ("64,10", 0.0, TypeError, "sequence of layer widths"),
        ([64, 10], 1.0, ValueError, r"dropout=1.0 must be in the range \[0, 1\)"),
        ([64, 10], -0.1, ValueError, r"dropout=-0.1"),
    ],
)
def test_mlp_bad_input(sizes, dropout, error, pattern):
    with pytest.raises(error, match=pattern):
        mlp(sizes, dropout)


def test_size_helpers_refuse_what_is_not_a_module():
    from distill_lib.models import count_parameters, serialized_size, size_in_bytes

    for fn in (count_parameters, size_in_bytes, serialized_size):
        with pytest.raises(TypeError, match="model must be a torch.nn.Module, got dict"):
            fn({"0.weight": torch.zeros(2, 2)})
