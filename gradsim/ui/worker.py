"""Engine work off the GUI thread: cancellable, in lanes, so the scene on screen never waits.

Two shapes of work, two classes:

* :class:`ComputeWorker` runs computations (a gradient flow, a sweep, a file being read). Requests
  carry a key (one per scene and purpose, ``"flow:main"``); a new request replaces the pending one
  with the same key and *cancels* the running one, whose result would be stale anyway (latest
  wins). Each request gets an id and the caller drops any result whose id is not its newest.
* :class:`GeneratorTask` runs a long job written as a generator (training): it yields snapshots,
  and pause, single step and stop take effect at the next ``yield``.

Lanes. Work runs on three threads, each taking the oldest pending request that belongs to it:

* ``"visible"``: the scene on screen, and windows of their own (model and run views);
* ``"background"``: the jobs of scenes that are not on screen (a slow agreement model keeps
  computing while the user looks at another scene, without holding that scene up);
* ``"files"``: reading files the user opened, however slow or large.

A request's lane is decided when a thread picks it, from its key and the scene on screen (the
worker follows the main window's ``scene_shown`` signal), unless the request names one
(``submit(..., lane="files")``). When the user switches scenes while the visible lane is busy with
the old scene's job, that thread is handed to the background and a fresh visible thread starts, so
the new scene's work starts at once.

Cancellation is cooperative: each request runs with a :class:`~gradsim.engine.cancel.CancelToken`
as its current token, and the engine's long loops check it (:func:`gradsim.engine.cancel.check_cancelled`);
a cancelled job ends with :class:`~gradsim.engine.cancel.Cancelled` at its next checkpoint and
reports nothing. Nothing is ever killed. :meth:`ComputeWorker.shutdown` cancels everything and
waits at most a second.

Results cross to the GUI thread only through queued Qt signals, never to objects going away.

Reuse. A request made with ``reuse=True`` promises that ``fn(*args)`` depends on nothing but its
arguments (a scene's engine function of its frozen state's job): the worker keeps the last
:data:`REUSED_RESULTS` such results, and asking again for one of them (undo, redo, "reset all", a
preset chosen again, a slider dragged back) delivers the kept result through the same queued
``finished`` signal without computing it again. Arguments that cannot be hashed are computed as usual.

Garbage. Python's cyclic garbage collector runs on whichever thread happens to allocate, here most
often a worker thread; a cycle that holds Qt objects (a closed window's) would then be destroyed
there, and Qt objects must die on their own thread (seen in the UI tests: ``~QObject`` on a worker
waiting for the interpreter lock while the GUI thread, holding it, waited for Qt's lock).
:func:`collect_garbage_on_the_gui_thread` hands the collector to the GUI thread before any worker
thread starts.
"""

from __future__ import annotations

import sys
import threading
import traceback
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal

from ..engine.cancel import Cancelled, CancelToken, cancel_scope
from ..engine.errors import InputError, one_line
from ..registry import SCENE_IDS

VISIBLE = "visible"
BACKGROUND = "background"
FILES = "files"
LANES = (VISIBLE, BACKGROUND, FILES)
REUSED_RESULTS = 24  # results of ``reuse=True`` requests kept (each a few MB at most: a gates run of 1,000 steps)

_torch_ready = threading.Event()
_torch_gate = threading.Lock()
_torch_import_started = threading.Event()


class _TorchImportWatch:
    """A finder that only watches: it notes when some thread starts importing torch, and finds
    nothing itself (the import goes on as usual)."""

    @staticmethod
    def find_spec(name: str, path: Any = None, target: Any = None) -> None:
        if name == "torch":
            _torch_import_started.set()
        return None


if not any(isinstance(f, _TorchImportWatch) for f in sys.meta_path):
    sys.meta_path.insert(0, _TorchImportWatch())


def _mark_torch_ready() -> None:
    torch = sys.modules.get("torch")
    if torch is not None and hasattr(torch, "Tensor") and hasattr(torch, "nn"):
        if not _torch_ready.is_set():  # the first time torch is ready: the app's thread count, once
            from ..threads import use_gradsim_threads

            use_gradsim_threads(torch)
        _torch_ready.set()


