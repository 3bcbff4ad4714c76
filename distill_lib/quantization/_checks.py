"""Input checks shared by the quantization modules (public names in a private module).

The public functions of :mod:`distill_lib.quantization` call these at their boundary; the
unchecked cores do not re-check. The limits they enforce (:data:`MAX_BITS`,
:data:`CALIBRATION_METHODS`) are defined here and re-exported by
:mod:`distill_lib.quantization.qparams`. Checks that every package needs are in
:mod:`distill_lib._validation`.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .._validation import check_finite_tensor, check_int, check_real

__all__ = ["MAX_BITS", "CALIBRATION_METHODS", "check_bits", "check_float_tensor", "check_method"]

#: The widest code this package builds (16 bits: codes up to 65,535 fit int32 and float32 exactly).
MAX_BITS = 16
#: Calibration methods for :func:`~distill_lib.quantization.qparams.calibration_range`.
CALIBRATION_METHODS = ("minmax", "percentile")


def check_bits(bits: object, name: str = "bits") -> int:
    return check_int(name, bits, low=1, high=MAX_BITS)


def check_float_tensor(name: str, x: object) -> Tensor:
    """A non-empty, finite float32 tensor (no NaN, no infinities)."""
    return check_finite_tensor(name, x, dtype=torch.float32, what="quantization inputs")


def check_method(method: object, percentile: object) -> float:
    """Validate a calibration method and its percentile; return the percentile as a float."""
    if method not in CALIBRATION_METHODS:
        raise ValueError(f"method={method!r} is not one of {CALIBRATION_METHODS}")
    p = check_real("percentile", percentile)
    if not 50.0 < p <= 100.0:
        raise ValueError(f"percentile={p!r} must be in the range (50, 100]")
    return p
