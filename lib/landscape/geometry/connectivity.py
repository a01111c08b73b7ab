"""Linear mode connectivity: the loss along θ(α) = (1 − α) θ_A + α θ_B and its barrier.

Conventions: loss is the mean cross-entropy in nats, accuracy a fraction and error = 1 −
accuracy, each over a whole evaluation set (``evaluation.evaluate``). θ(α) is formed with
``torch.lerp``, which is exact at the ends: at α = 0 and α = 1 the numbers equal
``evaluate`` of each endpoint. The two models must share an architecture (same state-dict
names and shapes); they are never modified: every point is written into a scratch copy of A.

BatchNorm running statistics (``bn``):
- ``"interpolate"``: running mean and variance are interpolated like the weights;
- ``"recompute"``: at every α they are reset and recomputed from ``bn_data`` with only the
  BatchNorm layers in train mode (dropout off), momentum=None (the cumulative average over
  the chunks of ``bn_data``, each chunk weighted equally), then the point is evaluated in
  eval mode. The endpoints then differ from the stored models by their recomputed statistics.

Barrier: max over the α grid of f(α) − [(1 − α) f(0) + α f(1)], for f the loss and the error.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import torch

from ..core import progress
from ..learning.data import ImageDataset
from ..learning.evaluation import Batch, Splits, chunks, evaluate, has_batchnorm, model_device

BN_OPTIONS = ("interpolate", "recompute")


@dataclass(frozen=True)
class Barrier:
    """Largest excess of the loss (nats) and of the error (fraction) over the straight line
    between the endpoint values, and the α where each occurs."""

    split: str
    loss_barrier: float
    loss_alpha: float
    error_barrier: float
    error_alpha: float
    loss_endpoints: tuple[float, float]
    error_endpoints: tuple[float, float]
    bn: str
    mode: str
    n: int


def barrier(frame: pd.DataFrame, split: str) -> Barrier:
    """The barrier of one split of an ``interpolate`` frame (its α grid must include 0 and 1)."""
    rows = frame[frame["split"] == split].sort_values("alpha")
    if rows.empty:
        raise ValueError(f"no rows for split {split!r}; splits present: {sorted(frame['split'].unique())}")
    alpha = rows["alpha"].to_numpy()
    if alpha[0] != 0.0 or alpha[-1] != 1.0:
        raise ValueError("the α grid must include 0 and 1 to measure a barrier")
    result = {}
    for metric in ("loss", "error"):
        values = rows[metric].to_numpy()
        excess = values - ((1 - alpha) * values[0] + alpha * values[-1])
        best = int(np.argmax(excess))
        result[metric] = (float(excess[best]), float(alpha[best]), (float(values[0]), float(values[-1])))
    return Barrier(split, result["loss"][0], result["loss"][1], result["error"][0], result["error"][1],
                   result["loss"][2], result["error"][2], str(rows["bn"].iloc[0]), str(rows["mode"].iloc[0]),
                   int(rows["n"].iloc[0]))


def _check_same_architecture(model_a: torch.nn.Module, model_b: torch.nn.Module) -> None:
    a, b = model_a.state_dict(), model_b.state_dict()
    if a.keys() != b.keys():
        raise ValueError(f"models differ in state names: {sorted(set(a) ^ set(b))[:5]}")
    for name in a:
        if a[name].shape != b[name].shape or a[name].dtype != b[name].dtype:
            raise ValueError(f"{name}: {tuple(a[name].shape)} {a[name].dtype} vs {tuple(b[name].shape)} {b[name].dtype}")


@torch.no_grad()
def _recompute_batchnorm(model: torch.nn.Module, data: ImageDataset | Batch, chunk_size: int) -> None:
    """Reset BatchNorm running statistics and recompute them (cumulative average) from ``data``."""
    layers = [m for m in model.modules()
              if isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and m.track_running_stats]
    momenta = [m.momentum for m in layers]
    model.eval()
    for m in layers:
        m.reset_running_stats()
        m.momentum = None
        m.train()
    try:
        for x, _ in chunks(data, chunk_size, model_device(model)):
            model(x)
    finally:
        for m, momentum in zip(layers, momenta):
            m.momentum = momentum
        model.eval()


def interpolate(model_a: torch.nn.Module, model_b: torch.nn.Module, splits: Splits,
                alphas: Sequence[float] = tuple(np.linspace(0.0, 1.0, 21)), bn: str = "interpolate",
                bn_data: ImageDataset | Batch | None = None, mode: str = "eval",
                chunk_size: int = 1000) -> tuple[pd.DataFrame, dict[str, Barrier]]:
    """Loss and accuracy along the segment from A (α = 0) to B (α = 1) on every split.

    Returns a tidy frame (columns alpha, split, loss, accuracy, error, bn, mode, n) and
    {split: Barrier} (empty when ``alphas`` lacks 0 or 1, which the barrier needs).
    """
    if bn not in BN_OPTIONS:
        raise ValueError(f"unknown bn option {bn!r}; allowed: {list(BN_OPTIONS)}")
    recompute = bn == "recompute" and has_batchnorm(model_a)
    if recompute and bn_data is None:
        raise ValueError('bn="recompute" needs bn_data (a training subset)')
    if recompute and mode != "eval":
        raise ValueError('bn="recompute" evaluates with the recomputed running statistics: use mode="eval"')
    if not isinstance(splits, Mapping) or not splits:
        raise ValueError("splits must be a non-empty mapping {split name: evaluation set}")
    alphas = [float(a) for a in alphas]
    if not alphas:
        raise ValueError("alphas must not be empty")
    _check_same_architecture(model_a, model_b)
    scratch = copy.deepcopy(model_a)
    state_a, state_b = model_a.state_dict(), model_b.state_dict()
    target = scratch.state_dict()
    rows = []
    with progress.task("interpolation", len(alphas) * len(splits), "point"):
        for alpha in alphas:
            with torch.no_grad():
                for name, value in target.items():
                    if value.is_floating_point():
                        value.copy_(torch.lerp(state_a[name], state_b[name], alpha))
            if recompute:
                _recompute_batchnorm(scratch, bn_data, chunk_size)
            for split, data in splits.items():
                result = evaluate(scratch, data, chunk_size, mode)
                rows.append({"alpha": alpha, "split": split, "loss": result.loss, "accuracy": result.accuracy,
                             "error": 1.0 - result.accuracy, "bn": bn, "mode": mode, "n": result.n})
                progress.tick()
    frame = pd.DataFrame(rows)
    barriers = {split: barrier(frame, split) for split in splits} if 0.0 in alphas and 1.0 in alphas else {}
    return frame, barriers
