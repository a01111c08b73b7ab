"""Execution engines: where the pipeline's jobs run (``--engine``, ``ENGINE=`` in make,
``$LANDSCAPE_ENGINE``; default ``local``).

- ``local``: in the calling process, one job at a time;
- ``processes``: a pool of local worker processes (``--workers``, default: cores / threads per
  job), each with its own torch thread count, so small models use every core;
- ``ray``: Ray core tasks, on a local Ray started here (no address) or on a running cluster
  (``--address`` / ``$RAY_ADDRESS``; ``ray start --head`` on one machine, ``ray start
  --address=...`` on the others). A job asks for ``threads`` CPUs, and for ``gpus_per_job`` of a
  GPU when the cluster has GPUs, so several small-model jobs share one GPU.

Every engine runs a job with the same number of threads (``--threads``, ``$LANDSCAPE_THREADS``,
else ``$OMP_NUM_THREADS``, else torch's default) for torch and for the BLAS under numpy and scipy
(ARPACK's Lanczos; :func:`job_threads`): CPU kernels may sum in another order with another thread
count, so the same params and threads per job give bitwise-identical results on every engine
(same device type).

An engine takes jobs (``submit``) and hands back what became of them (``wait``): ``("result",
value)``, ``("error", reason)`` for a job that raised, or ``("lost", reason)`` for a job whose
worker died (the pipeline retries it once). While a job runs, its events (training checkpoints,
progress) go to its ``on_event(key, kind, payload)`` callback, which the pipeline sets.
Workers never touch the cache: results, checkpoints and progress come back to the driver.
"""
from __future__ import annotations

import contextlib
import io
import multiprocessing
import multiprocessing.connection
import os
import signal
import socket
import subprocess
import sys
import traceback
from dataclasses import dataclass
from typing import Any, Callable

import torch

from . import jobs as jobs_mod
from ..core import progress
from ..core.errors import UserError
from ..core.files import StorageError
from ..core.paths import LIB_DIR
from ..core.runtime import select_device

ENGINES = ("local", "processes", "ray")
ENGINE_ENV, THREADS_ENV, WORKERS_ENV = "LANDSCAPE_ENGINE", "LANDSCAPE_THREADS", "LANDSCAPE_WORKERS"
ADDRESS_ENV = "RAY_ADDRESS"
DEFAULT_GPUS_PER_JOB = 0.25
CONNECT_TIMEOUT_S = 5.0

OnEvent = Callable[[str, str, Any], None]
Reply = tuple[str, Any]  # ("result", value) | ("error", reason) | ("lost", reason)


class EngineError(UserError, ValueError):
    """An engine that cannot be used as asked (unknown name, bad worker count, a Ray cluster that
    does not answer, Ray not installed)."""


@dataclass(frozen=True)
class EngineSettings:
    """How jobs are run: engine name, torch threads per job, workers (processes), Ray address and
    GPU share per job, and the device preference (``runtime.select_device``)."""

    name: str = "local"
    threads: int | None = None
    workers: int | None = None
    address: str | None = None
    gpus_per_job: float = DEFAULT_GPUS_PER_JOB
    device: str = "auto"

    def resolved_threads(self) -> int:
        if self.threads is not None:
            return self.threads
        for variable in (THREADS_ENV, "OMP_NUM_THREADS"):
            value = os.environ.get(variable, "")
            if value.isdigit() and int(value) > 0:
                return int(value)
        return torch.get_num_threads()


def settings(engine: str | None = None, threads: int | None = None, workers: int | None = None,
             address: str | None = None, gpus_per_job: float | None = None, device: str = "auto") -> EngineSettings:
    """Validated engine settings; unset ones come from the environment (see module docstring).
    A bad value is an EngineError naming what is allowed."""
    name = engine or os.environ.get(ENGINE_ENV) or "local"
    if name not in ENGINES:
        raise EngineError(f"unknown engine {name!r}; allowed: {', '.join(ENGINES)}")
    if workers is None and os.environ.get(WORKERS_ENV):
        workers = _positive_int(os.environ[WORKERS_ENV], WORKERS_ENV)
    if threads is None and os.environ.get(THREADS_ENV):
        threads = _positive_int(os.environ[THREADS_ENV], THREADS_ENV)
    for value, what in ((threads, "--threads"), (workers, "--workers")):
        if value is not None and value < 1:
            raise EngineError(f"{what} must be at least 1, got {value}")
    if gpus_per_job is not None and not 0 < gpus_per_job <= 1:
        raise EngineError(f"--gpus-per-job must be in (0, 1], got {gpus_per_job}")
    select_device(device)  # a bad device is a DeviceError before any engine starts
    address = address or os.environ.get(ADDRESS_ENV) or None
    if name == "ray" and address:  # one that does not answer as Ray is an error before anything runs
        check_address(address)
    return EngineSettings(name, threads, workers, address,
                          DEFAULT_GPUS_PER_JOB if gpus_per_job is None else gpus_per_job, device)


