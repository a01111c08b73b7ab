"""The pipeline: a report's job graph (``landscape.pipeline.jobs``) run on an engine
(``landscape.pipeline.engines``) through the cache (``landscape.core.store``).

:func:`run_graph` is the driver. It reads every job's result that the cache holds, sends the
others to the engine as soon as the runs they need are trained, and writes what comes back to the
cache (atomically; workers never write it): training checkpoints after every epoch, finished runs
and probe frames. A run keeps the snapshots of its training that a trajectory probe of this graph,
or of a synthesis over its report, will ask for (``params.snapshots_asked``). A run a trajectory
probe needs snapshots of is trained again when the cache has it without them; the replay writes
only the snapshots, noting whether it ended at the cached weights bit for bit, and the cached run
stays what the graph uses (a replay that fails leaves the run's other probes waiting on it skipped
until a rerun). A diverged run is a result: the probes of its run are skipped with the reason,
except trajectory probes. A job that raises is recorded as failed with its reason, and so are the
jobs that need it; a job whose worker died is retried once (from its last checkpoint), then
recorded as failed. The rest of the graph goes on. Ctrl-C stops the engine (killing its workers)
and loses at most the jobs in flight; a rerun resumes from the cache.

:func:`run` does this for a report's params and gathers what its notebook shows: the runs
(:class:`RunRecord`: history, status, parameter count, ...) and the probe frames
(``probes.ProbeResults``, with ``run``/``label`` or ``pair``/``run_a``/``run_b`` columns added).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import pandas as pd
import torch

from . import estimate, jobs as jobs_mod
from ..core import progress, store
from ..learning.training import RunSpec, load_splits, outcome, parameter_count, spec_json
from ..probes import REGISTRY, ProbeResults, tidy
from ..probes.base import build_sets
from .engines import Engine, EngineSettings, make_engine, settings as engine_settings
from .params import AnyParams, DataSource, ProbeParams, ReportParams, SynthesisParams, snapshots_asked

RETRIES = 1  # a job whose worker died is run again this many times


# ============================================================================ the driver

@dataclass
class Outcome:
    """What became of one job: ``state`` "done" (``value``: its result; ``computed``: by this call,
    not read from the cache), "failed" or "skipped" (``reason``)."""

    state: str
    value: Any = None
    computed: bool = False
    reason: str = ""


@dataclass
class GraphRun:
    """The outcome of every job of a graph, and what it cost (``seconds``: wall time)."""

    outcomes: dict[str, Outcome]
    seconds: float



def _unusable(job: jobs_mod.Job, outcomes: Mapping[str, Outcome], graph: jobs_mod.Graph) -> str | None:
    """Why a probe job cannot run on its runs (a run failed, diverged or has no epoch; a
    trajectory probe only needs its run trained), or None."""
    for key in job.deps:
        dep = outcomes[key]
        run = graph.jobs[key].run
        if dep.state != "done":
            return f"run {run} {dep.state}"
        if REGISTRY[job.probe].trajectory:
            continue
        if dep.value["status"] != "completed" or not dep.value["history"]:
            return f"run {run} {outcome(dep.value['status'], dep.value['diverged_epoch'])}"
    return None


def _cached(job: jobs_mod.Job, cache: store.Cache) -> Any | None:
    """A job's result in the cache, or None (for a training job: None too when the snapshots it
    asks for are missing)."""
    if not isinstance(job, jobs_mod.TrainJob):
        return cache.probe_result(job.key)
    if job.snapshots is not None and cache.snapshots(job.key, job.snapshots) is None:
        return None
    return cache.run_result(job.key)


def _resume(job: jobs_mod.TrainJob, cache: store.Cache) -> dict | None:
    """The checkpoint a training job goes on from: the cached one, unless the job keeps snapshots
    and that checkpoint kept none (or others): then it starts again."""
    found = cache.checkpoint(job.key)
    if found is None or job.snapshots is None:
        return found
    return found if tuple(found.get("snapshot_fractions", ())) == job.snapshots else None


def _store_run(job: jobs_mod.TrainJob, result: dict, cache: store.Cache) -> dict:
    """Write a trained run (and its snapshots) to the cache; the run as the graph uses it: the one
    already cached when this training was a replay for snapshots (see module docstring)."""
    snapshots = result.pop("snapshots", None)
    cached = cache.run_result(job.key) if snapshots is not None else None
    if cached is None:
        cache.save_run(job.key, result, spec_json(job.spec))
    else:
        cache.discard_checkpoint(job.key)
    if snapshots is not None:
        same = cached is None or (cached["status"] == result["status"] and all(
            torch.equal(value.isnan(), result["model"][name].isnan())
            and torch.equal(value.nan_to_num(), result["model"][name].nan_to_num())
            for name, value in cached["model"].items()))
        cache.save_snapshots(job.key, {"fractions": list(job.snapshots), "points": snapshots,
                                       "replayed": cached is not None, "matches_result": same})
    return result if cached is None else {**cached, "trained_epochs": result["trained_epochs"]}


def run_graph(graph: jobs_mod.Graph, engine: Engine, cache: store.Cache | None = None,
              title: str = "jobs") -> GraphRun:
    """Run every job of ``graph`` that the cache lacks on ``engine``, which is closed at the end
    (see module docstring)."""
    cache = cache or store.Cache()
    start = time.perf_counter()
    outcomes: dict[str, Outcome] = {}
    waiting = []
    for key, job in graph.jobs.items():
        found = _cached(job, cache)
        if found is not None:
            outcomes[key] = Outcome("done", found)
        else:
            waiting.append(job)
    if not waiting:
        engine.close()
        return GraphRun(outcomes, time.perf_counter() - start)
    try:  # a read-only or unusable cache stops here, before anything is computed
        cache.check_writable()
    except BaseException:
        engine.close()
        raise

    device_type = engine.device_type()
    planned = estimate.plan(len(graph.jobs), waiting, cache, device_type)
    progress.note(f"{title}: {planned.sentence(engine.slots)}")
    clock = estimate.Clock(planned.estimates, engine.slots, {job.key: estimate.kind(job) for job in waiting},
                           planned.families)
    started: dict[str, float] = {}
    replay = progress.Replay()

    def on_event(key: str, kind: str, payload: Any) -> None:
        if kind == "checkpoint":
            cache.save_checkpoint(key, payload)
        elif kind == "progress":
            replay.apply(key, payload)

    engine.on_event = on_event
    board = progress.Board(f"{title}: {len(waiting)} jobs on the {engine.config.name} engine", len(waiting),
                           left=clock.words)
    tries: dict[str, int] = {}
    running: set[str] = set()
    ended = "interrupted"

    def inputs(job: jobs_mod.Job) -> dict:
        if isinstance(job, jobs_mod.TrainJob):
            return {"resume": _resume(job, cache)}
        found = {"states": [outcomes[key].value["model"] for key in job.deps]}
        if REGISTRY[job.probe].trajectory:
            found["snapshots"] = cache.snapshots(job.deps[0], tuple(job.cfg.early))
        return found

    def finish(job: jobs_mod.Job, result: Outcome, words: str) -> None:
        outcomes[job.key] = result
        began = started.pop(job.key, None)
        seconds = time.perf_counter() - began if result.computed and began is not None else None
        if seconds is not None:
            estimate.record(cache, job, seconds, engine.config.name, engine.config.resolved_threads(), device_type)
        clock.finished(job.key, seconds)
        replay.close(job.key, words)
        board.finished(job.name, words)

    try:
        while waiting or running:
            for job in list(waiting):
                if len(running) >= engine.slots:
                    break
                if any(key not in outcomes for key in job.deps):
                    continue
                waiting.remove(job)
                why = _unusable(job, outcomes, graph)
                if why is not None:
                    outcomes[job.key] = Outcome("skipped", reason=why)
                    clock.finished(job.key, None)
                    board.task.expect(-1)
                    continue
                started[job.key] = time.perf_counter()
                engine.submit(job, inputs(job))
                running.add(job.key)
                board.started()
            if not running:
                if waiting and not any(all(key in outcomes for key in job.deps) for job in waiting):
                    raise RuntimeError(f"jobs whose runs are not in the graph: {[job.name for job in waiting]}")
                continue
            for key, (kind, value) in engine.wait():
                running.discard(key)
                job = graph.jobs[key]
                if kind == "result":
                    if isinstance(job, jobs_mod.TrainJob):
                        value = _store_run(job, value, cache)
                    else:
                        cache.save_probe(key, value)
                    finish(job, Outcome("done", value, computed=True), "done")
                elif kind == "lost" and tries.get(key, 0) < RETRIES:
                    tries[key] = tries.get(key, 0) + 1
                    replay.close(key, f"lost: {value}; retrying")
                    started[key] = time.perf_counter()
                    engine.submit(job, inputs(job))
                    running.add(key)
                else:
                    retried = f" (retried {tries[key]} time{'s' if tries[key] > 1 else ''})" if key in tries else ""
                    finish(job, Outcome("failed", reason=f"{value}{retried}"), f"failed: {value}{retried}")
        ended = "done"
    finally:
        engine.close()
        for key in list(replay.tasks):
            replay.close(key, ended)
        board.close(ended)
    return GraphRun(outcomes, time.perf_counter() - start)


# ============================================================================ a report's results

@dataclass
class RunRecord:
    """One run of a report as the notebook shows it (configuration ``config`` trained with
    ``seed``, ``spec.seed``): status ``completed``, ``diverged`` or
    ``failed`` (the training job raised or its worker died: ``error``), the per-epoch history
    (``training`` history rows), ``trained_epochs`` by this call (0 when read from the cache),
    the trainable parameter count, and the trained weights (``state``, CPU; None unless completed
    or diverged)."""

    id: str
    label: str
    key: str
    spec: RunSpec
    config: str
    seed: int
    status: str
    history: list[dict]
    diverged_epoch: int | None
    trained_epochs: int
    parameters: int
    error: str | None = None
    state: dict | None = field(default=None, repr=False)

    @property
    def outcome(self) -> str:
        return f"failed ({self.error})" if self.status == "failed" else outcome(self.status, self.diverged_epoch)

    @property
    def final(self) -> dict:
        """The last completed epoch's history row (empty if none completed)."""
        return self.history[-1] if self.history else {}

    @property
    def epochs(self) -> int:
        """Epochs completed up to the last recorded one (0 if none): the history's length unless
        the run records every few epochs (``training`` module docstring, Records)."""
        return int(self.history[-1]["epoch"]) if self.history else 0


