"""The trajectory probe: λmax, loss and gradient norm at the snapshots kept along training (the
training jobs of its runs keep them: ``training`` module docstring), Lanczos warm-started from the
previous snapshot's eigenvector, on a stratified subset of the train probe set; it also measures
runs that diverged, up to the last snapshot they kept.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
import torch
from pydantic import Field, model_validator
from typing import Literal

from ..geometry import curvature, operators
from .base import Probe, ProbeSets, ProbeSettings, Snapshot


class TrajectoryParams(ProbeSettings):
    """λmax along training: at the snapshots after the epoch-1 fractions ``early`` (0: the
    initialization) and at the end of every recorded epoch (``training``, Records), on a stratified
    subset of ``samples`` images of the train probe set (seed ``seed``), in ``mode``: ``train``
    (BatchNorm normalizes with the statistics of the whole subset, as a training step does with its
    batch's; dropout off) or ``eval``. Lanczos (``curvature.top_eigenpair``) stops at residual ‖Hv −
    λv‖ ≤ ``tol``·λ or after ``max_steps`` products; each snapshot starts from the previous one's
    eigenvector, so a point costs a few Hessian-vector products. A small residual proves an
    eigenvalue near λ, not the largest: at 1e-2 a Krylov space that has not yet found the top
    eigenvector can stop at the second (seen on a BatchNorm CNN at initialization); 1e-3 leaves it
    more steps to find it."""

    early: list[float] = Field(default=[0.0, 0.125, 0.25, 0.5])
    samples: int = Field(default=128, gt=1)
    mode: Literal["train", "eval"] = "train"
    tol: float = Field(default=1e-3, gt=0)
    max_steps: int = Field(default=40, gt=1)
    seed: int = 0

    @model_validator(mode="after")
    def _fractions(self) -> "TrajectoryParams":
        if any(not 0 <= f < 1 for f in self.early) or sorted(set(self.early)) != self.early:
            raise ValueError(f"early must be increasing fractions of epoch 1 in [0, 1), got {self.early}")
        return self


def trajectory(snapshots: Sequence[Snapshot], sets: ProbeSets, cfg: TrajectoryParams) -> pd.DataFrame:
    """One row per snapshot, in training order: epoch, step, lambda_max, residual (‖Hv − λv‖/λ of
    the returned vector), num_hvps (of that point), loss, grad_norm (‖∇L‖₂), status ("ok", "not
    finite": weights or loss not finite; "not converged": the residual is above ``tol`` after
    ``max_steps`` products), mode, n. On the subset of
    ``cfg.samples`` train probe images (see ``TrajectoryParams``)."""
    data = sets.train.stratified(cfg.samples, cfg.seed)
    rows, start = [], None
    for snap in snapshots:
        row = {"epoch": snap.epoch, "step": snap.step, "lambda_max": np.nan, "residual": np.nan, "num_hvps": 0,
               "loss": np.nan, "grad_norm": np.nan, "status": "not finite", "mode": cfg.mode, "n": len(data)}
        if all(bool(torch.isfinite(p).all()) for p in snap.model.parameters()):
            loss, grad = operators.loss_and_gradient(snap.model, data, mode=cfg.mode, chunk_size=sets.chunk_size)
            row.update(loss=loss, grad_norm=float(grad.double().norm()))
        if np.isfinite(row["loss"]) and np.isfinite(row["grad_norm"]):
            op = operators.HessianOperator(snap.model, data, mode=cfg.mode, chunk_size=sets.chunk_size)
            top = curvature.top_eigenpair(op, tol=cfg.tol, max_steps=cfg.max_steps, seed=cfg.seed, start=start)
            converged = top.residuals[0] <= cfg.tol
            row.update(lambda_max=float(top.eigenvalues[0]), residual=float(top.residuals[0]),
                       status="ok" if converged else "not converged", num_hvps=top.num_products)
            start = top.eigenvectors[0]
            op.release()
        rows.append(row)
    return pd.DataFrame(rows, columns=["epoch", "step", "lambda_max", "residual", "num_hvps", "loss", "grad_norm",
                                       "status", "mode", "n"])


PROBES = (Probe("trajectory", TrajectoryParams, trajectory, "HVP", "λmax along training, at kept snapshots",
          trajectory=True),)