def _positive_int(text: str, what: str) -> int:
    if not text.strip().isdigit() or int(text) < 1:
        raise EngineError(f"{what}={text!r}: expected a positive integer")
    return int(text)


def make_engine(config: EngineSettings) -> "Engine":
    """The engine of ``config`` (started: a Ray cluster is joined or started here)."""
    kind = {"local": LocalEngine, "processes": ProcessEngine, "ray": RayEngine}[config.name]
    return kind(config)


class Engine:
    """Runs jobs (see module docstring). ``slots``: jobs it runs at once."""

    slots = 1

    def __init__(self, config: EngineSettings):
        self.config = config
        self.on_event: OnEvent = lambda key, kind, payload: None

    def device_type(self) -> str:
        """Where jobs compute (a part of probe keys)."""
        return select_device(self.config.device).type

    def submit(self, job: jobs_mod.Job, inputs: dict) -> None:
        raise NotImplementedError

    def wait(self) -> list[tuple[str, Reply]]:
        """Block until at least one submitted job ended; [(job key, outcome)]."""
        raise NotImplementedError

    def close(self) -> None:
        """Stop: jobs still running are abandoned (their workers killed)."""


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


# ============================================================================ local

class LocalEngine(Engine):
    """Each job runs in this process when ``wait`` is called, with this process's progress."""

    def __init__(self, config: EngineSettings):
        super().__init__(config)
        self.queue: list[tuple[jobs_mod.Job, dict]] = []

    def submit(self, job: jobs_mod.Job, inputs: dict) -> None:
        self.queue.append((job, inputs))

    def wait(self) -> list[tuple[str, Reply]]:
        job, inputs = self.queue.pop(0)
        try:
            with job_threads(self.config.resolved_threads()):
                result = jobs_mod.execute(job, inputs, self.config.device,
                                          emit=lambda kind, payload: self.on_event(job.key, kind, payload))
            return [(job.key, ("result", result))]
        except StorageError:  # the driver could not store a checkpoint: the cache's failure, not the job's
            raise
        except Exception as exc:  # noqa: BLE001 - a job that raises is recorded, the graph goes on
            return [(job.key, ("error", _describe(exc)))]


@contextlib.contextmanager
def job_threads(threads: int):
    """Run a job with ``threads`` torch threads and as many BLAS threads (numpy's and scipy's
    OpenBLAS: ARPACK sums its dot products in another order with another count); restored after."""
    from threadpoolctl import threadpool_limits

    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with threadpool_limits(limits=threads, user_api="blas"):
            yield
    finally:
        torch.set_num_threads(previous)


# ============================================================================ processes

def _pack(obj: Any) -> bytes:
    """Objects between driver and workers: torch's serializer (tensors as plain bytes, not shared
    memory handles; frames and specs pickled). Only our own processes read these."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def _unpack(data: bytes) -> Any:
    return torch.load(io.BytesIO(data), map_location="cpu", weights_only=False)


def worker_main() -> None:
    """A worker process (``python -c 'from landscape.pipeline.engines import worker_main; worker_main()'
    FD THREADS DEVICE``): run the jobs sent on the socket FD one at a time and send back their
    events and outcome. Ctrl-C is the driver's to handle; it kills workers it no longer needs."""
    fd, threads, device = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    torch.set_num_threads(threads)
    conn = multiprocessing.connection.Connection(fd)
    progress.forward_to(lambda event: conn.send_bytes(_pack(("progress", event))))
    while True:
        try:
            message = conn.recv_bytes()
        except EOFError:
            return
        job, inputs = _unpack(message)
        emit = lambda kind, payload: conn.send_bytes(_pack((kind, payload)))  # noqa: E731
        try:
            with job_threads(threads):
                outcome = ("result", jobs_mod.execute(job, inputs, device, emit=emit))
        except Exception as exc:  # noqa: BLE001 - sent to the driver, which records it
            outcome = ("error", _describe(exc))
            traceback.print_exc(file=sys.stderr)
        conn.send_bytes(_pack(outcome))


