"""The output sink of a report notebook: every table, figure and number of a report goes through
a :class:`Report` for its output directory (default, for a notebook run by hand:
``outputs/_scratch/<report>/``). The sink knows no domain: it is told what the page is
(``IDENTITY_KEYS``) and writes what it is given; what a report says is made in ``pages`` and
``sections``.

``Report.table`` shows a numbered, captioned table (``<div id="table-<key>">``) and writes
``tables/<key>.csv``; ``Report.figure`` shows a numbered, captioned figure (``<figure
id="figure-<key>">``, the SVG embedded as a data URI) and writes ``figures/<key>.png`` and
``.svg``; ``Report.record`` adds numbers to ``metrics.json``; ``Report.headline`` sets the
one-line result shown in the index. ``summary.json`` (headline, device, tables, figures, claim
counts) is rewritten after each call. The renderer (``landscape.reporting.render``) executes notebooks and
reads these files.
"""
from __future__ import annotations

import base64
import datetime as _dt
import html
import io
import json
import math
import os
import re
import time
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from ..core import escaping, files
from . import interactive as interactive_mod
from ..core.paths import REPO_ROOT
from ..verdicts import stats

OUTPUTS_DIR = REPO_ROOT / "outputs"
SCRATCH_DIR = OUTPUTS_DIR / "_scratch"  # notebooks run by hand (no output_dir) write here
NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
SUMMARY_FILE, METRICS_FILE = "summary.json", "metrics.json"
IDENTITY_KEYS = ("report", "title", "profile", "params_digest", "notebook")  # of a page, in summary.json

# How figures print (report.css prints A4 with 13 mm side margins): as wide as the text at most,
# and PRINT_HEIGHT_MM tall at most, so that a figure pushed to the next page leaves less than a
# third of a page empty; a figure whose smallest text would then print under MIN_FIGURE_TEXT_PT
# may be as tall as that text needs, up to MAX_PRINT_HEIGHT_MM.
MM_PT = 72 / 25.4  # points per millimetre
PRINT_WIDTH_MM, PRINT_HEIGHT_MM, MAX_PRINT_HEIGHT_MM = 184.0, 64.0, 150.0
MIN_FIGURE_TEXT_PT = 5.5


def now() -> str:
    """The time now, UTC, ISO 8601 to the second (manifests and summaries)."""
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
    """Write ``data`` as indented JSON atomically (a reader never sees half a file; ``files``)."""
    files.write_text(json.dumps(jsonable(data), indent=2, ensure_ascii=False) + "\n", path)


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


# The outline of a page, as data: an output of this type (shown as nothing) attaches an entry to
# the cell that made it, and ``export.arrange`` reads it there and removes it: {"term": name,
# "meaning": words} (the guide lists it under its section), {"absent": params key} (the section is
# dropped), {"answer": figure id or None} (the cell and its heading open the page, with that
# figure moved into it) or {"appendix": table id} (the table shown next moves to the appendix).
OUTLINE_MIME = "application/vnd.landscape.outline+json"


def default_format(column: Any, series: pd.Series) -> Callable[[Any], str] | str | None:
    """Table number format: floats to 4 significant digits (``stats.number_text``: "13" for 13.0,
    no "−0"), integers with thousands separators from 10,000 on; a sign on differences (columns
    named Δ or starting with it)."""
    name = column[-1] if isinstance(column, tuple) else column
    signed = str(name).startswith("Δ")
    if pd.api.types.is_float_dtype(series):
        return lambda x: stats.number_text(x, signed=signed)
    if pd.api.types.is_integer_dtype(series) and not pd.api.types.is_bool_dtype(series):
        sign = "+" if signed else ""
        largest = series.abs().max()
        return f"{{:{sign},}}" if pd.notna(largest) and largest >= 10000 else f"{{:{sign}d}}"
    return None


PRINT_WIDTH_PX = 680  # an A4 page's text width in CSS pixels (report.css @page margins), less a little
PRINT_CHAR_PX = 8.2  # a character of the 12 px table font (digits 7.6, bold headers wider), and padding per cell
PRINT_CELL_PADDING_PX = 10
PRINT_TEXT_MIN_PX = 72  # report.css: a text cell is at least 6em wide


def _width(texts: Sequence[str], wrap: float = 2.5) -> float:
    """Width (px) that ``texts`` need in a printed column: their longest word (cells and headers
    wrap at spaces, never inside a number), and at least 1/``wrap`` of the longest text so a
    cell takes few lines."""
    words = [w for t in texts for w in str(t).split()] or [""]
    return max(max(len(w) for w in words), max(len(str(t)) for t in texts) / wrap) * PRINT_CHAR_PX \
        + PRINT_CELL_PADDING_PX


