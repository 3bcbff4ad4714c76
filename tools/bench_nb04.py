"""Notebook 04's figures: serialized sizes, int8 kernels against fake quantization, int8 vs float32
latency, widget update latency.

Printed, never asserted. Latencies are medians over alternating timing rounds in one process
(``distill_lib.quantization.median_latency``), reported as ratios to float32 in the same round,
on one thread and on the default number of threads.

Usage: ``python tools/bench_nb04.py [--repeats N]`` (also run by ``tools/benchmark.py``).
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import torch

from distill_lib.data import load_split
from distill_lib.student import train_student
from distill_lib.models import serialized_size
from distill_lib.quantization import (
    FakeQuantMLP,
    Int8MLP,
    cpu_int8_features,
    median_latency,
    plot_weight_quantization,
    torch_ao_int8_mlp,
    weight_bytes,
)
from distill_lib.teacher import load_teacher
from distill_lib.training import predict_logits


def quantized_student():
    split = load_split()
    teacher, _ = load_teacher(split=split)
    teacher_logits = predict_logits(teacher, split.X_train)
    student, _ = train_student(split.X_train, split.y_train, teacher_logits=teacher_logits, seed=0)
    q8 = FakeQuantMLP(student, weight_bits=8, activation_bits=8).calibrate(split.X_train[:256])
    return split, student, q8


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
    print(f"  {'model state_dict (Int8MLP)':<40} {model:>9,} {serialized_size(int8):>9,} "
          f"{model / serialized_size(int8):>6.2f}x")
    print(f"  {'model state_dict (torch.ao x86)':<40} {model:>9,} {serialized_size(ao):>9,} "
          f"{model / serialized_size(ao):>6.2f}x")


def kernel_agreement(split, student, q8) -> None:
    """How often PyTorch's int8 kernels give other hidden codes than our fake quantization (notebook 04, §5)."""
    q7 = FakeQuantMLP(student, weight_bits=8, activation_bits=7).calibrate(split.X_train[:256])
    print("\nHidden codes of torch.ao's int8 kernels against our fake quantization (test set):")
    for engine, qm in (("x86", q8), ("x86", q7), ("qnnpack", q8)):
        if engine not in torch.backends.quantized.supported_engines:
            continue
        theirs = torch_ao_int8_mlp(qm, engine=engine).codes(split.X_test)[1]
        gap = (theirs - qm.input_codes(split.X_test)[1]).abs()
        print(f"  {engine:>8}, {qm.activation_bits}-bit activations: {(gap > 0).float().mean().item():.3%} differ, "
              f"largest gap {gap.max().item()} codes")


def latency(student, int8, aos: dict, repeats: int) -> None:
    models = {"float32": student, "int8 torch._int_mm": int8, **aos}
    for threads in (1, torch.get_num_threads()):
        previous = torch.get_num_threads()
        torch.set_num_threads(threads)
        print(f"\nLatency per forward pass, {threads} thread(s), median of {repeats} alternating rounds "
              "(ratio = time / float32 time in the same round; > 1 is slower than float32):")
        print(f"  {'batch':>6} " + "".join(f"{name:>26}" for name in models))
        for batch in (1, 359, 4096):
            X = torch.rand(batch, 64, generator=torch.Generator().manual_seed(batch))
            number = {1: 50, 359: 10, 4096: 2}[batch]  # calls per round and model
            with torch.no_grad():
                calls = {n: (lambda m=m: m(X)) for n, m in models.items()}
                result = median_latency(calls, repeats=repeats, number=number)
            cells = [f"{1e6 * r['seconds']:>13.1f} us {r['ratio']:>7.2f}x" for r in result.values()]
            print(f"  {batch:>6} " + "".join(cells))
        torch.set_num_threads(previous)


def widget_latency(student, repeats: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    weight = student[0].weight.detach()
    print("\nWidget update (plot_weight_quantization + draw, Agg backend), median over rounds:")
    for bits in (2, 4, 8):
        times = []
        for _ in range(repeats + 1):
            start = time.perf_counter()
            fig, ax = plt.subplots(figsize=(9, 3))
            plot_weight_quantization(weight, bits, ax=ax)
            fig.canvas.draw()
            plt.close(fig)
            times.append(time.perf_counter() - start)
        print(f"  bits={bits}: {1e3 * statistics.median(times[1:]):.1f} ms")


def main(repeats: int = 7) -> None:
    warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"torch\.ao")
    warnings.filterwarnings("ignore", message=r".*quantized tensor creation functions.*")
    features = cpu_int8_features()
    flags = "unknown" if features is None else features
    print(f"torch {torch.__version__}, CPU capability {torch.backends.cpu.get_cpu_capability()}, "
          f"int8 dot-product flags {flags}, threads {torch.get_num_threads()}")
    split, student, q8 = quantized_student()
    int8 = Int8MLP(q8)
    aos = {f"int8 torch.ao {e}": torch_ao_int8_mlp(q8, engine=e) for e in ("x86", "qnnpack")
           if e in torch.backends.quantized.supported_engines}
    sizes(student, int8, aos.get("int8 torch.ao x86", next(iter(aos.values()))))
    kernel_agreement(split, student, q8)
    latency(student, int8, aos, repeats)
    widget_latency(student, repeats)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=7)
    main(parser.parse_args().repeats)
