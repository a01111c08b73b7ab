"""The job pipeline on each engine, and the peak memory of a full-profile report's jobs.

Engines: one graph of 12 smoke-size training jobs (the 001 small CNN on 2,000 Fashion-MNIST
images, 1 epoch, seeds 1..12) and their probes (weight noise and a 1D slice per run, 6
interpolation pairs: 42 jobs) on ``local``, ``processes`` and ``ray``, each from an empty cache
with one torch thread per job. Prints wall time, speed-up over local and whether every number
is bitwise the same; for Ray also its start-up and its per-job overhead (the round trip of a
no-op task, alone and two at a time), for the process pool the start of a worker.

Memory (``--memory``): for each report, the heaviest run of its full profile trained for one
epoch on its full data, then each probe of its full profile on it (a two-run probe on the run
and itself), each step in a fresh process (as a worker of the processes engine runs it): peak resident memory (ru_maxrss) and seconds, with
the Makefile's glibc settings (and without them, ``--compare-glibc``).

Usage: python bench/bench_engines.py [--memory [--compare-glibc]] [--reports a,b] [--skip-engines]
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import pandas as pd
import torch

from landscape.pipeline import driver, engines, jobs
from landscape import probes
from landscape.learning import training
from landscape.pipeline.params import load_params

SEEDS = 12
GLIBC = ("MALLOC_MMAP_MAX_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_")


def engine_params():
    """Study 001's small CNN trained with seeds 1..SEEDS, with its probes and six seed pairs."""
    return load_params("seed_connectivity", "smoke", {
        "replicates": SEEDS, "reference": {"claims": []}, "probes": {"hessian": None, "surface2d": None}})


def same(a: driver.Results, b: driver.Results) -> bool:
    for run_id, ra in a.runs.items():
        rb = b.runs[run_id]
        strip = lambda h: [{k: v for k, v in row.items() if k != "time_s"} for row in h]  # noqa: E731
        if strip(ra.history) != strip(rb.history) or any(not t.equal(rb.state[n]) for n, t in ra.state.items()):
            return False
    return all(a.probes.frames[n].equals(b.probes.frames[n]) for n in a.probes.frames)


def _noop() -> int:
    return 0


def ray_overhead() -> dict:
    import ray

    start = time.perf_counter()
    ray.init(include_dashboard=False, log_to_driver=False, configure_logging=False)
    started = time.perf_counter() - start
    task = ray.remote(num_cpus=1, max_retries=0)(_noop)
    ray.get(task.remote())  # a worker is up
    start = time.perf_counter()
    for _ in range(50):
        ray.get(task.remote())
    alone = (time.perf_counter() - start) / 50
    start = time.perf_counter()
    ray.get([task.remote() for _ in range(200)])
    batched = (time.perf_counter() - start) / 200
    ray.shutdown()
    return {"start_s": started, "round_trip_ms": alone * 1e3, "per_job_in_a_batch_ms": batched * 1e3}


def bench_engines() -> None:
    params = engine_params()
    data = params.resolve_data()
    print(f"engines: {len(params.replicas)} training jobs (cnn_small, {params.data.train_subset} images, "
          f"{params.training.epochs} epoch) + their probes, 1 torch thread per job, {os.cpu_count()} cores")
    results, walls = {}, {}
    for name in ("local", "processes", "ray"):
        if name == "ray" and importlib.util.find_spec("ray") is None:
            print("  ray: not installed (make setup-ray)")
            continue
        with tempfile.TemporaryDirectory() as cache:
            start = time.perf_counter()
            results[name] = driver.run(params, data, engines.settings(name, threads=1), cache)
            walls[name] = time.perf_counter() - start
        found = results[name]
        print(f"  {name:<10} {walls[name]:7.1f} s wall for {found.jobs['computed']} jobs "
              f"({walls['local'] / walls[name]:.2f}x local)"
              + ("" if name == "local" else f", identical numbers: {same(results['local'], found)}"))
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import landscape.pipeline.jobs"], check=True)
    print(f"  a process-pool worker's start (python, torch and the package imported): "
          f"{time.perf_counter() - start:.2f} s")
    if "ray" in results:
        o = ray_overhead()
        print(f"  ray: local start {o['start_s']:.1f} s; no-op task round trip {o['round_trip_ms']:.1f} ms alone, "
              f"{o['per_job_in_a_batch_ms']:.2f} ms per task in a batch of 200")


