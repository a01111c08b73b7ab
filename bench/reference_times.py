"""Write the reference machine's job times (lib/landscape/pipeline/reference_times.json), which
the plan line of a fresh machine's first ``make reports`` scales by its own speed: the median
CPU wall time of every job family of the suite's graphs at the profiles named
(``estimate.job_seconds``: the cache's timing log, else a training's history), this machine's
calibration speed (``estimate.speed``, measured now: run it on an idle machine) and the engine and
threads the logged jobs mostly ran with. A family the graphs still have but no cache timed keeps
its time from the table already at ``--output``, rescaled from that table's speed to this
machine's (so a smoke pass timed once need not be run again); one none of them has is left out
(the plan says so), and one the graphs no longer have is dropped. Run it on an idle machine after
a full compute on the reference machine and commit the table.

Usage: python bench/reference_times.py [--cache DIR ...] [--profile smoke --profile full]
                                       [--output lib/landscape/pipeline/reference_times.json]
"""
from __future__ import annotations

import argparse
import collections
import os
import platform
import statistics
from pathlib import Path

from landscape.core import store
from landscape.pipeline import driver, estimate
from landscape.pipeline.params import load_params
from landscape.reporting import render


def machine() -> str:
    """This machine in words: CPU model and core count."""
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} cores"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cache", action="append", default=None, help="a cache folder (repeat for several)")
    parser.add_argument("--profile", action="append", default=None, help="a profile (repeat; default smoke and full)")
    parser.add_argument("--output", type=Path, default=estimate.REFERENCE)
    args = parser.parse_args()
    caches = [store.Cache(c) for c in args.cache or [None]]
    jobs = {key: job for profile in args.profile or ["smoke", "full"] for name in render.runnable_reports()
            for key, job in driver.report_jobs(load_params(name, profile)).items()}
    family = {key: estimate.family(job) for key, job in jobs.items()}
    seen: dict[str, list[float]] = collections.defaultdict(list)
    for key, job in jobs.items():
        seconds = next((s for cache in caches if (s := estimate.job_seconds(cache, job)) is not None), None)
        if seconds is not None:
            seen[family[key]].append(seconds)
    if not seen:
        raise SystemExit("no CPU times for the suite's jobs in " + ", ".join(str(c.root) for c in caches)
                         + ": compute the reports first, on the CPU")
    runs = collections.Counter((entry.get("engine", ""), entry.get("threads")) for cache in caches
                               for entry in estimate.logged(cache) if entry["device"] == "cpu")
    families = {name: statistics.median(times) for name, times in seen.items()}
    speed = estimate.speed()
    before = estimate.Reference.read(args.output)
    wanted = set(family.values())
    kept = {name: seconds * before.speed / speed for name, seconds in before.families.items()
            if name in wanted and name not in families} if before is not None else {}
    (engine, threads), _ = runs.most_common(1)[0] if runs else (("", None), 0)
    found = estimate.Reference({**families, **kept}, speed, machine(), engine, threads)
    found.write(args.output)
    print(f"{len(families)} job families from {sum(len(v) for v in seen.values())} timed jobs "
          f"(logged mostly on {engine}, {threads} thread(s)); {len(kept)} kept from the table before, rescaled "
          f"from {before.speed if before else 0:.0f} images/s; {len(wanted) - len(found.families)} families never "
          f"timed; this machine: {speed:.0f} images/s on one thread -> {args.output}")


if __name__ == "__main__":
    main()
