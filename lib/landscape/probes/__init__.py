"""The probe registry: every geometry probe a params file can ask for (``params.probes.<name>``).

One :class:`Probe` per probe: its name (the params key and the ``ProbeResults`` frame), its
settings model (validated params), what its progress counts, what it measures (said where a
report cannot show it), how many trained runs it takes (1, or 2 for interpolation pairs), and a
pure ``compute(models, sets, cfg)`` that returns a tidy frame (or a tuple of frames, one per name
in ``outputs``) without run ids or labels: the pipeline adds ``run`` and ``label`` (``pair``,
``run_a``, ``run_b`` for pairs), so a cached result is shared by every report that trains the same
run. Adding a probe means adding its settings, its compute function and its ``Probe`` here, its
report section, and its tests.

Fixed probe sets (:class:`SetsSpec`, :func:`build_sets`): stratified subsets
(``ImageDataset.stratified``, seed ``eval_set.seed``) of ``eval_set.train_size`` training and
``test_size`` test images of the report's data. Every number carries the evaluation ``mode``
(``eval``: BatchNorm running statistics; ``train``: per-chunk statistics, see ``evaluation``)
and n.

What is measured where (the studies' choices, kept so numbers are comparable):

- hessian: Lanczos top-k (``which="LA"``) eigenvalues and a Hutchinson trace ± stderr on the
  train probe set; the smallest eigenvalue, first bounded from above by the smallest Ritz value
  of BOTTOM_NCV Lanczos steps (a clearly negative bound proves negative curvature:
  ``lambda_min_kind`` "upper bound"), else converged by ARPACK (``which="SA"``, at most
  BOTTOM_MAX_ITER restarts: "converged" or "not converged"); the honest condition number
  (``curvature.condition_number``: undefined when negative curvature is present), and the
  study's estimate (``curvature.seed_power_iteration``: one random mini-batch of
  ``study_batch_size`` training images, ``study_iterations`` power steps, train mode as the
  studies ran it) in its own row, method ``study``; with ``attribute``, the converged λmax of
  the steps between the two (``ATTRIBUTION``: train mode over the probe set, then the one
  mini-batch), so a report can say how much of a gap is mode, batch and iteration count;
- density: the Hessian's eigenvalue density by stochastic Lanczos quadrature on the train probe
  set (``curvature.spectral_density``), with the fraction of eigenvalues below zero;
- noise: accuracy and loss on the test probe set under δ ~ N(0, σ²I) (``absolute``, the
  studies' noise) and under per-tensor relative noise (``relative``), mean and 95% CI over draws;
- flatness: the study's |L(θ + δ) − L(θ)| on the train probe set, absolute σ, mean and CI;
- sharpness: SAM and ASAM ε-sharpness (``sharpness.epsilon_sharpness``) on the train probe set,
  with the first-order value (SAM's single step, what a one-step study measures) beside the
  value after the projected ascent;
- gradient: ‖∇L(θ)‖₂ of the mean loss on the train and test probe sets;
- slice1d / surface2d: train and test probe sets along filter-normalized random directions
  (ours); when the params ask for ``direction: random`` or ``unit`` the study's direction
  (unnormalized N(0, I), or unit norm over all parameters) is added (``direction`` column);
- loss_range: the range of the loss over a coarse grid on the plane of ``surface2d``, for the
  spread of that range over seeds;
- measures: every geometric measure of one model at settings shared by all studies, for the
  synthesis report (``measures``), on the train probe set;
- trajectory: λmax, loss and gradient norm at the snapshots kept along training (the training
  jobs of its runs keep them: ``training`` module docstring), Lanczos warm-started from the
  previous snapshot's eigenvector, on a stratified subset of the train probe set; it also
  measures runs that diverged, up to the last snapshot they kept;
- interpolation: ``connectivity.interpolate`` on train and test probe sets with the barrier;
  ``bn: both`` gives both BatchNorm treatments (for nets with BatchNorm; without it they are
  the same and only ``interpolate`` is run).

May import: ``core``, ``learning``, ``geometry``.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Callable, Literal, Optional, Sequence

import numpy as np
import pandas as pd
import scipy.sparse.linalg
import torch
from pydantic import Field, model_validator

from ..core.schema import Strict
from ..geometry import connectivity, curvature, directions, sharpness, surfaces
from ..learning.data import ImageDataset
from ..learning.evaluation import has_batchnorm
from ..learning.training import DataSpec, load_splits

# The smallest eigenvalue sits in a cluster near 0 and converges slowly: a wide Krylov space
# (BOTTOM_NCV vectors) per restart needs far fewer products than many narrow restarts.
BOTTOM_MAX_ITER = 5  # ARPACK restarts
BOTTOM_NCV = 20  # also the Lanczos steps of the cheap negative-curvature test
CONFIDENCE = 0.95
NOT_COMPUTED = "not computed"  # a hessian number the settings (or the method) leave out
NEGATIVE_FRACTION = 0.01  # density: an eigenvalue below −1% of the largest |λ| counts as negative
PROBE_VERSION = 3  # bump when a change alters the numbers a cached probe would produce (3: HVP chunks fit a memory budget)


# ============================================================================ probe sets

class ProbeSettings(Strict):
    """What every probe's settings hold: ``seeds``, which runs of each configuration it probes:
    ``all`` (statistics over seeds) or ``study`` (the study-seed run only, for probes whose cost
    buys a figure rather than a verdict, e.g. a 2-D surface)."""

    seeds: Literal["all", "study"] = "all"


class EvalSetParams(Strict):
    """The fixed, stratified probe sets (sizes in samples) and the BN/dropout mode of probes."""

    train_size: int = Field(default=4096, gt=0)
    test_size: int = Field(default=2000, gt=0)
    seed: int = 0
    mode: Literal["eval", "train"] = "eval"
    chunk_size: int = Field(default=1000, gt=0)


@dataclass(frozen=True)
class SetsSpec:
    """What determines a report's probe sets: its data and ``probes.eval_set`` (hashable, cheap
    to send to a worker, which builds the sets itself)."""

    data: DataSpec
    eval_set: EvalSetParams

    def identity(self) -> dict:
        return {"data": self.data.identity(), "eval_set": self.eval_set.model_dump()}


@dataclass(frozen=True)
class ProbeSets:
    """The fixed evaluation sets of a report (see module docstring)."""

    train: ImageDataset
    test: ImageDataset
    train_full: ImageDataset  # the whole training split of the report (for the study's mini-batch)
    mode: str
    chunk_size: int

    def splits(self) -> dict[str, ImageDataset]:
        return {"train": self.train, "test": self.test}


@functools.lru_cache(maxsize=4)
def build_sets(spec: SetsSpec) -> ProbeSets:
    """Stratified train/test probe sets of ``spec`` (sizes capped at the split sizes); memoized
    per process."""
    cfg = spec.eval_set
    train, test = load_splits(spec.data)
    return ProbeSets(train.stratified(cfg.train_size, cfg.seed), test.stratified(cfg.test_size, cfg.seed), train,
                     cfg.mode, cfg.chunk_size)


# ============================================================================ curvature

class HessianParams(ProbeSettings):
    """``lambda_min``: also bound or converge the smallest eigenvalue (and so the condition
    number); it costs more Hessian-vector products than λmax, so a report whose claims do not
    need its sign leaves it out."""

    top_k: int = Field(default=3, gt=0)
    tol: float = Field(default=1e-3, gt=0)
    trace_samples: int = Field(default=50, ge=0)
    lambda_min: bool = True
    # the studies' variant: power iteration on one mini-batch
    study_batch_size: int = Field(default=128, gt=0)
    study_iterations: int = Field(default=20, gt=0)
    # the steps between ours and the study's method, one change at a time (``ATTRIBUTION``)
    attribute: bool = False


def _bottom(op: curvature.HessianOperator, tol: float, seed: int) -> curvature.EigenResult | None:
    try:
        return curvature.lanczos(op, k=1, which="SA", tol=tol, max_iter=BOTTOM_MAX_ITER,
                                 ncv=min(op.dim - 1, BOTTOM_NCV), seed=seed)
    except scipy.sparse.linalg.ArpackNoConvergence:
        return None


def _our_curvature(op: curvature.HessianOperator, cfg: HessianParams) -> dict:
    """Our numbers of the hessian frame: top-k by Lanczos, λmin (bounded or converged), the
    condition number and the trace. A Lanczos that fails (H = 0 or not finite: a collapsed
    network) gives NaN with the reason in lambda_min_kind and condition_status."""
    try:
        top = curvature.lanczos(op, k=cfg.top_k, which="LA", tol=cfg.tol, seed=0)
    except scipy.sparse.linalg.ArpackError as exc:
        failed = f"not computed: Lanczos failed ({str(exc).split('.')[0]})"
        return {"lambda_max": np.nan, "eigenvalues": (), "lambda_min": np.nan, "lambda_min_kind": failed,
                "condition_number": np.nan, "condition_status": failed, "trace": np.nan, "trace_stderr": np.nan}
    if not cfg.lambda_min:
        cond_value, cond_status, lam_min, lam_min_kind = None, NOT_COMPUTED, np.nan, NOT_COMPUTED
    elif (ritz := curvature.smallest_ritz_value(op, min(op.dim, BOTTOM_NCV), seed=0)) < \
            -cfg.tol * abs(float(top.eigenvalues[0])):  # λmin ≤ ritz < 0: no need to converge λmin
        cond_value, cond_status, lam_min, lam_min_kind = None, curvature.NEGATIVE_CURVATURE, ritz, "upper bound"
    elif (bottom := _bottom(op, cfg.tol, seed=0)) is None:
        cond_value, cond_status, lam_min, lam_min_kind = (None, "undefined: smallest eigenvalue did not converge",
                                                          np.nan, "not converged")
    else:
        cond = curvature.condition_number(top, bottom)
        cond_value, cond_status, lam_min, lam_min_kind = cond.value, cond.status, cond.lambda_min, "converged"
    trace = (curvature.hutchinson_trace(op, cfg.trace_samples, seed=0) if cfg.trace_samples >= 2 else None)
    return {"lambda_max": float(top.eigenvalues[0]), "eigenvalues": tuple(float(x) for x in top.eigenvalues),
            "lambda_min": lam_min, "lambda_min_kind": lam_min_kind,
            "condition_number": np.nan if cond_value is None else cond_value, "condition_status": cond_status,
            "trace": np.nan if trace is None else trace.trace,
            "trace_stderr": np.nan if trace is None else trace.stderr}


def hessian(models: Sequence[torch.nn.Module], sets: ProbeSets, cfg: HessianParams) -> pd.DataFrame:
    """Rows: method ``lanczos`` (ours, train probe set), ``study`` (the study's power iteration on
    one mini-batch) and, with ``cfg.attribute``, the ``ATTRIBUTION`` steps between them. Columns: method, lambda_max, eigenvalues (top-k, descending),
    lambda_min, lambda_min_kind, condition_number, condition_status, trace, trace_stderr,
    num_hvps, mode, n."""
    model, = models
    op = curvature.HessianOperator(model, sets.train, mode=sets.mode, chunk_size=sets.chunk_size)
    numbers = _our_curvature(op, cfg)
    op.release()
    ours = {"method": "lanczos", **numbers, "num_hvps": op.num_products, "mode": sets.mode, "n": op.n}
    batch = min(cfg.study_batch_size, len(sets.train_full))
    study = curvature.seed_power_iteration(model, sets.train_full, batch_size=batch,
                                           iterations=cfg.study_iterations, mode="train", k=1, seed=0)
    theirs = {"method": "study", "lambda_max": float(study.eigenvalues[0]),
              "eigenvalues": (float(study.eigenvalues[0]),), "lambda_min": np.nan, "lambda_min_kind": NOT_COMPUTED,
              "condition_number": np.nan, "condition_status": NOT_COMPUTED, "trace": np.nan,
              "trace_stderr": np.nan, "num_hvps": study.num_products, "mode": study.mode, "n": study.n}
    rows = [ours, theirs]
    if cfg.attribute:
        rows += _attribution(model, sets, cfg, batch)
    return pd.DataFrame(rows)


# The methods between ours (Lanczos, the probe set, ``sets.mode``) and the study's (power iteration
# on one mini-batch in train mode), each changing one thing of the one before.
ATTRIBUTION = {"lanczos-train": "train mode: BatchNorm normalizes each batch of the study's size with its own "
                                "statistics, over the whole probe set",
               "lanczos-batch": "train mode on the study's one mini-batch alone"}


def _attribution(model: torch.nn.Module, sets: ProbeSets, cfg: HessianParams, batch: int) -> list[dict]:
    """Converged λmax (Lanczos) between ours and the study's method: in train mode over the probe
    set in batches of ``batch`` (only with BatchNorm; otherwise the modes are the same), then on
    the study's one mini-batch; the study row then differs from the last only by stopping after
    ``study_iterations`` power steps."""
    steps = [("lanczos-batch", curvature.study_batch(sets.train_full, batch, seed=0), batch)]
    if has_batchnorm(model):
        steps.insert(0, ("lanczos-train", sets.train, batch))
    rows = []
    for method, data, chunk in steps:
        op = curvature.HessianOperator(model, data, mode="train", chunk_size=chunk)
        lam = float(curvature.lanczos(op, k=1, which="LA", tol=cfg.tol, seed=0).eigenvalues[0])
        op.release()
        rows.append({"method": method, "lambda_max": lam, "eigenvalues": (lam,), "lambda_min": np.nan,
                     "lambda_min_kind": NOT_COMPUTED, "condition_number": np.nan, "condition_status": NOT_COMPUTED,
                     "trace": np.nan, "trace_stderr": np.nan, "num_hvps": op.num_products, "mode": "train", "n": op.n})
    return rows


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
    op = curvature.HessianOperator(model, sets.train, mode=sets.mode, chunk_size=sets.chunk_size)
    found = curvature.spectral_density(op, num_runs=cfg.runs, num_steps=cfg.steps, num_points=cfg.points,
                                       seed=cfg.seed)
    op.release()
    largest = max(float(np.abs(nodes).max()) for nodes in found.nodes)
    return pd.DataFrame({"eigenvalue": found.grid, "density": found.density,
                         "negative_mass": found.mass_between(-np.inf, -NEGATIVE_FRACTION * largest),
                         "sigma": found.sigma, "runs": cfg.runs,
                         "steps": cfg.steps, "num_hvps": found.num_products, "mode": found.mode, "n": found.n})


# ============================================================================ weight noise and sharpness

class NoiseParams(ProbeSettings):
    sigmas: list[float] = Field(min_length=1)
    draws: int = Field(default=5, gt=0)
    seed: int = 0


def noise(models: Sequence[torch.nn.Module], sets: ProbeSets, cfg: NoiseParams) -> pd.DataFrame:
    """Loss, accuracy and flatness under weight noise on the test probe set, for every σ and each
    noise scale (``sharpness.NOISE_SCALES``): ``sharpness.summarize_draws`` rows (sigma, scale,
    metric, mean, std, ci_low, ci_high, num_draws, mode, n)."""
    model, = models
    frames = [sharpness.noise_robustness(model, sets.test, cfg.sigmas, scale=scale, num_draws=cfg.draws,
                                         seed=cfg.seed, mode=sets.mode, chunk_size=sets.chunk_size,
                                         confidence=CONFIDENCE)
              for scale in sharpness.NOISE_SCALES]
    return pd.concat(frames, ignore_index=True)


class FlatnessParams(ProbeSettings):
    """The studies' |L(theta + delta) - L(theta)|, delta ~ N(0, sigma^2 I)."""

    sigma: float = Field(gt=0)
    draws: int = Field(default=5, gt=0)
    seed: int = 0


