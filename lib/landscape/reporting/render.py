"""The renderer: a report notebook executed headless into HTML and PDF, its manifest, the index.

From the command line (``python -m landscape report``, ``make reports``; ``landscape.cli``),
``run_report`` executes ``notebooks/<params.notebook>.ipynb`` with papermill (parameters
``params_file``, ``profile``, ``overrides``, ``output_dir``, ``device``, ``cache``, ``threads``)
into ``<root>/<name>/<name>.ipynb``, ``<name>`` being the params file's name and ``<root>`` the
output root (:func:`default_output_root`: ``outputs/`` holds only the full profile of the
suite's own params files without overrides, the published reports; other profiles go to
``outputs/_<profile>/``, anything else to ``outputs/_custom/``). While it runs it streams a line
per report section and the kernel's progress lines to stderr. Ctrl-C or SIGTERM shuts the
kernel down, removes temporary files and marks the manifest ``interrupted``; a manifest left
``running`` by a process that is gone reads as interrupted. It then exports ``<report>.html``
and prints ``<report>.pdf`` (``export``: the page arranged from the sink's outline, nothing
fetched from the network, printed by headless Chromium), then writes ``manifest.json`` (status,
git commit, params digest, profile, runtime, device, files). ``build_index`` writes
``<root>/index.html`` (every report with its one-line result) and ``<root>/manifest.json`` (all
per-report manifests).
"""
from __future__ import annotations

import contextlib
import csv
import errno
import html
import os
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

from ..core import files, store
from ..core.errors import ParamsError
from ..core.files import StorageError
from ..core.paths import LIB_DIR, REPO_ROOT
from ..pipeline.params import (BASE_PROFILE, NAME_PATTERN, PARAMS_DIR, AnyParams, SynthesisParams, load_params,
                               resolve_path)
from . import layout
from .export import browser_version, export_html, html_to_pdf, pdf_pages, section_heading
from .sink import (METRICS_FILE, NOTEBOOKS_DIR, OUTPUTS_DIR, SUMMARY_FILE, now as _now, read_json,
                   write_json)


MANIFEST_FILE = "manifest.json"
STATUS_OK, STATUS_FAILED, STATUS_RUNNING, STATUS_INTERRUPTED = "ok", "failed", "running", "interrupted"
PROGRESS_LINES = {"LANDSCAPE_PROGRESS": "lines"}  # the kernel's progress: plain lines, streamed by run_report


# ============================================================================ executing

@dataclass(frozen=True)
class ReportJob:
    """One (notebook, params) pair."""

    name: str
    params_file: Path
    notebook: Path
    params: AnyParams


def report_names() -> list[str]:
    """Every report that has a params file, sorted."""
    return sorted(p.stem for p in PARAMS_DIR.glob("*.yaml"))


def notebook_path(params: AnyParams) -> Path:
    return NOTEBOOKS_DIR / f"{params.notebook}.ipynb"


def runnable_reports() -> list[str]:
    """The reports in params/ whose notebook exists: the study reports, then the syntheses
    (which read the studies' runs, so they come after them)."""
    found = []
    for name in report_names():
        try:
            params = load_params(name)
        except ParamsError:
            continue
        if notebook_path(params).exists():
            found.append((isinstance(params, SynthesisParams), name))
    return [name for _, name in sorted(found)]


def default_output_root(profile: str = BASE_PROFILE, overrides: Mapping | None = None,
                        params_file: Path | None = None) -> Path:
    """Where a render goes unless told (see module docstring): only the published kind of render
    (full profile, a params/ file, no overrides) goes to ``outputs/``."""
    if profile != BASE_PROFILE:
        return OUTPUTS_DIR / f"_{profile}"
    if overrides or (params_file is not None and Path(params_file).resolve().parent != PARAMS_DIR.resolve()):
        return OUTPUTS_DIR / "_custom"
    return OUTPUTS_DIR


