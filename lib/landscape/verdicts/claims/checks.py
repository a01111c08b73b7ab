"""The claim checks: each reads the frames its claim needs and returns the :class:`Comparison`
records its text calls for (one per stated direction or size).
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np
import pandas as pd

from .. import stats
from .records import ABOVE, BELOW, Comparison, Group, MIN_PAIRS, MIN_TAU_UNITS, UNDECIDABLE, WITHIN
from .deciding import (compare, Context, _epochs_to_reach, _finals, _group, measured, MissingEvidence, one_group,
                       _per_seed, _positive, share, summary, two_groups)

# ============================================================================ history checks

def converges_faster(ctx: Context, history: pd.DataFrame, faster: str, slower: str) -> list[Comparison]:
    """``faster`` converges faster than ``slower``: higher val (test) accuracy after epoch 1, and
    (with more than one epoch) fewer epochs to reach the lower of the two configurations' mean
    final val accuracies (a seed that never reaches it counts as one epoch past the last)."""
    first = {c: _per_seed(history, c, "test_acc", "epoch 1", epoch=1) for c in (faster, slower)}
    parts = [two_groups(ctx, "epoch-1 val acc", faster, slower, first[faster], first[slower])]
    epochs = int(history["epoch"].max())
    if epochs > 1:
        threshold = min(float(_finals(history, c)["test_acc"].mean()) for c in (faster, slower))
        reach = {}
        for c in (faster, slower):
            seeds = history[history["config"] == c].sort_values("epoch").groupby("seed")
            reach[c] = [e if e is not None else epochs + 1 for e in
                        (_epochs_to_reach(rows, threshold) for _, rows in seeds)]
        parts.append(two_groups(ctx, f"epochs to reach val acc {stats.number_text(threshold)} (the lower mean final "
                                "one)", slower, faster, reach[slower], reach[faster]))
    return parts


def generalizes_better(ctx: Context, history: pd.DataFrame, better: str, worse: str) -> list[Comparison]:
    """``better`` generalizes better than ``worse``: a higher final val (test) accuracy and a
    smaller final generalization gap, measured in evaluation mode (train probe set accuracy −
    val accuracy, both on the final weights). Two parts: they can disagree (mixed)."""
    fb, fw = _finals(history, better), _finals(history, worse)
    parts = []
    for what, column, a, b, va, vb in (("final val acc", "test_acc", better, worse, fb, fw),
                                       ("final eval-mode gap", "eval_gap", worse, better, fw, fb)):
        if va[column].isna().all() or vb[column].isna().all():
            raise MissingEvidence(f"no {what}")
        parts.append(two_groups(ctx, what, a, b, va[column].to_numpy(float), vb[column].to_numpy(float)))
    return parts


def _status_rows(runs: pd.DataFrame, config: str) -> pd.DataFrame:
    rows = runs[runs["config"] == config]
    if rows.empty:
        raise MissingEvidence(f"configuration {config!r} was not trained")
    return rows


def diverges(ctx: Context, runs: pd.DataFrame, diverged: list) -> list[Comparison]:
    """The configurations of ``diverged`` diverge (a non-finite loss stops them) in most seeds:
    the share of seeds that diverged, with its exact 95% interval, above 'more_often'."""
    parts = []
    for config in _group(diverged):
        rows = _status_rows(runs, config)
        rows = rows[rows["status"] != "failed"]
        parts.append(share(ctx, "share of seeds that diverged", config, int((rows["status"] == "diverged").sum()),
                           len(rows)))
    return parts


def does_not_learn(ctx: Context, history: pd.DataFrame, runs: list, num_classes: int = 10) -> list[Comparison]:
    """Each configuration ends at chance: the 95% interval over seeds of the final val (test)
    accuracy lies within 'chance_accuracy' of 1/num_classes and that of the val loss within
    'chance_loss' nats of ln(num_classes) (a uniform prediction); an interval wholly outside
    contradicts it."""
    chance, uniform = 1.0 / num_classes, float(np.log(num_classes))
    acc_tol, loss_tol = ctx.value("chance_accuracy"), ctx.value("chance_loss")
    parts = []
    for config in _group(runs):
        finals = _finals(history, config)
        parts.append(one_group(ctx, "final val acc", config, finals["test_acc"].to_numpy(float), WITHIN,
                               [chance - acc_tol, chance + acc_tol], "chance_accuracy"))
        parts.append(one_group(ctx, "final val loss (nats)", config, finals["test_loss"].to_numpy(float), WITHIN,
                               [uniform - loss_tol, uniform + loss_tol], "chance_loss"))
    return parts


def _scored(history: pd.DataFrame, runs: pd.DataFrame, config: str, chance: float | None) -> list[float]:
    """Final val accuracy per seed of ``config``; a diverged seed scores ``chance`` (or is left
    out when ``chance`` is None)."""
    rows = _status_rows(runs, config)
    finals = _finals(history, config).set_index("run") if (history["config"] == config).any() else pd.DataFrame()
    values = []
    for _, row in rows.sort_values("seed").iterrows():
        if row["status"] == "diverged" and chance is not None:
            values.append(chance)
        elif row["status"] == "completed" and row["run"] in finals.index:
            values.append(float(finals.loc[row["run"], "test_acc"]))
    return values


def main_effect_larger(ctx: Context, history: pd.DataFrame, runs: pd.DataFrame, larger: list, smaller: list,
                       num_classes: int = 10) -> list[Comparison]:
    """In a factorial ablation, removing factor ``larger`` costs more final val accuracy than
    removing factor ``smaller``. Each factor is [[configurations with it], [the same without
    it]]; its main effect is mean(with) − mean(without) of the configuration means, and the
    claim is decided by the Welch interval of the difference of the two main effects (a linear
    contrast of configuration means). A diverged seed scores chance (1/num_classes): a network
    that cannot be trained is as useless as one that does not learn; the comparison says whether
    the verdict rests on that choice."""
    chance = 1.0 / num_classes
    configs = list(dict.fromkeys(_group([larger, smaller])))
    weights = dict.fromkeys(configs, 0.0)
    for sign, (with_, without) in ((1.0, larger), (-1.0, smaller)):
        for side, factor in ((_group(with_), 1.0), (_group(without), -1.0)):
            for c in side:
                weights[c] += sign * factor / len(side)

    def decide(score: float | None, why: str = "") -> Comparison:
        scored = {c: _scored(history, runs, c, score) for c in configs}
        found = stats.contrast([scored[c] for c in configs], [weights[c] for c in configs])
        groups = [Group(c, len(v), stats.mean_ci(v)) for c, v in scored.items()]
        return compare(ctx, "final val acc: main effect of the larger-claimed factor minus the smaller-claimed one",
                       groups, "seeds", "contrast", found, ABOVE, [0.0], why=why)

    diverged = sum(int((_status_rows(runs, c)["status"] == "diverged").sum()) for c in configs)
    if not diverged:
        return [decide(chance)]
    alternative = decide(None)
    if alternative.raw == UNDECIDABLE:
        why = (f"{diverged} diverged seed(s) scored as chance ({stats.number_text(chance)}); without that choice "
               "the contrast cannot be formed")
    else:
        why = (f"{diverged} diverged seed(s) scored as chance ({stats.number_text(chance)}); leaving them out "
               f"gives {alternative.interval.text(4)}, {alternative.raw}")
    return [decide(chance, why)]


# ============================================================================ probe checks
# Evidence frames come from ``landscape.probes`` (see ``ProbeResults.evidence``), one row per
# run (``config``, ``seed``) or pair of runs.

def _noise_means(noise: pd.DataFrame, config: str, metric: str, scale: str = "absolute") -> pd.DataFrame:
    """seed x σ: the mean over draws of ``metric`` under ``scale`` weight noise."""
    rows = noise[(noise["config"] == config) & (noise["metric"] == metric) & (noise["scale"] == scale)]
    if rows.empty:
        raise MissingEvidence(f"no {scale} weight-noise {metric} for configuration {config!r}")
    return rows.pivot_table(index="seed", columns="sigma", values="mean").sort_index()


def more_noise_robust(ctx: Context, noise: pd.DataFrame, robust: str, fragile: str, scale: str = "absolute"
                      ) -> list[Comparison]:
    """``robust`` loses less accuracy than ``fragile`` under ``scale`` weight noise (ours:
    absolute σ; the study's: σ relative to each weight): per seed the accuracy drop from σ = 0,
    averaged over the σ > 0 of the grid (mean over draws), compared between the configurations
    (Welch)."""
    drops = {}
    for c in (robust, fragile):
        acc = _noise_means(noise, c, "accuracy", scale)
        if 0.0 not in acc.columns or not (acc.columns > 0).any():
            raise MissingEvidence("the noise probe needs σ = 0 and at least one σ > 0")
        drops[c] = acc.rsub(acc[0.0], axis=0).loc[:, acc.columns > 0].mean(axis=1).to_numpy(float)
    return [two_groups(ctx, f"accuracy drop from σ = 0, mean over the σ > 0 of the grid ({scale} noise)", fragile,
                       robust, drops[fragile], drops[robust])]


def _slice_rises(frame: pd.DataFrame, config: str, direction: str, split: str = "train") -> np.ndarray:
    rows = frame[(frame["config"] == config) & (frame["direction"] == direction) & (frame["split"] == split)]
    if rows.empty:
        raise MissingEvidence(f"no {direction} slice for configuration {config!r}")
    rises = []
    for _, seed_rows in rows.groupby("seed"):
        centre = seed_rows.loc[seed_rows["alpha"].abs().idxmin(), "loss"]
        rises.append(float((seed_rows[seed_rows["alpha"] != 0]["loss"] - centre).mean()))
    return np.asarray(rises)


def steeper_slice(ctx: Context, slice1d: pd.DataFrame, steeper: str, flatter: str, direction: str = "filter"
                  ) -> list[Comparison]:
    """``steeper``'s 1D slice rises more than ``flatter``'s: per seed the mean over the α grid of
    L(θ + α d) − L(θ) on the train probe set along one ``direction`` kind (ours: filter-normalized;
    the study's: an unnormalized random direction). A rise can be negative: a difference of means."""
    return [two_groups(ctx, f"mean loss rise along the {direction} direction (nats)", steeper, flatter,
                       _slice_rises(slice1d, steeper, direction), _slice_rises(slice1d, flatter, direction))]


def _order(ctx: Context, name: str, values: Callable[[str], np.ndarray], order: list) -> list[Comparison]:
    """Every earlier group of ``order`` above every later one (ratios of geometric means)."""
    groups = [_group(g) for g in order]
    pooled = {"/".join(g): np.concatenate([values(c) for c in g]) for g in groups}
    names = list(pooled)
    return [two_groups(ctx, name, names[i], names[j], pooled[names[i]], pooled[names[j]], positive=True)
            for i in range(len(names)) for j in range(i + 1, len(names))]


def lambda_max_order(ctx: Context, hessian: pd.DataFrame, order: list, method: str = "lanczos") -> list[Comparison]:
    """The configurations of ``order`` (ids, or lists pooled as one group) have descending top
    Hessian eigenvalues: ours by Lanczos on the train probe set, the study's (``method:
    study``) by power iteration on one mini-batch."""
    what = "λmax (Lanczos, train probe set)" if method == "lanczos" else "λmax (study's method: one mini-batch)"
    return _order(ctx, what, lambda c: _per_seed(hessian, c, "lambda_max", f"{method} λmax", method=method), order)


def sharpness_order(ctx: Context, sharpness: pd.DataFrame, order: list, kind: str = "sam",
                    column: str = "sharpness") -> list[Comparison]:
    """The configurations of ``order`` have descending ε-sharpness of ``kind`` (``sam`` or
    ``asam``): ours after the projected ascent, the study's (``column: first_order``) at SAM's
    single first-order step (train probe set)."""
    what = f"{kind.upper()} sharpness ({'projected ascent' if column == 'sharpness' else 'first-order step'}, nats)"
    return _order(ctx, what, lambda c: _per_seed(sharpness, c, column, f"{kind} sharpness", kind=kind), order)


def well_conditioned(ctx: Context, hessian: pd.DataFrame, runs: list) -> list[Comparison]:
    """Each configuration is well-conditioned in most seeds: the share of seeds whose Hessian on
    the train probe set is positive definite with λmax/λmin ≤ 'well_conditioned' lies above
    'more_often' (exact 95% interval). Negative curvature (the condition number is then
    undefined) or a larger ratio counts against; a seed whose smallest eigenvalue did not
    converge is left out."""
    limit = ctx.value("well_conditioned")
    parts = []
    for config in _group(runs):
        rows = hessian[(hessian["config"] == config) & (hessian["method"] == "lanczos")]
        if rows.empty:
            raise MissingEvidence(f"no Hessian for configuration {config!r}")
        known = rows[rows["condition_number"].notna() | rows["lambda_min"].notna()]
        good = int((known["condition_number"] <= limit).sum())
        parts.append(share(ctx, f"share of seeds with 0 < κ ≤ {limit:g}", config, good, len(known)))
    return parts


def least_flat(ctx: Context, flatness: pd.DataFrame, least: list, others: list) -> list[Comparison]:
    """The configurations of ``least`` have a larger flatness |ΔL| (the study's: mean over noise
    draws) than each group of ``others`` (ratio of geometric means)."""
    def values(group: list[str]) -> np.ndarray:
        return np.concatenate([_per_seed(flatness, c, "mean", "flatness") for c in group])

    top = _group(least)
    return [two_groups(ctx, "|ΔL| under weight noise (nats)", "/".join(top), "/".join(group), values(top),
                       values(group), positive=True) for group in [_group(g) for g in others]]


def flatter_generalizes_better(ctx: Context, hessian: pd.DataFrame, history: pd.DataFrame, runs: list
                               ) -> list[Comparison]:
    """Across the seeds of the configurations of ``runs``, a lower λmax (Lanczos) goes with a
    higher final val accuracy: Kendall's τ between the two is negative, with a paired-bootstrap
    95% interval (at least :data:`MIN_TAU_UNITS` seeds)."""
    lams, accs = [], []
    for config in _group(runs):
        lam = hessian[(hessian["config"] == config) & (hessian["method"] == "lanczos")].set_index("run")["lambda_max"]
        finals = _finals(history, config).set_index("run")["test_acc"]
        both = lam.index.intersection(finals.index)
        lams += list(lam[both])
        accs += list(finals[both])
    found = stats.kendall_tau(lams, accs)
    group = Group("/".join(_group(runs)), len(lams), summary(lams, positive=True))
    return [compare(ctx, "λmax (Lanczos) against final val acc over seeds", [group], "seeds", "Kendall τ", found,
                    BELOW, [0.0], min_units=MIN_TAU_UNITS)]


def lambda_max_spread(ctx: Context, hessian: pd.DataFrame, runs: list, flatter: str | None = None,
                      method: str = "lanczos") -> list[Comparison]:
    """Seeds of one configuration land in minima of different sharpness: the spread of λmax over
    seeds (SD of log λmax, chi-square interval) lies above 'different'. With ``flatter``
    (``first`` or ``second``), the claim also names which of the study's two networks is flatter:
    that part compares the configuration's first two seeds (the study's pair) as a measurement of
    two networks (:func:`measured`)."""
    config = _group(runs)[0]
    rows = hessian[(hessian["config"] == config) & (hessian["method"] == method)].sort_values("seed")
    if rows.empty:
        raise MissingEvidence(f"no {method} λmax for configuration {config!r}")
    values = rows["lambda_max"].to_numpy(float)
    what = "λmax (Lanczos)" if method == "lanczos" else "λmax (study's method)"
    positive = _positive(values)
    spread = (stats.log_sd_ci(values) if positive else
              stats.Interval(math.nan, math.nan, math.nan, len(values), stats.LEVEL, "chi-square"))
    parts = [compare(ctx, f"spread of {what} over seeds", [Group(config, len(values), summary(values, True))],
                     "seeds", "SD of log λmax", spread, ABOVE, [ctx.value("different")], "different", "log",
                     why="" if positive else "λmax ≤ 0 in a seed (a point that curves down): no spread on logs")]
    if flatter is not None:
        if len(values) < 2:
            raise MissingEvidence(f"the study's pair needs two seeds of {config!r}")
        seeds = rows["seed"].tolist()
        first, second = f"{config} seed {seeds[0]}", f"{config} seed {seeds[1]}"
        parts.append(measured(ctx, f"{what} of the study's pair", first, second, values[0], values[1],
                              BELOW if flatter == "first" else ABOVE))
    return parts


BARRIER_FLOOR = 1e-3  # nats: a barrier at or below 0 is taken as this on the log scale


def loss_barrier(ctx: Context, barriers: pd.DataFrame, configs: list, size: str = "barrier",
                 smallest: str | None = None, bn: str = "recompute") -> list[Comparison]:
    """Every configuration's minima are separated by a loss barrier of at least the ``size``
    threshold ('barrier' or 'high_barrier'): on each split the geometric mean over its disjoint
    seed pairs (at least :data:`MIN_PAIRS`; a barrier ≤ 0 counts as :data:`BARRIER_FLOOR`) lies
    above it, its interval on logs. With ``smallest``, that configuration's barrier is also below
    every other one's (ratio of geometric means). BatchNorm statistics are recomputed at each
    point of the path (ours; the study interpolated them: ``bn: interpolate``); a network without
    BatchNorm has one path."""
    parts, by_config = [], {}
    for config in _group(configs):
        rows = barriers[barriers["config"] == config]
        if rows.empty:
            raise MissingEvidence(f"no barrier for configuration {config!r}")
        treatment = bn if bn in set(rows["bn"]) else "interpolate"
        rows = rows.assign(loss_barrier=rows["loss_barrier"].clip(lower=BARRIER_FLOOR))
        rows = rows[rows["bn"] == treatment]
        by_config[config] = rows
        for split, split_rows in rows.groupby("split", sort=False):
            parts.append(one_group(ctx, f"{split} loss barrier (BN {treatment}; nats)", config,
                                   split_rows["loss_barrier"].to_numpy(float), ABOVE, [ctx.value(size)], size,
                                   positive=True, unit="disjoint pairs", min_units=MIN_PAIRS))
    if smallest is not None:
        if smallest not in by_config:
            raise MissingEvidence(f"configuration {smallest!r} is not among the configurations")
        mine = by_config[smallest]
        for other, rows in by_config.items():
            if other == smallest:
                continue
            for split in dict.fromkeys(mine["split"]):
                parts.append(two_groups(ctx, f"{split} loss barrier (nats)", other, smallest,
                                        rows[rows["split"] == split]["loss_barrier"].to_numpy(float),
                                        mine[mine["split"] == split]["loss_barrier"].to_numpy(float), positive=True,
                                        unit="disjoint pairs", min_units=MIN_PAIRS))
    return parts


def noise_thresholds(ctx: Context, noise: pd.DataFrame, runs: list, small: list = (0.01, 0.02),
                     medium: list = (), large: float = 0.1) -> list[Comparison]:
    """Absolute weight noise: at every σ in ``small`` the relative change of the mean test loss,
    |L(σ) − L(0)| / L(0), stays below 'barely_changes'; at every σ in ``medium`` it degrades
    slightly (the relative change lies above 'barely_changes' and the accuracy drop below
    'slight'); at σ = ``large`` the accuracy drop lies above 'collapses'. Relative changes are
    positive: geometric means over seeds."""
    barely, slight, collapse = ctx.value("barely_changes"), ctx.value("slight"), ctx.value("collapses")
    parts = []
    for config in _group(runs):
        loss, acc = _noise_means(noise, config, "loss"), _noise_means(noise, config, "accuracy")
        for sigma in [0.0, *map(float, small), *map(float, medium), float(large)]:
            if sigma not in loss.columns:
                raise MissingEvidence(f"σ {sigma:g} was not measured")

        def change(sigma: float) -> np.ndarray:
            return ((loss[sigma] - loss[0.0]).abs() / loss[0.0]).to_numpy(float)

        def drop(sigma: float) -> np.ndarray:
            return (acc[0.0] - acc[sigma]).to_numpy(float)

        for sigma in map(float, small):
            parts.append(one_group(ctx, f"σ {sigma:g}: relative test-loss change", config, change(sigma), BELOW,
                                   [barely], "barely_changes", positive=True))
        for sigma in map(float, medium):
            parts.append(one_group(ctx, f"σ {sigma:g}: relative test-loss change", config, change(sigma), ABOVE,
                                   [barely], "barely_changes", positive=True))
            parts.append(one_group(ctx, f"σ {sigma:g}: test-accuracy drop", config, drop(sigma), BELOW, [slight],
                                   "slight"))
        parts.append(one_group(ctx, f"σ {float(large):g}: test-accuracy drop", config, drop(float(large)), ABOVE,
                               [collapse], "collapses"))
    return parts
