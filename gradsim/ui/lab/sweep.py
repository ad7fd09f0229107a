"""The delay sweep's task: the engine's ``delay_sweep`` (one run per cell and delay, each stopping
early at 99 % held-out accuracy) on its own thread, with its points and a line of progress."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QObject, Signal

from ...engine.training import CELL_LABELS, TrainSettings
from .session import TaskSlot


class SweepRunner(QObject):
    """Runs one sweep at a time; ``points`` are the finished runs, ``status`` says where it is."""

    changed = Signal(bool)  # the status changed; True when a new point arrived
    ended = Signal(str)  # "finished", "stopped" or the one-line error of a sweep that raised

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.points: list = []
        self.status = "Not run yet. The delays, steps and cells are in the controls (C)."
        self._slot = TaskSlot(self._on_progress, self._on_ended)

    @property
    def running(self) -> bool:
        return self._slot.task is not None

    def start(self, base: TrainSettings, delays: Sequence[int], cells: Sequence[str]) -> None:
        from ...engine.training import delay_sweep

        self.stop()
        self.points = []
        delays, cells = list(delays), list(cells)
        task = self._slot.new(lambda: delay_sweep(base, delays, cells))
        self.status = f"Training {len(delays) * len(cells)} runs…"
        task.start()
        self.changed.emit(True)

    def stop(self) -> bool:
        """Stop a running sweep at its next yield; True if one was running."""
        if not self._slot.stop():
            return False
        self.status = "Sweep stopped."
        self.changed.emit(False)
        return True

    def _on_progress(self, progress) -> None:
        if not self._slot.holds(self.sender()):
            return
        new = len(progress.points) != len(self.points)
        self.points = list(progress.points)
        done = len(progress.points)
        self.status = (f"Run {min(done + 1, progress.total_runs)} of {progress.total_runs}: "
                       f"{CELL_LABELS[progress.cell]} at delay {progress.delay}, step {progress.step}/{progress.steps}")
        self.changed.emit(new)

    def _on_ended(self, outcome: str) -> None:
        if not self._slot.holds(self.sender()):
            return
        self._slot.ended()
        if outcome == "finished":
            self.status = (f"Done: {len(self.points)} runs. Each point is the held-out accuracy at the end of "
                           "its run (or when it reached 99 %).")
        else:
            self.status = f"Sweep ended: {outcome}"
        self.changed.emit(True)
        self.ended.emit(outcome)