def run_guarded(fn: Callable[..., Any], *args: Any, visible: bool = False) -> Any:
    """Run ``fn`` so that at most one worker thread can be importing torch at a time.

    torch imported lazily from two threads at once (say the compute worker for the gates scene and a
    training task) can hand one of them a partially initialised module ("operator ... does not
    exist"). Until torch is fully imported, jobs run one at a time under a shared lock; afterwards
    they run freely.

    The visible lane (``visible=True``) does not wait for another lane's whole job, only for a
    torch import in progress: if the lock is held by a job that has not started importing torch
    (reading a scenario, say), the visible job runs beside it.
    """
    if _torch_ready.is_set():
        return fn(*args)
    if visible and not _torch_gate.acquire(blocking=False):
        if not _torch_import_started.is_set():
            try:
                return fn(*args)
            finally:
                _mark_torch_ready()
        _torch_gate.acquire()
    elif not visible:
        _torch_gate.acquire()
    try:
        return fn(*args)
    finally:
        _mark_torch_ready()
        _torch_gate.release()


_garbage_collector: Any = None


def collect_garbage_on_the_gui_thread() -> None:
    """Switch the automatic collector off and collect on a timer of the GUI thread instead
    (pyqtgraph's ``GarbageCollector``: each second, the generations whose counts passed Python's
    own thresholds). Once per process, called on the GUI thread; a no-op afterwards."""
    global _garbage_collector
    if _garbage_collector is None:
        from pyqtgraph.util.garbage_collector import GarbageCollector

        _garbage_collector = GarbageCollector(interval=1.0)


def describe_error(exc: BaseException) -> str:
    """One line for the status bar: our own refusals verbatim, anything else with its type."""
    if isinstance(exc, InputError):
        return str(exc)
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return one_line(f"{type(exc).__name__}: {text}" if text else type(exc).__name__)


@dataclass
class _Job:
    key: str
    request_id: int
    fn: Callable[..., Any]
    args: tuple
    lane: str | None  # None: decided from the key and the visible scene when picked
    token: CancelToken = field(default_factory=CancelToken)
    reuse_key: tuple | None = None  # (fn, args) when the result may be kept and delivered again


class _Lane:
    """One thread taking requests of one lane; ``retired`` threads finish their job and leave."""

    def __init__(self, worker: ComputeWorker, name: str) -> None:
        self.name = name
        self.running: _Job | None = None
        self.retired = False
        self.thread = threading.Thread(target=worker._loop, args=(self,), name=f"gradsim-{name}", daemon=True)


