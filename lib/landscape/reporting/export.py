"""A report notebook made readable and printable: ``arrange`` shapes an executed notebook from
the outline its sink attached (sections the params do not ask for dropped; a link to the index,
"How to read this report" and the contents under the title), ``export_html`` writes the
self-contained page (code hidden, figures embedded, nothing fetched from the network:
``external_references`` finds what would be), and ``html_to_pdf`` prints it with headless
Chromium (``find_browser``). ``render`` runs the notebook and calls these."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any, Mapping

from ..core import files
from .sink import OUTLINE_MIME

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
TEMPLATE_NAME = "landscape_report"
BROWSER_ENV = "LANDSCAPE_BROWSER"
BROWSER_CANDIDATES = ("/usr/lib/chromium/chromium", "chromium", "chromium-browser", "google-chrome",
                      "google-chrome-stable")
PDF_TIMEOUT_S = 300


def section_heading(cell) -> str | None:
    """The heading text of a markdown cell that opens a section (# or ##), else None."""
    match = re.match(r"#{1,2}\s+(.+)", cell.source.lstrip()) if cell.cell_type == "markdown" else None
    return match.group(1).strip() if match else None


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


INDEX_LINK = "../index.html"  # from <root>/<report>/<report>.html


def heading_anchor(text: str) -> str:
    """The id nbconvert gives a markdown heading (``nbconvert.filters.strings.add_anchor``)."""
    from urllib.parse import quote

    return quote(text.replace(" ", "-"), safe="?/:@!$&'()*+,;=")


def _outline(cell) -> list[dict]:
    """The outline entries a code cell's outputs carry (``sink.OUTLINE_MIME``), removing them; an
    ``appendix`` entry marks the output after it (``_APPENDIX_KEY``) for :func:`arrange` to move."""
    entries, kept, marked = [], [], None
    for output in cell.get("outputs") or []:
        entry = (output.get("data") or {}).get(OUTLINE_MIME)
        if entry is None:
            if marked is not None:
                output[_APPENDIX_KEY] = marked
                marked = None
            kept.append(output)
            continue
        entries.append(entry)
        marked = entry.get("appendix", marked)
    if entries:
        cell["outputs"] = kept
    return entries


_APPENDIX_KEY = "landscape_appendix"  # set on an output (by _outline) that moves to the appendix
APPENDIX_HEADING = "Appendix: tables of every run"
_NUMBERED = re.compile(r'\s*<(?:div|figure) class="report-(table|figure)[^"]*" id="(?:table|figure)-([^"]+)"')


def _html(output) -> str | None:
    markup = (output.get("data") or {}).get("text/html")
    return "".join(markup) if isinstance(markup, list) else markup


def _reference(target: str, where: str):
    """An output that stands where a table or figure was before it moved: a link to it, which
    :func:`number_in_reading_order` gives the target's number."""
    import nbformat

    kind = target.split("-")[0].title()
    return nbformat.v4.new_output("display_data", data={
        "text/html": f'<p class="report-moved"><a href="#{target}" data-ref="{target}">{kind} ?</a> {where}.</p>',
        "text/plain": f"{kind} {target}: {where}"})


def _take_figure(cells: list, figure: str) -> Any:
    """Remove the output that draws ``figure`` (an id, ``figure-<key>``) from ``cells``, leaving a
    link to the answer where it was; None when no cell drew it."""
    for cell in cells:
        for i, output in enumerate(cell.get("outputs") or []):
            found = _NUMBERED.match(_html(output) or "")
            if found and f"{found.group(1)}-{found.group(2)}" == figure:
                cell["outputs"][i] = _reference(figure, "is shown with the answer at the top of this report")
                return output
    return None


def number_in_reading_order(cells: list) -> dict[str, int]:
    """Number the tables and figures of ``cells`` (in place) in the order a reader meets them, and
    give every link left by a move (:func:`_reference`) its target's number; returns id -> number."""
    numbers, counts = {}, {"table": 0, "figure": 0}
    outputs = [o for c in cells for o in c.get("outputs") or [] if _html(o)]
    for output in outputs:
        found = _NUMBERED.match(_html(output))
        if found:
            kind = found.group(1)
            counts[kind] += 1
            numbers[f"{kind}-{found.group(2)}"] = counts[kind]
            output["data"]["text/html"] = re.sub(rf"<b>{kind.title()} \d+\.</b>",
                                                 f"<b>{kind.title()} {counts[kind]}.</b>", _html(output))
    for output in outputs:
        if 'data-ref="' in _html(output):
            output["data"]["text/html"] = re.sub(
                r'data-ref="((table|figure)-[^"]+)">(Table|Figure) \?',
                lambda m: f'data-ref="{m.group(1)}">{m.group(3)} {numbers.get(m.group(1), "?")}', _html(output))
    return numbers


def arrange(nb) -> dict:
    """Shape an executed report notebook (node, in place) for reading, from the outline its sink
    attached to its cells (``sink.OUTLINE_MIME``, removed here): drop every section whose probe
    the params do not ask for (the code cell saying so and the heading cell before it); move the
    answer (the cell with an ``answer`` entry and its heading) to open the page, with the figure it
    names taken from its section and shown first; move every table marked ``appendix`` to an appendix at the end;
    put under the title a link back to the index and the contents (every ## section), and after
    the answer "How to read this report" (every term a section declared with ``Report.term``, in
    plain words, linked to its section); and number tables and figures in reading order. Returns
    {"dropped": headings dropped, "sections": headings kept, "terms": terms listed, "numbers":
    table or figure id -> its number, "answer_figure": the figure moved to the answer or None}."""
    import nbformat

    dropped, cells, outlines = [], [], []
    for cell in nb.cells:
        entries = _outline(cell) if cell.cell_type == "code" else []
        if any("absent" in e for e in entries):
            if cells and section_heading(cells[-1]):
                dropped.append(section_heading(cells.pop()))
                outlines.pop()
            continue
        cells.append(cell)
        outlines.append(entries)
    title = next((i for i, c in enumerate(cells) if c.cell_type == "code" and any(
        str((o.get("data") or {}).get("text/markdown", "")).lstrip().startswith("# ") for o in c.get("outputs") or [])), -1)
    answer = next((i for i, entries in enumerate(outlines) if any("answer" in e for e in entries)), None)
    opening, moved_figure = [], None
    if answer is not None and answer > title:
        first = answer - 1 if answer - 1 > title and section_heading(cells[answer - 1]) else answer
        opening = list(zip(cells[first:answer + 1], outlines[first:answer + 1]))
        del cells[first:answer + 1], outlines[first:answer + 1]
        figure = next(e["answer"] for e in opening[-1][1] if "answer" in e)
        taken = _take_figure(cells, figure) if figure else None
        if taken is not None:  # first, under the heading: the prose after it may run on to the next page
            opening[-1][0]["outputs"].insert(0, taken)
            moved_figure = figure
    appendix = []
    for cell in cells:
        for i, output in enumerate(cell.get("outputs") or []):
            if _APPENDIX_KEY in output:
                target = output.pop(_APPENDIX_KEY)
                cell["outputs"][i] = _reference(target, "in the appendix gives every run")
                appendix.append(output)
    if appendix:
        cells.append(nbformat.v4.new_markdown_cell(f"## {APPENDIX_HEADING}"))
        outlines.append([])
        cells.append(nbformat.v4.new_code_cell("", outputs=appendix))
        outlines.append([])
    cells[title + 1:title + 1] = [c for c, _ in opening]
    outlines[title + 1:title + 1] = [o for _, o in opening]
    sections, terms, current = [], {}, None
    for cell, entries in zip(cells, outlines):
        heading = section_heading(cell)
        if heading and cell.source.lstrip().startswith("## "):
            sections.append(heading)
            current = heading
        for entry in entries:
            if "term" in entry:
                terms.setdefault(entry["term"], (entry["meaning"], current))
    top = [f"[← all reports]({INDEX_LINK})"]
    if sections:
        top += ["", "**Contents:** " + " · ".join(f"[{h}](#{heading_anchor(h)})" for h in sections)]
    guide = []
    if terms:
        guide = ["**How to read this report.** Every number here is computed by the suite's code from its runs "
                 "(the appendix says what this render computed and what it read from the caches); the study's "
                 "own numbers appear only where labelled *study*. The terms it uses, in plain words:", ""]
        guide += [f"- **{name}**" + (f" ([{where}](#{heading_anchor(where)}))" if where else "") + f": {meaning}"
                  for name, (meaning, where) in terms.items()]
    cells.insert(title + 1, nbformat.v4.new_markdown_cell("\n".join(top)))
    if guide:
        cells.insert(title + 2 + len(opening), nbformat.v4.new_markdown_cell("\n".join(guide)))
    numbers = number_in_reading_order(cells)
    nb.cells = cells
    return {"dropped": dropped, "sections": sections, "terms": list(terms), "numbers": numbers,
            "answer_figure": moved_figure}


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
    arranged = arrange(nb)
    if title:
        nb.metadata["title"] = title
    body, _ = html_exporter().from_notebook_node(nb)
    html_path = Path(html_path)
    files.write_text(body, html_path)
    return {"path": str(html_path), "noise_outputs_hidden": removed, "external": external_references(body),
            "sections_dropped": arranged["dropped"], "numbers": arranged["numbers"],
            "answer_figure": arranged["answer_figure"]}


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
    with tempfile.TemporaryDirectory(prefix="landscape-chromium-") as profile:  # private to this process
        printed = Path(profile) / "page.pdf"
        cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               "--disable-extensions", "--disable-dev-shm-usage", "--disable-default-apps", "--mute-audio",
               "--hide-scrollbars", f"--user-data-dir={profile}", "--no-pdf-header-footer",
               "--generate-pdf-document-outline", f"--print-to-pdf={printed}", html_path.as_uri()]
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                                  env={**os.environ, "HOME": profile})
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"Chromium did not print {html_path.name} within {timeout:.0f} s") from None
        if done.returncode != 0 or not printed.exists() or printed.stat().st_size == 0:
            tail = "\n".join(done.stderr.strip().splitlines()[-5:])
            raise RuntimeError(f"Chromium failed to print {html_path.name} (exit {done.returncode}):\n{tail}")
        files.write_bytes(printed.read_bytes(), pdf_path)
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
