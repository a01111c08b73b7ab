"""Command line: ``python -m landscape {check,train,probe,report} REPORT... [options]``.

REPORT is a report name (``params/<name>.yaml``) or a params file path, used as given.

check:  validate params (every profile) and find the data, computing nothing;
train:  train (or load from the cache) every run of the reports, print each run's final epoch;
probe:  train, then run every probe the params ask for, filling the training and probe caches
        (a later ``report`` only renders);
report: execute the report notebooks into HTML and PDF (``landscape.reporting.render``) and rebuild
        the index. With the local engine each notebook trains and probes what the caches lack;
        with another engine every report's jobs run on it first, as one graph, and the
        notebooks read the caches.

``train``, ``probe`` and (with another engine than local) ``report`` run the jobs of all the
reports named as one graph (``landscape.pipeline.driver``) on the engine of ``--engine`` (``local``,
``processes`` or ``ray``; ``landscape.pipeline.engines``). Every subcommand takes ``--profile``, ``--set
KEY=VALUE``, ``--device``, ``--cache`` and the engine options, and validates all of its input
before computing anything. Bad input (params, paths, profiles,
overrides, devices, datasets, engines, Ray addresses) is one line on stderr, ``error: ...``, and exit status 2; Ctrl-C
or SIGTERM ends with one line and exit status 130, and a rerun resumes from the caches.
"""
from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path
from typing import Sequence

from .core.errors import ParamsError
from .core.errors import UserError, one_line
from .pipeline.params import BASE_PROFILE, PARAMS_DIR, is_stand_in, load_params

