"""Benchmark the geometry probes against their peers on study 001's small CNN (Fashion-MNIST).

1. λmax of the Hessian of the mean cross-entropy over a stratified training subset:
   our Lanczos (ARPACK), our residual-stopped Lanczos (``top_eigenpair``: cold, and warm-started
   from the ARPACK row's eigenvector as the trajectory probe starts each point from the previous
   one's) and power iteration vs PyHessian's power iteration (at its own
   tolerance and 10x tighter, since its stopping rule can stop short of it), same model, data
   and chunking: seconds, Hessian-vector products, and the relative error of λmax against a
   tightly converged Lanczos reference (computed afterwards, not timed).
2. A 2-D surface on a grid over [-1, 1]² along two filter-normalized directions, on a
   stratified test subset: the whole grid with ours, then back to back on every
   STRIDE-th point per axis: ours in place (two chunk sizes), ours with a functional call
   per chunk, and loss_landscapes' ``planar_interpolation`` fed the same directions (its
   start and end models are built so that its points lie on our grid, so the loss values
   are compared point by point). peer_time_ratio = peer seconds per point / ours.

At the default sizes this takes ~10-15 minutes on one thread (one Hessian-vector product
over 4,096 images costs ~10 s); ``--hvp-samples 1024 --grid 11`` takes ~3.
Usage: PYTHONPATH=lib python bench/bench_probes.py [--checkpoint state_dict.pt] [--threads 1]
Without a checkpoint the model is trained for one epoch (plain SGD) first. Peers come from
requirements-bench.txt. Prints two small tables and exits.
"""
from __future__ import annotations

import argparse
import copy
import time

import numpy as np
import torch
import torch.nn.functional as F

from landscape.geometry.curvature import lanczos, power_iteration, top_eigenpair
from landscape.geometry.operators import HessianOperator
from landscape.learning.data import batch_indices, load_dataset, stratified_indices
from landscape.geometry.directions import parameter_vector, plane_directions, to_dict
from landscape.learning.evaluation import evaluate
from landscape.learning.models import build_model, use_fast_layout
from landscape.core.runtime import seed_everything
from landscape.geometry.surfaces import surface_2d


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", help="state_dict of cnn_small (torch.save); default: train 1 epoch")
    parser.add_argument("--save-checkpoint", help="where to save the model trained here")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--hvp-samples", type=int, default=4096, help="size of the λmax set")
    parser.add_argument("--hvp-chunk", type=int, default=256, help="chunk / PyHessian batch size")
    parser.add_argument("--tol", type=float, default=1e-3,
                        help="ours (power iteration, top_eigenpair): stop at this relative residual; PyHessian: "
                             "stop when λ changes by less than this, relative")
    parser.add_argument("--lanczos-tol", type=float, default=3e-2,
                        help="ARPACK residual tolerance; λ error ≈ tol² λ/gap (the table shows the error reached)")
    parser.add_argument("--max-iter", type=int, default=100, help="power-iteration cap (ours and PyHessian)")
    parser.add_argument("--grid", type=int, default=21, help="points per axis of our surface")
    parser.add_argument("--peer-stride", type=int, default=5,
                        help="the peer evaluates every STRIDE-th grid point per axis (1: the whole grid)")
    parser.add_argument("--surface-samples", type=int, default=2000, help="test images for the surface")
    parser.add_argument("--surface-chunk", type=int, default=100, help="our chunk size for the surface")
    parser.add_argument("--skip", choices=["lambda", "surface"], action="append", default=[])
    return parser.parse_args()


def trained_model(args: argparse.Namespace) -> torch.nn.Module:
    generator = seed_everything(args.seed)
    model = build_model("cnn_small", (1, 28, 28))
    if args.checkpoint:
        model.load_state_dict(torch.load(args.checkpoint, weights_only=True))
        return model.eval()
    train = load_dataset("fashion_mnist", "train", "unit")
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    start = time.perf_counter()
    model.train()
    for index in batch_indices(len(train), 128, shuffle=True, generator=generator):
        optimizer.zero_grad(set_to_none=True)
        F.cross_entropy(model(train.images[index]), train.labels[index]).backward()
        optimizer.step()
    print(f"trained cnn_small for 1 epoch in {time.perf_counter() - start:.0f} s")
    if args.save_checkpoint:
        torch.save(model.state_dict(), args.save_checkpoint)
    return model.eval()


def timed(function):
    start = time.perf_counter()
    result = function()
    return result, time.perf_counter() - start


