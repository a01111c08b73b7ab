"""Training difficulty predicted out of sample from what a run shows in its first steps.

One row per run (:func:`signals`): the early signals (``EARLY``: λmax at initialization and at the
first recorded step after it, each relative to the stability threshold 2(1+β)/η of the run's
optimizer, on the log scale; the gradient norm at initialization, log; the loss change per step
from initialization to that first recorded step) and the baseline's (``BASELINE``: log η and log
batch size, all a reader knows before training), against three outcomes (``OUTCOMES``): whether the
run failed (diverged, or ended at chance), the optimizer steps it took to reach its source's target
(the step-size study: its train-loss target, a run that never reached it counting the steps it
trained; a study: a share of its median final test accuracy, a run that never reached it counting
one epoch more than it trained; censored either way, so only ranks are read), and its
final test error (runs that learned).

Each outcome is predicted leave-one-configuration-out (:func:`loco_folds`: the runs of one
configuration, all its seeds, are predicted by a model fitted on every other configuration's runs,
so no configuration is ever on both sides): ridge logistic regression for failure (:func:`fit_logistic`),
ridge least squares for log steps and test error (:func:`fit_linear`), features standardized on
the training fold. Scores over the held-out predictions of every run: AUC for failure
(:func:`auc`: Mann–Whitney), Kendall's τ-b for the others; 95% intervals by a cluster bootstrap
over configurations (:func:`cluster_bootstrap`: runs of one configuration share its settings, so
they are resampled together), and the same for the difference between the early signals and the
baseline (paired: the same resampled configurations).
"""
from __future__ import annotations

import math
from typing import Callable, Iterator, Sequence

import numpy as np
import pandas as pd
import scipy.special
import scipy.stats

from ..verdicts import stats, thresholds

EARLY = {"log_ratio_init": "log λmax/threshold at initialization",
         "log_ratio_early": "log λmax/threshold at the first recorded step",
         "log_grad_init": "log ‖∇L‖ at initialization",
         "loss_slope": "loss change per step to the first recorded step"}
BASELINE = {"log_lr": "log η", "log_batch": "log batch size"}
OUTCOMES = {"failed": "failure (diverged or ended at chance)", "log_steps": "steps to the target",
            "test_error": "final test error"}
MEASURED = ("ok", "not converged")  # trajectory points whose λmax is a feature (a Lanczos estimate after its step cap counts)
FAILED = ("diverged", thresholds.DID_NOT_LEARN)  # the run outcomes that count as a failure to train
RIDGE = 1.0  # penalty on the standardized coefficients (not the intercept): keeps a fold with separable failures finite
RESAMPLES = 1999


# ============================================================================ the table

def signals(trajectory: pd.DataFrame, outcomes: pd.DataFrame) -> pd.DataFrame:
    """One row per traced run of ``trajectory`` (``dynamics.trajectory_table`` rows: threshold
    and ratio per point) that ``outcomes`` lists (columns study, run, outcome: the run's outcome
    in words, steps: optimizer steps to the source's target, test_error): study, config, run,
    seed, the ``EARLY`` and ``BASELINE`` features and the ``OUTCOMES`` (steps and test error NaN
    for a run that failed). The early point is the first measured point after the
    initialization; a point whose Lanczos run stopped at its step cap (``not converged``) still
    gives its estimate (its residual is in the trajectory table)."""
    known = outcomes.set_index(["study", "run"])
    rows = []
    for (study, run_id), points in trajectory.groupby(["study", "run"], sort=False):
        if (study, run_id) not in known.index:
            continue
        found = known.loc[(study, run_id)]
        pts = points.sort_values("step")
        measured = pts[pts["status"].isin(MEASURED)]
        init, later = measured[measured["step"] == 0], measured[measured["step"] > 0]
        first = init.iloc[0] if len(init) else None
        early = later.iloc[0] if len(later) else None
        failed = found["outcome"] in FAILED
        rows.append({
            "study": study, "config": pts["config"].iloc[0], "run": run_id, "seed": pts["seed"].iloc[0],
            "log_ratio_init": _log(first, "ratio"), "log_ratio_early": _log(early, "ratio"),
            "log_grad_init": _log(first, "grad_norm"),
            "loss_slope": ((early["loss"] - first["loss"]) / early["step"]) if first is not None and early is not None
            else math.nan,
            "log_lr": math.log(float(pts["lr"].iloc[0])), "log_batch": math.log(float(pts["batch_size"].iloc[0])),
            "failed": float(failed),
            "log_steps": math.nan if failed or not found["steps"] > 0 else math.log(found["steps"]),
            "test_error": math.nan if failed else float(found["test_error"])})
    return pd.DataFrame(rows, columns=["study", "config", "run", "seed", *EARLY, *BASELINE, *OUTCOMES])


