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

Optimization difficulty (:func:`study_outcomes`): how each traced run of the studies ended
(failed, steps to ``TARGET_SHARE`` of the study's median final test accuracy, test error), which
``analysis.prediction`` predicts out of sample from the first points of its trajectory.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Sequence

import numpy as np
import pandas as pd

from ..probes.trajectory import EDGE_SHARE, edge_summary, edge_table, rate_at, stability_threshold  # noqa: F401 (the API)
from ..verdicts import stats, thresholds

if TYPE_CHECKING:  # read, never built here: no import of the pipeline at run time (probes import this module)
    from ..pipeline.params import ReportParams

TARGET_SHARE = 0.95  # steps-to-target: the target is this share of the study's median final test accuracy


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

def study_outcomes(trajectory: pd.DataFrame, studies: Sequence[tuple[ReportParams, object]]) -> pd.DataFrame:
    """How each traced run of the studies ended, for ``prediction.signals``: study, run, outcome
    (``did not learn`` for a completed run at chance), steps (optimizer steps to the study's target:
    the first epoch whose test accuracy reaches ``TARGET_SHARE`` of the study's median final test
    accuracy, times the steps per epoch; a run that never reaches it counts its epochs + 1) and
    test_error (final; NaN unless completed)."""
    traced = set(zip(trajectory["study"], trajectory["run"])) if not trajectory.empty else set()
    rows = []
    for params, results in studies:
        runs = {k: r for k, r in results.runs.items()
                if (params.report, k) in traced and r.status in ("completed", "diverged")}
        finals = [r.final["test_acc"] for r in runs.values() if r.status == "completed" and r.history]
        if not runs:
            continue
        target = TARGET_SHARE * float(np.median(finals)) if finals else math.nan
        size, classes = results.data.train_size, results.data.num_classes
        for run_id, run in runs.items():
            completed = run.status == "completed" and bool(run.history)
            reached = [row["epoch"] for row in run.history if row["test_acc"] >= target]
            at_chance = completed and thresholds.at_chance(run.final["test_acc"], classes)
            per_epoch = run.spec.train.steps_per_epoch(size)
            rows.append({"study": params.report, "run": run_id,
                         "outcome": thresholds.DID_NOT_LEARN if at_chance else run.status,
                         "steps": float((reached[0] if reached else run.epochs + 1) * per_epoch) if completed
                         else math.nan, "test_error": 1 - run.final["test_acc"] if completed else math.nan})
    return pd.DataFrame(rows, columns=["study", "run", "outcome", "steps", "test_error"])
