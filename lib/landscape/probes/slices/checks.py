"""The claim checks that read the 1-D slices (``slice1d``): each returns the comparison records its
claim's text calls for (one per stated direction or size). ``CHECKS`` registers them under the
name a params file gives (``Probe.checks`` names this module; ``claims.registry`` collects it)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from ...verdicts.claims.deciding import Check, Context, MissingEvidence, two_groups
from ...verdicts.claims.records import Comparison, StudyMethod


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


CHECKS = {
    "steeper_slice": Check(steeper_slice, "slice1d", ("steeper", "flatter"), study_method=StudyMethod(
        {"direction": "random"}, "an unnormalized random direction (the study's) instead of a filter-normalized one "
        "(ours)"), choices={"direction": ("filter", "random")}),
}
