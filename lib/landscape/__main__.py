"""Command line: ``python -m landscape {check,train,probe,report} REPORT... | --all [--profile P]``.

check: validate params files (and that their data can be found) without computing anything.
train: train (or load from the cache) every run of the given reports and print their final epoch.
probe: train, then run every probe the params ask for, filling the training and probe caches
       (so that a later ``report`` only renders); prints what was loaded and computed.
report: execute report notebooks into outputs/ (HTML, PDF, figures, metrics, manifest, index);
        its own options: ``python -m landscape report --help`` (see landscape.reporting).
"""
from __future__ import annotations

import argparse
import sys
import time

from .data import DatasetNotFoundError
from .params import PARAMS_DIR, ParamsError, is_stand_in, load_params
from .probes import run_probes
from .training import train


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["report"]:
        from .reporting import main as report_main

        return report_main(argv[1:])
    parser = argparse.ArgumentParser(prog="python -m landscape", description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=["check", "train", "probe", "report"])
    parser.add_argument("reports", nargs="*", help="report names (params/<name>.yaml) or params file paths")
    parser.add_argument("--all", action="store_true", help="every params file in params/")
    parser.add_argument("--profile", default="full")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--cache", default=None, help="cache directory (default: $LANDSCAPE_CACHE or ./cache)")
    args = parser.parse_args(argv)
    reports = sorted(p.stem for p in PARAMS_DIR.glob("*.yaml")) if args.all else args.reports
    if not reports:
        parser.error("name at least one report, or --all")
    try:  # validate everything before computing anything
        loaded = [(load_params(r, args.profile), None) for r in reports]
        loaded = [(p, p.resolve_data()) for p, _ in loaded]
    except (ParamsError, DatasetNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for params, data in loaded:
        note = f" (stand-in for {params.data.name}: {data.name})" if is_stand_in(data) else ""
        print(f"{params.report} [{params.profile}] {len(params.runs)} runs on {data.name}{note}")
        if args.command == "check":
            continue
        runs = {}
        for run_id, spec in params.run_specs(data).items():
            run = runs[run_id] = train(spec, cache=args.cache, device=args.device)
            final = run.final
            summary = (f"test_acc {final['test_acc']:.4f} test_loss {final['test_loss']:.4f}" if final else "no epoch")
            print(f"  {run_id:<20} {run.status:<9} epochs {len(run.history):>2} (trained now: {run.trained_epochs}) "
                  f"{summary}")
        if args.command == "probe":
            start = time.perf_counter()
            found = run_probes(params, runs, data, cache=args.cache)
            print(f"  probes: {found.sets['cache']['loaded']} loaded, {found.sets['cache']['computed']} computed "
                  f"in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
