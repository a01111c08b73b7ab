"""Rank statistics of a generalization measure over a set of models, as the field computes them:

- Jiang et al. (2020) §5, the granulated Kendall τ: for each factor, the models are grouped so
  that only that factor varies within a group (a *grouping*: the column that varies and the
  columns held fixed); ψ is the mean over groups of the within-group τ-b, with a bootstrap CI over
  groups when there are at least ``MIN_GROUPS`` (with fewer, each within-group τ of two models is
  ±1 and a few that agree would give an interval of no width), and Ψ the mean of ψ over the
  factors that have a group, with a stratified bootstrap interval (each factor's groups resampled
  on their own: ``stats.mean_of_means_ci``) when every factor has MIN_GROUPS groups
  (:func:`granulated`). A measure that only tracks what is held fixed is
  constant within every group and gets ψ = 0: a within-group τ with a constant measure or target
  counts as 0 (no pair is concordant or discordant).
- Jiang et al. (2020) §6, the conditional mutual information test: over every ordered pair of
  distinct models, V_μ = sign(μ₁ − μ₂) and V_g = sign(g₁ − g₂) (three values: −1, 0, 1); for a
  set S of at most ``MAX_CONDITIONING`` hyperparameters, U_S is the pair's values of S (both
  models'). Î(S) = I(V_μ; V_g | U_S) / H(V_g | U_S), in [0, 1]: 1 when the measure orders every
  pair as the gap does, 0 when, once S is known, its order tells nothing about the gap's (a
  measure that only tracks the learning rate scores 0 with S = {learning rate}). A measure's score
  is the minimum over every such S (:func:`conditional_mi`); a set whose U_S fixes V_g (H = 0)
  leaves nothing to explain and is skipped.
- Dziugaite et al. (2020), the robust view: an *environment* is a pair of configurations that
  differ in exactly one hyperparameter; over the pairs of their seeds, the sign agreement
  E[sign(Δμ)·sign(Δg)] lies in [−1, 1] (1: the measure predicts which configuration generalizes
  worse every time). Environments whose gap difference is not distinguishable from seed noise
  (its 95% Welch interval over the two configurations' seeds contains 0) are listed and left out of the summary, which
  gives the distribution of the agreement over the rest and its worst case
  (:func:`sign_agreement`, :func:`robust_summary`).

Conventions: ``models`` is a frame with one row per trained model: a column per hyperparameter
(``factors``), ``seed``, the measure columns and the target (the generalization gap); rows with
a NaN measure or target are left out. Logs are natural (nats); the normalization makes the base
irrelevant.
"""
from __future__ import annotations

import itertools
import math
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import scipy.stats

from . import stats

MAX_CONDITIONING = 2  # hyperparameters conditioned on at once (Jiang et al.: at most 2)
MIN_GROUPS = 5  # groups a ψ needs for an interval
Grouping = tuple[str, Sequence[str]]  # (the column that varies within a group, the columns held fixed)


def group_tau(x: np.ndarray, y: np.ndarray) -> float | None:
    """Kendall's τ-b within one group (pairs with a NaN dropped); None with fewer than 2 pairs;
    0.0 when x or y is constant (no association can be seen)."""
    keep = ~(np.isnan(x) | np.isnan(y))
    x, y = x[keep], y[keep]
    if len(x) < 2:
        return None
    if np.all(x == x[0]) or np.all(y == y[0]):
        return 0.0
    return float(scipy.stats.kendalltau(x, y).statistic)


def groups_where(models: pd.DataFrame, grouping: Grouping) -> list[pd.DataFrame]:
    """The groups of ``models`` that agree in every fixed column of ``grouping`` and hold at least
    two values of its varying column."""
    varying, fixed = grouping
    if not fixed:
        return [models] if models[varying].nunique() >= 2 else []
    return [g for _, g in models.groupby(list(fixed), sort=True, dropna=False) if g[varying].nunique() >= 2]


