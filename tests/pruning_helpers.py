"""Small models and data shared by the pruning tests (imported; pytest does not collect this file)."""

import torch

from distill_lib.models import mlp
from distill_lib.training import set_seed


def random_mlp(sizes=(64, 32, 10), seed=0, dropout=0.0):
    set_seed(seed)
    return mlp(list(sizes), dropout=dropout)


def toy_data(n=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 64, generator=g), torch.randint(0, 10, (n,), generator=g)


def state_of(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def same_state(model, state):
    now = model.state_dict()
    return set(now) == set(state) and all(torch.equal(now[k], state[k]) for k in state)
