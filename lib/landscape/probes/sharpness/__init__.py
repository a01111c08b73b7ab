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
from ...learning.data import ImageDataset
from ..base import Probe, ProbeSets, ProbeSettings, Scalar


class SharpnessParams(ProbeSettings):
    """ε-sharpness on the train probe set: SAM (Euclidean ball, radius ``rho``) and ASAM
    (adaptive ball, radius ``adaptive_rho``), each ascending until a step changes the value by at
    most ``ascent_tol`` relative, or ``max_ascent_steps`` steps."""

    rho: float = Field(gt=0)
    ascent_tol: float = Field(default=1e-3, gt=0)
    max_ascent_steps: int = Field(default=50, ge=0)
    adaptive_rho: float = Field(default=0.5, gt=0)


def ascents(model: torch.nn.Module, data: ImageDataset, rho: float, adaptive_rho: float, tol: float, max_steps: int,
            mode: str, chunk_size: int) -> dict[str, sharpness.EpsilonSharpness]:
    """SAM (``sam``: Euclidean ball of radius ``rho``) and ASAM (``asam``: adaptive ball of radius
    ``adaptive_rho``) ε-sharpness of ``model`` on ``data``, each ascending until a step changes
    the value by at most ``tol`` relative, or ``max_steps`` steps."""
    return {kind: sharpness.epsilon_sharpness(model, data, radius, tol=tol, max_steps=max_steps, adaptive=adaptive,
                                              mode=mode, chunk_size=chunk_size)
            for kind, radius, adaptive in (("sam", rho, False), ("asam", adaptive_rho, True))}


def sam_and_asam(models: Sequence[torch.nn.Module], sets: ProbeSets, cfg: SharpnessParams) -> pd.DataFrame:
    """SAM and ASAM ε-sharpness on the train probe set (:func:`ascents`): one row per kind with
    columns kind, rho, sharpness (after the ascent, nats), first_order (SAM's single step),
    base_loss, steps (ascent steps taken), converged (False: stopped at ``max_ascent_steps``),
    delta_norm (‖δ‖₂ of the maximizer), mode, n."""
    model, = models
    found = ascents(model, sets.train, cfg.rho, cfg.adaptive_rho, cfg.ascent_tol, cfg.max_ascent_steps, sets.mode,
                    sets.chunk_size)
    return pd.DataFrame([{"kind": kind, "rho": cfg.rho if kind == "sam" else cfg.adaptive_rho,
                          "sharpness": one.sharpness, "first_order": one.first_order, "base_loss": one.base_loss,
                          "steps": one.steps, "converged": one.converged, "delta_norm": one.delta_norm,
                          "mode": one.mode, "n": one.n} for kind, one in found.items()])


SCALARS = {"sam": Scalar("SAM sharpness", False, "ε-sharpness in a Euclidean ball", "sharpness"),
           "asam": Scalar("ASAM sharpness", True, "ε-sharpness in a weight-relative ball", "sharpness")}


def scalars(model: torch.nn.Module, data: ImageDataset, rho: float, adaptive_rho: float, tol: float, max_steps: int,
            mode: str, chunk_size: int) -> dict:
    """The sharpness summaries the synthesis ranks (``SCALARS``): SAM and ASAM after the ascent
    (:func:`ascents`, nats), with the steps each took and whether it converged (``sam_steps``,
    ``asam_steps``, ``sam_converged``, ``asam_converged``)."""
    found = ascents(model, data, rho, adaptive_rho, tol, max_steps, mode, chunk_size)
    return {**{kind: one.sharpness for kind, one in found.items()},
            **{f"{kind}_steps": one.steps for kind, one in found.items()},
            **{f"{kind}_converged": one.converged for kind, one in found.items()}}


PROBES = (Probe("sharpness", SharpnessParams, sam_and_asam, "gradient", "SAM and ASAM ε-sharpness",
                report="landscape.probes.sharpness.report",
                checks="landscape.probes.sharpness.checks"),)
