"""The step-size study's own pages (``params/sgd_dynamics.yaml``): full-batch gradient descent
against its stability threshold (:func:`gradient_descent`: Cohen et al.'s figure, when λmax
first reaches the threshold and where it stays) and the SGD grid of batch size × step size
(:func:`sgd_grid`: where each run ends, how sharp). Its notebook calls them by name after
``sections.training``; the numbers come from ``analysis.dynamics``."""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ..analysis import dynamics
from . import plotting

if TYPE_CHECKING:
    from .sections import ReportContext

TERMS = {
    "stability threshold": "the largest curvature for which a gradient step of size η (with heavy-ball momentum "
                           "β: 2(1+β)/η, else 2/η) does not grow along that direction on a quadratic; gradient "
                           "descent on a network whose top Hessian eigenvalue λmax exceeds it oscillates or leaves "
                           "its basin along the top eigenvector",
    "edge of stability": "Cohen et al. (2021): under full-batch gradient descent λmax rises during training "
                         "(progressive sharpening) until it reaches the stability threshold, then hovers at or "
                         "just above it while the loss keeps falling, non-monotonically",
}


def _traced(report: ReportContext) -> pd.DataFrame:
    """The study's trajectory table (``dynamics.trajectory_table``) with each run's ``block`` (the
    design block's label)."""
    found = dynamics.trajectory_table([(report.params, report.results)])
    if found.empty:
        return found
    block_of = {config: block.label or block.id for block in report.params.blocks for config in block.levels_of()}
    return found.assign(block=found["config"].map(block_of))


def gradient_descent(report: ReportContext) -> None:
    """The runs of the blocks that take full-batch steps only (gradient descent): the figure (loss and λmax against step, a colour per η, the thresholds
    dashed), and per configuration when λmax first reached EDGE_SHARE of its threshold and the
    median ratio after it, with its range over the seeds."""
    for name in ("stability threshold", "edge of stability"):
        report.sink.term(name, TERMS[name])
    traced = _traced(report)
    report.sink.save_csv(traced, "trajectory")
    size = report.results.data.train_size
    gd_configs = {c for b in report.params.blocks if all(report.params.training_of(c).batch_size >= size
                                                          for c in b.levels_of()) for c in b.levels_of()}
    full = traced[traced["config"].isin(gd_configs)] if len(traced) else traced
    if full.empty:
        report.sink.markdown("No full-batch run was traced: the trajectory probe found no snapshot to measure.")
        return
    panels = full.assign(panel=[f"{block}, β = {m:g}" for block, m in zip(full["block"], full["momentum"])])
    report.sink.figure(plotting.edge_of_stability(panels), "edge-of-stability",
                       "Full-batch gradient descent: the train loss (top) and λmax on the whole training subset "
                       "(bottom) against the optimizer step, one colour per learning rate η and one line per seed; "
                       "each dashed line is its η's stability threshold 2(1+β)/η (Cohen et al. 2021, Figure 1).")
    edges = dynamics.edge_table(full)
    summary = dynamics.edge_summary(edges)
    report.sink.record("edge_runs", edges)
    report.sink.record("edge_summary", summary)
    report.sink.save_csv(edges, "edge_runs")
    share = f"{dynamics.EDGE_SHARE:.0%}"
    blocks = full.drop_duplicates("config").set_index("config")["block"]
    shown = summary.assign(label=summary["config"].map(blocks)).drop(columns=["config"]).rename(columns={
        "label": "runs of", "lr": "η", "momentum": "β", "threshold": "2(1+β)/η", "reached": f"reached {share}",
        "first_step": "first step (median)", "ratio_after": "λmax/threshold after (median)",
        "ratio_low": "lowest seed", "ratio_high": "highest seed", "lambda_last": "last λmax (median)",
        "loss_last": "last loss (median)"})
    report.sink.table(shown, "edge-summary",
                      f"Per configuration: the runs whose λmax reached {share} of the threshold 2(1+β)/η, the median "
                      "over them of the step where it first did, and of each run's median λmax/threshold over the "
                      "points after that step, with the lowest and highest run's value (the spread over seeds); "
                      "the median over all runs of the last measured λmax and loss.")
    report.sink.markdown(edge_sentence(summary))


