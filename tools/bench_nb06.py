"""Notebook 06's figures: the pipeline's bytes, the students' latency on ONNX Runtime, the sliders' latency.

Printed, never asserted. Uses the functions notebook 06 uses (``load_sweep``, ``smallest_within``,
``best_within_budget``, ``train_student``, ``export_onnx``, ``quantize_dynamic_onnx``, ``int8_onnx``
with ``Int8MLP``/``FakeQuantMLP``, ``latency_table``, ``format_latency_table``, ``pipeline_preview``,
``draw_preview``, ``figure_png``), never the notebook's cells. Speed comes from the workbook's one
timing helper, :mod:`distill_lib.timing` (``torch.utils.benchmark``), through ``latency_table``: a
speed-up is the teacher's time / the candidate's time, **> 1 means the candidate is faster**,
printed as the median and the min-max over alternating repeats; one whose repeats span more than a
factor of 2 (max / min) is printed as *dropped*, with its range.

1. **Bytes** (the cached sweep, ``data/pipeline_sweep.pt``; ``make pipeline`` rebuilds it): the
   teacher's file, and for each order ((a) distil, then compress; (b) compress the teacher, then
   distil) the models validation chooses at the 1-point line and at 40x and 100x: bytes (mean,
   min-max over seeds), ratio to the teacher, validation accuracy.
2. **Latency**: the teacher in PyTorch fp32 (the baseline) against a 64-64-10 and a 64-128-10
   distilled student (seed 0), each in PyTorch fp32, ONNX Runtime fp32, ORT dynamic int8 and ORT
   running the workbook's own int8 codes (``Int8MLP`` as an ONNX graph), at batch 1 and 256, one
   thread and all threads; plus the ONNX files' sizes.
3. **The sliders' update** (goal <= 0.5 s per change): ``pipeline_preview`` on the widget's
   student (64-256-10, distilled on 9 jittered copies, seed 0), and the same plus ``draw_preview``
   rendered to PNG as ``live_figure`` does, at several settings: median and min-max over them.

Default (``main()``): latency at 3 repeats of 0.02 s, one timed change per setting, about 25 s.
``main(full=True)``: 7 repeats of 0.1 s, more settings, each timed 3 times, and seed 0's
order-(a) stages rebuilt live (``compress_student``) and written as real files (``save_compressed``,
``load_compressed``) next to the sweep's bytes for the same seed (a minute or two).

Usage: ``python tools/bench_nb06.py [--full]`` (also run by ``tools/benchmark.py``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("DISTILL_LIB_QUIET", "1")

from distill_lib.compression import (  # noqa: E402
    PIPELINE_RECIPE,
    best_within_budget,
    compress_student,
    draw_preview,
    load_compressed,
    load_sweep,
    pipeline_preview,
    save_compressed,
    smallest_within,
)
from distill_lib.data import load_split  # noqa: E402
from distill_lib.deployment import (  # noqa: E402
    all_threads,
    export_onnx,
    format_latency_table,
    int8_onnx,
    latency_table,
    onnx_bytes,
    quantize_dynamic_onnx,
)
from distill_lib.quantization import FakeQuantMLP, Int8MLP  # noqa: E402
from distill_lib.student import train_student  # noqa: E402
from distill_lib.teacher import load_teacher  # noqa: E402
from distill_lib.training import predict_logits  # noqa: E402
from distill_lib.widgets import figure_png  # noqa: E402

TOLERANCE = 1.0  # points below the teacher that still hold the line (validation chooses)
RATIOS = (40, 100)  # compression ratios: the teacher's file over the student's
LATENCY_STUDENTS = ([64, 64, 10], [64, 128, 10])
BATCH_SIZES = (1, 256)


def spread(values: list[float], unit: str = "s") -> str:
    """``median (min-max over n)``."""
    return (f"{statistics.median(values):.3g} {unit} ({min(values):.3g}-{max(values):.3g} over {len(values)})")


def load() -> str:
    """The load average: above the core count, other processes share the cores and every figure is inflated
    (the all-threads PyTorch figures most: a parallel region waits for its slowest thread)."""
    if not hasattr(os, "getloadavg"):
        return "load average n/a"
    return (f"load average {', '.join(f'{x:.1f}' for x in os.getloadavg())} (1, 5, 15 min) on "
            f"{all_threads()} core(s)")


# --- 1. bytes ---------------------------------------------------------------------------------


def bytes_table(sweep) -> None:
    teacher = sweep.teacher
    teacher_bytes = teacher.bytes[0]
    seeds = len(sweep.stages("a")[0].val.seeds)
    print(f"\nBytes of the files (cached sweep: {len(sweep.arms)} arms, {seeds} seeds; "
          f"chosen on validation means)")
    print(f"teacher 64-256-256-10: {teacher_bytes:,} bytes, validation {teacher.val.mean:.2f} %")
    choice = sweep.teacher_choice
    if choice:
        small = sweep.one(kind="teacher compressed", sparsity=choice["sparsity"], bits=choice["bits"])
        print(f"order (b)'s compressed teacher: {small.name}: {small.bytes[0]:,} bytes "
              f"({teacher_bytes / small.bytes[0]:.0f}x), validation {small.val.mean:.2f} %")
    head = f"  {'rule':<10} {'model':<40} {'bytes: mean':>11} {'(min-max over seeds)':>22} {'ratio':>6} {'val %':>6}"
    for order, title in (("a", "distil, then compress"), ("b", "compress the teacher, then distil")):
        arms = sweep.stages(order)
        print(f"order ({order}), {title}: {len(arms)} snapshots")
        print(head)
        found = {f"{TOLERANCE:g}-pt line": smallest_within(arms, teacher, TOLERANCE),
                 **{f"{r}x": best_within_budget(arms, teacher, r) for r in RATIOS}}
        for rule, arm in found.items():
            if arm is None:
                print(f"  {rule:<10} none qualifies")
                continue
            low_high = f"({min(arm.bytes):,}-{max(arm.bytes):,})"
            print(f"  {rule:<10} {arm.name:<40} {arm.mean_bytes:>11,.0f} {low_high:>22} "
                  f"{teacher_bytes / arm.mean_bytes:>5.0f}x {arm.val.mean:>6.2f}")


def live_files(sweep, split, teacher, student, teacher_logits) -> None:
    """Seed 0's order-(a) stages rebuilt as notebook 06 section 2 does, each a real file, read back."""
    arms = sweep.stages("a")
    line = smallest_within(arms, sweep.teacher, TOLERANCE) or max(arms, key=lambda a: a.val.mean)
    units, sparsity, bits = line.params["unit_sparsity"], line.params["sparsity"], line.params["bits"]
    start = time.perf_counter()
    stages = compress_student(student, split.X_train, split.y_train, teacher_logits, PIPELINE_RECIPE, units)
    seconds = time.perf_counter() - start
    print(f"\nLive: seed 0 compressed (units -{units:.0%}) in {seconds:.1f} s, {len(stages)} snapshots; "
          f"the files of the line's choice ({line.name}) against the sweep's seed 0")
    model, shared = stages[(sparsity, bits)]
    chain = [("teacher", teacher, "dense", None, sweep.teacher),
             ("student, distilled", student, "dense", None, None),
             (f"units -{units:.0%}", stages[(0.0, None)][0], "dense", None, None),
             (f"pruned {sparsity:.0%}", stages[(sparsity, None)][0], "pruned", None,
              sweep.one(kind="pipeline", order="a", unit_sparsity=units, sparsity=sparsity, bits=None))]
    if bits is not None:
        chain += [(f"{bits}-bit codes", model, "quantized", shared, None), ("Huffman", model, "huffman", shared, line)]
    print(f"  {'stage':<20} {'file':<9} {'bytes':>8} {'ratio':>7} {'sweep, seed 0':>14}  read back identical")
    with tempfile.TemporaryDirectory() as folder:
        for i, (name, m, stage, s, arm) in enumerate(chain):
            report = save_compressed(m, Path(folder) / f"{i}_{stage}.dc", stage=stage, shared=s)
            read_back = load_compressed(report.path)
            same = torch.equal(predict_logits(read_back, split.X_val), predict_logits(m, split.X_val))
            cached = f"{arm.bytes[0]:,}" if arm is not None else "-"
            print(f"  {name:<20} {stage:<9} {report.bytes:>8,} {sweep.teacher.bytes[0] / report.bytes:>6.1f}x "
                  f"{cached:>14}  {same}")


