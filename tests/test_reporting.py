"""The rendering pipeline: notebooks stored clean, a report executed end to end (smoke profile,
temporary cache and output directories) into HTML, PDF, figures, tables, metrics, manifest and
index, bad params failing fast inside the notebook, and the helpers behind it."""
import base64
import html
import html.parser as html_parser
from urllib.parse import unquote
import json
from types import SimpleNamespace
import re
import os
import shutil
import subprocess
import sys

import nbformat
import matplotlib.collections
import matplotlib.colors
import matplotlib.pyplot as plt
import numpy as np
from scipy import stats
import pandas as pd
import pytest
import yaml

from landscape.verdicts import claims, thresholds
from landscape import clean_notebook, probes
from landscape.learning import models
from landscape.probes.flatness import report as flatness_report
from landscape.probes.hessian import report as hessian_report
from landscape.probes.interpolation import report as interpolation_report
from landscape.probes.noise import report as noise_report
from landscape.probes.slices import report as slices_report
from landscape.reporting import ablation, export, interactive, layout, pages, plotting, render, sink, tables, terms
from landscape.geometry import surfaces
from landscape.analysis import synthesis
from landscape.pipeline.params import ParamsError, SynthesisParams, load_params

REPORT = "mlp_vs_cnn_fmnist"
NOTEBOOKS = sorted(render.NOTEBOOKS_DIR.glob("*.ipynb"))
PARAMETERS = {"params_file", "profile", "overrides", "output_dir", "device", "cache", "threads"}
EXPECTED_TABLES = ["setup-data", "setup-models", "setup-training", "runs", "first-epochs-a", "first-epochs-b",
                   "final-epoch", "gap", "noise-study-accuracy", "noise", "hessian", "lambda-attribution", "claims"]
EXPECTED_FIGURES = ["learning-curves", "gap-over-epochs", "noise-accuracy", "slice1d", "lambda-max"]
#: the other study reports (smoke profile): (tables, figures) each HTML must hold
STUDY_SECTIONS = {
    "seed_connectivity": (["runs", "final-epoch", "noise-study-accuracy", "noise-study-loss", "noise", "hessian",
                           "lambda-attribution", "barriers", "claims"],
                          ["learning-curves", "noise-accuracy", "slice1d", "lambda-max", "surface-cnn-filter",
                           "surface-3d", "interpolation"]),
    "mlp_cnn_rescnn_mnist": (["runs", "final-epoch", "gap", "flatness", "hessian", "barriers", "claims"],
                             ["learning-curves", "slice1d", "lambda-max", "interpolation"]),
    "batchnorm": (["runs", "final-epoch", "gap", "hessian", "lambda-attribution", "density", "sharpness", "barriers",
                   "claims"],
                  ["learning-curves", "gap-over-epochs", "lambda-max", "density", "sam-sharpness", "slice1d",
                   "interpolation"]),
    "resnet20_ablation": (["setup-models", "runs", "ablation", "ablation-losses", "loss-ranges", "hessian",
                           "lambda-attribution", "density",
                           "gradient-norm", "summary", "claims"],
                          ["learning-curves", "gap-over-epochs", "surface-skiptrue_bntrue-filter",
                           "surface-skiptrue_bntrue-unit", "surface-skipfalse_bnfalse-unit", "surface-3d", "lambda-max",
                           "density"]),
}


# ---------------------------------------------------------------------------- notebooks in git

def stored(path) -> str:
    """A notebook as git stores it (the index, through the clean filter), else the file itself."""
    done = subprocess.run(["git", "show", f":{path.relative_to(render.REPO_ROOT)}"], cwd=render.REPO_ROOT,
                          capture_output=True, text=True)
    return done.stdout if done.returncode == 0 else path.read_text()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebooks_are_stored_without_outputs(path):
    text = stored(path)
    nb = nbformat.reads(text, as_version=4)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{path.name} cell {i} has outputs: clear them before committing"
            assert cell.execution_count is None, f"{path.name} cell {i} has an execution count"
    assert clean_notebook.dumps(clean_notebook.clean(json.loads(text))) == text, "stored as the filter stores it"


def test_a_notebook_run_and_saved_in_jupyterlab_leaves_git_clean(tmp_path):
    """The clean filter ``make setup`` installs, in a repository of the notebooks: JupyterLab's
    outputs, execution counts and metadata stay on disk and out of git; an edit still shows."""
    repo = tmp_path / "repo"
    (repo / "lib" / "landscape").mkdir(parents=True)
    shutil.copytree(render.NOTEBOOKS_DIR, repo / "notebooks")
    shutil.copy(render.REPO_ROOT / ".gitattributes", repo)
    shutil.copy(render.REPO_ROOT / "lib" / "landscape" / "clean_notebook.py", repo / "lib" / "landscape")
    git = lambda *args: subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True)
    git("init", "-q")
    subprocess.run(["make", "-s", "-f", str(render.REPO_ROOT / "Makefile"), "-C", str(repo), "notebook-filter"],
                   check=True, capture_output=True)
    git("add", "-A")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "notebooks")
    path = repo / "notebooks" / "seed_connectivity.ipynb"
    nb = nbformat.read(str(path), as_version=4)
    nb.metadata["language_info"] = {"name": "python", "version": "3.11.7", "mimetype": "text/x-python",
                                    "codemirror_mode": {"name": "ipython", "version": 3}}
    for i, cell in enumerate(c for c in nb.cells if c.cell_type == "code"):
        cell.execution_count = i + 1
        cell.outputs = [nbformat.v4.new_output("display_data", data={"text/html": "<figure>x</figure>"})]
        cell.metadata["execution"] = {"iopub.status.idle": "2026-12-02T23:00:00.000Z"}
    nbformat.write(nb, str(path))
    assert git("diff").stdout == ""
    git("add", "-A")  # nothing to commit: git stat-checks the file as changed, but stores it unchanged
    assert git("status", "--porcelain").stdout == ""
    nb.cells[0].source += "\n# an edit"
    nbformat.write(nb, str(path))
    assert "+    \"# an edit\"" in git("diff").stdout and "figure" not in git("diff").stdout


def test_jupyterlabs_pre_save_hook_writes_a_notebook_back_as_it_was():
    path = render.NOTEBOOKS_DIR / "seed_connectivity.ipynb"
    committed = path.read_text()
    nb = json.loads(committed)
    nb["metadata"]["language_info"] = {"name": "python", "version": "3.11.7"}
    nb["cells"][1].update(execution_count=3, outputs=[{"output_type": "stream", "name": "stdout", "text": "x"}])
    nb["cells"][1]["source"] = "".join(nb["cells"][1]["source"])  # JupyterLab sends sources as strings
    model = {"type": "notebook", "content": nb}
    clean_notebook.pre_save(model, "seed_connectivity.ipynb")
    assert nbformat.writes(nbformat.from_dict(model["content"])) + "\n" == committed


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_code_cells_compile(path):
    for cell in nbformat.read(str(path), as_version=4).cells:
        if cell.cell_type == "code":
            compile(cell.source, f"{path.name} cell {cell.get('id')}", "exec")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_prose_has_no_tex_math(path):
    """Reports load no MathJax (they are read offline): math is written in unicode (σ, λ, α, θ)."""
    for cell in nbformat.read(str(path), as_version=4).cells:
        if cell.cell_type == "markdown":
            assert "$" not in cell.source and "\\(" not in cell.source, cell.source[:80]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebooks_start_with_parameters_then_name_their_sections(path):
    code = [c for c in nbformat.read(str(path), as_version=4).cells if c.cell_type == "code"]
    assert "parameters" in code[0].metadata.get("tags", [])
    assigned = set(re.findall(r"^(\w+)\s*=", code[0].source, re.MULTILINE))
    assert assigned == PARAMETERS
    assert re.search(r"report = sections\.begin(_synthesis)?\(params_file, profile, overrides, output_dir, device, cache, "
                     r"threads, ",
                     code[1].source)
    for cell in code[2:]:  # the rest names sections (study 004's own in ``ablation``, the grid's in ``grid``), one call a line
        for line in cell.source.strip().splitlines():
            assert re.fullmatch(r"(sections|ablation|grid|dynamics)\.[a-z_0-9]+\(report(, [a-z_]+=\w+)?\)"
                                r"|sections\.measure\(report, \"[a-z_0-9]+\"\)", line), line


def test_every_report_names_an_existing_notebook_or_is_listed_as_pending(tmp_path):
    index = render.build_index(tmp_path)
    entries = json.loads((tmp_path / "manifest.json").read_text())["reports"]
    assert {e["report"] for e in entries} == set(render.report_names())
    statuses = {e["report"]: e["status"] for e in entries}
    assert statuses[REPORT] == "not rendered"
    assert "Loss-landscape geometry: reports" in index.read_text()


# ---------------------------------------------------------------------------- one report end to end

def render_smoke(smoke_pass, report):
    """(output root, manifest) of ``report`` from the smoke pass."""
    out = smoke_pass[0]
    return out, json.loads((out / report / "manifest.json").read_text())


def test_a_smoke_pass_writes_outside_the_published_reports_and_leaves_git_clean(smoke_pass):
    out, before, after = smoke_pass
    assert before == after, "make reports PROFILE=smoke changed files that git tracks or sees"
    assert out == sink.OUTPUTS_DIR / "_smoke" and (out / "index.html").exists()
    published = json.loads((sink.OUTPUTS_DIR / REPORT / "manifest.json").read_text())
    assert published["profile"] == "full"


def test_a_notebook_run_by_hand_defaults_to_smoke_and_a_scratch_folder(tmp_path):
    for path in NOTEBOOKS:
        first = nbformat.read(str(path), as_version=4).cells[0].source
        assert 'profile = "smoke"' in first and "output_dir = None" in first and "outputs/_scratch/" in first
    report = pages.open_sink(load_params(REPORT, "smoke"))
    assert report.dir == sink.SCRATCH_DIR / REPORT


def test_a_hand_run_shows_wide_tables_once_and_says_it_writes_no_manifest(monkeypatch):
    """In JupyterLab (no report.css) a table printed in parts shows whole, its parts hidden by their
    own style; the reproducibility section of a hand run gives the commit itself."""
    shown = []
    monkeypatch.setattr(sink.Report, "_display", staticmethod(lambda obj: shown.append(obj)))
    monkeypatch.setattr("IPython.display.display", lambda obj, raw=False: shown.append(obj))
    params = load_params(REPORT, "smoke")
    report = pages.open_sink(params)
    wide = pd.DataFrame({f"a rather long column name {i}": [1.5, 2.5] for i in range(14)})
    report.table(wide, "wide", "A wide table.")
    markup = shown[-1].data
    assert markup.count('id="T_wide-part') > 0 and '<div class="report-print-parts" style="display: none">' in markup
    pages.appendix(report, params)
    text = shown[-1]["text/markdown"]
    assert "run by hand (no `manifest.json`): code at git commit `" in text and "manifest.json`" in text
    assert "are in this report's `manifest.json`" not in text


def test_links_on_a_page_resolve_where_it_is_read(tmp_path):
    """A rendered page links its siblings; a hand run in JupyterLab (links resolve from notebooks/)
    links the published reports and the source study from there."""
    params = load_params(REPORT, "smoke")
    by_hand, rendered = pages.open_sink(params), pages.open_sink(params, tmp_path / "out" / REPORT)
    assert rendered.report_link("batchnorm") == "../batchnorm/batchnorm.html"
    link = by_hand.report_link("batchnorm")
    assert (render.NOTEBOOKS_DIR / link).resolve() == sink.OUTPUTS_DIR / "batchnorm" / "batchnorm.html"
    study = render.REPO_ROOT / params.reference.source.split(" (")[0]
    assert (render.NOTEBOOKS_DIR / by_hand.link(study)).resolve() == study.resolve()
    assert (rendered.dir / rendered.link(study)).resolve() == study.resolve()


def headings_ending_a_page(pdf, page):
    """Section headings (h2/h3 of the HTML ``page``) printed as the last line of a PDF page."""
    headings = {html.unescape(h).strip() for h in re.findall(r"<h[23][^>]*>(.*?)<a class=\"anchor-link\"", page)}
    assert headings, "the report has section headings"
    orphans = []
    for number in range(1, export.pdf_pages(pdf) + 1):
        text = subprocess.run(["pdftotext", "-f", str(number), "-l", str(number), "-layout", str(pdf), "-"],
                              capture_output=True, text=True, check=True).stdout
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        body = [line for line in lines if not re.fullmatch(r"\d+ ?/ ?\d+", line)]  # drop the page footer
        if body and body[-1] in headings:
            orphans.append((number, body[-1]))
    return orphans


