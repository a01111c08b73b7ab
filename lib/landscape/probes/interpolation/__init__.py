"""The interpolation probe: ``connectivity.interpolate`` on train and test probe sets with the
barrier; ``bn: both`` gives both BatchNorm treatments (for nets with BatchNorm; without it they
are the same and only ``interpolate`` is run).

The measure's one home: settings, compute and ``PROBES`` here, how it reports (its term, figure,
barrier table and sentence, and section) in ``report``.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
import torch
from pydantic import Field
from typing import Literal

from ...geometry import connectivity
from ...learning.evaluation import has_batchnorm
from ..base import Probe, ProbeSets, ProbeSettings


class InterpolationParams(ProbeSettings):
    """``configs``: the configurations whose minima are joined, each by disjoint pairs of its seeds."""

    configs: list[str] = Field(min_length=1)
    points: int = Field(default=21, gt=1)
    bn: Literal["interpolate", "recompute", "both"] = "both"


def interpolation(models: Sequence[torch.nn.Module], sets: ProbeSets,
                  cfg: InterpolationParams) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The straight line between two trained models: (path frame with columns alpha, split, loss,
    accuracy, error, bn, mode, n; barrier frame with one row per split and bn: split, bn,
    loss_barrier, loss_alpha, error_barrier, error_alpha, loss_a, loss_b, max_loss, mode, n)."""
    model_a, model_b = models
    alphas = np.linspace(0.0, 1.0, cfg.points)
    options = ["interpolate", "recompute"] if cfg.bn == "both" else [cfg.bn]
    if not has_batchnorm(model_a):
        options = ["interpolate"]  # without BatchNorm both treatments are the same path
    paths, barriers = [], []
    for bn in options:
        frame, found = connectivity.interpolate(model_a, model_b, sets.splits(), alphas, bn=bn, bn_data=sets.train,
                                                mode=sets.mode if bn == "interpolate" else "eval",
                                                chunk_size=sets.chunk_size)
        paths.append(frame)
        for split, bar in found.items():
            barriers.append({"split": split, "bn": bn, "loss_barrier": bar.loss_barrier, "loss_alpha": bar.loss_alpha,
                             "error_barrier": bar.error_barrier, "error_alpha": bar.error_alpha,
                             "loss_a": bar.loss_endpoints[0], "loss_b": bar.loss_endpoints[1],
                             "max_loss": float(frame[frame["split"] == split]["loss"].max()),
                             "mode": bar.mode, "n": bar.n})
    return pd.concat(paths, ignore_index=True), pd.DataFrame(barriers)


PROBES = (Probe("interpolation", InterpolationParams, interpolation, "point",
          "the loss on the straight line between two trained minima", runs=2, outputs=("interpolation", "barriers"),
                report="landscape.probes.interpolation.report",
                checks="landscape.probes.interpolation.checks"),)
