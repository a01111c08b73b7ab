"""How long the jobs a graph still has to run will take on this machine, from the times of the
jobs computed here before: every computed job leaves its wall time in the cache's timing log
(``<cache>/timings/<job key>.json``, :func:`record`).

A job's *family* is its work without its seed (a training's spec with the seed set to 0; a
probe's settings, probe sets and runs' specs, seeds set to 0): seeds of one configuration cost
about the same, and so does one configuration in two reports. :func:`plan` counts a graph's jobs
(cached, trainings that resume from a checkpoint, to compute) and estimates each job to compute
by the median time of its family measured here; :class:`Clock` keeps the estimate of the time
left as jobs finish (a job of a family not timed yet counts as the median of the jobs timed in
this run), for the progress board. Times depend on the engine and threads they were measured
with; the log records both.
"""
from __future__ import annotations

import json
import statistics
from dataclasses import dataclass, field, replace
from typing import Iterable, Mapping

from ..core import files, store
from ..probes import settings_of
from . import jobs as jobs_mod

TIMINGS_DIR = "timings"
FAMILY_KEY_LENGTH = 16


def family(job: jobs_mod.Job) -> str:
    """The job's work without its seed (module docstring), as a content key."""
    if isinstance(job, jobs_mod.TrainJob):
        return "train-" + replace(job.spec, seed=0).key()
    payload = {"probe": job.probe, "settings": settings_of(job.cfg, job.sets), "sets": job.sets.identity(),
               "runs": [replace(spec, seed=0).key() for spec in job.specs]}
    return f"{job.probe}-" + store.content_key(payload, FAMILY_KEY_LENGTH)


def record(cache: store.Cache, job: jobs_mod.Job, seconds: float, engine: str, threads: int | None) -> None:
    """Log the wall time of a job computed now (``engine`` and torch ``threads`` it ran with)."""
    entry = {"job": job.name, "family": family(job), "seconds": round(seconds, 3), "engine": engine,
             "threads": threads}
    files.write_text(json.dumps(entry) + "\n", cache.root / TIMINGS_DIR / f"{job.key}.json")


@dataclass(frozen=True)
class Cost:
    """What some jobs cost as logged: the summed wall time (s) of the ``timed`` of them the
    timing log has, of ``jobs`` in all (a job computed before the log existed has no entry)."""

    seconds: float
    timed: int
    jobs: int

    def words(self) -> str:
        """"12 min of wall time to compute", or that it was not logged."""
        if not self.timed:
            return "computed before compute times were logged"
        return (f"{duration_words(self.seconds)} of wall time to compute"
                + (f" ({self.timed} of its {self.jobs} jobs timed)" if self.timed < self.jobs else ""))


def cost(cache: store.Cache, keys: Iterable[str]) -> Cost:
    """The :class:`Cost` of the jobs ``keys`` from ``cache``'s timing log."""
    keys, seconds, timed = list(keys), 0.0, 0
    for key in keys:
        try:
            seconds += float(json.loads((cache.root / TIMINGS_DIR / f"{key}.json").read_text())["seconds"])
            timed += 1
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return Cost(seconds, timed, len(keys))


def measured(cache: store.Cache) -> dict[str, list[float]]:
    """Family -> the wall times (s) of its jobs logged in ``cache``; a log entry that cannot be read
    is skipped (it only ever informs an estimate)."""
    found: dict[str, list[float]] = {}
    folder = cache.root / TIMINGS_DIR
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            entry = json.loads(path.read_text())
            seconds = float(entry["seconds"])
            found.setdefault(str(entry["family"]), []).append(seconds)
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return found


def duration_words(seconds: float) -> str:
    """``seconds`` rounded for a reader: "40 s", "12 min", "2 h 05 min"."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    return f"{minutes} min" if minutes < 90 else f"{minutes // 60} h {minutes % 60:02d} min"


@dataclass
class Plan:
    """A graph's jobs before it runs: how many there are, how many the cache holds, how many
    trainings go on from a checkpoint, and each job to compute with its estimated wall time (s;
    None when no job of its family was timed here)."""

    total: int
    resumed: int
    estimates: dict[str, float | None] = field(default_factory=dict)  # job key -> seconds
    trainings: int = 0  # of the jobs to compute

    @property
    def cached(self) -> int:
        return self.total - len(self.estimates)

    @property
    def unknown(self) -> int:
        return sum(v is None for v in self.estimates.values())

    def sentence(self, slots: int) -> str:
        """The plan in one line, with the time it should take on ``slots`` parallel slots."""
        left = len(self.estimates)
        text = (f"{self.total} jobs: {self.cached} in the cache, {left} to compute ({self.trainings} trainings"
                + (f", {self.resumed} going on from a checkpoint" if self.resumed else "")
                + f", {left - self.trainings} probes)")
        if not left:
            return text
        known = [v for v in self.estimates.values() if v is not None]
        if known:
            text += (f"; about {duration_words(sum(known) / max(slots, 1))} on {slots} slot{'s' if slots > 1 else ''}"
                     f" for {len(known)} of them, from the times of the same work measured on this machine")
        if self.unknown and known:
            text += f"; no estimate yet for the other {self.unknown} (that work was never timed on this machine)"
        elif self.unknown:
            text += ("; none of this work was timed on this machine yet, so the time left is estimated once the first "
                     "jobs have finished")
        return text


def plan(total: int, waiting: Iterable[jobs_mod.Job], cache: store.Cache) -> Plan:
    """The :class:`Plan` of a graph of ``total`` jobs of which ``waiting`` are not in ``cache``,
    each estimated from its timing log."""
    times, waiting = measured(cache), list(waiting)
    estimates = {}
    for job in waiting:
        seen = times.get(family(job))
        estimates[job.key] = statistics.median(seen) if seen else None
    trainings = [job for job in waiting if isinstance(job, jobs_mod.TrainJob)]
    return Plan(total, sum(cache.has_checkpoint(job.key) for job in trainings), estimates, len(trainings))


class Clock:
    """The estimated wall time left of a graph's jobs to compute (:class:`Plan`), kept as they
    finish: a finished job leaves the sum; a job of an untimed family counts as the median of the
    jobs timed in this run (None until one has finished)."""

    def __init__(self, estimates: Mapping[str, float | None], slots: int):
        self.left = dict(estimates)
        self.slots = max(slots, 1)
        self.seen: list[float] = []

    def finished(self, key: str, seconds: float | None) -> None:
        self.left.pop(key, None)
        if seconds is not None:
            self.seen.append(seconds)

    def remaining(self) -> float | None:
        """Seconds left (on ``slots`` parallel slots), or None while nothing can be estimated."""
        fallback = statistics.median(self.seen) if self.seen else None
        values = [v if v is not None else fallback for v in self.left.values()]
        if any(v is None for v in values):
            return None
        return sum(values) / self.slots