def numbers_missing_from_pdf(pdf, page):
    """Numbers in the HTML ``page``'s report tables that the PDF's text lacks: print cuts a table
    wider than the page off at the page edge."""
    cells = [html.unescape(re.sub(r"<[^>]+>", "", cell)).strip()
             for table in re.findall(r'<div class="report-table[" ].*?</table>', page, re.S)
             for cell in re.findall(r"<td[^>]*>(.*?)</td>", table, re.S)]
    numbers = {c for c in cells if re.fullmatch(r"[+−-]?\d[\d,]*(\.\d+)?", c)}
    assert numbers, "the report has tables of numbers"
    words = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    return sorted(numbers - set(words.split()))


def print_defects(pdf, page):
    """What went wrong printing the HTML ``page`` to ``pdf``: headings ending a page, numbers cut
    off ([] when pdftotext is missing: `make setup` installs it)."""
    if not shutil.which("pdftotext"):
        return []
    return headings_ending_a_page(pdf, page) + numbers_missing_from_pdf(pdf, page)


def reading_defects(out, report, page) -> list[str]:
    """What issues 13 and 33 found hard to read, as checks on a rendered report: the layout rules
    (``layout.defects``: a paragraph or table shown twice, numbers out of reading order, table text
    under 9 pt in the PDF, a page but the last more than a third empty, a table caption left at the
    foot of a page without its rows), figures whose linear axes span more than 3 decades or whose
    text prints under 5.5 pt (or that have no print height), links of the guide or contents that
    lead nowhere, sections left that the params do not ask for, no way back to the index, links to
    sibling pages that are not there."""
    summary = json.loads((out / report / "summary.json").read_text())
    found = list(json.loads((out / report / "manifest.json").read_text())["layout_defects"])  # the render's check
    found += [f"figure {f['key']}: {w}" for f in summary["figures"] for w in f["linear_axes_over_3_decades"]]
    found += [f"figure {f['key']} prints its smallest text at {f['print']['smallest_text_pt']} pt"
              for f in summary["figures"] if (f["print"]["smallest_text_pt"] or 99) < sink.MIN_FIGURE_TEXT_PT - 0.01]
    found += [f"figure {key} has no print height" for key in re.findall(r'<figure class="report-figure" id="figure-'
                                                                        r'([^"]+)"><img (?![^>]*--print-max-height)', page)]
    ids = {unquote(html.unescape(i)) for i in re.findall(r'id="([^"]+)"', page)}  # a browser matches decoded fragments
    found += [f"link to #{h} leads nowhere" for h in re.findall(r'href="#([^"]+)"', page)
              if unquote(html.unescape(h)) not in ids]
    found += [f"link to {h} leads nowhere" for h in dict.fromkeys(re.findall(r'href="(\.\./[^"#]+)', page))
              if not (out / report / unquote(html.unescape(h))).resolve().exists()]  # the index, sibling reports
    found += ["a section the params do not ask for is shown"] if "Not part of this study" in page else []
    found += ["an outline entry is left on the page"] if sink.OUTLINE_MIME in page else []
    found += [] if 'href="../index.html"' in page else ["no link back to the index"]
    return found


def code_outputs(out, report):
    """Every output of every code cell of the executed notebook."""
    nb = nbformat.read(str(out / report / f"{report}.ipynb"), as_version=4)
    return nb, [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]


@pytest.fixture(scope="module")
def rendered(smoke_pass):
    return render_smoke(smoke_pass, REPORT)


def test_the_notebook_executes_without_errors(rendered):
    out, manifest = rendered
    assert manifest["status"] == "ok", manifest.get("error")
    nb, outputs = code_outputs(out, REPORT)
    assert not [o for o in outputs if o.output_type == "error"]
    assert not [o for o in outputs if o.output_type == "execute_result"], "a cell displays a return value"
    assert "injected-parameters" in [t for c in nb.cells for t in c.metadata.get("tags", [])]


def test_html_holds_every_table_and_figure_and_needs_no_network(rendered):
    out, _ = rendered
    page = (out / REPORT / f"{REPORT}.html").read_text()
    for key in EXPECTED_TABLES:
        assert f'id="table-{key}"' in page, key
    for key in EXPECTED_FIGURES:
        figure = rf'<figure class="report-figure" id="figure-{key}"><img [^>]*src="data:image/svg\+xml;base64,([^"]+)"'
        match = re.search(figure, page)
        assert match, key
        assert base64.b64decode(match.group(1)) == (out / REPORT / "figures" / f"{key}.svg").read_bytes(), key
    assert export.external_references(page) == []
    assert "<script src" not in page and "mathjax" not in page.lower()
    assert "load_params(" not in page, "code cells must be hidden"
    assert "Traceback" not in page
    title = load_params(REPORT).title
    assert f"<title>{title}</title>" in page
    assert "<b>Table 1.</b>" in page and "<b>Figure 2.</b>" in page
    assert_text_names_only_layers_the_models_have(REPORT, page)
    assert_no_cache_jargon_before_the_appendix(page)
    assert reading_defects(out, REPORT, page) == []
    assert "How to read this report" in page and "Contents:" in page
    assert "Flatness-under-weight-noise" not in page  # study 000 has no flatness probe: no empty section


def test_pdf_is_printed_with_pages(rendered):
    out, manifest = rendered
    pdf = out / REPORT / f"{REPORT}.pdf"
    assert pdf.read_bytes()[:5] == b"%PDF-"
    assert export.pdf_pages(pdf) >= 2
    assert manifest["pdf_pages"] == export.pdf_pages(pdf)
    assert print_defects(pdf, (out / REPORT / f"{REPORT}.html").read_text()) == []


def test_numbers_figures_and_tables_are_written_as_files(rendered):
    out, manifest = rendered
    folder = out / REPORT
    for key in EXPECTED_FIGURES:
        assert (folder / "figures" / f"{key}.png").stat().st_size > 1000
        assert (folder / "figures" / f"{key}.svg").read_text().lstrip().startswith("<?xml")
    for key in EXPECTED_TABLES:
        assert len(pd.read_csv(folder / "tables" / f"{key}.csv")) >= 1
    history = pd.read_csv(folder / "history.csv")
    smoke = load_params(REPORT, "smoke")
    assert set(history["run"]) == {rep.id for rep in smoke.replicas} and history["epoch"].max() == smoke.training.epochs
    assert {"config", "seed", "eval_train_acc", "eval_gap"} <= set(history.columns)
    assert history.groupby("config")["seed"].nunique().to_dict() == {"A": 2, "B": 2}
    metrics = json.loads((folder / "metrics.json").read_text())
    assert {"history", "final", "claims"} <= set(metrics)
    assert "pending" not in [c["verdict"] for c in metrics["claims"]]
    assert set(manifest["files"]["figures"]) == {f"figures/{k}.{e}" for k in EXPECTED_FIGURES for e in ("png", "svg")}


def test_manifest_records_commit_params_profile_runtime_device(rendered):
    out, manifest = rendered
    saved = json.loads((out / REPORT / "manifest.json").read_text())
    assert saved == json.loads(json.dumps(manifest))
    assert manifest["params_digest"] == load_params(REPORT, "smoke").digest()
    assert manifest["profile"] == "smoke"
    assert re.fullmatch(r"[0-9a-f]{40}", manifest["git"]["commit"] or "")
    assert manifest["runtime_s"] > 0 and manifest["device"] == "cpu"
    assert manifest["headline"] == tables.headline(load_params(REPORT, "smoke"), pd.read_csv(out / REPORT / "history.csv"),
                                                   [SimpleNamespace(text=c["text"], headline=c["verdict"])
                                                    for c in json.loads((out / REPORT / "metrics.json").read_text())["claims"]])


def test_index_links_every_rendered_report_with_its_result(rendered):
    out, manifest = rendered
    page = (out / "index.html").read_text()
    assert f'href="{REPORT}/{REPORT}.html"' in page and f'href="{REPORT}/{REPORT}.pdf"' in page
    assert html.escape(manifest["headline"]) in page
    assert manifest["training_s"] > 0 and "<th>training</th><th>render</th>" in page  # issue 13: two times
    combined = json.loads((out / "manifest.json").read_text())
    assert [r["status"] for r in combined["reports"] if r["report"] == REPORT] == ["ok"]


# ---------------------------------------------------------------------------- bad params

NOTEBOOK_REPORTS = {load_params(name).notebook: name for name in sorted(render.report_names())
                    if not isinstance(load_params(name), SynthesisParams)}


@pytest.mark.slow
@pytest.mark.parametrize("notebook", sorted(NOTEBOOK_REPORTS))
def test_bad_params_make_the_notebook_fail_fast_with_the_params_error(notebook, tmp_path, monkeypatch):
    from papermill.exceptions import PapermillExecutionError

    monkeypatch.setenv("LANDSCAPE_CACHE", str(tmp_path / "cache"))
    executed = tmp_path / "executed.ipynb"
    parameters = {"params_file": f"params/{NOTEBOOK_REPORTS[notebook]}.yaml", "profile": "smoke",
                  "overrides": {"training": {"lrr": 0.1}}, "output_dir": str(tmp_path / "out"), "device": "auto"}
    with pytest.raises(PapermillExecutionError) as info:
        render.execute_notebook(render.NOTEBOOKS_DIR / f"{notebook}.ipynb", executed, parameters)
    assert info.value.ename == "ParamsError"
    assert "training.lrr: unknown key 'lrr'; allowed keys:" in info.value.evalue
    nb = nbformat.read(str(executed), as_version=4)
    ran = [c for c in nb.cells if c.cell_type == "code" and c.execution_count is not None]
    assert "sections.begin(params_file" in ran[-1].source, "execution must stop at the sections.begin cell"
    error, = [o for o in ran[-1].outputs if o.output_type == "error"]
    assert len(error.traceback) == 1 and "ParamsError" in error.traceback[0], "one line, no traceback"
    assert not (tmp_path / "cache").exists()


@pytest.mark.slow
def test_every_notebook_opens_by_hand_from_its_folder_and_a_bad_param_is_one_line():
    """What JupyterLab does under ``make lab``: the kernel runs in notebooks/, the first cells as
    shipped (params, then ``sections.begin``) show the title; with a mistyped profile, that cell
    shows one line naming it."""
    from nbclient import NotebookClient

    cells = []
    for path in NOTEBOOKS:
        first, begin = [c for c in nbformat.read(str(path), as_version=4).cells if c.cell_type == "code"][:2]
        cells += [first, begin]
    typo = nbformat.v4.new_code_cell(cells[0].source.replace('profile = "smoke"', 'profile = "smok"'))
    nb = nbformat.v4.new_notebook(cells=cells + [typo, nbformat.v4.new_code_cell(cells[1].source)])
    NotebookClient(nb, kernel_name="python3", timeout=600, allow_errors=True,
                   resources={"metadata": {"path": str(render.NOTEBOOKS_DIR)}}).execute()
    for path, begin in zip(NOTEBOOKS, nb.cells[1:-2:2]):
        assert not [o for o in begin.outputs if o.output_type == "error"], (path.name, begin.outputs)
        titles = [o.data["text/markdown"] for o in begin.outputs if "text/markdown" in o.get("data", {})]
        assert titles and titles[0].startswith("# "), path.name
    error, = [o for o in nb.cells[-1].outputs if o.output_type == "error"]
    assert error.ename == "ParamsError" and len(error.traceback) == 1
    assert "unknown profile 'smok'; allowed: ['full', 'smoke']" in error.traceback[0]


#: appended to every free-text string of a params file: markup, a script, an event handler, a
#: Markdown link out of the page, emphasis, an entity and matplotlib math that does not parse
HOSTILE = (' <script>alert(1)</script><img src=x onerror=alert(2)> [link](https://evil.example/) **b** &amp; '
           '$x^$ {0} %s')
FREE_TEXT = {"title", "study", "question", "assumptions", "label", "source", "claims", "text", "final_epoch_note",
             "reason", "barriers"}


