"""The parts of a report page that know what a report is, written through the sink (which does
not): the sink opened for a report's params, the opening (title, question, source, the banners
of a non-default profile or overridden params), why a section has nothing to show, the links to
the same measure in the other reports (``see_also``), the claims table and the reproducibility
appendix (``appendix``)."""
from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any, Mapping, Sequence

import pandas as pd

from ..analysis.synthesis import MEASURES
from ..core import escaping
from ..core.paths import REPO_ROOT
from ..pipeline.params import AnyParams, load_params
from ..verdicts import claims as claims_mod
from .sink import Report, jsonable


def open_sink(params: AnyParams, output_dir: str | Path | None = None, notebook: str | None = None,
              device: str = "auto") -> Report:
    """The sink of a report with these params (``notebook``: default the params' own)."""
    return Report({"report": params.report, "title": params.title, "profile": params.profile,
                   "params_digest": params.digest(), "notebook": notebook or params.notebook}, output_dir, device)


def opening(sink: Report, params: AnyParams, overrides: Mapping | None = None) -> None:
    """Title, the study's question and source, and banners for a non-default profile or
    overridden params (their numbers are not the study's setup)."""
    lit = escaping.literal
    if hasattr(params, "studies"):  # a synthesis: its sources are the study reports, rendered beside it
        reports = ", ".join(f"[{lit(name)}]({sink.report_link(name)})" for name in params.studies)
        sink.markdown(f"# {lit(params.title)}\n\n**Question.** {lit(params.question)}\n\n"
                      f"**Sources:** the trained runs of the study reports {reports}; no published number "
                      "is used here.")
    elif params.design is not None:  # an experiment of the suite's own: nothing published to quote
        sink.markdown(f"# {lit(params.title)}\n\n**Question.** {lit(params.question)}\n\n"
                      f"**Design:** {lit(params.study)}; no published number is used. Method: "
                      f"{lit(params.reference.source)}.")
    else:
        source = params.reference.source
        file = REPO_ROOT / source.split(" (")[0]
        cited = f"[{lit(source)}]({sink.link(file)})" if file.is_file() else lit(source)
        sink.markdown(f"# {lit(params.title)}\n\n**Question.** {lit(params.question)}\n\n"
                      f"**Source study:** {lit(params.study)}; its published numbers are quoted from {cited} "
                      f"and appear only as labelled *study* values beside this run's.")
    if params.profile != "full":
        sink.banner(f"Profile “{params.profile}”:", "reduced data and epochs for a quick check of the pipeline; the "
                    "numbers are not comparable with the study's.")
    if overrides:
        sink.banner("Params overridden for this run:", json.dumps(jsonable(overrides), ensure_ascii=False))


def answer_opens(sink: Report, params: AnyParams) -> None:
    """Mark the cell being executed as the report's answer: the rendered page opens with it, under
    the title, with the figure the params name (``answer_figure``) moved into it (``export.arrange``)."""
    sink.outline({"answer": f"figure-{params.answer_figure}" if params.answer_figure else None})


def pending(sink: Report, params: AnyParams, key: str, what: str, probes: Any = None) -> None:
    """Mark a section whose probe was not computed and say why (``key`` like ``probes.noise``):
    not in the params (an ``absent`` outline entry: the rendered page drops the section), not
    computable because no run completed (``probes``: the ``ProbeResults``, whose ``unavailable``
    gives the reason), or not implemented."""
    node: Any = params
    for part in key.split("."):
        node = getattr(node, part, None)
    reason = (getattr(probes, "unavailable", None) or {}).get(key.split(".")[-1])
    if reason:
        text = f"Not computed: {html.escape(what)}; {html.escape(reason)}."
    elif node is None:  # the rendered page drops the section (export.arrange); JupyterLab shows why
        sink.html(f'<p class="report-pending">Not part of this study\'s setup '
                  f'(no <code>{html.escape(key)}</code> in the params).</p>')
        sink.outline({"absent": key})
        return
    else:
        settings = ", ".join(f"{k} {v}" for k, v in jsonable(node.model_dump()).items())
        text = (f"Not computed in this version of the report: {html.escape(what)} "
                f"(requested by <code>{html.escape(key)}</code>: {html.escape(settings)}).")
    sink.html(f'<p class="report-pending">{text}</p>')


def see_also(sink: Report, params: AnyParams, probe: str, called: str) -> None:
    """Link the other study reports that run ``probe`` (``called`` so in the link's words) and,
    where the synthesis ranks one of its measures (``synthesis.MEASURES``), the synthesis; pages
    of one ``make reports`` render are siblings."""
    synthesis = load_params("synthesis")
    others = [p for p in map(load_params, synthesis.studies)
              if p.report != params.report and getattr(p.probes, probe, None) is not None]
    words = [f"{called} in the other studies: "
             + "; ".join(f"[{escaping.literal(p.title.split(':')[0])}]({sink.report_link(p.report)})" for p in others)
             + "."] if others else []
    if probe in {measure.probe for measure in MEASURES.values()}:
        words.append(f"[The synthesis]({sink.report_link(synthesis.report)}) ranks it against generalization "
                     "over the models of every study.")
    if words:
        sink.markdown("*" + " ".join(words) + "*")


def claims_table(sink: Report, claims: Sequence[claims_mod.Claim], key: str = "claims",
                 caption: str | None = None) -> None:
    """The claims table, each verdict coloured; the records and the multiplicity correction go to
    metrics.json, the counts per verdict to the index. The default caption states the decision
    rule (claims.RULE) once for every row."""
    if caption is None:
        caption = f"The study's claims and what this report's seeds show. {claims_mod.RULE}"
    df = claims_mod.table(list(claims))
    classes = pd.DataFrame("", index=df.index, columns=df.columns)
    classes["verdict"] = [f"verdict verdict-{c.headline.split()[0]}" for c in claims]
    sink.index_facts(claims=claims_mod.counts(list(claims)))
    sink.record("claims", [c.record() for c in claims])
    sink.record("multiplicity", {"family": "every comparison of the report's claims (our method); the study "
                                           "method's comparisons a second family",
                                 "correction": claims_mod.CORRECTION, "why": claims_mod.CORRECTION_WHY})
    sink.table(df, key, caption, row_classes=classes)


def appendix(sink: Report, params: AnyParams, cache_keys: Mapping[str, str] | None = None,
                    provenance: str | None = None) -> None:
    """How to re-run this report, what identifies its inputs, and (``provenance``) what this
    render computed rather than read from the caches."""
    lines = [f"- command: `make reports REPORTS={params.report} PROFILE={params.profile}`",
             f"- params digest: `{params.digest()}` (profile `{params.profile}`); device: `{sink.device}`"]
    if cache_keys:
        lines.append("- training cache keys: " + ", ".join(f"{k} `{v}`" for k, v in cache_keys.items()))
    if provenance:
        lines.append(f"- {provenance}")
    if sink.rendered:
        lines.append("- the git commit, runtime and versions are in this report's `manifest.json`")
    else:  # a hand run: render writes no manifest, so the page says what it would hold
        import platform

        import torch

        from .render import git_state

        git = git_state()
        changes = {True: "with uncommitted changes", False: "clean", None: "state unknown"}[git["dirty"]]
        commit = (git["commit"] or "unknown")[:10]
        lines.append(f"- run by hand (no `manifest.json`): code at git commit `{commit}` "
                     f"({changes}), Python {platform.python_version()}, torch {torch.__version__}")
    sink.markdown("\n".join(lines))
