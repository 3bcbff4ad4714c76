"""Models: a multilayer perceptron builder and how big a model is."""

from __future__ import annotations

import io
from collections.abc import Sequence

import torch
from torch import nn

from ._validation import check_int, check_module, check_real

__all__ = ["mlp", "count_parameters", "size_in_bytes", "serialized_size"]


def mlp(sizes: Sequence[int], dropout: float = 0.0) -> nn.Sequential:
    """A fully connected ReLU network, e.g. ``mlp([64, 256, 256, 10])``.

    Layers: ``Linear -> ReLU -> Dropout`` for each hidden layer, and a final
    ``Linear`` that outputs logits (no softmax: losses take logits).

    Args:
        sizes: layer widths, input first and number of classes last; at least two.
        dropout: drop probability after each hidden ReLU, in ``[0, 1)``; 0 adds no Dropout layer.

    Shape:
        input ``(N, sizes[0])`` -> logits ``(N, sizes[-1])``.

    Example::

        >>> model = mlp([64, 32, 10])
        >>> model(torch.zeros(5, 64)).shape
        torch.Size([5, 10])
    """
    if isinstance(sizes, (str, bytes)) or not isinstance(sizes, Sequence):
        raise TypeError(f"sizes must be a sequence of layer widths, got {type(sizes).__name__}")
    if len(sizes) < 2:
        raise ValueError(f"sizes={list(sizes)} needs at least two widths (input and output)")
    widths = [check_int(f"sizes[{i}]", s, low=1) for i, s in enumerate(sizes)]
    p = check_real("dropout", dropout)
    if not 0.0 <= p < 1.0:
        raise ValueError(f"dropout={p!r} must be in the range [0, 1)")
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(widths[:-1], widths[1:])):
        layers.append(nn.Linear(n_in, n_out))
        if i < len(widths) - 2:  # hidden layer
            layers.append(nn.ReLU())
            if p > 0:
                layers.append(nn.Dropout(p))
    return nn.Sequential(*layers)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable scalars, e.g. 64*256 + 256 + 256*256 + 256 + 256*10 + 10 for the teacher.

    Raises:
        TypeError: ``model`` is not a ``torch.nn.Module``.
    """
    check_module("model", model)
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def size_in_bytes(model: nn.Module) -> int:
    """Bytes held by the model's parameters and buffers in memory (numel * element size).

    Raises:
        TypeError: ``model`` is not a ``torch.nn.Module``.
    """
    check_module("model", model)
    tensors = list(model.parameters()) + list(model.buffers())
    return sum(t.numel() * t.element_size() for t in tensors)


def serialized_size(model: nn.Module) -> int:
    """Bytes of ``torch.save(model.state_dict())``: what a checkpoint on disk costs.

    Raises:
        TypeError: ``model`` is not a ``torch.nn.Module``.
    """
    check_module("model", model)
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    return buffer.getbuffer().nbytes
