"""Running the probes a params file asks for (``params.probes``) on trained runs.

One function per probe, each returning a tidy pandas frame ready for ``tables`` and
``plotting``; ``run_probes`` runs every probe the params request and returns them together
(:class:`ProbeResults`). Everything is deterministic (seeded CPU generators, fixed sets) and
counted by ``landscape.progress`` (one task per probe and run).

Fixed probe sets (:func:`probe_sets`): stratified subsets (``data.stratified_indices``, seed
``probes.eval_set.seed``) of ``probes.eval_set.train_size`` training and ``test_size`` test
images of the report's data. Every number carries the evaluation ``mode`` (``eval``: BatchNorm
running statistics; ``train``: per-chunk statistics, see ``evaluation``) and n.

What is measured where (the studies' choices, kept so numbers are comparable):

- hessian: Lanczos top-k (``which="LA"``) eigenvalues and a Hutchinson trace ± stderr on the
  train probe set; the smallest eigenvalue, first bounded from above by the smallest Ritz value
  of BOTTOM_NCV Lanczos steps (a clearly negative bound proves negative curvature:
  ``lambda_min_kind`` "upper bound"), else converged by ARPACK (``which="SA"``, at most
  BOTTOM_MAX_ITER restarts: "converged" or "not converged"); the honest condition number
  (``curvature.condition_number``: undefined when negative curvature is present), and the
  study's estimate (``curvature.seed_power_iteration``: one random mini-batch of
  ``study_batch_size`` training images, ``study_iterations`` power steps, train mode as the
  studies ran it) in its own row, method ``study``;
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
- interpolation: ``connectivity.interpolate`` on train and test probe sets with the barrier;
  ``bn: both`` gives both BatchNorm treatments (for nets with BatchNorm; without it they are
  the same and only ``interpolate`` is run).

Runs that did not complete (status ``diverged``) are skipped with the reason recorded in
``ProbeResults.skipped``; nothing raises for them. A requested probe that no run could take
stays None, with the reason in ``ProbeResults.unavailable``.

Cache: each probe's frame for one run (one pair for interpolation) is stored under
``<cache>/probes/<key>.json`` (``landscape.store``), the key hashing PROBE_VERSION, the probe and
its settings, the probe sets' identity (data and ``eval_set``), the run's training cache key and
the device type. An interrupted report loses at most the probe in progress; a rerun loads the rest.
Probe sets built by hand (``ProbeSets.identity`` None) are never cached.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping

import numpy as np
import pandas as pd
import scipy.sparse.linalg

from . import connectivity, curvature, directions, progress, sharpness, store, surfaces
from .data import ImageDataset, stratified_indices
from .evaluation import has_batchnorm
from .params import DataSource, ReportParams
from .training import TrainedRun, load_splits

# The smallest eigenvalue sits in a cluster near 0 and converges slowly: a wide Krylov space
# (BOTTOM_NCV vectors) per restart needs far fewer products than many narrow restarts.
BOTTOM_MAX_ITER = 5  # ARPACK restarts
BOTTOM_NCV = 20  # also the Lanczos steps of the cheap negative-curvature test
CONFIDENCE = 0.95
PROBE_VERSION = 2  # bump when a change alters the numbers a cached probe would produce


@dataclass(frozen=True)
class ProbeSets:
    """The fixed evaluation sets of a report (see module docstring)."""

    train: ImageDataset
    test: ImageDataset
    train_full: ImageDataset  # the whole training split of the report (for the study's mini-batch)
    mode: str
    chunk_size: int
    identity: dict | None = None  # what determines the sets (data, eval_set); None: not cacheable

    def splits(self) -> dict[str, ImageDataset]:
        return {"train": self.train, "test": self.test}


def probe_sets(params: ReportParams, data: DataSource | None = None) -> ProbeSets:
    """Stratified train/test probe sets of ``params.probes.eval_set`` on ``data`` (default: the
    params' resolved data); sizes are capped at the split sizes."""
    cfg = params.probes.eval_set
    spec = (data or params.resolve_data()).spec()
    train, test = load_splits(spec)
    subsets = []
    for ds, size in ((train, cfg.train_size), (test, cfg.test_size)):
        n = min(size, len(ds))
        subsets.append(ds if n == len(ds) else ds.subset(stratified_indices(ds.labels, n, cfg.seed, ds.num_classes)))
    identity = {"data": spec.identity(), "eval_set": cfg.model_dump()}
    return ProbeSets(subsets[0], subsets[1], train, cfg.mode, cfg.chunk_size, identity)


class ProbeCache:
    """Per-run probe frames on disk (see module docstring); counts what it loaded and computed, and
    collects the probes that raised (``failures``: run, probe, reason), which are not stored."""

    def __init__(self, sets: ProbeSets, root: str | Path | None = None, enabled: bool = True):
        self.sets = sets
        self.directory = store.cache_dir(root) / "probes"
        self.enabled = enabled and sets.identity is not None
        self.loaded = self.computed = 0
        self.failures: list[dict] = []

    def key(self, probe: str, settings: dict, runs: list[TrainedRun]) -> str:
        device = next(runs[0].model.parameters()).device.type
        payload = {"version": PROBE_VERSION, "probe": probe, "settings": settings, "sets": self.sets.identity,
                   "runs": [run.key for run in runs], "device": device}
        return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:20]

    def get(self, probe: str, settings: dict, runs: list[TrainedRun], compute: Callable[[], object]) -> object:
        """The cached result of ``compute()`` for this probe, settings and runs (computed and
        stored when missing)."""
        if not self.enabled:
            self.computed += 1
            return compute()
        path = self.directory / f"{self.key(probe, settings, runs)}.json"
        result = store.load_frames(path)
        if result is not None:
            self.loaded += 1
            return result
        result = compute()
        store.save_frames(result, path)
        self.computed += 1
        return result