def hostile(node, key=None):
    """``node`` (raw params) with HOSTILE appended to every string under a FREE_TEXT key."""
    if isinstance(node, dict):
        return {k: hostile(v, k) for k, v in node.items()}
    if isinstance(node, list):
        return [hostile(v, key) for v in node]
    return node + HOSTILE if isinstance(node, str) and key in FREE_TEXT else node


class _Tags(html_parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def test_params_text_is_shown_as_text_never_as_markup(smoke_pass, smoke_cache, tmp_path, monkeypatch):
    """Every free-text field of a report's params made hostile: the page holds no script, no
    event handler, no link out of it, and shows the text as typed; the PDF still prints."""
    monkeypatch.setenv("LANDSCAPE_CACHE", str(smoke_cache))  # the smoke pass's runs: labels are not in cache keys
    file = tmp_path / "hostile.yaml"
    file.write_text(yaml.safe_dump(hostile(yaml.safe_load((render.PARAMS_DIR / f"{REPORT}.yaml").read_text()))))
    manifest = render.run_report(file, "smoke", output_root=tmp_path / "out", log=None)
    assert manifest["status"] == "ok", manifest["error"]
    page = (tmp_path / "out" / "hostile" / "hostile.html").read_text()
    parsed = _Tags()
    parsed.feed(page)
    assert not [tag for tag, _ in parsed.tags if tag in ("script", "iframe", "object", "embed")]
    assert not [(tag, a) for tag, attrs in parsed.tags for a in attrs if a.lower().startswith("on")]
    assert not [(tag, attrs) for tag, attrs in parsed.tags
                if "evil.example" in str(attrs.get("href", attrs.get("src")))]
    assert not [(tag, attrs) for tag, attrs in parsed.tags if tag == "img" and attrs.get("src") == "x"]
    shown = html.unescape(re.sub(r"<[^>]+>", "", page))
    title = load_params(file, "smoke").title
    assert title in shown and "[link](https://evil.example/) **b** &amp;" in shown, "shown as typed"
    assert shown.count("<script>alert(1)</script>") >= 5  # title, question, assumptions, labels in tables, claims


def test_a_full_output_disk_fails_the_report_in_one_line_and_keeps_nothing_half_written(smoke_pass, smoke_cache,
                                                                                          tmp_path, monkeypatch):
    from test_files import small_disk

    monkeypatch.setenv("LANDSCAPE_CACHE", str(smoke_cache))
    with small_disk(tmp_path / "disk", size="400k") as disk:
        manifest = render.run_report(REPORT, "smoke", output_root=disk, log=None)
        assert manifest["status"] == "failed"
        assert re.fullmatch(rf"cannot write {disk}/{REPORT}\S*: No space left on device", manifest["error"]), \
            manifest["error"]
        assert json.loads((disk / REPORT / "manifest.json").read_text())["status"] == "failed", "the manifest is marked"
        left = sorted(p.name for p in (disk / REPORT).iterdir() if p.is_file())
        assert not [name for name in left if name.endswith((".ipynb", ".html", ".pdf")) or ".tmp" in name], left


def test_claim_checks_in_params_are_validated():
    params = load_params(REPORT)
    bad = {"reference": {"claims": [{"text": "x", "check": "is_flatter", "args": {}}]}}
    with pytest.raises(ParamsError, match=r"reference\.claims\.0\.check: unknown check 'is_flatter'"):
        claims.parse(load_params(REPORT, overrides=bad))
    args = {"faster": "C", "slower": "A"}
    bad = {"reference": {"claims": [{"text": "x", "check": "converges_faster", "args": args}]}}
    with pytest.raises(ParamsError, match=r"args\.faster: unknown configuration 'C'"):
        claims.parse(load_params(REPORT, overrides=bad))
    assert [c.check for c in claims.parse(params)] == ["converges_faster", "generalizes_better", "more_noise_robust",
                                                       "steeper_slice"]


# ---------------------------------------------------------------------------- helpers

def history(rows):
    """A history frame from {config: [[(test_acc, gap), ...] per seed]} (epochs 1..n)."""
    out = []
    for config, seeds in rows.items():
        for seed, values in enumerate(seeds):
            for epoch, (acc, gap) in enumerate(values, 1):
                out.append({"run": f"{config}_s{seed}", "label": f"Model {config}, seed {seed}", "config": config,
                            "seed": seed, "epoch": epoch, "train_loss": 1.0 / epoch, "train_acc": acc + gap,
                            "eval_train_loss": 0.9 / epoch, "eval_train_acc": acc + gap / 2, "test_loss": 1.1 / epoch,
                            "test_acc": acc, "gap": gap, "eval_gap": gap / 2})
    return pd.DataFrame(out)


def test_study_vs_run_tables_show_the_study_the_study_seed_and_the_seeds():
    params = load_params(REPORT)
    hist = history({"A": [[(0.80, 0.01), (0.85, 0.02)], [(0.82, 0.01), (0.87, 0.02)]],
                    "B": [[(0.87, 0.0), (0.89, 0.0)], [(0.88, 0.0), (0.90, 0.0)]]})
    reference = params.reference.model_extra
    first = tables.first_epochs_table(params, hist, "A", reference["first_epochs"]["A"])
    assert list(first[("epoch", "")]) == [1, 2, 3, 4, 5]
    assert first.loc[0, ("val acc", "study")] == 0.8105 and first.loc[0, ("val acc", "seed 0")] == 0.80
    assert first.loc[0, ("val acc", tables.SEEDS)] == "0.81 (n = 2: no interval)"  # two seeds decide nothing
    assert np.isnan(first.loc[2, ("val acc", "seed 0")]) and first.loc[2, ("val acc", tables.SEEDS)] == "—"
    final = tables.final_epoch_table(params, hist, reference["final_epoch"]).set_index(("model", ""))
    b = final.loc["Model B (CNN + BN + dropout)"]
    assert b[("val acc", "study")] == 0.9132 and b[("val acc", "study seed")] == 0.89 and b[("seeds", "")] == 2
    assert b[("val acc", tables.SEEDS)] == tables.ci_cell([0.89, 0.90])
    gap = tables.gap_table(params, hist, reference["gap"]).set_index("model")
    assert gap.loc["Model A (MLP 784-256-128-10)", "gap, study"] == 0.0144
    assert gap.loc["Model A (MLP 784-256-128-10)", "gap (eval mode)"] == tables.ci_cell([0.01, 0.01])
    assert tables.headline(params, hist).startswith("val acc over seeds: Model B (CNN + BN + dropout) 0.895; ")
    verdicts = [SimpleNamespace(text=t, headline=v) for t, v in (
        ("The CNN generalizes better than the MLP, by a clear margin on every seed we tried (A flatter than B)",
         claims.SUPPORTED), ("B is flatter", claims.CONTRADICTED), ("x", claims.INCONCLUSIVE),
        ("y", claims.INCONCLUSIVE), ("z", claims.MIXED), ("w", claims.UNDECIDABLE))]
    assert tables.headline(params, hist, verdicts) == (  # issue 13: the index's one line is the answer
        "supported: “The CNN generalizes better than the MLP, by a clear margin on every seed we tried (A flatter "
        "than B)”. contradicted: “B is flatter”. mixed: “z”. 2 inconclusive, 1 undecidable with these seeds "
        "(2 seeds each)")  # issue 29: never cut, so the direction a claim states is never lost
    assert tables.headline(params, hist, verdicts[2:4]) == "no claim decided by 2 seeds per configuration: 2 inconclusive"
    assert "study 0.8105" in tables.first_epoch_sentence(params, hist, reference["first_epochs"])


def test_a_cell_is_the_mean_and_the_t_interval_over_seeds():
    assert tables.ci_cell([]) == "—" and tables.ci_cell([0.5]) == "0.5 (n = 1)"
    half = stats.t.ppf(0.975, 2) * np.std([1.0, 2.0, 3.0], ddof=1) / np.sqrt(3)  # 2.48: two significant digits
    assert tables.ci_cell([1.0, 2.0, 3.0]) == f"2.0 ± {half:.1f}" == "2.0 ± 2.5"


def test_probe_tables_set_the_studys_numbers_beside_the_seeds():
    params = load_params("seed_connectivity")
    noise = pd.DataFrame([{"run": f"cnn_s{seed}", "label": "x", "config": "cnn", "seed": seed, "metric": metric,
                           "scale": "absolute", "sigma": sigma, "mean": value + seed / 100, "num_draws": 5,
                           "mode": "eval"}
                          for seed in (1, 2, 3) for sigma in (0.0, 0.1)
                          for metric, value in (("loss", 0.3 + 10 * sigma), ("accuracy", 0.9 - 4 * sigma))])
    loss = noise_report.reference_table(params, noise, "loss").set_index(("σ", ""))
    assert loss.loc[0.1, ("Small CNN", "study")] == 5.2  # reference.noise_loss of the study seed (Model A)
    assert loss.loc[0.1, ("Small CNN", "study seed")] == pytest.approx(1.31)
    assert loss.loc[0.1, ("Small CNN", tables.SEEDS)] == tables.ci_cell([1.31, 1.32, 1.33])
    assert np.isnan(loss.loc[0.0, ("Small CNN", "study")])
    assert noise_report.table(params, noise).loc[0, "seeds"] == 3
    barriers = pd.DataFrame([{"pair": f"p{i}", "config": "cnn", "split": "train", "bn": "interpolate", "loss_a": 0.2,
                              "loss_b": 0.3, "max_loss": 1.5 + i, "loss_barrier": 1.25 + i, "error_barrier": 0.4,
                              "n": 10} for i in range(2)])
    table = interpolation_report.table(params, barriers, tables.reference(params, "interpolation_max_loss"))
    assert table.loc[0, "max L, study"] == 1.8 and table.loc[0, "pairs"] == 2
    assert table.loc[0, "loss barrier"] == tables.positive_cell([1.25, 2.25])  # a barrier is positive
    assert "max L, study" not in interpolation_report.table(params, barriers).columns
    # study 002 published only an order of flatness, by architecture: ranks, ours over the seeds' mean
    params = load_params("mlp_cnn_rescnn_mnist")
    means = {"mlp": [0.010, 0.004], "cnn": [0.006, 0.006], "res": [0.001, 0.002]}
    flatness = pd.DataFrame([{"run": f"{c}_s{i}", "config": c, "seed": i, "sigma": 0.01, "mean": m, "num_draws": 5,
                              "base_loss": 0.1, "mode": "eval", "n": 10} for c, ms in means.items()
                             for i, m in enumerate(ms)])
    ranks = flatness_report.table(params, flatness).set_index("model")
    assert list(ranks["rank (study)"]) == [2, 1, 3]  # reference.flatness_order: cnn, mlp, residual_cnn
    assert list(ranks["rank (this report)"]) == [1, 2, 3]  # mlp 0.007 > cnn 0.006 > residual 0.0015


def test_the_studys_flat_noise_accuracy_is_set_against_both_readings_of_its_noise_scale():
    """Issue 13: study 000's accuracy is flat up to σ = 0.05, ours drops 14-17 points under
    absolute noise; the report says which reading of the noise scale agrees with the study."""
    params = load_params("mlp_vs_cnn_fmnist")  # study: A +0.04 points, B −0.14 points from σ 0 to 0.05

    def frame(absolute_drop, relative_changes):
        rows = []
        for config, base in (("A", 0.87), ("B", 0.90)):
            for seed, wiggle in enumerate(relative_changes):
                at = {("absolute", 0.0): base, ("relative", 0.0): base, ("relative", 0.05): base + wiggle,
                      ("absolute", 0.05): base - absolute_drop + seed * 0.001}
                rows += [{"run": f"{config}_s{seed}", "config": config, "seed": seed, "metric": "accuracy",
                          "scale": scale, "sigma": sigma, "mean": value, "num_draws": 5, "mode": "eval"}
                         for (scale, sigma), value in at.items()]
        return pd.DataFrame(rows)

    relative_only = frame(0.15, [0.0, 0.001, -0.002])
    text = noise_report.attribution_sentence(params, relative_only)
    assert text.startswith("Change in test accuracy from σ = 0 to σ = 0.05, in points")
    assert "study +0.04, ours" in text and "study -0.14, ours" in text and "Only relative noise" in text
    assert "Neither reading" in noise_report.attribution_sentence(params, frame(0.15, [0.03, 0.031, 0.032]))
    assert "agree with ours under absolute noise" in noise_report.attribution_sentence(params, frame(0.0, [0.03] * 3))
    # within a point of the study's change, the precision of a published change: agrees
    assert "Only relative noise" in noise_report.attribution_sentence(params, frame(0.15, [0.008, 0.009, 0.0085]))
    assert "cannot tell which" in noise_report.attribution_sentence(params, frame(0.0, [0.0, 0.001, -0.002]))
    table = noise_report.reference_table(params, relative_only).set_index(("σ", ""))
    assert table.loc[0.05, (tables.config_labels(params)["A"], f"relative σ, {tables.SEEDS}")] == \
        tables.ci_cell(relative_only.query("config == 'A' and scale == 'relative' and sigma == 0.05")["mean"])
    assert noise_report.attribution_sentence(load_params("seed_connectivity"), relative_only.iloc[:0]) == ""


def test_a_study_without_a_hessian_gets_no_study_method_or_published_lambda():
    """Issue 13: study 000 computed no Hessian, so its one-mini-batch row is not "the study's
    method" and there is no published column; study 001 published λmax ≈ 13 and keeps both."""
    def frame(config):
        return pd.DataFrame([{"run": f"{config}_s{s}", "config": config, "seed": s, "method": method,
                              "lambda_max": 10.0 + s + (2 if method == "study" else 0), "lambda_min": np.nan,
                              "lambda_min_kind": "not computed", "condition_number": np.nan, "trace": np.nan,
                              "n": 128 if method == "study" else 4096}
                             for s in range(3) for method in ("lanczos", "study")])

    none = load_params("mlp_vs_cnn_fmnist")
    table = hessian_report.table(none, frame("A"))
    assert "λmax (one mini-batch)" in table.columns and not any("study" in c for c in table.columns[1:4])
    assert "λmax (study, published)" not in table.columns
    sentence = hessian_report.sentence(none, frame("A"))
    assert "study's method" not in sentence and "one-mini-batch power iteration" in sentence
    studied = load_params("seed_connectivity")
    table = hessian_report.table(studied, frame("cnn"))
    assert {"λmax (study method)", "λmax (study, published)"} <= set(table.columns)
    assert "by the study's method" in hessian_report.sentence(studied, frame("cnn"))


def test_negative_curvature_in_every_seed_gives_lambda_max_over_lambda_min_not_an_empty_condition_number():
    """Issue 13: a condition-number column "undefined" in every seed carries nothing."""
    params = load_params("resnet20_ablation", "smoke")

    def frame(lam_mins, kind):
        return pd.DataFrame([{"run": f"skipTrue_bnTrue_s{s}", "config": "skipTrue_bnTrue", "seed": s, "method": "lanczos",
                              "lambda_max": 10.0 * (s + 1), "lambda_min": m, "lambda_min_kind": kind,
                              "condition_number": 10.0 * (s + 1) / m if m > 0 else np.nan, "trace": np.nan, "n": 64}
                             for s, m in enumerate(lam_mins)])

    negative = hessian_report.table(params, frame([-2.0, -5.0], "upper bound")).iloc[0]
    assert negative[tables.RATIO_LABEL] == f"≤ {tables.positive_cell([5.0, 4.0])} (λmin < 0 in 2 of 2)"
    assert "condition number" not in negative.index
    positive = hessian_report.table(params, frame([2.0, 5.0], "converged")).iloc[0]
    assert positive[tables.RATIO_LABEL] == f"{tables.positive_cell([5.0, 4.0])} (λmin < 0 in 0 of 2)"
    assert positive["condition number"] == f"{tables.positive_cell([5.0, 4.0])} (2 of 2 seeds)"
    assert tables.positive_cell([5.0, 4.0]) == "4.472 (n = 2: no interval)"  # the geometric mean of two seeds


def test_the_attribution_table_splits_the_gap_to_the_study_into_mode_batch_steps_and_the_rest():
    params = load_params("batchnorm")
    factors = {"lanczos": 1.0, "lanczos-train": 2.0, "lanczos-batch": 1.0, "study": 0.5}  # × 2, × 0.5, × 0.5
    frame = pd.DataFrame([{"run": f"A_s{s}", "config": "A", "seed": s, "method": m, "lambda_max": 40.0 * f * (1 + s / 10)}
                          for s in (1, 2, 3) for m, f in factors.items()])
    row = hessian_report.attribution_table(params, frame).iloc[0]
    assert (row["× train mode"], row["× one batch of 128"], row["× 20 power steps"]) == ("2 [2, 2]", "0.5 [0.5, 0.5]", "0.5 [0.5, 0.5]")
    assert row["published"] == 57.18 and row["published ÷ study method, study seed"] == pytest.approx(57.18 / 22.0)
    no_bn = frame[frame["method"] != "lanczos-train"]
    assert hessian_report.attribution_table(params, no_bn).iloc[0]["× train mode"] == "1 (no BatchNorm)"


def test_ablation_tables_count_outcomes_over_seeds_and_give_the_study_its_own_columns():
    params = load_params("resnet20_ablation", "smoke")  # two seeds per configuration
    status = pd.DataFrame([{"run": rep.id, "label": rep.label, "config": rep.config, "seed": rep.seed,
                            "status": "diverged" if rep.config == "skipTrue_bnFalse" else "completed",
                            "outcome": "diverged" if rep.config == "skipTrue_bnFalse" else
                            thresholds.DID_NOT_LEARN if rep.id == "skipFalse_bnFalse_s1" else "completed",
                            "epochs": 9 if rep.config == "skipTrue_bnFalse" else 20,
                            "diverged_epoch": 10 if rep.config == "skipTrue_bnFalse" else None}
                           for rep in params.replicas]).astype({"diverged_epoch": "Int64"})
    hist = pd.DataFrame([{"run": rep.id, "label": rep.label, "config": rep.config, "seed": rep.seed, "epoch": 9,
                          "test_acc": 0.8 + i / 100, "test_loss": 0.5, "train_loss": 0.1, "train_acc": 0.95,
                          "gap": 0.15 - i / 100} for i, rep in enumerate(params.replicas)])
    parameters = {rep.id: 272474 for rep in params.replicas}
    table = ablation.ablation_table(params, status, hist, parameters).set_index(("configuration", ""))
    assert str(table[("parameters", "run")].dtype) == "Int64"
    split = ablation.ablation_table(params, status, hist, parameters, ("gap",), outcome=False)
    assert [c[0] for c in split.columns] == ["configuration", "skip", "BN"] + ["gap (train − val acc)"] * 2
    diverged = table.loc["skip, no BN"]
    assert diverged[("outcome", "seeds")] == "2 of 2 diverged (epochs 10, 10)"
    assert diverged[("val acc", tables.SEEDS)] == "no completed seed"
    assert diverged[("outcome", "study")] == "diverged at epoch 10"  # reference.diverged
    assert diverged[("skip", "")] == "✓" and diverged[("BN", "")] == "—"
    base = table.loc["skip + BN"]
    assert base[("val acc", "study")] == 0.8505 and base[("val acc", tables.SEEDS)] == tables.ci_cell([0.80, 0.81])
    assert base[("outcome", "seeds")] == "2 of 2 completed"
    assert table.loc["no skip, no BN"][("outcome", "seeds")] == "1 of 2 completed; 1 of 2 did not learn"  # never "completed"
    grid = [(a, b) for a in (-1.0, 0.0, 1.0) for b in (-1.0, 0.0, 1.0)]
    surface = pd.DataFrame([{"run": f"skipTrue_bnTrue_s{seed}", "label": "skip + BN", "config": "skipTrue_bnTrue",
                             "seed": seed, "direction": kind, "split": "train", "alpha": a, "beta": b,
                             "loss": 1.0 + (1 + seed) * scale * (a * a + b * b)}
                            for seed in (0, 1) for kind, scale in (("filter", 1.0), ("unit", 0.001)) for a, b in grid])
    ranges = slices_report.loss_range_table(params, surface).set_index("direction")
    assert ranges.loc["filter", "max − min"] == pytest.approx(2.0) and np.isnan(ranges.loc["filter", "study min"])
    assert ranges.loc["unit", "max − min"] == pytest.approx(0.002) and ranges.loc["unit", "L(θ)"] == 1.0
    assert (ranges.loc["unit", "study min"], ranges.loc["unit", "study max"]) == (0.0042, 0.0047)
    # the study seed (0) is the run drawn; the spread over seeds 0 and 1 (2 and 4 nats) is their geometric mean (two seeds: no interval)
    assert ranges.loc["filter", "seeds"] == 2 and ranges.loc["filter", f"max − min, {tables.POSITIVE_SEEDS}"] == \
        tables.positive_cell([2.0, 4.0])
    assert "(over 2 seeds " in slices_report.loss_range_sentence(params, surface)
    summary = ablation.ablation_summary_table(params, status, hist, None, surface).set_index(("configuration", ""))
    assert summary.loc["skip + BN", ("train loss spread", "study seed")] == pytest.approx(0.002)
    assert summary.loc["skip + BN", ("train loss spread", tables.POSITIVE_SEEDS)] == tables.positive_cell([0.002, 0.004])
    # with the loss_range probe (a coarse grid on every seed) the spread over seeds comes from it,
    # while the study seed's own columns stay those of its drawn surface
    coarse = surfaces.loss_ranges(surface).assign(range=lambda f: f["range"] * 0.5 + 0.25 * f["seed"])
    ranges = slices_report.loss_range_table(params, surface, coarse).set_index("direction")
    assert ranges.loc["filter", "max − min"] == pytest.approx(2.0)
    assert ranges.loc["filter", f"max − min, {tables.POSITIVE_SEEDS}"] == tables.positive_cell([1.0, 2.25])
    assert "(over 2 seeds " + tables.positive_cell([1.0, 2.25]) in slices_report.loss_range_sentence(params, surface, coarse)
    summary = ablation.ablation_summary_table(params, status, hist, None, surface, coarse).set_index(("configuration", ""))
    assert summary.loc["skip + BN", ("train loss spread", "study seed")] == pytest.approx(0.002)
    assert summary.loc["skip + BN", ("train loss spread", tables.POSITIVE_SEEDS)] == tables.positive_cell([0.001, 0.252])


def test_report_object_writes_tables_figures_and_metrics(tmp_path):
    params = load_params(REPORT, "smoke")
    report = pages.open_sink(params, tmp_path, device="cpu")
    hist = history({"A": [[(0.80, 0.01), (0.85, 0.02)]], "B": [[(0.87, 0.0), (0.89, np.nan)]]})
    report.table(tables.final_epoch_table(params, hist), "final", "Final epoch.")
    report.figure(plotting.learning_curves(hist), "curves", "Curves.")
    report.record("final", {"A": np.float32(0.5), "B": float("nan")})
    report.headline("one line")
    assert (tmp_path / "tables" / "final.csv").exists()
    assert (tmp_path / "figures" / "curves.png").exists() and (tmp_path / "figures" / "curves.svg").exists()
    assert json.loads((tmp_path / "metrics.json").read_text()) == {"final": {"A": 0.5, "B": None}}
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["headline"] == "one line" and summary["device"] == "cpu"
    assert [t["key"] for t in summary["tables"]] == ["final"] and summary["figures"][0]["number"] == 1
    printed = summary["figures"][0]["print"]  # as the SVG says: two 4.6 x 3.4 in panels, cropped tight
    assert 150 < printed["natural_mm"][0] < 260 and 60 < printed["natural_mm"][1] < 120
    with pytest.raises(ValueError, match="lower-case"):
        report.table(hist, "Bad Key", "x")


def test_a_figure_prints_64_mm_tall_unless_its_text_needs_more_and_never_wider_than_the_page():
    """Issue 13's legibility: a 2 x 2 grid of slices printed at 64 mm put its tick labels at 3.5 pt."""
    wide = sink.print_layout(300.0, 90.0, 10.0)  # one row of panels: the page's width decides
    assert wide["max_height_mm"] == sink.PRINT_HEIGHT_MM and wide["scale"] == pytest.approx(184 / 300, abs=1e-3)
    grid = sink.print_layout(230.0, 180.0, 10.0)  # at 64 mm: 3.6 pt; it may be as tall as 5.5 pt needs
    assert grid["max_height_mm"] == pytest.approx(180 * 0.55, abs=0.1)
    assert grid["smallest_text_pt"] == pytest.approx(sink.MIN_FIGURE_TEXT_PT, abs=0.01)
    small = sink.print_layout(100.0, 50.0, 8.0)  # fits: printed at its natural size
    assert small["scale"] == 1.0 and small["smallest_text_pt"] == 8.0
    too_wide = sink.print_layout(400.0, 300.0, 10.0)  # the width limit leaves its text small: the check finds it
    assert too_wide["smallest_text_pt"] < sink.MIN_FIGURE_TEXT_PT and too_wide["max_height_mm"] == sink.MAX_PRINT_HEIGHT_MM
    fig, axes = plotting.plt.subplots(1, 2, figsize=(4, 2))
    axes[0].set_title("big", fontsize=12)
    axes[1].set_xlabel("small", fontsize=6)
    hidden = fig.add_subplot(2, 2, 4)
    hidden.set_title("hidden", fontsize=2)
    hidden.set_visible(False)
    assert plotting.smallest_text_pt(fig) == 6.0
    plotting.plt.close(fig)


def test_a_caption_left_at_the_foot_of_a_page_without_its_rows_is_found():
    """003's first full render left Tables 8, 9 and 11 so: caption and header on one page, rows on the next."""
    tables = {2: ("Loss barrier per pair of seeds.", ["model", "max L on path"]),
              3: ("ε-sharpness, mean ± 95% CI over seeds.", ["model", "SAM"])}

    def page(number, *lines):
        return layout.Page(number, 40.0, 11.0, [], 842.0, [(800.0 - 14 * i, text) for i, text in enumerate(lines)])

    pages = [page(1, "prose", "Table 2. Loss barrier per pair", "of seeds.", "max L on", "model path", "1 / 3"),
             page(2, "A: CNN + BN 1.81 ± 0.15", "Table 3. ε-sharpness, mean ± 95% CI over seeds. (part 1", "2 / 3"),
             page(3, "of 2)", "model SAM", "A: CNN + BN 0.09", "Table 3. ε-sharpness, mean ± 95% CI over seeds.",
                  "(part 2 of 2)", "model SAM", "B 0.05", "3 / 3")]
    assert layout.orphaned_captions(pages, tables) == [(2, 1), (3, 2)]
    assert layout.words("ﬁrst  order\n") == "first order"


def test_the_layout_rules_find_repeated_text_numbers_out_of_order_and_underfilled_pages():
    evidence = "λmax (Lanczos, train probe set): cnn 24.0 [20.1, 28.7] (n = 8) vs res 13.8 [11.9, 16.0] (n = 8); " * 3
    claims_table = (f'<div class="report-table" id="table-claims"><table><caption><b>Table 1.</b> Claims</caption>'
                    f'<tr><td>The CNN is sharper.</td><td>{evidence}</td></tr></table></div>'
                    f'<div class="report-print-parts" style="display: none"><div class="report-table"><table><caption>'
                    f'<b>Table 1.</b> Claims (part 1 of 2)</caption><tr><td>{evidence}</td></tr></table></div></div>')
    # issue 33: the claims' evidence printed again in the findings; the synthesis's list printed twice
    findings = f"<ul><li>“The CNN is sharper.” — supported: {evidence}</li></ul>"
    assert layout.repeated_blocks(claims_table) == []  # a wide table's printed parts are the same table
    found = layout.repeated_blocks(claims_table + findings)
    assert found == [f"passage inside another: {evidence[:70]}…"]
    listed = "<p>" + "13 of 28 within-study τ have a 95% CI that excludes 0, " * 3 + "</p>"
    assert layout.repeated_blocks(listed + "<div>" + listed + "</div>")[0].startswith("text ×2: 13 of 28")
    same_cells = "<table><tr><td>" + "x" * 90 + "</td></tr><tr><td>" + "x" * 90 + "</td></tr></table>"
    assert layout.repeated_blocks(same_cells) == []  # one table may repeat a value in its cells
    assert any(f.startswith("table ×2: ") for f in layout.repeated_blocks(same_cells + same_cells))
    # numbered as read, every link left by a move numbered
    figure = '<figure class="report-figure" id="figure-{0}"><figcaption><b>Figure {1}.</b> x</figcaption></figure>'
    assert layout.numbering(claims_table + figure.format("a", 1) + figure.format("b", 2)) == []
    assert layout.numbering(figure.format("b", 2) + figure.format("a", 1)) == [
        "figures are numbered [2, 1], not in reading order"]
    assert layout.numbering('<a href="#table-runs" data-ref="table-runs">Table ?</a>') == [
        "a link to table-runs has no number"]
    # issue 33: 000 p11 and 004 p16 about 95% blank; a page before a section is no exception now, the last one is
    def page(number, lowest):
        return layout.Page(number, lowest, 14.0, [], 842.0, [])

    full, blank, opening = page(1, 60.0), page(2, 800.0), page(3, 60.0)
    assert layout.underfilled_pages([full, blank, opening, page(4, 800.0)]) == [(2, 1.0)]
    assert layout.underfilled_pages([page(1, 45.0 + (842 - 85) / 3)]) == []  # the last page may be short


# issue 33: words the reports used without saying what they mean
JARGON = ("Ritz", "λ̃min", "granulated", "Ψ", "Kendall", "CMI", "sign agreement", "Lanczos", "Hutchinson", "SAM",
          "geometric mean", "filter-normalized", "stability threshold", "edge of stability", "PAC-Bayes", "path norm",
          "spectral norm", "Gauss-Newton", "barrier", "λmax", "Benjamini", "Holm", "AUC", "leave-one-configuration-out",
          "bootstrap", "eval mode", "train mode", "probe set", "Welch", "‖∇L‖", "|ΔL|", "relative σ", "loss surface")


def test_every_word_a_report_may_not_explain_has_one_entry_in_the_catalogue_of_terms():
    found = terms.catalogue()
    names = [name for name, _, _ in found]
    assert len(names) == len(set(names)) and all(meaning for _, meaning, _ in found)
    for word in JARGON:
        assert any(word in trigger or trigger in word for _, _, words in found for trigger in words), word


def test_the_words_of_generated_evidence_find_their_terms():
    # a claim's comparison by rank (seed_connectivity: λmax against val acc) prints "Kendall τ, paired bootstrap"
    assert terms.used_in("Kendall τ", "Kendall τ, paired bootstrap") == ["tau", "bootstrap"]
    assert terms.used_in("difference", "Welch") == ["welch"]
    assert terms.used_in("ratio", "t on logs") == []


def test_a_term_used_in_the_prose_without_its_entry_in_the_guide_is_found():
    catalogue = [("λmax", "the top eigenvalue", ("λmax",)), ("Ritz value (λ̃min)", "an estimate", ("Ritz", "λ̃min"))]
    guide = ('<p><strong>How to read this report.</strong> The terms it uses:</p><ul><li><strong>λmax</strong> '
             '(<a href="#Curvature">Curvature</a>): the top eigenvalue</li></ul>')
    assert layout.unexplained(guide + "<p>λmax is 24.</p>", catalogue) == []
    assert layout.unexplained(guide + "<p>The smallest Ritz value is −3.</p>", catalogue) == ["Ritz value (λ̃min)"]
    assert layout.unexplained(guide + "<table><caption>λ̃min per seed</caption></table>", catalogue) == [
        "Ritz value (λ̃min)"]  # a caption is prose
    assert layout.unexplained(guide + "<table><tr><td>λ̃min</td></tr></table>", catalogue) == []  # a cell is not
    assert layout.unexplained("<p>λmax is 24.</p>", catalogue) == ["λmax"]  # no guide at all


def test_surfaces_share_one_colour_scale_of_the_loss_rise_and_a_flat_plane_draws_no_contour():
    grid = np.linspace(-1, 1, 5)
    rows = []
    for run, steep in (("flat", 0.002), ("sharp", 90.0)):
        for split, base in (("train", 0.1), ("test", 0.4)):
            rows += [{"run": run, "label": run, "direction": "filter", "split": split, "alpha": a, "beta": b,
                      "loss": base + steep * (a * a + b * b) / 2} for a in grid for b in grid]
    frame = pd.DataFrame(rows)
    rise = slices_report.rises(frame)
    assert rise.loc[(rise["alpha"] == 0) & (rise["beta"] == 0), "rise"].abs().max() == 0  # 0 at θ
    scale = slices_report.rise_scale(frame[frame["run"] == "sharp"], "filter")
    assert (scale.low, scale.high, scale.linear_within) == (0.0, 90.0, None)  # one surface: linear
    flat = slices_report.surfaces_of(frame, "flat", "filter", scale)
    sharp = slices_report.surfaces_of(frame, "sharp", "filter", scale)
    for fig in (flat, sharp):  # both splits and both runs on the one scale
        assert [ax.collections[0].norm.vmax for ax in fig.axes if ax.collections][:2] == [90.0, 90.0]
    contours = [sum(type(c).__name__ == "QuadContourSet" or hasattr(c, "levels") for c in ax.collections)
                for ax in flat.axes[:2]]
    assert contours == [0, 0] and any(hasattr(c, "levels") for c in sharp.axes[0].collections)
    plt.close("all")


def test_surfaces_whose_highest_rises_span_decades_share_a_symmetric_log_scale_linear_within_the_noise():
    grid = np.linspace(-1, 1, 5)
    frame = pd.DataFrame([{"run": run, "label": run, "direction": "filter", "split": "train", "alpha": a, "beta": b,
                           "loss": 0.1 + steep * (a * a + b * b) / 2, "loss_se": se}
                          for run, steep, se in (("learned", 4.0, 0.01), ("collapsed", 2e5, 0.002))
                          for a in grid for b in grid])
    scale = slices_report.rise_scale(frame, "filter")  # highest rises 4 and 2×10⁵ nats: span 5×10⁴
    assert (scale.low, scale.high, scale.linear_within) == (0.0, pytest.approx(2e5), 0.002)  # the smallest noise
    assert "symmetric-log" in scale.words("nats") and "±0.002 nats" in scale.words("nats")
    learned = slices_report.surfaces_of(frame, "learned", "filter", scale)
    norm = learned.axes[0].collections[0].norm
    assert norm(4.0) > 0.3  # 4 of 2×10⁵ nats: 2×10⁻⁵ of a linear scale
    assert norm(4.0) == pytest.approx((scale.height(4.0) - scale.height(0.0)) / (scale.height(2e5) - scale.height(0.0)))
    assert scale.value(scale.height(np.array([-3.0, 0.0, 5e4]))) == pytest.approx([-3.0, 0.0, 5e4])  # one transform
    levels = [c for c in learned.axes[0].collections if hasattr(c, "levels")][0].levels
    assert min(levels) >= 0.002 and np.all(np.diff(np.log10(levels)) == pytest.approx(np.log10(levels[1] / levels[0])))
    ticks, labels = scale.ticks()  # 0, then at most six decades up to 10⁵
    assert labels[0] == "0" and labels[-1] == "100,000" and ticks == sorted(ticks) and len(ticks) <= 7
    assert scale.height(4.0) == pytest.approx(np.log10(1 + 4.0 / 0.002))
    fig, view, _ = slices_report.surface_view(frame, ["learned", "collapsed"], scale)
    assert view["data"][0]["customdata"][0][0] == pytest.approx(4.0)  # the hover shows nats, the height the log
    assert view["data"][0]["z"][0][0] == pytest.approx(scale.height(4.0))
    assert view["layout"]["scene"]["zaxis"]["ticktext"] == labels
    assert [t.get_text() for t in learned.axes[1].get_yticklabels()] == labels  # the colour bar, in nats
    plt.close("all")


def test_contours_are_drawn_only_beyond_the_probe_set_noise_and_never_closer_than_it():
    z = np.add.outer(np.linspace(0, 1, 5), np.zeros(3))  # varies by 1 nat
    assert len(plotting.contour_levels(0.0, 1.0, z, 10)) == 8  # no noise known: every inner step
    assert plotting.contour_levels(0.0, 1.0, z, 10, noise=0.6) == []  # 1 nat ≤ 2 × 0.6: within the noise
    levels = plotting.contour_levels(0.0, 1.0, z, 10, noise=0.3)  # steps at least 0.3 apart
    assert levels and min(np.diff([0.0] + levels + [1.0])) >= 0.3
    grid = np.linspace(-1, 1, 5)
    frame = pd.DataFrame([{"run": "r", "label": "r", "direction": "filter", "split": "train", "alpha": a, "beta": b,
                           "loss": 0.1 + 0.004 * (a * a + b * b), "loss_se": 0.005} for a in grid for b in grid])
    assert slices_report.centre_noise(frame) == 0.005
    fig = slices_report.surfaces_of(frame, "r", "filter")  # rises by 0.008 nats at most: within 2 × 0.005
    assert not any(hasattr(c, "levels") for c in fig.axes[0].collections)
    assert "(the standard error of L(θ): 0.005 to 0.005 nats)" in slices_report.noise_words(frame)
    assert "do not record" in slices_report.noise_words(frame.drop(columns="loss_se"))
    plt.close("all")


def test_the_interactive_view_holds_only_escaped_numbers_and_its_library_is_stored_once(tmp_path):
    spec = {"data": [{"type": "surface", "z": [[0.0, float("nan")], [1.0, 2.0]]}],
            "layout": {"zaxis": {"title": {"text": "</script><script>alert(1)</script> & more"}}}}
    text = interactive.spec_json(spec)
    assert "<" not in text and ">" not in text and "&" not in text and "NaN" not in text
    assert json.loads(text)["data"][0]["z"] == [[0.0, None], [1.0, 2.0]]
    assert json.loads(text)["layout"]["zaxis"]["title"]["text"].startswith("</script>")  # as typed, once parsed
    name = interactive.store_library(tmp_path)
    path = tmp_path / interactive.ASSETS_DIR / name
    written = path.stat().st_mtime_ns
    assert interactive.store_library(tmp_path) == name and path.stat().st_mtime_ns == written  # once
    assert b"plotly" in path.read_bytes()[:2000].lower()
    with pytest.raises(ValueError):
        interactive.markup(spec, 'x.js" onload="alert(1)')
    grid = np.linspace(-1, 1, 3)
    frame = pd.DataFrame([{"run": run, "label": "<b>hostile</b>", "direction": "filter", "split": "train",
                           "alpha": a, "beta": b, "loss": 1.0 + a * a + k * b * b}
                          for k, run in enumerate(("r1", "r2")) for a in grid for b in grid])
    fig, view, labels = slices_report.surface_view(frame, ["r1", "r2", "absent"], plotting.ColourScale(0.0, 2.0))
    assert labels == ["<b>hostile</b>"] * 2 and len(view["data"]) == 2
    assert "hostile" not in json.dumps(view)  # params text stays out of the spec (plotly reads some tags)
    assert view["data"][1]["z"][2] == [2.0, 1.0, 2.0]  # α = 1 row: rise 1 + β² over L(θ)
    plt.close("all")


def test_a_sentence_says_when_two_direction_kinds_order_the_configurations_differently():
    alphas = np.linspace(-1, 1, 5)
    bends = {("filter", "a"): 1.0, ("filter", "b"): 3.0, ("random", "a"): 2.0, ("random", "b"): 0.5}
    frame = pd.DataFrame([{"direction": kind, "config": config, "run": f"{config}_s{seed}", "split": split,
                           "alpha": a, "loss": 0.1 + (bend + 0.1 * seed) * a * a}
                          for (kind, config), bend in bends.items() for seed in (1, 2) for split in ("train", "test")
                          for a in alphas])
    rises = slices_report.end_rises(frame).set_index(["direction", "config"])["rise"]
    assert rises[("filter", "b")] == pytest.approx(3.15)  # mean over seeds of L(±1) − L(0)
    text = slices_report.order_sentence(frame, {"a": "A", "b": "B"})
    assert "filter-normalized directions A (1.15) < B (3.15); along unnormalized N(0, I) directions B (0.65) < A" in text
    assert "order the configurations differently" in text
    same = frame[frame["direction"] == "filter"]
    assert slices_report.order_sentence(same, {}) is None  # one kind: nothing to compare


def test_learning_curves_of_many_configurations_are_small_multiples_sharing_a_range_per_metric():
    rows = [{"config": c, "seed": s, "epoch": e, "train_loss": 2.0 / e + i, "test_loss": 2.2 / e + i,
             "train_acc": 0.5 + 0.1 * e, "test_acc": 0.45 + 0.1 * e}
            for i, c in enumerate("abcd") for s in (1, 2) for e in (1, 2, 3)]
    fig = plotting.learning_curves(pd.DataFrame(rows), labels={c: f"config {c}" for c in "abcd"})
    shown = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in shown] == [f"config {c}" for c in "abcd"] * 2  # a row per metric
    assert len({ax.get_ylim() for ax in shown[:4]}) == 1 and len({ax.get_ylim() for ax in shown[4:]}) == 1
    assert all(len(ax.get_lines()) <= 3 for ax in shown)  # one line per split, never 12
    few = plotting.learning_curves(pd.DataFrame([r for r in rows if r["config"] in "ab"]))
    assert len([ax for ax in few.axes if ax.get_visible()]) == 2
    plt.close("all")


