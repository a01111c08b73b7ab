"""What every probe shares: the base of its settings, the probe sets, the snapshots a trajectory
probe reads and the Probe record each probe module declares. Fixed probe sets (:class:`SetsSpec`,
:func:`build_sets`): stratified subsets (``ImageDataset.stratified``, seed ``eval_set.seed``) of
``eval_set.train_size`` training and ``test_size`` test images of the report's data. Every number
carries the evaluation ``mode`` (``eval``: BatchNorm running statistics; ``train``: per-chunk
statistics, see ``evaluation``) and n.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Callable, Literal

import pandas as pd
import torch
from pydantic import Field

from ..core.schema import Strict
from ..learning.data import ImageDataset
from ..learning.training import DataSpec, load_splits

CONFIDENCE = 0.95
NOT_COMPUTED = "not computed"  # a hessian number the settings (or the method) leave out
PROBE_VERSION = 3  # bump when a change alters the numbers a cached probe would produce (3: HVP chunks fit a memory budget)


class ProbeSettings(Strict):
    """What every probe's settings hold: ``seeds``, which runs of each configuration it probes:
    ``all`` (statistics over seeds) or ``study`` (the study-seed run only, for probes whose cost
    buys a figure rather than a verdict, e.g. a 2-D surface)."""

    seeds: Literal["all", "study"] = "all"

    def for_device(self, device_type: str) -> "ProbeSettings":
        """The settings the probe runs with on a device of ``device_type`` ("cpu", "cuda", "mps"):
        these, unless a probe's settings ask for more work where an accelerator makes it cheap."""
        return self


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


@dataclass(frozen=True)
class Snapshot:
    """The model at one point of a run's training: ``epoch`` (progress in epochs), ``step``
    (optimizer steps taken)."""

    epoch: float
    step: int
    model: torch.nn.Module


@dataclass(frozen=True)
class Scalar:
    """A scalar summary of one trained model that a measure's home exposes for the synthesis to
    correlate with generalization (``measures.SCALARS``)."""

    label: str
    invariant: bool  # unchanged by the rescalings BatchNorm makes free (filter- or weight-relative)
    meaning: str
    probe: str  # the probe whose home computes it (and whose section shows it in a study's report)


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
    report: str | None = None  # the module of its reporting half (``SECTIONS``, terms, tables); None: no
    # section of its own (``measures``, ``trajectory``: the synthesis shows them; ``loss_range``: surface2d's)
    checks: str | None = None  # the module of the claim checks that read its frames (``CHECKS``), if any
    version: int = 0  # bump when a change alters what this probe's cached frame holds (0: its keys as they were)

    @property
    def frames(self) -> tuple[str, ...]:
        return self.outputs or (self.name,)