def edge_sentence(summary: pd.DataFrame) -> str:
    """What the full-batch runs show, generated: how many configurations reached the threshold, and
    the range of the median ratio after it."""
    hit = summary[summary["reached"] > 0]
    if hit.empty:
        return (f"In no configuration did λmax reach {dynamics.EDGE_SHARE:.0%} of its stability threshold before the "
                "loss target or the step cap.")
    after = hit["ratio_after"].dropna()
    spread = (f"; after it, the median λmax/threshold of a configuration lies between {after.min():.2f} and "
              f"{after.max():.2f}" if len(after) else "")
    return (f"λmax reached {dynamics.EDGE_SHARE:.0%} of its stability threshold in {int(summary['reached'].sum())} of "
            f"{int(summary['runs'].sum())} full-batch runs ({len(hit)} of {len(summary)} configurations){spread}.")


def sgd_grid(report: ReportContext) -> None:
    """The SGD grid (the blocks with more than one batch size): per run where it ended (the last
    traced λmax, test error, gap), per cell the geometric mean of λmax over seeds, and λmax against
    η and against batch size on log axes."""
    traced = _traced(report)
    blocks = [b for b in report.params.blocks if len({report.params.training_of(c).batch_size
                                                       for c in b.levels_of()}) > 1]
    configs = {c for b in blocks for c in b.levels_of()}
    if traced.empty or not configs:
        report.sink.markdown("No SGD grid run was traced.")
        return
    ends = sgd_ends(report, traced[traced["config"].isin(configs)])
    report.sink.save_csv(ends, "sgd_runs")
    report.sink.record("sgd_runs", ends)
    cells = sgd_cells(ends)
    report.sink.table(cells.rename(columns={"batch_size": "batch", "lr": "η", "lambda_gmean": "λmax (geometric mean)",
                                            "lambda_low": "lowest", "lambda_high": "highest",
                                            "test_error": "test error (mean)", "gap": "gap (mean)"}),
                      "sgd-cells", "The SGD grid: per batch size and learning rate η, the runs that completed (of "
                      "those trained), the geometric mean over them of the last traced λmax with its lowest and "
                      "highest run, and the mean test error and generalization gap (train subset accuracy − test "
                      "accuracy, evaluation mode).")
    report.sink.figure(plotting.sharpness_grid(ends), "sgd-sharpness",
                       "Where SGD ends: the last traced λmax against the learning rate η (left, one line per batch "
                       "size) and against the batch size (right, one line per η), both axes logarithmic; each point "
                       "a run, the lines through the geometric means; dashed: 2/η.")


def sgd_ends(report: ReportContext, traced: pd.DataFrame) -> pd.DataFrame:
    """One row per traced SGD-grid run: config, run, seed, batch_size, lr, outcome, steps (of the last
    traced point), lambda_last, loss_last, test_error and gap (eval mode; NaN unless completed)."""
    rows = []
    for run_id, points in traced.groupby("run", sort=False):
        ok = points[points["status"] == "ok"].sort_values("step")
        run = report.results.runs[run_id]
        done = run.status == "completed" and bool(run.history)
        rows.append({"config": run.config, "run": run_id, "seed": run.seed, "batch_size": int(points["batch_size"].iloc[0]),
                     "lr": float(points["lr"].iloc[0]), "outcome": run.outcome,
                     "steps": float(ok["step"].iloc[-1]) if len(ok) else math.nan,
                     "lambda_last": float(ok["lambda_max"].iloc[-1]) if len(ok) else math.nan,
                     "loss_last": float(ok["loss"].iloc[-1]) if len(ok) else math.nan,
                     "test_error": 1 - run.final["test_acc"] if done else math.nan,
                     "gap": run.final.get("eval_gap", math.nan) if done else math.nan})
    return pd.DataFrame(rows)


def sgd_cells(ends: pd.DataFrame) -> pd.DataFrame:
    """Per (batch_size, lr) cell of ``sgd_ends`` rows: runs completed of trained, λmax's geometric
    mean, lowest and highest over the completed runs, mean test error and gap."""
    rows = []
    for (batch, lr), part in ends.groupby(["batch_size", "lr"], sort=True):
        done = part[part["outcome"] == "completed"]
        lam = done["lambda_last"].to_numpy(float)
        lam = lam[np.isfinite(lam) & (lam > 0)]
        rows.append({"batch_size": batch, "lr": lr, "runs": f"{len(done)} of {len(part)}",
                     "lambda_gmean": float(np.exp(np.log(lam).mean())) if len(lam) else math.nan,
                     "lambda_low": float(lam.min()) if len(lam) else math.nan,
                     "lambda_high": float(lam.max()) if len(lam) else math.nan,
                     "test_error": float(done["test_error"].mean()) if len(done) else math.nan,
                     "gap": float(done["gap"].mean()) if len(done) else math.nan})
    return pd.DataFrame(rows)
