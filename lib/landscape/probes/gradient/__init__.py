"""The gradient probe: ‖∇L(θ)‖₂ of the mean loss on the train and test probe sets.

The measure's one home: settings, compute and ``PROBES`` here, how it reports (its term, table
and section) in ``report``.
"""
from __future__ import annotations

from typing import Sequence

import pandas as pd
import torch

from ...geometry import sharpness
from ...learning.data import ImageDataset
from ..base import Probe, ProbeSets, ProbeSettings, Scalar


class GradientParams(ProbeSettings):
    """‖∇L(θ)‖₂ of the mean loss on the train and test probe sets (no settings)."""


def gradient(models: Sequence[torch.nn.Module], sets: ProbeSets, cfg: GradientParams) -> pd.DataFrame:
    """‖∇L(θ)‖₂ of the mean loss per split (train and test probe sets): columns split, grad_norm,
    loss, mode, n."""
    model, = models
    rows = []
    for split, ds in sets.splits().items():
        found = sharpness.gradient_norm(model, ds, mode=sets.mode, chunk_size=sets.chunk_size)
        rows.append({"split": split, "grad_norm": found.norm, "loss": found.loss, "mode": found.mode, "n": found.n})
    return pd.DataFrame(rows)


SCALARS = {"grad_norm": Scalar("‖∇L‖", False, "gradient norm of the train probe loss", "gradient")}


def scalars(model: torch.nn.Module, data: ImageDataset, mode: str, chunk_size: int) -> dict:
    """The gradient summary the synthesis ranks (``SCALARS``): ``grad_norm`` = ‖∇L(θ)‖₂ of the
    mean loss on ``data``, and that ``loss``."""
    found = sharpness.gradient_norm(model, data, mode=mode, chunk_size=chunk_size)
    return {"grad_norm": found.norm, "loss": found.loss}


PROBES = (Probe("gradient", GradientParams, gradient, "gradient", "the gradient norm ‖∇L(θ)‖",
                report="landscape.probes.gradient.report"),)
