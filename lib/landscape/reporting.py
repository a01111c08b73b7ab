"""Rendered reports: a parameterized notebook executed headless into HTML and PDF.

Two sides of one concept.

**Inside a notebook** (``Report``): the notebook sends every table, figure and number through a
``Report`` for its output directory (default, for a notebook run by hand:
``outputs/_scratch/<report>/``). ``Report.table`` shows a
numbered, captioned table (``<div id="table-<key>">``) and writes ``tables/<key>.csv``;
``Report.figure`` shows a numbered, captioned figure (``<figure id="figure-<key>">``, the SVG
embedded as a data URI) and writes ``figures/<key>.png`` and ``.svg``; ``Report.record`` adds
numbers to ``metrics.json``; ``Report.headline`` sets the one-line result shown in the index.
``summary.json`` (headline, device, tables, figures, claim counts) is rewritten after each call.

**From the command line** (``python -m landscape report``, ``make reports``; ``landscape.cli``):
``run_report`` executes ``notebooks/<params.notebook>.ipynb`` with papermill (parameters
``params_file``, ``profile``, ``overrides``, ``output_dir``, ``device``) into
``<root>/<name>/<name>.ipynb``, ``<name>`` being the params file's name and ``<root>`` the
output root (:func:`default_output_root`: ``outputs/`` holds only the full profile of the
suite's own params files without overrides, the published reports; other profiles go to
``outputs/_<profile>/``, anything else to ``outputs/_custom/``). While it runs it streams a line
per report section and the kernel's progress lines to stderr. Ctrl-C or SIGTERM shuts the
kernel down, removes temporary files and marks the manifest ``interrupted``; a manifest left
``running`` by a process that is gone reads as interrupted. It then exports ``<report>.html``
(code hidden, figures embedded, no script or stylesheet fetched from the network: nbconvert's
require.js, MathJax and mermaid loaders are removed, so math in reports is written in unicode)
and prints it to
``<report>.pdf`` with headless Chromium (Debian's ``chromium``, installed by ``make setup``),
then writes ``manifest.json`` (status, git commit, params digest, profile, runtime, device,
files). ``build_index`` writes ``<root>/index.html`` (every report with its one-line result)
and ``<root>/manifest.json`` (all per-report manifests).
"""
from __future__ import annotations

import base64
import contextlib
import datetime as _dt
import html
import io
import json
import math
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from . import claims as claims_mod
from .data import REPO_ROOT
from . import store
from .params import BASE_PROFILE, PARAMS_DIR, ParamsError, ReportParams, load_params, resolve_path

NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
OUTPUTS_DIR = REPO_ROOT / "outputs"
TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
TEMPLATE_NAME = "landscape_report"
BROWSER_ENV = "LANDSCAPE_BROWSER"
BROWSER_CANDIDATES = ("/usr/lib/chromium/chromium", "chromium", "chromium-browser", "google-chrome",
                      "google-chrome-stable")
PDF_TIMEOUT_S = 300
SUMMARY_FILE, METRICS_FILE, MANIFEST_FILE = "summary.json", "metrics.json", "manifest.json"
SCRATCH_DIR = OUTPUTS_DIR / "_scratch"  # notebooks run by hand (no output_dir) write here
STATUS_OK, STATUS_FAILED, STATUS_RUNNING, STATUS_INTERRUPTED = "ok", "failed", "running", "interrupted"
PROGRESS_LINES = {"LANDSCAPE_PROGRESS": "lines"}  # the kernel's progress: plain lines, streamed by run_report


# ============================================================================ shared helpers