def test_table_numbers_have_four_significant_digits_signed_differences_and_grouped_counts():
    """Issue 13: "13.0000" for a published "≈13", "1170.0082 s", "−0.0000" are gone."""
    fmt = sink.default_format
    assert fmt("val acc", pd.Series([0.5]))(0.87654) == "0.8765" and fmt("λmax", pd.Series([13.0]))(13.0) == "13"
    assert fmt(("val acc", "Δ"), pd.Series([0.5]))(0.01) == "+0.01" and fmt("Δ", pd.Series([0.0]))(-0.0) == "0"
    assert fmt("time", pd.Series([1.0]))(1170.0082) == "1170"
    assert fmt(("parameters", "run"), pd.Series([272474], dtype="Int64")).format(272474) == "272,474"
    assert fmt(("parameters", "Δ"), pd.Series([0, 12000], dtype="Int64")).format(1568) == "+1,568"
    assert fmt("epochs", pd.Series([6])).format(6) == "6" and fmt("model", pd.Series(["A"])) is None


def test_plot_helpers_draw_every_kind_of_figure():
    hist = history({"A": [[(0.80, 0.01), (0.85, 0.02)]] * 2, "B": [[(0.87, 0.0), (0.89, 0.0)], [(0.86, 0.0), (0.9, 0.0)]]})
    hess = pd.DataFrame([{"run": f"{c}_s{s}", "config": c, "seed": s, "method": m, "lambda_max": v + s}
                         for c, v in (("A", 10.0), ("B", 30.0)) for s in range(3) for m in ("lanczos", "study")])
    figures = [
        plotting.learning_curves(hist, labels={"A": "Model A"}),
        plotting.metric_over_epochs(hist, reference={"A": 0.01}),
        hessian_report.figure(hess, {"A": 12.0}),
        plotting.surface(np.linspace(-1, 1, 4), np.linspace(-1, 1, 3), [np.random.rand(4, 3) + 1] * 2,
                         titles=["train", "test"], log=True),
    ]
    for fig in figures:
        assert fig.axes
        plotting.plt.close(fig)