class ComputeWorker(QObject):
    """Background threads in lanes; per-key latest-wins, cancellable requests; results by signal.

    Signals: ``finished(key, id, result)``; ``errored(key, id, exception)`` for a job that raised
    (the exception object itself: an :class:`InputError` is a refusal to show as it is, anything
    else :func:`describe_error` makes one line of);
    ``progress(key, id, done, total, what)`` from the engine's :func:`report_progress`;
    ``busy_changed(bool)``; ``paused(bool)`` when :meth:`set_paused` takes effect.
    """

    finished = Signal(str, int, object)  # key, request id, result
    errored = Signal(str, int, object)  # key, request id, the exception
    progress = Signal(str, int, float, float, str)  # key, request id, done, total, what
    busy_changed = Signal(bool)
    paused = Signal(bool)
    _deliver_kept = Signal(str, int, object)  # a kept result, queued to ``finished`` like a computed one

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        collect_garbage_on_the_gui_thread()
        self._cond = threading.Condition()
        self._pending: dict[str, _Job] = {}
        self._next_id = 0
        self._stopping = False
        self._paused = False
        self._visible: str | None = None
        self._busy = False
        self.completed = 0  # how many jobs ran to the end (tests use it to see coalescing)
        self.cancelled_jobs = 0  # how many were cancelled before they ended
        self.reused = 0  # how many requests were answered with a kept result
        self._kept: OrderedDict[tuple, Any] = OrderedDict()  # reuse_key -> result, oldest first
        self._deliver_kept.connect(self.finished.emit, Qt.ConnectionType.QueuedConnection)
        self._lanes: dict[str, _Lane] = {name: _Lane(self, name) for name in LANES}
        self._retired: list[_Lane] = []
        for lane in self._lanes.values():
            lane.thread.start()
        shown = getattr(parent, "scene_shown", None)
        if shown is not None:
            shown.connect(self.set_visible)

    @property
    def _thread(self) -> threading.Thread:
        """The visible lane's thread (older tests and tools look at it)."""
        return self._lanes[VISIBLE].thread

    # -- requests ------------------------------------------------------------------------------------
    def submit(self, key: str, fn: Callable[..., Any], *args: Any, lane: str | None = None,
               supersede: bool = True, reuse: bool = False) -> int:
        """Queue ``fn(*args)`` under ``key``, replacing any request of that key not yet started.

        ``lane`` (``"visible"``, ``"background"`` or ``"files"``) pins the request to a lane; by
        default it runs on the visible lane if its key belongs to the scene on screen (or to no
        scene: a model or run window), else in the background. With ``supersede`` (the default) a
        running request of the same key is cancelled: its result would be dropped as stale. With
        ``reuse`` (for a function of its arguments alone) a result kept from the same call is
        delivered instead of computing it again (see the module's docstring).
        """
        if lane is not None and lane not in LANES:
            raise ValueError(f"unknown lane {lane!r} (one of {', '.join(LANES)})")
        reuse_key = _reuse_key(fn, args) if reuse else None
        with self._cond:
            self._next_id += 1
            request_id = self._next_id
            if self._stopping:
                return request_id
            if reuse_key is not None and reuse_key in self._kept:
                self._kept.move_to_end(reuse_key)
                self._pending.pop(key, None)
                for running in self._running_jobs():
                    if running.key == key:
                        running.token.cancel("superseded")
                self.reused += 1
                # posted now: a caller that then sees the worker idle knows the result is on its way
                self._deliver_kept.emit(key, request_id, self._kept[reuse_key])
                self._update_busy()
                return request_id
            self._pending[key] = _Job(key, request_id, fn, args, lane, reuse_key=reuse_key)
            if supersede:
                for running in self._running_jobs():
                    if running.key == key:
                        running.token.cancel("superseded")
            self._cond.notify_all()
            self._update_busy()
        return request_id

    def cancel(self, key: str) -> bool:
        """Drop the pending request of ``key`` and cancel its running one; True if there was one."""
        return self.cancel_where(lambda k: k == key)

    def cancel_prefix(self, prefix: str) -> bool:
        """Cancel every request whose key starts with ``prefix`` (``"flow:"``: all of a scene's)."""
        return self.cancel_where(lambda k: k.startswith(prefix))

    def cancel_where(self, match: Callable[[str], bool]) -> bool:
        with self._cond:
            dropped = [k for k in self._pending if match(k)]
            for k in dropped:
                del self._pending[k]
            running = [j for j in self._running_jobs() if match(j.key)]
            for job in running:
                job.token.cancel("cancelled")
            self._update_busy()
        return bool(dropped or running)

    def is_idle(self) -> bool:
        with self._cond:
            return not self._pending and not self._running_jobs()

    @property
    def busy(self) -> bool:
        return self._busy

    @property
    def accepting(self) -> bool:
        """False once :meth:`shutdown` has begun: requests are dropped from then on."""
        return not self._stopping

    def set_visible(self, scene_id: str | None) -> None:
        """The scene now on screen: its requests go first, on the visible lane.

        If the visible lane is running another scene's job, that thread finishes it as a background
        thread and a new visible thread starts, so nothing of the new scene waits behind it."""
        with self._cond:
            self._visible = scene_id
            lane = self._lanes[VISIBLE]
            job = lane.running
            if not self._stopping and job is not None and self._lane_of(job) != VISIBLE:
                lane.retired = True
                self._retired = [r for r in self._retired if r.thread.is_alive()] + [lane]
                fresh = _Lane(self, VISIBLE)
                self._lanes[VISIBLE] = fresh
                fresh.thread.start()
            self._cond.notify_all()

    def set_paused(self, paused: bool) -> None:
        """Hold every running job at its next checkpoint and start no new one (or carry on)."""
        with self._cond:
            self._paused = paused
            for job in self._running_jobs():
                if paused:
                    job.token.pause()
                else:
                    job.token.resume()
            self._cond.notify_all()
        self._emit(self.paused, paused)

    def lane_of(self, key: str) -> str:
        """The lane a request of ``key`` without a pinned lane would run on now."""
        with self._cond:
            return self._lane_of(_Job(key, 0, print, (), None))

    # -- the threads ---------------------------------------------------------------------------------
    def _lane_of(self, job: _Job) -> str:
        if job.lane is not None:
            return job.lane
        scene = job.key.split(":", 1)[0]
        if self._visible is None or scene == self._visible or scene not in SCENE_IDS:
            return VISIBLE
        return BACKGROUND

    def _running_jobs(self) -> list[_Job]:
        lanes = list(self._lanes.values()) + self._retired
        return [lane.running for lane in lanes if lane.running is not None]

    def _take(self, lane: _Lane) -> _Job | None:
        """The oldest pending request of this lane (called with the lock held)."""
        for key, job in self._pending.items():
            if self._lane_of(job) == lane.name:
                del self._pending[key]
                return job
        return None

    def _loop(self, lane: _Lane) -> None:
        while True:
            with self._cond:
                job = None
                while not self._stopping and not lane.retired:
                    job = None if self._paused else self._take(lane)
                    if job is not None:
                        break
                    self._cond.wait()
                if job is None:
                    return
                lane.running = job
            job.token.progress = self._progress_forwarder(job)
            outcome: tuple[Any, ...] = ()
            try:
                with cancel_scope(job.token):
                    job.token.check()
                    result = run_guarded(job.fn, *job.args, visible=lane.name == VISIBLE)
            except Cancelled:
                outcome = ("cancelled",)
            except Exception as exc:  # a job's failure must never kill the worker
                if not isinstance(exc, InputError):
                    traceback.print_exc()
                outcome = ("errored", exc)
            else:
                outcome = ("finished", result)
            # the result's signal is queued before the job stops counting as running, so a caller
            # that sees the worker idle knows every result is already on its way
            if outcome[0] == "finished" and not job.token.cancelled:
                if job.reuse_key is not None:
                    self._keep(job.reuse_key, outcome[1])
                self._emit(self.finished, job.key, job.request_id, outcome[1])
            elif outcome[0] == "errored":
                self._emit(self.errored, job.key, job.request_id, outcome[1])
            with self._cond:
                lane.running = None
                if outcome[0] == "cancelled":
                    self.cancelled_jobs += 1
                else:
                    self.completed += 1
                self._cond.notify_all()
                self._update_busy()
            if lane.retired:
                return

    def _keep(self, reuse_key: tuple, result: Any) -> None:
        with self._cond:
            self._kept[reuse_key] = result
            self._kept.move_to_end(reuse_key)
            while len(self._kept) > REUSED_RESULTS:
                self._kept.popitem(last=False)

    def _progress_forwarder(self, job: _Job) -> Callable[[float, float, str], None]:
        def forward(done: float, total: float, what: str) -> None:
            self._emit(self.progress, job.key, job.request_id, float(done), float(total), what)

        return forward

    def _emit(self, signal, *args) -> None:
        with self._cond:
            if self._stopping:
                return
        try:
            signal.emit(*args)
        except RuntimeError:  # the receiver is already gone during shutdown
            pass

    def _update_busy(self) -> None:
        """Emit ``busy_changed`` when the worker turns busy or idle (called with the lock held, so
        the signals of different threads come out in the order the states changed)."""
        busy = bool(self._pending or self._running_jobs())
        if busy != self._busy and not self._stopping:
            self._busy = busy
            try:
                self.busy_changed.emit(busy)
            except RuntimeError:
                pass

    def shutdown(self, timeout: float = 1.0) -> bool:
        """Stop taking work, drop pending requests, cancel the running ones and wait for them (at
        most ``timeout`` seconds in all). True if every thread ended."""
        import time

        with self._cond:
            self._stopping = True
            self._pending.clear()
            for job in self._running_jobs():
                job.token.cancel("shutting down")
            self._cond.notify_all()
            threads = [lane.thread for lane in list(self._lanes.values()) + self._retired]
        deadline = time.monotonic() + timeout
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        return not any(t.is_alive() for t in threads)


