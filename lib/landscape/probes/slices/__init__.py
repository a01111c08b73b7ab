"""The slice and surface probes: slice1d / surface2d: train and test probe sets along
filter-normalized random directions (ours); when the params ask for ``direction: random`` or
``unit`` the study's direction (unnormalized N(0, I), or unit norm over all parameters) is added
(``direction`` column); loss_range: the range of the loss over a coarse grid on the plane of
``surface2d``, for the spread of that range over seeds.

The measures' one home: settings, compute and ``PROBES`` here, how they report (their terms,
figures, loss-range table and sentence, and the slice1d and surface2d sections) in ``report``.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
import torch
from pydantic import Field, model_validator
from typing import Literal

from ...geometry import curvature, directions, operators, surfaces
from ..base import Probe, ProbeSets, ProbeSettings, Scalar


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
    """A slice's grid in α and β (:class:`SliceParams`) on the ``split`` probe sets;
    ``accelerator_points``: the grid's points on a CUDA or MPS device instead of ``points`` (Li et
    al. draw 51 × 51, which one CPU core cannot afford for every report)."""

    split: Literal["train", "test", "both"] = "both"
    accelerator_points: int | None = Field(default=None, gt=1)

    @model_validator(mode="after")
    def _accelerator_grid(self) -> "SurfaceParams":
        if self.accelerator_points is not None:
            SliceParams.model_validate({**self.model_dump(include=set(SliceParams.model_fields)),
                                        "points": self.accelerator_points})
        return self

    def for_device(self, device_type: str) -> "SurfaceParams":
        if device_type in ("cuda", "mps") and self.accelerator_points is not None:
            return self.model_copy(update={"points": self.accelerator_points})
        return self

STUDY_NORMALIZATION = {"random": None, "unit": "unit"}  # the studies' direction kinds -> directions.normalize_direction


def direction_kinds(direction: str) -> list[str]:
    """The direction kinds a slice or surface is drawn along: ``filter`` (ours) and, when the
    params name the study's kind (``random`` or ``unit``), that one too."""
    return ["filter"] + ([direction] if direction != "filter" else [])


def _normalization(kind: str) -> str | None:
    return "filter" if kind == "filter" else STUDY_NORMALIZATION[kind]


def slice1d(models: Sequence[torch.nn.Module], sets: ProbeSets, cfg: SliceParams) -> pd.DataFrame:
    """L(θ + α d) on the train and test probe sets: columns direction, alpha, split, loss,
    loss_se, accuracy, mode, n."""
    model, = models
    frames = []
    for kind in direction_kinds(cfg.direction):
        d = directions.normalized_direction(model, cfg.seed, _normalization(kind))
        frame = surfaces.slice_1d(model, sets.splits(), d, cfg.alphas(kind), mode=sets.mode, chunk_size=sets.chunk_size)
        frames.append(frame.assign(direction=kind))
    return pd.concat(frames, ignore_index=True)


def surface2d(models: Sequence[torch.nn.Module], sets: ProbeSets, cfg: SurfaceParams) -> pd.DataFrame:
    """L(θ + α d₁ + β d₂) on an α × β grid, d₁ ⊥ d₂ (``directions.plane_directions``) for each
    direction kind (``direction_kinds``): columns direction, alpha, beta, split, loss, loss_se,
    accuracy, mode, n."""
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


SCALARS = {"slice_curvature": Scalar("slice curvature", True, "dᵀHd along filter-normalized directions", "slice1d")}
SCALAR_COLUMNS = ("slice_curvature", "slice_curvature_sd")


def scalars(op: operators.CurvatureOperator, model: torch.nn.Module, num_directions: int, seed: int) -> dict:
    """The slices' summary the synthesis ranks (``SCALARS``, columns ``SCALAR_COLUMNS``): the mean
    and standard deviation over ``num_directions`` filter-normalized directions d (zero bias and
    BatchNorm entries; seeds ``seed``, ``seed + 1``, ...) of dᵀHd, the second derivative of a
    Li et al. slice at α = 0 (``op``: the Hessian of ``model``)."""
    bends = np.array([curvature.directional_curvature(op, directions.normalized_direction(model, seed + i))
                      for i in range(num_directions)])
    return {"slice_curvature": float(bends.mean()),
            "slice_curvature_sd": float(bends.std(ddof=1)) if len(bends) > 1 else np.nan}


PROBES = (Probe("slice1d", SliceParams, slice1d, "point", "the loss along a direction through the trained weights",
                report="landscape.probes.slices.report",
                checks="landscape.probes.slices.checks"),
          Probe("surface2d", SurfaceParams, surface2d, "point", "the loss on a plane through the trained weights",
                report="landscape.probes.slices.report", version=1),  # 1: loss_se, the probe-set noise
          Probe("loss_range", LossRangeParams, loss_range, "point", "the range of the loss on a coarse plane grid"))