def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def jsonable(value: Any) -> Any:
    """``value`` with numpy / pandas scalars, arrays and frames turned into JSON types; NaN and
    infinities become None (JSON has no NaN)."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, pd.DataFrame):
        return [jsonable(r) for r in value.to_dict(orient="records")]
    if isinstance(value, (pd.Series, np.ndarray, list, tuple)):
        return [jsonable(v) for v in (value.tolist() if hasattr(value, "tolist") else value)]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Path):
        return str(value)
    return value


def write_json(data: Any, path: Path) -> None:
    """Write ``data`` as indented JSON atomically (a reader never sees half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.tmp{os.getpid()}")
    tmp.write_text(json.dumps(jsonable(data), indent=2, ensure_ascii=False) + "\n")
    os.replace(tmp, path)


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None


def _flat_columns(df: pd.DataFrame) -> pd.DataFrame:
    """A copy with MultiIndex columns joined by spaces (for CSV)."""
    out = df.copy()
    if isinstance(out.columns, pd.MultiIndex):
        out.columns = [" ".join(str(p) for p in col if str(p)) for col in out.columns]
    return out


def default_format(column: Any, series: pd.Series) -> Callable[[Any], str] | str | None:
    """Table number format: 4 decimals for floats, a sign on differences (columns named Δ or
    starting with it), thousands separators for integers of 10,000 and more."""
    name = column[-1] if isinstance(column, tuple) else column
    if pd.api.types.is_float_dtype(series):
        return "{:+.4f}" if str(name).startswith("Δ") else "{:.4f}"
    if pd.api.types.is_integer_dtype(series) and not pd.api.types.is_bool_dtype(series):
        sign = "+" if str(name).startswith("Δ") else ""
        largest = series.abs().max()
        return f"{{:{sign},}}" if pd.notna(largest) and largest >= 10000 else f"{{:{sign}d}}"
    return None


# ============================================================================ notebook side

class Report:
    """The output sink of one report notebook (see module docstring)."""

    def __init__(self, params: ReportParams, output_dir: str | Path | None = None, notebook: str | None = None,
                 device: str = "auto"):
        from .runtime import select_device

        self.params = params
        self.dir = Path(output_dir) if output_dir else SCRATCH_DIR / params.report
        self.figures_dir, self.tables_dir = self.dir / "figures", self.dir / "tables"
        for d in (self.figures_dir, self.tables_dir):
            d.mkdir(parents=True, exist_ok=True)
        self.device = str(select_device(device))
        self.notebook = notebook or params.notebook
        self.metrics: dict[str, Any] = {}
        self.figures: list[dict] = []
        self.tables: list[dict] = []
        self.claim_counts: dict[str, int] | None = None
        self._headline: str | None = None
        self.started = _now()
        self._t0 = time.perf_counter()
        stale = [self.dir / METRICS_FILE, self.dir / SUMMARY_FILE, *self.figures_dir.glob("*.png"),
                 *self.figures_dir.glob("*.svg"), *self.tables_dir.glob("*.csv")]
        for path in stale:  # a fresh report: nothing left over from an earlier execution
            path.unlink(missing_ok=True)
        self._save()

    # ------------------------------------------------------------------ display
    @staticmethod
    def _display(obj: Any) -> None:
        from IPython.display import display

        display(obj)

    def markdown(self, text: str) -> None:
        """Show generated prose (Markdown; write math in unicode, e.g. λ_max, σ, α)."""
        from IPython.display import Markdown

        self._display(Markdown(text))

    def html(self, markup: str) -> None:
        from IPython.display import HTML

        self._display(HTML(markup))

    def banner(self, text: str, kind: str = "warning") -> None:
        """A highlighted box (``kind``: warning or info), e.g. for a stand-in dataset."""
        self.html(f'<div class="report-banner report-banner-{html.escape(kind)}">{text}</div>')

    def bullets(self, items: Sequence[str], intro: str | None = None) -> None:
        lines = ([intro, ""] if intro else []) + [f"- {item}" for item in items]
        self.markdown("\n".join(lines))

    def intro(self) -> None:
        """Title, the study's question and source, and banners for a non-default profile or
        overridden params (their numbers are not the study's setup)."""
        p = self.params
        source = p.reference.source
        file = REPO_ROOT / source.split(" (")[0]
        cited = f"[`{source}`]({os.path.relpath(file, self.dir)})" if file.is_file() else f"`{source}`"
        self.markdown(f"# {p.title}\n\n**Question.** {p.question}\n\n"
                      f"**Source study:** `{p.study}`; its published numbers are quoted from {cited} "
                      f"and appear only as labelled *study* values beside this run's.")
        if p.profile != "full":
            self.banner(f"<b>Profile “{html.escape(p.profile)}”</b>: reduced data and epochs for a quick check of "
                        "the pipeline; the numbers are not comparable with the study's.")

    def overrides_banner(self, overrides: Mapping | None) -> None:
        if overrides:
            self.banner("<b>Params overridden for this run:</b> "
                        f"<code>{html.escape(json.dumps(jsonable(overrides), ensure_ascii=False))}</code>")

    def pending(self, key: str, what: str, probes: Any = None) -> None:
        """Mark a section whose probe was not computed and say why (``key`` like ``probes.noise``):
        not in the params, not computable because no run completed (``probes``: the
        ``ProbeResults``, whose ``unavailable`` gives the reason), or not implemented."""
        node: Any = self.params
        for part in key.split("."):
            node = getattr(node, part, None)
        reason = (getattr(probes, "unavailable", None) or {}).get(key.split(".")[-1])
        if reason:
            text = f"Not computed: {html.escape(what)}; {html.escape(reason)}."
        elif node is None:
            text = f"Not part of this study's setup (no <code>{html.escape(key)}</code> in the params)."
        else:
            settings = ", ".join(f"{k} {v}" for k, v in jsonable(node.model_dump()).items())
            text = (f"Not computed in this version of the report: {html.escape(what)} "
                    f"(requested by <code>{html.escape(key)}</code>: {html.escape(settings)}).")
        self.html(f'<p class="report-pending">{text}</p>')

    def reproducibility(self, cache_keys: Mapping[str, str] | None = None) -> None:
        """How to re-run this report, and what identifies its inputs."""
        p = self.params
        lines = [f"- command: `make reports REPORTS={p.report} PROFILE={p.profile}`",
                 f"- params digest: `{p.digest()}` (profile `{p.profile}`); device: `{self.device}`"]
        if cache_keys:
            lines.append("- training cache keys: " + ", ".join(f"{k} `{v}`" for k, v in cache_keys.items()))
        lines.append("- the git commit, runtime and versions are in this report's `manifest.json`")
        self.markdown("\n".join(lines))

    # ------------------------------------------------------------------ tables
    def table(self, df: pd.DataFrame, key: str, caption: str, formats: Mapping[Any, Any] | None = None,
              note: str | None = None, row_classes: pd.DataFrame | None = None) -> None:
        """Show ``df`` as "Table n. caption" (id ``table-<key>``) and write ``tables/<key>.csv``.
        ``formats`` maps columns to format strings or callables (default: ``default_format``);
        ``row_classes`` (same shape as ``df``) adds CSS classes to cells."""
        _check_key(key)
        number = len([t for t in self.tables if t["key"] != key]) + 1
        csv_path = self.tables_dir / f"{key}.csv"
        _flat_columns(df).to_csv(csv_path, index=False)
        formatters = {col: (formats or {}).get(col, default_format(col, df[col])) for col in df.columns}
        kinds = ["" if pd.api.types.is_numeric_dtype(df[c]) else "text" for c in df.columns]
        classes = pd.DataFrame([kinds] * len(df), index=df.index, columns=df.columns)
        if row_classes is not None:
            classes = classes + " " + row_classes.reindex_like(classes).fillna("")
        styler = (df.style.set_uuid(key).hide(axis="index")
                  .format({c: f for c, f in formatters.items() if f is not None}, na_rep="—")
                  .set_caption(f"<b>Table {number}.</b> {html.escape(caption)}")
                  .set_td_classes(classes))
        markup = styler.to_html()
        note_html = f'<p class="report-note">{html.escape(note)}</p>' if note else ""
        self.html(f'<div class="report-table" id="table-{key}">{markup}{note_html}</div>')
        entry = {"key": key, "number": number, "caption": caption, "csv": str(csv_path.relative_to(self.dir))}
        self.tables = [t for t in self.tables if t["key"] != key] + [entry]
        self._save()

    # ------------------------------------------------------------------ figures
    def figure(self, fig, key: str, caption: str, dpi: int = 150) -> None:
        """Show a matplotlib figure as "Figure n. caption" (id ``figure-<key>``, SVG embedded),
        write ``figures/<key>.png`` and ``figures/<key>.svg``, and close the figure."""
        import matplotlib.pyplot as plt

        _check_key(key)
        number = len([f for f in self.figures if f["key"] != key]) + 1
        files = {}
        for fmt in ("png", "svg"):
            path = self.figures_dir / f"{key}.{fmt}"
            fig.savefig(path, format=fmt, dpi=dpi, bbox_inches="tight", metadata=_figure_metadata(fmt))
            files[fmt] = str(path.relative_to(self.dir))
        buffer = io.BytesIO()
        fig.savefig(buffer, format="svg", bbox_inches="tight", metadata=_figure_metadata("svg"))
        plt.close(fig)
        data = base64.b64encode(buffer.getvalue()).decode("ascii")
        alt = html.escape(caption, quote=True)
        self.html(f'<figure class="report-figure" id="figure-{key}">'
                  f'<img src="data:image/svg+xml;base64,{data}" alt="{alt}"/>'
                  f'<figcaption><b>Figure {number}.</b> {html.escape(caption)}</figcaption></figure>')
        entry = {"key": key, "number": number, "caption": caption, "files": files}
        self.figures = [f for f in self.figures if f["key"] != key] + [entry]
        self._save()

    # ------------------------------------------------------------------ numbers
    def record(self, section: str, values: Any) -> None:
        """Store ``values`` (numbers, dicts, frames) under ``section`` in metrics.json."""
        self.metrics[section] = jsonable(values)
        write_json(self.metrics, self.dir / METRICS_FILE)

    def save_csv(self, df: pd.DataFrame, name: str) -> Path:
        """Write a data frame (e.g. every epoch of every run) as ``<name>.csv`` in the output dir."""
        _check_key(name)
        path = self.dir / f"{name}.csv"
        _flat_columns(df).to_csv(path, index=False)
        return path

    def headline(self, text: str) -> None:
        """The one-line result of the report, shown in outputs/index.html (build it from numbers)."""
        self._headline = text
        self._save()

    def claims(self, claims: Sequence[claims_mod.Claim], key: str = "claims",
               caption: str = "The study's claims and what this run shows.") -> None:
        """The claims table, each verdict coloured; counts go to metrics.json and the summary."""
        df = claims_mod.table(list(claims))
        classes = pd.DataFrame("", index=df.index, columns=df.columns)
        classes["verdict"] = [f"verdict verdict-{c.verdict}" for c in claims]
        self.claim_counts = claims_mod.counts(list(claims))
        self.record("claims", [{"text": c.text, "verdict": c.verdict, "evidence": c.evidence, "check": c.check}
                               for c in claims])
        self.table(df, key, caption, row_classes=classes)

    def _save(self) -> None:
        write_json({"report": self.params.report, "title": self.params.title, "profile": self.params.profile,
                    "params_digest": self.params.digest(), "notebook": self.notebook, "device": self.device,
                    "headline": self._headline, "tables": self.tables, "figures": self.figures,
                    "claims": self.claim_counts, "started": self.started, "updated": _now(),
                    "elapsed_s": round(time.perf_counter() - self._t0, 3)}, self.dir / SUMMARY_FILE)


def _check_key(key: str) -> None:
    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]*", key):
        raise ValueError(f"key {key!r}: use lower-case letters, digits, '-' and '_' (it names files and ids)")