def print_parts(df: pd.DataFrame, formatters: Mapping[Any, Any]) -> list[list]:
    """The columns of ``df`` cut into tables that fit the printed page's width: each part repeats
    the first column (what a row is) and any text columns right after it, keeps a top-level
    column group together, and is as wide as fits; one part when the whole table fits."""
    columns = list(df.columns)

    def cells(col) -> list[str]:
        f = formatters.get(col)
        return [("—" if not isinstance(v, (list, tuple, dict)) and pd.isna(v) else
                 f(v) if callable(f) else f.format(v) if isinstance(f, str) else str(v)) for v in df[col]]

    def leaf(col) -> str:
        return str(col[-1] if isinstance(col, tuple) else col)

    def top(col) -> Any:
        return col[0] if isinstance(col, tuple) else col

    widths = {col: max(_width(cells(col) + [leaf(col)]),
                       0 if pd.api.types.is_numeric_dtype(df[col]) else PRINT_TEXT_MIN_PX) for col in columns}
    groups: dict[Any, list] = {}
    for col in columns:
        groups.setdefault(top(col), []).append(col)
    group_widths = {name: max(sum(widths[c] for c in cols), _width([str(name)], wrap=2) if len(cols) > 1 else 0)
                    for name, cols in groups.items()}
    if sum(group_widths.values()) <= PRINT_WIDTH_PX:
        return [columns]
    names = list(groups)
    lead = names[:1]
    for name in names[1:3]:  # text columns right after the first
        if any(pd.api.types.is_numeric_dtype(df[c]) for c in groups[name]):
            break
        lead.append(name)
    room = PRINT_WIDTH_PX - sum(group_widths[n] for n in lead)
    parts, current, used = [], [], 0.0
    for name in names[len(lead):]:
        if current and used + group_widths[name] > room:
            parts.append(current)
            current, used = [], 0.0
        current, used = current + [name], used + group_widths[name]
    parts.append(current)
    return [[c for n in lead + part for c in groups[n]] for part in parts]


