"""Write the reference machine's job times (lib/landscape/pipeline/reference_times.json), which
the plan line of a fresh machine's first ``make reports`` scales by its own speed: the median
wall time of every job family in the timing logs of the caches named (``estimate.logged``; CPU times only), this machine's
calibration speed (``estimate.speed``, measured now: run it on an idle machine) and the engine
and threads the logged jobs ran with. Run it after a full compute on the reference machine and
commit the table.

Usage: python bench/reference_times.py [--cache DIR ...] [--output lib/landscape/pipeline/reference_times.json]
"""
from __future__ import annotations

import argparse
import collections
import os
import platform
import statistics
from pathlib import Path

from landscape.core import store
from landscape.pipeline import estimate


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
    parser.add_argument("--output", type=Path, default=estimate.REFERENCE)
    args = parser.parse_args()
    caches = [store.Cache(c) for c in args.cache or [None]]
    entries = [entry for cache in caches for entry in estimate.logged(cache) if entry["device"] == "cpu"]
    if not entries:
        raise SystemExit("no CPU times in the timing log of " + ", ".join(str(c.root / estimate.TIMINGS_DIR) for c in caches)
                         + ": compute the reports first, on the CPU")
    seen: dict[str, list[float]] = {}
    for entry in entries:
        seen.setdefault(entry["family"], []).append(entry["seconds"])
    runs = collections.Counter((entry.get("engine", ""), entry.get("threads")) for entry in entries)
    families = {name: statistics.median(times) for name, times in seen.items()}
    (engine, threads), _ = runs.most_common(1)[0]
    found = estimate.Reference(families, estimate.speed(), machine(), engine, threads)
    found.write(args.output)
    print(f"{len(families)} job families, median times from {sum(runs.values())} logged jobs "
          f"(mostly {engine}, {threads} thread(s)); this machine: {found.speed:.0f} images/s on one thread -> "
          f"{args.output}")


if __name__ == "__main__":
    main()
