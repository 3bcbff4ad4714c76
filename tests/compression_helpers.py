"""A tiny pipeline recipe for the tests: every key of PIPELINE_RECIPE, a few seconds of training."""

from distill_lib.compression.pipeline import PIPELINE_RECIPE

TINY_RECIPE = {
    **PIPELINE_RECIPE,
    "unit_sparsities": [0.0, 0.5],
    "unit_epochs": 5,
    "schedule": [0.5, 0.9],
    "epochs_per_step": 5,
    "bits": [2],
    "codebook_epochs": 5,
    "teacher_schedule": [0.5],
    "teacher_bits": [3],
    "teacher_epochs_per_step": 2,
    "widths": [8],
    "seeds": [0, 1],
}
