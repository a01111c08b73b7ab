"""The claim check that reads the ``trajectory`` frame (with the history and the runs table):
it returns the comparison records its claim's text calls for. ``CHECKS`` registers it
(``Probe.checks`` names this module; ``claims.registry`` collects it).

- :func:`edge_of_stability`: "full-batch GD sharpens until λmax reaches 2(1+β)/η and stays there",
  over the runs of the listed configurations (independent trainings, pooled): the share of runs
  whose λmax reached ``EDGE_SHARE`` of the threshold, and the geometric mean over those
  runs of their median λmax/threshold after it, within the declared 'edge_band'.
"""
from __future__ import annotations


import numpy as np
import pandas as pd

from . import EDGE_SHARE, edge_table as runs_edge_table, rate_at, stability_threshold
from ...verdicts import thresholds
from ...verdicts.claims.deciding import Check, Context, MissingEvidence, config_group, one_group, share
from ...verdicts.claims.records import Comparison, WITHIN


def edge_table(trajectory: pd.DataFrame, history: pd.DataFrame, status: pd.DataFrame, configs: list[str]
               ) -> pd.DataFrame:
    """``edge_table`` of the runs of ``configs``, from the raw trajectory frame: each
    point's threshold 2(1+β)/η with η of the history row of the epoch it ends or lies in and β
    (and Nesterov) from the runs table (``tables.run_status``)."""
    points = trajectory[trajectory["config"].isin(configs)]
    if points.empty:
        raise MissingEvidence(f"no trajectory for configurations {configs}")
    runs = status.set_index("run")
    frames = []
    for run_id, part in points.groupby("run", sort=False):
        rows = history[history["run"] == run_id][["epoch", "lr"]].to_dict("records")
        rates = [rate_at(e, rows, float(runs.at[run_id, "lr"])) for e in part["epoch"]]
        momentum, nesterov = float(runs.at[run_id, "momentum"]), bool(runs.at[run_id, "nesterov"])
        thresholds = np.array([stability_threshold(r, momentum, nesterov) for r in rates])
        frames.append(part.assign(config_label=part["config"], outcome=runs.at[run_id, "outcome"], lr=rates,
                                  momentum=momentum, threshold=thresholds,
                                  ratio=part["lambda_max"].to_numpy(float) / thresholds))
    return runs_edge_table(pd.concat(frames, ignore_index=True))


def edge_of_stability(ctx: Context, trajectory: pd.DataFrame, history: pd.DataFrame, status: pd.DataFrame,
                      configs: list) -> list[Comparison]:
    """Full-batch gradient descent sharpens until λmax reaches its stability threshold and stays
    there, over the runs of ``configs`` pooled (module docstring). A run whose λmax already lies
    at EDGE_SHARE of the threshold at initialization cannot sharpen to it, and one that ended at
    chance (collapsed) says nothing of where a learning run sits: both are left out (the note
    says how many); diverged runs are left out by ``judge``."""
    names = config_group(configs)
    edges = edge_table(trajectory, history, status, names)
    chance = edges["outcome"] == thresholds.DID_NOT_LEARN
    started = ~chance & (edges["lambda_init"] / edges["threshold"] >= EDGE_SHARE)
    kept = edges[~chance & ~started & edges["lambda_init"].notna()]
    reached = kept.dropna(subset=["first_step"])
    share_at = f"{EDGE_SHARE:.0%}"
    note = "; ".join(filter(None, [
        f"{int(chance.sum())} of {len(edges)} runs left out: they ended at chance (did not learn)" if chance.any() else "",
        f"{int(started.sum())} of {len(edges)} runs left out: λmax at initialization already at {share_at} of the "
        "threshold" if started.any() else ""]))
    group = f"runs of the {len(names)} configurations"
    parts = [share(ctx, f"share of runs whose λmax reached {share_at} of 2(1+β)/η", group, len(reached), len(kept))]
    band = ctx.value("edge_band")
    parts.append(one_group(ctx, "median λmax / 2(1+β)/η after reaching it", "runs that reached it",
                           reached["ratio_after"].to_numpy(float), WITHIN, [1 / (1 + band), 1 + band], "edge_band",
                           positive=True, unit="runs", why=note))
    return parts


CHECKS = {
    "edge_of_stability": Check(edge_of_stability, ("trajectory", "history", "runs"), ("configs",),
                               unit="pooled seeds"),
}
