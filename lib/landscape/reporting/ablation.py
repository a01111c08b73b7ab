"""Study 004's own pages (the ablation of skip connections and BatchNorm): per configuration the
outcome of every seed, parameters and final numbers beside the study's (:func:`outcomes`), and
the study's summary tables in one (:func:`summary_tables`: val accuracy, λmax, λmax/|λmin|, loss spread),
which its notebook calls by name."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np
import pandas as pd

from ..geometry import surfaces
from ..pipeline.params import ReportParams
from ..verdicts import thresholds
from . import plotting, tables

if TYPE_CHECKING:
    from .sections import ReportContext


#: ablation table metric -> the ``params.reference`` key holding the study's number per run
ABLATION_REFERENCE = {"parameters": "parameters", "test_acc": "test_acc", "train_loss": "final_train_loss",
                      "test_loss": "final_test_loss", "gap": "generalization_gap"}


ABLATION_NAMES = {"parameters": "parameters", "test_acc": "val acc", "train_loss": "final train loss",
                  "test_loss": "final val loss", "gap": "gap (train − val acc)"}


def _yes(flag: Any) -> str:
    return "✓" if flag else "—"


def _completed_finals(status: pd.DataFrame, history: pd.DataFrame, config: str) -> pd.DataFrame:
    """The last epoch of each completed seed of ``config`` (a diverged run's weights are not
    finite, so it has no final numbers)."""
    done = set(status[(status["config"] == config) & (status["status"] == "completed")]["run"])
    finals = tables.final_rows(history) if len(history) else pd.DataFrame(columns=["config"])
    return finals[finals.index.isin(done)]


def _seed_outcomes(status: pd.DataFrame, config: str) -> str:
    """How the seeds of a configuration ended: "3 of 3 completed", "2 of 3 diverged (epochs 9, 10)",
    "1 of 3 did not learn"."""
    rows = status[status["config"] == config]
    parts = []
    for state in ("completed", thresholds.DID_NOT_LEARN, "diverged", "failed"):
        these = rows[rows["outcome"] == state]
        if len(these):
            epochs = sorted(int(e) for e in these["diverged_epoch"].dropna())
            parts.append(f"{len(these)} of {len(rows)} {state}" + (f" (epoch{'s' if len(epochs) > 1 else ''} "
                                                                     f"{', '.join(map(str, epochs))})" if epochs else ""))
    return "; ".join(parts)


def _study_outcome(params: ReportParams, config: str) -> str:
    """The study's outcome for a configuration: diverged at the epoch in ``reference.diverged``,
    completed when it published a final accuracy, else "—"."""
    diverged_at = tables.published(params, "diverged", config)
    if diverged_at is not None:
        return f"diverged at epoch {int(diverged_at)}"
    return "completed" if tables.published(params, "test_acc", config) is not None else "—"


def ablation_table(params: ReportParams, status: pd.DataFrame, history: pd.DataFrame, parameters: Mapping[str, int],
                   metrics: Sequence[str] = tuple(ABLATION_NAMES), outcome: bool = True) -> pd.DataFrame:
    """Per configuration (study 004, section 4): skip, BN, the outcome (study; this report's seeds)
    unless ``outcome`` is False, and each of ``metrics`` (keys of ABLATION_NAMES: parameters,
    final val accuracy, final train and val loss, gap): the study's number and the mean ± 95% CI
    over the completed seeds. ``parameters``: run id -> trainable parameter count. A printed page
    holds about a dozen columns, so a report shows the metrics in two tables."""
    rows = []
    for config, reps in params.replicates_of.items():
        options = params.config(config).options
        finals = _completed_finals(status, history, config)
        row = {("configuration", ""): params.config(config).label, ("skip", ""): _yes(options.get("skip")),
               ("BN", ""): _yes(options.get("batchnorm"))}
        if outcome:
            row.update({("outcome", tables.STUDY): _study_outcome(params, config),
                        ("outcome", "seeds"): _seed_outcomes(status, config)})
        for metric in metrics:
            name = ABLATION_NAMES[metric]
            theirs = tables.published(params, ABLATION_REFERENCE[metric], config)
            if metric == "parameters":
                row.update({(name, tables.STUDY): theirs, (name, tables.RUN): parameters[reps[0].id]})
                continue
            row.update({(name, tables.STUDY): np.nan if theirs is None else theirs,
                        (name, tables.SEEDS): tables.ci_cell(finals[metric]) if len(finals) else "no completed seed"})
        rows.append(row)
    df = pd.DataFrame(rows)
    df.columns = pd.MultiIndex.from_tuples(df.columns)
    counts_columns = [c for c in df.columns if c[0] == ABLATION_NAMES["parameters"]]
    return df.astype({c: "Int64" for c in counts_columns})  # parameter counts are integers


def ablation_sentence(params: ReportParams, status: pd.DataFrame, history: pd.DataFrame) -> str:
    """Final val accuracy per configuration over its completed seeds, with how its seeds ended."""
    parts = []
    for config in params.replicates_of:
        finals = _completed_finals(status, history, config)
        parts.append(f"{params.config(config).label} {tables.ci_cell(finals['test_acc'])} "
                     f"({_seed_outcomes(status, config)})" if len(finals) else f"{params.config(config).label}: {_seed_outcomes(status, config)}")
    return "Final val accuracy, mean ± 95% CI over completed seeds: " + "; ".join(parts) + "."


def ablation_summary_table(params: ReportParams, status: pd.DataFrame, history: pd.DataFrame,
                           hessian: pd.DataFrame | None, surface: pd.DataFrame | None,
                           ranges: pd.DataFrame | None = None) -> pd.DataFrame:
    """The study's summary tables (sections 5.2, 5.3 and 6.3) in one: per configuration val
    accuracy (mean ± 95% CI over seeds) and λmax (``tables.positive_cell``), the condition number (defined in how many
    seeds), the train-loss spread over the grid (the study's unit-norm directions) of the
    study-seed run (its drawn surface) and over the seeds probed (``ranges`` as in
    ``probes.slices.report.loss_range_table``), and the outcomes, beside the study's numbers."""
    drawn = surfaces.loss_ranges(surface) if surface is not None else None  # the study seed's surface, per run
    ranges = drawn if ranges is None else ranges
    rows = []
    for config in params.replicates_of:
        options = params.config(config).options
        finals = _completed_finals(status, history, config)
        ours = hessian[(hessian["config"] == config) & (hessian["method"] == "lanczos")] if hessian is not None \
            else pd.DataFrame(columns=["lambda_max", "condition_number"])
        spreads, spread = pd.Series(dtype=float), np.nan
        kind = next((k for k in dict.fromkeys(surface["direction"]) if k != "filter"), None) \
            if surface is not None else None  # the study's direction kind
        if kind is not None:
            spreads = tables.loss_spreads(ranges, config, kind, "train")
            study_seed = params.replicates_of[config][0].seed
            spread = tables.loss_spreads(drawn, config, kind, "train").get(study_seed, np.nan)
        ref_range = tables.for_config(params, tables.reference(params, "train_loss_range"), config)
        cond, lam, acc = (tables.published(params, key, config)
                          for key in ("condition_number", "lambda_max", "test_acc"))
        rows.append({
            ("configuration", ""): params.config(config).label, ("skip", ""): _yes(options.get("skip")),
            ("BN", ""): _yes(options.get("batchnorm")),
            ("val acc", tables.STUDY): np.nan if acc is None else acc,
            ("val acc", tables.SEEDS): tables.ci_cell(finals["test_acc"]) if len(finals) else "—",
            ("λmax", tables.STUDY): np.nan if lam is None else lam,
            ("λmax", tables.POSITIVE_SEEDS): tables.positive_cell(ours["lambda_max"]) if len(ours) else "not probed",
            ("condition number", tables.STUDY): "—" if cond is None else f"{cond:g}",
            (tables.RATIO_LABEL, tables.POSITIVE_SEEDS): (tables.curvature_ratio_cell(ours) if len(ours)
                                                          else "not probed"),
            ("train loss spread", tables.STUDY): np.nan if ref_range is None else ref_range[1] - ref_range[0],
            ("train loss spread", "study seed"): spread,
            ("train loss spread", tables.POSITIVE_SEEDS): (tables.positive_cell(spreads) if len(spreads) > 1
                                           else "study seed only" if len(spreads) else "—"),
            ("outcome", "seeds"): _seed_outcomes(status, config)})
    df = pd.DataFrame(rows)
    df.columns = pd.MultiIndex.from_tuples(df.columns)
    return df


def outcomes(report: ReportContext) -> None:
    """Study 004's per-configuration tables (outcome, parameters, final numbers, study vs run)."""
    params, sink = report.params, report.sink
    parameters = {run_id: run.parameters for run_id, run in report.results.runs.items()}
    sink.table(ablation_table(params, report.status, report.history, parameters, ("parameters", "test_acc")),
               "ablation", "Per configuration: the outcome of every seed, parameters and final val accuracy (mean ± 95% "
                           "CI over completed seeds) beside the study's (— where the study has no number).")
    sink.table(ablation_table(params, report.status, report.history, parameters,
                                     ("train_loss", "test_loss", "gap"), outcome=False),
               "ablation-losses", "Per configuration: final train and val loss and the generalization gap (the "
                                  "studies' running-mean train accuracy), mean ± 95% CI over completed seeds, beside "
                                  "the study's.")
    sink.markdown(ablation_sentence(params, report.status, report.history))
    sink.figure(plotting.metric_over_epochs(report.history, labels=report.labels), "gap-over-epochs",
                "Generalization gap (train acc − val acc) per epoch, mean over seeds with a 95% band: eval mode "
                "(solid) and with the running train accuracy (dashed).")


def summary_tables(report: ReportContext) -> None:
    """Study 004's summary tables in one: val accuracy, λmax, λmax/|λmin|, loss spread."""
    found, coarse = report.results.probes, report.params.probes.loss_range
    report.sink.table(ablation_summary_table(report.params, report.status, report.history, found.hessian,
                                                    found.surface2d, found.loss_range), "summary",
                      "The study's summary tables, study vs this report's seeds: val accuracy (mean ± 95% CI over "
                      f"seeds) and λmax ({tables.POSITIVE_WORDS}), the study's condition number beside our λmax/|λmin| (with the seeds whose λmin "
                      "< 0, where a condition number is undefined), train-loss spread over the grid (the study-seed run's drawn "
                      "surface, and over the seeds probed"
                      + (f", on a coarser {coarse.points} × {coarse.points} grid of the same plane"
                         if found.loss_range is not None else "") + ") and outcomes.")