def lambda_max_table(model: torch.nn.Module, args: argparse.Namespace) -> tuple[list[dict], str]:
    import pyhessian

    train = load_dataset("fashion_mnist", "train", "unit")
    data = train.subset(stratified_indices(train.labels, args.hvp_samples, seed=args.seed))
    rows = []

    def operator() -> HessianOperator:
        return HessianOperator(model, data, chunk_size=args.hvp_chunk, cache_graphs=True)

    ours_lanczos, seconds = timed(lambda: lanczos(operator(), k=1, tol=args.lanczos_tol, seed=args.seed))
    rows.append({"method": f"ours Lanczos (ARPACK tol {args.lanczos_tol:g})", "lambda_max": ours_lanczos.eigenvalues[0],
                 "hvps": ours_lanczos.num_products, "seconds": seconds, "residual": ours_lanczos.residuals[0]})
    for start, words in ((None, "cold"), (ours_lanczos.eigenvectors[0], "warm")):
        result, seconds = timed(lambda: top_eigenpair(operator(), tol=args.tol, seed=args.seed, start=start))
        rows.append({"method": f"ours top_eigenpair, {words} (residual tol {args.tol:g})",
                     "lambda_max": result.eigenvalues[0], "hvps": result.num_products, "seconds": seconds,
                     "residual": result.residuals[0]})
    result, seconds = timed(lambda: power_iteration(operator(), k=1, max_iter=args.max_iter, tol=args.tol,
                                                    seed=args.seed))
    rows.append({"method": f"ours power iteration (residual tol {args.tol:g})", "lambda_max": result.eigenvalues[0],
                 "hvps": result.num_products, "seconds": seconds, "residual": result.residuals[0]})

    batches = [(data.images[i:i + args.hvp_chunk], data.labels[i:i + args.hvp_chunk])
               for i in range(0, len(data), args.hvp_chunk)]
    for tol in (args.tol, args.tol / 10):  # PyHessian's own rule, and tighter (its error can exceed tol)
        peer = pyhessian.hessian(copy.deepcopy(model), torch.nn.CrossEntropyLoss(), dataloader=batches, cuda=False)
        count = {"hvps": 0}
        product = peer.dataloader_hv_product

        def counted(v, product=product, count=count):
            count["hvps"] += 1
            return product(v)

        peer.dataloader_hv_product = counted
        torch.manual_seed(args.seed)
        (values, _), seconds = timed(lambda: peer.eigenvalues(maxIter=args.max_iter, tol=tol, top_n=1))
        rows.append({"method": f"PyHessian power iteration (tol {tol:g})", "lambda_max": float(values[0]),
                     "hvps": count["hvps"], "seconds": seconds, "residual": float("nan")})

    # reference: Lanczos to a tight tolerance, warm-started from our eigenvector (not part of the race)
    op = operator()
    reference = lanczos(op, k=1, tol=1e-7, seed=args.seed, start=ours_lanczos.eigenvectors[0])
    cached = op.num_products
    _, uncached_seconds = timed(lambda: HessianOperator(model, data, chunk_size=args.hvp_chunk,
                                                        cache_graphs=False).matvec(reference.eigenvectors[0]))
    _, cached_seconds = timed(lambda: op.matvec(reference.eigenvectors[0]))
    for row in rows:
        row["rel_error"] = abs(row["lambda_max"] - reference.eigenvalues[0]) / abs(reference.eigenvalues[0])
    note = (f"reference λmax {reference.eigenvalues[0]:.6f} (Lanczos tol 1e-7, residual "
            f"{reference.residuals[0]:.1e}, {cached} HVPs); one HVP: {uncached_seconds:.2f} s uncached, "
            f"{cached_seconds:.2f} s with cached graphs")
    return rows, note


