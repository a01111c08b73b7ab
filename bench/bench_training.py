"""Training throughput of the engine vs a bare in-memory PyTorch loop, per zoo model.

For each model (on the data shape and batch size its study uses) both loops run over the same
shuffled index batches of preloaded tensors: the bare loop does forward, loss, backward, step and
nothing else; the engine's epoch (landscape.learning.training) also tracks loss, accuracy, gradient norm
and divergence. Prints images/s for both, their ratio, and the time of one full training epoch
(measured when short, otherwise extrapolated from the measured throughput, and marked so).
Also compares memory layouts (channels_last vs contiguous) and glibc malloc settings.

Usage: python bench/bench_training.py [--batches N] [--models a,b] [--skip-extras]
"""
from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
import time

import torch
import torch.nn.functional as F

from landscape.learning import data as data_mod
from landscape.learning.models import build_model, use_fast_layout
from landscape.learning.training import DataSpec, RunSpec, TrainConfig, _train_epoch, load_splits, train

# (label, model, options, data spec, batch size, lr) as in the studies
CASES = [
    ("000 Model A (mlp)", "mlp", {"hidden": [256, 128]}, DataSpec("fashion_mnist", "unit"), 128, 0.01),
    ("000 Model B (cnn_bn_dropout)", "cnn_bn_dropout", {}, DataSpec("fashion_mnist", "unit"), 128, 0.01),
    ("001 cnn_small", "cnn_small", {}, DataSpec("fashion_mnist", "unit"), 128, 0.01),
    ("002 mlp(256)", "mlp", {"hidden": [256]}, DataSpec("mnist", "mnist"), 128, 0.01),
    ("002 cnn_two16", "cnn_two16", {}, DataSpec("mnist", "mnist"), 128, 0.01),
    ("002 residual cnn_two16", "cnn_two16", {"residual": True}, DataSpec("mnist", "mnist"), 128, 0.01),
    ("003 cnn_3264 + BN", "cnn_3264", {"batchnorm": True}, DataSpec("fashion_mnist", "half"), 128, 0.01),
    ("004 resnet20 skip+BN", "resnet20", {"skip": True, "batchnorm": True},
     DataSpec("fashion_mnist", "half", pad_to=32, channels=3), 32, 0.1),
    ("004 resnet20 no skip, BN", "resnet20", {"skip": False, "batchnorm": True},
     DataSpec("fashion_mnist", "half", pad_to=32, channels=3), 32, 0.1),
]
MEASURED_EPOCH_LIMIT_S = 45.0  # measure a full epoch when the estimate is below this
MIN_TIMING_S = 3.0  # each timed loop runs at least this long


def bare_loop(model, x, y, batches, lr):
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    model.train()
    start = time.perf_counter()
    for idx in batches:
        loss = F.cross_entropy(model(x[idx]), y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return time.perf_counter() - start


def engine_loop(model, x, y, batch_size, lr, n_batches):
    cfg = TrainConfig(epochs=1, batch_size=batch_size, lr=lr)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    n = n_batches * batch_size
    start = time.perf_counter()
    _train_epoch(model, opt, x[:n], y[:n], cfg, torch.Generator().manual_seed(0), None)
    return time.perf_counter() - start


def fresh(name, options, shape, layout=True):
    torch.manual_seed(0)
    model = build_model(name, shape, **options)
    return use_fast_layout(model) if layout else model


def throughput(case, n_batches, layout=True):
    label, name, options, spec, bs, lr = case
    train_ds, _ = load_splits(spec)
    x, y = train_ds.images, train_ds.labels
    shape = tuple(x.shape[1:])
    warm = data_mod.batch_indices(20 * bs, bs, shuffle=True, generator=torch.Generator().manual_seed(0))
    # warm-up: the first steps on new shapes build oneDNN kernels and grow the allocator (seconds)
    bare_loop(fresh(name, options, shape, layout), x, y, warm[:10], lr)
    engine_loop(fresh(name, options, shape, layout), x, y, bs, lr, 10)
    # time at least MIN_TIMING_S per loop, so fast models are not timed on a few milliseconds
    per_batch = bare_loop(fresh(name, options, shape, layout), x, y, warm[10:], lr) / 10
    n_batches = min(len(train_ds) // bs, max(n_batches, math.ceil(MIN_TIMING_S / per_batch)))
    n = n_batches * bs
    batches = data_mod.batch_indices(n, bs, shuffle=True, generator=torch.Generator().manual_seed(0))
    bare_times, engine_times = [], []
    for _ in range(2):  # alternate, keep the best of each: the least disturbed by anything else
        bare_times.append(bare_loop(fresh(name, options, shape, layout), x, y, batches, lr))
        engine_times.append(engine_loop(fresh(name, options, shape, layout), x, y, bs, lr, n_batches))
    return n / min(bare_times), n / min(engine_times), len(train_ds)


def epoch_time(case, engine_ips, n_train):
    label, name, options, spec, bs, lr = case
    estimate = n_train / engine_ips
    if estimate > MEASURED_EPOCH_LIMIT_S:
        return estimate, "extrapolated"
    start = time.perf_counter()
    train(RunSpec.make(spec, name, TrainConfig(epochs=1, batch_size=bs, lr=lr), 0, **options))
    return time.perf_counter() - start, "measured"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--batches", type=int, default=60)
    parser.add_argument("--models", default="")
    parser.add_argument("--skip-extras", action="store_true")
    parser.add_argument("--malloc-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    cases = [c for c in CASES if not args.models or c[1] in args.models.split(",")]
    if args.malloc_child:
        bare, _, _ = throughput(cases[0], args.batches)
        print(f"{bare:.1f}")
        return
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device cpu, {args.batches} batches per timing")
    print(f"{'model':<30} {'bare img/s':>10} {'engine img/s':>12} {'ratio':>6} {'epoch s':>8}")
    for case in cases:
        bare, engine, n_train = throughput(case, args.batches)
        seconds, how = epoch_time(case, engine, n_train)
        print(f"{case[0]:<30} {bare:>10.0f} {engine:>12.0f} {engine / bare:>6.2f} {seconds:>8.1f} ({how}, {n_train} images)")
    if args.skip_extras:
        return
    print("\nmemory layout (bare loop img/s): contiguous vs channels_last")
    for case in [c for c in cases if c[1] in ("cnn_bn_dropout", "cnn_3264", "resnet20")][:3]:
        contiguous, _, _ = throughput(case, args.batches // 2, layout=False)
        channels_last, _, _ = throughput(case, args.batches // 2, layout=True)
        print(f"  {case[0]:<30} {contiguous:>8.0f} vs {channels_last:>8.0f}  ({channels_last / contiguous:.2f}x)")
    print("\nglibc malloc settings (bare loop img/s, 000 Model B): defaults vs Makefile settings")
    results = {}
    for label, strip in (("defaults", True), ("tuned", False)):
        env = dict(os.environ)
        if strip:
            for key in ("MALLOC_MMAP_MAX_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_"):
                env.pop(key, None)
        else:
            env.update(MALLOC_MMAP_MAX_="0", MALLOC_TRIM_THRESHOLD_="17179869184", MALLOC_TOP_PAD_="1073741824")
        out = subprocess.run([sys.executable, __file__, "--malloc-child", "--models", "cnn_bn_dropout",
                              "--batches", str(args.batches)], env=env, capture_output=True, text=True, check=True)
        results[label] = float(out.stdout.strip().splitlines()[-1])
    print(f"  defaults {results['defaults']:.0f}, tuned {results['tuned']:.0f} ({results['tuned'] / results['defaults']:.2f}x)")


if __name__ == "__main__":
    main()
