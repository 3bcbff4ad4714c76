"""``python -m distill_lib.compression``: rebuild notebook 06's cached sweep (``make pipeline``)."""

from .sweep import main

main()