def test_a_linear_axis_over_three_decades_is_found_and_the_plots_choose_log_scales():
    """Issue 13: 003's unnormalized slice reached 1e6 nats on a linear axis, hiding the basin."""
    fig, ax = plotting.plt.subplots()
    ax.plot([-1, 0, 1], [1e6, 0.3, 2e5])
    assert plotting.linear_axis_spans(fig) == ["panel 1: y spans 6.5 decades"]
    ax.set_yscale("log")
    assert plotting.linear_axis_spans(fig) == []
    plotting.plt.close(fig)
    frame = pd.DataFrame([{"run": f"A_s{s}", "config": "A", "seed": s, "direction": kind, "split": split, "alpha": a,
                           "loss": 0.3 + (1e6 if kind == "random" else 1.0) * a * a}
                          for s in range(2) for kind in ("filter", "random") for split in ("train", "test")
                          for a in np.linspace(-1, 1, 5)])
    fig = slices_report.slices_figure(frame)
    assert [ax.get_yscale() for ax in fig.axes] == ["linear", "log"] and plotting.linear_axis_spans(fig) == []
    plotting.plt.close(fig)
    path = pd.DataFrame([{"config": c, "pair": 0, "split": "train", "bn": "keep", "alpha": a, "loss": 0.1 + h * a * (1 - a)}
                         for c, h in (("A", 0.31 * 4), ("B", 1.11 * 4)) for a in np.linspace(0, 1, 5)])
    fig = interpolation_report.figure(path)
    assert fig.axes[0].get_ylim() == fig.axes[1].get_ylim()  # one scale, so 0.31 and 1.11 nats look as they are
    plotting.plt.close(fig)
    noise = pd.DataFrame([{"config": "A", "run": f"A_s{s}", "seed": s, "scale": "relative", "metric": "accuracy", "sigma": x,
                           "mean": 0.9 - 0.006 * x + 0.001 * s, "ci_low": np.nan, "ci_high": np.nan}
                          for s in range(3) for x in (0.0, 0.5, 1.0)])
    fig = noise_report.figure(noise)
    low, high = fig.axes[0].get_ylim()
    assert high - low >= plotting.MIN_ACCURACY_SPAN - 1e-12  # a 0.6-point change is not drawn as the whole axis
    plotting.plt.close(fig)