def usable(runs: Mapping[str, TrainedRun]) -> tuple[dict[str, TrainedRun], pd.DataFrame]:
    """(the runs that can be probed, a frame of skipped runs with the reason: run, reason)."""
    ok, skipped = {}, []
    for run_id, run in runs.items():
        if run.status != "completed":
            skipped.append({"run": run_id, "reason": run.outcome})
        elif not run.history:
            skipped.append({"run": run_id, "reason": "no completed epoch"})
        else:
            ok[run_id] = run
    return ok, pd.DataFrame(skipped, columns=["run", "reason"])


def _config(params: ReportParams, probe: str):
    """``params.probes.<probe>``; a ValueError when the params do not request that probe."""
    cfg = getattr(params.probes, probe)
    if cfg is None:
        raise ValueError(f"the params request no {probe} probe")
    return cfg


def _labels(params: ReportParams) -> dict[str, str]:
    return {r.id: r.label for r in params.runs}


#: what each probe's progress counts (``landscape.progress``)
PROBE_UNITS = {"hessian": "HVP", "noise": "draw", "flatness": "draw", "sharpness": "gradient", "gradient": "gradient",
               "slice1d": "point", "surface2d": "point", "interpolation": "point"}


def _cached(cache: ProbeCache | None, probe: str, settings: dict, runs: list[TrainedRun],
            compute: Callable[[], object], name: str) -> object | None:
    """``compute()`` through the probe cache, or directly without one; a computation is counted
    as the progress task "<probe> <name>". With a cache, a computation that raises (a collapsed
    network can make a probe impossible) is recorded in ``cache.failures`` and gives None."""
    def counted() -> object:
        with progress.task(f"{probe} {name}", unit=PROBE_UNITS[probe]):
            return compute()

    if cache is None:
        return counted()
    try:
        return cache.get(probe, settings, runs, counted)
    except Exception as exc:  # noqa: BLE001 - recorded and shown; the other runs and probes go on
        cache.failures.append({"run": name, "probe": probe,
                               "reason": f"{probe} failed: {type(exc).__name__}: {exc}"})
        return None


