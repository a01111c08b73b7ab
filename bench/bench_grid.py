"""The designed grid's render budget (params/measures_grid.yaml): a few of its configurations,
spread over the grid from the cheapest corner (first) to the costliest (last), each trained with
one seed to the stopping point and probed as the report probes it (the measures and complexity
probes), on one torch thread from an empty cache, as one worker of the processes engine runs a
job. Prints per configuration the epochs to the stopping point and the seconds of training and
of the rest (the probes, and loading the data and models), then the render's estimate: the mean
over the sampled configurations times the grid's models, over the workers (``--workers``, the machine's cores by default). The render's
own wall time, which is the number that counts, is in its manifest.

Usage: python bench/bench_grid.py [--profile full] [--configs 4] [--workers N]
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np
import torch

from landscape.pipeline import driver, engines
from landscape.pipeline.params import load_params


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--profile", default="full")
    parser.add_argument("--configs", type=int, default=4)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    torch.set_num_threads(1)
    params = load_params("measures_grid", args.profile)
    picked = [params.runs[int(i)] for i in np.linspace(0, len(params.runs) - 1, args.configs).round()]
    seeds = len(params.design.seeds)
    print(f"measures_grid [{args.profile}]: {len(params.runs)} configurations x {seeds} seeds; "
          f"{len(picked)} sampled, one seed each, 1 torch thread")
    print(f"{'configuration':<52} {'epochs':>6} {'train s':>8} {'rest s':>9} {'total s':>8}")
    totals = []
    for run in picked:
        one = params.model_copy(update={"runs": [run.model_copy(update={"seeds": run.seeds[:1] if run.seeds
                                                                          else params.design.seeds[:1]})]})
        with tempfile.TemporaryDirectory() as cache:
            start = time.perf_counter()
            results = driver.run(one, config=engines.settings("local", threads=1), cache=cache)
            total = time.perf_counter() - start
        record, = results.runs.values()
        trained = sum(row["time_s"] for row in record.history)
        totals.append(total)
        print(f"{run.label:<52} {len(record.history):>6} {trained:>8.1f} {total - trained:>9.1f} {total:>8.1f}")
    models = len(params.runs) * seeds
    estimate = float(np.mean(totals)) * models / args.workers
    print(f"estimate: {np.mean(totals):.0f} s per model x {models} models / {args.workers} workers = "
          f"{estimate / 60:.0f} min (the render's own wall time is in its manifest)")


if __name__ == "__main__":
    main()