def _log(point: pd.Series | None, column: str) -> float:
    """log of a point's positive value; NaN without the point or a positive value."""
    return math.log(point[column]) if point is not None and point[column] > 0 else math.nan


# ============================================================================ models

def loco_folds(configs: Sequence[str]) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(train, test) index arrays, one fold per configuration: test holds every row of it, train
    every row of the others."""
    labels = np.asarray(configs, dtype=object)
    for config in dict.fromkeys(labels):
        test = labels == config
        yield np.flatnonzero(~test), np.flatnonzero(test)


def _standardize(train: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both with the train fold's column means and SDs (a constant column becomes 0), with an
    intercept column first."""
    mean, sd = train.mean(axis=0), train.std(axis=0)
    sd = np.where(sd > 0, sd, 1.0)
    add = lambda x: np.column_stack([np.ones(len(x)), (x - mean) / sd])  # noqa: E731
    return add(train), add(test)


def fit_linear(x: np.ndarray, y: np.ndarray, ridge: float = RIDGE) -> np.ndarray:
    """Ridge least squares with an unpenalized intercept (column 0 of ``x``): coefficients."""
    penalty = ridge * np.eye(x.shape[1])
    penalty[0, 0] = 0.0
    return np.linalg.solve(x.T @ x + penalty, x.T @ y)


def fit_logistic(x: np.ndarray, y: np.ndarray, ridge: float = RIDGE, iterations: int = 100, tol: float = 1e-10
                 ) -> np.ndarray:
    """Ridge logistic regression by Newton's method (unpenalized intercept, column 0 of ``x``):
    maximizes Σ [y log p + (1 − y) log(1 − p)] − ridge/2 · ‖β₁..‖²; at ridge 0 it is the maximum
    likelihood fit (statsmodels ``Logit``)."""
    beta = np.zeros(x.shape[1])
    penalty = ridge * np.eye(x.shape[1])
    penalty[0, 0] = 0.0
    for _ in range(iterations):
        p = scipy.special.expit(x @ beta)
        gradient = x.T @ (y - p) - penalty @ beta
        hessian = (x * (p * (1 - p))[:, None]).T @ x + penalty
        step = np.linalg.solve(hessian, gradient)
        beta += step
        if np.max(np.abs(step)) < tol:
            break
    return beta


def held_out(table: pd.DataFrame, features: Sequence[str], outcome: str, ridge: float = RIDGE) -> pd.Series:
    """Leave-one-configuration-out predictions of ``outcome`` from ``features`` for every row with
    all of them (index: the table's). A training fold whose outcome does not vary predicts that
    value for the held-out configuration."""
    rows = table.dropna(subset=[*features, outcome])
    x, y = rows[list(features)].to_numpy(float), rows[outcome].to_numpy(float)
    found = pd.Series(np.nan, index=rows.index)
    for train, test in loco_folds(rows["config"].astype(str) + "/" + rows["study"].astype(str)):
        if len(train) == 0:
            continue
        if np.all(y[train] == y[train][0]):
            found.iloc[test] = y[train][0]
            continue
        xs, xt = _standardize(x[train], x[test])
        if outcome == "failed":
            found.iloc[test] = scipy.special.expit(xt @ fit_logistic(xs, y[train], ridge))
        else:
            found.iloc[test] = xt @ fit_linear(xs, y[train], ridge)
    return found


# ============================================================================ scores

