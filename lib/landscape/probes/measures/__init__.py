"""The synthesis's probe: every geometric measure of one model at settings shared by all studies, for
the synthesis report (``measures``), on the train probe set. It composes the scalar summaries
that the measures' homes expose (``COMPOSED``: each home's ``SCALARS`` and ``scalars``), so a
measure is computed in one place whether a study's report or the synthesis shows it.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
import scipy.sparse.linalg
import torch
from pydantic import Field

from ...geometry import operators
from .. import gradient, hessian, noise, sharpness, slices
from ..base import Probe, ProbeSets, ProbeSettings
from ..hessian import BOTTOM_NCV


class MeasuresParams(ProbeSettings):
    """Every geometric measure of one trained model at settings shared by all studies (what the
    synthesis report correlates with generalization): λmax (Lanczos, tolerance ``tol``), the
    smallest Ritz value of ``ritz_steps`` Lanczos steps, the Hutchinson trace (``trace_samples``
    Rademacher vectors), the curvature of ``slice_directions`` filter-normalized 1-D slices, SAM
    and ASAM ε-sharpness (radii ``rho`` and ``adaptive_rho``, ascent to ``ascent_tol``, at most
    ``max_ascent_steps``), the accuracy
    drop under relative weight noise ``noise_sigma`` (``noise_draws`` draws) and the gradient
    norm. All on the train probe set: a generalization measure does not look at test data."""

    tol: float = Field(default=1e-3, gt=0)
    ritz_steps: int = Field(default=BOTTOM_NCV, gt=1)
    trace_samples: int = Field(default=20, ge=2)
    slice_directions: int = Field(default=5, gt=0)
    rho: float = Field(default=0.05, gt=0)
    adaptive_rho: float = Field(default=0.5, gt=0)
    ascent_tol: float = Field(default=1e-3, gt=0)
    max_ascent_steps: int = Field(default=50, ge=0)
    noise_sigma: float = Field(default=0.05, gt=0)
    noise_draws: int = Field(default=5, gt=0)
    seed: int = 0


def measures(models: Sequence[torch.nn.Module], sets: ProbeSets, cfg: MeasuresParams) -> pd.DataFrame:
    """One row of measures on the train probe set (see ``MeasuresParams``), each computed by its
    home's ``scalars``: ``hessian`` (lambda_max, lambda_min_ritz, negative_curvature,
    lambda_ratio, trace, trace_stderr) and ``slices`` (slice_curvature, slice_curvature_sd) on one
    Hessian operator, ``sharpness`` (sam, asam after the ascent, nats, with sam_steps, asam_steps,
    sam_converged, asam_converged), ``noise`` (noise_drop, relative noise) and ``gradient``
    (grad_norm); then loss, accuracy (at θ), num_hvps, mode, n. A Hessian that Lanczos cannot
    handle (a collapsed network) gives NaN curvature columns."""
    model, = models
    op = operators.HessianOperator(model, sets.train, mode=sets.mode, chunk_size=sets.chunk_size)
    try:
        bends = {**hessian.scalars(op, cfg.tol, cfg.ritz_steps, cfg.trace_samples, cfg.seed),
                 **slices.scalars(op, model, cfg.slice_directions, cfg.seed)}
    except scipy.sparse.linalg.ArpackError:
        bends = {name: np.nan for name in hessian.SCALAR_COLUMNS + slices.SCALAR_COLUMNS}
        bends["negative_curvature"] = False
    op.release()
    sam = sharpness.scalars(model, sets.train, cfg.rho, cfg.adaptive_rho, cfg.ascent_tol, cfg.max_ascent_steps,
                            sets.mode, sets.chunk_size)
    drop = noise.scalars(model, sets.train, cfg.noise_sigma, cfg.noise_draws, cfg.seed, sets.mode, sets.chunk_size)
    grad = gradient.scalars(model, sets.train, sets.mode, sets.chunk_size)
    return pd.DataFrame([{**bends, **sam, "noise_drop": drop["noise_drop"], "grad_norm": grad["grad_norm"], "loss": grad["loss"],
                          "accuracy": drop["accuracy"], "num_hvps": op.num_products, "mode": sets.mode, "n": op.n}])


COMPOSED = (hessian, slices, sharpness, noise, gradient)  # the homes whose scalars the synthesis ranks, in its order
SCALARS = {name: scalar for home in COMPOSED for name, scalar in home.SCALARS.items()}  # what it correlates


PROBES = (Probe("measures", MeasuresParams, measures, "HVP",
                "every geometric measure at settings shared by all studies", checks="landscape.probes.measures.checks"),)
