"""Jobs: a report's params expanded into a graph of pure, content-keyed pieces of work.

- A *training job* (:class:`TrainJob`) per run: model, data, training config, seed. Its key is the
  training key (``RunSpec.key``); its result is the trained run (``store.RESULT_KEYS``), with the
  snapshots along its training when a trajectory probe of the run asks for them (``snapshots``:
  their epoch-1 fractions; keeping them changes no number, so the key is the same).
- A *probe job* (:class:`ProbeJob`) per (run, probe), and per (pair of runs, probe) for probes
  that take two runs (interpolation). It depends on the training jobs of its runs; its key hashes
  PROBE_VERSION (and the probe's own version, once it has one), the probe and its settings, the
  probe sets' identity, the runs' training keys and the device type; its result is the probe's
  frame (or tuple of frames).

A job is pure (:func:`execute`: inputs -> result, reading and writing no file) and idempotent:
the pipeline (``landscape.pipeline.driver``) runs only the jobs whose key is not in the cache and writes
their results there. Jobs with the same key (two reports, or two run ids, that train the same
run) are one job.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import torch

from ..core import progress, store
from ..core.runtime import make_deterministic, select_device
from ..core.schema import Strict
from ..learning import training
from ..learning.training import RunSpec
from ..probes import REGISTRY, settings_of
from ..probes.base import PROBE_VERSION, SetsSpec, Snapshot, build_sets

TRAIN_KEY_LENGTH, PROBE_KEY_LENGTH = 16, 20


@dataclass(frozen=True)
class TrainJob:
    """Train one run (``spec``; ``run``: the run id that names it in progress and failures),
    keeping snapshots at the epoch-1 fractions ``snapshots`` (None: none)."""

    key: str
    run: str
    spec: RunSpec
    deps: tuple[str, ...] = ()
    snapshots: tuple[float, ...] | None = None

    @property
    def name(self) -> str:
        return f"train {self.run}"


@dataclass(frozen=True)
class ProbeJob:
    """Run one probe on one run (or one pair); ``deps`` are the runs' training keys, in order."""

    key: str
    name: str
    probe: str
    cfg: Strict
    sets: SetsSpec
    specs: tuple[RunSpec, ...]
    deps: tuple[str, ...]


Job = TrainJob | ProbeJob


def probe_key(probe: str, cfg: Strict, sets: SetsSpec, run_keys: tuple[str, ...], device_type: str) -> str:
    """The probe cache key (see module docstring)."""
    payload = {"version": PROBE_VERSION, "probe": probe, "settings": settings_of(cfg, sets),
               "sets": sets.identity(), "runs": list(run_keys), "device": device_type}
    if REGISTRY[probe].version:  # a probe's own version enters its keys once it has one
        payload["probe_version"] = REGISTRY[probe].version
    return store.content_key(payload, PROBE_KEY_LENGTH)


@dataclass
class Graph:
    """The jobs of one report, training jobs first (``jobs``: key -> job), and how the report
    names them: ``runs`` (run id -> training key) and ``probes`` (one entry per requested
    probe and run or pair: (probe name, run ids, key))."""

    jobs: dict[str, Job] = field(default_factory=dict)
    runs: dict[str, str] = field(default_factory=dict)
    probes: list[tuple[str, tuple[str, ...], str]] = field(default_factory=list)

    def add(self, job: Job) -> str:
        """Add ``job`` (a job already there under its key stays; a training job keeps the
        snapshots either asks for: two requests for different ones are a ValueError)."""
        kept = self.jobs.setdefault(job.key, job)
        if isinstance(job, TrainJob) and job.snapshots != kept.snapshots:
            if None not in (job.snapshots, kept.snapshots):
                raise ValueError(f"run {job.run}: snapshots asked at {kept.snapshots} and at {job.snapshots}")
            self.jobs[job.key] = job if kept.snapshots is None else kept
        return job.key


def expand(run_specs: dict[str, RunSpec], probe_params: Any, sets: SetsSpec, device_type: str,
           targets: Mapping[str, Sequence[tuple[str, ...]]], with_probes: bool = True,
           keep: Mapping[str, tuple[float, ...]] | None = None) -> Graph:
    """The graph of a report: a training job per run of ``run_specs`` (run id -> spec) and, with
    ``with_probes``, a probe job per requested probe (``probe_params``: ``params.probes``) and
    each of its targets (``targets``: probe -> run-id tuples, ``params.probe_targets()``). A run
    that a trajectory probe targets keeps its snapshots with or without ``with_probes``, and so
    does a run in ``keep`` (run id -> epoch-1 fractions another report's trajectory will ask,
    ``params.snapshots_asked``), so that training first and probing later never trains it twice."""
    graph = Graph()
    traced = {run_ids[0]: tuple(getattr(probe_params, name).early) for name, probe in REGISTRY.items()
              if probe.trajectory and getattr(probe_params, name) is not None for run_ids in targets[name]}
    kept = {**(keep or {}), **traced}  # run id -> epoch-1 fractions of its snapshots
    for run_id, spec in run_specs.items():
        graph.runs[run_id] = graph.add(TrainJob(spec.key(), run_id, spec, snapshots=kept.get(run_id)))
    if not with_probes:
        return graph
    for name, probe in REGISTRY.items():
        cfg = getattr(probe_params, name)
        if cfg is None:
            continue
        cfg = cfg.for_device(device_type)
        for run_ids in targets[name]:
            keys = tuple(graph.runs[r] for r in run_ids)
            key = probe_key(name, cfg, sets, keys, device_type)
            graph.add(ProbeJob(key, f"{name} {'–'.join(run_ids)}", name, cfg, sets,
                               tuple(run_specs[r] for r in run_ids), keys))
            graph.probes.append((name, run_ids, key))
    return graph


# ---------------------------------------------------------------------------- executing one job

Emit = Callable[[str, Any], None]


def execute(job: Job, inputs: dict, device: str | torch.device = "cpu", emit: Emit | None = None) -> Any:
    """The result of ``job`` on ``device``. ``inputs``: for a training job ``{"resume": checkpoint
    or None}``; for a probe job ``{"states": [model state of each run, in deps order]}``, and for a
    trajectory probe ``{"snapshots": the run's snapshots (``store.SNAPSHOT_KEYS``)}``, whose
    frame gets the columns ``replayed`` and ``matches_result`` of the snapshots.
    ``emit("checkpoint", checkpoint)`` is called after every training epoch. Every job runs with
    torch's deterministic kernels, whatever the process ran before (training asked for them, but a
    probe in a worker that trained nothing did not)."""
    device = select_device(device) if isinstance(device, str) else device
    make_deterministic()
    if isinstance(job, TrainJob):
        on_checkpoint = (lambda ckpt: emit("checkpoint", ckpt)) if emit is not None else None
        return training.train(job.spec, device, resume=inputs.get("resume"), on_checkpoint=on_checkpoint,
                              label=job.run, snapshots=job.snapshots)
    probe = REGISTRY[job.probe]
    sets = build_sets(job.sets)
    with progress.task(job.name, unit=probe.unit):
        if not probe.trajectory:
            models = [training.trained_model(spec, state, device) for spec, state in zip(job.specs, inputs["states"])]
            return probe.compute(models, sets, job.cfg)
        spec, = job.specs
        kept = inputs["snapshots"]
        snapshots = [Snapshot(float(p["epoch"]), int(p["step"]), training.trained_model(spec, p["model"], device))
                     for p in kept["points"]]
        return probe.compute(snapshots, sets, job.cfg).assign(replayed=bool(kept["replayed"]),
                                                              matches_result=bool(kept["matches_result"]))
