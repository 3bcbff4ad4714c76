"""Notebook 04's figures: bytes, integer-only agreement, int8 vs float32 speed (with spread), widget latency.

Printed, never asserted. Uses the functions notebook 04 uses (``calibration_set``, ``FakeQuantMLP``,
``Int8MLP`` and its cores ``integer_linear`` / ``requantize``, ``torch_ao_int8_mlp``,
``plot_weight_quantization``), never the notebook's cells. Speed comes from the workbook's one
timing helper, :mod:`distill_lib.timing` (``torch.utils.benchmark``): a ratio is float32 time /
int8 time, **> 1 means int8 is faster**, reported as the median and the min-max over alternating
repeats; a ratio whose repeats span more than a factor of 2 is dropped as meaningless.

Default run (``main()``): one thread, batches of 1 and 359 images, about 20-30 s. ``main(full=True)``
adds 4,096 images, the machine's default thread count, and longer measurements.

Usage: ``python tools/bench_nb04.py [--full]`` (also run by ``tools/benchmark.py``).
"""

from __future__ import annotations

import argparse
import time
import warnings

import torch

from distill_lib.data import load_split
from distill_lib.models import serialized_size
from distill_lib.quantization import (
    FakeQuantMLP,
    Int8MLP,
    calibration_set,
    cpu_int8_features,
    integer_linear,
    plot_weight_quantization,
    requantize,
    torch_ao_int8_mlp,
    weight_bytes,
)
from distill_lib.student import train_student
from distill_lib.teacher import load_teacher
from distill_lib.timing import Speedup, measure, speedup
from distill_lib.training import predict_logits

#: A speed ratio whose repeats span more than this factor (max / min) is not printed as a figure.


def quantized_student(seed: int = 0):
    """The notebook's W8A8 student of one seed: trained, calibrated on 256 training images, converted."""
    split = load_split()
    teacher, _ = load_teacher(split=split)
    teacher_logits = predict_logits(teacher, split.X_train)
    student, _ = train_student(split.X_train, split.y_train, teacher_logits=teacher_logits, seed=seed)
    q8 = FakeQuantMLP(student, weight_bits=8, activation_bits=8).calibrate(calibration_set(split.X_train, 256, seed))
    return split, student, q8, Int8MLP(q8)


def sizes(student, int8, ao) -> None:
    state = student.state_dict()
    fp32 = weight_bytes({name: state[name] for name in ("0.weight", "2.weight")})
    q = weight_bytes({"weight_0": int8.weight_0, "weight_1": int8.weight_1})
    print("Serialized sizes (torch.save), bytes:")
    print(f"  {'':<40} {'float32':>9} {'int8':>9} {'ratio':>7}")
    print(f"  {'weights: tensor payload in the file':<40} {fp32['payload']:>9,} {q['payload']:>9,} "
          f"{fp32['payload'] / q['payload']:>6.2f}x  (goal 4.0x)")
    print(f"  {'weights: whole file':<40} {fp32['file']:>9,} {q['file']:>9,} {fp32['file'] / q['file']:>6.2f}x")
    model = serialized_size(student)
    for name, m in (("model state_dict (Int8MLP)", int8), ("model state_dict (torch.ao x86)", ao)):
        if m is not None:
            print(f"  {name:<40} {model:>9,} {serialized_size(m):>9,} {model / serialized_size(m):>6.2f}x")


def agreement(split, q8, int8) -> None:
    """The integer-only model against the fake-quant model it was built from (notebook 04, §5)."""
    print("\nInteger-only (Int8MLP) vs fake quantization:")
    for name, X in (("validation", split.X_val), ("test", split.X_test)):
        gaps = torch.cat([(a - b).abs().flatten() for a, b in zip(int8.input_codes(X), q8.input_codes(X))])
        agree = (predict_logits(int8, X).argmax(1) == predict_logits(q8, X).argmax(1)).float().mean().item()
        print(f"  {name:>10}: predictions agree on {100 * agree:.2f} %; {100 * (gaps > 0).float().mean():.3f} % of the "
              f"codes differ, by at most {int(gaps.max())} step")


def kernel_agreement(split, student, q8) -> None:
    """How often PyTorch's int8 kernels give other hidden codes than our fake quantization (notebook 04, §5)."""
    q7 = FakeQuantMLP(student, weight_bits=8, activation_bits=7).calibrate(calibration_set(split.X_train, 256, 0))
    print("\nHidden codes of torch.ao's int8 kernels against our fake quantization (validation set):")
    for engine, qm in (("x86", q8), ("x86", q7), ("qnnpack", q8)):
        if engine not in torch.backends.quantized.supported_engines:
            continue
        theirs = torch_ao_int8_mlp(qm, engine=engine).codes(split.X_val)[1]
        gap = (theirs - qm.input_codes(split.X_val)[1]).abs()
        print(f"  {engine:>8}, {qm.activation_bits}-bit activations: {(gap > 0).float().mean().item():.3%} differ, "
              f"largest gap {gap.max().item()} codes")


