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
from typing import Sequence

import numpy as np
import pandas as pd

from ..pipeline.params import ReportParams
from ..verdicts import stats

TARGET_SHARE = 0.95  # epochs-to-target: the target is this share of the study's median final test accuracy
MIN_RUNS = 6  # runs a τ needs before its interval may decide (with fewer, a bootstrap of pairs degenerates)
PREDICTORS = {"lambda_max_1": "λmax after epoch 1", "grad_norm_1": "‖∇L‖ after epoch 1",
              "lambda_max_0": "λmax at initialization", "ratio_0": "λmax / 2(1+β)/η at initialization"}
OUTCOMES = {"test_acc": "final test accuracy", "epochs_to_target": "epochs to target accuracy",
            "diverged": "divergence"}


def stability_threshold(lr: float, momentum: float, nesterov: bool = False) -> float:
    """The largest curvature λ for which SGD with momentum (PyTorch's form) at learning rate
    ``lr`` is stable on the quadratic ½λx² with full-batch gradients (module docstring)."""
    if lr <= 0:
        return math.inf
    return 2 * (1 + momentum) / (lr * (1 + 2 * momentum)) if nesterov else 2 * (1 + momentum) / lr


def _rate_at(epoch: float, history: Sequence[dict], first_rate: float) -> float:
    """η of the epoch a point at ``epoch`` ends or lies in (epoch 1's for the initialization): of
    the first history row at or after it (a run may record every few epochs)."""
    ending = max(1, math.ceil(epoch))
    return next((float(row["lr"]) for row in history if row["epoch"] >= ending), first_rate)


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
            rates = [_rate_at(e, run.history, cfg.lr) for e in points["epoch"]]
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


# ============================================================================ the edge of stability

EDGE_SHARE = 0.9  # λmax "reaches" the threshold at this share of 2(1+β)/η (Lanczos and the sampled point between
#                   two measurements leave λmax a little below the level it hovers at; the 90%)


def edge_table(trajectory: pd.DataFrame) -> pd.DataFrame:
    """One row per run of ``trajectory_table`` rows (full-batch runs, where the threshold binds):
    config, config_label, run, seed, lr, momentum, threshold, outcome, first_step (the first
    measured point whose λmax is at least EDGE_SHARE × threshold; NaN if none), ratio_after (the
    median λmax/threshold over the points after it; NaN without any), points_after, max_ratio,
    lambda_init, lambda_last, loss_last, last_step (of the last measured point)."""
    rows = []
    for run_id, points in trajectory.groupby("run", sort=False):
        ok = points[points["status"] == "ok"].sort_values("step")
        reached = ok[ok["ratio"] >= EDGE_SHARE]
        first = float(reached["step"].iloc[0]) if len(reached) else math.nan
        after = ok[ok["step"] > first] if len(reached) else ok.iloc[0:0]
        head = points.iloc[0]
        rows.append({"config": head["config"], "config_label": head["config_label"], "run": run_id,
                     "seed": head["seed"], "lr": float(head["lr"]), "momentum": float(head["momentum"]),
                     "threshold": float(head["threshold"]), "outcome": head["outcome"], "first_step": first,
                     "ratio_after": float(after["ratio"].median()) if len(after) else math.nan,
                     "points_after": len(after), "max_ratio": float(ok["ratio"].max()) if len(ok) else math.nan,
                     "lambda_init": float(ok["lambda_max"].iloc[0]) if len(ok) else math.nan,
                     "lambda_last": float(ok["lambda_max"].iloc[-1]) if len(ok) else math.nan,
                     "loss_last": float(ok["loss"].iloc[-1]) if len(ok) else math.nan,
                     "last_step": float(ok["step"].iloc[-1]) if len(ok) else math.nan})
    return pd.DataFrame(rows)


def edge_summary(edges: pd.DataFrame) -> pd.DataFrame:
    """Per configuration (``edge_table`` rows): runs, reached (runs whose λmax reached EDGE_SHARE ×
    threshold), the median over those runs of the first step, and of the median ratio after it,
    with its smallest and largest value over the seeds (the spread)."""
    rows = []
    for config, part in edges.groupby("config", sort=False):
        hit = part.dropna(subset=["first_step"])
        after = hit["ratio_after"].dropna()
        rows.append({"config": config, "label": part["config_label"].iloc[0], "lr": part["lr"].iloc[0],
                     "momentum": part["momentum"].iloc[0], "threshold": part["threshold"].iloc[0], "runs": len(part),
                     "reached": len(hit), "first_step": float(hit["first_step"].median()) if len(hit) else math.nan,
                     "ratio_after": float(after.median()) if len(after) else math.nan,
                     "ratio_low": float(after.min()) if len(after) else math.nan,
                     "ratio_high": float(after.max()) if len(after) else math.nan,
                     "lambda_last": float(part["lambda_last"].median()), "loss_last": float(part["loss_last"].median())})
    return pd.DataFrame(rows)


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
