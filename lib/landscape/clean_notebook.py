"""A notebook as git stores it: no outputs, no execution counts, no metadata a kernel or
JupyterLab writes (``python3 lib/landscape/clean_notebook.py < in.ipynb > out.ipynb``).

Two users of :func:`clean`: ``make lab`` starts JupyterLab with :func:`pre_save` as its pre-save
hook, so a notebook opened, run and saved there is written back byte for byte as it was (its
outputs stay in the browser until the tab is closed); and ``make setup`` installs this file as
git's clean filter for ``notebooks/*.ipynb`` (``.gitattributes``, ``filter.notebook-clean``), so
a notebook saved with outputs by any other editor shows no change in ``git diff`` and cannot be
committed with them. The stored form is the one nbformat writes (keys sorted, one-space indent,
sources as lists of lines). Only the standard library is used: git runs this with the system
Python, before any virtual environment exists.
"""
from __future__ import annotations

import json
import sys

KEPT_CELL_METADATA = ("tags",)  # the parameters tag; JupyterLab's scrolled, collapsed, execution timing go


def _lines(source: str | list[str]) -> list[str]:
    text = "".join(source) if isinstance(source, list) else source
    return text.splitlines(keepends=True)


def clean(notebook: dict) -> dict:
    """``notebook`` (nbformat 4 as a dict) as git stores it (see module docstring)."""
    metadata = notebook.get("metadata", {})
    kept = {key: metadata[key] for key in ("kernelspec",) if key in metadata}
    if "language_info" in metadata:
        kept["language_info"] = {"name": metadata["language_info"].get("name", "python")}
    cells = []
    for cell in notebook.get("cells", []):
        cell = {**cell, "source": _lines(cell.get("source", "")),
                "metadata": {k: v for k, v in cell.get("metadata", {}).items() if k in KEPT_CELL_METADATA}}
        if cell.get("cell_type") == "code":
            cell.update(outputs=[], execution_count=None)
        cells.append(cell)
    return {**notebook, "metadata": kept, "cells": cells}


def dumps(notebook: dict) -> str:
    """JSON as nbformat writes a notebook."""
    return json.dumps(notebook, sort_keys=True, indent=1, ensure_ascii=False) + "\n"


def pre_save(model: dict, path: str = "", contents_manager=None, **kwargs) -> None:  # noqa: ARG001
    """JupyterLab's pre-save hook (``--ContentsManager.pre_save_hook``): a notebook is saved clean."""
    if model.get("type") == "notebook" and isinstance(model.get("content"), dict):
        cleaned = clean(model["content"])
        model["content"].clear()
        model["content"].update(cleaned)


def main() -> int:
    text = sys.stdin.buffer.read().decode("utf-8")
    try:
        notebook = json.loads(text)
    except json.JSONDecodeError:  # not a notebook (half-saved, conflicted): stored as it is
        sys.stdout.buffer.write(text.encode("utf-8"))
        return 0
    sys.stdout.buffer.write(dumps(clean(notebook)).encode("utf-8"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
