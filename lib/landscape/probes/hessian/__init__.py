"""The Hessian probe: Lanczos top-k (``which="LA"``) eigenvalues and a Hutchinson trace ± stderr on
the train probe set; the smallest eigenvalue, first bounded from above by the smallest Ritz value
of BOTTOM_NCV Lanczos steps (a clearly negative bound proves negative curvature:
``lambda_min_kind`` "upper bound"), else converged by ARPACK (``which="SA"``, at most
BOTTOM_MAX_ITER restarts: "converged" or "not converged"); the honest condition number
(``curvature.condition_number``: undefined when negative curvature is present), and the study's
estimate (``curvature.seed_power_iteration``: one random mini-batch of ``study_batch_size``
training images, ``study_iterations`` power steps, train mode as the studies ran it) in its own
row, method ``study``; with ``attribute``, the converged λmax of the steps between the two
(``ATTRIBUTION``: train mode over the probe set, then the one mini-batch), so a report can say how
much of a gap is mode, batch and iteration count.

The measure's one home: settings, compute and ``PROBES`` here, how it reports (its term, tables,
figure, sentence and section) in ``report``.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
import scipy.sparse.linalg
import torch
from pydantic import Field

from ...geometry import curvature, operators
from ...learning.evaluation import has_batchnorm
from ..base import NOT_COMPUTED, Probe, ProbeSets, ProbeSettings, Scalar

BOTTOM_MAX_ITER = 5  # ARPACK restarts
BOTTOM_NCV = 20  # also the Lanczos steps of the cheap negative-curvature test


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


def _bottom(op: operators.HessianOperator, tol: float, seed: int) -> curvature.EigenResult | None:
    try:
        return curvature.lanczos(op, k=1, which="SA", tol=tol, max_iter=BOTTOM_MAX_ITER,
                                 ncv=min(op.dim - 1, BOTTOM_NCV), seed=seed)
    except scipy.sparse.linalg.ArpackNoConvergence:
        return None


def _our_curvature(op: operators.HessianOperator, cfg: HessianParams) -> dict:
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
    one mini-batch) and, with ``cfg.attribute``, the ``ATTRIBUTION`` steps between them.
    Columns: method, lambda_max, eigenvalues (top-k, descending),
    lambda_min, lambda_min_kind, condition_number, condition_status, trace, trace_stderr,
    num_hvps, mode, n."""
    model, = models
    op = operators.HessianOperator(model, sets.train, mode=sets.mode, chunk_size=sets.chunk_size)
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
        op = operators.HessianOperator(model, data, mode="train", chunk_size=chunk)
        lam = float(curvature.lanczos(op, k=1, which="LA", tol=cfg.tol, seed=0).eigenvalues[0])
        op.release()
        rows.append({"method": method, "lambda_max": lam, "eigenvalues": (lam,), "lambda_min": np.nan,
                     "lambda_min_kind": NOT_COMPUTED, "condition_number": np.nan, "condition_status": NOT_COMPUTED,
                     "trace": np.nan, "trace_stderr": np.nan, "num_hvps": op.num_products, "mode": "train", "n": op.n})
    return rows


SCALARS = {"lambda_max": Scalar("λmax", False, "top Hessian eigenvalue", "hessian"),
           "trace": Scalar("tr(H)", False, "Hutchinson trace of the Hessian", "hessian"),
           "lambda_ratio": Scalar("λmax/|λ̃min|", False, "λmax over the smallest Ritz value's magnitude", "hessian")}
SCALAR_COLUMNS = ("lambda_max", "lambda_min_ritz", "negative_curvature", "lambda_ratio", "trace", "trace_stderr")


def scalars(op: operators.CurvatureOperator, tol: float, ritz_steps: int, trace_samples: int, seed: int) -> dict:
    """The curvature summaries the synthesis ranks (``SCALARS``, columns ``SCALAR_COLUMNS``):
    λmax by Lanczos to ``tol``; the smallest Ritz value of ``ritz_steps`` Lanczos steps (an upper
    bound on λmin: below −tol·λmax it proves negative curvature); λmax/|that value| (an upper
    bound on λmax/|λmin| where λmin < 0); the Hutchinson trace of ``trace_samples`` Rademacher
    vectors (seed ``seed``) ± its standard error. Raises ``scipy.sparse.linalg.ArpackError``
    where Lanczos fails (H = 0 or not finite: a collapsed network)."""
    lam_max = float(curvature.lanczos(op, k=1, which="LA", tol=tol, seed=0).eigenvalues[0])
    ritz = curvature.smallest_ritz_value(op, min(op.dim, ritz_steps), seed=0)
    trace = curvature.hutchinson_trace(op, trace_samples, seed=seed)
    return {"lambda_max": lam_max, "lambda_min_ritz": ritz, "negative_curvature": bool(ritz < -tol * abs(lam_max)),
            "lambda_ratio": lam_max / abs(ritz) if ritz != 0 else np.inf, "trace": trace.trace,
            "trace_stderr": trace.stderr}


PROBES = (Probe("hessian", HessianParams, hessian, "HVP", "the top Hessian eigenvalues, λmin and the trace",
                report="landscape.probes.hessian.report",
                checks="landscape.probes.hessian.checks"),)
