"""The probe registry: every geometry probe a params file can ask for (``params.probes.<name>``).

One :class:`Probe` per probe: its name (the params key and the ``ProbeResults`` frame), its
settings model (validated params), what its progress counts, what it measures (said where a
report cannot show it), how many trained runs it takes (1, or 2 for interpolation pairs), and a
pure ``compute(models, sets, cfg)`` that returns a tidy frame (or a tuple of frames, one per name
in ``outputs``) without run ids or labels: the pipeline adds ``run`` and ``label`` (``pair``,
``run_a``, ``run_b`` for pairs), so a cached result is shared by every report that trains the same
run.

Each measure has one home, a package with its settings, compute and ``PROBES`` entry in its
``__init__`` and how it reports in its ``report`` module (term, tables, figures, sentences and
``SECTIONS``, which ``Probe.report`` names and ``sections.measure(report, name)`` calls):
``hessian``, ``density``, ``noise``, ``flatness``, ``sharpness``, ``gradient``, ``slices``
(slice1d, surface2d, loss_range), ``interpolation``, ``ggn``. ``measures`` and ``trajectory``,
which only the synthesis shows, are modules without a reporting half; ``base`` holds what they
share (settings base, probe sets, snapshots, the ``Probe`` record). Adding a measure means its
package (``MODULES`` finds it), its tests and the params (and notebook cells) that ask for it.

May import: ``core``, ``learning``, ``geometry``; a probe's ``report`` module is of the
reporting layer.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pandas as pd

import importlib
import pkgutil

from ..core.schema import Strict
from .base import Probe, SetsSpec

MODULES = tuple(importlib.import_module(f"{__name__}.{found.name}")  # every home in this package, by name
                for found in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name) if found.name != "base")
REGISTRY: dict[str, Probe] = {p.name: p for module in MODULES for p in module.PROBES}

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
        """The mapping ``claims.judge`` takes (``runs``: the runs table with status per run)."""
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
    return {"cfg": cfg.model_dump(exclude={"configs", "seeds", "accelerator_points"}),  # which runs: the job's key;
            "mode": sets.eval_set.mode, "chunk_size": sets.eval_set.chunk_size}  # the device's grid: in ``points``


def optional_settings() -> dict:
    """{probe name: (Optional[settings model], None)} for building ``params.ProbeParams``."""
    return {name: (Optional[p.settings], None) for name, p in REGISTRY.items()}
