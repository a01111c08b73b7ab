"""How the ε-sharpness probe reports (its reporting half; see the package docstring): its term,
its table, figure and sentence, and its section, which a notebook names as
``sections.measure(report, "sharpness")``."""
from __future__ import annotations

from typing import TYPE_CHECKING, Mapping

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ...reporting import pages, plotting, tables
from ...reporting.findings import PublishedBeside

if TYPE_CHECKING:
    from ...pipeline.params import ReportParams
    from ...reporting.sections import ReportContext

KEY = "sharpness"
CALLED = "ε-sharpness"  # what the other reports' links call this section
TERM = ("ε-sharpness", "the largest loss increase found within a small ball around the weights: SAM's ball is the "
        "same size for every weight, ASAM's is scaled by each weight's magnitude")
# the study's published SAM sharpness beside its first-order step on our study-seed run and ours, in the findings
PUBLISHED = PublishedBeside("sam_sharpness", "SAM sharpness", "kind", ("sam", "first_order"), ("sam", "sharpness"))


def table(params: ReportParams, sharpness: pd.DataFrame) -> pd.DataFrame:
    """Per configuration, over seeds (``tables.positive_cell``): SAM ε-sharpness after the projected ascent
    and at SAM's single first-order step, the study's published value (``reference.sam_sharpness``)
    and the study-seed run beside it, ASAM, L(θ)."""
    rows = []
    for config in tables.configs_in(params, sharpness):
        mine = sharpness[sharpness["config"] == config]
        sam, asam = mine[mine["kind"] == "sam"], mine[mine["kind"] == "asam"]
        ref = tables.published(params, "sam_sharpness", config)
        seed = sam[sam["run"] == tables.study_run(params, config)]["sharpness"]
        row = {"model": tables.config_labels(params)[config], "seeds": len(sam), "ρ (SAM)": sam["rho"].iloc[0],
               "SAM, ascent (ours)": tables.positive_cell(sam["sharpness"]),
               "SAM, first-order step": tables.positive_cell(sam["first_order"]),
               "SAM (study, published)": np.nan if ref is None else ref,
               "SAM, study seed": float(seed.iloc[0]) if len(seed) else np.nan}
        if len(asam):
            row.update({"ρ (ASAM)": asam["rho"].iloc[0], "ASAM, ascent": tables.positive_cell(asam["sharpness"])})
        row.update({"L(θ)": tables.positive_cell(sam["base_loss"]),
                    "ascent steps": tables.ascent_cell(mine["steps"], mine["converged"]), "n": int(sam["n"].iloc[0])})
        rows.append(row)
    return pd.DataFrame(rows)


def sentence(params: ReportParams, sharpness: pd.DataFrame) -> str:
    """SAM sharpness per configuration over seeds, at its first-order step, and the published value."""
    sam = sharpness[sharpness["kind"] == "sam"]
    parts = []
    for config in tables.configs_in(params, sam):
        mine = sam[sam["config"] == config]
        ref = tables.published(params, "sam_sharpness", config)
        parts.append(f"{tables.config_labels(params)[config]} {tables.positive_cell(mine['sharpness'])} nats "
                     f"(first-order step {tables.positive_cell(mine['first_order'])}"
                     + (f"; study {ref:g}" if ref is not None else "") + ")")
    if not parts:
        return ""
    return (f"SAM sharpness at ρ = {sam['rho'].iloc[0]:g} on the train probe set, {tables.POSITIVE_WORDS}: "
            + "; ".join(parts) + ". SAM's ball is Euclidean, so a network whose weights are small (as BatchNorm "
            "permits: its output does not change when a layer's weights are rescaled) is sharper in it for the same "
            "function; ASAM's adaptive ball removes that scale.")


def figure(sharpness: pd.DataFrame, published: Mapping[str, float | None] | None = None,
           labels: Mapping[str, str] | None = None) -> Figure:
    """SAM ε-sharpness per configuration, each seed a dot: after the projected ascent (ours), at
    SAM's first-order step, and the study's published value."""
    sam = sharpness[sharpness["kind"] == "sam"]
    rows = pd.concat([sam.assign(estimate="ascent (ours)", value=sam["sharpness"]),
                      sam.assign(estimate="first-order step", value=sam["first_order"])], ignore_index=True)
    return plotting.seed_dots(rows, "value", "estimate", published,
                              f"SAM sharpness (nats, ρ = {sam['rho'].iloc[0]:g})", labels)


def section(report: ReportContext) -> None:
    """SAM and ASAM ε-sharpness, with the study's published SAM sharpness."""
    sink, frame = report.sink, report.frame(KEY, TERM, "positive")
    if frame is None:
        return
    cfg = report.params.probes.sharpness
    sink.table(table(report.params, frame), "sharpness",
               f"ε-sharpness on the train probe set (nats), {tables.POSITIVE_WORDS}: SAM after the ascent (ours: "
               f"{tables.ascent_words(cfg.ascent_tol, cfg.max_ascent_steps)}; steps taken over runs and both balls) "
               "and at its first-order step, the study's published value beside the study-seed run, and ASAM.")
    fig = figure(frame, report.published("sam_sharpness"), labels=report.labels)
    sink.figure(fig, "sam-sharpness", f"SAM sharpness per configuration, each seed a dot, "
                f"{plotting.seed_centre_words(fig)}: after the ascent (ours), first-order step"
                + ("; stars: the study's published value." if report.reference("sam_sharpness") else "."))
    sink.markdown(sentence(report.params, frame))
    if caveat := tables.batchnorm_caveat(report.params, frame, "SAM sharpness"):
        sink.markdown(caveat)
    sink.record(KEY, frame)
    pages.see_also(sink, report.params, KEY, CALLED)


SECTIONS = {KEY: section}
