"""Command line: ``python -m landscape {check,train,probe,report} REPORT... [options]``.

REPORT is a report name (``params/<name>.yaml``) or a params file path, used as given.

check:  validate params (every profile) and find the data, computing nothing;
train:  train (or load from the cache) every run of the reports, print each run's final epoch;
probe:  train, then run every probe the params ask for, filling the training and probe caches
        (a later ``report`` only renders);
report: execute the report notebooks into HTML and PDF (``landscape.reporting``) and rebuild
        the index.

Every subcommand takes ``--profile``, ``--set KEY=VALUE``, ``--device`` and ``--cache``, and
validates all of its input before computing anything. Bad input (params, paths, profiles,
overrides, devices, datasets) is one line on stderr, ``error: ...``, and exit status 2; Ctrl-C
or SIGTERM ends with one line and exit status 130, and a rerun resumes from the caches.
"""
from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path
from typing import Sequence

from .errors import UserError
from .params import BASE_PROFILE, PARAMS_DIR, ParamsError, is_stand_in, load_params

EXIT_USER_ERROR, EXIT_INTERRUPTED = 2, 130


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (exit status 2), like every other user error."""

    def error(self, message: str):  # type: ignore[override]
        raise UserError(f"{message} (see: {self.prog} --help)")


def parse_set(items: Sequence[str]) -> dict:
    """``["training.epochs=1", "data.train_subset=500"]`` -> nested overrides (values parsed as YAML)."""
    import yaml

    overrides: dict = {}
    for item in items:
        key, sep, value = item.partition("=")
        parts = key.split(".")
        if not sep or not all(parts):
            raise ParamsError(f"--set {item!r}: expected KEY=VALUE with a dotted key, e.g. training.epochs=1")
        try:
            parsed = yaml.safe_load(value)
        except yaml.YAMLError as exc:
            raise ParamsError(f"--set {item!r}: the value is not valid YAML ({' '.join(str(exc).split())})") from None
        node = overrides
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ParamsError(f"--set {item!r}: {part!r} is given a value and sub-keys")
        node[parts[-1]] = parsed
    return overrides


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("reports", nargs="*", metavar="REPORT",
                        help="report names (params/<name>.yaml) or params file paths")
    parser.add_argument("--all", action="store_true", help="every params file in params/")
    parser.add_argument("--profile", default=BASE_PROFILE, help="profile of the params files (default: full)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a param, e.g. --set training.epochs=1 (repeatable)")
    parser.add_argument("--device", default="auto", help="auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:N, mps")
    parser.add_argument("--cache", default=None, help="cache directory (default: $LANDSCAPE_CACHE or ./cache)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m landscape", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser, metavar="COMMAND")
    for name, text in (("check", "validate params and data, compute nothing"),
                       ("train", "train (or load) every run of the reports"),
                       ("probe", "train, then fill the probe cache")):
        _common(commands.add_parser(name, help=text, description=text))
    report = commands.add_parser("report", help="execute report notebooks into HTML and PDF",
                                 description="Execute report notebooks into <output dir>/<report>/ (ipynb, HTML, "
                                             "PDF, figures, metrics, manifest) and rebuild the index there.")
    _common(report)
    report.add_argument("--output-dir", default=None,
                        help="default: outputs/ for the full profile of a params/ file without --set; "
                             "outputs/_<profile>/ for other profiles; outputs/_custom/ otherwise")
    report.add_argument("--timeout", type=int, default=None, help="seconds per notebook cell (default: none)")
    report.add_argument("--no-pdf", action="store_true", help="skip the PDF")
    report.add_argument("--no-index", action="store_true", help="do not rebuild the index")
    report.add_argument("--index-only", action="store_true",
                        help="only rebuild the index; with report names, exit 1 unless each one's manifest says ok")
    report.add_argument("--list", action="store_true", help="print the reports that have a notebook, and exit")
    return parser


def _names(args: argparse.Namespace, every: list[str]) -> list[str]:
    """The reports named on the command line, or ``every`` one with --all."""
    names = every if args.all else list(args.reports)
    if not names:
        raise UserError("name at least one report (a params/ name or a params file path), or --all")
    return names


def _train_and_probe(args: argparse.Namespace) -> int:
    from .probes import run_probes
    from .runtime import select_device
    from .tables import train_runs

    select_device(args.device)
    overrides = parse_set(args.set)
    every = sorted(p.stem for p in PARAMS_DIR.glob("*.yaml"))
    loaded = [load_params(name, args.profile, overrides) for name in _names(args, every)]  # validate all first
    loaded = [(params, params.resolve_data()) for params in loaded]
    for params, data in loaded:
        note = f" (stand-in for {params.data.name}: {data.name})" if is_stand_in(data) else ""
        print(f"{params.report} [{params.profile}] {len(params.runs)} runs on {data.name}{note}", flush=True)
        if args.command == "check":
            continue
        runs = train_runs(params, data, device=args.device, cache=args.cache)
        for run_id, run in runs.items():
            final = run.final
            summary = (f"test_acc {final['test_acc']:.4f} test_loss {final['test_loss']:.4f}" if final else "no epoch")
            print(f"  {run_id:<20} {run.outcome:<22} epochs {len(run.history):>2} (trained now: {run.trained_epochs}) "
                  f"{summary}", flush=True)
        if args.command == "probe":
            start = time.perf_counter()
            found = run_probes(params, runs, data, cache=args.cache)
            print(f"  probes: {found.sets['cache']['loaded']} loaded, {found.sets['cache']['computed']} computed "
                  f"in {time.perf_counter() - start:.1f} s", flush=True)
    return 0


def _report(args: argparse.Namespace) -> int:
    from . import reporting
    from .runtime import select_device

    if args.list:
        print("\n".join(reporting.runnable_reports()))
        return 0
    if args.index_only:
        root = Path(args.output_dir) if args.output_dir else reporting.default_output_root(args.profile)
        print(f"index: {reporting.repo_relative(reporting.build_index(root))}")
        bad = [(n, reporting.manifest_status(root / Path(n).stem)) for n in args.reports]
        bad = [(n, s) for n, s in bad if s != reporting.STATUS_OK]
        for name, status in bad:
            print(f"error: report {name}: {status}", file=sys.stderr)
        return 1 if bad else 0
    select_device(args.device)
    overrides = parse_set(args.set)
    names = _names(args, reporting.runnable_reports() if args.all else [])
    jobs = [reporting.make_job(name, args.profile, overrides) for name in names]  # validate all first
    for job in jobs:
        job.params.resolve_data()
    if args.cache:
        os.environ["LANDSCAPE_CACHE"] = str(Path(args.cache).resolve())
    failed, roots = 0, set()
    for job in jobs:
        root = Path(args.output_dir) if args.output_dir else reporting.default_output_root(
            args.profile, overrides, job.params_file)
        roots.add(root)
        manifest = reporting.run_report(job, args.profile, overrides, root, args.device, pdf=not args.no_pdf,
                                        timeout=args.timeout)
        if manifest["status"] == reporting.STATUS_INTERRUPTED:
            raise KeyboardInterrupt
        failed += manifest["status"] != reporting.STATUS_OK
    if not args.no_index:
        for root in sorted(roots):
            print(f"index: {reporting.repo_relative(reporting.build_index(root))}")
    return 1 if failed else 0


def _terminate(signum, frame):  # noqa: ARG001 - signal handler signature
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns its exit status (see module docstring)."""
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        args = build_parser().parse_args(sys.argv[1:] if argv is None else list(argv))
        return _report(args) if args.command == "report" else _train_and_probe(args)
    except UserError as exc:
        print(f"error: {' '.join(str(exc).split())}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("interrupted: finished work is in the caches; run the same command again to resume", file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        signal.signal(signal.SIGTERM, previous)
