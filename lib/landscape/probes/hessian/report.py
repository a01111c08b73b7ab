"""How the Hessian probe reports (its reporting half; see the package docstring): its term, its
tables (curvature over seeds; the attribution of a gap to the study's method), its figure, its
sentence and its section, which a notebook names as ``sections.measure(report, "hessian")``."""
from __future__ import annotations

from typing import TYPE_CHECKING, Mapping

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ...reporting import pages, plotting, tables
from ...reporting.findings import PublishedBeside
from ..base import NOT_COMPUTED

if TYPE_CHECKING:
    from ...pipeline.params import ReportParams
    from ...reporting.sections import ReportContext

KEY = "hessian"
CALLED = "λmax"  # what the other reports' links call this section
TERM = ("λmax", "the largest eigenvalue of the Hessian (the matrix of second derivatives of the loss with respect to "
        "the weights): how steeply the loss curves up along the sharpest direction at the trained weights. It changes "
        "when BatchNorm lets weights be rescaled without changing the function, so it compares networks with "
        "BatchNorm only with care")
# the study's published λmax beside its method on our study-seed run and ours, in the findings
PUBLISHED = PublishedBeside("lambda_max", "λmax", "method", ("study", "lambda_max"), ("lanczos", "lambda_max"))


def shortcut_name(params: ReportParams) -> str:
    """What the probe's ``study`` row is called: the study's method where the study published a
    λmax, else the common shortcut it stands for (the study computed no Hessian)."""
    return "the study's method" if tables.reference(params, "lambda_max") else "one-mini-batch power iteration"


def table(params: ReportParams, hessian: pd.DataFrame) -> pd.DataFrame:
    """Per configuration, the geometric mean over seeds with its 95% CI (``tables.positive_cell``):
    λmax by Lanczos on the fixed train set (ours) and by power iteration on one mini-batch
    (:func:`shortcut_name`), with the study's published λmax where it has one and the study-seed
    run's Lanczos λmax; where computed, how many seeds show negative curvature with λmax/|λmin|
    (``tables.curvature_ratio_cell``), the condition number where some seed has one, and the
    Hutchinson trace."""
    rows = []
    studied = tables.reference(params, "lambda_max") is not None
    for config in tables.configs_in(params, hessian):
        mine = hessian[hessian["config"] == config]
        ours, study = mine[mine["method"] == "lanczos"], mine[mine["method"] == "study"]
        ref = tables.published(params, "lambda_max", config)
        seed = ours[ours["run"] == tables.study_run(params, config)]["lambda_max"]
        measured = ours[ours["lambda_min_kind"] != NOT_COMPUTED]
        kappas = ours["condition_number"].dropna()
        row = {"model": tables.config_labels(params)[config], "seeds": len(ours),
               "λmax (Lanczos)": tables.positive_cell(ours["lambda_max"]),
               ("λmax (study method)" if studied else "λmax (one mini-batch)"): tables.positive_cell(study["lambda_max"])}
        if studied:
            row["λmax (study, published)"] = np.nan if ref is None else ref
        row["λmax, study seed"] = float(seed.iloc[0]) if len(seed) else np.nan
        if len(measured):
            row[tables.RATIO_LABEL] = tables.curvature_ratio_cell(ours)
            if len(kappas):  # λmax/λmin, only where every computed eigenvalue is positive
                row["condition number"] = f"{tables.positive_cell(kappas)} ({len(kappas)} of {len(measured)} seeds)"
        if tables.reference(params, "condition_number"):
            row["condition number (study, published)"] = tables.published(params, "condition_number", config)
        if ours["trace"].notna().any():
            row["trace"] = tables.positive_cell(ours["trace"])
        row["n (ours / " + ("study)" if studied else "mini-batch)")] = \
            f"{int(ours['n'].iloc[0])} / {int(study['n'].iloc[0]) if len(study) else '—'}"
        rows.append(row)
    return pd.DataFrame(rows)


def attribution_table(params: ReportParams, hessian: pd.DataFrame) -> pd.DataFrame:
    """Where the study's λmax differs from ours, one change at a time (``ATTRIBUTION`` of the
    package), per configuration: our λmax; the factor by which train-mode BatchNorm (batches of
    the study's size), the study's one mini-batch, and stopping after the study's power steps each
    change it (ratios per seed, their geometric mean with its 95% CI); the study's method on our
    weights; where the study published λmax, published over the study method on the study-seed
    run (what our weights do not explain: the minimum, data, or an unstated detail)."""
    cfg, rows = params.probes.hessian, []
    for config in tables.configs_in(params, hessian):
        mine = hessian[hessian["config"] == config]
        by = {m: mine[mine["method"] == m].set_index("run")["lambda_max"]
              for m in ("lanczos", "lanczos-train", "lanczos-batch", "study")}
        if by["lanczos-batch"].empty:
            continue
        before_batch = by["lanczos-train"] if len(by["lanczos-train"]) else by["lanczos"]
        row = {"model": tables.config_labels(params)[config], "seeds": len(by["lanczos"]),
               "λmax, ours": tables.positive_cell(by["lanczos"]),
               "× train mode": tables.positive_cell((by["lanczos-train"] / by["lanczos"]).dropna())
               if len(by["lanczos-train"]) else "1 (no BatchNorm)",
               f"× one batch of {cfg.study_batch_size}": tables.positive_cell(
                   (by["lanczos-batch"] / before_batch).dropna()),
               f"× {cfg.study_iterations} power steps": tables.positive_cell(
                   (by["study"] / by["lanczos-batch"]).dropna()),
               "= study method on ours": tables.positive_cell(by["study"])}
        ref = tables.published(params, "lambda_max", config)
        if tables.reference(params, "lambda_max") is not None:
            seed = by["study"].get(tables.study_run(params, config))
            row["published"] = np.nan if ref is None else ref
            row["published ÷ study method, study seed"] = (np.nan if ref is None or seed is None or not seed
                                                           else ref / seed)
        rows.append(row)
    return pd.DataFrame(rows)