# --- 2. latency -------------------------------------------------------------------------------


def latency(split, teacher, teacher_logits, folder: Path, full: bool) -> None:
    repeats, min_run_time = (7, 0.1) if full else (3, 0.02)
    models: dict[str, object] = {"teacher PyTorch fp32": teacher}
    sizes = []
    for layer_sizes in LATENCY_STUDENTS:
        name = "-".join(map(str, layer_sizes))
        student, _ = train_student(split.X_train, split.y_train, teacher_logits=teacher_logits, seed=0,
                                   sizes=layer_sizes)
        fp32 = export_onnx(student, folder / f"{name}_fp32.onnx")
        dynamic = quantize_dynamic_onnx(fp32, folder / f"{name}_dynamic.onnx")
        codes = int8_onnx(Int8MLP(FakeQuantMLP(student, weight_bits=8, activation_bits=8)
                                  .calibrate(split.X_train[:256])), folder / f"{name}_int8.onnx")
        models.update({f"{name} PyTorch fp32": student, f"{name} ORT fp32": fp32,
                       f"{name} ORT int8 (dynamic)": dynamic, f"{name} ORT int8 (workbook codes)": codes})
        sizes += [(f"{name} ORT {kind}", onnx_bytes(p)) for kind, p in
                  (("fp32", fp32), ("int8 (dynamic)", dynamic), ("int8 (workbook codes)", codes))]
    print("\nONNX files (bytes: whole file, of which weights):")
    for name, b in sizes:
        print(f"  {name:<34} {b.file:>8,} {b.initializers:>8,}")
    print(f"\nLatency per batch: speed-up = teacher PyTorch fp32 time / this time (> 1: faster), median (min-max) "
          f"over {repeats} alternating repeats of {min_run_time} s; all threads = {all_threads()}")
    rows = latency_table(models, split.X_train, baseline="teacher PyTorch fp32", batch_sizes=BATCH_SIZES,
                         num_threads_list=(1, None), repeats=repeats, min_run_time=min_run_time)
    print(format_latency_table(rows))
    teacher_at = {(r.batch_size, r.num_threads): r.seconds for r in rows if r.model == "teacher PyTorch fp32"}
    for b in BATCH_SIZES:
        one, every = teacher_at[(b, 1)], teacher_at[(b, all_threads())]
        if all_threads() > 1 and every > 1.5 * one:
            print(f"note: at batch {b} the teacher is slower on {all_threads()} threads than on 1 "
                  f"({every * 1e3:.3g} ms against {one * 1e3:.3g} ms): PyTorch's threads are contending with other "
                  "processes for the cores, so the all-threads speed-ups at this batch measure the machine's "
                  "load, not the runtimes")


