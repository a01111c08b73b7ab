"""How the flatness probe reports (its reporting half; see the package docstring): its term, its
table and its section, which a notebook names as ``sections.measure(report, "flatness")``."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ...reporting import tables

if TYPE_CHECKING:
    from ...pipeline.params import ReportParams
    from ...reporting.sections import ReportContext

KEY = "flatness"
TERM = ("flatness |ΔL|", "how much the loss changes when noise of size σ is added to the weights, averaged over "
        "draws; smaller means flatter")


def table(params: ReportParams, flatness: pd.DataFrame) -> pd.DataFrame:
    """The study's flatness |ΔL| per configuration and σ (each seed's mean over draws, then the
    geometric mean over seeds with its 95% CI: ``tables.positive_cell``) and, when the study
    published only an order (``reference.flatness_order``,
    least flat first, by the names of ``reference.reference_keys``), each architecture's rank
    there and in this report (1 = least flat, by the mean over seeds)."""
    keys = tables.reference(params, "reference_keys") or {}
    order = tables.reference(params, "flatness_order")
    out = []
    for config in tables.configs_in(params, flatness):
        for sigma, at in flatness[flatness["config"] == config].groupby("sigma"):
            out.append({"model": tables.config_labels(params)[config], "σ": sigma, "seeds": at["seed"].nunique(),
                        "|ΔL|": tables.positive_cell(at["mean"]), "_mean": at["mean"].mean(),
                        "L(θ)": tables.positive_cell(at["base_loss"]),
                        "draws per seed": int(at["num_draws"].iloc[0]), "mode": at["mode"].iloc[0],
                        "_key": keys.get(config, config)})
    df = pd.DataFrame(out)
    if order and len(df):
        ranks = df.groupby("σ")["_mean"].rank(ascending=False, method="min").astype(int)
        df = df.assign(**{"rank (study)": [order.index(k) + 1 if k in order else np.nan for k in df["_key"]],
                          "rank (this report)": ranks})
    return df.drop(columns=["_mean", "_key"])


def section(report: ReportContext) -> None:
    """The study's flatness |L(θ + δ) − L(θ)|, with its published order where it gave one."""
    frame = report.frame(KEY, TERM, "positive")
    if frame is None:
        return
    report.sink.table(table(report.params, frame), KEY,
                      "The study's flatness |L(θ + δ) − L(θ)| on the train probe set, δ ~ N(0, σ²I): each seed's mean "
                      f"over draws, {tables.POSITIVE_WORDS}" + ("; the study published only an order, so each "
                                                                 "architecture's rank (1 = least flat) is set beside "
                                                                 "ours." if report.reference("flatness_order") else "."))
    report.sink.record(KEY, frame)


SECTIONS = {KEY: section}