@dataclass
class DataSummary:
    """What a report's runs were trained and tested on: split sizes, input shape, classes."""

    train_size: int
    test_size: int
    input_shape: tuple[int, int, int]
    num_classes: int


@dataclass
class Results:
    """Everything a report notebook shows that was computed: the runs, the probe results (None
    when probes were not asked for), the data summary, the graph's job counts, and per probe what
    its jobs cost (``estimate.Cost``: the wall time the cache's timing log holds for them)."""

    runs: dict[str, RunRecord]
    probes: ProbeResults | None
    data: DataSummary
    jobs: dict
    cost: dict[str, estimate.Cost] = field(default_factory=dict)


@dataclass(frozen=True)
class Work:
    """One report's share of a graph: the runs of ``params`` on ``data``, probed with
    ``probes`` (default None: the report's own probes)."""

    params: ReportParams
    data: DataSource
    probes: ProbeParams | None = None

    @property
    def plan(self) -> ProbeParams:
        return self.probes or self.params.probes

    def graph(self, device_type: str, with_probes: bool = True) -> jobs_mod.Graph:
        """This work's jobs on the ``device_type`` ("cpu", "cuda", "mps"): its trainings, and its
        probes unless ``with_probes`` is false."""
        return jobs_mod.expand(self.params.run_specs(self.data), self.plan, self.params.sets_spec(self.data, self.probes),
                               device_type, self.params.probe_targets(self.probes), with_probes,
                               keep=snapshots_asked(self.params))


