"""Notebook 10's speed figures: generation and training steps, side by side, on one CPU thread.

Printed, never asserted. Uses the library's functions (``generate_fast``, ``generate``,
``generation_speedup``, ``_arm_loss``/``_student_step``), never the notebook's cells. Every ratio is
measured side by side with :func:`distill_lib.timing.speedup` (each round times both, the order
alternating; the ratio is taken within a round) and printed as the median and min-max over rounds; a
figure whose rounds span more than a factor of 2 is marked *dropped* (``Speedup.meaningful``).

1. **Generation**, characters per second at batch 1 and 32 (a prompt of 38 characters, ``length``
   new ones): each student on its fast path (the GRU's state, the transformer's KV cache) against the
   teacher on its KV cache (goal: the distilled student >= 5x); and the teacher's KV cache against its
   plain window re-reading (:func:`~distill_lib.lm.model.generate`), what the cache buys.
2. **A training step** of the GRU student per arm (32 windows of 128 characters) against the
   text-only step: what the teacher costs when it is cached (word, sequence) and when it runs live
   (on-policy: sampling 96 characters and a teacher forward pass per step).

Generation speed does not depend on the weights: the teacher is the cached one if usable, otherwise a
fresh one of the same shape; the students are fresh.

Default (``main()``): 3 rounds of 0.1 s, length 100, about 30 s. ``main(full=True)``: 7 rounds of 0.3 s,
length 300, about 3 minutes.

Usage: ``python tools/bench_nb10.py [--full]`` (also run by ``tools/benchmark.py``).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("DISTILL_LIB_QUIET", "1")

from distill_lib.lm.data import Alphabet
from distill_lib.lm.distill import _student_step
from distill_lib.lm.model import generate
from distill_lib.lm.outputs import LM_OUTPUTS_RECIPE, build_teacher_outputs
from distill_lib.lm.quality import generation_speedup
from distill_lib.lm.students import LM_STUDENTS, generate_fast, make_lm_student
from distill_lib.lm.teacher import LM_TEACHER_RECIPE, _model_of, load_lm_teacher
from distill_lib.lm.train import ARMS, LM_TRAIN_RECIPE, _arm_loss
from distill_lib.timing import speedup

PROMPT = "It is a truth universally acknowledged"


def load() -> str:
    if not hasattr(os, "getloadavg"):
        return "load average n/a"
    return (f"load average {', '.join(f'{x:.1f}' for x in os.getloadavg())} (1, 5, 15 min) on "
            f"{os.cpu_count()} core(s); above the core count every figure is inflated")


def show(name: str, s) -> None:
    verdict = "" if s.meaningful else "  (dropped: the rounds disagree by more than 2x)"
    print(f"  {name:46s} {s.median:7.2f}x (min {s.low:.2f}, max {s.high:.2f} over {len(s.ratios)} rounds){verdict}")


def main(full: bool = False) -> None:
    rounds, min_run_time, length = (7, 0.3, 300) if full else (3, 0.1, 100)
    print(f"torch {torch.__version__}; {'full' if full else 'default'} run; {load()}")
    try:
        teacher, where = load_lm_teacher(retrain=False)[0], "the cached teacher (data/lm_teacher.pt)"
    except ValueError as err:
        torch.manual_seed(0)
        teacher, where = _model_of(LM_TEACHER_RECIPE).eval(), f"a fresh teacher ({str(err)[:80]})"
    print(f"teacher: {where}; students fresh ({', '.join(LM_STUDENTS)})")
    students = {name: make_lm_student(name).eval() for name in LM_STUDENTS}
    prompt = Alphabet().encode(PROMPT)
    print(f"\n1. generation, {length} characters after a {len(PROMPT)}-character prompt: x the teacher's (KV cache) "
          "characters per second")
    for batch in (1, 32):
        ids = prompt.expand(batch, -1)
        for name, student in students.items():
            show(f"{name} (batch {batch})", generation_speedup(teacher, student, ids, length, repeats=rounds,
                                                               min_run_time=min_run_time))
        if batch > 1 and not full:  # re-reading a window of 32 rows takes seconds per call
            continue
        g = torch.Generator()
        show(f"teacher KV cache vs re-reading its window (batch {batch})",
             speedup(lambda: generate(teacher, ids, length, generator=g.manual_seed(0)),
                     lambda: generate_fast(teacher, ids, length, generator=g.manual_seed(0)),
                     repeats=rounds, min_run_time=min_run_time))
    print("\n2. one training step of the gru student (32 windows of 128): x the text-only step's time "
          "(< 1: slower)")
    outputs = build_teacher_outputs(teacher, dict(LM_OUTPUTS_RECIPE, windows=64))
    student = make_lm_student("gru")
    optimizer = torch.optim.AdamW(student.parameters(), lr=1e-4)
    rows = torch.arange(LM_TRAIN_RECIPE["batch_size"])

    def step(arm):
        g = torch.Generator().manual_seed(0)
        return lambda: _student_step(student, optimizer, _arm_loss(arm, student, teacher, outputs, rows, g))

    for arm in ARMS[1:]:
        show(f"{arm} step", speedup(step("text"), step(arm), repeats=rounds, min_run_time=min_run_time))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--full", action="store_true", help="7 rounds of 0.3 s, 300 characters (about 3 minutes)")
    main(full=parser.parse_args().full)
