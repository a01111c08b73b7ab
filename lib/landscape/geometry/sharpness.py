"""Sharpness and robustness of a minimum: weight noise, ε-sharpness (SAM / ASAM), gradient norm.

Conventions: L is the mean cross-entropy in nats over the whole fixed set (``evaluation``),
accuracy a fraction; every number records the ``mode`` and n. Parameter vectors are flat
(``directions``). Perturbations are written into the model in place and θ is restored bit
for bit (``directions.ParameterShift``) or the model is used functionally; the model is
never left modified. All randomness comes from seeded CPU generators.

Weight noise (``scale``):
- ``"absolute"``: δ ~ N(0, σ² I) on every trainable parameter (the source studies' noise);
- ``"relative"``: per parameter tensor l with n_l entries, δ_l ~ N(0, (σ ‖θ_l‖ / sqrt(n_l))² I),
  i.e. E‖δ_l‖² = σ² ‖θ_l‖²: σ is the noise-to-weight norm ratio of every tensor.
Draw k uses the same standard-normal vector for every σ (common random numbers), so curves
over σ are smooth and differences between σ are not sampling noise.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd
import scipy.stats
import torch

from ..core import progress
from ..learning.data import ImageDataset
from ..learning.evaluation import Batch, as_batch, evaluate
from .operators import loss_and_gradient
from .directions import ParameterShift, parameter_vector, trainable_parameters

NOISE_SCALES = ("absolute", "relative")


def _noise_scale(model: torch.nn.Module, scale: str) -> torch.Tensor:
    """Per-entry standard deviation for σ = 1 (flat)."""
    if scale not in NOISE_SCALES:
        raise ValueError(f"unknown noise scale {scale!r}; allowed: {list(NOISE_SCALES)}")
    theta = parameter_vector(model)
    if scale == "absolute":
        return torch.ones_like(theta)
    return torch.cat([torch.full((p.numel(),), float(p.detach().norm()) / math.sqrt(p.numel()),
                                 dtype=theta.dtype, device=theta.device) for _, p in trainable_parameters(model)])


def noise_draws(model: torch.nn.Module, data: ImageDataset | Batch, sigmas: Sequence[float],
                scale: str = "absolute", num_draws: int = 5, seed: int = 0, mode: str = "eval",
                chunk_size: int = 1000) -> pd.DataFrame:
    """Loss and accuracy at θ + δ for every σ and draw (see module docstring).

    Columns: sigma, scale, draw, loss, accuracy, flatness (= |L(θ+δ) − L(θ)|), base_loss,
    base_accuracy, mode, n. One row per (sigma, draw).
    """
    sigmas = [float(s) for s in sigmas]
    if not sigmas or any(s < 0 for s in sigmas):
        raise ValueError(f"sigmas must be a non-empty list of values >= 0, got {sigmas}")
    if num_draws < 1:
        raise ValueError(f"num_draws must be >= 1, got {num_draws}")
    std = _noise_scale(model, scale)
    base = evaluate(model, data, chunk_size, mode)
    generator = torch.Generator().manual_seed(seed)
    rows = []
    with ParameterShift(model) as shift, progress.task(f"noise ({scale})", num_draws * len(sigmas), "draw"):
        for draw in range(num_draws):
            noise = torch.randn(std.numel(), generator=generator, dtype=std.dtype).to(std.device) * std
            for sigma in sigmas:
                shift.set_combination([sigma], [noise])
                result = evaluate(model, data, chunk_size, mode)
                rows.append({"sigma": sigma, "scale": scale, "draw": draw, "loss": result.loss,
                             "accuracy": result.accuracy, "flatness": abs(result.loss - base.loss),
                             "base_loss": base.loss, "base_accuracy": base.accuracy, "mode": mode, "n": result.n})
                progress.tick()
    return pd.DataFrame(rows)


def summarize_draws(draws: pd.DataFrame, confidence: float = 0.95) -> pd.DataFrame:
    """Mean and t-based confidence interval over draws, tidy: one row per (sigma, scale, metric).

    Columns: sigma, scale, metric ("loss", "accuracy", "flatness"), mean, std (ddof=1),
    ci_low, ci_high, num_draws, mode, n. With a single draw std and the interval are NaN.
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    rows = []
    for (sigma, scale, mode, n), group in draws.groupby(["sigma", "scale", "mode", "n"], sort=True):
        m = len(group)
        for metric in ("loss", "accuracy", "flatness"):
            values = group[metric].to_numpy(dtype=np.float64)
            mean = float(values.mean())
            std = float(values.std(ddof=1)) if m > 1 else math.nan
            half = float(scipy.stats.t.ppf(0.5 + confidence / 2, m - 1)) * std / math.sqrt(m) if m > 1 else math.nan
            rows.append({"sigma": sigma, "scale": scale, "metric": metric, "mean": mean, "std": std,
                         "ci_low": mean - half, "ci_high": mean + half, "num_draws": m, "mode": mode, "n": n})
    return pd.DataFrame(rows)


