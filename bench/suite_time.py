"""What the whole suite costs from an empty cache, as a filled cache holds it, and what a fresh
machine's plan line would have said before it started.

For every report (``render.runnable_reports``; a job two reports share counts once, as
``landscape report --all`` runs one merged graph), sum the CPU wall time of its jobs
(``estimate.job_seconds``: the timing log, each job timed where it ran, on its engine and threads,
sharing the machine with whatever else ran then; a training from before the log, its history's
epoch times). A job's time counts as the median of its family's (the same work on other seeds):
a job that ran while the machine was paused, or that went on from a checkpoint, is timed long or
short, and the median keeps it from moving the sum. Sum per report and per kind of job, and divide
by ``--slots`` parallel slots, as the plan line does (the raw sum is printed beside it). Beside it, the plan a fresh machine prints for the same graph (``estimate.plan``
on an empty cache: the reference machine's times, ``reference_times.json``, scaled by this
machine's calibration), and its error over the jobs it estimates and the cache timed; and the
plan's estimator out of sample on this machine: each timed job predicted by the median of the
other jobs of its family. The suite
was never timed in one go on 2 cores (about a day); this sum is the measured figure that stands
for it. A reference table written from the same cache predicts the jobs it was measured on: run
this before ``bench/reference_times.py`` for an out-of-sample error.

Usage: python bench/suite_time.py [--profile full] [--cache DIR] [--slots 2] [--reports NAME ...]
"""
from __future__ import annotations

import argparse
import collections
import statistics
import tempfile

from landscape.core import store
from landscape.pipeline import driver, estimate, jobs as jobs_mod
from landscape.pipeline.params import load_params
from landscape.reporting import render


def _without(values: list[float], value: float) -> list[float]:
    """``values`` with one occurrence of ``value`` taken out."""
    rest = list(values)
    rest.remove(value)
    return rest


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--profile", default="full")
    parser.add_argument("--cache", default=None)
    parser.add_argument("--slots", type=int, default=2)
    parser.add_argument("--reports", nargs="*", default=None)
    args = parser.parse_args()
    cache = store.Cache(args.cache)
    by_report = {name: driver.report_jobs(load_params(name, args.profile))
                 for name in args.reports or render.runnable_reports()}
    suite = {key: job for jobs in by_report.values() for key, job in jobs.items()}
    raw = {key: estimate.job_seconds(cache, job) for key, job in suite.items()}
    family = {key: estimate.family(job) for key, job in suite.items()}
    families: dict[str, list[float]] = collections.defaultdict(list)
    for key, seconds in raw.items():
        if seconds is not None:
            families[family[key]].append(seconds)
    typical = {key: statistics.median(families[family[key]]) if families[family[key]] else None for key in suite}

    def line(name: str, keys) -> None:
        found = [typical[key] for key in keys]
        hours = sum(s for s in found if s is not None) / 3600
        print(f"{name:<22} {len(found):>5} {sum(s is None for s in found):>7} {hours:>8.2f} {hours / args.slots:>10.2f}"
              f" {sum(raw[key] or 0 for key in keys) / 3600 / args.slots:>10.2f}")

    print(f"{'report':<22} {'jobs':>5} {'untimed':>7} {'median h':>8} {'on slots h':>10} {'raw, slots':>10}")
    for name, jobs in by_report.items():
        line(name, jobs)
    line("suite (shared once)", suite)
    by_kind: dict[str, list[float | None]] = collections.defaultdict(list)
    for key, job in suite.items():
        by_kind[estimate.kind(job)].append(typical[key])
    for kind, found in sorted(by_kind.items(), key=lambda item: -sum(s or 0 for s in item[1])):
        untimed = sum(s is None for s in found)
        print(f"  {kind:<14} {len(found):>4} jobs {sum(s or 0 for s in found) / 3600:>7.2f} h"
              + (f" ({untimed} untimed)" if untimed else ""))
    # the plan's estimator out of sample: each timed job predicted by the median of its family's other jobs
    loo = [(statistics.median(others), raw[key]) for key in suite if raw[key] is not None
           and (others := _without(families[family[key]], raw[key]))]
    errors = [abs(v - s) / s for v, s in loo if s > 0]
    if errors:
        said, took = sum(v for v, _ in loo), sum(s for _, s in loo)
        print(f"each of {len(loo)} timed jobs predicted by its family's other jobs (the plan on this machine): "
              f"sum {100 * (said - took) / took:+.1f}% off, median job {100 * statistics.median(errors):.0f}% off")
    with tempfile.TemporaryDirectory() as empty:
        planned = estimate.plan(len(suite), suite.values(), store.Cache(empty))
    print(f"a fresh machine's plan: {planned.sentence(args.slots)}")
    pairs = [(said, typical[key]) for key, said in planned.estimates.items()
             if said is not None and typical[key] is not None]
    if pairs:
        said, took = sum(v for v, _ in pairs), sum(s for _, s in pairs)
        print(f"over the {len(pairs)} jobs both estimated and timed: plan {said / 3600 / args.slots:.2f} h, "
              f"timed {took / 3600 / args.slots:.2f} h on {args.slots} slots: the plan is "
              f"{100 * (said - took) / took:+.1f}% off")


if __name__ == "__main__":
    main()