def _figure_metadata(fmt: str) -> dict:
    """No creation dates in figure files, so a re-run with the same numbers gives the same bytes."""
    return {"svg": {"Date": None}, "png": {"Software": None}}.get(fmt, {})


# ============================================================================ executing

@dataclass(frozen=True)
class ReportJob:
    """One (notebook, params) pair."""

    name: str
    params_file: Path
    notebook: Path
    params: ReportParams


def report_names() -> list[str]:
    """Every report that has a params file, sorted."""
    return sorted(p.stem for p in PARAMS_DIR.glob("*.yaml"))


def notebook_path(params: ReportParams) -> Path:
    return NOTEBOOKS_DIR / f"{params.notebook}.ipynb"


def runnable_reports() -> list[str]:
    """The reports in params/ whose notebook exists."""
    names = []
    for name in report_names():
        try:
            if notebook_path(load_params(name)).exists():
                names.append(name)
        except ParamsError:
            pass
    return names


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
    params = load_params(params_file, profile, dict(overrides or {}))
    claims_mod.parse(params)
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


def _section_heading(cell) -> str | None:
    """The heading text of a markdown cell that opens a section (# or ##), else None."""
    match = re.match(r"#{1,2}\s+(.+)", cell.source.lstrip()) if cell.cell_type == "markdown" else None
    return match.group(1).strip() if match else None


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

    Path(output_notebook).parent.mkdir(parents=True, exist_ok=True)

    def on_cell_start(cell, cell_index):  # noqa: ARG001 - nbclient's hook signature
        heading = _section_heading(cell)
        if heading and log:
            log(f"  § {heading}")

    lib = str(Path(__file__).resolve().parents[1])
    # the kernel imports this package from lib/ also where `make setup`'s .pth file is missing
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


WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def _is_noise(output: Mapping) -> bool:
    """stderr streams (warnings, text progress bars) and widget views (tqdm.auto's progress bars)."""
    if output.get("output_type") == "stream":
        return output.get("name") == "stderr"
    return WIDGET_VIEW in (output.get("data") or {})


def strip_noise(nb) -> int:
    """Remove stderr streams and widget outputs from a notebook node, in place, and return how
    many were removed. The executed .ipynb keeps them; the rendered report (read offline, without
    widget JavaScript) does not."""
    removed = 0
    for cell in nb.cells:
        outputs = cell.get("outputs")
        if not outputs:
            continue
        kept = [o for o in outputs if not _is_noise(o)]
        removed += len(outputs) - len(kept)
        cell["outputs"] = kept
    nb.metadata.pop("widgets", None)
    return removed


def html_exporter():
    """nbconvert's HTML exporter with the report template: input code hidden, no prompts,
    images embedded, nothing loaded from the network."""
    from nbconvert import HTMLExporter

    return HTMLExporter(template_name=TEMPLATE_NAME, extra_template_basedirs=[str(TEMPLATES_DIR)],
                        exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True,
                        embed_images=True)


def export_html(nb, html_path: str | Path, title: str | None = None) -> dict:
    """Render an executed notebook (node or path) to a self-contained HTML page."""
    import nbformat

    if not hasattr(nb, "cells"):
        nb = nbformat.read(str(nb), as_version=4)
    nb = nbformat.from_dict(json.loads(json.dumps(nb)))  # a copy: the executed notebook stays intact
    removed = strip_noise(nb)
    if title:
        nb.metadata["title"] = title
    body, _ = html_exporter().from_notebook_node(nb)
    html_path = Path(html_path)
    html_path.write_text(body, encoding="utf-8")
    return {"path": str(html_path), "noise_outputs_hidden": removed, "external": external_references(body)}


