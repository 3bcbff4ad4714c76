"""Input checks shared by the pruning modules (public names in a private module).

The public functions of :mod:`distill_lib.pruning` call these at their boundary,
before they change anything; the unchecked cores do not re-check. Checks that
every package needs (a module, a number, an evaluation set) are in
:mod:`distill_lib._validation`.
"""

from __future__ import annotations

from collections.abc import Iterable

from torch import nn

from .._validation import check_finite_tensor
from .masks import SCOPES, check_sparsity, current_mask, magnitude_scores

__all__ = ["check_sparsities", "check_scope", "check_finite_weights", "check_not_reviving"]


def check_sparsities(sparsities: object, name: str = "sparsities") -> list[float]:
    """Validate a non-empty list of fractions, each in ``[0, 1)``; errors name the index."""
    if isinstance(sparsities, (str, bytes)) or not isinstance(sparsities, Iterable):
        raise TypeError(f"{name} must be a list of fractions, got {type(sparsities).__name__}")
    values = [check_sparsity(s, f"{name}[{i}]") for i, s in enumerate(sparsities)]
    if not values:
        raise ValueError(f"{name} is empty; give at least one fraction in [0, 1)")
    return values


def check_scope(scope: object) -> str:
    if scope not in SCOPES:
        raise ValueError(f"scope={scope!r} is not allowed; choose one of {SCOPES}")
    return scope  # type: ignore[return-value]


def check_finite_weights(layers: dict[str, nn.Linear], name: str = "model") -> None:
    """Every (effective) weight of the chosen layers must be finite: a NaN has no magnitude to rank."""
    for layer_name, module in layers.items():
        check_finite_tensor(f"{name} layer {layer_name!r} weight", module.weight, what="weights to prune")


def check_not_reviving(model_layers: dict[str, nn.Linear], sparsity: float, scope: str) -> None:
    """Pruning never revives a weight: refuse a sparsity below what is already pruned."""
    already = {name: int((magnitude_scores(m.weight, current_mask(m)) < 0).sum()) for name, m in model_layers.items()}
    if scope == "global":
        total = sum(m.weight.numel() for m in model_layers.values())
        if round(sparsity * total) < sum(already.values()):
            raise ValueError(
                f"sparsity={sparsity!r} is below the {sum(already.values()) / total:.4f} already pruned; "
                "pruning never revives weights (start from an unpruned copy)"
            )
    else:
        for name, m in model_layers.items():
            if round(sparsity * m.weight.numel()) < already[name]:
                raise ValueError(
                    f"sparsity={sparsity!r} is below the {already[name] / m.weight.numel():.4f} that layer "
                    f"{name!r} has already lost; pruning never revives weights (start from an unpruned copy)"
                )