# ---------------------------------------------------------------------------- memory

def heaviest_run(params):
    """The study-seed run of the report's configuration with the most parameters."""
    summary, counts = driver.describe(params, params.resolve_data())
    return max((r for r in params.replicas if r.study_seed), key=lambda r: counts[r.id]).id


def memory_step(report: str, step: str, state_file: str) -> None:
    """One step in this process (see module docstring); prints peak RSS and seconds as JSON."""
    params = load_params(report, "full", {"training": {"epochs": 1}})
    data = params.resolve_data()
    run_id = heaviest_run(params)
    spec = params.run_specs(data)[run_id]
    torch.set_num_threads(1)
    start = time.perf_counter()
    if step == "train":
        result = training.train(spec, "cpu")
        torch.save(result["model"], state_file)
    else:
        state = torch.load(state_file, weights_only=True)
        cfg = getattr(params.probes, step)
        probe = probes.REGISTRY[step]
        job = jobs.ProbeJob("k", f"{step} {run_id}", step, cfg, params.sets_spec(data), (spec,) * probe.runs,
                            ("k",) * probe.runs)
        jobs.execute(job, {"states": [state] * probe.runs}, "cpu")
    print(json.dumps({"seconds": time.perf_counter() - start,
                      "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def bench_memory(reports: list[str], compare: bool) -> None:
    print("\nmemory: peak resident MB of one step in a fresh process (1 thread), the heaviest run of each report's "
          "full profile (trained 1 epoch), with the Makefile's glibc settings" + (" / without them" if compare else ""))
    rows = []
    for report in reports:
        params = load_params(report, "full")
        run_id = heaviest_run(params)
        steps = ["train"] + [name for name in probes.REGISTRY if getattr(params.probes, name) is not None]
        with tempfile.TemporaryDirectory() as tmp:
            state_file = os.path.join(tmp, "state.pt")
            for step in steps:
                found = {"default": {"seconds": float("nan"), "peak_mb": float("nan")}}
                for label, keep in (("glibc", True), ("default", False))[:2 if compare else 1]:
                    env = {k: v for k, v in os.environ.items() if keep or k not in GLIBC}
                    if keep:
                        env.update(MALLOC_MMAP_MAX_="0", MALLOC_TRIM_THRESHOLD_="17179869184",
                                   MALLOC_TOP_PAD_="1073741824")
                    out = subprocess.run([sys.executable, __file__, "--memory-step", report, step, state_file],
                                         env=env, capture_output=True, text=True)
                    if out.returncode != 0:
                        found[label] = {"seconds": float("nan"), "peak_mb": float("nan")}
                        print(f"  {report} {step}: failed: {out.stderr.strip().splitlines()[-1]}")
                        continue
                    found[label] = json.loads(out.stdout.strip().splitlines()[-1])
                rows.append({"report": report, "run": run_id, "step": step, "glibc_mb": found["glibc"]["peak_mb"],
                             "default_mb": found["default"]["peak_mb"], "glibc_s": found["glibc"]["seconds"],
                             "default_s": found["default"]["seconds"]})
                r = rows[-1]
                print(f"  {report:<22} {run_id:<18} {step:<14} {r['glibc_mb']:7.0f} / {r['default_mb']:7.0f} MB"
                      f"  {r['glibc_s']:6.1f} / {r['default_s']:6.1f} s", flush=True)
    frame = pd.DataFrame(rows)
    print(f"\n  largest peak: {frame['glibc_mb'].max():.0f} MB with the glibc settings, "
          f"{frame['default_mb'].max():.0f} MB without")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--memory", action="store_true", help="also measure the memory of full-profile jobs")
    parser.add_argument("--skip-engines", action="store_true")
    parser.add_argument("--compare-glibc", action="store_true", help="memory also without the glibc settings")
    parser.add_argument("--reports", default="batchnorm,mlp_cnn_rescnn_mnist,mlp_vs_cnn_fmnist,resnet20_ablation,"
                                              "seed_connectivity")
    parser.add_argument("--memory-step", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_step:
        memory_step(*args.memory_step)
        return
    if not args.skip_engines:
        bench_engines()
    if args.memory:
        bench_memory(args.reports.split(","), args.compare_glibc)


if __name__ == "__main__":
    main()
