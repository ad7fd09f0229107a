"""Engine work off the GUI thread.

Two shapes of work, two classes:

* :class:`ComputeWorker` runs short computations (a gradient flow, a sweep). Requests carry a key
  (one per scene and purpose); a new request replaces the pending one with the same key, so a burst of
  slider moves computes at most the one running and the latest, never a queue (latest wins). Each
  request gets an id and the caller drops any result whose id is not its newest (stale results).
* :class:`GeneratorTask` runs a long job written as a generator (training): it yields snapshots,
  and pause, single step and stop take effect at the next ``yield``; a job is never killed.

Results cross to the GUI thread only through queued Qt signals. Both shut down cleanly: no hang when
the window closes mid-computation, and no signal is emitted to objects that are going away.
"""

from __future__ import annotations

import sys
import threading
import traceback
from collections.abc import Callable, Iterator
from typing import Any

from PySide6.QtCore import QObject, Signal

from ..engine.errors import InputError

_torch_ready = threading.Event()
_torch_gate = threading.Lock()


def run_guarded(fn: Callable[..., Any], *args: Any) -> Any:
    """Run ``fn`` so that at most one worker thread can be importing torch at a time.

    torch imported lazily from two threads at once (say the compute worker for the gates scene and a
    training task) can hand one of them a partially initialised module ("operator ... does not
    exist"). Until torch is fully imported, jobs of all worker threads run one at a time under a
    shared lock; afterwards they run freely.
    """
    if _torch_ready.is_set():
        return fn(*args)
    with _torch_gate:
        try:
            return fn(*args)
        finally:
            torch = sys.modules.get("torch")
            if torch is not None and hasattr(torch, "Tensor") and hasattr(torch, "nn"):
                from ..threads import use_gradsim_threads  # the app's process: its thread count, once

                use_gradsim_threads(torch)
                _torch_ready.set()


def _describe(exc: BaseException) -> str:
    """One line for the status bar: our own refusals verbatim, anything else with its type."""
    if isinstance(exc, InputError):
        return str(exc)
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class ComputeWorker(QObject):
    """One background thread; per-key latest-wins requests; results by signal."""

    finished = Signal(str, int, object)  # key, request id, result
    failed = Signal(str, int, str)  # key, request id, one-line message
    busy_changed = Signal(bool)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._cond = threading.Condition()
        self._pending: dict[str, tuple[int, Callable[..., Any], tuple]] = {}
        self._next_id = 0
        self._stopping = False
        self._running_key: str | None = None
        self.completed = 0  # how many jobs ran to the end (tests use it to see coalescing)
        self._thread = threading.Thread(target=self._loop, name="gradsim-compute", daemon=True)
        self._thread.start()

    def submit(self, key: str, fn: Callable[..., Any], *args: Any) -> int:
        """Queue ``fn(*args)`` under ``key``, replacing any request of that key not yet started."""
        with self._cond:
            self._next_id += 1
            request_id = self._next_id
            if self._stopping:
                return request_id
            self._pending[key] = (request_id, fn, args)
            self._cond.notify()
        return request_id

    def is_idle(self) -> bool:
        with self._cond:
            return not self._pending and self._running_key is None

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._stopping:
                    self._cond.wait()
                if self._stopping:
                    return
                key = next(iter(self._pending))
                request_id, fn, args = self._pending.pop(key)
                self._running_key = key
            self._emit_busy(True)
            try:
                result = run_guarded(fn, *args)
            except Exception as exc:  # a job's failure must never kill the worker
                message = _describe(exc)
                if not isinstance(exc, InputError):
                    traceback.print_exc()
                self._emit(self.failed, key, request_id, message)
            else:
                self._emit(self.finished, key, request_id, result)
            with self._cond:
                self._running_key = None
                self.completed += 1
                idle = not self._pending
            if idle:
                self._emit_busy(False)

    def _emit(self, signal, *args) -> None:
        with self._cond:
            if self._stopping:
                return
        try:
            signal.emit(*args)
        except RuntimeError:  # the receiver is already gone during shutdown
            pass

    def _emit_busy(self, busy: bool) -> None:
        self._emit(self.busy_changed, busy)

    def shutdown(self, timeout: float = 3.0) -> bool:
        """Stop taking work, drop pending requests, wait for the running one. True if it ended."""
        with self._cond:
            self._stopping = True
            self._pending.clear()
            self._cond.notify_all()
        self._thread.join(timeout)
        return not self._thread.is_alive()


class GeneratorTask(QObject):
    """Runs ``factory()`` (a generator of snapshots) in its own thread with start/pause/step/stop.

    Every snapshot is delivered through ``snapshot``; the view keeps the latest and redraws on its own
    timer, so a fast job cannot flood the GUI. ``ended`` carries "finished", "stopped" or the one-line
    error of a job that raised.
    """

    snapshot = Signal(object)
    ended = Signal(str)

    def __init__(self, factory: Callable[[], Iterator[Any]], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._factory = factory
        self._cond = threading.Condition()
        self._paused = False
        self._steps_allowed = 0
        self._stop = False
        self._thread: threading.Thread | None = None
        self.yielded = 0

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def paused(self) -> bool:
        return self._paused

    def start(self, paused: bool = False) -> None:
        if self._thread is not None:
            raise RuntimeError("a GeneratorTask runs once; make a new one")
        self._paused = paused
        self._thread = threading.Thread(target=self._run, name="gradsim-task", daemon=True)
        self._thread.start()

    def pause(self) -> None:
        with self._cond:
            self._paused = True

    def resume(self) -> None:
        with self._cond:
            self._paused = False
            self._cond.notify_all()

    def step(self, count: int = 1) -> None:
        """While paused, let the job run to its next ``count`` yields."""
        with self._cond:
            self._paused = True
            self._steps_allowed += count
            self._cond.notify_all()

    def stop(self, timeout: float = 5.0) -> bool:
        """Ask the job to stop at its next yield and wait for it. True if it ended in time."""
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
            return not self._thread.is_alive()
        return True

    def _gate(self) -> bool:
        """Block while paused; return False when the job must stop."""
        with self._cond:
            while self._paused and self._steps_allowed == 0 and not self._stop:
                self._cond.wait()
            if self._stop:
                return False
            if self._paused:
                self._steps_allowed -= 1
            return True

    def _run(self) -> None:
        outcome = "finished"
        gen = None
        try:
            gen = run_guarded(self._factory)
            while self._gate():
                try:
                    item = run_guarded(next, gen)
                except StopIteration:
                    break
                self.yielded += 1
                if self._stop:
                    break
                self._emit(self.snapshot, item)
            else:
                outcome = "stopped"
        except Exception as exc:
            traceback.print_exc()
            outcome = _describe(exc)
        finally:
            if gen is not None and hasattr(gen, "close"):
                try:
                    gen.close()
                except Exception:
                    pass
        if self._stop and outcome == "finished":
            outcome = "stopped"
        self._emit(self.ended, outcome)

    def _emit(self, signal, *args) -> None:
        if self._stop and signal is self.snapshot:
            return
        try:
            signal.emit(*args)
        except RuntimeError:
            pass