_EXTERNAL = re.compile(r"""<(?:script|link|img|iframe|source)\b[^>]*?\b(?:src|href)\s*=\s*["']?"""
                       r"""((?:https?:)?//[^"'\s>]+)""", re.IGNORECASE)


def external_references(markup: str) -> list[str]:
    """URLs an HTML page would fetch (scripts, stylesheets, images, frames); a report has none."""
    found = _EXTERNAL.findall(markup)
    found += re.findall(r"""@import\s+(?:url\()?["']?((?:https?:)?//[^"')\s]+)""", markup)
    return sorted(set(found))


def find_browser() -> str:
    """The Chromium executable used to print PDFs: $LANDSCAPE_BROWSER, else Debian's chromium."""
    explicit = os.environ.get(BROWSER_ENV)
    candidates = [explicit] if explicit else list(BROWSER_CANDIDATES)
    for candidate in candidates:
        path = candidate if os.path.isabs(candidate) else shutil.which(candidate)
        if path and os.access(path, os.X_OK):
            return path
    raise FileNotFoundError("no Chromium to print the PDF with: run 'make setup' (installs Debian's chromium), "
                            f"or set {BROWSER_ENV} to a Chromium or Chrome executable")


def browser_version(browser: str | None = None) -> str | None:
    try:
        out = subprocess.run([browser or find_browser(), "--version"], capture_output=True, text=True, timeout=60)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError, FileNotFoundError):
        return None


