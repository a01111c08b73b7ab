"""The accelerator path against the CPU on study 001's small CNN (Fashion-MNIST): same weights,
same data, same random draws (directions and Rademacher vectors are drawn on the CPU), so every
difference is float arithmetic on a different device.

1. Training throughput: one epoch of plain SGD (batch 128) on the CPU and on the accelerator,
   images/s each. The model trained on the CPU is the one probed below.
2. Each probe on both devices, with seconds and the difference: the test loss, λmax
   (Lanczos, ARPACK, tight tolerance), the Hutchinson trace (same Rademacher vectors), and a
   2-D surface over [-1, 1]² (filter-normalized directions): the largest |loss difference| over
   the grid, against the probe-set noise (standard error of the mean loss at the centre).

Needs CUDA or MPS (exit 2 otherwise). With ``--grid 21 --hvp-samples 1024`` it took about 1.5 minutes on one H200
(16 CPU threads on the CPU side; the CPU's 51 × 51 surface alone takes minutes).
Usage: PYTHONPATH=lib python bench/bench_device.py [--device cuda] [--threads 4] [--grid 51]
"""
from __future__ import annotations

import argparse
import copy
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

from landscape.core.runtime import DeviceError, make_deterministic, seed_everything, select_device
from landscape.geometry.curvature import hutchinson_trace, lanczos
from landscape.geometry.directions import plane_directions
from landscape.geometry.operators import HessianOperator
from landscape.geometry.surfaces import surface_2d
from landscape.learning.data import batch_indices, load_dataset, stratified_indices
from landscape.learning.evaluation import evaluate
from landscape.learning.models import build_model, use_fast_layout


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="auto", help="the accelerator: auto (CUDA, then MPS), cuda, cuda:N, mps")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads for the CPU side (default 1)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--hvp-samples", type=int, default=2048, help="training images for λmax and the trace")
    parser.add_argument("--trace-samples", type=int, default=20, help="Rademacher vectors for the trace")
    parser.add_argument("--grid", type=int, default=51, help="points per axis of the surface")
    parser.add_argument("--surface-samples", type=int, default=2000, help="test images for the surface")
    return parser.parse_args()


def synchronize() -> None:
    """Wait for the accelerator's queued kernels (CUDA or MPS), so that a timer sees them."""
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    elif torch.backends.mps.is_available():
        torch.mps.synchronize()


def timed(function):
    synchronize()
    start = time.perf_counter()
    result = function()
    synchronize()
    return result, time.perf_counter() - start


def train_epoch(device: torch.device, seed: int) -> tuple[torch.nn.Module, float]:
    """cnn_small after one epoch of SGD (lr 0.05, momentum 0.9, batch 128) on ``device``; images/s."""
    generator = seed_everything(seed)
    model = use_fast_layout(build_model("cnn_small", (1, 28, 28)).to(device))
    train = load_dataset("fashion_mnist", "train", "unit")
    images, labels = train.images.to(device), train.labels.to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    model.train()

    def epoch():
        for index in batch_indices(len(train), 128, shuffle=True, generator=generator):
            index = index.to(device)
            optimizer.zero_grad(set_to_none=True)
            F.cross_entropy(model(images[index]), labels[index]).backward()
            optimizer.step()

    _, seconds = timed(epoch)
    return model.eval(), len(train) / seconds


def on_both(model_cpu: torch.nn.Module, accelerator: torch.device, probe) -> list[tuple[object, float]]:
    """``probe(model)`` on the CPU model and on a copy moved to ``accelerator``: (result, seconds) each."""
    model_accelerator = copy.deepcopy(model_cpu).to(accelerator)
    return [timed(lambda m=m: probe(m)) for m in (model_cpu, model_accelerator)]


