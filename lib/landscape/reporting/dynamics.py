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

from ..analysis import dynamics, prediction as prediction_mod
from ..verdicts import rankings, stats
from . import plotting, tables
from .terms import explain
from ..probes.gradient import report as gradient_report
from ..probes.hessian import report as hessian_report
from ..probes.sharpness import report as sharpness_report

if TYPE_CHECKING:
    from ..pipeline import driver
    from ..pipeline.params import ReportParams
    from .sections import ReportContext

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
    report.sink.term(*hessian_report.TERM)
    explain(report, "threshold", "edge", "lanczos", "positive")
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
    report.sink.term(*sharpness_report.TERM)
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
    report.sink.record("sgd_cells", cells)
    report.sink.table(cells.drop(columns=["lambda_low", "lambda_high"]).rename(columns={
                          "batch_size": "batch", "lr": "η", "lambda_gmean": "last λmax (gm)",
                          **{f"{m}_gmean": f"{w} (gm)" for m, w in END_MEASURES.items()},
                          "test_error": "test error (mean)", "gap": "gap (mean)"}),
                      "sgd-cells", "The SGD grid: per batch size and learning rate η, the runs that completed (of "
                      "those trained), the geometric mean (gm) over them of the last traced λmax (every run is "
                      "drawn in the figure below); the geometric means of the trace, SAM and ASAM sharpness of the final "
                      "weights (measures probe, train probe set); and the mean test error and generalization gap "
                      "(train subset accuracy − test accuracy, evaluation mode).")
    report.sink.figure(plotting.sharpness_grid(ends), "sgd-sharpness",
                       "Where SGD ends: the last traced λmax against the learning rate η (left, one line per batch "
                       "size) and against the batch size (right, one line per η), both axes logarithmic; each point "
                       "a run, the lines through the geometric means; dashed: 2/η.")
    explain(report, "tau", "granulated_grid")
    tracked = within_and_through(ends)
    report.sink.record("sgd_within_and_through", tracked)
    shown = (tracked.assign(value=[_interval_text(r) for _, r in tracked.iterrows()],
                            target=tracked["target"].map({"gap": "gap", "test_error": "test error"}))
             .pivot(index=["measure", "target"], columns="statistic", values="value")
             .reindex(columns=[*GROUPINGS, "overall τ"]).reset_index())
    report.sink.table(shown.rename(columns={"target": "with"}).rename_axis(columns=None), "sgd-within-through",
                      "Does sharpness at the end track generalization within a step size, or only through it? Over "
                      "the completed SGD-grid runs, per end measure and target (gap: train − test accuracy; test "
                      "error): ψ with η fixed (only the batch size varies within a group of runs that share η and "
                      "seed), ψ with the batch size fixed (only η varies), each the mean within-group Kendall τ "
                      "with a bootstrap 95% interval over groups, and the overall τ (paired bootstrap). Positive: "
                      "the sharper end generalizes worse.")
    report.sink.markdown(within_sentence(tracked))


END_MEASURES = {"lambda_max": "λmax", "trace": "tr(H)", "sam": "SAM", "asam": "ASAM"}  # of the measures probe, at the end


def sgd_ends(report: ReportContext, traced: pd.DataFrame) -> pd.DataFrame:
    """One row per traced SGD-grid run: config, run, seed, batch_size, lr, outcome, steps (of the last
    traced point), lambda_last, loss_last, test_error and gap (eval mode; NaN unless completed), and
    the measures probe's ``END_MEASURES`` of the final weights (NaN where not measured)."""
    found = report.results.probes.measures
    ends = found.set_index("run") if found is not None and not found.empty else pd.DataFrame()
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
                     "gap": run.final.get("eval_gap", math.nan) if done else math.nan,
                     **{m: float(ends.at[run_id, m]) if run_id in ends.index else math.nan for m in END_MEASURES}})
    return pd.DataFrame(rows)


def _gmean(values: np.ndarray) -> float:
    """Geometric mean of the finite positive values (NaN without one)."""
    kept = values[np.isfinite(values) & (values > 0)]
    return float(np.exp(np.log(kept).mean())) if len(kept) else math.nan


def sgd_cells(ends: pd.DataFrame) -> pd.DataFrame:
    """Per (batch_size, lr) cell of ``sgd_ends`` rows: runs completed of trained, the last traced
    λmax's geometric mean, lowest and highest over the completed runs, the geometric mean of the
    other ``END_MEASURES`` (``<measure>_gmean``), mean test error and gap."""
    rows = []
    for (batch, lr), part in ends.groupby(["batch_size", "lr"], sort=True):
        done = part[part["outcome"] == "completed"]
        lam = done["lambda_last"].to_numpy(float)
        lam = lam[np.isfinite(lam) & (lam > 0)]
        rows.append({"batch_size": batch, "lr": lr, "runs": f"{len(done)} of {len(part)}",
                     "lambda_gmean": _gmean(lam),
                     "lambda_low": float(lam.min()) if len(lam) else math.nan,
                     "lambda_high": float(lam.max()) if len(lam) else math.nan,
                     **{f"{m}_gmean": _gmean(done[m].to_numpy(float)) for m in END_MEASURES if m != "lambda_max"},
                     "test_error": float(done["test_error"].mean()) if len(done) else math.nan,
                     "gap": float(done["gap"].mean()) if len(done) else math.nan})
    return pd.DataFrame(rows)


GROUPINGS = {"ψ, η fixed": ("batch_size", ["lr", "seed"]),  # only the batch size varies in a group
             "ψ, batch fixed": ("lr", ["batch_size", "seed"])}  # only η varies