def work_of(params: AnyParams) -> list[Work]:
    """What computing a report takes: a study report's runs with its own probes; a synthesis's,
    each of its studies' runs with the synthesis's shared probes, then its grid's runs and its
    optimizer study's, each with its own probes (last, in that order). Every dataset is found (or its stand-in) and read here, as training
    reads it, so a missing, truncated or foreign file stops before any job (``load_splits`` keeps
    it for the process)."""
    if isinstance(params, SynthesisParams):
        work = [Work(study, study.resolve_data(), params.probes_for(study.report)) for study in params.study_params()]
        work += [Work(own, own.resolve_data()) for own in (params.grid_params(), params.dynamics_params())
                 if own is not None]
    else:
        work = [Work(params, params.resolve_data())]
    for w in work:
        load_splits(w.data.spec())
    return work


def report_jobs(params: AnyParams, device_type: str = "cpu") -> dict[str, jobs_mod.Job]:
    """Every job computing the report of ``params`` takes on the ``device_type`` (a synthesis:
    its studies', grid's and optimizer study's work, as :func:`work_of`), by job key."""
    return {key: job for w in work_of(params) for key, job in w.graph(device_type).jobs.items()}


def run(params: ReportParams, data: DataSource | None = None, config: EngineSettings | None = None,
        cache: str | Path | None = None, with_probes: bool = True) -> Results:
    """Train every run of ``params`` and run every probe it asks for, through the cache, on the
    engine of ``config`` (default: ``engines.settings()``, from the environment)."""
    return run_many([Work(params, data or params.resolve_data())], config, cache, with_probes)[0]


