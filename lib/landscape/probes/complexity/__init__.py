"""The complexity probe: the measures Jiang et al. (2020) and Dziugaite et al. (2020) found to
track generalization best, on the train probe set (``geometry.complexity``): the inverse of the
10th-percentile output margin, the log product and log "sum" of the layers' squared spectral and
Frobenius norms, the path norm (BatchNorm folded into the layer before it), and the
magnitude-aware PAC-Bayes flatness 1/σ'² (σ' by bisection: the noise δᵢ ~ N(0, σ'²θᵢ² + ε²) that
lowers the accuracy by ``target_drop``).

The measures' one home: settings, compute, ``SCALARS`` and ``PROBES`` here, how they report in
``report``.
"""
from __future__ import annotations

from typing import Sequence

import pandas as pd
import torch
from pydantic import Field

from ...geometry import complexity as measures
from ..base import Probe, ProbeSets, ProbeSettings, Scalar


class ComplexityParams(ProbeSettings):
    """The PAC-Bayes σ' search: the accuracy drop it looks for (``target_drop``, within
    ``tolerance``), noise draws per σ' (``draws``, common to every σ'), the noise floor
    ``epsilon`` and the number of halvings of [0, 2] (``halvings``); the norms take no settings."""

    target_drop: float = Field(default=0.1, gt=0, lt=1)
    tolerance: float = Field(default=0.01, gt=0)
    draws: int = Field(default=10, gt=0)
    epsilon: float = Field(default=1e-3, ge=0)
    halvings: int = Field(default=15, gt=0)
    seed: int = 0


def complexity(models: Sequence[torch.nn.Module], sets: ProbeSets, cfg: ComplexityParams) -> pd.DataFrame:
    """One row on the train probe set: margin, inverse_margin, log_prod_spec, log_sum_spec,
    log_prod_fro, log_sum_fro, path_norm, layers (``geometry.complexity.norm_measures``);
    pacbayes_sigma (σ'), pacbayes_flatness (1/σ'²), sigma_drop (the accuracy drop at σ'),
    sigma_converged; mode, n."""
    model, = models
    input_shape = tuple(sets.train.images.shape[1:])
    norms = measures.norm_measures(model, sets.train, input_shape, mode=sets.mode, chunk_size=sets.chunk_size)
    search = measures.magnitude_aware_sigma(model, sets.train, cfg.target_drop, cfg.tolerance, cfg.draws, cfg.epsilon,
                                            cfg.halvings, cfg.seed, sets.mode, sets.chunk_size)
    return pd.DataFrame([{**norms, "pacbayes_sigma": search.sigma, "pacbayes_flatness": 1 / search.sigma ** 2,
                          "sigma_drop": search.drop, "sigma_converged": search.converged, "mode": sets.mode,
                          "n": len(sets.train.labels)}])


# BatchNorm folded first, the norms do not see the rescalings it makes free (tested), nor does the margin
SCALARS = {"inverse_margin": Scalar("1/margin²", True, "inverse squared 10th-percentile output margin", "complexity"),
           "log_prod_spec": Scalar("log Π‖W‖₂²", True, "log product of the layers' squared spectral norms",
                                   "complexity"),
           "log_sum_spec": Scalar("log Σ‖W‖₂²", True, "log d + mean log squared spectral norm", "complexity"),
           "log_prod_fro": Scalar("log Π‖W‖F²", True, "log product of the layers' squared Frobenius norms",
                                  "complexity"),
           "log_sum_fro": Scalar("log Σ‖W‖F²", True, "log d + mean log squared Frobenius norm", "complexity"),
           "path_norm": Scalar("path norm", True, "sum over paths of the squared weight products", "complexity"),
           "pacbayes_flatness": Scalar("PAC-Bayes flatness 1/σ'²", True,
                                       "magnitude-aware noise that lowers the accuracy by a fixed drop", "complexity")}

PROBES = (Probe("complexity", ComplexityParams, complexity, "draw",
                "norm, margin and magnitude-aware PAC-Bayes complexity measures",
                report="landscape.probes.complexity.report"),)