def _per_run(probe: str, settings: dict, runs: Mapping[str, TrainedRun], cache: ProbeCache | None,
             one: Callable[[str, TrainedRun], pd.DataFrame]) -> pd.DataFrame:
    """``one(run_id, run)`` for every run, each through the probe cache, concatenated (each
    lambda is called before the next iteration rebinds its variables)."""
    found = [_cached(cache, probe, settings, [run], lambda: one(run_id, run), run_id) for run_id, run in runs.items()]
    return _tidy([frame for frame in found if frame is not None])


def _settings(cfg, sets: ProbeSets) -> dict:
    return {"cfg": cfg.model_dump(), "mode": sets.mode, "chunk_size": sets.chunk_size}


# ---------------------------------------------------------------------------- curvature

def _bottom(op: curvature.HessianOperator, tol: float, seed: int) -> curvature.EigenResult | None:
    try:
        return curvature.lanczos(op, k=1, which="SA", tol=tol, max_iter=BOTTOM_MAX_ITER,
                                 ncv=min(op.dim - 1, BOTTOM_NCV), seed=seed)
    except scipy.sparse.linalg.ArpackNoConvergence:
        return None


def _our_curvature(op: curvature.HessianOperator, cfg) -> dict:
    """Our numbers of the hessian frame: top-k by Lanczos, λmin (bounded or converged), the
    condition number and the trace. A Lanczos that fails (H = 0 or not finite: a collapsed
    network) gives NaN with the reason in lambda_min_kind and condition_status."""
    try:
        top = curvature.lanczos(op, k=cfg.top_k, which="LA", tol=cfg.tol, seed=0)
    except scipy.sparse.linalg.ArpackError as exc:
        failed = f"not computed: Lanczos failed ({str(exc).split('.')[0]})"
        return {"lambda_max": np.nan, "eigenvalues": (), "lambda_min": np.nan, "lambda_min_kind": failed,
                "condition_number": np.nan, "condition_status": failed, "trace": np.nan, "trace_stderr": np.nan}
    ritz = curvature.smallest_ritz_value(op, min(op.dim, BOTTOM_NCV), seed=0)
    if ritz < -cfg.tol * abs(float(top.eigenvalues[0])):  # λmin ≤ ritz < 0: no need to converge λmin
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


def hessian(params: ReportParams, runs: Mapping[str, TrainedRun], sets: ProbeSets,
            cache: ProbeCache | None = None) -> pd.DataFrame:
    """Two rows per run: method ``lanczos`` (ours, train probe set) and ``study`` (the study's
    power iteration on one mini-batch). Columns: run, label, method, lambda_max, eigenvalues
    (top-k, descending), lambda_min, lambda_min_kind, condition_number, condition_status, trace,
    trace_stderr, num_hvps, mode, n."""
    cfg = _config(params, "hessian")
    labels = _labels(params)

    def one(run_id: str, run: TrainedRun) -> pd.DataFrame:
        model = run.model
        op = curvature.HessianOperator(model, sets.train, mode=sets.mode, chunk_size=sets.chunk_size)
        numbers = _our_curvature(op, cfg)
        op.release()
        ours = {"run": run_id, "label": labels[run_id], "method": "lanczos", **numbers,
                "num_hvps": op.num_hvps, "mode": sets.mode, "n": op.n}
        batch = min(cfg.study_batch_size, len(sets.train_full))
        study = curvature.seed_power_iteration(model, sets.train_full, batch_size=batch,
                                               iterations=cfg.study_iterations, mode="train", k=1, seed=0)
        theirs = {"run": run_id, "label": labels[run_id], "method": "study",
                  "lambda_max": float(study.eigenvalues[0]), "eigenvalues": (float(study.eigenvalues[0]),),
                  "lambda_min": np.nan, "lambda_min_kind": "not computed", "condition_number": np.nan,
                  "condition_status": "not computed",
                  "trace": np.nan, "trace_stderr": np.nan, "num_hvps": study.num_hvps, "mode": study.mode,
                  "n": study.n}
        return pd.DataFrame([ours, theirs])

    return _per_run("hessian", _settings(cfg, sets), runs, cache, one)


