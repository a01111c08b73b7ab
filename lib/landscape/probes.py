"""Running the probes a params file asks for (``params.probes``) on trained runs.

One function per probe, each returning a tidy pandas frame ready for ``tables`` and
``plotting``; ``run_probes`` runs every probe the params request and returns them together
(:class:`ProbeResults`). Everything is deterministic (seeded CPU generators, fixed sets) and
silent (``progress=False``).

Fixed probe sets (:func:`probe_sets`): stratified subsets (``data.stratified_indices``, seed
``probes.eval_set.seed``) of ``probes.eval_set.train_size`` training and ``test_size`` test
images of the report's data. Every number carries the evaluation ``mode`` (``eval``: BatchNorm
running statistics; ``train``: per-chunk statistics, see ``evaluation``) and n.

What is measured where (the studies' choices, kept so numbers are comparable):

- hessian: Lanczos top-k (``which="LA"``) and bottom (``which="SA"``) eigenvalues and a
  Hutchinson trace ± stderr on the train probe set, the honest condition number
  (``curvature.condition_number``: undefined when negative curvature is present), and the
  study's estimate (``curvature.seed_power_iteration``: one random mini-batch of
  ``study_batch_size`` training images, ``study_iterations`` power steps, train mode as the
  studies ran it) in its own row, method ``study``;
- noise: accuracy and loss on the test probe set under δ ~ N(0, σ²I) (``absolute``, the
  studies' noise) and under per-tensor relative noise (``relative``), mean and 95% CI over draws;
- flatness: the study's |L(θ + δ) − L(θ)| on the train probe set, absolute σ, mean and CI;
- slice1d / surface2d: train and test probe sets along filter-normalized random directions
  (ours); when the params ask for ``direction: random`` the study's unnormalized N(0, I)
  direction is added (``direction`` column ``random``);
- interpolation: ``connectivity.interpolate`` on train and test probe sets with the barrier;
  ``bn: both`` gives both BatchNorm treatments (for nets with BatchNorm; without it they are
  the same and only ``interpolate`` is run).

Runs that did not complete (status ``diverged``) are skipped with the reason recorded in
``ProbeResults.skipped``; nothing raises for them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

import numpy as np
import pandas as pd
import scipy.sparse.linalg
import torch

from . import connectivity, curvature, directions, sharpness, surfaces
from .data import ImageDataset, stratified_indices
from .evaluation import has_batchnorm
from .params import DataSource, ReportParams
from .training import TrainedRun, load_splits

# The smallest eigenvalue sits in a cluster near 0 and converges slowly: a wide Krylov space
# (BOTTOM_NCV vectors) per restart needs far fewer products than many narrow restarts.
BOTTOM_MAX_ITER = 10  # ARPACK restarts
BOTTOM_NCV = 20
CONFIDENCE = 0.95


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


def probe_sets(params: ReportParams, data: DataSource | None = None) -> ProbeSets:
    """Stratified train/test probe sets of ``params.probes.eval_set`` on ``data`` (default: the
    params' resolved data); sizes are capped at the split sizes."""
    cfg = params.probes.eval_set
    train, test = load_splits((data or params.resolve_data()).spec())
    subsets = []
    for ds, size in ((train, cfg.train_size), (test, cfg.test_size)):
        n = min(size, len(ds))
        subsets.append(ds if n == len(ds) else ds.subset(stratified_indices(ds.labels, n, cfg.seed, ds.num_classes)))
    return ProbeSets(subsets[0], subsets[1], train, cfg.mode, cfg.chunk_size)


def usable(runs: Mapping[str, TrainedRun]) -> tuple[dict[str, TrainedRun], pd.DataFrame]:
    """(the runs that can be probed, a frame of skipped runs with the reason: run, reason)."""
    ok, skipped = {}, []
    for run_id, run in runs.items():
        if run.status != "completed":
            skipped.append({"run": run_id, "reason": f"status {run.status}"
                            + (f" at epoch {run.diverged_epoch}" if run.diverged_epoch else "")})
        elif not run.history:
            skipped.append({"run": run_id, "reason": "no completed epoch"})
        else:
            ok[run_id] = run
    return ok, pd.DataFrame(skipped, columns=["run", "reason"])


def _labels(params: ReportParams) -> dict[str, str]:
    return {r.id: r.label for r in params.runs}


# ---------------------------------------------------------------------------- curvature

def _bottom(op: curvature.HessianOperator, tol: float, seed: int) -> curvature.EigenResult | None:
    try:
        return curvature.lanczos(op, k=1, which="SA", tol=tol, max_iter=BOTTOM_MAX_ITER,
                                 ncv=min(op.dim - 1, BOTTOM_NCV), seed=seed)
    except scipy.sparse.linalg.ArpackNoConvergence:
        return None


def hessian(params: ReportParams, runs: Mapping[str, TrainedRun], sets: ProbeSets) -> pd.DataFrame:
    """Two rows per run: method ``lanczos`` (ours, train probe set) and ``study`` (the study's
    power iteration on one mini-batch). Columns: run, label, method, lambda_max, eigenvalues
    (top-k, descending), lambda_min, condition_number, condition_status, trace, trace_stderr,
    num_hvps, mode, n."""
    cfg = params.probes.hessian
    if cfg is None:
        raise ValueError("the params request no hessian probe")
    labels, rows = _labels(params), []
    for run_id, run in runs.items():
        model = run.model
        op = curvature.HessianOperator(model, sets.train, mode=sets.mode, chunk_size=sets.chunk_size)
        top = curvature.lanczos(op, k=cfg.top_k, which="LA", tol=cfg.tol, seed=0)
        bottom = _bottom(op, cfg.tol, seed=0)
        if bottom is None:
            cond_value, cond_status, lam_min = None, "undefined: smallest eigenvalue did not converge", np.nan
        else:
            cond = curvature.condition_number(top, bottom)
            cond_value, cond_status, lam_min = cond.value, cond.status, cond.lambda_min
        trace = (curvature.hutchinson_trace(op, cfg.trace_samples, seed=0) if cfg.trace_samples >= 2 else None)
        op.release()
        rows.append({"run": run_id, "label": labels[run_id], "method": "lanczos",
                     "lambda_max": float(top.eigenvalues[0]), "eigenvalues": tuple(float(x) for x in top.eigenvalues),
                     "lambda_min": lam_min, "condition_number": np.nan if cond_value is None else cond_value,
                     "condition_status": cond_status,
                     "trace": np.nan if trace is None else trace.trace,
                     "trace_stderr": np.nan if trace is None else trace.stderr,
                     "num_hvps": op.num_hvps, "mode": sets.mode, "n": op.n})
        batch = min(cfg.study_batch_size, len(sets.train_full))
        study = curvature.seed_power_iteration(model, sets.train_full, batch_size=batch,
                                               iterations=cfg.study_iterations, mode="train", k=1, seed=0)
        rows.append({"run": run_id, "label": labels[run_id], "method": "study",
                     "lambda_max": float(study.eigenvalues[0]), "eigenvalues": (float(study.eigenvalues[0]),),
                     "lambda_min": np.nan, "condition_number": np.nan, "condition_status": "not computed",
                     "trace": np.nan, "trace_stderr": np.nan, "num_hvps": study.num_hvps, "mode": study.mode,
                     "n": study.n})
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------- weight noise

def noise(params: ReportParams, runs: Mapping[str, TrainedRun], sets: ProbeSets,
          scales: tuple[str, ...] = sharpness.NOISE_SCALES) -> pd.DataFrame:
    """Loss, accuracy and flatness under weight noise on the test probe set, for every σ of
    ``probes.noise`` and each noise scale: ``sharpness.summarize_draws`` rows (sigma, scale,
    metric, mean, std, ci_low, ci_high, num_draws, mode, n) plus run and label."""
    cfg = params.probes.noise
    if cfg is None:
        raise ValueError("the params request no noise probe")
    labels, frames = _labels(params), []
    for run_id, run in runs.items():
        for scale in scales:
            frame = sharpness.noise_robustness(run.model, sets.test, cfg.sigmas, scale=scale, num_draws=cfg.draws,
                                               seed=cfg.seed, mode=sets.mode, chunk_size=sets.chunk_size,
                                               confidence=CONFIDENCE, progress=False)
            frames.append(frame.assign(run=run_id, label=labels[run_id]))
    return _tidy(frames)


def flatness(params: ReportParams, runs: Mapping[str, TrainedRun], sets: ProbeSets) -> pd.DataFrame:
    """The study's flatness |L(θ + δ) − L(θ)|, δ ~ N(0, σ²I) (absolute σ of ``probes.flatness``)
    on the train probe set: one row per run with mean, std, ci_low, ci_high, num_draws, base
    loss, sigma, mode, n."""
    cfg = params.probes.flatness
    if cfg is None:
        raise ValueError("the params request no flatness probe")
    labels, rows = _labels(params), []
    for run_id, run in runs.items():
        draws = sharpness.noise_draws(run.model, sets.train, [cfg.sigma], scale="absolute", num_draws=cfg.draws,
                                      seed=cfg.seed, mode=sets.mode, chunk_size=sets.chunk_size, progress=False)
        summary = sharpness.summarize_draws(draws, CONFIDENCE)
        flat = summary[summary["metric"] == "flatness"].iloc[0]
        rows.append({"run": run_id, "label": labels[run_id], "sigma": cfg.sigma, "mean": flat["mean"],
                     "std": flat["std"], "ci_low": flat["ci_low"], "ci_high": flat["ci_high"],
                     "num_draws": int(flat["num_draws"]), "base_loss": float(draws["base_loss"].iloc[0]),
                     "mode": sets.mode, "n": int(flat["n"])})
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------- slices and surfaces

def slice_directions(model: torch.nn.Module, direction: str, seed: int) -> dict[str, torch.Tensor]:
    """{kind: direction}: always ``filter`` (filter-normalized, ours); ``random`` (the study's
    unnormalized N(0, I)) too when the params ask for ``random``."""
    found = {"filter": directions.normalized_direction(model, seed, "filter")}
    if direction == "random":
        found["random"] = directions.random_direction(model, seed)
    return found


def slice1d(params: ReportParams, runs: Mapping[str, TrainedRun], sets: ProbeSets) -> pd.DataFrame:
    """L(θ + α d) on the train and test probe sets: columns run, label, direction, alpha, split,
    loss, accuracy, mode, n."""
    cfg = params.probes.slice1d
    if cfg is None:
        raise ValueError("the params request no slice1d probe")
    alphas = np.linspace(cfg.alpha_min, cfg.alpha_max, cfg.points)
    labels, frames = _labels(params), []
    for run_id, run in runs.items():
        for kind, d in slice_directions(run.model, cfg.direction, cfg.seed).items():
            frame = surfaces.slice_1d(run.model, sets.splits(), d, alphas, mode=sets.mode,
                                      chunk_size=sets.chunk_size, progress=False)
            frames.append(frame.assign(run=run_id, label=labels[run_id], direction=kind))
    return _tidy(frames)


def surface2d(params: ReportParams, runs: Mapping[str, TrainedRun], sets: ProbeSets) -> pd.DataFrame:
    """L(θ + α d₁ + β d₂) on an α × β grid, d₁ ⊥ d₂ filter-normalized (``directions.plane_directions``;
    unnormalized when the params ask for ``random``): columns run, label, direction, alpha, beta,
    split, loss, accuracy, mode, n."""
    cfg = params.probes.surface2d
    if cfg is None:
        raise ValueError("the params request no surface2d probe")
    grid = np.linspace(cfg.alpha_min, cfg.alpha_max, cfg.points)
    chosen = sets.splits() if cfg.split == "both" else {cfg.split: sets.splits()[cfg.split]}
    normalization = "filter" if cfg.direction == "filter" else None
    labels, frames = _labels(params), []
    for run_id, run in runs.items():
        d1, d2 = directions.plane_directions(run.model, cfg.seed, normalization)
        frame = surfaces.surface_2d(run.model, chosen, d1, d2, grid, grid, mode=sets.mode,
                                    chunk_size=sets.chunk_size, progress=False)
        frames.append(frame.assign(run=run_id, label=labels[run_id], direction=cfg.direction))
    return _tidy(frames)


# ---------------------------------------------------------------------------- connectivity

def interpolation(params: ReportParams, runs: Mapping[str, TrainedRun], sets: ProbeSets
                  ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every pair of ``probes.interpolation``: (path frame with columns pair, run_a, run_b, alpha,
    split, loss, accuracy, error, bn, mode, n; barrier frame with one row per pair, split and bn:
    pair, run_a, run_b, split, bn, loss_barrier, loss_alpha, error_barrier, error_alpha,
    loss_a, loss_b, mode, n). Pairs with a run that is not in ``runs`` are left out."""
    cfg = params.probes.interpolation
    if cfg is None:
        raise ValueError("the params request no interpolation probe")
    alphas = np.linspace(0.0, 1.0, cfg.points)
    paths, barriers = [], []
    for a, b in cfg.pairs:
        if a not in runs or b not in runs:
            continue
        model_a, model_b = runs[a].model, runs[b].model
        options = ["interpolate", "recompute"] if cfg.bn == "both" else [cfg.bn]
        if not has_batchnorm(model_a):
            options = ["interpolate"]  # without BatchNorm both treatments are the same path
        pair = f"{a}–{b}"
        for bn in options:
            frame, found = connectivity.interpolate(model_a, model_b, sets.splits(), alphas, bn=bn,
                                                    bn_data=sets.train, mode=sets.mode if bn == "interpolate" else "eval",
                                                    chunk_size=sets.chunk_size, progress=False)
            paths.append(frame.assign(pair=pair, run_a=a, run_b=b))
            for split, bar in found.items():
                barriers.append({"pair": pair, "run_a": a, "run_b": b, "split": split, "bn": bn,
                                 "loss_barrier": bar.loss_barrier, "loss_alpha": bar.loss_alpha,
                                 "error_barrier": bar.error_barrier, "error_alpha": bar.error_alpha,
                                 "loss_a": bar.loss_endpoints[0], "loss_b": bar.loss_endpoints[1],
                                 "max_loss": float(frame[frame["split"] == split]["loss"].max()),
                                 "mode": bar.mode, "n": bar.n})
    path = pd.concat(paths, ignore_index=True) if paths else pd.DataFrame(
        columns=["pair", "run_a", "run_b", "alpha", "split", "loss", "accuracy", "error", "bn", "mode", "n"])
    return path, pd.DataFrame(barriers)


# ---------------------------------------------------------------------------- everything

@dataclass
class ProbeResults:
    """The frames of every probe the params request (None where not requested)."""

    skipped: pd.DataFrame
    hessian: pd.DataFrame | None = None
    noise: pd.DataFrame | None = None
    flatness: pd.DataFrame | None = None
    slice1d: pd.DataFrame | None = None
    surface2d: pd.DataFrame | None = None
    interpolation: pd.DataFrame | None = None
    barriers: pd.DataFrame | None = None
    sets: dict = field(default_factory=dict)

    def evidence(self, history: pd.DataFrame | None = None) -> dict:
        """The mapping ``claims.evaluate`` takes."""
        return {"history": history, "hessian": self.hessian, "noise": self.noise, "flatness": self.flatness,
                "slice": self.slice1d, "barriers": self.barriers}


def run_probes(params: ReportParams, runs: Mapping[str, TrainedRun], data: DataSource | None = None,
               sets: ProbeSets | None = None) -> ProbeResults:
    """Every probe ``params.probes`` asks for, on the runs that completed (see module docstring)."""
    sets = sets or probe_sets(params, data)
    ok, skipped = usable(runs)
    p = params.probes
    results = ProbeResults(skipped, sets={"train": len(sets.train), "test": len(sets.test), "mode": sets.mode,
                                          "seed": p.eval_set.seed})
    if p.hessian:
        results.hessian = hessian(params, ok, sets)
    if p.noise:
        results.noise = noise(params, ok, sets)
    if p.flatness:
        results.flatness = flatness(params, ok, sets)
    if p.slice1d:
        results.slice1d = slice1d(params, ok, sets)
    if p.surface2d:
        results.surface2d = surface2d(params, ok, sets)
    if p.interpolation:
        results.interpolation, results.barriers = interpolation(params, ok, sets)
        missing = [f"{a}–{b}" for a, b in p.interpolation.pairs if a not in ok or b not in ok]
        if missing:
            extra = pd.DataFrame([{"run": pair, "reason": "interpolation pair skipped: a run did not complete"}
                                  for pair in missing])
            results.skipped = pd.concat([results.skipped, extra], ignore_index=True)
    return results


def _tidy(frames: list[pd.DataFrame]) -> pd.DataFrame:
    if not frames:
        return pd.DataFrame()
    df = pd.concat(frames, ignore_index=True)
    first = [c for c in ("run", "label", "direction") if c in df.columns]
    return df[first + [c for c in df.columns if c not in first]]