def test_a_rendered_page_drops_sections_the_params_do_not_ask_for_and_opens_with_a_guide_and_contents():
    md, code = nbformat.v4.new_markdown_cell, nbformat.v4.new_code_cell

    def html_output(markup):
        return nbformat.v4.new_output("display_data", data={"text/html": markup})

    title = code("begin", outputs=[nbformat.v4.new_output("display_data", data={"text/markdown": "# Title"})])
    def outline(entry):
        return nbformat.v4.new_output("display_data", data={sink.OUTLINE_MIME: entry, "text/plain": ""})

    term = outline({"term": "λmax", "meaning": "the largest eigenvalue & more"})
    nb = nbformat.v4.new_notebook(cells=[
        code("params"), title, md("## Setup\n\nprose"), code("setup", outputs=[html_output("<p>table</p>")]),
        md("## Flatness under weight noise"),
        code("flat", outputs=[html_output('<p class="report-pending">Not part of ...</p>'), outline({"absent": "flat"})]),
        md("## Curvature (Hessian)"), code("hessian", outputs=[term, html_output("<p>numbers</p>")])])
    found = export.arrange(nb)
    assert found == {"dropped": ["Flatness under weight noise"], "sections": ["Setup", "Curvature (Hessian)"],
                     "terms": ["λmax"], "numbers": {}, "answer_figure": None}
    top, guide = nb.cells[2].source, nb.cells[3].source
    assert nb.cells[1] is title and "[← all reports](../index.html)" in top
    assert "**λmax** ([Curvature (Hessian)](#Curvature-(Hessian))): the largest eigenvalue & more" in guide
    assert "[Setup](#Setup) · [Curvature (Hessian)](#Curvature-(Hessian))" in top
    assert not any("Flatness" in c.source for c in nb.cells)
    assert [o.data for c in nb.cells if c.cell_type == "code" for o in c.outputs if sink.OUTLINE_MIME in o.data] == []
    assert nb.cells[-1].outputs[0].data == {"text/html": "<p>numbers</p>"}  # the first output is the one shown


