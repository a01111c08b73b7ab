"""How long the jobs a graph still has to run will take on this machine, from the times of the
jobs computed here before: every computed job leaves its wall time in the cache's timing log
(``<cache>/timings/<job key>.json``, :func:`record`).

A job's *family* is its work without its seed (a training's spec with the seed set to 0; a
probe's settings, probe sets and runs' specs, seeds set to 0): seeds of one configuration cost
about the same, and so does one configuration in two reports. :func:`plan` counts a graph's jobs
(cached, trainings that resume from a checkpoint, to compute) and estimates each job to compute
by the median time of its family measured here, else (a fresh machine) by the time the
reference machine took for it (``reference_times.json``, written by ``bench/reference_times.py``
from that machine's timing log) scaled by the ratio of the two machines' speeds (:func:`speed`,
a two-second calibration); :class:`Clock` keeps the estimate of the time left as jobs finish (a
job of a family not estimated counts as the median of the jobs of its kind timed in this run),
for the progress board. Times depend on the device, engine and threads they were measured with;
the log records all three, and an estimate uses only times measured on the same device type (an
accelerator's times say nothing about a CPU's; the reference machine is a CPU, so on CUDA or MPS
the time left is estimated once the first jobs have finished).
"""
from __future__ import annotations

import functools
import json
import math
import statistics
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterable, Mapping

import torch
import torch.nn.functional as F

from ..core import files, store
from ..probes import settings_of
from . import jobs as jobs_mod

TIMINGS_DIR = "timings"
FAMILY_KEY_LENGTH = 16
REFERENCE = Path(__file__).with_name("reference_times.json")


def kind(job: jobs_mod.Job) -> str:
    """"train", or the probe's name: jobs of one kind cost alike more than jobs of two kinds."""
    return "train" if isinstance(job, jobs_mod.TrainJob) else job.probe


def family(job: jobs_mod.Job) -> str:
    """The job's work without its seed (module docstring), as a content key."""
    if isinstance(job, jobs_mod.TrainJob):
        return "train-" + replace(job.spec, seed=0).key()
    payload = {"probe": job.probe, "settings": settings_of(job.cfg, job.sets), "sets": job.sets.identity(),
               "runs": [replace(spec, seed=0).key() for spec in job.specs]}
    return f"{job.probe}-" + store.content_key(payload, FAMILY_KEY_LENGTH)


def record(cache: store.Cache, job: jobs_mod.Job, seconds: float, engine: str, threads: int | None,
           device: str) -> None:
    """Log the wall time of a job computed now (the ``device`` type, ``engine`` and torch ``threads``
    it ran with)."""
    entry = {"job": job.name, "family": family(job), "seconds": round(seconds, 3), "device": device,
             "engine": engine, "threads": threads}
    files.write_text(json.dumps(entry) + "\n", cache.root / TIMINGS_DIR / f"{job.key}.json")


def _entry(path: Path) -> dict | None:
    """One timing log entry (:func:`record`) with its ``seconds`` a float, or None when it cannot
    be read (it only ever informs an estimate). An entry that names no device counts as a CPU
    time: the log named none before accelerators were timed."""
    try:
        entry = json.loads(path.read_text())
        return {**entry, "seconds": float(entry["seconds"]), "family": str(entry["family"]),
                "device": str(entry.get("device", "cpu"))}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def logged(cache: store.Cache) -> list[dict]:
    """Every readable entry of ``cache``'s timing log, in file order."""
    folder = cache.root / TIMINGS_DIR
    found = (_entry(path) for path in (sorted(folder.glob("*.json")) if folder.is_dir() else []))
    return [entry for entry in found if entry is not None]


def measured(cache: store.Cache, device: str = "cpu") -> dict[str, list[float]]:
    """Family -> the wall times (s) of its jobs logged in ``cache`` on the ``device`` type."""
    found: dict[str, list[float]] = {}
    for entry in logged(cache):
        if entry["device"] == device:
            found.setdefault(entry["family"], []).append(entry["seconds"])
    return found


def job_seconds(cache: store.Cache, job: jobs_mod.Job, device: str = "cpu") -> float | None:
    """The wall time (s) ``job`` took on the ``device`` type: its timing log entry, else for a
    training computed before the log existed, on the CPU, the summed epoch times of its cached
    history (training and test evaluation, without the job's start-up); None when neither says."""
    entry = _entry(cache.root / TIMINGS_DIR / f"{job.key}.json")
    if entry is not None:
        return entry["seconds"] if entry["device"] == device else None
    found = cache.run_result(job.key) if device == "cpu" and isinstance(job, jobs_mod.TrainJob) else None
    return None if found is None else float(sum(row.get("time_s", 0.0) for row in found["history"]))