# --- 3. the sliders ---------------------------------------------------------------------------


def widget_student(split, teacher):
    """The student the widget (and the live run of section 1) uses: 64-256-10, distilled on jittered copies."""
    r = PIPELINE_RECIPE
    student, _ = train_student(split.X_train, split.y_train, teacher=teacher, augment_copies=r["augment_copies"],
                               temperature=r["temperature"], lam=r["lam"], sizes=r["student_sizes"], seed=r["seeds"][0])
    return student


def sliders(split, student, sweep, full: bool, trained: float) -> None:
    """The widget's callback, timed per change: ``pipeline_preview``, then ``draw_preview`` rendered to PNG."""
    r = PIPELINE_RECIPE
    teacher_arm = sweep.teacher
    teacher_bytes = teacher_arm.bytes[0]
    val_set = (split.X_val, split.y_val)
    points = [(a.mean_bytes, a.val.mean, a.name) for a in sweep.stages("a")]
    settings = [(0.0, None), (0.5, 4), (0.8, 4), (0.9, 3), (0.95, 2), (0.99, 8)]
    if full:
        settings += [(0.0, 1), (0.3, None), (0.7, 5), (0.85, 6), (0.97, 3)]
    rounds = 3 if full else 1

    def preview(sparsity, bits):
        return pipeline_preview(student, sparsity, bits, eval_set=val_set, teacher_bytes=teacher_bytes,
                                index_bits=r["index_bits"])

    def draw(view) -> bytes:
        return figure_png(draw_preview(view, points, teacher_accuracy=teacher_arm.val.mean,
                                       teacher_bytes=teacher_bytes))

    draw(preview(0.8, 4))  # warm-up: the first figure loads fonts
    print(f"\nThe sliders' update on the widget's student 64-256-10 (distilled on {r['augment_copies']} jittered "
          f"copies, seed 0, trained in {trained:.1f} s), 1 thread, {rounds} timed change(s) per setting "
          "(their median); goal <= 0.5 s per change")
    print(f"  {'sparsity':>8} {'bits':>7} {'bytes':>8} {'ratio':>6} {'val %':>6} {'preview':>9} {'+ PNG':>9}")
    previews, updates = [], []
    for sparsity, bits in settings:
        p, u = [], []
        for _ in range(rounds):
            t0 = time.perf_counter()
            view = preview(sparsity, bits)
            t1 = time.perf_counter()
            draw(view)
            p.append(t1 - t0)
            u.append(time.perf_counter() - t0)
        previews += p
        updates += u
        print(f"  {sparsity:>8.0%} {'float32' if bits is None else bits:>7} {view.bytes:>8,} {view.ratio:>5.0f}x "
              f"{view.accuracy:>6.1f} {statistics.median(p):>7.3f} s {statistics.median(u):>7.3f} s")
    print(f"  pipeline_preview (copy, prune, share, write, evaluate): {spread(previews)}")
    print(f"  + draw_preview, rendered to PNG (one change):           {spread(updates)}")


def main(full: bool = False) -> None:
    start = time.perf_counter()
    threads_before = torch.get_num_threads()
    torch.set_num_threads(1)  # as the notebook does; latency_table sets its own thread counts
    try:
        split = load_split()
        teacher, _ = load_teacher(split=split)
        teacher_logits = predict_logits(teacher, split.X_train)  # (1079, 10)
        sweep = load_sweep(teacher, split)
        print(f"torch {torch.__version__}; {'full' if full else 'default'} run; {load()}")
        bytes_table(sweep)
        t0 = time.perf_counter()
        student = widget_student(split, teacher)
        trained = time.perf_counter() - t0
        if full:
            live_files(sweep, split, teacher, student, teacher_logits)
        with tempfile.TemporaryDirectory(prefix="bench-nb06-") as folder:
            latency(split, teacher, teacher_logits, Path(folder), full)
        sliders(split, student, sweep, full, trained)
    finally:
        torch.set_num_threads(threads_before)
    print(f"\n({time.perf_counter() - start:.1f} s; {load()})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--full", action="store_true",
                        help="more repeats and settings; seed 0's stages rebuilt live as real files")
    main(full=parser.parse_args().full)
