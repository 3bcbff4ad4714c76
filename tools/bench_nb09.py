"""Notebook 09's figures: what the teacher and the students cost, side by side, on one CPU thread.

Printed, never asserted. Uses the functions notebook 09 uses (``teacher_model``, ``student_model``,
``teacher_int8_model``, ``macs_per_sentence``, ``model_bytes``, ``sentences_per_second``), never the
notebook's cells. Speed comes from the workbook's one timing helper, :mod:`distill_lib.timing`
(``measure``, through ``sentences_per_second``), tokenisation included. A speed ratio is
**the model's sentences per second / the fp32 teacher's** (> 1: faster), measured side by side:
each round times the teacher and every model in turn (the order reversed every other round), and
the ratio is taken within a round; printed as the median and min-max over rounds. One whose rounds
span more than a factor of 2 (max / min) is printed as *dropped*, with its range.

1. **Sizes**: parameters, bytes in fp32 and int8 (``model_bytes``' convention), the int8 ONNX file.
2. **Multiply-adds** per sentence (``FlopCounterMode``), the median over 64 validation glosses,
   and how many times fewer than the teacher's (goal: each student >= 50x fewer).
3. **The int8 teacher**: how long it takes to get (cached file; in the full run also a fresh build),
   and how close it stays to fp32 (cosine of the sentence embeddings, agreement of the argmax).
4. **Sentences per second** at batch 1 (32 glosses, one at a time) and batch 256, one thread, and
   the ratio to the fp32 teacher (goal: the best student >= 50x). The glosses: the 256 validation
   glosses closest to the median length (so a batch has almost no padding and the speed matches
   the multiply-adds column); in the full run also the first 256 validation glosses as they come
   (a batch padded to its longest, 62 word pieces against a median of 14).

The students' speed does not depend on their weights: fresh ones are timed (``make_student``, the
vocabulary of the train and transfer glosses). The teacher's head is the cached one
(``load_text_teacher(rebuild=False)``), or a fresh head of the same shape if the cache is unusable.

Default (``main()``): 3 rounds, the shortest timings, about 30 s. ``main(full=True)``: 7 rounds of
0.3 s per figure, the mixed-length glosses, a fresh int8 build, and PyTorch's own dynamic
quantisation of the teacher (``torch.ao.quantization.quantize_dynamic``, deprecated) for comparison
(about 6 minutes on two shared cores: the teacher's padded batch of 256 takes seconds per call).

Usage: ``python tools/bench_nb09.py [--full]`` (also run by ``tools/benchmark.py``).
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("DISTILL_LIB_QUIET", "1")

from distill_lib.text.cost import (
    TextModel,
    macs_per_sentence,
    model_bytes,
    sentences_per_second,
    student_model,
    teacher_int8_model,
    teacher_int8_onnx,
    teacher_model,
)
from distill_lib.text.data import load_text_split
from distill_lib.text.encoder import load_minilm, load_tokenizer
from distill_lib.text.students import STUDENTS, make_student
from distill_lib.text.teacher import load_text_teacher, teacher_head
from distill_lib.text.tokens import build_vocab
from distill_lib.timing import Speedup

BASELINE = "teacher fp32"
GOAL = 50  # each student >= 50x fewer multiply-adds; the best >= 50x the sentences per second


def load() -> str:
    if not hasattr(os, "getloadavg"):
        return "load average n/a"
    return (f"load average {', '.join(f'{x:.1f}' for x in os.getloadavg())} (1, 5, 15 min) on "
            f"{os.cpu_count()} core(s); above the core count every figure is inflated")


def spread(values: list[float], unit: str = "") -> str:
    return f"{statistics.median(values):,.0f}{unit} ({min(values):,.0f}-{max(values):,.0f} over {len(values)})"


# --- the models -------------------------------------------------------------------------------


def torch_dynamic_int8(teacher: TextModel) -> tuple[TextModel, float]:
    """PyTorch's own dynamic quantisation of the teacher's Linear layers (per channel), and its setup seconds."""
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "torch.ao.quantization is deprecated and will be removed"
        quantized = quantize_dynamic(copy.deepcopy(teacher.network), {nn.Linear: per_channel_dynamic_qconfig})
    seconds = time.perf_counter() - start

    def run(ids, mask):
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return quantized(ids, mask)
    return TextModel(teacher.tokenize, run, teacher.network), seconds


def build_models(full: bool) -> tuple[dict[str, TextModel], dict[str, float], list[str]]:
    split = load_text_split()
    tokenizer = load_tokenizer()
    try:
        head, where = load_text_teacher(rebuild=False).head, "the cached head (data/text_teacher.pt)"
    except ValueError as err:
        torch.manual_seed(0)
        head, where = teacher_head().eval(), f"a fresh head ({str(err)[:100]})"
    teacher = teacher_model(load_minilm(), tokenizer, head)
    print(f"teacher: all-MiniLM-L6-v2 + {where}")
    setup = {}
    start = time.perf_counter()
    models = {BASELINE: teacher, "teacher int8 (ORT)": teacher_int8_model(teacher)}
    setup["ORT int8, cached file"] = time.perf_counter() - start
    if full:
        with tempfile.TemporaryDirectory(prefix="bench-nb09-") as folder:
            start = time.perf_counter()
            teacher_int8_onnx(teacher.network, folder)
            setup["ORT int8, fresh export + quantisation"] = time.perf_counter() - start
        models["teacher int8 (PyTorch dynamic)"], setup["PyTorch dynamic int8"] = torch_dynamic_int8(teacher)
    vocab = build_vocab(tokenizer, split.texts_train + split.texts_transfer)
    for name in STUDENTS:
        models[name] = student_model(make_student(name, vocab_size=vocab.size, num_classes=10, embed_dim=384),
                                     tokenizer, vocab)
    return models, setup, split.texts_val


def median_length_texts(teacher: TextModel, texts: list[str], n: int) -> list[str]:
    """The ``n`` texts whose teacher token count is closest to the median (ties: in the given order)."""
    lengths = teacher.tokenize(texts)[1].sum(1)
    median = int(lengths.median())
    order = sorted(range(len(texts)), key=lambda i: abs(int(lengths[i]) - median))
    return [texts[i] for i in order[:n]]


# --- 1-3. sizes, multiply-adds, the int8 teacher -------------------------------------------


def sizes_and_macs(models: dict[str, TextModel], texts: list[str]) -> None:
    print(f"\nSizes and multiply-adds per sentence (the median over {len(texts)} validation glosses, each alone; "
          "int8 bytes: 1 per weight of a Linear/Embedding/GRU matrix + an fp32 scale per row, the rest fp32)")
    counted: dict[int, float] = {}  # an int8 copy has its fp32 network's multiply-adds: count once
    for m in models.values():
        if id(m.network) not in counted:
            counted[id(m.network)] = macs_per_sentence(m, texts).median().item()
    base = counted[id(models[BASELINE].network)]
    print(f"  {'model':<32} {'params':>11} {'fp32 bytes':>12} {'int8 bytes':>12} {'MACs/sentence':>14} "
          f"{'fewer MACs':>11}")
    for name, m in models.items():
        size, macs = model_bytes(m.network), counted[id(m.network)]
        goal = "" if name.startswith("teacher") else ("  goal met" if base / macs >= GOAL else "  BELOW GOAL")
        print(f"  {name:<32} {size.params:>11,} {size.fp32:>12,} {size.int8:>12,} {macs:>14,.0f} "
              f"{base / macs:>10,.0f}x{goal}")


def int8_agreement(models: dict[str, TextModel], texts: list[str], setup: dict[str, float]) -> None:
    teacher = models[BASELINE]
    path = teacher_int8_onnx(teacher.network)
    print(f"\nThe int8 teacher: {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}, "
          f"{path.stat().st_size:,} bytes")
    for what, seconds in setup.items():
        print(f"  setup, {what}: {seconds:.2f} s")
    ids, mask = teacher.tokenize(texts)
    logits, embedding = teacher.run(ids, mask)
    for name, m in models.items():
        if name.startswith("teacher int8"):
            logits8, embedding8 = m.run(ids, mask)
            cosine = F.cosine_similarity(embedding, embedding8)
            same = (logits8.argmax(1) == logits.argmax(1)).float().mean().item()
            print(f"  {name}: against fp32 on {len(texts)} glosses, embedding cosine mean {cosine.mean():.4f} "
                  f"(min {cosine.min():.4f}), same argmax {100 * same:.1f} %")


# --- 4. speed side by side ------------------------------------------------------------------


def side_by_side(models: dict[str, TextModel], texts: list[str], batch_size: int, rounds: int,
                 min_run_time: float) -> dict[str, tuple[list[float], list[float]]]:
    """Per model: sentences per second in each round, and the ratio to the teacher's in the same round."""
    names = list(models)
    rates: dict[str, list[float]] = {n: [] for n in names}
    for r in range(rounds):
        for name in names if r % 2 == 0 else names[::-1]:
            rates[name].append(sentences_per_second(models[name], texts, batch_size,
                                                    min_run_time=min_run_time).per_second)
    return {n: (rates[n], [a / b for a, b in zip(rates[n], rates[BASELINE])]) for n in names}