def granulated(models: pd.DataFrame, measure: str, target: str, groupings: Mapping[str, Grouping],
               level: float = stats.LEVEL) -> dict[str, stats.Interval]:
    """ψ per factor of ``groupings`` (the mean within-group τ of ``measure`` with ``target``,
    bootstrap CI over groups from MIN_GROUPS groups on; n = groups) and ``"all"``: Ψ, the mean of
    the factors' ψ (n = factors with a group; an interval when each has MIN_GROUPS groups). A
    factor without a group is left out."""
    found: dict[str, stats.Interval] = {}
    every: list[list[float]] = []
    for factor, grouping in groupings.items():
        taus = [t for g in groups_where(models, grouping)
                if (t := group_tau(g[measure].to_numpy(float), g[target].to_numpy(float))) is not None]
        every += [taus] if taus else []
        if len(taus) >= MIN_GROUPS:
            ci = stats.bootstrap_ci(taus, np.mean, level=level)
            found[factor] = stats.Interval(ci.estimate, ci.low, ci.high, len(taus), level, "mean τ over groups, " + ci.method)
        elif taus:
            found[factor] = stats.Interval(float(np.mean(taus)), math.nan, math.nan, len(taus), level,
                                           "mean τ over groups")
    if every and min(len(t) for t in every) >= MIN_GROUPS:
        psi = stats.mean_of_means_ci(every, level)
        found["all"] = stats.Interval(psi.estimate, psi.low, psi.high, len(every), level, "mean ψ over factors, "
                                      + psi.method)
    elif found:
        psi = float(np.mean([i.estimate for i in found.values()]))
        found["all"] = stats.Interval(psi, math.nan, math.nan, len(found), level, "mean ψ over factors")
    return found


def _entropy(counts: np.ndarray) -> float:
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log(p)).sum())


def _conditioned(pairs: pd.DataFrame, by: list[str]) -> tuple[float, float]:
    """(I(V_μ; V_g | U), H(V_g | U)) over ``pairs`` grouped by the columns ``by`` (U)."""
    groups = pairs.groupby(by, sort=False) if by else [((), pairs)]
    total, info, entropy = len(pairs), 0.0, 0.0
    for _, group in groups:
        weight = len(group) / total
        joint = pd.crosstab(group["v_measure"], group["v_target"]).to_numpy(float)
        h_m, h_g = _entropy(joint.sum(axis=1)), _entropy(joint.sum(axis=0))
        info += weight * (h_m + h_g - _entropy(joint.ravel()))
        entropy += weight * h_g
    return info, entropy


def sign_pairs(models: pd.DataFrame, measure: str, target: str, factors: Sequence[str]) -> pd.DataFrame:
    """Every ordered pair of distinct models: ``v_measure``, ``v_target`` (signs of the
    differences) and, per factor f, ``f_1`` and ``f_2`` (the two models' values)."""
    rows = models.dropna(subset=[measure, target]).reset_index(drop=True)
    first, second = (np.array(side) for side in zip(*itertools.permutations(range(len(rows)), 2)))
    out = {"v_measure": np.sign(rows[measure].to_numpy(float)[first] - rows[measure].to_numpy(float)[second]),
           "v_target": np.sign(rows[target].to_numpy(float)[first] - rows[target].to_numpy(float)[second])}
    for factor in factors:
        values = rows[factor].to_numpy()
        out[f"{factor}_1"], out[f"{factor}_2"] = values[first], values[second]
    return pd.DataFrame(out)


