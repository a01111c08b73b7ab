"""The Gauss-Newton probe: the curvature the loss has through the network's outputs, G = (1/n)
Σᵢ Jᵢᵀ Sᵢ Jᵢ (``operators.GGNOperator``; for softmax cross-entropy the Fisher information of the
model's predictive distribution), on the train probe set: its largest eigenvalue (Lanczos) and
its trace (Hutchinson, ± stderr), each beside the Hessian's by the same method, start vectors and
set. G is positive semi-definite and H − G is the part of the curvature that comes from the
network's own second derivatives, so the ratios G/H say how much of λmax and of the trace is
Gauss-Newton; near a minimum that fits the data H ≈ G.

This package is the measure's one home: settings, compute and its ``PROBES`` entry here, how it
reports (its term, table, sentence and section) in ``report``.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
import scipy.sparse.linalg
import torch
from pydantic import Field

from ...geometry import curvature, operators
from ..base import Probe, ProbeSets, ProbeSettings

MATRICES = {"ggn": operators.GGNOperator, "hessian": operators.HessianOperator}  # each row's matrix -> its operator


class GGNParams(ProbeSettings):
    """Lanczos to tolerance ``tol`` for λmax; ``trace_samples`` Rademacher vectors (seed ``seed``,
    the same for both matrices: a paired ratio) for the trace."""

    tol: float = Field(default=1e-3, gt=0)
    trace_samples: int = Field(default=30, ge=2)
    seed: int = 0


def ggn(models: Sequence[torch.nn.Module], sets: ProbeSets, cfg: GGNParams) -> pd.DataFrame:
    """One row per matrix (``MATRICES``: ggn, hessian): matrix, lambda_max, trace, trace_stderr,
    num_products, mode, n. A matrix Lanczos cannot handle (a collapsed network) gives NaN."""
    model, = models
    rows = []
    for matrix, operator in MATRICES.items():
        op = operator(model, sets.train, mode=sets.mode, chunk_size=sets.chunk_size)
        try:
            top = float(curvature.lanczos(op, k=1, which="LA", tol=cfg.tol, seed=cfg.seed).eigenvalues[0])
            trace = curvature.hutchinson_trace(op, cfg.trace_samples, seed=cfg.seed)
            found = {"lambda_max": top, "trace": trace.trace, "trace_stderr": trace.stderr}
        except scipy.sparse.linalg.ArpackError:
            found = {"lambda_max": np.nan, "trace": np.nan, "trace_stderr": np.nan}
        op.release()
        rows.append({"matrix": matrix, **found, "num_products": op.num_products, "mode": sets.mode, "n": op.n})
    return pd.DataFrame(rows)


PROBES = (Probe("ggn", GGNParams, ggn, "product", "the Gauss-Newton (Fisher) curvature beside the Hessian's",
                report="landscape.probes.ggn.report"),)
