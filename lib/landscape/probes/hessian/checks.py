"""The claim checks that read the Hessian frame (``hessian``; one of them also the history): each
returns the comparison records its claim's text calls for (one per stated direction or size).
``CHECKS`` registers them under the name a params file gives (``Probe.checks`` names this module;
``claims.registry`` collects it)."""
from __future__ import annotations

import math

import pandas as pd

from ...verdicts import stats
from ...verdicts.claims.deciding import (Check, Context, MissingEvidence, all_positive, compare, config_group,
                                         final_epochs, measured, ordered, per_seed, share, summary)
from ...verdicts.claims.records import ABOVE, BELOW, Comparison, Group, MIN_TAU_UNITS, StudyMethod


def lambda_max_order(ctx: Context, hessian: pd.DataFrame, order: list, method: str = "lanczos") -> list[Comparison]:
    """The configurations of ``order`` (ids, or lists pooled as one group) have descending top
    Hessian eigenvalues: ours by Lanczos on the train probe set, the study's (``method:
    study``) by power iteration on one mini-batch."""
    what = "λmax (Lanczos, train probe set)" if method == "lanczos" else "λmax (study's method: one mini-batch)"
    return ordered(ctx, what, lambda c: per_seed(hessian, c, "lambda_max", f"{method} λmax", method=method), order)

def well_conditioned(ctx: Context, hessian: pd.DataFrame, runs: list) -> list[Comparison]:
    """Each configuration is well-conditioned in most seeds: the share of seeds whose Hessian on
    the train probe set is positive definite with λmax/λmin ≤ 'well_conditioned' lies above
    'more_often' (exact 95% interval). Negative curvature (the condition number is then
    undefined) or a larger ratio counts against; a seed whose smallest eigenvalue did not
    converge is left out."""
    limit = ctx.value("well_conditioned")
    parts = []
    for config in config_group(runs):
        rows = hessian[(hessian["config"] == config) & (hessian["method"] == "lanczos")]
        if rows.empty:
            raise MissingEvidence(f"no Hessian for configuration {config!r}")
        known = rows[rows["condition_number"].notna() | rows["lambda_min"].notna()]
        good = int((known["condition_number"] <= limit).sum())
        parts.append(share(ctx, f"share of seeds with 0 < κ ≤ {limit:g}", config, good, len(known)))
    return parts

def flatter_generalizes_better(ctx: Context, hessian: pd.DataFrame, history: pd.DataFrame, runs: list
                               ) -> list[Comparison]:
    """Across the seeds of the configurations of ``runs``, a lower λmax (Lanczos) goes with a
    higher final val accuracy: Kendall's τ between the two is negative, with a paired-bootstrap
    95% interval (at least :data:`MIN_TAU_UNITS` seeds)."""
    lams, accs = [], []
    for config in config_group(runs):
        lam = hessian[(hessian["config"] == config) & (hessian["method"] == "lanczos")].set_index("run")["lambda_max"]
        finals = final_epochs(history, config).set_index("run")["test_acc"]
        both = lam.index.intersection(finals.index)
        lams += list(lam[both])
        accs += list(finals[both])
    found = stats.kendall_tau(lams, accs)
    group = Group("/".join(config_group(runs)), len(lams), summary(lams, positive=True))
    return [compare(ctx, "λmax (Lanczos) against final val acc over seeds", [group], "seeds", "Kendall τ", found,
                    BELOW, [0.0], min_units=MIN_TAU_UNITS)]

def lambda_max_spread(ctx: Context, hessian: pd.DataFrame, runs: list, flatter: str | None = None,
                      method: str = "lanczos") -> list[Comparison]:
    """Seeds of one configuration land in minima of different sharpness: the spread of λmax over
    seeds (SD of log λmax, chi-square interval) lies above 'different'. With ``flatter``
    (``first`` or ``second``), the claim also names which of the study's two networks is flatter:
    that part compares the configuration's first two seeds (the study's pair) as a measurement of
    two networks (:func:`measured`)."""
    config = config_group(runs)[0]
    rows = hessian[(hessian["config"] == config) & (hessian["method"] == method)].sort_values("seed")
    if rows.empty:
        raise MissingEvidence(f"no {method} λmax for configuration {config!r}")
    values = rows["lambda_max"].to_numpy(float)
    what = "λmax (Lanczos)" if method == "lanczos" else "λmax (study's method)"
    positive = all_positive(values)
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


CHECKS = {
    "lambda_max_order": Check(lambda_max_order, "hessian", ("order",), study_method=StudyMethod(
        {"method": "study"}, "power iteration on one mini-batch (the study's) instead of Lanczos on the train probe "
        "set (ours)"), choices={"method": ("lanczos", "study")}),
    "lambda_max_spread": Check(lambda_max_spread, "hessian", ("runs",), study_method=StudyMethod(
        {"method": "study"}, "power iteration on one mini-batch (the study's) instead of Lanczos on the train probe "
        "set (ours)"), choices={"method": ("lanczos", "study"), "flatter": ("first", "second")}),
    "well_conditioned": Check(well_conditioned, "hessian", ("runs",), unit="share"),
    "flatter_generalizes_better": Check(flatter_generalizes_better, ("hessian", "history"), ("runs",),
                                        unit="pooled seeds", min_units=MIN_TAU_UNITS),
}
