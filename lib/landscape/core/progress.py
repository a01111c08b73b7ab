"""Progress of long work: one mechanism for the terminal, JupyterLab and rendered reports.

``task(desc, total, unit)`` opens one piece of work (a run's epochs, one probe on one run); code
inside it calls ``tick()`` for each unit done (an epoch, a Hessian-vector product, a grid point)
without knowing who shows it. A task opened inside another one of the same unit adds its size
and its ticks to the outer task (one bar per probe, whatever the probe calls); one of another
unit (the noise draws inside a probe counted in HVPs) is not counted, so a count never mixes
units. How tasks are shown depends on
``$LANDSCAPE_PROGRESS``:

- ``auto`` (default): ``tqdm.auto``, a widget bar in JupyterLab, a text bar on stderr in a terminal,
  and ``lines`` where stderr is a pipe or a file;
- ``lines``: plain lines on stderr when a task starts, every ``LINE_INTERVAL_S`` seconds while it
  runs and when it ends (``report`` sets this for its kernel and streams the lines);
- ``off``: nothing.

A worker process of the pipeline calls :func:`forward_to` once: its tasks are then sent as events
to the driver, which shows them with :class:`Replay` as if they were its own. The driver says
what a graph will do before it starts (:func:`note`) and shows it with a :class:`Board` (jobs
done, running, failed, the time left).
"""
from __future__ import annotations

import contextlib
import contextvars
import os
import sys
import time
from typing import Callable, Iterator

PROGRESS_ENV = "LANDSCAPE_PROGRESS"
MODES = ("auto", "lines", "off")
LINE_INTERVAL_S = 20.0
# a bar whose size is not known in advance (Lanczos products until converged): the count, its unit
# and the time, never "7/?"
UNKNOWN_TOTAL_FORMAT = "{desc}: {n_fmt} {unit} ({elapsed}, {rate_fmt}{postfix})"


def mode() -> str:
    """``$LANDSCAPE_PROGRESS``; ``auto`` is ``lines`` where bars cannot redraw (stderr is a pipe
    or a file, outside a Jupyter kernel)."""
    chosen = os.environ.get(PROGRESS_ENV, "auto") or "auto"
    chosen = chosen if chosen in MODES else "auto"
    if chosen == "auto" and "ipykernel" not in sys.modules and not sys.stderr.isatty():
        return "lines"
    return chosen


Event = tuple  # ("open", desc, total, unit, initial) | ("tick", n, postfix) | ("expect", n) | ("close", outcome)
_sink: Callable[[Event], None] | None = None


def forward_to(sink: Callable[[Event], None] | None) -> None:
    """Send every task event of this process to ``sink`` instead of showing it (a worker)."""
    global _sink
    _sink = sink


class Task:
    """One piece of work being counted (see module docstring)."""

    def __init__(self, desc: str, total: int | None, unit: str, initial: int = 0):
        self.desc, self.total, self.unit, self.count = desc, total, unit, initial
        self.postfix: dict[str, str] = {}
        self.started = self._shown = time.perf_counter()
        self.mode = "forward" if _sink is not None else mode()
        self._bar = None
        if self.mode == "forward":
            _sink(("open", desc, total, unit, initial))
        elif self.mode == "auto":
            from tqdm.auto import tqdm

            self._bar = tqdm(desc=desc, total=total, unit=unit, initial=initial, file=sys.stderr,
                             bar_format=None if total is not None else UNKNOWN_TOTAL_FORMAT)
        elif self.mode == "lines":
            self._line("")

    def tick(self, n: int = 1, **postfix: object) -> None:
        """``n`` more units done; ``postfix`` (e.g. ``loss=0.31``) is shown beside the count."""
        self.count += n
        self.postfix.update({k: str(v) for k, v in postfix.items()})
        if self.mode == "forward":
            _sink(("tick", n, {k: str(v) for k, v in postfix.items()}))
        elif self._bar is not None:
            self._bar.update(n)
            if postfix:  # redrawn when only the postfix changed (a board's running count)
                self._bar.set_postfix(self.postfix, refresh=n == 0)
        elif self.mode == "lines" and time.perf_counter() - self._shown >= LINE_INTERVAL_S:
            self._line("")

    def expect(self, n: int) -> None:
        """``n`` more units are coming (a nested task announced its size)."""
        self.total = (self.total if self.total is not None else self.count) + n
        if self.mode == "forward":
            _sink(("expect", n))
        elif self._bar is not None:
            self._bar.total, self._bar.bar_format = self.total, None  # a bar with a count out of the total
            self._bar.refresh()

    def close(self, outcome: str = "done") -> None:
        if self.mode == "forward":
            _sink(("close", outcome))
        elif self._bar is not None:
            self._bar.close()
        elif self.mode == "lines":
            self._line(f" {outcome}")

    def line(self, suffix: str = "") -> None:
        """Show the task now (in ``lines`` mode; a bar redraws itself)."""
        if self.mode == "lines":
            self._line(suffix)
        elif self._bar is not None:
            self._bar.refresh()

    def _line(self, suffix: str) -> None:
        self._shown = time.perf_counter()
        count = f"{self.count}/{self.total}" if self.total is not None else str(self.count)
        unit = self.unit if (self.total if self.total is not None else self.count) == 1 else f"{self.unit}s"
        extra = "".join(f", {k} {v}" for k, v in self.postfix.items())
        print(f"  {self.desc}: {count} {unit}{extra} ({self._shown - self.started:.0f} s){suffix}",
              file=sys.stderr, flush=True)


