"""The trajectory probe: λmax, loss and gradient norm at the snapshots kept along training (the
training jobs of its runs keep them: ``training`` module docstring), Lanczos warm-started from the
previous snapshot's eigenvector, on a stratified subset of the train probe set; it also measures
runs that diverged, up to the last snapshot they kept.

Read against the optimizer: :func:`stability_threshold` (2(1+β)/η), :func:`rate_at` (η at a
point), and for full-batch runs :func:`edge_table` and :func:`edge_summary` (when λmax first
reaches ``EDGE_SHARE`` of the threshold, and where it stays); ``analysis.dynamics`` builds the
trajectory table they read, and the claim check in ``checks`` decides with them.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import pandas as pd
import torch
from pydantic import Field, model_validator
from typing import Literal

from ...geometry import curvature, operators
from ..base import Probe, ProbeSets, ProbeSettings, Snapshot


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
          trajectory=True, checks="landscape.probes.trajectory.checks"),)


# ============================================================================ against the optimizer

def stability_threshold(lr: float, momentum: float, nesterov: bool = False) -> float:
    """The largest curvature λ for which SGD with momentum (PyTorch's form) at learning rate
    ``lr`` is stable on the quadratic ½λx² with full-batch gradients (module docstring)."""
    if lr <= 0:
        return math.inf
    return 2 * (1 + momentum) / (lr * (1 + 2 * momentum)) if nesterov else 2 * (1 + momentum) / lr


def rate_at(epoch: float, history: Sequence[dict], first_rate: float) -> float:
    """η of the epoch a point at ``epoch`` ends or lies in (epoch 1's for the initialization): of
    the first history row at or after it (a run may record every few epochs)."""
    ending = max(1, math.ceil(epoch))
    return next((float(row["lr"]) for row in history if row["epoch"] >= ending), first_rate)


EDGE_SHARE = 0.9  # λmax "reaches" the threshold at this share of 2(1+β)/η (Lanczos and the sampled point between
#                   two measurements leave λmax a little below the level it hovers at; the 90%)


def edge_table(trajectory: pd.DataFrame) -> pd.DataFrame:
    """One row per run of ``trajectory_table`` rows (full-batch runs, where the threshold binds):
    config, config_label, run, seed, lr, momentum, threshold, outcome, first_step (the first
    measured point whose λmax is at least EDGE_SHARE × threshold; NaN if none), ratio_after (the
    median λmax/threshold over the points after it; NaN without any), points_after, max_ratio,
    lambda_init, lambda_last, loss_last, last_step (of the last measured point)."""
    rows = []
    for run_id, points in trajectory.groupby("run", sort=False):
        ok = points[points["status"] == "ok"].sort_values("step")
        reached = ok[ok["ratio"] >= EDGE_SHARE]
        first = float(reached["step"].iloc[0]) if len(reached) else math.nan
        after = ok[ok["step"] > first] if len(reached) else ok.iloc[0:0]
        head = points.iloc[0]
        rows.append({"config": head["config"], "config_label": head["config_label"], "run": run_id,
                     "seed": head["seed"], "lr": float(head["lr"]), "momentum": float(head["momentum"]),
                     "threshold": float(head["threshold"]), "outcome": head["outcome"], "first_step": first,
                     "ratio_after": float(after["ratio"].median()) if len(after) else math.nan,
                     "points_after": len(after), "max_ratio": float(ok["ratio"].max()) if len(ok) else math.nan,
                     "lambda_init": float(ok["lambda_max"].iloc[0]) if len(ok) else math.nan,
                     "lambda_last": float(ok["lambda_max"].iloc[-1]) if len(ok) else math.nan,
                     "loss_last": float(ok["loss"].iloc[-1]) if len(ok) else math.nan,
                     "last_step": float(ok["step"].iloc[-1]) if len(ok) else math.nan})
    return pd.DataFrame(rows)


def edge_summary(edges: pd.DataFrame) -> pd.DataFrame:
    """Per configuration (``edge_table`` rows): runs, reached (runs whose λmax reached EDGE_SHARE ×
    threshold), the median over those runs of the first step, and of the median ratio after it,
    with its smallest and largest value over the seeds (the spread)."""
    rows = []
    for config, part in edges.groupby("config", sort=False):
        hit = part.dropna(subset=["first_step"])
        after = hit["ratio_after"].dropna()
        rows.append({"config": config, "label": part["config_label"].iloc[0], "lr": part["lr"].iloc[0],
                     "momentum": part["momentum"].iloc[0], "threshold": part["threshold"].iloc[0], "runs": len(part),
                     "reached": len(hit), "first_step": float(hit["first_step"].median()) if len(hit) else math.nan,
                     "ratio_after": float(after.median()) if len(after) else math.nan,
                     "ratio_low": float(after.min()) if len(after) else math.nan,
                     "ratio_high": float(after.max()) if len(after) else math.nan,
                     "lambda_last": float(part["lambda_last"].median()), "loss_last": float(part["loss_last"].median())})
    return pd.DataFrame(rows)