class _Worker:
    """One worker process and the socket to it. A fresh interpreter (not a fork, and not
    multiprocessing's spawn, which would re-run the caller's main script)."""

    def __init__(self, threads: int, device: str):
        ours, theirs = socket.socketpair()
        env = {**os.environ, "OMP_NUM_THREADS": str(threads),
               "PYTHONPATH": os.pathsep.join(p for p in (str(LIB_DIR), os.environ.get("PYTHONPATH")) if p)}
        self.process = subprocess.Popen(
            [sys.executable, "-c", "from landscape.pipeline.engines import worker_main; worker_main()",
             str(theirs.fileno()), str(threads), device], pass_fds=[theirs.fileno()], env=env,
            stdin=subprocess.DEVNULL, start_new_session=False)
        theirs.close()
        self.conn = multiprocessing.connection.Connection(ours.detach())
        self.job: jobs_mod.Job | None = None

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        if self.alive():
            self.process.kill()
        self.process.wait(timeout=30)
        self.conn.close()


class ProcessEngine(Engine):
    """A pool of worker processes (see module docstring). A worker that dies takes only its own
    job with it (``lost``); a fresh worker takes its place."""

    def __init__(self, config: EngineSettings):
        super().__init__(config)
        self.threads = config.resolved_threads()
        self.slots = config.workers or max(1, (os.cpu_count() or 1) // self.threads)
        self.workers: list[_Worker] = []
        self.device = str(select_device(config.device))
        self.cuda_devices = torch.cuda.device_count() if self.device == "cuda" else 0

    def _idle_worker(self) -> _Worker:
        for worker in self.workers:
            if worker.job is None and worker.alive():
                return worker
        self.workers = [w for w in self.workers if w.alive()]
        if len(self.workers) >= self.slots:
            raise RuntimeError("no idle worker: submit at most `slots` jobs at once")
        # several GPUs: worker i computes on GPU i mod count
        device = f"cuda:{len(self.workers) % self.cuda_devices}" if self.cuda_devices > 1 else self.device
        worker = _Worker(self.threads, device)
        self.workers.append(worker)
        return worker

    def submit(self, job: jobs_mod.Job, inputs: dict) -> None:
        worker = self._idle_worker()
        worker.job = job
        worker.conn.send_bytes(_pack((job, inputs)))

    def wait(self) -> list[tuple[str, Reply]]:
        busy = [w for w in self.workers if w.job is not None]
        if not busy:
            raise RuntimeError("wait() with no job submitted")
        ended: list[tuple[str, Reply]] = []
        while not ended:
            ready = multiprocessing.connection.wait([w.conn for w in busy])
            for worker in busy:
                if worker.job is not None and worker.conn in ready:
                    outcome = self._drain(worker)
                    if outcome is not None:
                        ended.append((worker.job.key, outcome))
                        worker.job = None
        return ended

    def _drain(self, worker: _Worker) -> Reply | None:
        """Handle every message waiting from ``worker``; its job's outcome once it has one (``lost``
        when the worker is gone)."""
        job = worker.job
        try:
            while worker.conn.poll():
                kind, payload = _unpack(worker.conn.recv_bytes())
                if kind in ("result", "error"):
                    return kind, payload
                self.on_event(job.key, kind, payload)
            return None
        except (EOFError, OSError):
            pass
        worker.kill()
        code = worker.process.returncode
        how = f"killed by signal {-code}" if code is not None and code < 0 else f"exit status {code}"
        return "lost", f"its worker process died ({how})"

    def close(self) -> None:
        for worker in self.workers:
            if worker.job is None and worker.alive():
                worker.conn.close()  # an idle worker ends on EOF
                try:
                    worker.process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    pass
            worker.kill()
        self.workers = []


# ============================================================================ Ray

def _ray_job(job: jobs_mod.Job, inputs: dict, device: str, threads: int) -> Any:
    """A job inside a Ray worker, with its own thread count."""
    progress.forward_to(lambda event: None)  # a remote worker has no terminal to show bars in
    with job_threads(threads):
        return jobs_mod.execute(job, inputs, device)


HTTP2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes([0, 0, 0, 4, 0, 0, 0, 0, 0])  # and an empty SETTINGS


def check_address(address: str, timeout: float = CONNECT_TIMEOUT_S) -> None:
    """An EngineError naming ``address`` unless a gRPC server (what a Ray head and a Ray client
    server are) answers at its host and port: the HTTP/2 preface sent, a SETTINGS frame back."""
    if address in ("auto", "local"):
        return
    target = address.split("://", 1)[-1]
    host, _, port = target.rpartition(":")
    if not host or not port.isdigit():
        raise EngineError(f"Ray address {address!r}: expected HOST:PORT (e.g. 127.0.0.1:6379), 'auto' or "
                          "ray://HOST:PORT")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout) as conn:
            conn.settimeout(timeout)
            conn.sendall(HTTP2_PREFACE)
            answer = b""
            while len(answer) < 9:
                chunk = conn.recv(9 - len(answer))
                if not chunk:
                    break
                answer += chunk
    except socket.timeout:
        answer = b""
    except OSError as exc:
        raise EngineError(f"Ray address {address!r} does not answer ({exc.strerror or exc}); "
                          "start a cluster with 'ray start --head' or drop --address for a local Ray") from None
    if len(answer) < 9 or answer[3] != 4:  # frame type 4: SETTINGS
        raise EngineError(f"Ray address {address!r} answers, but not as a Ray cluster (no gRPC answer within "
                          f"{timeout:g} s); check the port ('ray start --head' prints it) or drop --address")


