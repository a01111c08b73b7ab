"""What the curvature operators (``operators``: the Hessian, the generalized Gauss-Newton matrix,
one base :class:`~landscape.geometry.operators.CurvatureOperator`) tell: their extreme
eigenvalues (Lanczos, power iteration, the Ritz bound on λmin, the warm-started top eigenpair),
the condition number, the Hutchinson trace, the curvature along a direction and the spectral
density; every solver takes any operator. ``QuadraticModel`` has a known Hessian, for tests.

Conventions: as in ``operators`` (L in nats over all n samples; vectors flat over the trainable
parameters); every result records the operator's ``mode`` and n.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np
import scipy.linalg
import scipy.sparse.linalg
import torch

from ..learning.data import ImageDataset
from ..learning.evaluation import Batch, as_batch
from .operators import CurvatureOperator, HessianOperator


# ---------------------------------------------------------------------------- eigenvalues

@dataclass
class EigenResult:
    """Eigenpairs of the operator's matrix (H below). ``eigenvalues`` (k,) in the method's order, ``eigenvectors`` (k, dim) unit
    rows (operator dtype/device), ``residuals`` (k,) = ‖Hv − λv‖/|λ|, ``num_products`` operator
    products spent (including the residual checks)."""

    eigenvalues: np.ndarray
    eigenvectors: torch.Tensor = field(repr=False)
    residuals: np.ndarray
    num_products: int
    method: str
    mode: str
    n: int


def _residual(op: CurvatureOperator, v: torch.Tensor, hv: torch.Tensor, eigenvalue: float) -> float:
    return float((hv - eigenvalue * v).double().norm()) / abs(eigenvalue) if eigenvalue != 0 else math.inf


def lanczos(op: CurvatureOperator, k: int = 1, which: str = "LA", tol: float = 1e-3, max_iter: int | None = None,
            ncv: int | None = None, seed: int = 0, start: torch.Tensor | None = None) -> EigenResult:
    """k extreme eigenpairs by implicitly restarted Lanczos (ARPACK, ``scipy.sparse.linalg.eigsh``) in float64.

    which: "LA" largest (algebraic, returned in descending order), "SA" smallest (ascending),
    "LM" largest magnitude (descending |λ|). tol: ARPACK's stopping rule ‖Hv − λv‖ ≤ tol·|λ|;
    the eigenvalue error is then about tol²·|λ|²/gap, far below tol. ncv: Lanczos vectors
    per restart (default min(dim, 2k + 2); scipy's own default of 20 costs 20 products even
    for an easy λmax, while clustered eigenvalues such as the smallest converge in fewer
    products with a wider space). start: start vector (e.g. a previous eigenvector, for a warm start);
    default N(0, I) from ``seed``. k extra products check the residuals.
    """
    if which not in ("LA", "SA", "LM"):
        raise ValueError(f"unknown which {which!r}; allowed: LA, SA, LM")
    if not 1 <= k < op.dim:
        raise ValueError(f"k must be in 1..{op.dim - 1}, got {k}")
    first = op.num_products
    v0 = (np.random.default_rng(seed).standard_normal(op.dim) if start is None
          else start.detach().to("cpu", torch.float64).numpy())
    ncv = min(op.dim, 2 * k + 2) if ncv is None else ncv
    values, vectors = scipy.sparse.linalg.eigsh(op.as_linear_operator(), k=k, which=which, tol=tol,
                                                maxiter=max_iter, ncv=ncv, v0=v0)
    order = {"LA": np.argsort(-values), "SA": np.argsort(values), "LM": np.argsort(-np.abs(values))}[which]
    values = values[order]
    rows = torch.from_numpy(np.ascontiguousarray(vectors[:, order].T)).to(op.device, op.dtype)
    residuals = np.array([_residual(op, v, op.matvec(v), float(lam)) for v, lam in zip(rows, values)])
    return EigenResult(values, rows, residuals, op.num_products - first, f"lanczos-{which}", op.mode, op.n)


def power_iteration(op: CurvatureOperator, k: int = 1, max_iter: int = 100, tol: float | None = 1e-3,
                    seed: int = 0) -> EigenResult:
    """k dominant (largest |λ|) eigenpairs by power iteration with deflation (PyHessian's method).

    Each eigenpair starts from N(0, I) (seeded), is kept orthogonal to the ones found before,
    and stops when its residual ‖Hv − λv‖ ≤ ``tol``·|λ| (λ = vᵀHv, from the product the step
    takes anyway), or after ``max_iter`` products (``tol=None``: always ``max_iter``). PyHessian
    stops when λ changes by less than tol relative instead, which with close eigenvalues stops
    while λ is still 0.2–0.9% off at tol 1e-3; on the residual the error of λ is about
    tol²·λ²/gap.
    """
    if k < 1 or max_iter < 1:
        raise ValueError(f"k and max_iter must be >= 1, got k={k}, max_iter={max_iter}")
    generator = torch.Generator().manual_seed(seed)
    first = op.num_products
    found: list[torch.Tensor] = []
    values, residuals = [], []
    for _ in range(k):
        start_vector = torch.randn(op.dim, generator=generator, dtype=op.dtype).to(op.device)
        for _ in range(max_iter):
            v = start_vector
            for u in found:
                v = v - (v @ u) * u
            v = v / v.norm()
            hv = op.matvec(v)
            eigenvalue = float(v.double() @ hv.double())
            residual = _residual(op, v, hv, eigenvalue)
            if (tol is not None and residual <= tol) or hv.norm() == 0:
                break
            start_vector = hv
        found.append(v)
        values.append(eigenvalue)
        residuals.append(residual)
    return EigenResult(np.array(values), torch.stack(found), np.array(residuals), op.num_products - first,
                       "power", op.mode, op.n)


def study_batch(data: ImageDataset | Batch, batch_size: int, seed: int = 0) -> Batch:
    """The one random mini-batch of ``batch_size`` samples (drawn with ``seed``) that
    :func:`seed_power_iteration` uses."""
    images, labels = as_batch(data)
    if not 1 <= batch_size <= labels.shape[0]:
        raise ValueError(f"batch_size must be in 1..{labels.shape[0]}, got {batch_size}")
    index = torch.randperm(labels.shape[0], generator=torch.Generator().manual_seed(seed))[:batch_size]
    return images[index], labels[index]


def seed_power_iteration(model: torch.nn.Module, data: ImageDataset | Batch, batch_size: int = 128,
                         iterations: int = 20, mode: str = "train", k: int = 1, seed: int = 0) -> EigenResult:
    """The source studies' estimate: ``iterations`` power-iteration steps (no tolerance) on ONE
    random mini-batch of ``batch_size`` samples (drawn with ``seed``), in ``mode``. For showing
    the study method next to ``lanczos`` on the fixed set; n in the result is the batch size."""
    op = HessianOperator(model, study_batch(data, batch_size, seed), mode=mode, chunk_size=batch_size)
    result = power_iteration(op, k=k, max_iter=iterations, tol=None, seed=seed)
    return replace(result, method=f"power-{iterations}it-1batch{batch_size}")


@dataclass(frozen=True)
class ConditionNumber:
    """λmax/λmin over the computed extremes; ``value`` is None (and ``status`` says why) unless
    both are positive."""

    value: float | None
    status: str
    lambda_max: float
    lambda_min: float
    mode: str


NEGATIVE_CURVATURE = "undefined: negative curvature present"


def condition_number(top: EigenResult, bottom: EigenResult) -> ConditionNumber:
    """From a top (e.g. ``lanczos(which="LA")``) and a bottom (``which="SA"``) result."""
    if top.mode != bottom.mode:
        raise ValueError(f"results in different modes: {top.mode!r} and {bottom.mode!r}")
    lam_max = float(max(np.max(top.eigenvalues), np.max(bottom.eigenvalues)))
    lam_min = float(min(np.min(top.eigenvalues), np.min(bottom.eigenvalues)))
    if lam_min < 0:
        return ConditionNumber(None, NEGATIVE_CURVATURE, lam_max, lam_min, top.mode)
    if lam_min == 0:
        return ConditionNumber(None, "undefined: zero eigenvalue (singular Hessian)", lam_max, lam_min, top.mode)
    return ConditionNumber(lam_max / lam_min, "defined", lam_max, lam_min, top.mode)


# ---------------------------------------------------------------------------- trace and density

@dataclass(frozen=True)
class TraceEstimate:
    """Hutchinson estimate of tr(H): mean of vᵀHv over Rademacher v, with its standard error."""

    trace: float
    stderr: float
    num_samples: int
    num_products: int
    mode: str
    n: int


def hutchinson_trace(op: CurvatureOperator, num_samples: int = 100, seed: int = 0) -> TraceEstimate:
    """tr(H) ≈ mean_i v_iᵀ H v_i, v_i Rademacher (±1 entries, seeded); stderr = sample std / sqrt(m)."""
    if num_samples < 2:
        raise ValueError(f"num_samples must be >= 2 for a standard error, got {num_samples}")
    generator = torch.Generator().manual_seed(seed)
    first = op.num_products
    samples = np.empty(num_samples)
    for i in range(num_samples):
        v = (torch.randint(0, 2, (op.dim,), generator=generator) * 2 - 1).to(op.device, op.dtype)
        samples[i] = float(v.double() @ op.matvec(v).double())
    return TraceEstimate(float(samples.mean()), float(samples.std(ddof=1) / math.sqrt(num_samples)),
                         num_samples, op.num_products - first, op.mode, op.n)


def directional_curvature(op: CurvatureOperator, direction: torch.Tensor) -> float:
    """dᵀ H d for a flat ``direction`` d (not normalized here): the second derivative of
    α ↦ L(θ + α d) at α = 0, the curvature of a 1-D slice along d at the trained point. One
    Hessian-vector product."""
    d = direction.detach().to(op.device, op.dtype)
    return float(d.double() @ op.matvec(d).double())


@dataclass
class SpectralDensity:
    """Eigenvalue density of H by stochastic Lanczos quadrature (Ghorbani et al. 2019).

    Each run r gives Gauss quadrature nodes (Ritz values) and weights summing to 1;
    ``density`` on ``grid`` is the average over runs of Σ_j w_j N(t; node_j, sigma²), so it
    integrates to ~1 (a probability density over eigenvalues; multiply by dim for counts).
    """

    grid: np.ndarray
    density: np.ndarray
    nodes: list[np.ndarray]
    weights: list[np.ndarray]
    sigma: float
    num_products: int
    mode: str
    n: int

    def mass_between(self, low: float, high: float) -> float:
        """Quadrature estimate of the fraction of eigenvalues in [low, high] (no broadening)."""
        return float(np.mean([w[(x >= low) & (x <= high)].sum() for x, w in zip(self.nodes, self.weights)]))


def _float64_device(device: torch.device) -> torch.device:
    """Where float64 Lanczos vectors live: the operator's device, or the CPU for MPS (no float64)."""
    return torch.device("cpu") if device.type == "mps" else device


def _lanczos_tridiagonal(op: CurvatureOperator, v: torch.Tensor, steps: int,
                         done: Callable[[np.ndarray, np.ndarray, float], bool] | None = None,
                         ) -> tuple[np.ndarray, np.ndarray, torch.Tensor, float]:
    """α (m,), β (m-1,), the basis (m, dim; float64) and β_m, the norm of the next residual
    vector (0 when the Krylov space is invariant), of up to ``steps`` Lanczos steps from unit
    ``v``, full reorthogonalization in float64 (on the CPU when the operator is on MPS). Stops
    early (m < steps) when the space is invariant or ``done(α, β, β_m)`` says so."""
    home = _float64_device(op.device)
    basis = torch.empty((min(steps, op.dim), op.dim), dtype=torch.float64, device=home)
    alphas, betas = [], []
    basis[0] = v.to(home)
    for j in range(basis.shape[0]):
        w = op.matvec(basis[j]).to(home).double()
        alphas.append(float(basis[j] @ w))
        for _ in range(2):  # twice is enough (Kahan)
            w -= basis[: j + 1].T @ (basis[: j + 1] @ w)
        beta = float(w.norm())
        invariant = beta <= 1e-10 * max(abs(a) for a in alphas)
        stop = done is not None and done(np.array(alphas), np.array(betas), beta)
        if j + 1 == basis.shape[0] or invariant or stop:
            return np.array(alphas), np.array(betas), basis[: j + 1], 0.0 if invariant else beta
        betas.append(beta)
        basis[j + 1] = w / beta
    raise AssertionError("unreachable")


def _top_ritz_pair(alphas: np.ndarray, betas: np.ndarray) -> tuple[float, np.ndarray]:
    """The largest eigenvalue of the tridiagonal (α, β) and its unit eigenvector."""
    if len(alphas) == 1:
        return float(alphas[0]), np.ones(1)
    value, vector = scipy.linalg.eigh_tridiagonal(alphas, betas, select="i", select_range=(len(alphas) - 1,) * 2)
    return float(value[0]), vector[:, 0]


def top_eigenpair(op: CurvatureOperator, tol: float = 1e-2, max_steps: int = 40, seed: int = 0,
                  start: torch.Tensor | None = None) -> EigenResult:
    """λmax and its eigenvector by Lanczos (full reorthogonalization, no restart) from ``start``
    (a warm start, such as the eigenvector at a nearby θ; default N(0, I) from ``seed``). It stops
    as soon as the top Ritz pair (θ, v) has ‖Hv − θv‖ ≤ ``tol``·|θ|, read off the recurrence as
    β_m·|s_m| (no extra product), or after ``max_steps`` products; ``residuals`` holds that
    relative residual. Memory: the basis, up to max_steps × dim float64."""
    if max_steps < 1:
        raise ValueError(f"max_steps must be >= 1, got {max_steps}")
    first = op.num_products
    v = (torch.from_numpy(np.random.default_rng(seed).standard_normal(op.dim)) if start is None
         else start.detach().to("cpu", torch.float64)).to(_float64_device(op.device))

    def done(alphas: np.ndarray, betas: np.ndarray, beta: float) -> bool:
        theta, s = _top_ritz_pair(alphas, betas)
        return beta * abs(s[-1]) <= tol * abs(theta)

    alphas, betas, basis, beta = _lanczos_tridiagonal(op, v / v.norm(), max_steps, done)
    theta, s = _top_ritz_pair(alphas, betas)
    vector = (torch.from_numpy(s).to(basis) @ basis).to(op.device, op.dtype)
    residual = beta * abs(s[-1]) / abs(theta) if theta != 0 else math.inf
    return EigenResult(np.array([theta]), vector[None], np.array([residual]), op.num_products - first,
                       "lanczos-warm", op.mode, op.n)


def smallest_ritz_value(op: CurvatureOperator, steps: int = 20, seed: int = 0) -> float:
    """θ, the smallest eigenvalue of the ``steps``-step Lanczos tridiagonal from a seeded N(0, I)
    start: a Rayleigh quotient of H, so λmin ≤ θ. A clearly negative θ proves negative curvature
    at the cost of ``steps`` products, where converging λmin itself (``lanczos(which="SA")``)
    can take many restarts."""
    start = torch.from_numpy(np.random.default_rng(seed).standard_normal(op.dim)).to(_float64_device(op.device))
    alphas, betas, _, _ = _lanczos_tridiagonal(op, start / start.norm(), steps)
    return float(scipy.linalg.eigvalsh_tridiagonal(alphas, betas)[0]) if len(betas) else float(alphas[0])


def spectral_density(op: CurvatureOperator, num_runs: int = 3, num_steps: int = 80, num_points: int = 1000,
                     sigma: float | None = None, grid: np.ndarray | None = None, seed: int = 0) -> SpectralDensity:
    """SLQ density: ``num_runs`` Lanczos runs of ``num_steps`` products from Rademacher vectors (seeded).

    sigma: Gaussian broadening in eigenvalue units (default 1% of the Ritz-value range);
    grid: where to evaluate the density (default ``num_points`` points spanning the nodes ± 5 sigma).
    Memory: the Lanczos basis, num_steps × dim float64 (full reorthogonalization, as PyHessian).
    """
    if num_runs < 1 or num_steps < 1:
        raise ValueError(f"num_runs and num_steps must be >= 1, got {num_runs}, {num_steps}")
    generator = torch.Generator().manual_seed(seed)
    first = op.num_products
    nodes, weights = [], []
    for _ in range(num_runs):
        v = (torch.randint(0, 2, (op.dim,), generator=generator) * 2 - 1).to(_float64_device(op.device),
                                                                             torch.float64)
        alphas, betas, _, _ = _lanczos_tridiagonal(op, v / v.norm(), num_steps)
        ritz, vectors = scipy.linalg.eigh_tridiagonal(alphas, betas)
        nodes.append(ritz)
        weights.append(vectors[0] ** 2)
    all_nodes = np.concatenate(nodes)
    if sigma is None:
        spread = float(all_nodes.max() - all_nodes.min())
        sigma = 0.01 * spread if spread > 0 else 1e-3 * max(1.0, float(np.abs(all_nodes).max()))
    if sigma <= 0:
        raise ValueError(f"sigma must be > 0, got {sigma}")
    if grid is None:
        grid = np.linspace(all_nodes.min() - 5 * sigma, all_nodes.max() + 5 * sigma, num_points)
    grid = np.asarray(grid, dtype=np.float64)
    density = np.zeros_like(grid)
    for x, w in zip(nodes, weights):
        density += (w[None, :] * np.exp(-0.5 * ((grid[:, None] - x[None, :]) / sigma) ** 2)).sum(axis=1)
    density /= num_runs * sigma * math.sqrt(2 * math.pi)
    return SpectralDensity(grid, density, nodes, weights, float(sigma), op.num_products - first, op.mode, op.n)


# ---------------------------------------------------------------------------- known curvature

class QuadraticModel(torch.nn.Module):
    """A stand-in "network" with known curvature, for validating the probes.

    With 2 classes and every label 0, its mean cross-entropy on any images is exactly
    log 2 + ½ (θ − c)ᵀ A (θ − c) (logits [−q, log(2 − e^{−q})], q the quadratic form), so its
    Hessian is A and the loss is smooth for q > −log 2. θ (the parameter ``theta``) starts at
    ``start`` (default: c).
    """

    def __init__(self, a: torch.Tensor, center: torch.Tensor | None = None, start: torch.Tensor | None = None):
        super().__init__()
        if a.dim() != 2 or a.shape[0] != a.shape[1] or not torch.allclose(a, a.T):
            raise ValueError("A must be a symmetric square matrix")
        center = torch.zeros(a.shape[0], dtype=a.dtype) if center is None else center
        self.register_buffer("a", a.clone())
        self.register_buffer("center", center.clone())
        self.theta = torch.nn.Parameter((center if start is None else start).clone())

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        delta = self.theta - self.center
        q = 0.5 * delta @ self.a @ delta
        logits = torch.stack([-q, torch.log(2 - torch.exp(-q))])
        return logits.expand(images.shape[0], 2)