def noise_robustness(model: torch.nn.Module, data: ImageDataset | Batch, sigmas: Sequence[float],
                     scale: str = "absolute", num_draws: int = 5, seed: int = 0, mode: str = "eval",
                     chunk_size: int = 1000, confidence: float = 0.95) -> pd.DataFrame:
    """``summarize_draws(noise_draws(...))``: mean and confidence interval of loss, accuracy and
    the seeds' flatness |L(θ+δ) − L(θ)| for each σ."""
    draws = noise_draws(model, data, sigmas, scale, num_draws, seed, mode, chunk_size)
    return summarize_draws(draws, confidence)


@dataclass(frozen=True)
class EpsilonSharpness:
    """max over the constraint ball of L(θ+δ) − L(θ) (nats), estimated from below.

    ``first_order``: at SAM's step δ = ρ T² g / ‖T g‖ (T = I for SAM); ``sharpness``: the best
    over that step and the projected-ascent iterates; ``delta_norm``: ‖δ‖ of the best point;
    ``steps``: ascent steps taken; ``converged``: whether the last one changed the value by at
    most ``tol`` relative (False: stopped at ``max_steps``).
    """

    sharpness: float
    first_order: float
    base_loss: float
    rho: float
    adaptive: bool
    eta: float
    steps: int
    converged: bool
    tol: float
    max_steps: int
    delta_norm: float
    mode: str
    n: int


def epsilon_sharpness(model: torch.nn.Module, data: ImageDataset | Batch, rho: float, tol: float = 1e-3,
                      max_steps: int = 50, step_size: float = 1.0, adaptive: bool = False, eta: float = 0.01,
                      mode: str = "eval", chunk_size: int = 1000, seed: int = 0) -> EpsilonSharpness:
    """ε-sharpness max_{‖T⁻¹δ‖ ≤ ρ} L(θ+δ) − L(θ) over the fixed set.

    SAM (``adaptive=False``): T = I, the Euclidean ball of radius ρ. ASAM (Kwon et al. 2021,
    ``adaptive=True``): T = diag(|θ| + eta) on every parameter (the reference code leaves biases
    at T = 1; here all parameters are scaled). In u = T⁻¹δ the ball is Euclidean; the search
    starts at SAM's first-order step and takes normalized gradient-ascent steps of length
    ``step_size`` · ρ in u, each projected back onto the ball, until a step changes the value
    L(θ+δ) − L(θ) by at most ``tol`` relative, or ``max_steps`` steps (0: SAM's step alone). A
    fixed 5 steps underestimate it by about 9% near a minimum. Where the gradient is 0 (an exact
    minimum) the start is a random point on the sphere (``seed``).
    Cost: steps + 2 gradients over the set.
    """
    if rho <= 0 or tol <= 0 or max_steps < 0 or step_size <= 0 or eta < 0:
        raise ValueError(f"need rho > 0, tol > 0, max_steps >= 0, step_size > 0, eta >= 0; "
                         f"got {rho}, {tol}, {max_steps}, {step_size}, {eta}")
    theta = parameter_vector(model)
    t = theta.abs() + eta if adaptive else torch.ones_like(theta)
    if adaptive and not torch.all(t > 0):
        raise ValueError("ASAM needs eta > 0 where parameters are exactly 0")
    base_loss, grad = loss_and_gradient(model, data, mode, chunk_size)

    def ascent_direction(gradient: torch.Tensor) -> torch.Tensor:
        g_u = t * gradient
        norm = g_u.norm()
        if norm > 0:
            return g_u / norm
        random = torch.randn(theta.numel(), generator=torch.Generator().manual_seed(seed), dtype=theta.dtype)
        return random.to(theta.device) / random.norm()

    u = rho * ascent_direction(grad)
    loss, grad = loss_and_gradient(model, data, mode, chunk_size, theta=theta + t * u)
    first_order = best = loss - base_loss
    best_u, steps, converged = u, 0, False
    while steps < max_steps and not converged:
        u = u + step_size * rho * ascent_direction(grad)
        u = u * min(1.0, rho / float(u.norm()))
        previous = loss
        loss, grad = loss_and_gradient(model, data, mode, chunk_size, theta=theta + t * u)
        steps += 1
        if loss - base_loss > best:
            best, best_u = loss - base_loss, u
        converged = abs(loss - previous) <= tol * abs(loss - base_loss)
    return EpsilonSharpness(best, first_order, base_loss, float(rho), adaptive, float(eta), steps, converged,
                            float(tol), int(max_steps), float((t * best_u).norm()), mode,
                            int(as_batch(data)[1].shape[0]))


@dataclass(frozen=True)
class GradientNorm:
    """‖∇L(θ)‖₂ over the fixed set (nats per unit parameter distance) and L(θ)."""

    norm: float
    loss: float
    mode: str
    n: int


def gradient_norm(model: torch.nn.Module, data: ImageDataset | Batch, mode: str = "eval",
                  chunk_size: int = 1000) -> GradientNorm:
    """Euclidean norm of the full-set gradient of the mean loss."""
    loss, grad = loss_and_gradient(model, data, mode, chunk_size)
    return GradientNorm(float(grad.double().norm()), loss, mode, int(as_batch(data)[1].shape[0]))
