"""The claim checks that read the flatness frame (``flatness``): each returns the comparison records
its claim's text calls for (one per stated direction or size). ``CHECKS`` registers them under the
name a params file gives (``Probe.checks`` names this module; ``claims.registry`` collects it)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from ...verdicts.claims.deciding import Check, Context, config_group, per_seed, two_groups
from ...verdicts.claims.records import Comparison


def least_flat(ctx: Context, flatness: pd.DataFrame, least: list, others: list) -> list[Comparison]:
    """The configurations of ``least`` have a larger flatness |ΔL| (the study's: mean over noise
    draws) than each group of ``others`` (ratio of geometric means)."""
    def values(group: list[str]) -> np.ndarray:
        return np.concatenate([per_seed(flatness, c, "mean", "flatness") for c in group])

    top = config_group(least)
    return [two_groups(ctx, "|ΔL| under weight noise (nats)", "/".join(top), "/".join(group), values(top),
                       values(group), positive=True) for group in [config_group(g) for g in others]]


CHECKS = {
    "least_flat": Check(least_flat, "flatness", ("least", "others")),
}