# ---------------------------------------------------------------------------- weight noise and sharpness

def noise(params: ReportParams, runs: Mapping[str, TrainedRun], sets: ProbeSets,
          cache: ProbeCache | None = None) -> pd.DataFrame:
    """Loss, accuracy and flatness under weight noise on the test probe set, for every σ of
    ``probes.noise`` and each noise scale (``sharpness.NOISE_SCALES``):
    ``sharpness.summarize_draws`` rows (sigma, scale, metric, mean, std, ci_low, ci_high,
    num_draws, mode, n) plus run and label."""
    cfg = _config(params, "noise")
    labels = _labels(params)

    def one(run_id: str, run: TrainedRun) -> pd.DataFrame:
        frames = [sharpness.noise_robustness(run.model, sets.test, cfg.sigmas, scale=scale, num_draws=cfg.draws,
                                             seed=cfg.seed, mode=sets.mode, chunk_size=sets.chunk_size,
                                             confidence=CONFIDENCE)
                  for scale in sharpness.NOISE_SCALES]
        return pd.concat(frames, ignore_index=True).assign(run=run_id, label=labels[run_id])

    return _per_run("noise", _settings(cfg, sets), runs, cache, one)


def flatness(params: ReportParams, runs: Mapping[str, TrainedRun], sets: ProbeSets,
             cache: ProbeCache | None = None) -> pd.DataFrame:
    """The study's flatness |L(θ + δ) − L(θ)|, δ ~ N(0, σ²I) (absolute σ of ``probes.flatness``)
    on the train probe set: one row per run with mean, std, ci_low, ci_high, num_draws, base
    loss, sigma, mode, n."""
    cfg = _config(params, "flatness")
    labels = _labels(params)

    def one(run_id: str, run: TrainedRun) -> pd.DataFrame:
        draws = sharpness.noise_draws(run.model, sets.train, [cfg.sigma], scale="absolute", num_draws=cfg.draws,
                                      seed=cfg.seed, mode=sets.mode, chunk_size=sets.chunk_size)
        summary = sharpness.summarize_draws(draws, CONFIDENCE)
        flat = summary[summary["metric"] == "flatness"].iloc[0]
        return pd.DataFrame([{"run": run_id, "label": labels[run_id], "sigma": cfg.sigma, "mean": flat["mean"],
                              "std": flat["std"], "ci_low": flat["ci_low"], "ci_high": flat["ci_high"],
                              "num_draws": int(flat["num_draws"]), "base_loss": float(draws["base_loss"].iloc[0]),
                              "mode": sets.mode, "n": int(flat["n"])}])

    return _per_run("flatness", _settings(cfg, sets), runs, cache, one)


def epsilon_sharpness(params: ReportParams, runs: Mapping[str, TrainedRun], sets: ProbeSets,
                      cache: ProbeCache | None = None) -> pd.DataFrame:
    """SAM and ASAM ε-sharpness on the train probe set: one row per run and kind (``sam``:
    Euclidean ball of radius ``rho``; ``asam``: adaptive ball of radius ``adaptive_rho``) with
    columns run, label, kind, rho, sharpness (after the ascent, nats), first_order (SAM's single
    step), base_loss, steps, delta_norm (‖δ‖₂ of the maximizer), mode, n."""
    cfg = _config(params, "sharpness")
    labels = _labels(params)

    def one(run_id: str, run: TrainedRun) -> pd.DataFrame:
        rows = []
        for kind, rho, adaptive in (("sam", cfg.rho, False), ("asam", cfg.adaptive_rho, True)):
            found = sharpness.epsilon_sharpness(run.model, sets.train, rho, steps=cfg.ascent_steps, adaptive=adaptive,
                                                mode=sets.mode, chunk_size=sets.chunk_size)
            rows.append({"run": run_id, "label": labels[run_id], "kind": kind, "rho": rho,
                         "sharpness": found.sharpness, "first_order": found.first_order,
                         "base_loss": found.base_loss, "steps": found.steps, "delta_norm": found.delta_norm,
                         "mode": found.mode, "n": found.n})
        return pd.DataFrame(rows)

    return _per_run("sharpness", _settings(cfg, sets), runs, cache, one)


