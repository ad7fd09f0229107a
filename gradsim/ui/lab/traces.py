"""What the lab draws of each model: one copy of its curves, as float64 columns.

The engine's :class:`~gradsim.engine.training.TrainRun` keeps the record of a run (``run.curves``:
saved to files, exported as CSV). The charts need that record as float64 arrays (log10 where the
axis is logarithmic), handed to ``setData`` without converting the whole history on every frame,
so each model's trace appends one row per training step to growing arrays, from the snapshot the
engine yields (or, for a loaded run, from its record once). Nothing else in the lab keeps curves.
Qt-free.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable

import numpy as np

from ...engine.training import Snapshot, TrainRun, TrainSettings


class Column:
    """A column of numbers the charts draw: ``count`` rows, ``array()`` a float64 view of them."""

    count: int

    def array(self) -> np.ndarray:
        raise NotImplementedError

    def last(self) -> float | None:
        return float(self.array()[self.count - 1]) if self.count else None


class Growing(Column):
    """A growing float64 array, appended in place with amortised O(1) cost: a column of numbers
    (``shape=()``) or of fixed-width rows (the heatmap). ``array()`` is a view, not a copy; appending
    never writes into an element a view already shows, so a view handed to a chart stays valid."""

    def __init__(self, shape: tuple[int, ...] = ()) -> None:
        self.shape = shape
        self._data = np.empty((64, *shape))
        self.count = 0

    def append(self, value) -> None:
        if self.count == len(self._data):
            grown = np.empty((2 * len(self._data), *self.shape))
            grown[: self.count] = self._data[: self.count]
            self._data = grown
        self._data[self.count] = value
        self.count += 1

    def array(self) -> np.ndarray:
        return self._data[: self.count]


_serials = itertools.count(1)


def log10(values: Iterable[float]) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log10(np.asarray(list(values), dtype=np.float64))


class TraceReadings:
    """What the views and status lines read of a trace besides its columns: the same for a live
    trace (:class:`ModelTrace`) and one cut at a training step (``replay.TraceAt``)."""

    step: Column
    accuracy_pct: Column

    @property
    def steps_done(self) -> int:
        return self.step.count

    @property
    def accuracy(self) -> float | None:
        """The latest held-out accuracy (a fraction), or None before the first evaluation."""
        pct = self.accuracy_pct.last()
        return None if pct is None else pct / 100.0


class ModelTrace(TraceReadings):
    """One model of the lab: its engine run (the record) and the columns its charts draw.

    ``serial`` names this trace for the charts' "already shown" checks (unlike ``id()``, it is
    never reused by a later trace).
    """

    def __init__(self, settings: TrainSettings, run: TrainRun | None = None) -> None:
        self.settings = settings
        self.label = settings.label()
        self.serial = next(_serials)
        self.run = run  # the engine's TrainRun, once the first snapshot arrived (or a loaded run)
        self.last: Snapshot | None = None  # the latest snapshot
        self.step = Growing()
        self.log_loss = Growing()
        self.log_grad_before = Growing()
        self.log_grad_after = Growing()
        self.heat = Growing((settings.length,))
        self.eval_step = Growing()
        self.accuracy_pct = Growing()
        self.eigenvalues: np.ndarray | None = None
        self.initial_eigenvalues: np.ndarray | None = None
        self.log_loss_min = math.inf  # smallest finite log10(loss) so far (the loss chart's floor)
        self.log_grad_min = math.inf  # finite extremes of log10 ‖gradient‖ before and after clipping
        self.log_grad_max = -math.inf
        self.heat_min = math.inf  # finite extremes of the heatmap so far (its colour levels)
        self.heat_max = -math.inf
        self.heat_nonfinite = False  # an exact zero gradient (log10 = -inf) or a NaN in the heatmap

    def _append_step(self, step: int, loss: float, before: float, after: float, log10_grad_h) -> None:
        self.step.append(float(step))
        logs = log10((loss, before, after))
        self.log_loss.append(logs[0])
        self.log_grad_before.append(logs[1])
        self.log_grad_after.append(logs[2])
        if math.isfinite(logs[0]) and logs[0] < self.log_loss_min:
            self.log_loss_min = float(logs[0])
        grads = logs[1:][np.isfinite(logs[1:])]
        if grads.size:
            self.log_grad_min = min(self.log_grad_min, float(grads.min()))
            self.log_grad_max = max(self.log_grad_max, float(grads.max()))
        row = np.asarray(log10_grad_h, dtype=np.float64)
        self.heat.append(row)
        finite = row[np.isfinite(row)]
        self.heat_nonfinite = self.heat_nonfinite or finite.size < row.size
        if finite.size:
            self.heat_min = min(self.heat_min, float(finite.min()))
            self.heat_max = max(self.heat_max, float(finite.max()))

    def _append_eval(self, step: int, accuracy: float) -> None:
        self.eval_step.append(float(step))
        self.accuracy_pct.append(100.0 * accuracy)

    def add(self, snap: Snapshot) -> None:
        """One training step, as the engine yielded it."""
        self.last = snap
        self.run = snap.run
        self._append_step(snap.step, snap.loss, snap.grad_norm_before, snap.grad_norm_after, snap.log10_grad_h)
        if snap.accuracy is not None:
            self._append_eval(snap.step, snap.accuracy)
        if snap.eigenvalues is not None:
            if self.initial_eigenvalues is None:
                self.initial_eigenvalues = snap.eigenvalues
            self.eigenvalues = snap.eigenvalues

    @classmethod
    def from_run(cls, run: TrainRun) -> ModelTrace:
        """A loaded run: its record, read once into the columns."""
        trace = cls(run.settings, run)
        c = run.curves
        for row in zip(c.step, c.loss, c.grad_norm_before, c.grad_norm_after, c.log10_grad_h, strict=True):
            trace._append_step(*row)
        for step, accuracy in zip(c.eval_step, c.accuracy, strict=True):
            trace._append_eval(step, accuracy)
        if c.eigenvalues:
            trace.initial_eigenvalues = c.eigenvalues[0]
            trace.eigenvalues = c.eigenvalues[-1]
        return trace
