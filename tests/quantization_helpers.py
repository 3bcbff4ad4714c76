"""Fixtures shared by the quantization tests: a tiny student and its data (imported into each test module)."""

import pytest
import torch

from distill_lib.models import mlp


@pytest.fixture
def student():
    torch.manual_seed(0)
    return mlp([16, 12, 5])


@pytest.fixture
def data():
    g = torch.Generator().manual_seed(1)
    return torch.rand(40, 16, generator=g), torch.randint(0, 5, (40,), generator=g)