def gradient(params: ReportParams, runs: Mapping[str, TrainedRun], sets: ProbeSets,
             cache: ProbeCache | None = None) -> pd.DataFrame:
    """‖∇L(θ)‖₂ of the mean loss per run and split (train and test probe sets): columns run,
    label, split, grad_norm, loss, mode, n."""
    cfg = _config(params, "gradient")
    labels = _labels(params)

    def one(run_id: str, run: TrainedRun) -> pd.DataFrame:
        rows = []
        for split, ds in sets.splits().items():
            found = sharpness.gradient_norm(run.model, ds, mode=sets.mode, chunk_size=sets.chunk_size)
            rows.append({"run": run_id, "label": labels[run_id], "split": split, "grad_norm": found.norm,
                         "loss": found.loss, "mode": found.mode, "n": found.n})
        return pd.DataFrame(rows)

    return _per_run("gradient", _settings(cfg, sets), runs, cache, one)


# ---------------------------------------------------------------------------- slices and surfaces

STUDY_NORMALIZATION = {"random": None, "unit": "unit"}  # the studies' direction kinds -> directions.normalize


def direction_kinds(direction: str) -> list[str]:
    """The direction kinds a slice or surface is drawn along: ``filter`` (ours) and, when the
    params name the study's kind (``random`` or ``unit``), that one too."""
    return ["filter"] + ([direction] if direction != "filter" else [])


def _normalization(kind: str) -> str | None:
    return "filter" if kind == "filter" else STUDY_NORMALIZATION[kind]


def slice1d(params: ReportParams, runs: Mapping[str, TrainedRun], sets: ProbeSets,
            cache: ProbeCache | None = None) -> pd.DataFrame:
    """L(θ + α d) on the train and test probe sets: columns run, label, direction, alpha, split,
    loss, accuracy, mode, n."""
    cfg = _config(params, "slice1d")
    alphas = np.linspace(cfg.alpha_min, cfg.alpha_max, cfg.points)
    labels = _labels(params)

    def one(run_id: str, run: TrainedRun) -> pd.DataFrame:
        frames = []
        for kind in direction_kinds(cfg.direction):
            d = directions.normalized_direction(run.model, cfg.seed, _normalization(kind))
            frame = surfaces.slice_1d(run.model, sets.splits(), d, alphas, mode=sets.mode,
                                      chunk_size=sets.chunk_size)
            frames.append(frame.assign(run=run_id, label=labels[run_id], direction=kind))
        return pd.concat(frames, ignore_index=True)

    return _per_run("slice1d", _settings(cfg, sets), runs, cache, one)


