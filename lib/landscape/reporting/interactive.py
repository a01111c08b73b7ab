"""Interactive figures: a figure of a rendered page may carry, beside its static drawing (which
the PDF prints, and which a page shows where no script runs), a plotly.js view of the same
numbers that the reader can turn and zoom.

The library's JavaScript is stored once per output root (``<root>/assets/plotly-<version>.min.js``,
from the pinned ``plotly`` package, :func:`store_library`) and loaded by a relative link: the page
fetches nothing from the network. The figure's spec holds numbers and the suite's own axis words
only (never text from params, caches or data: plotly reads some tags in its strings), is written
as JSON with ``<``, ``>`` and ``&`` escaped (:func:`spec_json`), and is drawn by one fixed script
(``DRAW``); report.css hides the view in print and shows the static drawing instead.
"""
from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any, Mapping

from ..core import files

ASSETS_DIR = "assets"


def library_name() -> str:
    """The stored library's file name, with the plotly.js version it holds."""
    from plotly.offline import get_plotlyjs_version

    return f"plotly-{get_plotlyjs_version()}.min.js"


def store_library(root: Path) -> str:
    """Write plotly.js under ``root/assets/`` unless the same file is there; returns its name."""
    from plotly.offline import get_plotlyjs

    name, code = library_name(), get_plotlyjs().encode("utf-8")
    path = Path(root) / ASSETS_DIR / name
    if not (path.is_file() and not path.is_symlink()
            and hashlib.sha256(path.read_bytes()).digest() == hashlib.sha256(code).digest()):
        files.write_bytes(code, path)
    return name


def _finite(value: Any) -> Any:
    """``value`` with every non-finite float as None (JSON null: a gap in plotly)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def spec_json(spec: Mapping) -> str:
    """``spec`` as JSON safe inside a ``<script type="application/json">`` element."""
    text = json.dumps(_finite(spec), allow_nan=False, ensure_ascii=True, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


# Draws the view of the figure the script sits in, from its spec; without plotly.js (a page
# moved without its assets folder) the static drawing stays.
DRAW = ("(function(){var f=document.currentScript.closest('figure'),"
        "s=f&&f.querySelector('script.report-interactive-spec'),d=f&&f.querySelector('.report-interactive');"
        "if(!window.Plotly||!s||!d)return;var p=JSON.parse(s.textContent);d.hidden=false;"
        "f.classList.add('report-interactive-on');"
        "Plotly.newPlot(d,p.data,p.layout,{displaylogo:false,responsive:true,showSendToCloud:false,"
        "showEditInChartStudio:false,showLink:false});})();")


def markup(spec: Mapping, library_link: str) -> str:
    """The HTML that adds the interactive view to a figure: an empty, hidden view, its spec, the
    library (``library_link``: relative to the page) and the drawing script."""
    return ('<div class="report-interactive" hidden></div>'
            f'<script type="application/json" class="report-interactive-spec">{spec_json(spec)}</script>'
            f'<script src="{files_link(library_link)}"></script><script>{DRAW}</script>')


def files_link(link: str) -> str:
    """A relative link made of the suite's own path parts, checked: no quote, angle bracket or scheme."""
    if any(c in link for c in "\"'<>& ") or ":" in link:
        raise ValueError(f"not a plain relative link: {link!r}")
    return link