def auc(score: np.ndarray, label: np.ndarray) -> float:
    """The area under the ROC curve: the chance that a random positive scores above a random
    negative (ties count half; Mann–Whitney U / (n₁ n₀)); NaN without both classes."""
    score, label = np.asarray(score, float), np.asarray(label, bool)
    positives, negatives = score[label], score[~label]
    if not len(positives) or not len(negatives):
        return math.nan
    return float(scipy.stats.mannwhitneyu(positives, negatives).statistic / (len(positives) * len(negatives)))


def kendall(prediction: np.ndarray, outcome: np.ndarray) -> float:
    """Kendall's τ-b; NaN with fewer than 3 pairs or a constant side."""
    if len(prediction) < 3 or np.all(prediction == prediction[0]) or np.all(outcome == outcome[0]):
        return math.nan
    return float(scipy.stats.kendalltau(prediction, outcome).statistic)


def cluster_bootstrap(clusters: Sequence[str], statistic: Callable[[np.ndarray], float], level: float = stats.LEVEL,
                      resamples: int = RESAMPLES, seed: int = 0) -> stats.Interval:
    """``statistic(rows)`` on all rows, with a percentile interval from resampling the clusters
    (every row of a drawn cluster, as often as it is drawn; ``rows`` are indices into
    ``clusters``). Resamples where the statistic is NaN are dropped; fewer than 3 clusters, or
    more than half the resamples dropped: no interval. n = clusters (G). The percentile distances
    from the estimate are widened by t_{G−1}/z · √(G/(G−1)): the bootstrap's variance of a mean
    over G clusters is (G−1)/G of the true one, and G − 1 degrees of freedom are what a t interval
    would have; unwidened, the interval covered a known mean in 93% of designs of 24
    configurations of 3 runs (tests/test_prediction.py), widened within 93–97%."""
    labels = np.asarray(clusters, dtype=object)
    names = list(dict.fromkeys(labels))
    members = [np.flatnonzero(labels == c) for c in names]
    estimate = statistic(np.arange(len(labels)))
    method = "cluster bootstrap over configurations (percentile, widened for G clusters)"
    if len(names) < stats.MIN_UNITS or not math.isfinite(estimate):
        return stats.Interval(estimate, math.nan, math.nan, len(names), level, method)
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(resamples):
        drawn = rng.integers(0, len(names), len(names))
        value = statistic(np.concatenate([members[i] for i in drawn]))
        if math.isfinite(value):
            values.append(value)
    if len(values) < resamples / 2:
        return stats.Interval(estimate, math.nan, math.nan, len(names), level, method)
    low, high = np.quantile(values, [(1 - level) / 2, (1 + level) / 2])
    g = len(names)
    widen = (scipy.stats.t.ppf((1 + level) / 2, g - 1) / scipy.stats.norm.ppf((1 + level) / 2)) * math.sqrt(g / (g - 1))
    return stats.Interval(estimate, float(estimate - widen * (estimate - low)), float(estimate + widen * (high - estimate)),
                          g, level, method)


def scores(table: pd.DataFrame, early: Sequence[str] = tuple(EARLY), baseline: Sequence[str] = tuple(BASELINE),
           level: float = stats.LEVEL) -> pd.DataFrame:
    """Per outcome: the held-out score (AUC for failure, τ otherwise) of the early signals and of
    the baseline, each with its interval, and their difference (early − baseline) with a paired
    interval; runs and configurations scored (those with every feature of both models and the
    outcome), and for failure the failed runs and the configurations they belong to."""
    rows = []
    for outcome in OUTCOMES:
        usable = table.dropna(subset=[*early, *baseline, outcome])
        if usable.empty:
            rows.append({"outcome": outcome, "runs": 0, "configs": 0})
            continue
        ours = held_out(usable, early, outcome).to_numpy(float)
        base = held_out(usable, baseline, outcome).to_numpy(float)
        truth = usable[outcome].to_numpy(float)
        score = (lambda p, i: auc(p[i], truth[i])) if outcome == "failed" else (lambda p, i: kendall(p[i], truth[i]))
        clusters = (usable["config"].astype(str) + "/" + usable["study"].astype(str)).to_numpy()
        found = {name: cluster_bootstrap(clusters, lambda i, p=p: score(p, i), level)
                 for name, p in (("early", ours), ("baseline", base))}
        found["difference"] = cluster_bootstrap(clusters, lambda i: score(ours, i) - score(base, i), level)
        rows.append({"outcome": outcome, "score": "AUC" if outcome == "failed" else "Kendall τ",
                     "runs": len(usable), "configs": len(set(clusters)),
                     "positives": int(truth.sum()) if outcome == "failed" else None,
                     "positive_configs": len(set(clusters[truth > 0])) if outcome == "failed" else None,
                     **{f"{name}{suffix}": getattr(i, attr) for name, i in found.items()
                        for suffix, attr in (("", "estimate"), ("_low", "low"), ("_high", "high"))}})
    return pd.DataFrame(rows)