def flatness(models: Sequence[torch.nn.Module], sets: ProbeSets, cfg: FlatnessParams) -> pd.DataFrame:
    """The study's flatness |L(θ + δ) − L(θ)|, δ ~ N(0, σ²I), on the train probe set: one row with
    sigma, mean, std, ci_low, ci_high, num_draws, base_loss, mode, n."""
    model, = models
    draws = sharpness.noise_draws(model, sets.train, [cfg.sigma], scale="absolute", num_draws=cfg.draws,
                                  seed=cfg.seed, mode=sets.mode, chunk_size=sets.chunk_size)
    summary = sharpness.summarize_draws(draws, CONFIDENCE)
    flat = summary[summary["metric"] == "flatness"].iloc[0]
    return pd.DataFrame([{"sigma": cfg.sigma, "mean": flat["mean"], "std": flat["std"], "ci_low": flat["ci_low"],
                          "ci_high": flat["ci_high"], "num_draws": int(flat["num_draws"]),
                          "base_loss": float(draws["base_loss"].iloc[0]), "mode": sets.mode, "n": int(flat["n"])}])


class SharpnessParams(ProbeSettings):
    """ε-sharpness on the train probe set: SAM (Euclidean ball, radius ``rho``) and ASAM
    (adaptive ball, radius ``adaptive_rho``), each ascending until a step changes the value by at
    most ``ascent_tol`` relative, or ``max_ascent_steps`` steps."""

    rho: float = Field(gt=0)
    ascent_tol: float = Field(default=1e-3, gt=0)
    max_ascent_steps: int = Field(default=50, ge=0)
    adaptive_rho: float = Field(default=0.5, gt=0)


