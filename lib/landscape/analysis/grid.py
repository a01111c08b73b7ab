"""The designed grid of models (``ReportParams.design``): one architecture family on one dataset,
every combination of a few hyperparameters, every model trained to a common stopping point
(``training.stop_train_loss``), and how closely each generalization measure tracks the
generalization gap over the models that reached it.

The models table (:func:`model_table`) has one row per trained run: config, run, label, seed, one column
per design factor (its level), epochs, final_train_loss (cross-entropy over the whole training
split after the last epoch, eval mode), stop ("reached": completed at the stopping point, or
completed when no stopping point is set; "missed", "diverged", "failed" or
``thresholds.DID_NOT_LEARN``), test_error, eval_gap (train probe-set accuracy − test accuracy,
same weights, eval mode) and every measure of ``MEASURES`` (NaN where a run was not probed).
Only the models that reached the stopping point are compared (:func:`compared`): a model stopped
by the epoch cap is ranked by how far its training went, not by its geometry.

The statistics (:func:`rank_statistics`), each measure against the gap, signed so that a positive
value means "larger measure, larger gap": overall Kendall τ (paired bootstrap 95% CI, p-value;
Benjamini–Hochberg over the measures decides which exclude 0), the granulated ψ per factor and Ψ
(groups: the models equal in every other factor and the seed, ``rankings.granulated``), the
conditional mutual information score (``rankings.conditional_mi``, minimum over conditioning sets
of at most two factors) and the robust sign agreement over one-factor environments
(``rankings.sign_agreement``, ``rankings.robust_summary``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from ..verdicts import rankings
from ..learning.training import reached_stop
from ..pipeline.params import ReportParams
from ..probes import complexity as complexity_probe
from ..probes import measures as measures_probe
from ..probes.base import Scalar
from ..verdicts import stats, thresholds

MEASURES: dict[str, Scalar] = {**measures_probe.SCALARS, **complexity_probe.SCALARS}  # what is ranked
PROBED = {"measures": tuple(measures_probe.SCALARS), "complexity": tuple(complexity_probe.SCALARS)}  # probe -> columns
TARGET = "eval_gap"
REACHED = "reached"


def factors_of(params: ReportParams) -> list[str]:
    """The design's factor names, in the order the grid varies them (the first slowest)."""
    if len(params.blocks) != 1:
        raise ValueError(f"report {params.report!r} has no design of one block")
    return list(params.design.factors)


def model_table(params: ReportParams, results, num_classes: int) -> pd.DataFrame:
    """One row per trained run of the grid (module docstring), from ``results``
    (``pipeline.driver.Results`` holding the ``measures`` and ``complexity`` probes)."""
    levels = params.design.levels_of()
    probed = {name: (frame.set_index("run") if (frame := getattr(results.probes, name)) is not None
                     else pd.DataFrame()) for name in PROBED}
    rows = []
    for run_id, run in results.runs.items():
        final = run.final
        cfg = params.training_of(run.config).config()
        if run.status != "completed" or not final:
            stop = run.status
        elif thresholds.at_chance(final["test_acc"], num_classes):
            stop = thresholds.DID_NOT_LEARN
        else:
            stop = REACHED if cfg.stop_train_loss is None or reached_stop(cfg, final) else "missed"
        completed = run.status == "completed" and bool(final)
        row = {"config": run.config, "run": run_id, "label": run.label, "seed": run.seed, **levels[run.config],
               "epochs": run.epochs,
               "cap": cfg.epochs, "final_train_loss": final.get("full_train_loss", math.nan), "stop": stop,
               "test_error": 1 - final["test_acc"] if completed else math.nan,
               "eval_gap": final.get("eval_gap", math.nan) if completed else math.nan}
        for name, columns in PROBED.items():
            for column in columns:
                row[column] = probed[name].at[run_id, column] if run_id in probed[name].index else math.nan
        rows.append(row)
    return pd.DataFrame(rows)


def compared(models: pd.DataFrame) -> pd.DataFrame:
    """The models that reached the stopping point: the ones every statistic compares."""
    return models[models["stop"] == REACHED]


def left_out(models: pd.DataFrame, stop_loss: float) -> pd.DataFrame:
    """The models that did not reach the stopping point, each with why: run, label, stop, epochs,
    final_train_loss, reason (words)."""
    out = models[models["stop"] != REACHED][["run", "label", "stop", "epochs", "cap", "final_train_loss"]]

    def reason(row: pd.Series) -> str:
        if row["stop"] == "missed":
            return (f"train cross-entropy {row['final_train_loss']:.3g} after the cap of {int(row['cap'])} epochs "
                    f"(the stopping point is {stop_loss:g})")
        if row["stop"] == thresholds.DID_NOT_LEARN:
            return "ended at chance accuracy"
        return f"training {row['stop']}"

    return out.assign(reason=[reason(row) for _, row in out.iterrows()]).drop(columns="cap")


def groupings(factors: list[str]) -> dict[str, rankings.Grouping]:
    """Per factor, its granulated groups: the models equal in every other factor and in the seed."""
    return {f: (f, [*(g for g in factors if g != f), "seed"]) for f in factors}