def describe(s: Speedup) -> str:
    if not s.meaningful:
        return str(s)
    verdict = "int8 faster" if s.low > 1 else "int8 slower" if s.high < 1 else "no consistent direction"
    return f"{s}  -> {verdict}"


def speed(student, int8, ao, full: bool) -> None:
    repeats, min_run_time = (9, 0.3) if full else (5, 0.1)
    batches = (1, 359, 4096) if full else (1, 359)
    threads = sorted({1, torch.get_num_threads()}) if full else [1]
    candidates = {"integer-only Int8MLP": int8}
    if ao is not None:
        candidates["torch.ao x86 (A7)"] = ao
    for num_threads in threads:
        print(f"\nSpeed, {num_threads} thread(s): float32 time / int8 time (> 1: int8 faster), median (min-max) over "
              f"{repeats} alternating repeats")
        with torch.inference_mode():
            for batch in batches:
                X = torch.rand(batch, 64, generator=torch.Generator().manual_seed(batch))
                for name, model in candidates.items():
                    s = speedup(lambda: student(X), lambda m=model: m(X), num_threads=num_threads, repeats=repeats,
                                min_run_time=min_run_time)
                    print(f"  {batch:>5} images, {name:<22} {describe(s)}")


def breakdown(int8, full: bool) -> None:
    """Where the integer-only model's time goes, on 359 images: the integer product and requantization."""
    min_run_time = 0.3 if full else 0.05
    layer = int8.layers[0]
    with torch.inference_mode():
        q = int8.quantize_input(torch.rand(359, 64, generator=torch.Generator().manual_seed(0)))
        acc = integer_linear(q, layer)
        weight = layer.weight.to(torch.float32)
        q_float = q.to(torch.float32)
        parts = {
            "int8 x int8 -> int32 (torch._int_mm)": lambda: torch._int_mm(q, layer.weight.t()),
            "the same product in float32 (q @ W.T)": lambda: q_float @ weight.t(),
            "integer_linear (product + folded terms)": lambda: integer_linear(q, layer),
            "requantize (int64 fixed point)": lambda: requantize(acc, layer.multiplier, layer.shift,
                                                                 layer.output_zero_point, layer.output_min),
            "float rescale instead (acc * s + relu)": lambda: torch.relu(acc.to(torch.float32) * 1e-3),
        }
        print("\nWhere the time goes, layer 0 on 359 images, 1 thread (median, IQR):")
        for name, fn in parts.items():
            print(f"  {name:<42} {measure(fn, min_run_time=min_run_time)}")


def widget_latency(student, full: bool) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    weight = student[0].weight.detach()

    def update(bits: int) -> None:
        fig, ax = plt.subplots(figsize=(9, 3.4))
        plot_weight_quantization(weight, bits, ax=ax)  # lays the figure out too
        fig.canvas.draw()
        plt.close(fig)

    print("\nWidget update (plot_weight_quantization + draw, Agg backend), median (IQR):")
    for bits in (2, 4, 8):
        print(f"  bits={bits}: {measure(lambda b=bits: update(b), min_run_time=1.0 if full else 0.2)}")


def main(full: bool = False) -> None:
    start = time.perf_counter()
    warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"torch\.ao")
    warnings.filterwarnings("ignore", message=r".*quantized tensor creation functions.*")
    features = cpu_int8_features()
    print(f"torch {torch.__version__}, CPU capability {torch.backends.cpu.get_cpu_capability()}, "
          f"int8 dot-product flags {'unknown' if features is None else features}, threads {torch.get_num_threads()}")
    split, student, q8, int8 = quantized_student()
    ao = None  # the x86 engine with 7-bit activations, as its default qconfig (8 bits saturate without VNNI)
    if "x86" in torch.backends.quantized.supported_engines:
        q7 = FakeQuantMLP(student, weight_bits=8, activation_bits=7).calibrate(calibration_set(split.X_train, 256, 0))
        ao = torch_ao_int8_mlp(q7, engine="x86")
    sizes(student, int8, ao)
    agreement(split, q8, int8)
    kernel_agreement(split, student, q8)
    speed(student, int8, ao, full)
    breakdown(int8, full)
    widget_latency(student, full)
    print(f"\n({time.perf_counter() - start:.1f} s)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--full", action="store_true", help="also 4,096 images, all threads, longer measurements")
    main(full=parser.parse_args().full)