def main() -> None:
    args = parse_args()
    try:
        accelerator = select_device(args.device)
    except DeviceError as error:
        accelerator, reason = None, str(error)
    else:
        reason = "no CUDA or MPS device here; this benchmark compares an accelerator with the CPU"
    if accelerator is None or accelerator.type == "cpu":
        print(f"error: {reason}", file=sys.stderr)
        sys.exit(2)
    torch.set_num_threads(args.threads)
    make_deterministic()  # the arithmetic the suite's jobs use (full float32 on CUDA)
    name = torch.cuda.get_device_name(accelerator) if accelerator.type == "cuda" else accelerator.type
    print(f"accelerator {name}; torch {torch.__version__}; CPU side on {args.threads} thread(s)")

    model, cpu_rate = train_epoch(torch.device("cpu"), args.seed)
    _, accelerator_rate = train_epoch(accelerator, args.seed)
    print(f"training one epoch, cnn_small, batch 128: CPU {cpu_rate:,.0f} img/s, {name} {accelerator_rate:,.0f} "
          f"img/s ({accelerator_rate / cpu_rate:.1f}x)")

    train = load_dataset("fashion_mnist", "train", "unit")
    test = load_dataset("fashion_mnist", "test", "unit")
    hvp_set = train.subset(stratified_indices(train.labels, args.hvp_samples, seed=args.seed))
    surface_set = test.subset(stratified_indices(test.labels, args.surface_samples, seed=args.seed))
    rows = []

    (cpu, t_cpu), (acc, t_acc) = on_both(model, accelerator, lambda m: evaluate(m, surface_set))
    rows.append(("test loss (nats)", cpu.loss, acc.loss, abs(cpu.loss - acc.loss) / abs(cpu.loss), t_cpu, t_acc))

    def top(m):
        return lanczos(HessianOperator(m, hvp_set, chunk_size=512), k=1, tol=1e-6, seed=args.seed).eigenvalues[0]

    (cpu, t_cpu), (acc, t_acc) = on_both(model, accelerator, top)
    rows.append(("λmax (Lanczos tol 1e-6)", cpu, acc, abs(cpu - acc) / abs(cpu), t_cpu, t_acc))

    def trace(m):
        return hutchinson_trace(HessianOperator(m, hvp_set, chunk_size=512), args.trace_samples, seed=args.seed).trace

    (cpu, t_cpu), (acc, t_acc) = on_both(model, accelerator, trace)
    rows.append((f"Hutchinson trace ({args.trace_samples} vectors)", cpu, acc, abs(cpu - acc) / abs(cpu), t_cpu, t_acc))

    axis = np.linspace(-1.0, 1.0, args.grid)

    def plane(m):
        d1, d2 = plane_directions(m, seed=args.seed)
        return surface_2d(m, {"test": surface_set}, d1, d2, axis, axis)

    (cpu, t_cpu), (acc, t_acc) = on_both(model, accelerator, plane)
    worst = float(np.max(np.abs(cpu["loss"].to_numpy() - acc["loss"].to_numpy())))
    noise = float(cpu.loc[(cpu["alpha"].abs() < 1e-12) & (cpu["beta"].abs() < 1e-12), "loss_se"].iloc[0])
    rows.append((f"surface {args.grid}x{args.grid}: max |Δloss| (nats)", float(cpu["loss"].max()),
                 float(acc["loss"].max()), worst, t_cpu, t_acc))

    print(f"\n{'quantity':44} {'CPU':>12} {name[:12]:>12} {'difference':>11} {'CPU s':>8} {'acc. s':>8} {'speed-up':>8}")
    for label, on_cpu, on_acc, difference, t_cpu, t_acc in rows:
        print(f"{label:44} {on_cpu:12.6g} {on_acc:12.6g} {difference:11.2e} {t_cpu:8.2f} {t_acc:8.2f} "
              f"{t_cpu / t_acc:7.1f}x")
    print("difference: relative for the first three rows; for the surface, the largest absolute loss difference "
          f"over the grid in nats, beside the probe-set noise at its centre ({noise:.2e} nats)")


if __name__ == "__main__":
    main()