def test_the_page_opens_with_the_answer_and_its_figure_ends_with_the_appendix_and_numbers_in_reading_order():
    md, code = nbformat.v4.new_markdown_cell, nbformat.v4.new_code_cell

    def html_output(markup):
        return nbformat.v4.new_output("display_data", data={"text/html": markup})

    def outline(entry):
        return nbformat.v4.new_output("display_data", data={sink.OUTLINE_MIME: entry, "text/plain": ""})

    def table(key, number):
        return html_output(f'<div class="report-table" id="table-{key}"><table><caption><b>Table {number}.</b> '
                           f'{key}</caption></table></div><div class="report-print-parts"><table><caption><b>Table '
                           f'{number}.</b> {key} (part 1 of 2)</caption></table></div>')

    def figure(key, number):
        return html_output(f'<figure class="report-figure" id="figure-{key}"><img/><figcaption><b>Figure {number}.'
                           f'</b> {key}</figcaption></figure>')

    title = code("begin", outputs=[nbformat.v4.new_output("display_data", data={"text/markdown": "# Title"})])
    nb = nbformat.v4.new_notebook(cells=[
        code("params"), title,
        md("## Training"), code("training", outputs=[table("setup", 1), outline({"appendix": "table-runs"}),
                                                     table("runs", 2), figure("curves", 1)]),
        md("## Curvature"), code("hessian", outputs=[figure("lambda-max", 2), table("hessian", 3)]),
        md("## Answer"), code("answer", outputs=[outline({"answer": "figure-lambda-max"}), html_output("<p>yes</p>")]),
        md("## Reproducing this report"), code("keys", outputs=[html_output("<p>keys</p>")])])
    found = export.arrange(nb)
    headings = [export.section_heading(c) for c in nb.cells if export.section_heading(c)]
    assert headings == ["Answer", "Training", "Curvature", "Reproducing this report", export.APPENDIX_HEADING]
    assert found["sections"] == headings and found["answer_figure"] == "figure-lambda-max"
    assert nb.cells[1] is title and "[Answer](#Answer)" in nb.cells[2].source
    answer = nb.cells[4]
    assert [o.data["text/html"][:30] for o in answer.outputs] == ['<figure class="report-figure" ', "<p>yes</p>"]
    # numbered as read: the answer's figure first, the runs table last (in the appendix)
    assert found["numbers"] == {"figure-lambda-max": 1, "table-setup": 1, "figure-curves": 2, "table-hessian": 2,
                                "table-runs": 3}
    assert "<b>Figure 1.</b> lambda-max" in answer.outputs[0].data["text/html"]
    runs = nb.cells[-1].outputs[0].data["text/html"]
    assert runs.count("<b>Table 3.</b>") == 2 and "<b>Table 2.</b>" not in runs  # the printed parts too
    where_runs_were = nb.cells[nb.cells.index(answer) + 2].outputs[1].data["text/html"]
    assert '<a href="#table-runs" data-ref="table-runs">Table 3</a> in the appendix' in where_runs_were
    where_figure_was = [o.data["text/html"] for c in nb.cells for o in c.get("outputs", [])
                        if 'data-ref="figure-lambda-max"' in o.data.get("text/html", "")]
    assert len(where_figure_was) == 1 and ">Figure 1</a> is shown with the answer" in where_figure_was[0]
    assert not any(export._APPENDIX_KEY in o for c in nb.cells for o in c.get("outputs", []))
    nbformat.validate(nb)


def test_a_mean_band_is_the_t_interval_over_seeds_and_absent_for_one_seed():
    rows = pd.DataFrame({"epoch": [1, 1, 1, 2], "acc": [0.8, 0.9, 0.85, 0.9]})
    found = plotting.over_seeds(rows, "epoch", "acc").set_index("epoch")
    interval = stats.t.ppf(0.975, 2) * np.std([0.8, 0.9, 0.85], ddof=1) / np.sqrt(3)
    assert found.loc[1, "mean"] == pytest.approx(0.85) and found.loc[1, "high"] == pytest.approx(0.85 + interval)
    assert found.loc[2, "n"] == 1 and np.isnan(found.loc[2, "low"])


def test_learning_curve_bands_stop_where_loss_and_accuracy_do():
    """Three seeds far apart: the t interval reaches below loss 0 and above accuracy 1; the band
    is cut there, and the mean line is drawn as computed."""
    hist = pd.DataFrame([{"config": "A", "seed": s, "epoch": e, "train_loss": loss, "train_acc": acc}
                         for s, (loss, acc) in enumerate([(0.05, 0.99), (2.3, 0.1), (0.1, 0.98)]) for e in (1, 2)])
    assert plotting.over_seeds(hist, "epoch", "train_loss")["low"].min() < 0
    assert plotting.over_seeds(hist, "epoch", "train_acc")["high"].max() > 1
    fig = plotting.learning_curves(hist, splits=("train",))
    for ax, (low, high) in zip(fig.axes, [(0.0, np.inf), (0.0, 1.0)]):
        band = [c for c in ax.collections if isinstance(c, matplotlib.collections.PolyCollection)]
        ys = np.concatenate([path.vertices[:, 1] for c in band for path in c.get_paths()])
        assert ys.min() == low and ys.max() <= high
        assert ax.get_ylim()[0] >= -0.1 * (ys.max() - low)  # the axis no longer reaches far below what was possible
    means = [plotting.over_seeds(hist, "epoch", column)["mean"] for column in ("train_loss", "train_acc")]
    assert [list(ax.lines[0].get_ydata()) for ax in fig.axes] == [list(m) for m in means]
    plt.close(fig)


def test_noise_accuracy_bands_stop_at_0_and_1():
    noise = pd.DataFrame([{"config": "A", "seed": s, "sigma": sigma, "scale": "relative", "metric": "accuracy",
                           "mean": acc} for s, acc in enumerate([0.99, 0.1, 0.98]) for sigma in (0.0, 0.1)])
    assert plotting.over_seeds(noise, "sigma", "mean")["high"].max() > 1
    fig = noise_report.figure(noise)
    band = [c for c in fig.axes[0].collections if isinstance(c, matplotlib.collections.PolyCollection)]
    ys = np.concatenate([path.vertices[:, 1] for c in band for path in c.get_paths()])
    assert ys.min() == 0.0 and ys.max() == 1.0
    plt.close(fig)


def test_seed_dots_wrap_long_labels_so_they_do_not_collide():
    labels = {f"c{i}": f"CNN (16, 16), residual {i}" for i in range(6)}
    rows = pd.DataFrame([{"config": c, "seed": s, "estimate": e, "value": 1.0 + i + s / 10}
                         for i, c in enumerate(labels) for s in range(3) for e in ("ours", "study")])
    fig = plotting.seed_dots(rows, "value", "estimate", {"c0": 2.0}, "λ", labels)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == [f"CNN (16, 16),\nresidual {i}" for i in range(6)]
    fig.canvas.draw()
    boxes = [t.get_window_extent() for t in ax.get_xticklabels()]
    gaps = [b.x0 - a.x1 for a, b in zip(boxes, boxes[1:])]
    assert min(gaps) > 0.1 * (boxes[1].x0 - boxes[0].x0), gaps  # a visible gap, not just no overlap
    assert fig.legends and ax.get_legend() is None
    plotting.plt.close(fig)


def test_seed_dots_on_a_log_axis_draw_the_geometric_mean_with_a_positive_interval():
    """004's λmax figure: three seeds at 7, 125 and 400 gave an arithmetic CI reaching below zero,
    drawn on a log axis down to its bottom edge; there the centre is now the geometric mean."""
    def drawn(values):
        rows = pd.DataFrame([{"config": "c", "estimate": "ours", "value": v} for v in values])
        fig = plotting.seed_dots(rows, "value", "estimate", None, "λ")
        ax = fig.axes[0]
        centre = ax.collections[0].get_segments()[0][0][1]  # the hlines' height
        bar = next(c for c in ax.collections[1:] if isinstance(c, matplotlib.collections.LineCollection))
        low, high = sorted(bar.get_segments()[0][:, 1])
        words, scale = plotting.seed_centre_words(fig), ax.get_yscale()
        plotting.plt.close(fig)
        return centre, low, high, scale, words

    def t_interval(x):
        return np.mean(x), *stats.t.interval(0.95, len(x) - 1, loc=np.mean(x), scale=stats.sem(x))

    spread = [7.0, 125.0, 400.0]
    centre, low, high, scale, words = drawn(spread)
    assert scale == "log" and "geometric mean" in words
    assert np.allclose([centre, low, high], np.exp(t_interval(np.log(spread)))) and low > 0
    assert t_interval(spread)[1] < 0  # what had been drawn
    close = [7.0, 9.0, 12.0]
    centre, low, high, scale, words = drawn(close)
    assert scale == "linear" and words == "the mean as a line with its 95% CI"
    assert np.allclose([centre, low, high], t_interval(close))


def test_external_references_are_detected():
    page = ('<script src="https://cdn.example/x.js"></script><link href="//cdn.example/a.css" rel="stylesheet">'
            '<img src="data:image/png;base64,AAAA"><a href="https://example.org">a link loads nothing</a>')
    assert export.external_references(page) == ["//cdn.example/a.css", "https://cdn.example/x.js"]


def test_rendered_reports_drop_stderr_and_widget_outputs():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x", outputs=[
        nbformat.v4.new_output("stream", name="stderr", text="UserWarning: ..."),
        nbformat.v4.new_output("display_data", data={export.WIDGET_VIEW: {"model_id": "1"}, "text/plain": "HBox()"}),
        nbformat.v4.new_output("stream", name="stdout", text="kept"),
        nbformat.v4.new_output("display_data", data={"text/html": "<p>kept</p>"})])])
    nb.metadata["widgets"] = {"state": {}}
    assert export.strip_noise(nb) == 2
    assert [o.output_type for o in nb.cells[0].outputs] == ["stream", "display_data"]
    assert "widgets" not in nb.metadata


# ---------------------------------------------------------------------------- the other studies end to end

@pytest.mark.parametrize("report", sorted(STUDY_SECTIONS))
def test_study_report_executes_and_holds_every_section(report, smoke_pass):
    out, manifest = render_smoke(smoke_pass, report)
    assert manifest["status"] == "ok", manifest.get("error")
    _, outputs = code_outputs(out, report)
    assert not [o for o in outputs if o.output_type == "error"]
    page = (out / report / f"{report}.html").read_text()
    expected_tables, expected_figures = STUDY_SECTIONS[report]
    for key in expected_tables:
        assert f'id="table-{key}"' in page, key
    for key in expected_figures:
        assert f'id="figure-{key}"' in page, key
    assert "Traceback" not in page
    assert export.external_references(page) == []
    scripts = [(dict(re.findall(r'(\w+)="([^"]*)"', attrs)), body)  # only the 3-D view's, only its own
               for attrs, body in re.findall(r"<script([^>]*)>(.*?)</script>", page, re.DOTALL)]
    library = f'../{interactive.ASSETS_DIR}/{interactive.library_name()}'
    assert all(attrs == {"src": library} and not body or attrs == {} and body == interactive.DRAW
               or attrs == {"type": "application/json", "class": "report-interactive-spec"} for attrs, body in scripts)
    assert bool(scripts) == ("surface-3d" in expected_figures)
    if scripts:
        assert (out / interactive.ASSETS_DIR / interactive.library_name()).is_file()
    notes = re.findall(r'<p class="report-pending">(.*?)</p>', page)  # only probes the study did not run
    assert all(note.startswith("Not part of this study's setup") for note in notes), notes
    assert export.pdf_pages(out / report / f"{report}.pdf") >= 2
    assert print_defects(out / report / f"{report}.pdf", page) == []
    assert reading_defects(out, report, page) == []
    metrics = json.loads((out / report / "metrics.json").read_text())
    assert all(c["verdict"] != "pending" for c in metrics["claims"]), metrics["claims"]
    stand_in = load_params(report, "smoke").resolve_data()
    assert ("Stand-in dataset" in page) == (stand_in.name != load_params(report).data.name)
    # issue 13: the stand-in caveat travels to the claims table and says what compares
    assert ("standing in for" in page) == ("Stand-in dataset" in page) == ("What does compare" in page)
    index = (out / "index.html").read_text()
    row = index[index.index(f'href="{report}/{report}.html"'):]
    assert ("stand-in data: " in row[:row.index("</tr>")]) == ("Stand-in dataset" in page)  # the index says so too
    assert_text_names_only_layers_the_models_have(report, page)
    assert_captions_name_only_the_directions_computed(report, page)
    assert_no_cache_jargon_before_the_appendix(page)
    assert "saddle" not in page  # issue 13: a point with a gradient norm of 0.5 is no saddle
    others = [s for s in load_params("synthesis").studies if s != report]  # issue 13: cross-links
    assert 'href="../synthesis/synthesis.html"' in page and any(f'href="../{s}/{s}.html"' in page for s in others)


def assert_no_cache_jargon_before_the_appendix(page: str) -> None:
    """What this render computed or read from the caches, and the cache keys, are in the
    reproducibility appendix only (issue 13: "0 computed by this execution", a "trained now"
    column of zeros)."""
    body, appendix = page.split("Reproducing this report", 1)
    for phrase in ("computed by this execution", "loaded from the probe cache", "trained now", "cache key"):
        assert phrase not in body, phrase
    assert re.search(r"This render (trained|read all)", appendix) and "cache keys" in appendix


def assert_captions_name_only_the_directions_computed(report: str, page: str) -> None:
    """No caption names a direction kind that no probe of the report drew (issue 13: 000's and
    001's slice captions named the study's unnormalized direction; only ours was computed)."""
    asked = {kind for name in probes.REGISTRY if (cfg := getattr(load_params(report).probes, name, None)) is not None
             and hasattr(cfg, "direction") for kind in probes.slices.direction_kinds(cfg.direction)}
    text = html.unescape(re.sub(r"<[^>]+>", " ", page))
    named = {kind for kind, label in slices_report.DIRECTION_LABELS.items() if label in text}
    assert named <= asked, (report, named - asked)
    assert "filter" not in asked or "filter" in named, report