@dataclass
class RankStatistics:
    """Every statistic of every measure with the gap over the compared models (module docstring):
    ``taus`` (tidy: measure, kind "overall" or "granulated", scope "all" or a factor, estimate,
    low, high, n, p; plus ``decided``: the overall τ that excludes 0 after Benjamini–Hochberg),
    ``cmi`` (measure, conditioning, cmi, entropy, pairs: every conditioning set), ``environments``
    (measure and the ``rankings.sign_agreement`` rows), ``robust`` (measure and the
    ``rankings.robust_summary`` rows) and ``summary`` (one row per measure: ``SUMMARY_COLUMNS``),
    sorted by the CMI score, largest first."""

    taus: pd.DataFrame
    cmi: pd.DataFrame
    environments: pd.DataFrame
    robust: pd.DataFrame
    summary: pd.DataFrame


SUMMARY_COLUMNS = ["measure", "tau", "tau_low", "tau_high", "tau_p", "psi", "psi_low", "psi_high", "cmi", "cmi_given", "robust_environments",
                   "robust_positive", "robust_worst", "robust_median", "tau_decided"]
FDR_WHY = ("Benjamini–Hochberg over the measures' overall τ (false discovery rate 5%): the grid screens many measures "
           "for the ones that track the gap, so the share of false findings among those it reports is what is "
           "controlled; the τ of related measures on the same models are positively dependent, under which the "
           "correction holds.")


def rank_statistics(models: pd.DataFrame, factors: list[str], measures: list[str] | None = None,
                    target: str = TARGET, level: float = stats.LEVEL) -> RankStatistics:
    """The statistics of ``measures`` (default: those of ``MEASURES`` with a value) with ``target``
    over ``models`` (the compared ones: :func:`compared`); see :class:`RankStatistics`."""
    measures = measures if measures is not None else [m for m in MEASURES if models[m].notna().sum() >= 2]
    taus, cmi, environments, robust, summary = [], [], [], [], []
    for measure in measures:
        overall = stats.kendall_tau(models[measure], models[target], level=level)
        taus.append({"measure": measure, "kind": "overall", "scope": "all", "estimate": overall.estimate,
                     "low": overall.low, "high": overall.high, "n": overall.n, "p": overall.p_value(0.0)})
        found = rankings.granulated(models, measure, target, groupings(factors), level)
        taus += [{"measure": measure, "kind": "granulated", "scope": scope, "estimate": i.estimate, "low": i.low,
                  "high": i.high, "n": i.n, "p": math.nan} for scope, i in found.items()]
        table = rankings.conditional_mi(models, measure, target, factors)
        cmi.append(table.assign(measure=measure))
        score, given = rankings.cmi_score(table)
        envs = rankings.sign_agreement(models, measure, target, factors, level)
        environments.append(envs.assign(measure=measure))
        summary_rows = rankings.robust_summary(envs).assign(measure=measure)
        robust.append(summary_rows)
        every = summary_rows[summary_rows["factor"] == "all"].iloc[0]
        summary.append({"measure": measure, "tau": overall.estimate, "tau_low": overall.low, "tau_high": overall.high,
                        "tau_p": overall.p_value(0.0), **{key: getattr(found["all"], part) if "all" in found else math.nan
                                                          for key, part in (("psi", "estimate"), ("psi_low", "low"),
                                                                            ("psi_high", "high"))},
                        "cmi": score, "cmi_given": given, "robust_environments": int(every["environments"]),
                        "robust_positive": every["positive"], "robust_worst": every["worst"],
                        "robust_median": every["median"]})
    tau_frame = pd.DataFrame(taus, columns=["measure", "kind", "scope", "estimate", "low", "high", "n", "p"])
    overall_rows = tau_frame["kind"] == "overall"
    tau_frame["decided"] = False
    if overall_rows.any():
        tau_frame.loc[overall_rows, "decided"] = stats.significant(stats.bh(tau_frame.loc[overall_rows, "p"]
                                                                            .to_numpy(float)))
    summary_frame = pd.DataFrame(summary, columns=SUMMARY_COLUMNS[:-1])
    summary_frame["tau_decided"] = tau_frame.loc[overall_rows, "decided"].to_numpy(bool)
    summary_frame = summary_frame.sort_values("cmi", ascending=False, na_position="last", kind="stable")

    def joined(frames: list[pd.DataFrame]) -> pd.DataFrame:
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    return RankStatistics(tau_frame, joined(cmi), joined(environments), joined(robust),
                          summary_frame.reset_index(drop=True))


def counts(models: pd.DataFrame) -> dict[str, int]:
    """How many models ended each way (``stop`` -> count), reached first."""
    found = models["stop"].value_counts()
    return {REACHED: int(found.get(REACHED, 0)), **{k: int(v) for k, v in found.items() if k != REACHED}}


def level_summary(models: pd.DataFrame, compared_models: pd.DataFrame, factors: list[str]) -> pd.DataFrame:
    """Per factor and level (as text): "reached" (compared of trained models), the median epochs of
    the compared ones, and their mean gap with its 95% t interval (``stats.mean_ci``)."""
    rows = []
    for factor in factors:
        for level, part in models.groupby(factor, sort=True):
            kept = compared_models[compared_models[factor] == level]
            gap = stats.mean_ci(kept[TARGET].dropna())
            rows.append({"factor": factor, "level": str(level), "reached": f"{len(kept)} of {len(part)}",
                         "median epochs": float(kept["epochs"].median()) if len(kept) else math.nan,
                         "mean gap [95% CI]": gap.text(3) if len(kept) else "—"})
    return pd.DataFrame(rows)