def within_and_through(ends: pd.DataFrame) -> pd.DataFrame:
    """Does an end measure track generalization within a step size or only through it: per
    ``END_MEASURES`` and target (gap, test error), over the completed SGD-grid runs, ψ for each of
    ``GROUPINGS`` (Jiang et al.'s granulated τ: the mean within-group Kendall τ, bootstrap interval
    over groups) and the overall τ (paired bootstrap), tidy: measure, target, statistic, estimate,
    low, high, n."""
    done = ends[ends["outcome"] == "completed"]
    rows = []
    for measure in END_MEASURES:
        for target in ("gap", "test_error"):
            found = rankings.granulated(done, measure, target, GROUPINGS)
            found["overall τ"] = stats.kendall_tau(done[measure], done[target])
            for name in (*GROUPINGS, "overall τ"):
                if name in found:
                    i = found[name]
                    rows.append({"measure": END_MEASURES[measure], "target": target, "statistic": name,
                                 "estimate": i.estimate, "low": i.low, "high": i.high, "n": i.n})
    return pd.DataFrame(rows, columns=["measure", "target", "statistic", "estimate", "low", "high", "n"])


def within_sentence(tracked: pd.DataFrame) -> str:
    """Which end measures' ψ with the step size fixed exclude 0 (with the gap or the test error),
    and which ψ with the batch size fixed do, generated."""
    def excluding(statistic: str) -> list[str]:
        part = tracked[(tracked["statistic"] == statistic) & ((tracked["low"] > 0) | (tracked["high"] < 0))]
        return [f"{r['measure']} with the {'gap' if r['target'] == 'gap' else 'test error'} ({r['estimate']:+.2f} "
                f"[{r['low']:+.2f}, {r['high']:+.2f}])" for _, r in part.iterrows()]
    fixed, through = excluding("ψ, η fixed"), excluding("ψ, batch fixed")
    return ("With the step size fixed, " + ("the 95% interval of ψ excludes 0 for " + "; ".join(fixed) if fixed else
                                           "no end measure's ψ excludes 0")
            + "; with the batch size fixed (only η varies), " + ("it excludes 0 for " + "; ".join(through) if through
                                                                 else "none does")
            + ". These intervals are not corrected for multiplicity: the claims table decides.")


def prediction(report: ReportContext) -> None:
    """Training difficulty predicted out of sample (``analysis.prediction``): every distinct
    training of the study once (a cell that shares its training with another configuration counts
    under the first), its early signals and outcomes, and the held-out scores of the early signals
    against the baseline that knows only η and the batch size."""
    table = difficulty(report.params, report.results, report.status)
    explain(report, "prediction", "auc", "bootstrap")
    report.sink.term(*gradient_report.TERM)
    report.sink.save_csv(table, "difficulty")
    if table.empty:
        report.sink.markdown("No run was traced: there is nothing to predict from.")
        return
    found = prediction_mod.scores(table)
    report.sink.record("prediction", found)
    report.sink.table(tables.prediction_table(found),
                      "prediction", "Each outcome predicted leave-one-configuration-out (no configuration's runs are "
                      "ever used to predict themselves): from the early signals (" + ", ".join(prediction_mod.EARLY.values())
                      + ") and from a baseline that knows only log η and log batch size. Scores over the held-out "
                      "predictions of every run: AUC for failure, Kendall τ for the steps to the train-loss target "
                      "(a run that never reached it counts as the cap) and the final test error; 95% intervals by a "
                      "cluster bootstrap over configurations, and the same for the difference (early − baseline).")
    report.sink.markdown(prediction_mod.summary(found))


def _interval_text(row: pd.Series) -> str:
    """``estimate [low, high]`` of a tidy row, two decimals; the estimate alone without an interval."""
    estimate, low, high = row["estimate"], row["low"], row["high"]
    if estimate is None or pd.isna(estimate):
        return "—"
    if low is None or high is None or pd.isna(low) or pd.isna(high):
        return f"{estimate:+.2f} (no interval)"
    return f"{estimate:+.2f} [{low:+.2f}, {high:+.2f}]"


def difficulty(params: ReportParams, results: driver.Results, status: pd.DataFrame) -> pd.DataFrame:
    """``prediction.signals`` of the study's traced runs (``status``: ``tables.run_status``), one
    per distinct training: steps to the train-loss target from the history (the epoch whose
    record first met ``stop_train_loss``, in optimizer steps; the run's last step if none did)."""
    traced = dynamics.trajectory_table([(params, results)])
    if traced.empty:
        return pd.DataFrame()
    runs = results.runs
    first = {}
    for run_id in dict.fromkeys(traced["run"]):
        first.setdefault(runs[run_id].key, run_id)
    traced = traced[traced["run"].isin(set(first.values()))]
    size = results.data.train_size
    outcome = status.set_index("run")["outcome"]
    rows = []
    for run_id in first.values():
        run = runs[run_id]
        cfg, per_epoch = run.spec.train, run.spec.train.steps_per_epoch(size)
        met = [row["epoch"] for row in run.history if cfg.stop_train_loss is not None
               and row.get("full_train_loss", math.inf) <= cfg.stop_train_loss]
        rows.append({"study": params.report, "run": run_id, "outcome": outcome[run_id],
                     "steps": float((met[0] if met else run.epochs) * per_epoch),
                     "test_error": 1 - run.final["test_acc"] if run.history else math.nan})
    return prediction_mod.signals(traced, pd.DataFrame(rows))
