"""The weight-noise probe: accuracy and loss on the test probe set under δ ~ N(0, σ²I)
(``absolute``, the studies' noise) and under per-tensor relative noise (``relative``), mean and
95% CI over draws.

The measure's one home: settings, compute and ``PROBES`` here, how it reports (its term, tables,
figure, sentences and section) in ``report``.
"""
from __future__ import annotations

from typing import Sequence

import pandas as pd
import torch
from pydantic import Field

from ...geometry import sharpness
from ...learning.data import ImageDataset
from ..base import CONFIDENCE, Probe, ProbeSets, ProbeSettings, Scalar


class NoiseParams(ProbeSettings):
    sigmas: list[float] = Field(min_length=1)
    draws: int = Field(default=5, gt=0)
    seed: int = 0


def noise(models: Sequence[torch.nn.Module], sets: ProbeSets, cfg: NoiseParams) -> pd.DataFrame:
    """Loss, accuracy and flatness under weight noise on the test probe set, for every σ and each
    noise scale (``sharpness.NOISE_SCALES``): ``sharpness.summarize_draws`` rows (sigma, scale,
    metric, mean, std, ci_low, ci_high, num_draws, mode, n)."""
    model, = models
    frames = [sharpness.noise_robustness(model, sets.test, cfg.sigmas, scale=scale, num_draws=cfg.draws,
                                         seed=cfg.seed, mode=sets.mode, chunk_size=sets.chunk_size,
                                         confidence=CONFIDENCE)
              for scale in sharpness.NOISE_SCALES]
    return pd.concat(frames, ignore_index=True)


SCALARS = {"noise_drop": Scalar("noise accuracy drop", True, "accuracy lost under relative weight noise", "noise")}


def scalars(model: torch.nn.Module, data: ImageDataset, sigma: float, draws: int, seed: int, mode: str,
            chunk_size: int) -> dict:
    """The noise summary the synthesis ranks (``SCALARS``): ``noise_drop``, the accuracy on
    ``data`` at θ minus the mean accuracy at θ + δ over ``draws`` draws of relative noise ``sigma``
    (seed ``seed``), and ``accuracy`` at θ."""
    found = sharpness.noise_draws(model, data, [sigma], scale="relative", num_draws=draws, seed=seed, mode=mode,
                                  chunk_size=chunk_size)
    base = float(found["base_accuracy"].iloc[0])
    return {"noise_drop": float(base - found["accuracy"].mean()), "accuracy": base}


PROBES = (Probe("noise", NoiseParams, noise, "draw", "loss and accuracy under random weight noise",
                report="landscape.probes.noise.report",
                checks="landscape.probes.noise.checks"),)
