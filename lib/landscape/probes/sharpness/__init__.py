"""The ε-sharpness probe: SAM and ASAM ε-sharpness
(``sharpness.epsilon_sharpness``) on the train probe set, with the first-order value (SAM's single
step, what a one-step study measures) beside the value after the projected ascent.

The measure's one home: settings, compute and ``PROBES`` here, how it reports (its term, table,
figure, sentence and section) in ``report``.
"""
from __future__ import annotations

from typing import Sequence

import pandas as pd
import torch
from pydantic import Field

from ...geometry import sharpness
from ..base import Probe, ProbeSets, ProbeSettings


class SharpnessParams(ProbeSettings):
    """ε-sharpness on the train probe set: SAM (Euclidean ball, radius ``rho``) and ASAM
    (adaptive ball, radius ``adaptive_rho``), each ascending until a step changes the value by at
    most ``ascent_tol`` relative, or ``max_ascent_steps`` steps."""

    rho: float = Field(gt=0)
    ascent_tol: float = Field(default=1e-3, gt=0)
    max_ascent_steps: int = Field(default=50, ge=0)
    adaptive_rho: float = Field(default=0.5, gt=0)


def sam_and_asam(models: Sequence[torch.nn.Module], sets: ProbeSets, cfg: SharpnessParams) -> pd.DataFrame:
    """SAM and ASAM ε-sharpness on the train probe set: one row per kind (``sam``: Euclidean ball
    of radius ``rho``; ``asam``: adaptive ball of radius ``adaptive_rho``) with columns kind, rho,
    sharpness (after the ascent, nats), first_order (SAM's single step), base_loss, steps (ascent
    steps taken), converged (False: stopped at ``max_ascent_steps``), delta_norm (‖δ‖₂ of the
    maximizer), mode, n."""
    model, = models
    rows = []
    for kind, rho, adaptive in (("sam", cfg.rho, False), ("asam", cfg.adaptive_rho, True)):
        found = sharpness.epsilon_sharpness(model, sets.train, rho, tol=cfg.ascent_tol, max_steps=cfg.max_ascent_steps,
                                            adaptive=adaptive, mode=sets.mode, chunk_size=sets.chunk_size)
        rows.append({"kind": kind, "rho": rho, "sharpness": found.sharpness, "first_order": found.first_order,
                     "base_loss": found.base_loss, "steps": found.steps, "converged": found.converged,
                     "delta_norm": found.delta_norm, "mode": found.mode, "n": found.n})
    return pd.DataFrame(rows)


PROBES = (Probe("sharpness", SharpnessParams, sam_and_asam, "gradient", "SAM and ASAM ε-sharpness",
                report="landscape.probes.sharpness.report"),)
