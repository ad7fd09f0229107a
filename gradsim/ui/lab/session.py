"""The life of one training run in the lab: a :class:`~gradsim.ui.worker.GeneratorTask` running the
engine's ``train_side_by_side`` on its own thread, started, paused, single-stepped and stopped at
the generator's yields, and a frame timer that asks for a redraw at most ~33 times a second
whatever the training speed.

Snapshots arrive by queued signal and are appended to the models' traces at once (they are the
lab's one copy of the curves); the timer then emits ``frame`` when something new arrived, and the
scene draws the view on show. No widget here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

from PySide6.QtCore import QObject, QTimer, Signal

from ...engine.training import TrainRun, TrainSettings
from ..worker import GeneratorTask
from .traces import ModelTrace

FRAME_MS = 30  # at most ~33 redraws per second (goal: 30), whatever the training speed


class TaskSlot:
    """The one task an owner runs at a time (the training run, the delay sweep), wired to the
    owner's two slots; a task stopped or ended is kept referenced until its thread has returned:
    deleting a QObject whose thread may still be inside ``emit`` is a crash waiting to happen."""

    def __init__(self, on_snapshot: Callable, on_ended: Callable) -> None:
        self._on_snapshot = on_snapshot
        self._on_ended = on_ended
        self.task: GeneratorTask | None = None
        self._retired: list[GeneratorTask] = []

    def new(self, factory: Callable[[], Iterator]) -> GeneratorTask:
        """A task of ``factory`` in the slot (not started), in place of the one there."""
        self.stop()
        task = GeneratorTask(factory)
        task.snapshot.connect(self._on_snapshot)
        task.ended.connect(self._on_ended)
        self.task = task
        return task

    def stop(self) -> bool:
        """Stop the task at its next yield; its signals no longer reach the owner. True if there was one."""
        task, self.task = self.task, None
        if task is None:
            return False
        task.snapshot.disconnect(self._on_snapshot)
        task.ended.disconnect(self._on_ended)
        task.stop()
        self._retire(task)
        return True

    def holds(self, sender) -> bool:
        """Whether a signal's sender is the task in the slot (not one stopped meanwhile)."""
        return sender is not None and sender is self.task

    def ended(self) -> None:
        """The task in the slot has ended (its ``ended`` signal arrived): the slot is free."""
        task, self.task = self.task, None
        if task is not None:
            self._retire(task)

    def _retire(self, task: GeneratorTask) -> None:
        self._retired = [t for t in self._retired if t.running] + [task]


def train_generator(models: Sequence[TrainSettings | TrainRun]) -> Callable[[], Iterator]:
    """The task's factory: new runs from settings, or loaded runs trained further."""

    def factory():
        from ...engine.training import train_side_by_side

        return train_side_by_side(list(models))

    return factory


class TrainingSession(QObject):
    """The run on show: its traces, its task and its state (``ready``, ``training``, ``paused``,
    ``finished`` or ``stopped``)."""

    frame = Signal()  # something new to draw
    run_state_changed = Signal(str)
    problem = Signal(str)  # one line for the message bar (a run stopped, a job failed)
    note = Signal(str)  # one line for the status bar

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.traces: list[ModelTrace] = []
        self.run_state = "ready"
        self._slot = TaskSlot(self._on_snapshot, self._on_ended)
        self._reported: set[int] = set()
        self._dirty = False
        self.timer = QTimer(self)
        self.timer.setInterval(FRAME_MS)
        self.timer.timeout.connect(self.tick)

    # -- what is trained -----------------------------------------------------------------------------
    def runs(self) -> list[TrainRun]:
        return [tr.run for tr in self.traces if tr.run is not None]

    @property
    def task(self) -> GeneratorTask | None:
        return self._slot.task

    def _ensure_task(self, settings: Sequence[TrainSettings]) -> bool:
        """Make the task if there is none: it continues the runs on show (loaded, or trained
        before), or starts new runs from ``settings``. False when there is nothing left to train."""
        if self._slot.task is not None:
            return True
        if self.traces and all(tr.run is not None for tr in self.traces):
            models: list = [tr.run for tr in self.traces]
        else:
            models = list(settings)
            self.traces = [ModelTrace(s) for s in models]
        if all(getattr(m, "finished", False) for m in models):
            self.note.emit("This run has finished; Reset to train again")
            return False
        self._reported.clear()
        self._slot.new(train_generator(models))
        return True

    # -- start, pause, step, reset -------------------------------------------------------------------
    def play_pause(self, settings: Sequence[TrainSettings]) -> None:
        task = self._slot.task
        if task is not None and task.running and not task.paused:
            task.pause()
            self._set_state("paused")
            return
        if task is not None and task.running:
            task.resume()
        else:
            if not self._ensure_task(settings):
                return
            self._slot.task.start()
        self._set_state("training")
        self.timer.start()

    def step(self, settings: Sequence[TrainSettings]) -> None:
        """Pause and train exactly one more step."""
        task = self._slot.task
        if task is None or not task.running:
            if not self._ensure_task(settings):
                return
            task = self._slot.task
            task.start(paused=True)
        task.step(1)
        self._set_state("paused")
        self.timer.start()

    def pause(self) -> None:
        task = self._slot.task
        if task is not None and task.running and not task.paused:
            task.pause()
            self._set_state("paused")

    def reset(self) -> None:
        """Stop training and forget the run; the next Start begins again from the seed."""
        self.stop()
        self.traces = []
        self._set_state("ready")
        self._dirty = True

    def stop(self) -> None:
        """Stop the task at its next yield (the traces stay)."""
        self._slot.stop()
        self.timer.stop()

    def show_runs(self, runs: Sequence[TrainRun]) -> None:
        """Show loaded runs (Start trains them further)."""
        self.reset()
        self.traces = [ModelTrace.from_run(r) for r in runs]
        self._set_state("finished" if all(r.finished for r in runs) else "paused")
        self._dirty = True

    # -- the task's signals --------------------------------------------------------------------------
    def _on_snapshot(self, snaps) -> None:
        if not self._slot.holds(self.sender()):
            return
        for trace, snap in zip(self.traces, snaps, strict=True):
            if snap is None:
                continue
            trace.add(snap)
            failed = snap.stop_reason is not None and snap.stop_reason.startswith("training stopped")
            if failed and trace.serial not in self._reported:
                self._reported.add(trace.serial)
                self.problem.emit(f"{trace.label}: {snap.stop_reason}")
        self._dirty = True

    def _on_ended(self, outcome: str) -> None:
        """The task ran out of steps, stopped on a non-finite loss, or raised (our own stops are
        disconnected first and never arrive here)."""
        if not self._slot.holds(self.sender()):
            return
        self._slot.ended()
        self.timer.stop()
        failed = any(tr.run is not None and tr.run.stop_reason is not None
                     and tr.run.stop_reason.startswith("training stopped") for tr in self.traces)
        if outcome not in ("finished", "stopped"):
            failed = True
            self.problem.emit(f"training: {outcome}")
        self._dirty = True
        self._set_state("stopped" if failed else "finished")
        self.tick()

    def tick(self) -> None:
        """The frame timer: a redraw when something new arrived since the last one."""
        if self._dirty:
            self._dirty = False
            self.frame.emit()

    def _set_state(self, state: str) -> None:
        if state != self.run_state:
            self.run_state = state
            self.run_state_changed.emit(state)
