"""The spectral density probe: the Hessian's eigenvalue density by stochastic Lanczos quadrature on
the train probe set (``curvature.spectral_density``), with the fraction of eigenvalues below zero.

The measure's one home: settings, compute and ``PROBES`` here, how it reports (its term, figure,
table, sentence and section) in ``report``.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
import torch
from pydantic import Field

from ...geometry import curvature, operators
from ..base import Probe, ProbeSets, ProbeSettings

NEGATIVE_FRACTION = 0.01  # density: an eigenvalue below −1% of the largest |λ| counts as negative


class DensityParams(ProbeSettings):
    """Stochastic Lanczos quadrature: ``runs`` Lanczos runs of ``steps`` Hessian-vector products
    from Rademacher vectors; the density is drawn on ``points`` eigenvalues."""

    runs: int = Field(default=2, gt=0)
    steps: int = Field(default=60, gt=1)
    points: int = Field(default=400, gt=1)
    seed: int = 0


def density(models: Sequence[torch.nn.Module], sets: ProbeSets, cfg: DensityParams) -> pd.DataFrame:
    """The eigenvalue density of the Hessian on the train probe set, one row per grid point:
    eigenvalue, density (integrates to 1), negative_mass (quadrature estimate of the fraction of
    eigenvalues clearly below 0: below −NEGATIVE_FRACTION × the largest |quadrature node|, since the
    node that stands for the bulk near 0 may fall on either side of it; the same on every row),
    sigma (broadening), runs, steps, num_hvps, mode, n."""
    model, = models
    op = operators.HessianOperator(model, sets.train, mode=sets.mode, chunk_size=sets.chunk_size)
    found = curvature.spectral_density(op, num_runs=cfg.runs, num_steps=cfg.steps, num_points=cfg.points,
                                       seed=cfg.seed)
    op.release()
    largest = max(float(np.abs(nodes).max()) for nodes in found.nodes)
    return pd.DataFrame({"eigenvalue": found.grid, "density": found.density,
                         "negative_mass": found.mass_between(-np.inf, -NEGATIVE_FRACTION * largest),
                         "sigma": found.sigma, "runs": cfg.runs,
                         "steps": cfg.steps, "num_hvps": found.num_products, "mode": found.mode, "n": found.n})


PROBES = (Probe("density", DensityParams, density, "HVP", "the Hessian's eigenvalue density",
                report="landscape.probes.density.report"),)
