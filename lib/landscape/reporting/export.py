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
from typing import Mapping

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
    """The outline entries a code cell's outputs carry (``sink.OUTLINE_MIME``), removing them."""
    entries = [o["data"][OUTLINE_MIME] for o in cell.get("outputs") or [] if OUTLINE_MIME in (o.get("data") or {})]
    if entries:
        cell["outputs"] = [o for o in cell["outputs"] if OUTLINE_MIME not in (o.get("data") or {})]
    return entries


def arrange(nb) -> dict:
    """Shape an executed report notebook (node, in place) for reading, from the outline the sink
    attached to its cells (``sink.OUTLINE_MIME``, removed here): drop every section whose probe
    the params do not ask for (the code cell saying so and the heading cell before it), then put
    under the title a link back to the index, "How to read this report" (every term a section
    declared with ``Report.term``, in plain words, linked to its section) and the contents (every
    ## section). Returns {"dropped": headings dropped, "sections": headings kept, "terms": terms
    listed}."""
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
    sections, terms, current = [], {}, None
    for cell, entries in zip(cells, outlines):
        heading = section_heading(cell)
        if heading and cell.source.lstrip().startswith("## "):
            sections.append(heading)
            current = heading
        for entry in entries:
            if "term" in entry:
                terms.setdefault(entry["term"], (entry["meaning"], current))
    lines = [f"[← all reports]({INDEX_LINK})"]
    if terms:
        lines += ["", "**How to read this report.** Every number here is computed by the suite's code from its runs "
                      "(the appendix says what this render computed and what it read from the caches); the study's "
                      "own numbers appear only where labelled *study*. The terms it uses, in plain words:", ""]
        lines += [f"- **{name}**" + (f" ([{where}](#{heading_anchor(where)}))" if where else "") + f": {meaning}"
                  for name, (meaning, where) in terms.items()]
    if sections:
        lines += ["", "**Contents:** " + " · ".join(f"[{h}](#{heading_anchor(h)})" for h in sections)]
    title = next((i for i, c in enumerate(cells) if c.cell_type == "code" and any(
        str((o.get("data") or {}).get("text/markdown", "")).lstrip().startswith("# ") for o in c.get("outputs") or [])), -1)
    cells.insert(title + 1, nbformat.v4.new_markdown_cell("\n".join(lines)))
    nb.cells = cells
    return {"dropped": dropped, "sections": sections, "terms": list(terms)}


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
            "sections_dropped": arranged["dropped"]}


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
