"""How the Gauss-Newton probe reports (its reporting half; see the package docstring): its term,
its table and sentence over seeds, and its section, which a notebook names as
``sections.measure(report, "ggn")``."""
from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from ...reporting import tables

if TYPE_CHECKING:
    from ...pipeline.params import ReportParams
    from ...reporting.sections import ReportContext

TERM = ("Gauss-Newton curvature G", "the curvature of the loss through the network's outputs alone (the Hessian "
        "without the network's own second derivatives; for this loss the Fisher information of the model's "
        "predictions): never negative, so it measures sharpness without the saddle directions, and where G/H is near "
        "1 the Hessian's curvature is all of this kind")
KEY = "ggn"


def _paired(mine: pd.DataFrame, column: str) -> tuple[pd.Series, pd.Series, pd.Series]:
    """(G values, H values, G/H per run) of ``column`` over the runs of one configuration."""
    by = mine.pivot_table(index="run", columns="matrix", values=column, aggfunc="first")
    return by["ggn"], by["hessian"], (by["ggn"] / by["hessian"]).dropna()


def table(params: ReportParams, frame: pd.DataFrame) -> pd.DataFrame:
    """Per configuration, over seeds (``tables.positive_cell``): λmax and the trace of G and of H,
    and the ratios G/H taken per seed."""
    rows = []
    for config in tables.configs_in(params, frame):
        mine = frame[frame["config"] == config]
        g_top, h_top, top_ratio = _paired(mine, "lambda_max")
        g_trace, h_trace, trace_ratio = _paired(mine, "trace")
        rows.append({"model": tables.config_labels(params)[config], "seeds": len(g_top),
                     "λmax G": tables.positive_cell(g_top), "λmax H": tables.positive_cell(h_top),
                     "λmax G/H": tables.positive_cell(top_ratio), "trace G": tables.positive_cell(g_trace),
                     "trace H": tables.positive_cell(h_trace), "trace G/H": tables.positive_cell(trace_ratio),
                     "n": int(mine["n"].iloc[0]), "mode": mine["mode"].iloc[0]})
    return pd.DataFrame(rows)


def sentence(params: ReportParams, frame: pd.DataFrame) -> str:
    """The ratios G/H of λmax and of the trace per configuration, in words."""
    parts = []
    for config in tables.configs_in(params, frame):
        mine = frame[frame["config"] == config]
        top, trace = _paired(mine, "lambda_max")[2], _paired(mine, "trace")[2]
        parts.append(f"{tables.config_labels(params)[config]}: λmax G/H {tables.positive_cell(top)}, trace G/H "
                     f"{tables.positive_cell(trace)}")
    return (f"Gauss-Newton share of the curvature, {tables.POSITIVE_WORDS}: " + "; ".join(parts)
            + ". A ratio near 1 says the Hessian's curvature there is Gauss-Newton; a trace ratio above 1 says the "
              "Hessian has negative curvature that G leaves out.")


def section(report: ReportContext) -> None:
    """The table, the sentence and the numbers of the ``ggn`` probe, or why it has none."""
    frame = report.frame(KEY, TERM)
    if frame is None:
        return
    cfg = report.params.probes.ggn
    report.sink.table(table(report.params, frame), KEY,
                      f"Curvature through the outputs (G, Gauss-Newton) beside the Hessian (H) on the train probe set, "
                      f"{tables.POSITIVE_WORDS}: λmax by Lanczos (tolerance {cfg.tol:g}) and the trace by Hutchinson "
                      f"({cfg.trace_samples} Rademacher vectors, the same for both), with the ratios G/H taken per "
                      "seed.")
    report.sink.markdown(sentence(report.params, frame))
    report.sink.record(KEY, frame)


SECTIONS = {KEY: section}
