"""The claim checks that read the barriers between seed pairs (``barriers``): each returns the
comparison records its claim's text calls for (one per stated direction or size). ``CHECKS``
registers them under the name a params file gives (``Probe.checks`` names this module;
``claims.registry`` collects it)."""
from __future__ import annotations

import pandas as pd

from ...verdicts.claims.deciding import Check, Context, MissingEvidence, config_group, one_group, two_groups
from ...verdicts.claims.records import ABOVE, Comparison, MIN_PAIRS, StudyMethod


BARRIER_FLOOR = 1e-3  # nats: a barrier at or below 0 is taken as this on the log scale

def loss_barrier(ctx: Context, barriers: pd.DataFrame, configs: list, size: str = "barrier",
                 smallest: str | None = None, bn: str = "recompute") -> list[Comparison]:
    """Every configuration's minima are separated by a loss barrier of at least the ``size``
    threshold ('barrier' or 'high_barrier'): on each split the geometric mean over its disjoint
    seed pairs (at least :data:`MIN_PAIRS`; a barrier ≤ 0 counts as :data:`BARRIER_FLOOR`) lies
    above it, its interval on logs. With ``smallest``, that configuration's barrier is also below
    every other one's (ratio of geometric means). BatchNorm statistics are recomputed at each
    point of the path (ours; the study interpolated them: ``bn: interpolate``); a network without
    BatchNorm has one path (the probe records it as ``interpolate``), and its quantity names no
    BatchNorm treatment (nor by the study's method, the same path, which ``claims.judge`` then
    drops); so does a configuration whose probe was asked for ``interpolate`` alone
    while a check asks for ``recompute`` (the interpolation section says which was computed)."""
    parts, by_config = [], {}
    for config in config_group(configs):
        rows = barriers[barriers["config"] == config]
        if rows.empty:
            raise MissingEvidence(f"no barrier for configuration {config!r}")
        treatment = bn if bn in set(rows["bn"]) else "interpolate"
        named = f"BN {treatment}; " if rows["bn"].nunique() > 1 else ""  # without BatchNorm one path
        rows = rows.assign(loss_barrier=rows["loss_barrier"].clip(lower=BARRIER_FLOOR))
        rows = rows[rows["bn"] == treatment]
        by_config[config] = rows
        for split, split_rows in rows.groupby("split", sort=False):
            parts.append(one_group(ctx, f"{split} loss barrier ({named}nats)", config,
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


CHECKS = {
    "loss_barrier": Check(loss_barrier, "barriers", ("configs",), study_method=StudyMethod(
        {"bn": "interpolate"}, "BatchNorm statistics interpolated along the path (the study's) instead of recomputed "
        "at each point (ours)"), unit="pairs", min_units=MIN_PAIRS,
        choices={"size": ("barrier", "high_barrier"), "bn": ("recompute", "interpolate")}),
}