def duration_words(seconds: float) -> str:
    """``seconds`` rounded for a reader: "40 s", "12 min", "2 h 05 min"."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    return f"{minutes} min" if minutes < 90 else f"{minutes // 60} h {minutes % 60:02d} min"


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
    keys = list(keys)
    found = [entry for entry in (_entry(cache.root / TIMINGS_DIR / f"{key}.json") for key in keys) if entry]
    return Cost(sum(entry["seconds"] for entry in found), len(found), len(keys))


SPEED_BATCH = 128
SPEED_SECONDS = 1.5  # how long the calibration trains, after a warm-up of a few steps


@functools.lru_cache(maxsize=None)
def speed(seconds: float = SPEED_SECONDS) -> float:
    """This machine's training speed on one thread (images/s): study 001's small CNN trained with
    SGD on random 28 × 28 images in batches of 128 for about ``seconds`` (after three warm-up
    steps), as ``bench/bench_training.py`` times it; measured once a process. Seeded; torch's
    thread count and random state are restored."""
    from ..learning.models import build_model

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        generator = torch.Generator().manual_seed(0)
        x = torch.randn(SPEED_BATCH, 1, 28, 28, generator=generator)
        y = torch.randint(0, 10, (SPEED_BATCH,), generator=generator)
        with torch.random.fork_rng(devices=[]):  # the process's random state is left as it was
            torch.manual_seed(0)
            model = build_model("cnn_small", (1, 28, 28))
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

        def step() -> None:
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(model(x), y).backward()
            opt.step()

        for _ in range(3):
            step()
        steps, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            step()
            steps += 1
        return steps * SPEED_BATCH / (time.perf_counter() - start)
    finally:
        torch.set_num_threads(threads)


@dataclass(frozen=True)
class Reference:
    """The reference machine's job times: family -> median wall time (s), measured at ``speed``
    (images/s, :func:`speed`) with ``engine`` and ``threads``; ``machine`` in words."""

    families: Mapping[str, float]
    speed: float
    machine: str = ""
    engine: str = ""
    threads: int | None = None

    @staticmethod
    def read(path: Path = REFERENCE) -> "Reference | None":
        """The table at ``path``, or None when there is none or it cannot be read (it only ever
        informs an estimate)."""
        try:
            found = json.loads(Path(path).read_text())
            table = Reference({str(k): float(v) for k, v in found["families"].items()}, float(found["speed"]),
                              str(found.get("machine", "")), str(found.get("engine", "")), found.get("threads"))
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None
        usable = math.isfinite(table.speed) and table.speed > 0 and all(
            math.isfinite(v) and v >= 0 for v in table.families.values())
        return table if usable else None

    def write(self, path: Path = REFERENCE) -> None:
        files.write_text(json.dumps({"machine": self.machine, "engine": self.engine, "threads": self.threads,
                                     "speed": round(self.speed, 1), "families": dict(sorted(self.families.items()))},
                                    indent=1) + "\n", path)


def medians(cache: store.Cache, device: str = "cpu") -> dict[str, float]:
    """Family -> the median of its wall times logged in ``cache`` on the ``device`` type (s)."""
    return {name: statistics.median(seen) for name, seen in measured(cache, device).items()}


@dataclass
class Plan:
    """A graph's jobs before it runs: how many there are, how many the cache holds, how many
    trainings go on from a checkpoint, and each job to compute with its estimated wall time (s;
    None when no job of its family was timed here or on the reference machine)."""

    total: int
    resumed: int
    estimates: dict[str, float | None] = field(default_factory=dict)  # job key -> seconds
    trainings: int = 0  # of the jobs to compute
    scaled: int = 0  # of the estimates, how many come from the reference machine's times
    speeds: tuple[float, float] | None = None  # (this machine's, the reference's) images/s, when scaled
    families: dict[str, str] = field(default_factory=dict)  # job key -> :func:`family`, of the jobs to compute

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
            here = len(known) - self.scaled
            sources = ([f"{here} from the times of the same work measured on this machine"] if here else []) + (
                [f"{self.scaled} from the reference machine's times scaled by this machine's speed "
                 f"({self.speeds[0]:.0f} images/s on one thread here, {self.speeds[1]:.0f} there)"] if self.scaled else [])
            text += (f"; about {duration_words(sum(known) / max(slots, 1))} on {slots} slot{'s' if slots > 1 else ''}"
                     f" for {len(known)} of them ({'; '.join(sources)})")
        if self.unknown and known:
            text += f"; no estimate yet for the other {self.unknown} (that work was never timed)"
        elif self.unknown:
            text += ("; none of this work was ever timed, so the time left is estimated once the first jobs have "
                     "finished")
        return text


def plan(total: int, waiting: Iterable[jobs_mod.Job], cache: store.Cache, device: str = "cpu",
         reference: Reference | None = None, measure_speed=speed) -> Plan:
    """The :class:`Plan` of a graph of ``total`` jobs of which ``waiting`` are not in ``cache``, to
    run on the ``device`` type, each estimated from its timing log on that device type, else (on
    the CPU only) from ``reference`` (default: the table shipped with the package) scaled by
    ``measure_speed()`` (called only when a job needs it)."""
    times, waiting = medians(cache, device), list(waiting)
    reference = Reference.read() if reference is None else reference
    reference = reference if device == "cpu" else None  # measured on a CPU: no guide to an accelerator
    names = {job.key: family(job) for job in waiting}
    estimates = {key: times.get(name) for key, name in names.items()}
    from_reference = [key for key, name in names.items()
                      if estimates[key] is None and reference is not None and name in reference.families]
    speeds = None
    if from_reference:
        speeds = (measure_speed(), reference.speed)
        for key in from_reference:
            estimates[key] = reference.families[names[key]] * speeds[1] / speeds[0]
    trainings = [job for job in waiting if isinstance(job, jobs_mod.TrainJob)]
    return Plan(total, sum(cache.has_checkpoint(job.key) for job in trainings), estimates, len(trainings),
                len(from_reference), speeds, names)


class Clock:
    """The estimated wall time left of a graph's jobs to compute (:class:`Plan`), kept as they
    finish: a finished job leaves the sum; a job without an estimate counts as the median time of
    its family (``families``: job key -> :func:`family`) in this run, else, guessed, as the median
    of the jobs of its kind (``kinds``: job key -> :func:`kind`) timed in this run (None until one
    has finished): a kind's jobs can differ tenfold (a ResNet's measures and an MLP's), so
    :meth:`guessed` says how many were counted that way."""

    def __init__(self, estimates: Mapping[str, float | None], slots: int, kinds: Mapping[str, str] | None = None,
                 families: Mapping[str, str] | None = None):
        self.left = dict(estimates)
        self.slots = max(slots, 1)
        self.kinds = dict(kinds or {})
        self.families = dict(families or {})
        self.seen: dict[str, list[float]] = {}
        self.seen_family: dict[str, list[float]] = {}

    def finished(self, key: str, seconds: float | None) -> None:
        self.left.pop(key, None)
        if seconds is not None:
            self.seen.setdefault(self.kinds.get(key, ""), []).append(seconds)
            if key in self.families:
                self.seen_family.setdefault(self.families[key], []).append(seconds)

    def _family_time(self, key: str) -> float | None:
        seen = self.seen_family.get(self.families.get(key, ""))
        return statistics.median(seen) if seen else None

    def guessed(self) -> int:
        """How many jobs left count as the median of their kind (no time of their own family)."""
        return sum(v is None and self._family_time(key) is None for key, v in self.left.items())

    def remaining(self) -> float | None:
        """Seconds left (on ``slots`` parallel slots), or None while something cannot be estimated."""
        fallback = {name: statistics.median(seen) for name, seen in self.seen.items()}
        values = [v if v is not None else own if (own := self._family_time(key)) is not None
                  else fallback.get(self.kinds.get(key, "")) for key, v in self.left.items()]
        if any(v is None for v in values):
            return None
        return sum(values) / self.slots

    def words(self) -> str | None:
        """The time left for a reader, with how many jobs in it are guessed; None while there is none."""
        seconds = self.remaining()
        if seconds is None:
            return None
        guessed = self.guessed()
        return duration_words(seconds) + (f" ({guessed} job{'s' if guessed > 1 else ''} guessed from other work)"
                                          if guessed else "")
