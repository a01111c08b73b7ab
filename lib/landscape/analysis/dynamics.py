"""Sharpness during training and the prediction of optimization difficulty, across studies.

The trajectory table (:func:`trajectory_table`) has one row per snapshot of every traced run
(``probes.trajectory``): study, configuration, run, seed, outcome, the point (``epoch``:
progress in epochs, 0 the initialization; ``step``), λmax, loss and gradient norm there, and
the stability threshold of the optimizer at that point: for SGD with heavy-ball momentum β and
learning rate η, a quadratic of curvature λ is stable under full-batch steps iff λ < 2(1 + β)/η
(Nesterov: λ < 2(1 + β)/(η(1 + 2β))). η is the rate of the epoch the point ends or lies in (the
first epoch's for the initialization), so a step schedule draws the threshold as steps.
``ratio`` = λmax / threshold: above 1, full-batch steps at that η would leave the point's basin
along the top eigenvector; mini-batch SGD is not bound by it either way, so it is reported, not
assumed.

Optimization difficulty (:func:`difficulty_table`, :func:`predictions`): per run, what the
trajectory shows after epoch 1 (λmax, ‖∇L‖) and at the initialization, against three outcomes:
the final test accuracy, the epochs to reach a target accuracy (``TARGET_SHARE`` of the study's
median final test accuracy; a run that never reaches it counts as epochs + 1), and divergence.
Kendall's τ-b with a paired bootstrap 95% CI, within each study (its runs share data, schedule
and target) and over the runs of all traced studies.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Sequence

import numpy as np
import pandas as pd

from ..probes.trajectory import EDGE_SHARE, edge_summary, edge_table, rate_at, stability_threshold  # noqa: F401 (the API)
from ..verdicts import stats

if TYPE_CHECKING:  # read, never built here: no import of the pipeline at run time (probes import this module)
    from ..pipeline.params import ReportParams

TARGET_SHARE = 0.95  # epochs-to-target: the target is this share of the study's median final test accuracy
MIN_RUNS = 6  # runs a τ needs before its interval may decide (with fewer, a bootstrap of pairs degenerates)
PREDICTORS = {"lambda_max_1": "λmax after epoch 1", "grad_norm_1": "‖∇L‖ after epoch 1",
              "lambda_max_0": "λmax at initialization", "ratio_0": "λmax / 2(1+β)/η at initialization"}
OUTCOMES = {"test_acc": "final test accuracy", "epochs_to_target": "epochs to target accuracy",
            "diverged": "divergence"}


def trajectory_table(studies: Sequence[tuple[ReportParams, object]]) -> pd.DataFrame:
    """Every traced run's trajectory (``(params, pipeline.Results)`` per study; a study without a
    trajectory frame adds nothing): see the module docstring for the columns."""
    frames = []
    for params, results in studies:
        found = results.probes.trajectory if results.probes is not None else None
        if found is None or found.empty:
            continue
        for run_id, points in found.groupby("run", sort=False):
            run = results.runs[run_id]
            cfg = run.spec.train
            rates = [rate_at(e, run.history, cfg.lr) for e in points["epoch"]]
            thresholds = [stability_threshold(r, cfg.momentum, cfg.nesterov) for r in rates]
            frames.append(points.assign(study=params.report, source=params.study.split("_")[0],
                                        config_label=params.config(run.config).label, outcome=run.outcome,
                                        batch_size=cfg.batch_size, momentum=cfg.momentum, lr=rates, threshold=thresholds,
                                        ratio=points["lambda_max"].to_numpy(float) / np.asarray(thresholds)))
    if not frames:
        return pd.DataFrame()
    table = pd.concat(frames, ignore_index=True)
    first = ["study", "source", "config", "config_label", "label", "run", "seed", "outcome", "epoch", "step", "lambda_max", "threshold",
             "ratio", "lr", "momentum", "batch_size", "loss", "grad_norm", "status"]
    return table[first + [c for c in table.columns if c not in first]]


def trajectory_summary(trajectory: pd.DataFrame) -> pd.DataFrame:
    """Per study and configuration: runs, measured points, points above the threshold, the
    largest λmax/threshold, and the median over runs of λmax at the initialization, after epoch
    1 and at the last point, with ``sharpened``: runs whose last λmax exceeds their first."""
    rows = []
    for (study, config), part in trajectory.groupby(["study", "config"], sort=False):
        ok = part[part["status"] == "ok"]
        per_run = ok.groupby("run", sort=False)
        first = per_run["lambda_max"].first()
        last = per_run["lambda_max"].last()
        after_one = ok[ok["epoch"] == 1.0].set_index("run")["lambda_max"]
        rows.append({"study": study, "source": part["source"].iloc[0], "config": config,
                     "label": part["config_label"].iloc[0], "runs": part["run"].nunique(),
                     "points": len(ok), "above": int((ok["ratio"] > 1).sum()), "max_ratio": float(ok["ratio"].max()),
                     "lambda_init": float(first.median()), "lambda_epoch1": float(after_one.median()),
                     "lambda_last": float(last.median()), "sharpened": int((last > first).sum()),
                     "threshold_first": float(part["threshold"].iloc[0])})
    return pd.DataFrame(rows)


def trajectory_observation(trajectory: pd.DataFrame) -> str:
    """What the trajectories show, in two generated sentences: how many measured points lie
    above the stability threshold (and the largest λmax/threshold), and in how many runs λmax
    ends above where it started."""
    ok = trajectory[trajectory["status"] == "ok"]
    if ok.empty:
        return "No trajectory point could be measured."
    above = ok[ok["ratio"] > 1]
    top = ok.loc[ok["ratio"].idxmax()]
    per_run = ok.groupby(["study", "run"], sort=False)["lambda_max"]  # run ids repeat across studies
    traced = per_run.size() > 1
    sharpened = (per_run.last() > per_run.first())[traced]
    return (f"{len(above)} of {len(ok)} measured points ({len(above) / len(ok):.0%}) of {per_run.ngroups} runs lie "
            f"above the stability threshold 2(1+β)/η; the largest λmax/threshold is {stats.number_text(top['ratio'], 2)} "
            f"({top['label']}, epoch {top['epoch']:g}). λmax ends above its value at the initialization in "
            f"{int(sharpened.sum())} of {len(sharpened)} runs with more than one point.")


# ============================================================================ optimization difficulty

def difficulty_table(trajectory: pd.DataFrame, studies: Sequence[tuple[ReportParams, object]]) -> pd.DataFrame:
    """One row per traced run: study, config, run, seed, diverged (1/0), test_acc (final; NaN if
    diverged), epochs_to_target (module docstring; NaN if diverged), target, and the predictors
    (``PREDICTORS``: NaN where the point was not reached or not measured)."""
    traced = set(zip(trajectory["study"], trajectory["run"])) if not trajectory.empty else set()
    rows = []
    for params, results in studies:
        runs = {k: r for k, r in results.runs.items()
                if (params.report, k) in traced and r.status in ("completed", "diverged")}
        finals = [r.final["test_acc"] for r in runs.values() if r.status == "completed" and r.history]
        if not runs:
            continue
        target = TARGET_SHARE * float(np.median(finals)) if finals else math.nan
        for run_id, run in runs.items():
            points = trajectory[(trajectory["run"] == run_id) & (trajectory["study"] == params.report)
                                & (trajectory["status"] == "ok")].set_index("epoch")
            completed = run.status == "completed" and bool(run.history)
            reached = [row["epoch"] for row in run.history if row["test_acc"] >= target]
            rows.append({"study": params.report, "source": params.study.split("_")[0], "config": run.config,
                         "run": run_id, "seed": run.seed, "diverged": float(run.status == "diverged"),
                         "test_acc": run.final["test_acc"] if completed else math.nan,
                         "epochs_to_target": (float(reached[0]) if reached else float(run.epochs + 1))
                         if completed else math.nan, "target": target,
                         "lambda_max_1": points["lambda_max"].get(1.0, math.nan),
                         "grad_norm_1": points["grad_norm"].get(1.0, math.nan),
                         "lambda_max_0": points["lambda_max"].get(0.0, math.nan),
                         "ratio_0": points["ratio"].get(0.0, math.nan)})
    return pd.DataFrame(rows)


def predictions(difficulty: pd.DataFrame, level: float = stats.LEVEL) -> pd.DataFrame:
    """Kendall τ of every predictor with every outcome (``PREDICTORS`` × ``OUTCOMES``), tidy:
    columns predictor, outcome, scope (a study, or "all" over every traced run), estimate, low,
    high, n, p (of τ = 0). An outcome that does not vary within a scope (no run diverged) gives NaN."""
    rows = []
    scopes = [("all", difficulty), *difficulty.groupby("study", sort=False)]
    for predictor in PREDICTORS:
        for outcome in OUTCOMES:
            for scope, part in scopes:
                found = stats.kendall_tau(part[predictor], part[outcome], level=level)
                rows.append({"predictor": predictor, "outcome": outcome, "scope": scope, "estimate": found.estimate,
                             "low": found.low, "high": found.high, "n": found.n, "p": found.p_value(0.0)})
    return pd.DataFrame(rows, columns=["predictor", "outcome", "scope", "estimate", "low", "high", "n", "p"])


def prediction_answer(table: pd.DataFrame) -> str:
    """Which predictors rank the runs by which outcome, within a study of at least MIN_RUNS runs:
    the τ that exclude 0 after Benjamini–Hochberg over every such within-study τ (one family);
    "no" for the rest, in words."""
    within = table[(table["scope"] != "all") & (table["n"] >= MIN_RUNS)].dropna(subset=["estimate"])
    if within.empty:
        return f"No predictor could be compared with an outcome within a study of at least {MIN_RUNS} runs."
    found = within[stats.significant(stats.bh(within["p"].to_numpy(float)))]
    raw = int(stats.significant(within["p"].to_numpy(float)).sum())
    family = (f"after Benjamini–Hochberg over the {len(within)} within-study τ ({raw} would exclude 0 "
              "uncorrected)")
    if found.empty:
        return f"No: none of the {len(within)} within-study τ of an early-training measure with an outcome excludes 0 {family}."
    parts = [f"{PREDICTORS[r['predictor']]} with {OUTCOMES[r['outcome']]} in {r['scope']} "
             f"(τ {r['estimate']:+.2f} [{r['low']:+.2f}, {r['high']:+.2f}], n {r['n']})" for _, r in found.iterrows()]
    initial = found[found["predictor"].isin(["lambda_max_0", "ratio_0"])]
    twins = initial.groupby(["outcome", "scope"])["predictor"].nunique().eq(2).sum()
    return (f"{len(found)} of {len(within)} within-study τ exclude 0 {family}: " + "; ".join(parts) + "."
            + (" The others are inconclusive." if len(found) < len(within) else "")
            + (f" {twins} {'findings are' if twins > 1 else 'finding is'} counted twice above, as λmax at "
               "initialization and as its ratio to 2(1+β)/η, which rank a study's runs alike where they share one "
               "learning rate." if twins else ""))