def make_job(name_or_path: str | Path, profile: str = BASE_PROFILE, overrides: Mapping | None = None) -> ReportJob:
    """Validate a report's params (and its claim checks) and find its notebook; errors are
    ParamsError naming the problem, before anything runs. The job is named after the params
    file (its output folder)."""
    params_file = resolve_path(name_or_path)
    if not re.fullmatch(NAME_PATTERN, params_file.stem):
        raise ParamsError(f"{params_file}: a report's output folder is named after its params file, so the file's "
                          f"name {params_file.stem[:120]!r} must be lower-case letters, digits and '_' (as report "
                          "names are)")
    params = load_params(params_file, profile, dict(overrides or {}))
    notebook = notebook_path(params)
    if not notebook.exists():
        raise ParamsError(f"{params_file}: notebook {repo_relative(notebook)!r} (from "
                          f"'notebook: {params.notebook}') does not exist")
    return ReportJob(params_file.stem, params_file, notebook, params)


def repo_relative(path: Path) -> str:
    """``path`` relative to the repository when inside it, else absolute."""
    try:
        return str(Path(path).resolve().relative_to(REPO_ROOT))
    except ValueError:
        return str(Path(path).resolve())


def execute_notebook(notebook: str | Path, output_notebook: str | Path, parameters: Mapping[str, Any],
                     cwd: str | Path = REPO_ROOT, timeout: int | None = None, kernel_name: str = "python3",
                     log: Callable[[str], None] | None = None):
    """Run ``notebook`` headless with papermill, parameters injected after the cell tagged
    ``parameters``; the executed notebook (outputs included, also when a cell fails) is written to
    ``output_notebook``. A failing cell raises papermill's PapermillExecutionError (its ``ename``
    and ``evalue`` are the notebook's exception). With ``log``, each section heading is logged as
    its cells start and the kernel's stderr (progress lines, warnings) is streamed to stderr. On
    KeyboardInterrupt the kernel is shut down before the interrupt propagates."""
    import papermill
    from jupyter_client.manager import AsyncKernelManager

    files.make_folder(Path(output_notebook).parent)

    def on_cell_start(cell, cell_index):  # noqa: ARG001 - nbclient's hook signature
        heading = section_heading(cell)
        if heading and log:
            log(f"  § {heading}")

    lib = str(LIB_DIR)
    # the kernel imports this package from lib/ also where `make setup`'s .pth file is missing; what
    # it runs with (cache, threads, device) comes in ``parameters``, never through the environment
    env = {**(PROGRESS_LINES if log else {}),
           "PYTHONPATH": os.pathsep.join([lib] + ([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else []))}
    km = AsyncKernelManager(kernel_name=kernel_name)  # nbclient's own kind (a sync one ignores the timeout)
    try:
        with _environ(env):  # the kernel inherits this process's environment
            return papermill.execute_notebook(str(notebook), str(output_notebook), parameters=dict(parameters),
                                              cwd=str(cwd), progress_bar=False, log_output=False,
                                              stderr_file=_FlushingStderr() if log else None,
                                              execution_timeout=timeout, kernel_name=kernel_name,
                                              request_save_on_cell_execute=True, km=km, on_cell_start=on_cell_start,
                                              # the kernel's warning about unencrypted TCP on localhost is noise
                                              extra_arguments=["--IPKernelApp.log_level=ERROR"])
    except KeyboardInterrupt:
        _shut_down(km)
        raise


class _FlushingStderr:
    """sys.stderr, flushed after every write (the kernel's lines appear as they come, also in a pipe)."""

    def write(self, text: str) -> int:
        written = sys.stderr.write(text)
        sys.stderr.flush()
        return written

    def flush(self) -> None:
        sys.stderr.flush()


@contextlib.contextmanager
def _environ(values: Mapping[str, str]):
    """``os.environ`` updated with ``values`` inside the block, restored after it."""
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _shut_down(km) -> None:
    """Kill a kernel process at once and reap it, quietly (the interrupted event loop cannot run
    the manager's own shutdown, and asyncio would report the tasks the interrupt abandoned)."""
    import logging

    logging.getLogger("asyncio").setLevel(logging.CRITICAL)
    logging.getLogger("papermill").setLevel(logging.CRITICAL)
    process = getattr(getattr(km, "provisioner", None), "process", None)
    if process is not None and process.poll() is None:
        process.kill()
        process.wait(timeout=60)


REPORT_INPUTS = ("lib", "notebooks", "params", "requirements.txt")


def git_state(repo: Path = REPO_ROOT) -> dict:
    """The commit the code was at, and whether what a report is made from (``REPORT_INPUTS``)
    differed from it, untracked files included (then the commit alone does not reproduce it)."""
    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.SubprocessError):
            return None
        return out.stdout.strip() if out.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--", *REPORT_INPUTS)
    return {"commit": commit, "dirty": None if status is None else bool(status)}


