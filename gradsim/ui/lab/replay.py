"""The run on show, played back: each model's curves as they stood after training step ``s``.

A recording of the lab (``gradsim gui --scene training --open-run F --record out.gif``, File ▸
Export animation…) replays a run that is already there, a loaded one or one trained in the app:
nothing is trained again and torch is not touched. Time maps to a training step, from the first
recorded step at the start to the last one at the end, and every view draws the models' traces cut
at that step. A cut trace shares the full trace's arrays (``Growing`` views, never copies) and
reads its running extremes (the loss chart's floor, the heatmap's colour levels) from prefix
minima and maxima computed once per trace, so seeking anywhere costs two binary searches per model.
Qt-free.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .traces import Column, Growing, ModelTrace, TraceReadings

REPLAY_SECONDS = 4.0  # a replay's own length: the whole run in 4 s, whatever its number of steps


class Cut(Column):
    """The first ``count`` rows of a :class:`Growing` column, read-only (a view, not a copy)."""

    def __init__(self, column: Growing, count: int) -> None:
        self._column = column
        self.count = count

    def array(self) -> np.ndarray:
        return self._column.array()[: self.count]


@dataclass(frozen=True)
class RunningExtremes:
    """Per row ``k`` of a trace, the extremes over its rows ``0..k`` (what a live trace held after
    that many steps): finite minima and maxima, ``inf``/``-inf`` while there were none."""

    log_loss_min: np.ndarray
    log_grad_min: np.ndarray
    log_grad_max: np.ndarray
    heat_min: np.ndarray
    heat_max: np.ndarray
    heat_nonfinite: np.ndarray

    @classmethod
    def of(cls, trace: ModelTrace) -> RunningExtremes:
        inf = math.inf
        loss = trace.log_loss.array()
        grads = np.stack([trace.log_grad_before.array(), trace.log_grad_after.array()], axis=1)
        heat = trace.heat.array()
        with np.errstate(invalid="ignore"):
            finite_grads = np.isfinite(grads)
            finite_heat = np.isfinite(heat)
            return cls(
                log_loss_min=np.minimum.accumulate(np.where(np.isfinite(loss), loss, inf)),
                log_grad_min=np.minimum.accumulate(np.where(finite_grads, grads, inf).min(axis=1)),
                log_grad_max=np.maximum.accumulate(np.where(finite_grads, grads, -inf).max(axis=1)),
                heat_min=np.minimum.accumulate(np.where(finite_heat, heat, inf).min(axis=1, initial=inf)),
                heat_max=np.maximum.accumulate(np.where(finite_heat, heat, -inf).max(axis=1, initial=-inf)),
                heat_nonfinite=np.logical_or.accumulate(~finite_heat.all(axis=1)),
            )


class TraceAt(TraceReadings):
    """A model's trace as it stood after training step ``step``: what the views and the status
    lines read of a :class:`ModelTrace`, cut there. ``run`` and ``last`` (the engine's verdicts,
    "learned", a stop reason) are shown only once the model's whole record is on show."""

    def __init__(self, trace: ModelTrace, step: float, extremes: RunningExtremes) -> None:
        k = int(np.searchsorted(trace.step.array(), step, side="right"))
        e = int(np.searchsorted(trace.eval_step.array(), step, side="right"))
        whole = k == trace.step.count
        self.settings = trace.settings
        self.label = trace.label
        self.serial = trace.serial  # with the cut's length, the charts' "already shown" key
        self.run = trace.run if whole else None
        self.last = trace.last if whole else None
        self.step = Cut(trace.step, k)
        self.log_loss = Cut(trace.log_loss, k)
        self.log_grad_before = Cut(trace.log_grad_before, k)
        self.log_grad_after = Cut(trace.log_grad_after, k)
        self.heat = Cut(trace.heat, k)
        self.eval_step = Cut(trace.eval_step, e)
        self.accuracy_pct = Cut(trace.accuracy_pct, e)
        self.initial_eigenvalues = trace.initial_eigenvalues if k else None
        self.eigenvalues = _eigenvalues_after(trace, k)
        i = k - 1
        ok = k > 0
        self.log_loss_min = float(extremes.log_loss_min[i]) if ok else math.inf
        self.log_grad_min = float(extremes.log_grad_min[i]) if ok else math.inf
        self.log_grad_max = float(extremes.log_grad_max[i]) if ok else -math.inf
        self.heat_min = float(extremes.heat_min[i]) if ok else math.inf
        self.heat_max = float(extremes.heat_max[i]) if ok else -math.inf
        self.heat_nonfinite = bool(extremes.heat_nonfinite[i]) if ok else False


def _eigenvalues_after(trace: ModelTrace, k: int) -> np.ndarray | None:
    """The vanilla RNN's eigenvalues after its ``k``-th recorded step: the engine records them every
    step (``run.curves.eigenvalues``); the trace keeps only the first and the latest."""
    if k == 0 or trace.eigenvalues is None:
        return None
    if k == trace.step.count:
        return trace.eigenvalues
    recorded = trace.run.curves.eigenvalues if trace.run is not None else []
    return recorded[k - 1] if k - 1 < len(recorded) else None


class Replay:
    """The traces on show, played back over ``REPLAY_SECONDS`` (or any length a recording asks)."""

    def __init__(self, traces: Sequence[ModelTrace]) -> None:
        self.traces = list(traces)
        self.key = replay_key(traces)
        self._extremes = [RunningExtremes.of(tr) for tr in self.traces]
        shown = [tr.step.array() for tr in self.traces if tr.step.count]
        self.first_step = int(min(s[0] for s in shown)) if shown else 0
        self.last_step = int(max(s[-1] for s in shown)) if shown else 0

    @property
    def empty(self) -> bool:
        return self.last_step == 0

    def step_at(self, seconds: float, length: float = REPLAY_SECONDS) -> int:
        """The training step on show ``seconds`` into a replay lasting ``length``: the first recorded
        step at 0, the last from ``length`` on, evenly in between."""
        if not math.isfinite(seconds) or seconds <= 0.0:
            return self.first_step
        share = min(1.0, seconds / length)
        return self.first_step + int(round(share * (self.last_step - self.first_step)))

    def traces_at(self, step: int) -> list[TraceAt]:
        return [TraceAt(tr, step, ex) for tr, ex in zip(self.traces, self._extremes, strict=True)]


def replay_key(traces: Sequence[ModelTrace]) -> tuple:
    """Which traces, how long: a replay is rebuilt when the run on show changed."""
    return tuple((tr.serial, tr.step.count, tr.eval_step.count) for tr in traces)