def epsilon_sharpness(models: Sequence[torch.nn.Module], sets: ProbeSets, cfg: SharpnessParams) -> pd.DataFrame:
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


# ============================================================================ measures shared across studies

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


# ============================================================================ sharpness along training

class TrajectoryParams(ProbeSettings):
    """λmax along training: at the snapshots after the epoch-1 fractions ``early`` (0: the
    initialization) and at the end of every epoch, on a stratified subset of ``samples`` images of
    the train probe set (seed ``seed``), in ``mode``: ``train`` (BatchNorm normalizes with the
    statistics of the whole subset, as a training step does with its batch's; dropout off) or
    ``eval``. Lanczos (``curvature.top_eigenpair``) stops at residual ‖Hv − λv‖ ≤ ``tol``·λ or
    after ``max_steps`` products; each snapshot starts from the previous one's eigenvector, so a
    point costs a few Hessian-vector products. A small residual proves an eigenvalue near λ, not
    the largest: at 1e-2 a Krylov space that has not yet found the top eigenvector can stop at the
    second (seen on a BatchNorm CNN at initialization); 1e-3 leaves it more steps to find it."""

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


@dataclass(frozen=True)
class Snapshot:
    """The model at one point of a run's training: ``epoch`` (progress in epochs), ``step``
    (optimizer steps taken)."""

    epoch: float
    step: int
    model: torch.nn.Module


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
            loss, grad = curvature.loss_and_gradient(snap.model, data, mode=cfg.mode, chunk_size=sets.chunk_size)
            row.update(loss=loss, grad_norm=float(grad.double().norm()))
        if np.isfinite(row["loss"]) and np.isfinite(row["grad_norm"]):
            op = curvature.HessianOperator(snap.model, data, mode=cfg.mode, chunk_size=sets.chunk_size)
            top = curvature.top_eigenpair(op, tol=cfg.tol, max_steps=cfg.max_steps, seed=cfg.seed, start=start)
            converged = top.residuals[0] <= cfg.tol
            row.update(lambda_max=float(top.eigenvalues[0]), residual=float(top.residuals[0]),
                       status="ok" if converged else "not converged", num_hvps=top.num_products)
            start = top.eigenvectors[0]
            op.release()
        rows.append(row)
    return pd.DataFrame(rows, columns=["epoch", "step", "lambda_max", "residual", "num_hvps", "loss", "grad_norm",
                                       "status", "mode", "n"])


