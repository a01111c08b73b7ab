"""How the gradient probe reports (its reporting half; see the package docstring): its term, its
table and its section, which a notebook names as ``sections.measure(report, "gradient")``."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ...reporting import tables

if TYPE_CHECKING:
    from ...pipeline.params import ReportParams
    from ...reporting.sections import ReportContext

KEY = "gradient"
TERM = ("‖∇L‖", "the length of the gradient of the loss at the trained weights: 0 at an exact minimum")


def table(params: ReportParams, gradient: pd.DataFrame) -> pd.DataFrame:
    """‖∇L(θ)‖₂ and the loss per configuration on the train and test probe sets (over seeds:
    ``tables.positive_cell``), with the study's published value."""
    rows = []
    for config in tables.configs_in(params, gradient):
        mine = gradient[gradient["config"] == config]
        train, test = mine[mine["split"] == "train"], mine[mine["split"] == "test"]
        ref = tables.published(params, "grad_norm", config)
        rows.append({"model": tables.config_labels(params)[config], "seeds": len(train),
                     "‖∇L‖ train": tables.positive_cell(train["grad_norm"]), "‖∇L‖ test": tables.positive_cell(test["grad_norm"]),
                     "study, published": np.nan if ref is None else ref,
                     "L train": tables.positive_cell(train["loss"]), "L test": tables.positive_cell(test["loss"]),
                     "n (train / test)": f"{int(train['n'].iloc[0])} / {int(test['n'].iloc[0])}",
                     "mode": train["mode"].iloc[0]})
    return pd.DataFrame(rows)


def section(report: ReportContext) -> None:
    """‖∇L(θ)‖₂ on the train and test probe sets, with the study's published value."""
    frame = report.frame(KEY, TERM, "positive")
    if frame is None:
        return
    report.sink.table(table(report.params, frame), "gradient-norm",
                      f"Gradient norm and loss per configuration on the train and test probe sets, {tables.POSITIVE_WORDS}"
                      + (", with the study's published value." if report.reference("grad_norm") else "."))
    report.sink.record(KEY, frame)


SECTIONS = {KEY: section}
