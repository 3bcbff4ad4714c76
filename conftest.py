"""Shared by the unit tests and the notebook runs (nbval starts kernels from this process)."""

import os

# Kernels inherit the environment: no progress bars, and one thread per kernel so
# two notebooks running side by side (pytest -n 2) do not fight over the two cores.
os.environ.setdefault("DISTILL_LIB_QUIET", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