def speed(models: dict[str, TextModel], texts: list[str], title: str, rounds: int, min_run_time: float) -> None:
    print(f"\nSentences per second, one thread, tokenisation included: {title}; {rounds} rounds; "
          f"ratio = this model's / the fp32 teacher's in the same round (> 1: faster)")
    for batch_size, batch_texts in ((1, texts[:32]), (256, texts[:256])):
        padded = models[BASELINE].tokenize(batch_texts[:batch_size])[0].shape[1] if batch_size > 1 else None
        print(f"  batch {batch_size}" + (f" (teacher batch padded to {padded} word pieces)" if padded else
                                         f" ({len(batch_texts)} glosses one at a time)"))
        found = side_by_side(models, batch_texts, batch_size, rounds, min_run_time)
        for name, (rates, ratios) in found.items():
            ratio = Speedup(tuple(ratios), 0.0, 0.0)
            goal = "" if name.startswith("teacher") or not ratio.meaningful else (
                f"  >= {GOAL}x" if ratio.median >= GOAL else "")
            ratio = "baseline" if name == BASELINE else str(ratio)
            print(f"    {name:<32} {spread(rates, '/s'):>34}   {ratio}{goal}")


def main(full: bool = False) -> None:
    start = time.perf_counter()
    threads_before = torch.get_num_threads()
    torch.set_num_threads(1)  # as the notebook does; the timings set their own thread count (1)
    try:
        print(f"torch {torch.__version__}; {'full' if full else 'default'} run; {load()}")
        models, setup, texts_val = build_models(full)
        teacher = models[BASELINE]
        sizes_and_macs(models, texts_val[:64])
        int8_agreement(models, texts_val[:64], setup)
        rounds, min_run_time = (7, 0.3) if full else (3, 0.01)
        speed(models, median_length_texts(teacher, texts_val, 256),
              "the 256 validation glosses closest to the median length", rounds, min_run_time)
        if full:
            speed(models, texts_val[:256], "the first 256 validation glosses, lengths as they come", rounds,
                  min_run_time)
    finally:
        torch.set_num_threads(threads_before)
    print(f"\n({time.perf_counter() - start:.1f} s; {load()})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--full", action="store_true",
                        help="more rounds, mixed-length glosses, a fresh int8 build, PyTorch's dynamic int8")
    main(full=parser.parse_args().full)