def _environment() -> dict:
    import platform

    import torch

    return {"python": platform.python_version(), "torch": torch.__version__, "platform": platform.platform(),
            "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads()}


def _log_stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run_report(job: ReportJob | str | Path, profile: str = BASE_PROFILE, overrides: Mapping | None = None,
               output_root: str | Path | None = None, device: str = "auto", pdf: bool = True,
               timeout: int | None = None, log: Callable[[str], None] | None = _log_stderr,
               threads: int | None = None, cache: str | Path | None = None) -> dict:
    """Execute one report (a job, a report name or a params file path) and export it (see module
    docstring); returns its manifest. Invalid params raise ParamsError before anything runs; a
    failing notebook gives status "failed" (with the error) and its HTML still shows where it
    failed; an interrupt gives status "interrupted" (nothing is exported). ``output_root``
    defaults to :func:`default_output_root`; ``cache`` (default: $LANDSCAPE_CACHE, else
    ``cache/``) and ``threads`` go to the notebook as parameters, with ``device``."""
    if not isinstance(job, ReportJob):
        job = make_job(job, profile, overrides)
    root = Path(output_root) if output_root is not None else default_output_root(profile, overrides, job.params_file)
    out = files.make_folder(root.resolve() / job.name)
    stem = out / job.name
    say = log or (lambda message: None)
    manifest = {"report": job.name, "title": job.params.title, "study": job.params.study,
                "synthesis": isinstance(job.params, SynthesisParams),
                "notebook": repo_relative(job.notebook), "params_file": repo_relative(job.params_file),
                "profile": profile, "overrides": dict(overrides or {}), "params_digest": job.params.digest(),
                "git": git_state(), "status": STATUS_RUNNING, "started": _now(), "device": None,
                "process": {"pid": os.getpid(), "host": socket.gethostname()},
                "environment": _environment(), "cache": str(store.Cache(cache).root)}
    write_json(manifest, out / MANIFEST_FILE)
    files.sweep_temporary(out, store.cache_dir())  # left by a run that was killed
    for suffix in (".ipynb", ".html", ".pdf"):  # nothing from an earlier execution is passed off as this one's
        stem.with_suffix(suffix).unlink(missing_ok=True)
    for stale in (SUMMARY_FILE, METRICS_FILE):
        (out / stale).unlink(missing_ok=True)
    say(f"{job.name} [{profile}]: executing {manifest['notebook']} -> {repo_relative(out)}/")
    t0 = time.perf_counter()
    # the kernel runs what the caches still lack on the local engine, in its own process (the command
    # line ran another engine's jobs before), with the command line's cache and threads per job
    parameters = {"params_file": repo_relative(job.params_file), "profile": profile,
                  "overrides": dict(overrides or {}), "output_dir": str(out), "device": device,
                  "cache": manifest["cache"], "threads": threads}
    error, error_exc = None, None
    try:
        execute_notebook(job.notebook, stem.with_suffix(".ipynb"), parameters, timeout=timeout, log=log)
    except KeyboardInterrupt:
        with _signals_ignored():
            return _interrupted(manifest, out, t0, say)
    except Exception as exc:  # noqa: BLE001 - every failure is recorded in the manifest
        ename = getattr(exc, "ename", type(exc).__name__)
        evalue = getattr(exc, "evalue", str(exc))
        error, error_exc = f"{ename}: {evalue}", exc
    files.sweep_temporary(out, store.cache_dir())  # a kernel killed on a timeout can leave some
    manifest["execution_s"] = round(time.perf_counter() - t0, 2)
    written = {"notebook": stem.with_suffix(".ipynb").name}
    storage = _storage_failure(error_exc, out)
    if storage is None:
        try:
            exported = _export(job, stem, manifest, written, pdf=pdf and error is None)
            error = error or exported
        except StorageError as exc:
            storage = str(exc)
        except Exception as exc:  # noqa: BLE001 - a failure to export is recorded, like one to execute
            error = error or f"export: {type(exc).__name__}: {' '.join(str(exc).split())[:300]}"
    if storage is not None:  # disk full, read-only: one line naming the folder; nothing half-written is kept
        error = storage
        for suffix in (".ipynb", ".html", ".pdf"):
            stem.with_suffix(suffix).unlink(missing_ok=True)
        written = {}
    summary = read_json(out / SUMMARY_FILE) or {}
    if not stem.with_suffix(".ipynb").exists():
        error = error or "the notebook was not executed (no executed notebook was written)"
    elif not summary:
        error = error or "the notebook recorded nothing (no summary.json: it never created its Report)"
    if summary.get("params_digest") not in (None, manifest["params_digest"]):
        error = error or "the notebook ran with other params than the manifest records"
    if (out / METRICS_FILE).exists():
        written["metrics"] = METRICS_FILE
    written["figures"] = [f for fig in summary.get("figures", []) for f in fig["files"].values()]
    written["tables"] = [t["csv"] for t in summary.get("tables", [])]
    manifest.update({"status": STATUS_FAILED if error else STATUS_OK, "error": error,
                     "headline": summary.get("headline"), "stand_in": summary.get("stand_in"),
                     "training_s": summary.get("training_s"), "claims": summary.get("claims"),
                     "device": summary.get("device"), "files": written, "finished": _now(),
                     "runtime_s": round(time.perf_counter() - t0, 2)})
    try:
        write_json(manifest, out / MANIFEST_FILE)
    except StorageError as exc:
        raise StorageError(f"{error or 'the report rendered'}; and its manifest could not be marked: {exc}") from None
    if error:
        say(f"{job.name} [{profile}]: FAILED after {manifest['runtime_s']:.1f} s: {error.splitlines()[0]}")
    else:
        shown = " / ".join(f"{repo_relative(stem)}.{kind}" if i == 0 else f".{kind}"
                           for i, kind in enumerate(k for k in ("html", "pdf") if k in written))
        say(f"{job.name} [{profile}]: ok in {manifest['runtime_s']:.1f} s -> {shown}")
        broken = manifest.get("layout_defects") or []
        if broken:
            say(f"{job.name}: the page breaks {len(broken)} layout rule(s), listed in its manifest: {broken[0]}"
                + (" …" if len(broken) > 1 else ""))
    return manifest


def _export(job: ReportJob, stem: Path, manifest: dict, written: dict, pdf: bool) -> str | None:
    """Export the executed notebook at ``stem``.ipynb to HTML and (``pdf``) PDF, recording what it
    wrote in ``written`` and ``manifest`` (with the layout rules the page breaks: ``layout``); the
    error that stops it, or None."""
    error = None
    if stem.with_suffix(".ipynb").exists():
        exported = export_html(stem.with_suffix(".ipynb"), stem.with_suffix(".html"), title=job.params.title)
        written["html"] = stem.with_suffix(".html").name
        manifest["noise_outputs_hidden"] = exported["noise_outputs_hidden"]  # stderr / widgets, kept in the .ipynb
        manifest["sections_dropped"] = exported["sections_dropped"]  # not asked for by the params
        manifest["answer_figure"] = exported["answer_figure"]
        _renumber_summary(stem.parent / SUMMARY_FILE, exported["numbers"])
        if exported["external"]:
            error = f"the HTML would fetch {exported['external']}"
    if error is None and pdf and "html" in written:
        try:
            html_to_pdf(stem.with_suffix(".html"), stem.with_suffix(".pdf"))
            written["pdf"] = stem.with_suffix(".pdf").name
            manifest["pdf_pages"] = pdf_pages(stem.with_suffix(".pdf"))
            manifest["pdf_engine"] = browser_version()
        except StorageError:
            raise
        except (OSError, RuntimeError, ValueError) as exc:
            error = f"PDF: {exc}"
    if error is None and "html" in written:
        manifest["layout_defects"] = layout.defects(stem.with_suffix(".html"), stem.with_suffix(".pdf")
                                                    if "pdf" in written else None, _printed_tables(stem.parent))
    return error


def _printed_tables(out: Path) -> dict[int, tuple[str, list[str]]]:
    """Number -> (caption, column names) of each table of the report in ``out`` (its summary.json
    and the header rows of its CSV files), for ``layout.orphaned_captions``."""
    found = {}
    for entry in (read_json(out / SUMMARY_FILE) or {}).get("tables", []):
        with open(out / entry["csv"], newline="") as f:
            found[entry["number"]] = (entry["caption"], next(csv.reader(f), []))
    return found


def _renumber_summary(path: Path, numbers: Mapping[str, int]) -> None:
    """Give the tables and figures of a summary.json the numbers the page shows them with (the
    page numbers them in reading order, after moving the answer's figure and the appendix)."""
    summary = read_json(path)
    if not summary:
        return
    for kind in ("table", "figure"):
        for entry in summary.get(f"{kind}s", []):
            entry["number"] = numbers.get(f"{kind}-{entry['key']}", entry["number"])
    write_json(summary, path)


#: errno values that say the output folder cannot take the report (not a bug of the notebook)
STORAGE_ERRNOS = {errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EPERM, errno.EDQUOT}


def _storage_failure(exc: BaseException | None, out: Path) -> str | None:
    """The one line to report when ``exc`` (or an exception it chains) is a full or read-only disk:
    a StorageError's own message (raised in the kernel, it names its folder), or one naming
    ``out``; None for any other failure."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if getattr(exc, "ename", None) == "StorageError":
            return str(getattr(exc, "evalue", "")) or f"cannot write {out}"
        if isinstance(exc, OSError) and exc.errno in STORAGE_ERRNOS:
            return f"cannot write {out}: {exc.strerror or errno.errorcode[exc.errno]}"
        exc = exc.__cause__ or exc.__context__
    return None


@contextlib.contextmanager
def _signals_ignored():
    """A second Ctrl-C or SIGTERM while an interrupt is being cleaned up is ignored."""
    previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _interrupted(manifest: dict, out: Path, t0: float, say: Callable[[str], None]) -> dict:
    """Record an interrupted execution and remove the temporary files it left (the kernel is
    already shut down); the manifest."""
    removed = files.sweep_temporary(out, store.cache_dir())
    manifest.update({"status": STATUS_INTERRUPTED, "error": "interrupted (Ctrl-C or SIGTERM)", "finished": _now(),
                     "runtime_s": round(time.perf_counter() - t0, 2)})
    write_json(manifest, out / MANIFEST_FILE)
    say(f"{manifest['report']} [{manifest['profile']}]: interrupted after {manifest['runtime_s']:.1f} s"
        + (f"; removed {len(removed)} temporary file(s)" if removed else ""))
    return manifest


def _process_gone(manifest: Mapping) -> bool:
    """Whether a ``running`` manifest's process has ended (on this host; elsewhere it cannot be told)."""
    process = manifest.get("process") or {}
    if process.get("host") != socket.gethostname() or not isinstance(process.get("pid"), int):
        return False
    try:
        os.kill(process["pid"], 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def read_manifest(folder: Path) -> dict | None:
    """A report folder's manifest; one left ``running`` by a process that is gone reads as
    ``interrupted``."""
    manifest = read_json(Path(folder) / MANIFEST_FILE)
    if isinstance(manifest, dict) and manifest.get("status") == STATUS_RUNNING and _process_gone(manifest):
        manifest = {**manifest, "status": STATUS_INTERRUPTED, "error": "interrupted (its process is gone)"}
    return manifest if isinstance(manifest, dict) else None


def manifest_status(folder: Path) -> str:
    return (read_manifest(folder) or {}).get("status", "missing")


# ============================================================================ index

def build_index(output_root: str | Path = OUTPUTS_DIR) -> Path:
    """Write ``index.html`` (every report: link, one-line result, status, profile, commit) and
    ``manifest.json`` (all per-report manifests) in ``output_root``; returns the index path.
    Reports are the folders with a manifest, and the reports of params/ not rendered there."""
    root = files.make_folder(Path(output_root))
    entries = {}
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("_")):
        manifest = read_manifest(folder)
        if manifest is not None:
            entries[folder.name] = {**manifest, "report": folder.name}
    for name in report_names():
        if name in entries:
            continue
        try:
            params = load_params(name)
        except ParamsError:
            continue
        has_notebook = notebook_path(params).exists()
        entries[name] = {"report": name, "title": params.title, "study": params.study,
                         "status": "not rendered" if has_notebook else "no notebook yet",
                         "notebook": repo_relative(notebook_path(params)), "synthesis": isinstance(params, SynthesisParams)}
    # the syntheses (the suite's own answer across the studies) first, then the studies in order
    ordered = sorted(entries.values(), key=lambda m: (not m.get("synthesis"), str(m.get("study", "")), m["report"]))
    write_json({"generated": _now(), "git": git_state(), "reports": ordered}, root / MANIFEST_FILE)
    index = root / "index.html"
    files.write_text(_index_html(ordered), index)
    return index


def _duration(seconds: float) -> str:
    """A wall time as people read it: seconds under two minutes, else minutes, else hours."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min" if seconds < 7200 else f"{seconds / 3600:.1f} h"


def _index_html(entries: list[dict]) -> str:
    esc = html.escape
    rows = []
    for m in entries:
        name, files = m["report"], m.get("files") or {}
        title = esc(m.get("title", name))
        link = f'<a href="{esc(name)}/{esc(files["html"])}">{title}</a>' if files.get("html") else title
        others = [f'<a href="{esc(name)}/{esc(files[k])}">{label}</a>'
                  for k, label in (("pdf", "PDF"), ("notebook", "notebook"), ("metrics", "metrics"))
                  if files.get(k)]
        result = esc(m.get("headline") or ((m.get("error") or "").splitlines() or [""])[0])
        commit = (m.get("git") or {}).get("commit")
        commit = (commit[:10] + ("+dirty" if (m.get("git") or {}).get("dirty") else "")) if commit else ""
        runtime = f"{m['runtime_s']:.0f} s" if m.get("runtime_s") is not None else ""
        training = _duration(m["training_s"]) if m.get("training_s") is not None else ""
        stand_in = (f'<div class="sub stand-in">stand-in data: {esc(m["stand_in"])}</div>'
                    if m.get("stand_in") else "")
        rows.append(
            f'<tr class="status-{esc(str(m.get("status", "")).replace(" ", "-"))}">'
            f'<td>{link}<div class="sub">{esc(name)} · study {esc(str(m.get("study", "")))}</div></td>'
            f'<td>{result}{stand_in}</td><td class="status">{esc(str(m.get("status", "")))}</td>'
            f'<td>{esc(str(m.get("profile", "")))}</td><td>{" · ".join(others)}</td>'
            f'<td class="num">{training}</td><td class="num">{runtime}</td>'
            f'<td>{esc(str(m.get("device") or ""))}</td>'
            f'<td><code>{esc(commit)}</code><div class="sub">{esc(m.get("finished", ""))}</div></td></tr>')
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Loss-landscape geometry: reports</title>
<style>
body {{ font-family: "DejaVu Sans", "Helvetica Neue", Arial, sans-serif; margin: 2rem auto; max-width: 75rem;
       padding: 0 1rem; color: #222; }}
h1 {{ color: #1f4e79; font-size: 1.6rem; }}
table {{ border-collapse: collapse; width: 100%; font-size: 0.9rem; }}
th, td {{ text-align: left; vertical-align: top; padding: 0.45rem 0.6rem; border-bottom: 1px solid #ddd; }}
th {{ background: #f3f5f8; }}
td.num {{ text-align: right; white-space: nowrap; }}
.sub {{ color: #777; font-size: 0.78rem; margin-top: 0.15rem; }}
.status {{ font-weight: bold; white-space: nowrap; }}
tr.status-ok .status {{ color: #2e7d32; }}
tr.status-failed .status, tr.status-running .status, tr.status-interrupted .status {{ color: #c62828; }}
tr.status-not-rendered .status, tr.status-no-notebook-yet .status {{ color: #888; font-weight: normal; }}
a {{ color: #1f4e79; }}
</style></head>
<body>
<h1>Loss-landscape geometry: reports</h1>
<p>Each report is a notebook executed with its params file (<code>make reports</code>); the one-line
result is generated from the run's numbers. Training: the wall time its runs took to train, summed over
runs (when they were trained, possibly in an earlier render; on a shared or paused machine it includes the
waiting, so it bounds the compute from above); render: this render's wall time, which
reads trained runs and probe results from the caches. Generated {esc(_now())}.</p>
<table>
<thead><tr><th>report</th><th>result</th><th>status</th><th>profile</th><th>files</th><th>training</th><th>render</th>
<th>device</th><th>commit</th></tr></thead>
<tbody>
{chr(10).join(rows)}
</tbody></table>
</body></html>
"""