def surface2d(params: ReportParams, runs: Mapping[str, TrainedRun], sets: ProbeSets,
              cache: ProbeCache | None = None) -> pd.DataFrame:
    """L(θ + α d₁ + β d₂) on an α × β grid, d₁ ⊥ d₂ (``directions.plane_directions``) for each
    direction kind (``direction_kinds``): columns run, label, direction, alpha, beta, split,
    loss, accuracy, mode, n."""
    cfg = _config(params, "surface2d")
    grid = np.linspace(cfg.alpha_min, cfg.alpha_max, cfg.points)
    chosen = sets.splits() if cfg.split == "both" else {cfg.split: sets.splits()[cfg.split]}
    labels = _labels(params)

    def one(run_id: str, run: TrainedRun) -> pd.DataFrame:
        frames = []
        for kind in direction_kinds(cfg.direction):
            d1, d2 = directions.plane_directions(run.model, cfg.seed, _normalization(kind))
            frame = surfaces.surface_2d(run.model, chosen, d1, d2, grid, grid, mode=sets.mode,
                                        chunk_size=sets.chunk_size)
            frames.append(frame.assign(run=run_id, label=labels[run_id], direction=kind))
        return pd.concat(frames, ignore_index=True)

    return _per_run("surface2d", _settings(cfg, sets), runs, cache, one)


# ---------------------------------------------------------------------------- connectivity