EXIT_USER_ERROR, EXIT_INTERRUPTED = 2, 130


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (exit status 2), like every other user error."""

    def error(self, message: str):  # type: ignore[override]
        raise UserError(f"{message} (see: {self.prog} --help)")


def parse_set(items: Sequence[str]) -> dict:
    """``["training.epochs=1", "data.train_subset=500"]`` -> nested overrides (values parsed as YAML)."""
    import yaml

    from .core.schema import parse_yaml

    overrides: dict = {}
    for item in items:
        key, sep, value = item.partition("=")
        parts = key.split(".")
        if not sep or not all(parts):
            raise ParamsError(f"--set {item!r}: expected KEY=VALUE with a dotted key, e.g. training.epochs=1")
        try:
            parsed = parse_yaml(value)
        except ParamsError as exc:
            raise ParamsError(f"--set {item!r}: {exc}") from None
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
    jobs = parser.add_argument_group("execution (see landscape.pipeline.engines)")
    jobs.add_argument("--engine", default=None,
                      help="local (default; $LANDSCAPE_ENGINE), processes (a local process pool) or ray")
    jobs.add_argument("--threads", type=int, default=None,
                      help="torch threads per job (default: $LANDSCAPE_THREADS, else $OMP_NUM_THREADS, else torch's)")
    jobs.add_argument("--workers", type=int, default=None, help="worker processes (processes engine; default: "
                                                                 "cores / threads per job)")
    jobs.add_argument("--address", default=None, help="Ray cluster to join, HOST:PORT (ray engine; default: "
                                                      "$RAY_ADDRESS, else a local Ray started here)")
    jobs.add_argument("--gpus-per-job", type=float, default=None,
                      help="share of a GPU each job asks Ray for when the cluster has GPUs (default: 0.25)")


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


def _engine(args: argparse.Namespace):
    from .pipeline.engines import settings

    return settings(args.engine, args.threads, args.workers, args.address, args.gpus_per_job, args.device)


def _print_design(params) -> None:
    """The claims these seeds cannot decide, known before any training (``claims.design``)."""
    from .verdicts import claims

    for i, spec in enumerate(claims.parse(params)):
        why = claims.design(params, spec)
        if why:
            text = "".join(ch if ch.isprintable() else "?" for ch in one_line(spec.text))
            text = text if len(text) <= 80 else text[:79] + "…"
            print(f"  claim {i} “{text}”: {claims.UNDECIDABLE}: {why}", flush=True)


def _train_and_probe(args: argparse.Namespace) -> int:
    from .pipeline.driver import run_many, work_of

    config = _engine(args)
    overrides = parse_set(args.set)
    every = sorted(p.stem for p in PARAMS_DIR.glob("*.yaml"))
    names = _names(args, every)
    if args.command == "check":  # everything `report` would refuse: claim checks, notebook, output folder
        from .reporting.render import make_job

        loaded = [make_job(name, args.profile, overrides).params for name in names]
    else:
        loaded = [load_params(name, args.profile, overrides) for name in names]  # validate all first
    work = [w for params in loaded for w in work_of(params)]  # a synthesis: its studies' runs, its probes
    for w in work:
        params, data = w.params, w.data
        note = f" (stand-in for {params.data.name}: {data.name})" if is_stand_in(data) else ""
        probed = " with the synthesis's measures" if w.probes is not None else ""
        print(f"{params.report} [{params.profile}] {len(params.runs)} runs on {data.name}{note}{probed}", flush=True)
        if w.probes is None:
            _print_design(params)
    if args.command == "check":
        return 0
    start = time.perf_counter()
    found = run_many(work, config, args.cache, with_probes=args.command == "probe")
    for w, results in zip(work, found):
        params = w.params
        print(f"{params.report} [{params.profile}]", flush=True)
        for run_id, run in results.runs.items():
            final = run.final
            summary = (f"test_acc {final['test_acc']:.4f} test_loss {final['test_loss']:.4f}" if final else "no epoch")
            print(f"  {run_id:<20} {run.outcome:<22} epochs {run.epochs:>2} (trained now: {run.trained_epochs}) "
                  f"{summary}", flush=True)
        if results.probes is not None:
            cache = results.probes.sets["cache"]
            print(f"  probes: {cache['loaded']} loaded, {cache['computed']} computed", flush=True)
            for name, why in results.probes.unavailable.items():
                print(f"  {name}: not computed: {why}", flush=True)
    failed = sum(r.jobs["failed"] for r in found)
    print(f"{sum(r.jobs['total'] for r in found)} jobs, {failed} failed, on the {config.name} engine in "
          f"{time.perf_counter() - start:.1f} s", flush=True)
    return 1 if failed else 0


def _report(args: argparse.Namespace) -> int:
    from .core import files, store
    from .reporting import render
    from .pipeline.driver import run_many, work_of

    if args.list:
        print("\n".join(render.runnable_reports()))
        return 0
    if args.index_only:
        root = Path(args.output_dir) if args.output_dir else render.default_output_root(args.profile)
        print(f"index: {render.repo_relative(render.build_index(root))}")
        bad = [(n, render.manifest_status(root / Path(n).stem)) for n in args.reports]
        bad = [(n, s) for n, s in bad if s != render.STATUS_OK]
        for name, status in bad:
            print(f"error: report {name}: {status}", file=sys.stderr)
        return 1 if bad else 0
    config = _engine(args)
    overrides = parse_set(args.set)
    names = _names(args, render.runnable_reports() if args.all else [])
    jobs = [render.make_job(name, args.profile, overrides) for name in names]  # validate all first
    work = [w for job in jobs for w in work_of(job.params)]  # every dataset found before anything runs
    store.Cache(args.cache)  # a cache the store refuses stops here, before any notebook runs
    roots = {job.name: Path(args.output_dir) if args.output_dir else render.default_output_root(
        args.profile, overrides, job.params_file) for job in jobs}
    for job in jobs:  # an output folder that cannot be made stops here, before any job runs
        files.make_folder(roots[job.name].resolve() / job.name)
    # every report's jobs as one graph first, on the engine, with one plan and one board for all of
    # them; the notebooks then read the caches
    run_many(work, config, args.cache)
    failed = 0
    for job in jobs:
        root = roots[job.name]
        manifest = render.run_report(job, args.profile, overrides, root, args.device, pdf=not args.no_pdf,
                                     timeout=args.timeout, threads=config.threads, cache=args.cache)
        if manifest["status"] == render.STATUS_INTERRUPTED:
            raise KeyboardInterrupt
        failed += manifest["status"] != render.STATUS_OK
    if not args.no_index:
        for root in sorted(set(roots.values())):
            print(f"index: {render.repo_relative(render.build_index(root))}")
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
        print(f"error: {one_line(exc)}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("interrupted: finished work is in the caches; run the same command again to resume", file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        signal.signal(signal.SIGTERM, previous)