# ============================================================================ slices and surfaces

class SliceParams(ProbeSettings):
    """Grid α in [alpha_min, alpha_max] (``points`` values, evenly spaced, one of them α = 0: the
    trained point is on every grid). Directions: always filter-normalized
    (ours); ``direction`` other than ``filter`` adds the study's kind beside it: ``random``
    (unnormalized N(0, I)) or ``unit`` (unit Euclidean norm over all parameters).
    ``filter_range`` [min, max]: the filter-normalized direction's own α range, where the
    study's range (alpha_min, alpha_max) suits only its kind (a filter-normalized step of 0.05
    moves each filter by 5% of its norm: the loss barely changes)."""

    alpha_min: float
    alpha_max: float
    points: int = Field(default=21, gt=1)
    direction: Literal["filter", "random", "unit"] = "filter"
    filter_range: tuple[float, float] | None = None
    seed: int = 0

    @model_validator(mode="after")
    def _ordered(self) -> "SliceParams":
        ranges = [(self.alpha_min, self.alpha_max)] + ([tuple(self.filter_range)] if self.filter_range else [])
        for low, high in ranges:
            if low >= high:
                raise ValueError(f"the α range [{low:g}, {high:g}] is empty: its minimum must be below its maximum")
            steps_to_zero = -low * (self.points - 1) / (high - low)
            if not (low <= 0 <= high and abs(steps_to_zero - round(steps_to_zero)) < 1e-9):
                raise ValueError(f"the grid of {self.points} points on [{low:g}, {high:g}] misses α = 0, "
                                 "the trained point (on a symmetric range, use an odd number of points)")
        return self

    def alphas(self, kind: str) -> np.ndarray:
        """The α grid of direction ``kind`` (``direction_kinds``), shape (points,)."""
        low, high = self.filter_range if kind == "filter" and self.filter_range else (self.alpha_min, self.alpha_max)
        return np.linspace(low, high, self.points)