def assert_text_names_only_layers_the_models_have(report: str, page: str) -> None:
    """No sentence of a report says dropout is on (or BatchNorm statistics are used) unless one
    of its models has that layer (issue 13: "dropout active" in reports without dropout)."""
    found = [models.traits(run.model, **run.options) for run in load_params(report).runs]
    text = html.unescape(re.sub(r"<[^>]+>", " ", page))
    if not any(t.dropout for t in found):
        assert not re.search(r"dropout (on|active|off)", text), report
    if not any(t.batchnorm for t in found):
        assert not re.search(r"BatchNorm (normalizes with batch|running) statistics", text), report
    elif 'id="table-hessian"' in page:  # issue 13: the rescaling caveat travels to every BN report's λmax
        assert "λmax of these models measures the weights' scale" in text, report


def test_the_appendix_says_what_this_render_trained_and_computed():
    status = pd.DataFrame({"trained_epochs": [0, 0, 3], "run": ["a", "b", "c"]})
    assert tables.provenance_sentence(status) == ("This render trained 1 of 3 runs (3 epochs) and read the others "
                                                  "from the training cache.")
    assert tables.provenance_sentence(status.assign(trained_epochs=0)) == \
        "This render read all 3 runs from the training cache."


def test_the_batchnorm_caveat_names_the_models_with_batchnorm_and_only_them():
    params = load_params("resnet20_ablation")
    frame = pd.DataFrame({"config": [run.id for run in params.runs]})
    caveat = tables.batchnorm_caveat(params, frame, "λmax")
    normed = [run.label for run in params.runs if models.traits(run.model, **run.options).batchnorm]
    assert normed and len(normed) < len(params.runs)
    assert caveat.startswith(f"With BatchNorm ({'; '.join(normed)}),") and "λmax of these models" in caveat
    plain = [run.id for run in params.runs if not models.traits(run.model, **run.options).batchnorm]
    assert tables.batchnorm_caveat(params, frame[frame["config"].isin(plain)], "λmax") == ""
    assert tables.batchnorm_caveat(load_params("seed_connectivity"), frame.iloc[:0], "λmax") == ""


def test_mode_words_name_only_the_layers_a_report_has():
    assert tables.mode_words(load_params("seed_connectivity"), "training") == ""
    assert tables.mode_words(load_params("batchnorm"), "eval") == "BatchNorm running statistics"
    both = load_params("mlp_vs_cnn_fmnist")
    assert tables.mode_words(both, "training") == "BatchNorm normalizes with batch statistics, dropout on"
    assert tables.mode_words(both, "train").endswith("dropout off")  # the probes' train mode keeps dropout off


def test_the_synthesis_renders_from_the_studies_smoke_runs_and_leads_the_index(smoke_pass):
    out, manifest = render_smoke(smoke_pass, "synthesis")
    assert manifest["status"] == "ok", manifest.get("error")
    assert manifest["synthesis"] and manifest["params_digest"] == load_params("synthesis", "smoke").digest()
    _, outputs = code_outputs(out, "synthesis")
    assert not [o for o in outputs if o.output_type == "error"]
    page = (out / "synthesis" / "synthesis.html").read_text()
    for key in ("studies", "measures", "models", "model-measures", "tau-eval-gap", "tau-studies-eval-gap", "tau-test-error",
                "trait-effects", "trajectory-summary", "prediction"):
        assert f'id="table-{key}"' in page, key
    for key in ("tau-ranking-eval-gap", "scatter-eval-gap", "tau-ranking-test-error", "trajectory-mlp-vs-cnn-fmnist",
                "trajectory-batchnorm", "trajectory-resnet20-ablation"):
        assert f'id="figure-{key}"' in page, key
    metrics = json.loads((out / "synthesis" / "metrics.json").read_text())
    assert [a["question"] for a in metrics["answers"]] == list(synthesis.QUESTIONS)
    for answer in metrics["answers"]:  # each answer links to sections the page has
        for heading in answer["evidence"]:
            assert f'href="#{export.heading_anchor(heading)}"' in page and f'id="{export.heading_anchor(heading)}"' in page
    trajectory = pd.read_csv(out / "synthesis" / "trajectory.csv")
    smoke = load_params("synthesis", "smoke")
    expected = {(s.report, rep.id) for s in smoke.study_params() if s.report in smoke.trajectory_studies
                for rep in s.replicas}
    assert set(zip(trajectory["study"], trajectory["run"])) == expected  # every traced run, diverged ones too
    assert not trajectory["replayed"].any()  # the studies' training kept the snapshots: no run is trained again
    assert 'href="../batchnorm/batchnorm.html"' in page  # the studies it reads, linked
    assert print_defects(out / "synthesis" / "synthesis.pdf", page) == []
    assert reading_defects(out, "synthesis", page) == []
    models = pd.read_csv(out / "synthesis" / "models.csv")
    studies = load_params("synthesis", "smoke").study_params()
    assert sorted(models["run"]) == sorted(rep.id for study in studies for rep in study.replicas)
    probed = models["outcome"].isin(["completed", thresholds.DID_NOT_LEARN])  # one at chance is measured, not compared
    assert models.loc[probed, list(synthesis.MEASURES)].notna().all().all()
    assert models.loc[~probed, "lambda_max"].isna().all()  # a diverged run is listed, not measured
    assert "Every correlation and effect below is over the models that learned" in page  # the models' caption
    combined = json.loads((out / "manifest.json").read_text())["reports"]
    assert combined[0]["report"] == "synthesis"
    page = (out / "index.html").read_text()
    assert page.index('href="synthesis/synthesis.html"') < page.index('href="batchnorm/batchnorm.html"')


# ---------------------------------------------------------------------------- diverged runs

@pytest.mark.slow
def test_a_report_whose_runs_all_diverge_renders_with_the_divergence_shown(tmp_path, monkeypatch):
    monkeypatch.setenv("LANDSCAPE_CACHE", str(tmp_path / "cache"))
    manifest = render.run_report(REPORT, "smoke", {"training": {"lr": 1000.0}}, output_root=tmp_path, log=None)
    assert manifest["status"] == "ok", manifest.get("error")
    folder = tmp_path / REPORT
    assert (folder / f"{REPORT}.html").exists() and export.pdf_pages(folder / f"{REPORT}.pdf") >= 1
    runs = pd.read_csv(folder / "tables" / "runs.csv")
    assert list(runs["status"]) == ["diverged"] * 4 and list(runs["diverged at epoch"]) == [1] * 4  # 2 seeds each
    page = (folder / f"{REPORT}.html").read_text()
    assert re.search(r"<td[^>]*>1</td>", page) and "1.0000" not in page  # the epoch prints as an integer
    assert tables.NO_EPOCH in page and manifest["headline"] == "no run completed an epoch"
    notes = re.findall(r'<p class="report-pending">(.*?)</p>', page)
    assert notes and all("no run completed (run A_s0 diverged at epoch 1; run A_s1 diverged at epoch 1; run B_s0 "
                         "diverged at epoch 1; run B_s1 diverged at epoch 1)" in n
                         for n in notes if n.startswith("Not computed")), notes
    verdicts = json.loads((folder / "metrics.json").read_text())["claims"]
    assert verdicts and all(c["verdict"] == "pending" and re.fullmatch(
        r"pending because (run [AB]_s[01] diverged at epoch 1; ){3}run [AB]_s[01] diverged at epoch 1", c["pending"])
        for c in verdicts)


def test_the_ggn_table_sets_g_beside_h_with_their_per_seed_ratios():
    from landscape.probes.ggn import report as ggn_report

    params = load_params(REPORT, "smoke")
    rows = []
    for config, seeds in (("A", [(2.0, 4.0, 10.0, 20.0), (3.0, 4.0, 12.0, 16.0)]), ("B", [(1.0, 1.0, 5.0, 5.0)])):
        for i, (g_top, h_top, g_trace, h_trace) in enumerate(seeds):
            for matrix, top, trace in (("ggn", g_top, g_trace), ("hessian", h_top, h_trace)):
                rows.append({"run": f"{config}_s{i}", "config": config, "matrix": matrix, "lambda_max": top,
                             "trace": trace, "trace_stderr": 0.1, "num_products": 9, "mode": "eval", "n": 128})
    frame = pd.DataFrame(rows)
    shown = ggn_report.table(params, frame).set_index("model")
    a = tables.config_labels(params)["A"]
    assert shown.loc[a, "λmax G/H"] == tables.positive_cell([0.5, 0.75])
    assert shown.loc[a, "trace G/H"] == tables.positive_cell([0.5, 0.75])
    assert shown.loc[a, "λmax G"] == tables.positive_cell([2.0, 3.0]) and shown.loc[a, "seeds"] == 2
    text = ggn_report.sentence(params, frame)
    assert f"{a}: λmax G/H {tables.positive_cell([0.5, 0.75])}" in text


def test_the_complexity_table_summarizes_positive_measures_on_logs_and_counts_the_searches_that_met_their_target():
    from landscape.probes.complexity import report as complexity_report

    params = load_params(REPORT, "smoke")
    rows = [{"run": f"{config}_s{i}", "config": config, "inverse_margin": margin, "path_norm": 10.0 * (i + 1),
             "pacbayes_flatness": 4.0, "log_prod_spec": 1.0 + i, "log_sum_spec": 0.5, "log_prod_fro": 2.0,
             "log_sum_fro": 1.5, "sigma_converged": i == 0, "n": 128}
            for config, margins in (("A", [2.0, 8.0, float("nan")]), ("B", [1.0])) for i, margin in enumerate(margins)]
    shown = complexity_report.table(params, pd.DataFrame(rows)).set_index("model")
    a = tables.config_labels(params)["A"]
    assert shown.loc[a, "1/margin²"] == tables.positive_cell([2.0, 8.0])  # a seed without a margin is left out
    assert shown.loc[a, "path norm"] == tables.positive_cell([10.0, 20.0, 30.0]) and shown.loc[a, "seeds"] == 3
    assert shown.loc[a, "log Π‖W‖₂²"] == tables.ci_cell([1.0, 2.0, 3.0]) and shown.loc[a, "σ' found"] == "1 of 3"


def test_log_axes_and_colour_bars_are_labelled_in_unicode_not_as_typed_mathtext():
    """Mathtext is off in the figures (a ``$`` in a label is a dollar sign), so the sink gives
    every log axis labels such as 10⁻³ instead of the log formatters' "$\\mathdefault{10^{-3}}$"."""
    fig = plotting.surface(np.linspace(-1, 1, 4), np.linspace(-1, 1, 3), np.geomspace(1e-3, 10, 12).reshape(4, 3),
                           log=True)
    fig.axes[0].set_xscale("log")
    plotting.plain_log_ticks(fig)
    fig.canvas.draw()
    labels = [t.get_text() for ax in fig.axes for axis in (ax.xaxis, ax.yaxis) if axis.get_scale() == "log"
              for t in axis.get_ticklabels(which="both") if t.get_text()]
    assert labels and not any("$" in t or "mathdefault" in t for t in labels)
    assert {"10⁻³", "10⁻¹", "10¹"} <= set(labels)
    assert plotting.plain_math("$\\mathdefault{2\\times10^{-1}}$") == "2×10⁻¹" and plotting.plain_math("a $5") == "a $5"
    plt.close(fig)


def test_a_figure_drawn_again_in_another_process_is_the_same_file():
    draw = ("import hashlib, io, sys; import numpy as np; from landscape.reporting import plotting, sink; "
            "fig = plotting.surface(np.linspace(-1, 1, 4), np.linspace(-1, 1, 3), [np.ones((4, 3)) + np.arange(3)] * 2,"
            " titles=['a', 'b'], log=False); buffer = io.BytesIO(); "
            "fig.savefig(buffer, format='svg', metadata=sink._figure_metadata('svg')); "
            "print(hashlib.sha256(buffer.getvalue()).hexdigest())")
    digests = {subprocess.run([sys.executable, "-c", draw], capture_output=True, text=True, check=True,
                              env={**os.environ, "PYTHONPATH": str(render.LIB_DIR)}).stdout for _ in range(2)}
    assert len(digests) == 1