def sentence(params: ReportParams, hessian: pd.DataFrame) -> str:
    """λmax per configuration by Lanczos and by the shortcut, their ratio, the published value."""
    parts = []
    for config in tables.configs_in(params, hessian):
        mine = hessian[hessian["config"] == config]
        ours, study = mine[mine["method"] == "lanczos"], mine[mine["method"] == "study"]
        text = f"{tables.config_labels(params)[config]} λmax {tables.positive_cell(ours['lambda_max'])} (Lanczos)"
        if len(study):
            ratio = (study.set_index("run")["lambda_max"] / ours.set_index("run")["lambda_max"]).dropna()
            text += (f", {tables.positive_cell(study['lambda_max'])} by {shortcut_name(params)} "
                     f"(ratio {tables.positive_cell(ratio)})")
        ref = tables.published(params, "lambda_max", config)
        if ref is not None:
            text += f", study published {ref:g}"
        parts.append(text)
    why = ("how much of a difference to the study comes from the method (one mini-batch, a fixed number of power "
           "steps) rather than the minimum" if tables.reference(params, "lambda_max") else
           "what the common shortcut (one mini-batch, a fixed number of power steps, train mode) would have reported")
    return f"Top Hessian eigenvalue, {tables.POSITIVE_WORDS}: " + "; ".join(parts) + f". The ratio shows {why}."


def figure(hessian: pd.DataFrame, published: Mapping[str, float | None] | None = None,
           labels: Mapping[str, str] | None = None, shortcut: str = "study method") -> Figure:
    """λmax per configuration, each seed a dot: Lanczos (ours), the one-mini-batch power
    iteration (named ``shortcut``), and the study's published value."""
    rows = hessian[hessian["method"].isin(["lanczos", "study"])]
    rows = rows.assign(estimate=rows["method"].map({"lanczos": "Lanczos (ours)", "study": shortcut}))
    return plotting.seed_dots(rows, "lambda_max", "estimate", published, "top Hessian eigenvalue λmax", labels)


def section(report: ReportContext) -> None:
    """λmax by Lanczos, by one mini-batch (the study's method where it published one) and as
    published, λmin, condition number, trace; with ``attribute``, the steps between ours and the
    study's method."""
    sink, frame = report.sink, report.frame(KEY, TERM, "positive", "lanczos", "ritz", "hutchinson")
    if frame is None:
        return
    cfg, study_kappa = report.params.probes.hessian, report.reference("condition_number")
    extra = []
    if cfg.lambda_min:
        extra.append("λmax/|λmin| with the number of seeds whose λmin < 0 (there the condition number λmax/λmin is "
                     "undefined; ≤: λmin only bounded from above by a Ritz value)"
                     + (", the study's published condition number" if study_kappa else ""))
    if cfg.trace_samples >= 2:
        extra.append("the Hutchinson trace (ours)")
    studied = report.reference("lambda_max") is not None
    shortcut = shortcut_name(report.params)
    sink.table(table(report.params, frame), "hessian",
               f"Curvature, {tables.POSITIVE_WORDS}: λmax by Lanczos on the fixed train probe set (ours), "
               + ("by the study's method (power iteration on one mini-batch, train mode), as published" if studied else
                  "by power iteration on one mini-batch in train mode (the study computed no Hessian)")
               + " and for the study-seed run"
               + ("; " + " and ".join(extra) if extra else "") + ".")
    fig = figure(frame, report.published("lambda_max"), labels=report.labels,
                 shortcut="study method" if studied else "one mini-batch")
    sink.figure(fig, "lambda-max", f"Top Hessian eigenvalue per configuration, each seed a dot, "
                f"{plotting.seed_centre_words(fig)}: ours, {shortcut}"
                + ("; stars: the study's published value." if studied else "."))
    sink.markdown(sentence(report.params, frame))
    if caveat := tables.batchnorm_caveat(report.params, frame, "λmax"):
        sink.markdown(caveat)
    if cfg.attribute:
        sink.table(attribution_table(report.params, frame), "lambda-attribution",
                   f"From our λmax to {shortcut}, one change at a time, each a factor (ratio per seed; over seeds, "
                   f"{tables.POSITIVE_WORDS}): "
                   "train-mode BatchNorm (the statistics of each batch of the study's size, over our probe set; models "
                   "without BatchNorm have one mode), then the study's one mini-batch alone (both converged by "
                   "Lanczos), then stopping after the study's power steps"
                   + ("; last, the published value over the study's method on the study-seed run: what our weights "
                      "and the method do not explain (a different minimum, data or detail)." if studied else "."))
    sink.record(KEY, frame)
    pages.see_also(sink, report.params, KEY, CALLED)


SECTIONS = {KEY: section}