def html_to_pdf(html_path: str | Path, pdf_path: str | Path, timeout: float = PDF_TIMEOUT_S) -> Path:
    """Print a local HTML page to PDF with headless Chromium (offline: no network access is
    attempted; page size and margins come from the page's @page rule)."""
    browser = find_browser()
    html_path, pdf_path = Path(html_path).resolve(), Path(pdf_path).resolve()
    tmp_pdf = pdf_path.with_name(pdf_path.name + f".tmp{os.getpid()}")
    with tempfile.TemporaryDirectory(prefix="landscape-chromium-") as profile:
        cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               "--disable-extensions", "--disable-dev-shm-usage", "--disable-default-apps", "--mute-audio",
               "--hide-scrollbars", f"--user-data-dir={profile}", "--no-pdf-header-footer",
               "--generate-pdf-document-outline", f"--print-to-pdf={tmp_pdf}", html_path.as_uri()]
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                                  env={**os.environ, "HOME": profile})
        except subprocess.TimeoutExpired:
            tmp_pdf.unlink(missing_ok=True)
            raise RuntimeError(f"Chromium did not print {html_path.name} within {timeout:.0f} s") from None
    if done.returncode != 0 or not tmp_pdf.exists() or tmp_pdf.stat().st_size == 0:
        tmp_pdf.unlink(missing_ok=True)
        tail = "\n".join(done.stderr.strip().splitlines()[-5:])
        raise RuntimeError(f"Chromium failed to print {html_path.name} (exit {done.returncode}):\n{tail}")
    os.replace(tmp_pdf, pdf_path)
    return pdf_path