class _Uncounted:
    """A task of another unit inside an open task: its size and ticks are dropped."""

    def __init__(self, unit: str):
        self.unit = unit

    def tick(self, n: int = 1, **postfix: object) -> None:
        pass

    def expect(self, n: int) -> None:
        pass


_current: contextvars.ContextVar[Task | _Uncounted | None] = contextvars.ContextVar("landscape_progress_task", default=None)


@contextlib.contextmanager
def task(desc: str, total: int | None = None, unit: str = "it", initial: int = 0) -> Iterator[Task]:
    """Count a piece of work (see module docstring); inside an open task, the open task."""
    outer = _current.get()
    if outer is not None and outer.unit != unit:
        token = _current.set(_Uncounted(unit))
        try:
            yield _current.get()
        finally:
            _current.reset(token)
        return
    if outer is not None:
        if total is not None:
            outer.expect(total)
        yield outer
        return
    current = Task(desc, total, unit, initial)
    token = _current.set(current)
    outcome = "interrupted"
    try:
        yield current
        outcome = "done"
    except Exception:
        outcome = "failed"
        raise
    finally:
        _current.reset(token)
        current.close(outcome)


def tick(n: int = 1, **postfix: object) -> None:
    """Advance the open task by ``n`` units (nothing when no task is open)."""
    current = _current.get()
    if current is not None:
        current.tick(n, **postfix)


class Replay:
    """Shows the tasks of other processes (the events they forward), one per source (a job)."""

    def __init__(self) -> None:
        self.tasks: dict[str, Task] = {}

    def apply(self, source: str, event: Event) -> None:
        kind, *args = event
        if kind == "open":
            self.tasks[source] = Task(*args)
            return
        task = self.tasks.get(source)
        if task is None:
            return
        if kind == "tick":
            task.tick(args[0], **args[1])
        elif kind == "expect":
            task.expect(args[0])
        elif kind == "close":
            self.tasks.pop(source).close(args[0])

    def close(self, source: str, outcome: str) -> None:
        """End the task of ``source`` (a job that ended without closing it: killed, failed)."""
        task = self.tasks.pop(source, None)
        if task is not None:
            task.close(outcome)


def note(text: str) -> None:
    """A line for the user about the work ahead (a graph's plan): on stderr, unless progress is
    ``off`` or this process is a worker."""
    if _sink is None and mode() != "off":
        print(text, file=sys.stderr, flush=True)


class Board:
    """The jobs of a graph: how many are done, running and failed, and (``left``: words for the
    estimated time left, or None while there is none) the time left; a line per finished job in
    ``lines`` mode, a bar with the counts otherwise."""

    def __init__(self, desc: str, total: int, left: Callable[[], str | None] | None = None):
        self.running = self.failed = 0
        self.left = left or (lambda: None)
        self.task = Task(desc, total, "job")

    def started(self) -> None:
        self.running += 1
        self._show()

    def finished(self, name: str, outcome: str) -> None:
        self.running -= 1
        self.failed += outcome.startswith("failed")
        self.task.tick(1, **self._counts())
        self.task.line(f": {name} {outcome}")

    def _counts(self) -> dict:
        left = self.left()
        return {"running": self.running, "failed": self.failed, **({"left": f"≈ {left}"} if left else {})}

    def _show(self) -> None:
        self.task.tick(0, **self._counts())

    def close(self, outcome: str = "done") -> None:
        self.task.close(outcome)
