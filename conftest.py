"""Shared by the unit tests and the notebook runs (nbval starts kernels from this process)."""

import os
import sys
from pathlib import Path

# The repository root on sys.path, whatever pytest's import mode: the tests import the
# notebook runner as `tools.notebook_runner` (it is not part of the installed library).
ROOT = str(Path(__file__).resolve().parent)
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

# Kernels inherit the environment: no progress bars, and one thread per kernel so
# two notebooks running side by side (pytest -n 2) do not fight over the two cores.
os.environ.setdefault("DISTILL_LIB_QUIET", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