def interpolation(params: ReportParams, runs: Mapping[str, TrainedRun], sets: ProbeSets,
                  cache: ProbeCache | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every pair of ``probes.interpolation``: (path frame with columns pair, run_a, run_b, alpha,
    split, loss, accuracy, error, bn, mode, n; barrier frame with one row per pair, split and bn:
    pair, run_a, run_b, split, bn, loss_barrier, loss_alpha, error_barrier, error_alpha,
    loss_a, loss_b, max_loss, mode, n). Pairs with a run that is not in ``runs`` are left out."""
    cfg = _config(params, "interpolation")
    alphas = np.linspace(0.0, 1.0, cfg.points)

    def one_pair(a: str, b: str) -> tuple[pd.DataFrame, pd.DataFrame]:
        model_a, model_b = runs[a].model, runs[b].model
        options = ["interpolate", "recompute"] if cfg.bn == "both" else [cfg.bn]
        if not has_batchnorm(model_a):
            options = ["interpolate"]  # without BatchNorm both treatments are the same path
        pair = f"{a}–{b}"
        paths, barriers = [], []
        for bn in options:
            frame, found = connectivity.interpolate(model_a, model_b, sets.splits(), alphas, bn=bn,
                                                    bn_data=sets.train, mode=sets.mode if bn == "interpolate" else "eval",
                                                    chunk_size=sets.chunk_size)
            paths.append(frame.assign(pair=pair, run_a=a, run_b=b))
            for split, bar in found.items():
                barriers.append({"pair": pair, "run_a": a, "run_b": b, "split": split, "bn": bn,
                                 "loss_barrier": bar.loss_barrier, "loss_alpha": bar.loss_alpha,
                                 "error_barrier": bar.error_barrier, "error_alpha": bar.error_alpha,
                                 "loss_a": bar.loss_endpoints[0], "loss_b": bar.loss_endpoints[1],
                                 "max_loss": float(frame[frame["split"] == split]["loss"].max()),
                                 "mode": bar.mode, "n": bar.n})
        return pd.concat(paths, ignore_index=True), pd.DataFrame(barriers)

    paths, barriers = [], []
    for a, b in cfg.pairs:
        if a not in runs or b not in runs:
            continue
        found = _cached(cache, "interpolation", _settings(cfg, sets), [runs[a], runs[b]], lambda: one_pair(a, b),
                        f"{a}–{b}")
        if found is None:
            continue
        path, barrier = found
        paths.append(path)
        barriers.append(barrier)
    if not paths:
        return (pd.DataFrame(columns=["pair", "run_a", "run_b", "alpha", "split", "loss", "accuracy", "error", "bn",
                                      "mode", "n"]), pd.DataFrame())
    return pd.concat(paths, ignore_index=True), pd.concat(barriers, ignore_index=True)


# ---------------------------------------------------------------------------- everything

@dataclass
class ProbeResults:
    """The frames of every probe the params request (None where not requested)."""

    skipped: pd.DataFrame
    hessian: pd.DataFrame | None = None
    noise: pd.DataFrame | None = None
    flatness: pd.DataFrame | None = None
    sharpness: pd.DataFrame | None = None
    gradient: pd.DataFrame | None = None
    slice1d: pd.DataFrame | None = None
    surface2d: pd.DataFrame | None = None
    interpolation: pd.DataFrame | None = None
    barriers: pd.DataFrame | None = None
    sets: dict = field(default_factory=dict)
    unavailable: dict[str, str] = field(default_factory=dict)  # probe -> why it was requested but not computed

    def evidence(self, history: pd.DataFrame | None = None, runs: pd.DataFrame | None = None) -> dict:
        """The mapping ``claims.evaluate`` takes (``runs``: the runs table with status per run)."""
        return {"history": history, "runs": runs, "hessian": self.hessian, "noise": self.noise,
                "flatness": self.flatness, "sharpness": self.sharpness, "gradient": self.gradient,
                "slice": self.slice1d, "surface": self.surface2d, "barriers": self.barriers}


PROBES: dict[str, Callable] = {"hessian": hessian, "noise": noise, "flatness": flatness,
                               "sharpness": epsilon_sharpness, "gradient": gradient, "slice1d": slice1d,
                               "surface2d": surface2d}


def run_probes(params: ReportParams, runs: Mapping[str, TrainedRun], data: DataSource | None = None,
               sets: ProbeSets | None = None, cache: str | Path | None = None, use_cache: bool = True
               ) -> ProbeResults:
    """Every probe ``params.probes`` asks for, on the runs that completed (see module docstring);
    results come from the probe cache under ``cache`` (default: the training cache directory)
    where present."""
    sets = sets or probe_sets(params, data)
    probe_cache = ProbeCache(sets, cache, enabled=use_cache)
    ok, skipped = usable(runs)
    p = params.probes
    results = ProbeResults(skipped, sets={"train": len(sets.train), "test": len(sets.test), "mode": sets.mode,
                                          "seed": p.eval_set.seed})
    not_probed = "; ".join(f"run {r} {why}" for r, why in zip(skipped["run"], skipped["reason"]))

    def failed(probe: str) -> str:
        return "; ".join(f"run {f['run']}: {f['reason']}" for f in probe_cache.failures if f["probe"] == probe)

    for name, probe in PROBES.items():
        if getattr(p, name) is None:
            continue
        frame = probe(params, ok, sets, probe_cache) if ok else None
        if frame is not None and not frame.empty:
            setattr(results, name, frame)
        else:
            results.unavailable[name] = f"no run completed ({not_probed})" if not ok else failed(name)
    if p.interpolation:
        missing = [f"{a}–{b}" for a, b in p.interpolation.pairs if a not in ok or b not in ok]
        paths, barriers = (interpolation(params, ok, sets, probe_cache) if len(missing) < len(p.interpolation.pairs)
                           else (None, None))
        if paths is not None and not paths.empty:
            results.interpolation, results.barriers = paths, barriers
        else:
            results.unavailable["interpolation"] = failed("interpolation") or f"no pair of completed runs ({not_probed})"
        if missing:
            extra = pd.DataFrame([{"run": pair, "reason": "interpolation pair skipped: a run did not complete"}
                                  for pair in missing])
            results.skipped = pd.concat([results.skipped, extra], ignore_index=True)
    if probe_cache.failures:
        failures = pd.DataFrame(probe_cache.failures)[["run", "reason"]]
        results.skipped = pd.concat([results.skipped, failures], ignore_index=True)
    results.sets["cache"] = {"loaded": probe_cache.loaded, "computed": probe_cache.computed}
    return results


def _tidy(frames: list[pd.DataFrame]) -> pd.DataFrame:
    if not frames:
        return pd.DataFrame()
    df = pd.concat(frames, ignore_index=True)
    first = [c for c in ("run", "label", "direction") if c in df.columns]
    return df[first + [c for c in df.columns if c not in first]]
