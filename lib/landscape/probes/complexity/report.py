"""How the complexity probe reports (its reporting half; see the package docstring): its term,
its table over seeds and its section, which a notebook names as
``sections.measure(report, "complexity")``."""
from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from ...reporting import tables

if TYPE_CHECKING:
    from ...pipeline.params import ReportParams
    from ...reporting.sections import ReportContext

KEY = "complexity"
TERM = ("norm and margin measures", "how large a network's weights are (the spectral norm of a layer: how much it can "
        "stretch an input; the Frobenius norm: the size of all its weights; the path norm: the weights multiplied "
        "along every path from input to output), set against how confidently it separates the classes (the margin); "
        "and the PAC-Bayes flatness, how little noise proportional to each weight it takes to cost a tenth of the "
        "accuracy. Jiang et al. (2020) found these among the measures that track generalization best")
POSITIVE = {"inverse_margin": "1/margin²", "path_norm": "path norm", "pacbayes_flatness": "1/σ'²"}
LOGS = {"log_prod_spec": "log Π‖W‖₂²", "log_sum_spec": "log Σ‖W‖₂²", "log_prod_fro": "log Π‖W‖F²",
        "log_sum_fro": "log Σ‖W‖F²"}


def table(params: ReportParams, frame: pd.DataFrame) -> pd.DataFrame:
    """Per configuration over seeds: the positive measures (``tables.positive_cell``), the log
    norms (mean ± 95% CI: ``tables.ci_cell``), how many σ' searches met their target, n."""
    rows = []
    for config in tables.configs_in(params, frame):
        mine = frame[frame["config"] == config]
        rows.append({"model": tables.config_labels(params)[config], "seeds": len(mine),
                     **{label: tables.positive_cell(mine[column].dropna()) for column, label in POSITIVE.items()},
                     **{label: tables.ci_cell(mine[column]) for column, label in LOGS.items()},
                     "σ' found": f"{int(mine['sigma_converged'].sum())} of {len(mine)}", "n": int(mine["n"].iloc[0])})
    return pd.DataFrame(rows)


def settings_words(cfg) -> dict[str, str]:
    """How each of the probe's ``SCALARS`` is computed at its settings ``cfg``, in words."""
    folded = "BatchNorm folded into the layer before it"
    return {"inverse_margin": "10th-percentile margin over the train probe set",
            "log_prod_spec": f"{folded}; a convolution's kernel read as a matrix",
            "log_sum_spec": f"{folded}; a convolution's kernel read as a matrix",
            "log_prod_fro": folded, "log_sum_fro": folded,
            "path_norm": f"{folded}; squared weights on an all-ones input",
            "pacbayes_flatness": f"σ' by bisection to an accuracy drop of {cfg.target_drop:g} ± {cfg.tolerance:g}, "
                                 f"{cfg.draws} draws at each σ'"}


def section(report: ReportContext) -> None:
    """The norm, margin and PAC-Bayes measures of every configuration."""
    frame = report.frame(KEY, TERM, "positive")
    if frame is None:
        return
    cfg = report.params.probes.complexity
    report.sink.table(table(report.params, frame), KEY,
                      f"Complexity measures on the train probe set (BatchNorm folded into the layer before it), "
                      f"{tables.POSITIVE_WORDS} for the positive ones and mean ± 95% CI over seeds for the logs: the "
                      "inverse squared 10th-percentile margin (none where more than a tenth of the set is "
                      "misclassified), the path norm, the magnitude-aware PAC-Bayes flatness (σ' for an accuracy "
                      f"drop of {cfg.target_drop:g} ± {cfg.tolerance:g}) and the layers' squared spectral and "
                      "Frobenius norms, their log product and log d + mean log.")
    report.sink.record(KEY, frame)


SECTIONS = {KEY: section}