def _reuse_key(fn: Callable[..., Any], args: tuple) -> tuple | None:
    """What identifies a call whose result may be kept: the function and its arguments, if they
    can be hashed (a frozen job can; one holding an array cannot, and is simply computed)."""
    try:
        hash(args)
    except TypeError:
        return None
    return (fn, args)


class GeneratorTask(QObject):
    """Runs ``factory()`` (a generator of snapshots) in its own thread with start/pause/step/stop.

    Every snapshot is delivered through ``snapshot``; the view keeps the latest and redraws on its own
    timer, so a fast job cannot flood the GUI. ``ended`` carries "finished", "stopped" or
    the one-line error of a job that raised (``errored`` carries the exception itself); ``paused``
    says when a pause has taken effect (True, the job waits at a yield) and when it goes on (False).

    The generator runs with a :class:`CancelToken` as its current token: :meth:`stop` asks for a stop
    at the next yield and, if that takes longer than ``cancel_after`` seconds (a long training step),
    cancels the job at the engine's next checkpoint instead.
    """

    snapshot = Signal(object)
    ended = Signal(str)
    errored = Signal(object)
    paused_changed = Signal(bool)

    def __init__(self, factory: Callable[[], Iterator[Any]], parent: QObject | None = None) -> None:
        super().__init__(parent)
        collect_garbage_on_the_gui_thread()
        self._factory = factory
        self._cond = threading.Condition()
        self._paused = False
        self._steps_allowed = 0
        self._stop = False
        self._thread: threading.Thread | None = None
        self._waiting = False
        self.token = CancelToken()
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

    def cancel(self) -> None:
        """Stop now: at the next yield or the engine's next checkpoint, whichever comes first."""
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        self.token.cancel("stopped")

    def stop(self, timeout: float = 5.0, cancel_after: float = 0.5) -> bool:
        """Ask the job to stop at its next yield and wait for it; past ``cancel_after`` seconds,
        cancel it at the engine's next checkpoint. True if it ended within ``timeout``."""
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        if self._thread is None:
            return True
        self._thread.join(min(timeout, cancel_after))
        if self._thread.is_alive():
            self.token.cancel("stopped")
            self._thread.join(max(0.0, timeout - cancel_after))
        return not self._thread.is_alive()

    def _gate(self) -> bool:
        """Block while paused; return False when the job must stop."""
        with self._cond:
            while self._paused and self._steps_allowed == 0 and not self._stop:
                if not self._waiting:
                    self._waiting = True
                    self._emit(self.paused_changed, True)
                self._cond.wait()
            if self._waiting:
                self._waiting = False
                if not self._stop:
                    self._emit(self.paused_changed, False)
            if self._stop:
                return False
            if self._paused:
                self._steps_allowed -= 1
            return True

    def _run(self) -> None:
        outcome = "finished"
        gen = None
        try:
            with cancel_scope(self.token):
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
        except Cancelled:
            outcome = "stopped"  # cancelled at an engine checkpoint: for the view, a stop
        except Exception as exc:
            if not isinstance(exc, InputError):
                traceback.print_exc()
            outcome = describe_error(exc)
            self._emit(self.errored, exc)
        finally:
            if gen is not None and hasattr(gen, "close"):
                try:
                    gen.close()
                except (Exception, Cancelled):
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