class Report:
    """The output sink of one report notebook (see module docstring)."""

    def __init__(self, identity: Mapping[str, str], output_dir: str | Path | None = None, device: str = "auto"):
        from ..core.runtime import select_device

        self.identity = dict(identity)  # IDENTITY_KEYS: what summary.json says the page is
        missing = set(IDENTITY_KEYS) - set(self.identity)
        if missing:
            raise ValueError(f"a report's identity needs {sorted(missing)}")
        self.rendered = output_dir is not None  # by ``render``; else a hand run (JupyterLab), into SCRATCH_DIR
        self.dir = Path(output_dir) if output_dir else SCRATCH_DIR / self.identity["report"]
        self.figures_dir, self.tables_dir = self.dir / "figures", self.dir / "tables"
        for d in (self.figures_dir, self.tables_dir):
            files.make_folder(d)
        self.device = str(select_device(device))
        self.metrics: dict[str, Any] = {}
        self.figures: list[dict] = []
        self.tables: list[dict] = []
        self._claims: dict[str, int] | None = None  # for the index: claims per verdict
        self._headline: str | None = None
        self._stand_in: str | None = None  # for the index: which data stands in for the study's
        self._training_s: float | None = None  # for the index: the runs' training wall time, summed
        self.started = now()
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
        """Show generated prose (Markdown; write math in unicode, e.g. λ_max, σ, α). It is shown as
        the HTML of ``escaping.markdown_html`` (raw HTML escaped); params text inside it goes
        through ``escaping.literal``."""
        from IPython.display import display

        display({"text/markdown": text, "text/html": escaping.markdown_html(text)}, raw=True)

    def html(self, markup: str) -> None:
        """Show markup the suite's code wrote (any outside text in it through ``escaping.html_text``)."""
        from IPython.display import HTML

        self._display(HTML(markup))

    def banner(self, title: str, text: str = "", kind: str = "warning") -> None:
        """A highlighted box (``kind``: warning or info), e.g. for a stand-in dataset: ``title`` in
        bold, then ``text``; both plain text."""
        self.html(f'<div class="report-banner report-banner-{escaping.html_text(kind)}"><b>'
                  f'{escaping.html_text(title)}</b> {escaping.html_text(text)}</div>')

    def bullets(self, items: Sequence[str], intro: str | None = None) -> None:
        """A list of generated Markdown ``items`` under an optional ``intro``."""
        lines = ([intro, ""] if intro else []) + [f"- {item}" for item in items]
        self.markdown("\n".join(lines))

    # ------------------------------------------------------------------ links
    @property
    def page_dir(self) -> Path:
        """The folder relative links on this page start from: the report's output folder when it is
        rendered (``render``), ``notebooks/`` for a notebook run by hand (JupyterLab resolves a link
        in an output from the notebook's folder)."""
        return self.dir if self.rendered else NOTEBOOKS_DIR

    def link(self, path: Path) -> str:
        """A relative link from this page to ``path`` (a file of the repository)."""
        return Path(os.path.relpath(path, self.page_dir)).as_posix()

    def report_link(self, report: str) -> str:
        """A link to another report's page: its sibling in a render; from a hand run, the published
        one (``outputs/<report>/<report>.html``)."""
        return f"../{report}/{report}.html" if self.rendered else self.link(OUTPUTS_DIR / report / f"{report}.html")

    def term(self, name: str, meaning: str) -> None:
        """Declare a term this section introduces, in plain words: the rendered page lists it, with
        a link to the section, in its "How to read this report" (``export.arrange``). Shows nothing."""
        self.outline({"term": name, "meaning": meaning})

    @staticmethod
    def outline(entry: dict) -> None:
        """Attach ``entry`` (see ``OUTLINE_MIME``) to the cell being executed as an output whose
        plain-text form is empty, so nothing is shown."""
        from IPython.display import display

        display({OUTLINE_MIME: entry, "text/plain": ""}, raw=True)

    # ------------------------------------------------------------------ tables
    def table(self, df: pd.DataFrame, key: str, caption: str, formats: Mapping[Any, Any] | None = None,
              note: str | None = None, row_classes: pd.DataFrame | None = None, appendix: bool = False) -> None:
        """Show ``df`` as "Table n. caption" (id ``table-<key>``) and write ``tables/<key>.csv``.
        ``formats`` maps columns to format strings or callables (default: ``default_format``);
        ``row_classes`` (same shape as ``df``) adds CSS classes to cells. ``appendix``: a table of
        every run or seed, which the rendered page moves to its appendix (``export.arrange``),
        leaving a link where it was made."""
        _check_key(key)
        if appendix:
            self.outline({"appendix": f"table-{key}"})
        number = len([t for t in self.tables if t["key"] != key]) + 1
        csv_path = self.tables_dir / f"{key}.csv"
        files.write_text(_flat_columns(df).to_csv(index=False), csv_path)
        formatters = {col: (formats or {}).get(col, default_format(col, df[col])) for col in df.columns}
        kinds = ["" if pd.api.types.is_numeric_dtype(df[c]) else "text" for c in df.columns]
        classes = pd.DataFrame([kinds] * len(df), index=df.index, columns=df.columns)
        if row_classes is not None:
            classes = classes + " " + row_classes.reindex_like(classes).fillna("")
        def markup(columns: list, title: str, uuid: str) -> str:
            # every cell and header is text, escaped (escape="html"), whatever its column's format
            return (df[columns].style.set_uuid(uuid).hide(axis="index")
                    .format({c: formatters[c] for c in columns}, na_rep="—", escape="html")
                    .format_index(escape="html", axis=1)
                    .set_caption(title).set_td_classes(classes[columns]).to_html())

        title = f"<b>Table {number}.</b> {html.escape(caption)}"
        note_html = f'<p class="report-note">{html.escape(note)}</p>' if note else ""
        parts = print_parts(df, formatters)
        # hidden on screen also where report.css is absent (JupyterLab); the printed page shows them instead
        printed = "" if len(parts) == 1 else '<div class="report-print-parts" style="display: none">' + "".join(
            f'<div class="report-table report-table-part">{markup(cols, f"{title} (part {i} of {len(parts)})", f"{key}-part{i}")}'
            f'{note_html if i == len(parts) else ""}</div>' for i, cols in enumerate(parts, start=1)) + "</div>"
        whole = "report-table" + ("" if len(parts) == 1 else " report-screen-only")
        self.html(f'<div class="{whole}" id="table-{key}">{markup(list(df.columns), title, key)}{note_html}</div>'
                  + printed)
        entry = {"key": key, "number": number, "caption": caption, "csv": str(csv_path.relative_to(self.dir))}
        self.tables = [t for t in self.tables if t["key"] != key] + [entry]
        self._save()

    # ------------------------------------------------------------------ figures
    def figure(self, fig, key: str, caption: str, dpi: int = 150, interactive: Mapping | None = None) -> None:
        """Show a matplotlib figure as "Figure n. caption" (id ``figure-<key>``, SVG embedded),
        write ``figures/<key>.png`` and ``figures/<key>.svg``, and close the figure. The summary
        records any linear axis whose data span more than 3 decades (``plotting.linear_axis_spans``)
        and how the figure prints (:func:`print_layout`); both are checked on every smoke render.
        ``interactive``: a plotly spec of the same numbers (``interactive`` module), drawn over the
        static figure on a rendered page (the PDF and a hand run show the static one)."""
        import matplotlib.pyplot as plt

        from .plotting import linear_axis_spans, plain_log_ticks, smallest_text_pt

        _check_key(key)
        plain_log_ticks(fig)
        number = len([f for f in self.figures if f["key"] != key]) + 1
        squashed = linear_axis_spans(fig)
        paths = {fmt: self.figures_dir / f"{key}.{fmt}" for fmt in ("png", "svg")}
        drawn = {}
        for fmt in paths:
            buffer = io.BytesIO()
            fig.savefig(buffer, format=fmt, dpi=dpi, bbox_inches="tight", metadata=_figure_metadata(fmt))
            drawn[fmt] = buffer.getvalue()
            files.write_bytes(drawn[fmt], paths[fmt])
        svg = drawn["svg"]  # the file is the drawing the page embeds
        written = {fmt: str(path.relative_to(self.dir)) for fmt, path in paths.items()}
        smallest = smallest_text_pt(fig)
        plt.close(fig)
        width_pt, height_pt = (float(v) for v in re.search(rb'<svg[^>]*?width="([0-9.]+)pt" height="([0-9.]+)pt"',
                                                            svg).groups())
        printed = print_layout(width_pt / MM_PT, height_pt / MM_PT, smallest)
        data = base64.b64encode(svg).decode("ascii")
        alt = html.escape(caption, quote=True)
        view = ""
        if interactive is not None and self.rendered:  # pages of one render share the library at <root>/assets
            name = interactive_mod.store_library(self.dir.parent)
            view = interactive_mod.markup(interactive, f"../{interactive_mod.ASSETS_DIR}/{name}")
        self.html(f'<figure class="report-figure" id="figure-{key}">'
                  f'<img src="data:image/svg+xml;base64,{data}" alt="{alt}" '
                  f'style="--print-max-height: {printed["max_height_mm"]}mm"/>{view}'
                  f'<figcaption><b>Figure {number}.</b> {html.escape(caption)}</figcaption></figure>')
        entry = {"key": key, "number": number, "caption": caption, "files": written,
                 "linear_axes_over_3_decades": squashed, "print": printed, "interactive": bool(view)}
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
        files.write_text(_flat_columns(df).to_csv(index=False), path)
        return path

    def index_facts(self, stand_in: str | None = None, training_s: float | None = None,
                    claims: Mapping[str, int] | None = None) -> None:
        """What the index shows beside the headline: the stand-in data (in words), the summed
        training wall time of the report's runs (seconds, as they were trained: from the cache too)
        and how many claims got each verdict."""
        self._stand_in = stand_in if stand_in is not None else self._stand_in
        self._training_s = training_s if training_s is not None else self._training_s
        self._claims = dict(claims) if claims is not None else self._claims
        self._save()

    def headline(self, text: str) -> None:
        """The one-line result of the report, shown in outputs/index.html (build it from numbers)."""
        self._headline = text
        self._save()

    def _save(self) -> None:
        write_json({**{key: self.identity[key] for key in IDENTITY_KEYS}, "device": self.device,
                    "headline": self._headline, "stand_in": self._stand_in, "training_s": self._training_s,
                    "tables": self.tables, "figures": self.figures,
                    "claims": self._claims, "started": self.started, "updated": now(),
                    "elapsed_s": round(time.perf_counter() - self._t0, 3)}, self.dir / SUMMARY_FILE)