class SurfaceParams(SliceParams):
    split: Literal["train", "test", "both"] = "both"


STUDY_NORMALIZATION = {"random": None, "unit": "unit"}  # the studies' direction kinds -> directions.normalize


def direction_kinds(direction: str) -> list[str]:
    """The direction kinds a slice or surface is drawn along: ``filter`` (ours) and, when the
    params name the study's kind (``random`` or ``unit``), that one too."""
    return ["filter"] + ([direction] if direction != "filter" else [])


def _normalization(kind: str) -> str | None:
    return "filter" if kind == "filter" else STUDY_NORMALIZATION[kind]


def slice1d(models: Sequence[torch.nn.Module], sets: ProbeSets, cfg: SliceParams) -> pd.DataFrame:
    """L(θ + α d) on the train and test probe sets: columns direction, alpha, split, loss,
    accuracy, mode, n."""
    model, = models
    frames = []
    for kind in direction_kinds(cfg.direction):
        d = directions.normalized_direction(model, cfg.seed, _normalization(kind))
        frame = surfaces.slice_1d(model, sets.splits(), d, cfg.alphas(kind), mode=sets.mode, chunk_size=sets.chunk_size)
        frames.append(frame.assign(direction=kind))
    return pd.concat(frames, ignore_index=True)


def surface2d(models: Sequence[torch.nn.Module], sets: ProbeSets, cfg: SurfaceParams) -> pd.DataFrame:
    """L(θ + α d₁ + β d₂) on an α × β grid, d₁ ⊥ d₂ (``directions.plane_directions``) for each
    direction kind (``direction_kinds``): columns direction, alpha, beta, split, loss, accuracy,
    mode, n."""
    model, = models
    chosen = sets.splits() if cfg.split == "both" else {cfg.split: sets.splits()[cfg.split]}
    frames = []
    for kind in direction_kinds(cfg.direction):
        d1, d2 = directions.plane_directions(model, cfg.seed, _normalization(kind))
        grid = cfg.alphas(kind)
        frame = surfaces.surface_2d(model, chosen, d1, d2, grid, grid, mode=sets.mode, chunk_size=sets.chunk_size)
        frames.append(frame.assign(direction=kind))
    return pd.concat(frames, ignore_index=True)