def read_off_gui_thread(worker: ComputeWorker, fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)`` on the worker's files lane, waited for in a local event loop: the window keeps
    painting (user input waits) and the caller gets the result, or the exception, as if it had
    called ``fn`` itself. Files are read through :mod:`gradsim.engine.files`, so the wait is short
    and bounded: a named pipe or a device is refused at once, a file's size is capped."""
    from PySide6.QtCore import QEventLoop

    if not worker.accepting:
        return fn(*args)
    loop = QEventLoop()
    key = f"read:{id(loop)}"
    outcome: dict[str, Any] = {}

    def on_finished(k: str, _rid: int, result: Any) -> None:
        if k == key:
            outcome["result"] = result
            loop.quit()

    def on_errored(k: str, _rid: int, exc: Any) -> None:
        if k == key:
            outcome["error"] = exc
            loop.quit()

    worker.finished.connect(on_finished)
    worker.errored.connect(on_errored)
    try:
        worker.submit(key, fn, *args, lane=FILES)
        while not outcome and worker.accepting:
            loop.exec(QEventLoop.ProcessEventsFlag.ExcludeUserInputEvents)
    finally:
        worker.finished.disconnect(on_finished)
        worker.errored.disconnect(on_errored)
    if "error" in outcome:
        raise outcome["error"]
    if "result" not in outcome:
        raise InputError(f"{args[0] if args else 'file'}: not read: the window is closing")
    return outcome["result"]