def conditional_mi(models: pd.DataFrame, measure: str, target: str, factors: Sequence[str],
                   max_conditioning: int = MAX_CONDITIONING) -> pd.DataFrame:
    """Î(S) = I(V_μ; V_g | U_S) / H(V_g | U_S) for every set S of at most ``max_conditioning``
    of ``factors`` (the empty set first): columns conditioning (the factors joined by " + ", "—"
    for none), cmi, entropy (H(V_g | U_S), nats), pairs. The measure's score is the minimum of
    ``cmi`` (:func:`cmi_score`). Needs at least two models."""
    pairs = sign_pairs(models, measure, target, factors)
    if pairs.empty:
        raise ValueError(f"{measure}: fewer than two models with a value")
    rows = []
    for size in range(max_conditioning + 1):
        for subset in itertools.combinations(factors, size):
            info, entropy = _conditioned(pairs, [f"{f}_{side}" for f in subset for side in (1, 2)])
            rows.append({"conditioning": " + ".join(subset) or "—", "cmi": info / entropy if entropy > 0 else math.nan,
                         "entropy": entropy, "pairs": len(pairs)})
    return pd.DataFrame(rows)


def cmi_score(table: pd.DataFrame) -> tuple[float, str]:
    """(the minimum Î over the conditioning sets of :func:`conditional_mi`, the set that gives it)."""
    defined = table.dropna(subset=["cmi"])
    if defined.empty:
        return math.nan, "—"
    worst = defined.loc[defined["cmi"].idxmin()]
    return float(worst["cmi"]), str(worst["conditioning"])


def sign_agreement(models: pd.DataFrame, measure: str, target: str, factors: Sequence[str],
                   level: float = stats.LEVEL) -> pd.DataFrame:
    """One row per environment (two configurations, equal in every factor but ``factor``): factor,
    low and high (its two values, as text), seed_pairs, agreement (the mean over the pairs of
    their seeds of sign(Δμ)·sign(Δg), Δ = high − low), gap_difference with gap_low and gap_high
    (the difference of the two configurations' mean gaps with its ``level`` Welch interval over
    their seeds; fewer than 3 seeds a side give none), and noise (True when there is no interval
    or it contains 0: the environment does not tell which configuration generalizes worse)."""
    rows = models.dropna(subset=[measure, target])
    out = []
    for factor in factors:
        fixed = [f for f in factors if f != factor]
        for _, group in (rows.groupby(fixed, sort=True, dropna=False) if fixed else [((), rows)]):
            levels = sorted(group[factor].unique(), key=lambda v: (str(type(v)), v))
            for low, high in itertools.combinations(levels, 2):
                a, b = group[group[factor] == low], group[group[factor] == high]
                dm = np.subtract.outer(b[measure].to_numpy(float), a[measure].to_numpy(float)).ravel()
                dg = np.subtract.outer(b[target].to_numpy(float), a[target].to_numpy(float)).ravel()
                gap = stats.difference(b[target], a[target], level)  # Welch over the seeds: pairs share seeds
                out.append({"factor": factor, **{f: group[f].iloc[0] for f in fixed}, "low": str(low),
                            "high": str(high), "seed_pairs": len(dg),
                            "agreement": float(np.mean(np.sign(dm) * np.sign(dg))), "gap_difference": gap.estimate,
                            "gap_low": gap.low, "gap_high": gap.high,
                            "noise": not gap.defined or gap.low <= 0 <= gap.high})
    return pd.DataFrame(out)


def robust_summary(environments: pd.DataFrame) -> pd.DataFrame:
    """Per factor and over all (``factor`` "all"), among the environments that are not noise: their
    number, the share with a positive agreement, the worst (minimum) and the quartiles of the
    agreement; ``noise``: how many were left out."""
    rows = []
    for factor, group in [*environments.groupby("factor", sort=False), ("all", environments)]:
        kept = group[~group["noise"]]["agreement"].to_numpy(float)
        quartiles = np.quantile(kept, [0.25, 0.5, 0.75]) if len(kept) else [math.nan] * 3
        rows.append({"factor": factor, "environments": len(kept), "noise": int(group["noise"].sum()),
                     "positive": float((kept > 0).mean()) if len(kept) else math.nan,
                     "worst": float(kept.min()) if len(kept) else math.nan, "q25": quartiles[0],
                     "median": quartiles[1], "q75": quartiles[2]})
    return pd.DataFrame(rows)