class RayEngine(Engine):
    """Ray core tasks (see module docstring). Ray's own retries are off: the pipeline retries a
    lost job once, as on every engine."""

    def __init__(self, config: EngineSettings):
        super().__init__(config)
        try:
            import ray
        except ImportError:
            raise EngineError("the ray engine needs Ray: run 'make setup-ray' "
                              "(installs requirements-ray.txt into .venv)") from None
        self.ray = ray
        self.refs: dict[Any, str] = {}
        self.started_here = not ray.is_initialized()
        if self.started_here:
            try:
                ray.init(address=config.address, include_dashboard=False, log_to_driver=False,
                         configure_logging=False, runtime_env={"env_vars": {"PYTHONPATH": str(LIB_DIR)}})
            except (ConnectionError, RuntimeError, ValueError) as exc:
                where = f"at {config.address!r}" if config.address else "locally"
                raise EngineError(f"Ray could not be started {where}: {' '.join(str(exc).split())[:300]}") from None
        self.threads = config.resolved_threads()
        largest = max((node["Resources"].get("CPU", 0) for node in ray.nodes() if node.get("Alive")), default=0)
        if self.threads > largest:
            self.close()
            raise EngineError(f"--threads {self.threads}: no node of the Ray cluster has that many CPUs (the largest "
                              f"has {largest:g}), so no job could ever start")
        resources = ray.cluster_resources()
        gpus = config.gpus_per_job if resources.get("GPU", 0) > 0 and config.device in ("auto", "cuda") else 0
        self.gpus = gpus
        self.slots = max(1, int(resources.get("CPU", 1) // self.threads))
        self.remote = ray.remote(num_cpus=self.threads, num_gpus=gpus, max_retries=0)(_ray_job)

    def device_type(self) -> str:
        if self.config.device == "auto":
            return "cuda" if self.gpus else "cpu"
        return torch.device(self.config.device).type

    def submit(self, job: jobs_mod.Job, inputs: dict) -> None:
        device = self.config.device if self.config.device != "auto" else self.device_type()
        self.refs[self.remote.remote(job, inputs, device, self.threads)] = job.key

    def wait(self) -> list[tuple[str, Reply]]:
        ray = self.ray
        ready, _ = ray.wait(list(self.refs), num_returns=1)
        ended = []
        for ref in ready:
            key = self.refs.pop(ref)
            try:
                ended.append((key, ("result", ray.get(ref))))
            except ray.exceptions.RayTaskError as exc:
                cause = exc.cause if isinstance(getattr(exc, "cause", None), BaseException) else exc
                ended.append((key, ("error", _describe(cause))))
            except (ray.exceptions.WorkerCrashedError, ray.exceptions.NodeDiedError,
                    ray.exceptions.ObjectLostError, ray.exceptions.TaskCancelledError) as exc:
                ended.append((key, ("lost", f"its Ray worker died ({type(exc).__name__})")))
        return ended

    def close(self) -> None:
        for ref in list(self.refs):
            try:
                self.ray.cancel(ref, force=True)
            except Exception:  # noqa: BLE001 - best effort while stopping
                pass
        self.refs.clear()
        if self.started_here:
            self.ray.shutdown()