def _check_key(key: str) -> None:
    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]*", key):
        raise ValueError(f"key {key!r}: use lower-case letters, digits, '-' and '_' (it names files and ids)")


def print_layout(width_mm: float, height_mm: float, smallest_pt: float) -> dict:
    """How a figure of natural size ``width_mm`` x ``height_mm`` whose smallest text is
    ``smallest_pt`` points prints: ``max_height_mm`` (its CSS print height limit), ``scale`` (printed
    over natural size: the smallest of 1 and the width and height limits) and
    ``smallest_text_pt`` (its smallest text as printed)."""
    needed = min(1.0, MIN_FIGURE_TEXT_PT / smallest_pt) * height_mm  # the height its smallest text needs
    max_height = min(max(PRINT_HEIGHT_MM, needed), MAX_PRINT_HEIGHT_MM)
    scale = min(1.0, PRINT_WIDTH_MM / width_mm, max_height / height_mm)
    return {"natural_mm": [round(width_mm, 1), round(height_mm, 1)], "max_height_mm": round(max_height, 1),
            "scale": round(scale, 3), "smallest_text_pt": round(scale * smallest_pt, 2)}


def _figure_metadata(fmt: str) -> dict:
    """No creation dates in figure files, so a re-run with the same numbers gives the same bytes."""
    return {"svg": {"Date": None}, "png": {"Software": None}}.get(fmt, {})