class LossRangeParams(SurfaceParams):
    """The range of the loss over a plane through θ on a coarse ``points`` × ``points`` grid:
    the plane and direction kinds of ``surface2d`` (same ``seed`` and kinds), cheap enough for
    every seed, so a report gives the spread of the range over seeds beside the study seed's
    drawn surface."""

    points: int = Field(default=5, gt=1)


def loss_range(models: Sequence[torch.nn.Module], sets: ProbeSets, cfg: LossRangeParams) -> pd.DataFrame:
    """min, max and range (max − min) of the loss over the grid of ``surface2d`` with these
    settings, per direction kind and split: columns direction, split, min, max, range, points,
    mode, n."""
    grid = surface2d(models, sets, cfg)
    return surfaces.loss_ranges(grid).assign(points=cfg.points)


# ============================================================================ connectivity

class InterpolationParams(ProbeSettings):
    """``configs``: the configurations whose minima are joined, each by disjoint pairs of its seeds."""

    configs: list[str] = Field(min_length=1)
    points: int = Field(default=21, gt=1)
    bn: Literal["interpolate", "recompute", "both"] = "both"


def interpolation(models: Sequence[torch.nn.Module], sets: ProbeSets,
                  cfg: InterpolationParams) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The straight line between two trained models: (path frame with columns alpha, split, loss,
    accuracy, error, bn, mode, n; barrier frame with one row per split and bn: split, bn,
    loss_barrier, loss_alpha, error_barrier, error_alpha, loss_a, loss_b, max_loss, mode, n)."""
    model_a, model_b = models
    alphas = np.linspace(0.0, 1.0, cfg.points)
    options = ["interpolate", "recompute"] if cfg.bn == "both" else [cfg.bn]
    if not has_batchnorm(model_a):
        options = ["interpolate"]  # without BatchNorm both treatments are the same path
    paths, barriers = [], []
    for bn in options:
        frame, found = connectivity.interpolate(model_a, model_b, sets.splits(), alphas, bn=bn, bn_data=sets.train,
                                                mode=sets.mode if bn == "interpolate" else "eval",
                                                chunk_size=sets.chunk_size)
        paths.append(frame)
        for split, bar in found.items():
            barriers.append({"split": split, "bn": bn, "loss_barrier": bar.loss_barrier, "loss_alpha": bar.loss_alpha,
                             "error_barrier": bar.error_barrier, "error_alpha": bar.error_alpha,
                             "loss_a": bar.loss_endpoints[0], "loss_b": bar.loss_endpoints[1],
                             "max_loss": float(frame[frame["split"] == split]["loss"].max()),
                             "mode": bar.mode, "n": bar.n})
    return pd.concat(paths, ignore_index=True), pd.DataFrame(barriers)


# ============================================================================ the registry

@dataclass(frozen=True)
class Probe:
    """One probe (see module docstring)."""

    name: str
    settings: type[Strict]
    compute: Callable[..., pd.DataFrame | tuple[pd.DataFrame, ...]]
    unit: str  # what its progress counts
    measures: str  # in words, for a report that cannot show it
    runs: int = 1  # trained models it takes
    outputs: tuple[str, ...] = ()  # the ProbeResults frames it fills (default: its name)
    trajectory: bool = False  # compute(snapshots: list[Snapshot], ...) of its run's training, diverged runs too

    @property
    def frames(self) -> tuple[str, ...]:
        return self.outputs or (self.name,)


REGISTRY: dict[str, Probe] = {p.name: p for p in (
    Probe("hessian", HessianParams, hessian, "HVP", "the top Hessian eigenvalues, λmin and the trace"),
    Probe("density", DensityParams, density, "HVP", "the Hessian's eigenvalue density"),
    Probe("noise", NoiseParams, noise, "draw", "loss and accuracy under random weight noise"),
    Probe("flatness", FlatnessParams, flatness, "draw", "the study's flatness |L(θ + δ) − L(θ)|"),
    Probe("sharpness", SharpnessParams, epsilon_sharpness, "gradient", "SAM and ASAM ε-sharpness"),
    Probe("gradient", GradientParams, gradient, "gradient", "the gradient norm ‖∇L(θ)‖"),
    Probe("slice1d", SliceParams, slice1d, "point", "the loss along a direction through the trained weights"),
    Probe("surface2d", SurfaceParams, surface2d, "point", "the loss on a plane through the trained weights"),
    Probe("loss_range", LossRangeParams, loss_range, "point", "the range of the loss on a coarse plane grid"),
    Probe("measures", MeasuresParams, measures, "HVP", "every geometric measure at settings shared by all studies"),
    Probe("trajectory", TrajectoryParams, trajectory, "HVP", "λmax along training, at kept snapshots",
          trajectory=True),
    Probe("interpolation", InterpolationParams, interpolation, "point",
          "the loss on the straight line between two trained minima", runs=2, outputs=("interpolation", "barriers")),
)}

#: every ProbeResults frame -> the probe that fills it
FRAMES: dict[str, str] = {frame: p.name for p in REGISTRY.values() for frame in p.frames}


@dataclass
class ProbeResults:
    """The frames of every probe the params request (``frames``: name -> frame; a name that was
    not requested or not computed is absent and reads as None, e.g. ``results.hessian``), the runs
    or pairs not probed with the reason (``skipped``: run, reason), why a requested probe has no
    frame (``unavailable``: probe -> reason), and the probe sets and cache counts (``sets``)."""

    frames: dict[str, pd.DataFrame]
    skipped: pd.DataFrame
    unavailable: dict[str, str]
    sets: dict

    def __getattr__(self, name: str) -> pd.DataFrame | None:
        if name in FRAMES:
            return self.__dict__["frames"].get(name)
        raise AttributeError(name)

    def evidence(self, history: pd.DataFrame | None = None, runs: pd.DataFrame | None = None) -> dict:
        """The mapping ``claims.evaluate`` takes (``runs``: the runs table with status per run)."""
        return {"history": history, "runs": runs, **{name: self.frames.get(name) for name in FRAMES}}


def tidy(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Per-run frames in one, the identifying columns first."""
    if not frames:
        return pd.DataFrame()
    df = pd.concat(frames, ignore_index=True)
    first = [c for c in ("pair", "run_a", "run_b", "run", "label", "config", "seed", "seed_a", "seed_b", "direction")
             if c in df.columns]
    return df[first + [c for c in df.columns if c not in first]]


def settings_of(cfg: Strict, sets: SetsSpec) -> dict:
    """What a probe's result depends on besides the runs and the sets' data (part of its key)."""
    return {"cfg": cfg.model_dump(exclude={"configs", "seeds"}), "mode": sets.eval_set.mode,  # which runs: the job's key
            "chunk_size": sets.eval_set.chunk_size}


def optional_settings() -> dict:
    """{probe name: (Optional[settings model], None)} for building ``params.ProbeParams``."""
    return {name: (Optional[p.settings], None) for name, p in REGISTRY.items()}

