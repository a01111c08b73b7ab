"""The claim checks that read the weight-noise frame (``noise``): each returns the comparison records
its claim's text calls for (one per stated direction or size). ``CHECKS`` registers them under the
name a params file gives (``Probe.checks`` names this module; ``claims.registry`` collects it)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from ...verdicts.claims.deciding import Check, Context, MissingEvidence, config_group, one_group, two_groups
from ...verdicts.claims.records import ABOVE, BELOW, Comparison, StudyMethod


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

def noise_thresholds(ctx: Context, noise: pd.DataFrame, runs: list, small: list = (0.01, 0.02),
                     medium: list = (), large: float = 0.1) -> list[Comparison]:
    """Absolute weight noise: at every σ in ``small`` the relative change of the mean test loss,
    |L(σ) − L(0)| / L(0), stays below 'barely_changes'; at every σ in ``medium`` it degrades
    slightly (the relative change lies above 'barely_changes' and the accuracy drop below
    'slight'); at σ = ``large`` the accuracy drop lies above 'collapses'. Relative changes are
    positive: geometric means over seeds."""
    barely, slight, collapse = ctx.value("barely_changes"), ctx.value("slight"), ctx.value("collapses")
    parts = []
    for config in config_group(runs):
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


CHECKS = {
    "more_noise_robust": Check(more_noise_robust, "noise", ("robust", "fragile"), study_method=StudyMethod(
        {"scale": "relative"},
        "weight noise relative to each weight's size (the study's) instead of absolute σ (ours)"),
        choices={"scale": ("absolute", "relative")}),
    "noise_thresholds": Check(noise_thresholds, "noise", ("runs",)),
}
