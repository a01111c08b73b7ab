"""The synthesis's probe: every geometric measure of one model at settings shared by all studies, for
the synthesis report (``measures``), on the train probe set.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
import scipy.sparse.linalg
import torch
from pydantic import Field

from ..geometry import curvature, directions, sharpness
from .base import Probe, ProbeSets, ProbeSettings
from .hessian import BOTTOM_NCV


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
    """One row of measures on the train probe set (see ``MeasuresParams``):

    lambda_max; lambda_min_ritz (the smallest Ritz value of ``ritz_steps`` Lanczos steps, an upper
    bound on λmin: below −tol·λmax it proves negative curvature, ``negative_curvature``);
    lambda_ratio = λmax / |lambda_min_ritz| (an upper bound on λmax/|λmin| where λmin < 0);
    trace, trace_stderr (Hutchinson); slice_curvature, slice_curvature_sd (mean and std over
    directions of dᵀHd, d filter-normalized with zero bias and BatchNorm entries: the second
    derivative of a Li et al. slice at α = 0); sam, asam (ε-sharpness after the ascent, nats), with
    sam_steps, asam_steps (ascent steps taken) and sam_converged, asam_converged;
    noise_drop (accuracy at θ − mean accuracy at θ + δ, relative noise, over draws); grad_norm;
    loss, accuracy (at θ); num_hvps, mode, n. A Hessian that Lanczos cannot handle (a collapsed
    network) gives NaN curvature columns."""
    model, = models
    op = curvature.HessianOperator(model, sets.train, mode=sets.mode, chunk_size=sets.chunk_size)
    try:
        lam_max = float(curvature.lanczos(op, k=1, which="LA", tol=cfg.tol, seed=0).eigenvalues[0])
        ritz = curvature.smallest_ritz_value(op, min(op.dim, cfg.ritz_steps), seed=0)
        trace = curvature.hutchinson_trace(op, cfg.trace_samples, seed=cfg.seed)
        bends = np.array([curvature.directional_curvature(op, directions.normalized_direction(model, cfg.seed + i))
                          for i in range(cfg.slice_directions)])
        hessian_numbers = {"lambda_max": lam_max, "lambda_min_ritz": ritz,
                           "negative_curvature": bool(ritz < -cfg.tol * abs(lam_max)),
                           "lambda_ratio": lam_max / abs(ritz) if ritz != 0 else np.inf,
                           "trace": trace.trace, "trace_stderr": trace.stderr,
                           "slice_curvature": float(bends.mean()),
                           "slice_curvature_sd": float(bends.std(ddof=1)) if len(bends) > 1 else np.nan}
    except scipy.sparse.linalg.ArpackError:
        hessian_numbers = {name: np.nan for name in ("lambda_max", "lambda_min_ritz", "lambda_ratio", "trace",
                                                     "trace_stderr", "slice_curvature", "slice_curvature_sd")}
        hessian_numbers["negative_curvature"] = False
    op.release()
    sam, asam = (sharpness.epsilon_sharpness(model, sets.train, rho, tol=cfg.ascent_tol, max_steps=cfg.max_ascent_steps,
                                             adaptive=adaptive, mode=sets.mode, chunk_size=sets.chunk_size)
                 for rho, adaptive in ((cfg.rho, False), (cfg.adaptive_rho, True)))
    draws = sharpness.noise_draws(model, sets.train, [cfg.noise_sigma], scale="relative", num_draws=cfg.noise_draws,
                                  seed=cfg.seed, mode=sets.mode, chunk_size=sets.chunk_size)
    grad = sharpness.gradient_norm(model, sets.train, mode=sets.mode, chunk_size=sets.chunk_size)
    return pd.DataFrame([{**hessian_numbers, "sam": sam.sharpness, "asam": asam.sharpness, "sam_steps": sam.steps,
                          "asam_steps": asam.steps, "sam_converged": sam.converged, "asam_converged": asam.converged,
                          "noise_drop": float(draws["base_accuracy"].iloc[0] - draws["accuracy"].mean()),
                          "grad_norm": grad.norm, "loss": grad.loss, "accuracy": float(draws["base_accuracy"].iloc[0]),
                          "num_hvps": op.num_products, "mode": sets.mode, "n": op.n}])


PROBES = (Probe("measures", MeasuresParams, measures, "HVP",
                "every geometric measure at settings shared by all studies"),)