def judged(found: pd.DataFrame) -> list[dict]:
    """Each outcome of a ``scores`` frame read for a reader: words (``OUTCOMES``), score, runs,
    configs, state ("scored", "no run failed" or "not scored"), and when scored the early signals'
    and the difference's intervals (``stats.Interval``), their side of chance and of 0 (+1, −1,
    0) and, for failure, the failed runs and their configurations."""
    rows = []
    for _, row in found.iterrows():
        runs = int(row.get("runs") or 0)
        entry = {"outcome": row["outcome"], "words": OUTCOMES[row["outcome"]], "score": row.get("score", "—"),
                 "runs": runs, "configs": int(row["configs"]) if runs else 0, "early": None, "difference": None}
        if row["outcome"] == "failed" and runs and not row.get("positives"):
            rows.append({**entry, "state": "no run failed"})
            continue
        if not runs or pd.isna(row.get("early")) or pd.isna(row.get("baseline")):
            rows.append({**entry, "state": "not scored"})
            continue
        early = stats.Interval(row["early"], row["early_low"], row["early_high"], row["configs"], stats.LEVEL, "")
        diff = stats.Interval(row["difference"], row["difference_low"], row["difference_high"], row["configs"],
                              stats.LEVEL, "")
        rows.append({**entry, "state": "scored", "early": early, "difference": diff,
                     "vs_chance": early.side(0.5 if row["outcome"] == "failed" else 0.0), "vs_baseline": diff.side(0.0),
                     "failed_runs": int(row["positives"]) if row["outcome"] == "failed" else None,
                     "failed_configs": int(row["positive_configs"]) if row["outcome"] == "failed" else None})
    return rows


def summary(found: pd.DataFrame) -> str:
    """What a ``scores`` frame says, in two to four generated sentences: which outcomes the early
    signals predict better than chance out of sample, for which they beat or lose to the baseline
    of η and batch size, and how many configurations the failure scores rest on."""
    rows = judged(found)
    scored = [r for r in rows if r["state"] == "scored"]
    if not rows:
        return "No trajectory was measured, so there is nothing to predict from."
    if not scored:
        return (f"None of the {len(rows)} outcomes could be scored out of sample: too few runs or configurations, or "
                "no run failed.")
    better = [r["words"] for r in scored if r["vs_chance"] > 0]
    beats = [r["words"] for r in scored if r["vs_baseline"] > 0]
    loses = [r["words"] for r in scored if r["vs_baseline"] < 0]
    text = (f"Out of sample (each configuration predicted by models fitted on the others), the first points of "
            f"training predict {len(better)} of the {len(scored)} scored outcome{'s' if len(scored) != 1 else ''} "
            f"better than chance{': ' + stats.listed(better) if better else ''}. ")
    if beats or loses:
        text += (f"Against a baseline that knows only η and the batch size they do better for "
                 f"{stats.listed(beats) or 'none'} and worse for {stats.listed(loses) or 'none'}.")
    else:
        text += ("Against a baseline that knows only η and the batch size they do neither better nor worse: every "
                 "95% interval of the difference includes 0.")
    for r in scored:
        if r["failed_runs"] is not None:
            text += (f" The {r['failed_runs']} failed runs come from {r['failed_configs']} "
                     f"configuration{'s' if r['failed_configs'] != 1 else ''}, which the failure scores rest on.")
    if not better:
        text += " On this evidence optimization difficulty is not predicted from early training."
    return text
