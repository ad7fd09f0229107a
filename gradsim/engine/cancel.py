"""Cancelling long engine work, and hearing how far it has got, without changing engine signatures.

Whoever runs the work (the app's worker thread, the command line) makes a :class:`CancelToken` and
runs the work inside :func:`cancel_scope`. The token is held in a :mod:`contextvars` variable, so it
belongs to that thread (or task) only, and the engine's long loops call :func:`check_cancelled`
(a variable look-up and a flag test, tens of nanoseconds) and :func:`report_progress` at points
where stopping is safe. Nothing is ever killed: work stops at such a point by raising
:class:`Cancelled`.

``Cancelled`` derives from ``BaseException``, like ``KeyboardInterrupt`` (and ``asyncio``'s
cancellation since Python 3.8), so an ``except Exception`` written to turn a damaged file into a
one-line refusal does not swallow a cancel by mistake.

Qt-free and torch-free.
"""

from __future__ import annotations

import contextlib
import contextvars
import threading
import time
from collections.abc import Callable, Iterator

ProgressCallback = Callable[[float, float, str], None]


class Cancelled(BaseException):
    """The work was cancelled at one of its checkpoints (the window closed, a newer request came)."""


class CancelToken:
    """A flag the owner sets and the work checks; optionally a progress callback and a pause gate.

    ``progress(done, total, what)`` is called from the working thread by :func:`report_progress`;
    it must be cheap and must not block (the app forwards it through a queued Qt signal, the
    command line rate-limits what it prints).
    """

    __slots__ = ("_event", "_resume", "progress", "reason")

    def __init__(self, progress: ProgressCallback | None = None) -> None:
        self._event = threading.Event()
        self._resume = threading.Event()
        self._resume.set()
        self.progress = progress
        self.reason = ""

    def cancel(self, reason: str = "cancelled") -> None:
        self.reason = reason
        self._event.set()
        self._resume.set()  # a paused job must wake up to notice

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def pause(self) -> None:
        """Hold the work at its next checkpoint until :meth:`resume` (or a cancel)."""
        self._resume.clear()

    def resume(self) -> None:
        self._resume.set()

    @property
    def paused(self) -> bool:
        return not self._resume.is_set()

    def check(self) -> None:
        """Raise :class:`Cancelled` if cancelled; wait here while paused."""
        if not self._resume.is_set():
            self._resume.wait()
        if self._event.is_set():
            raise Cancelled(self.reason)

    def wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; True (early) once cancelled."""
        return self._event.wait(seconds)


_current: contextvars.ContextVar[CancelToken | None] = contextvars.ContextVar("gradsim_cancel", default=None)


def check_cancelled() -> None:
    """Raise :class:`Cancelled` if the work now running was cancelled (no-op outside a scope)."""
    token = _current.get()
    if token is not None:
        token.check()


def report_progress(done: float, total: float, what: str = "") -> None:
    """Tell whoever runs this work how far it has got (no-op outside a scope); also a checkpoint."""
    token = _current.get()
    if token is not None:
        token.check()
        if token.progress is not None:
            token.progress(done, total, what)


@contextlib.contextmanager
def cancel_scope(token: CancelToken | None) -> Iterator[CancelToken | None]:
    """Run the body with ``token`` as the current token of this thread."""
    reset = _current.set(token)
    try:
        yield token
    finally:
        _current.reset(reset)


class Ticker:
    """Reports progress at most every ``interval`` seconds from a hot loop (checks cancel every call)."""

    __slots__ = ("total", "what", "interval", "_next")

    def __init__(self, total: float, what: str, interval: float = 0.1) -> None:
        self.total = total
        self.what = what
        self.interval = interval
        self._next = 0.0

    def __call__(self, done: float) -> None:
        token = _current.get()
        if token is None:
            return
        token.check()
        now = time.monotonic()
        if now >= self._next and token.progress is not None:
            self._next = now + self.interval
            token.progress(done, self.total, self.what)
