"""Weight sharing: linear codes and k-means codebooks (Han, Mao & Dally 2016, section 3).

Work in progress: the shared data type comes first.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = ["SharedWeights"]


@dataclass(frozen=True)
class SharedWeights:
    """One Linear layer's weights as codes into a codebook (Han et al. 2016, section 3).

    Attributes:
        codebook: ``(K,)`` float32 centroids, ``K <= 2**bits``.
        codes: ``(out, in)`` int64 in ``[0, K)``; 0 where ``mask`` is False.
        mask: ``(out, in)`` bool, True = weight kept (not pruned).
        bits: bits per code, 1..8.
    """

    codebook: Tensor  # (K,) float32, K <= 2**bits centroids
    codes: Tensor  # (out, in) int64 in [0, K); meaningless where mask is False (store 0 there)
    mask: Tensor  # (out, in) bool, True = weight kept (not pruned)
    bits: int  # bits per code, 1..8

    def weight(self) -> Tensor:
        """The ``(out, in)`` float32 weight: ``codebook[codes]`` where kept, 0 where pruned."""
        return torch.where(self.mask, self.codebook[self.codes], 0.0)
