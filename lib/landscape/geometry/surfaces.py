"""1-D slices L(θ + α d) and 2-D surfaces L(θ + α d₁ + β d₂) of the loss landscape.

Conventions: loss is the mean cross-entropy in nats and accuracy a fraction over each whole
evaluation set (``evaluation.evaluate``); directions are flat vectors (``directions``), so α
and β are in units of the directions (with filter-normalized directions, α = 1 moves every
filter by its own norm). Each grid point is written into the model's parameters in place
(``directions.ParameterShift``: θ + Σ cᵢ dᵢ computed from a saved copy of θ, so there is no
drift) and θ is restored bit for bit at the end, also on error. On CPU this measured as
fast as a functional call per chunk; what matters is the chunk size: chunks of ~100 images
were ~2.4x faster per point than one chunk of 2,000 for study 001's CNN
(``bench/bench_probes.py``).

BatchNorm: only trainable parameters move. In ``mode="eval"`` the running statistics stay
those of θ at every grid point (they are not recomputed for θ + α d); ``mode="train"``
normalizes each chunk with its own statistics instead.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import torch

from ..core import progress
from ..learning.evaluation import Splits, evaluate
from .directions import ParameterShift, parameter_vector



def evaluate_grid(model: torch.nn.Module, splits: Splits, directions: Sequence[torch.Tensor],
                  coordinates: np.ndarray, names: Sequence[str], mode: str = "eval",
                  chunk_size: int = 1000) -> pd.DataFrame:
    """Loss and accuracy at θ + Σ_i coordinates[p, i] · directions[i] for every grid point p.

    splits: {name: evaluation set}, e.g. {"train": ..., "test": ...}; coordinates: (P, k) array
    for k directions, whose columns are called ``names``. Returns a tidy frame with columns
    ``*names``, split, loss, loss_se (the standard error of that mean over the set's samples:
    per-sample standard deviation / √n, nats: how far the loss would move on another probe set of
    the same size), accuracy, mode, n (one row per point and split, points in order).
    """
    if not isinstance(splits, Mapping) or not splits:
        raise ValueError("splits must be a non-empty mapping {split name: evaluation set}")
    coordinates = np.asarray(coordinates, dtype=np.float64)
    if coordinates.ndim != 2 or coordinates.shape[1] != len(directions) or len(names) != len(directions):
        raise ValueError(f"coordinates of shape {coordinates.shape} and names {list(names)} do not match "
                         f"{len(directions)} direction(s)")
    dim = parameter_vector(model).numel()
    for d in directions:
        if d.shape != (dim,):
            raise ValueError(f"directions must be flat vectors of {dim} entries, got shape {tuple(d.shape)}")
    rows = []
    with ParameterShift(model) as shift, progress.task("landscape grid", len(coordinates) * len(splits), "point"):
        for point in coordinates:
            shift.set_combination(point.tolist(), directions)
            for split, data in splits.items():
                result = evaluate(model, data, chunk_size, mode)
                rows.append({**dict(zip(names, point.tolist())), "split": split, "loss": result.loss,
                             "loss_se": result.loss_sd / result.n ** 0.5, "accuracy": result.accuracy, "mode": mode,
                             "n": result.n})
                progress.tick()
    return pd.DataFrame(rows)


def slice_1d(model: torch.nn.Module, splits: Splits, direction: torch.Tensor, alphas: Sequence[float],
             mode: str = "eval", chunk_size: int = 1000) -> pd.DataFrame:
    """L(θ + α d) for each α: columns alpha, split, loss, loss_se, accuracy, mode, n."""
    alphas = np.asarray(alphas, dtype=np.float64).reshape(-1, 1)
    return evaluate_grid(model, splits, [direction], alphas, ["alpha"], mode, chunk_size)


def surface_2d(model: torch.nn.Module, splits: Splits, direction1: torch.Tensor, direction2: torch.Tensor,
               alphas: Sequence[float], betas: Sequence[float], mode: str = "eval",
               chunk_size: int = 1000) -> pd.DataFrame:
    """L(θ + α d₁ + β d₂) on the grid alphas × betas (α outer, β inner): columns alpha, beta,
    split, loss, loss_se, accuracy, mode, n. ``surface.pivot(index="beta", columns="alpha", values="loss")``
    gives the matrix for a contour plot."""
    alpha_grid, beta_grid = np.meshgrid(np.asarray(alphas, dtype=np.float64), np.asarray(betas, dtype=np.float64),
                                        indexing="ij")
    coordinates = np.stack([alpha_grid.ravel(), beta_grid.ravel()], axis=1)
    return evaluate_grid(model, splits, [direction1, direction2], coordinates, ["alpha", "beta"], mode,
                         chunk_size)


def loss_ranges(grid: pd.DataFrame) -> pd.DataFrame:
    """A surface frame (one row per grid point, ``surface_2d``) reduced to the range of its loss:
    one row per run (where the frame names runs: run, label, config, seed), direction kind and
    split, with min, max and range = max − min (nats), and the mode and n where given."""
    keys = [c for c in ("run", "label", "config", "seed", "direction", "split", "mode", "n") if c in grid.columns]
    found = grid.groupby(keys, sort=False)["loss"].agg(["min", "max"]).reset_index()
    return found.assign(range=found["max"] - found["min"])