def run_many(reports: list[Work], config: EngineSettings | None = None, cache: str | Path | None = None,
             with_probes: bool = True) -> list[Results]:
    """:func:`run` for several reports' work at once: their graphs are merged (a run or probe
    two reports share is one job) and run together on one engine, so the engine is kept busy."""
    config = config or engine_settings()
    store_ = store.Cache(cache)
    described = [describe(w.params, w.data) for w in reports]  # a missing dataset stops here, before any job
    engine = make_engine(config)
    try:
        device_type = engine.device_type()
        graphs = [w.graph(device_type, with_probes) for w in reports]
    except BaseException:
        engine.close()
        raise
    merged = jobs_mod.Graph()
    for graph in graphs:
        for job in graph.jobs.values():
            merged.add(job)
    title = " + ".join(dict.fromkeys(w.params.report for w in reports))
    done = run_graph(merged, engine, store_, title=title if len(title) <= 60 else f"{len(reports)} reports")
    results = []
    for work, graph, (summary, counts) in zip(reports, graphs, described):
        runs = _records(work.params, graph, done.outcomes, counts)
        found = (_probe_results(work.params, work.plan, graph, done.outcomes, runs,
                                work.params.sets_spec(work.data, work.probes)) if with_probes else None)
        mine = [done.outcomes[key] for key in graph.jobs]
        counts = {"total": len(mine), "computed": sum(o.state == "done" and o.computed for o in mine),
                  "cached": sum(o.state == "done" and not o.computed for o in mine),
                  "failed": sum(o.state == "failed" for o in mine), "skipped": sum(o.state == "skipped" for o in mine),
                  "seconds": round(done.seconds, 2), "engine": config.name}
        cost = {probe: estimate.cost(store_, [key for name, _, key in graph.probes if name == probe])
                for probe in dict.fromkeys(name for name, _, _ in graph.probes)}
        results.append(Results(runs, found, summary, counts, cost))
    return results


def describe(params: ReportParams, data: DataSource) -> tuple[DataSummary, dict[str, int]]:
    """What a report's runs see (split sizes, input shape, classes) and the trainable parameter
    count of each run's model, without training anything."""
    train_ds, test_ds = load_splits(data.spec())
    summary = DataSummary(len(train_ds), len(test_ds), tuple(train_ds.images.shape[1:]), train_ds.num_classes)
    return summary, _parameter_counts(params.run_specs(data))


def _parameter_counts(specs: Mapping[str, RunSpec]) -> dict[str, int]:
    """Trainable parameters of each run's model (its data is loaded here: a missing dataset
    stops before any job)."""
    counts = {}
    for run_id, spec in specs.items():
        train_ds, _ = load_splits(spec.data)
        counts[run_id] = parameter_count(spec, tuple(train_ds.images.shape[1:]), train_ds.num_classes)
    return counts


def _records(params: ReportParams, graph: jobs_mod.Graph, outcomes: Mapping[str, Outcome],
             counts: Mapping[str, int]) -> dict[str, RunRecord]:
    reps = {rep.id: rep for rep in params.replicas}
    return {run_id: _record(run_id, reps[run_id].label, reps[run_id].config, graph.jobs[key], outcomes[key],
                            counts[run_id]) for run_id, key in graph.runs.items()}


def _record(run_id: str, label: str, config: str, job: jobs_mod.TrainJob, found: Outcome,
            parameters: int) -> RunRecord:
    named = (run_id, label, job.key, job.spec, config, job.spec.seed)
    if found.state != "done":
        return RunRecord(*named, "failed", [], None, 0, parameters, error=found.reason)
    value = found.value
    return RunRecord(*named, value["status"], list(value["history"]), value["diverged_epoch"],
                     value.get("trained_epochs", 0) if found.computed else 0, parameters, state=value["model"])


