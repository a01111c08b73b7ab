"""The flatness probe: the study's |L(θ + δ) − L(θ)| on the train probe set, δ ~ N(0, σ²I)
(absolute σ), mean and CI over draws.

The measure's one home: settings, compute and ``PROBES`` here, how it reports (its term, table
and section) in ``report``.
"""
from __future__ import annotations

from typing import Sequence

import pandas as pd
import torch
from pydantic import Field

from ...geometry import sharpness
from ..base import CONFIDENCE, Probe, ProbeSets, ProbeSettings


class FlatnessParams(ProbeSettings):
    """The studies' |L(theta + delta) - L(theta)|, delta ~ N(0, sigma^2 I)."""

    sigma: float = Field(gt=0)
    draws: int = Field(default=5, gt=0)
    seed: int = 0


def flatness(models: Sequence[torch.nn.Module], sets: ProbeSets, cfg: FlatnessParams) -> pd.DataFrame:
    """The study's flatness |L(θ + δ) − L(θ)|, δ ~ N(0, σ²I), on the train probe set: one row with
    sigma, mean, std, ci_low, ci_high, num_draws, base_loss, mode, n."""
    model, = models
    draws = sharpness.noise_draws(model, sets.train, [cfg.sigma], scale="absolute", num_draws=cfg.draws,
                                  seed=cfg.seed, mode=sets.mode, chunk_size=sets.chunk_size)
    summary = sharpness.summarize_draws(draws, CONFIDENCE)
    flat = summary[summary["metric"] == "flatness"].iloc[0]
    return pd.DataFrame([{"sigma": cfg.sigma, "mean": flat["mean"], "std": flat["std"], "ci_low": flat["ci_low"],
                          "ci_high": flat["ci_high"], "num_draws": int(flat["num_draws"]),
                          "base_loss": float(draws["base_loss"].iloc[0]), "mode": sets.mode, "n": int(flat["n"])}])


PROBES = (Probe("flatness", FlatnessParams, flatness, "draw", "the study's flatness |L(θ + δ) − L(θ)|",
                report="landscape.probes.flatness.report",
                checks="landscape.probes.flatness.checks"),)