def surface_table(model: torch.nn.Module, args: argparse.Namespace) -> tuple[list[dict], float]:
    import loss_landscapes
    import loss_landscapes.metrics

    test = load_dataset("fashion_mnist", "test", "unit")
    data = test.subset(stratified_indices(test.labels, args.surface_samples, seed=args.seed))
    d1, d2 = plane_directions(model, seed=args.seed)
    axis = np.linspace(-1.0, 1.0, args.grid)
    frame, seconds = timed(lambda: surface_2d(model, {"test": data}, d1, d2, axis, axis,
                                              chunk_size=args.surface_chunk))
    rows = [{"method": f"ours, whole {args.grid}x{args.grid} grid, chunk {args.surface_chunk}", "points": len(frame),
             "seconds": seconds, "seconds_per_point": seconds / len(frame)}]

    # head to head on the peer's sub-grid, back to back (same machine load)
    peer_axis = axis[::args.peer_stride]
    steps, spacing = len(peer_axis), float(peer_axis[1] - peer_axis[0])
    theta = parameter_vector(model)
    for chunk in (args.surface_chunk, len(data)):
        _, seconds = timed(lambda: surface_2d(model, {"test": data}, d1, d2, peer_axis, peer_axis,
                                              chunk_size=chunk))
        rows.append({"method": f"ours, in place, chunk {chunk}", "points": steps * steps, "seconds": seconds,
                     "seconds_per_point": seconds / steps ** 2})

    def functional():
        for a in peer_axis:
            for b in peer_axis:
                evaluate(model, data, args.surface_chunk, params=to_dict(theta + a * d1 + b * d2, model))

    _, seconds = timed(functional)
    rows.append({"method": f"ours, functional_call, chunk {args.surface_chunk}", "points": steps * steps,
                 "seconds": seconds, "seconds_per_point": seconds / steps ** 2})

    # loss_landscapes: point (i, j) of planar_interpolation is start + i·D1/S + j·D2/S, i < S, 1 <= j <= S
    start_vector = theta + peer_axis[0] * d1 + (peer_axis[0] - spacing) * d2

    def with_parameters(vector: torch.Tensor) -> torch.nn.Module:
        clone = copy.deepcopy(model)
        with torch.no_grad():
            for p, value in zip(clone.parameters(), to_dict(vector, model).values()):
                p.copy_(value)
        return clone

    start = with_parameters(start_vector)
    end_one = with_parameters(start_vector + steps * spacing * d1)
    end_two = with_parameters(start_vector + steps * spacing * d2)
    metric = loss_landscapes.metrics.Loss(torch.nn.CrossEntropyLoss(), data.images, data.labels)
    matrix, seconds = timed(lambda: loss_landscapes.planar_interpolation(start, end_one, end_two, metric,
                                                                         steps=steps, deepcopy_model=True))
    # the peer once more on the same weights in PyTorch's default (contiguous) layout
    contiguous = [copy.deepcopy(m).to(memory_format=torch.contiguous_format) for m in (start, end_one, end_two)]
    _, contiguous_seconds = timed(lambda: loss_landscapes.planar_interpolation(*contiguous, metric, steps=steps,
                                                                               deepcopy_model=True))
    rows.append({"method": "loss_landscapes planar_interpolation, contiguous model", "points": steps * steps,
                 "seconds": contiguous_seconds, "seconds_per_point": contiguous_seconds / steps ** 2})
    rows.append({"method": "loss_landscapes planar_interpolation, same (channels_last) model",
                 "points": steps * steps, "seconds": seconds, "seconds_per_point": seconds / steps ** 2})
    # the peer walks odd columns backwards and ends one step short: its column i holds β offsets
    # j + 1 (i even) or j (i odd) steps from start; compare the points that lie on our grid
    ours = frame.set_index(["alpha", "beta"])["loss"]
    difference = max(abs(float(matrix[i][j]) - ours[(peer_axis[i], peer_axis[j if i % 2 == 0 else j - 1])])
                     for i in range(steps) for j in range(steps) if i % 2 == 0 or j > 0)
    peer_per_point = rows[-1]["seconds_per_point"]
    for row in rows:
        row["peer_time_ratio"] = peer_per_point / row["seconds_per_point"]
    return rows, difference


def print_table(title: str, rows: list[dict]) -> None:
    print(f"\n{title}")
    columns = list(rows[0])
    cells = [[f"{row[c]:.6g}" if isinstance(row[c], float) else str(row[c]) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths)))
    for r in cells:
        print("  ".join(v.ljust(w) for v, w in zip(r, widths)))


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    total = time.perf_counter()
    model = use_fast_layout(trained_model(args))  # channels_last, as the suite's trained models are
    if "lambda" not in args.skip:
        rows, note = lambda_max_table(model, args)
        print_table(f"λmax on {args.hvp_samples} stratified training images (chunk {args.hvp_chunk}, "
                    f"{args.threads} thread(s))", rows)
        print(note)
    if "surface" not in args.skip:
        rows, difference = surface_table(model, args)
        print_table(f"{args.grid}x{args.grid} surface on {args.surface_samples} test images "
                    f"({args.threads} thread(s))", rows)
        print(f"max |loss ours - loss loss_landscapes| on the shared grid points: {difference:.2e} nats")
    print(f"\ntotal {time.perf_counter() - total:.0f} s")


if __name__ == "__main__":
    main()