def train_runs(specs: Mapping[str, RunSpec], config: EngineSettings | None = None,
          cache: str | Path | None = None) -> dict[str, RunRecord]:
    """Train (or read from the cache) the runs of ``specs`` (run id -> spec), no probes; each run
    is labelled by its id."""
    counts = _parameter_counts(specs)
    graph = jobs_mod.Graph()
    for run_id, spec in specs.items():
        graph.runs[run_id] = graph.add(jobs_mod.TrainJob(spec.key(), run_id, spec))
    done = run_graph(graph, make_engine(config or engine_settings()), store.Cache(cache), title="training")
    return {run_id: _record(run_id, run_id, run_id, graph.jobs[key], done.outcomes[key], counts[run_id])
            for run_id, key in graph.runs.items()}


def _with_names(frame: pd.DataFrame, run_ids: tuple[str, ...], reps: Mapping[str, Any]) -> pd.DataFrame:
    """A probe frame with the names of its run (run, label, config, seed) or pair (pair, run_a,
    run_b, config: the pair's configuration, seed_a, seed_b)."""
    if len(run_ids) == 1:
        rep = reps[run_ids[0]]
        return frame.assign(run=rep.id, label=rep.label, config=rep.config, seed=rep.seed)
    a, b = reps[run_ids[0]], reps[run_ids[1]]
    return frame.assign(pair="–".join(run_ids), run_a=a.id, run_b=b.id,
                        config=a.config if a.config == b.config else f"{a.config}–{b.config}", seed_a=a.seed, seed_b=b.seed)


def _probe_results(params: ReportParams, plan: ProbeParams, graph: jobs_mod.Graph, outcomes: Mapping[str, Outcome],
                   runs: Mapping[str, RunRecord], sets_spec) -> ProbeResults:
    """The probe frames of a report (see ``probes.ProbeResults``) from the probes of ``plan``,
    with the same reasons for what is missing as the report shows them."""
    reps = {rep.id: rep for rep in params.replicas}
    usable = {run_id for run_id, r in runs.items() if r.status == "completed" and r.history}
    trained = {run_id for run_id, r in runs.items() if r.status in ("completed", "diverged")}
    skipped = [{"run": run_id, "reason": r.outcome if r.status != "completed" else "no completed epoch"}
               for run_id, r in runs.items() if run_id not in usable]
    not_probed = "; ".join(f"run {s['run']} {s['reason']}" for s in skipped)
    parts: dict[str, list[list[pd.DataFrame]]] = {}
    failures: dict[str, list[str]] = {}
    loaded = computed = 0
    for name, run_ids, key in graph.probes:
        probe = REGISTRY[name]
        if any(r not in (trained if probe.trajectory else usable) for r in run_ids):
            if probe.runs > 1:
                skipped.append({"run": "–".join(run_ids), "reason": f"{name} pair skipped: a run did not complete"})
            continue
        found = outcomes[key]
        if found.state != "done":
            reason = f"{name} failed: {found.reason}"
            failures.setdefault(name, []).append(f"run {'–'.join(run_ids)}: {reason}")
            skipped.append({"run": "–".join(run_ids), "reason": reason})
            continue
        computed += found.computed
        loaded += not found.computed
        value = found.value if isinstance(found.value, tuple) else (found.value,)
        for i, frame in enumerate(value):
            parts.setdefault(name, [[] for _ in probe.frames])[i].append(_with_names(frame, run_ids, reps))
    frames, unavailable = {}, {}
    for name, probe in REGISTRY.items():
        if getattr(plan, name) is None:
            continue
        if name in parts:
            frames.update({output: tidy(pieces) for output, pieces in zip(probe.frames, parts[name])})
        elif failures.get(name):
            unavailable[name] = "; ".join(failures[name])
        else:
            what = "no pair of completed runs" if probe.runs > 1 else "no run completed"
            unavailable[name] = f"{what} ({not_probed})"
    sets = build_sets(sets_spec)
    eval_set = plan.eval_set
    return ProbeResults(frames, pd.DataFrame(skipped, columns=["run", "reason"]), unavailable,
                        {"train": len(sets.train), "test": len(sets.test), "mode": eval_set.mode, "seed": eval_set.seed,
                         "cache": {"loaded": loaded, "computed": computed}})