def pdf_pages(pdf_path: str | Path) -> int:
    """Number of pages of a PDF (poppler's pdfinfo when installed, else a count of page objects)."""
    pdfinfo = shutil.which("pdfinfo")
    if pdfinfo:
        out = subprocess.run([pdfinfo, str(pdf_path)], capture_output=True, text=True, timeout=60)
        match = re.search(r"^Pages:\s+(\d+)", out.stdout, re.MULTILINE)
        if out.returncode == 0 and match:
            return int(match.group(1))
        raise ValueError(f"{pdf_path}: not a readable PDF ({out.stderr.strip()})")
    return len(re.findall(rb"/Type\s*/Page(?!s)", Path(pdf_path).read_bytes()))


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
               timeout: int | None = None, log: Callable[[str], None] | None = _log_stderr) -> dict:
    """Execute one report (a job, a report name or a params file path) and export it (see module
    docstring); returns its manifest. Invalid params raise ParamsError before anything runs; a
    failing notebook gives status "failed" (with the error) and its HTML still shows where it
    failed; an interrupt gives status "interrupted" (nothing is exported). ``output_root``
    defaults to :func:`default_output_root`."""
    if not isinstance(job, ReportJob):
        job = make_job(job, profile, overrides)
    root = Path(output_root) if output_root is not None else default_output_root(profile, overrides, job.params_file)
    out = root.resolve() / job.name
    out.mkdir(parents=True, exist_ok=True)
    stem = out / job.name
    say = log or (lambda message: None)
    manifest = {"report": job.name, "title": job.params.title, "study": job.params.study,
                "notebook": repo_relative(job.notebook), "params_file": repo_relative(job.params_file),
                "profile": profile, "overrides": dict(overrides or {}), "params_digest": job.params.digest(),
                "git": git_state(), "status": STATUS_RUNNING, "started": _now(), "device": None,
                "process": {"pid": os.getpid(), "host": socket.gethostname()},
                "environment": _environment(), "cache": os.environ.get(store.CACHE_ENV)}
    write_json(manifest, out / MANIFEST_FILE)
    store.sweep_temporary(out, store.cache_dir())  # left by a run that was killed
    for suffix in (".ipynb", ".html", ".pdf"):  # nothing from an earlier execution is passed off as this one's
        stem.with_suffix(suffix).unlink(missing_ok=True)
    for stale in (SUMMARY_FILE, METRICS_FILE):
        (out / stale).unlink(missing_ok=True)
    say(f"{job.name} [{profile}]: executing {manifest['notebook']} -> {repo_relative(out)}/")
    t0 = time.perf_counter()
    parameters = {"params_file": repo_relative(job.params_file), "profile": profile,
                  "overrides": dict(overrides or {}), "output_dir": str(out), "device": device}
    error = None
    try:
        execute_notebook(job.notebook, stem.with_suffix(".ipynb"), parameters, timeout=timeout, log=log)
    except KeyboardInterrupt:
        with _signals_ignored():
            return _interrupted(manifest, out, t0, say)
    except Exception as exc:  # noqa: BLE001 - every failure is recorded in the manifest
        ename = getattr(exc, "ename", type(exc).__name__)
        evalue = getattr(exc, "evalue", str(exc))
        error = f"{ename}: {evalue}"
    store.sweep_temporary(out, store.cache_dir())  # a kernel killed on a timeout can leave some
    manifest["execution_s"] = round(time.perf_counter() - t0, 2)
    files = {"notebook": stem.with_suffix(".ipynb").name}
    if stem.with_suffix(".ipynb").exists():
        exported = export_html(stem.with_suffix(".ipynb"), stem.with_suffix(".html"), title=job.params.title)
        files["html"] = stem.with_suffix(".html").name
        manifest["noise_outputs_hidden"] = exported["noise_outputs_hidden"]  # stderr / widgets, kept in the .ipynb
        if exported["external"]:
            error = error or f"the HTML would fetch {exported['external']}"
    if error is None and pdf:
        try:
            html_to_pdf(stem.with_suffix(".html"), stem.with_suffix(".pdf"))
            files["pdf"] = stem.with_suffix(".pdf").name
            manifest["pdf_pages"] = pdf_pages(stem.with_suffix(".pdf"))
            manifest["pdf_engine"] = browser_version()
        except (OSError, RuntimeError, ValueError) as exc:
            error = f"PDF: {exc}"
    summary = read_json(out / SUMMARY_FILE) or {}
    if not stem.with_suffix(".ipynb").exists():
        error = error or "the notebook was not executed (no executed notebook was written)"
    elif not summary:
        error = error or "the notebook recorded nothing (no summary.json: it never created its Report)"
    if summary.get("params_digest") not in (None, manifest["params_digest"]):
        error = error or "the notebook ran with other params than the manifest records"
    if (out / METRICS_FILE).exists():
        files["metrics"] = METRICS_FILE
    files["figures"] = [f for fig in summary.get("figures", []) for f in fig["files"].values()]
    files["tables"] = [t["csv"] for t in summary.get("tables", [])]
    manifest.update({"status": STATUS_FAILED if error else STATUS_OK, "error": error,
                     "headline": summary.get("headline"), "claims": summary.get("claims"),
                     "device": summary.get("device"), "files": files, "finished": _now(),
                     "runtime_s": round(time.perf_counter() - t0, 2)})
    write_json(manifest, out / MANIFEST_FILE)
    if error:
        say(f"{job.name} [{profile}]: FAILED after {manifest['runtime_s']:.1f} s: {error.splitlines()[0]}")
    else:
        written = " / ".join(f"{repo_relative(stem)}.{kind}" if i == 0 else f".{kind}"
                             for i, kind in enumerate(k for k in ("html", "pdf") if k in files))
        say(f"{job.name} [{profile}]: ok in {manifest['runtime_s']:.1f} s -> {written}")
    return manifest


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
    removed = store.sweep_temporary(out, store.cache_dir())
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
    root = Path(output_root)
    root.mkdir(parents=True, exist_ok=True)
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
                         "notebook": repo_relative(notebook_path(params))}
    ordered = sorted(entries.values(), key=lambda m: (str(m.get("study", "")), m["report"]))
    write_json({"generated": _now(), "git": git_state(), "reports": ordered}, root / MANIFEST_FILE)
    index = root / "index.html"
    index.write_text(_index_html(ordered), encoding="utf-8")
    return index


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
        rows.append(
            f'<tr class="status-{esc(str(m.get("status", "")).replace(" ", "-"))}">'
            f'<td>{link}<div class="sub">{esc(name)} · study {esc(str(m.get("study", "")))}</div></td>'
            f'<td>{result}</td><td class="status">{esc(str(m.get("status", "")))}</td>'
            f'<td>{esc(str(m.get("profile", "")))}</td><td>{" · ".join(others)}</td>'
            f'<td class="num">{runtime}</td><td>{esc(str(m.get("device") or ""))}</td>'
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
result is generated from the run's numbers. Generated {esc(_now())}.</p>
<table>
<thead><tr><th>report</th><th>result</th><th>status</th><th>profile</th><th>files</th><th>runtime</th>
<th>device</th><th>commit</th></tr></thead>
<tbody>
{chr(10).join(rows)}
</tbody></table>
</body></html>
"""
