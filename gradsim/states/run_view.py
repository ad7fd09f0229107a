"""State of a run window (File ▸ Open run…, ``gradsim gui --open-run F``), and its worker job.

Like a model window, a run window is built as a scene without being one of the registry's: the state
says which series of the log the heatmap shows and whether the window follows the file as the
training script appends to it; :func:`poll_run_job` reads what was appended and builds everything
the window draws (on the worker's files lane, so the follower is touched by one thread only).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..engine.errors import InputError
from ..engine.thresholds import Verdict
from ..monitor.runlog import Alert, RunLogFollower, is_reverse_series, series_verdict
from ..state import SceneState, flag, text
from .model_view import verdict_text


@dataclass(frozen=True)
class RunViewState(SceneState):
    scene_id = "run view"

    series: str | None = field(default=None, metadata=text(1000, optional=True))  # None: the log's first
    follow: bool = field(default=True, metadata=flag())


@dataclass
class RunSnapshot:
    """What the run window draws, built from the follower on the worker thread."""

    header: dict
    series_keys: list[str]
    key: str | None
    steps: np.ndarray
    matrix: np.ndarray  # rows = recorded steps, columns = t = 1..T; log10 norms (NaN = no value)
    alerts: list[str]  # one line per series or parameter and kind: which steps, and the latest detail
    alert_count: int  # threshold crossings in all
    finished: bool
    skipped: int
    incomplete: bool
    reset: bool
    vanish: float
    explode: float
    latest: np.ndarray  # the latest recorded step's own series (not padded)
    first: np.ndarray
    notes: list[str] = field(default_factory=list)
    # The latest step's verdict on this series, judged the way its direction carries the gradient
    # (a reverse direction from t = 1 up), and the badge's words for it.
    verdict: Verdict | None = None
    badge: str = ""

    def colour_range(self) -> tuple[float, float]:
        """The heatmap's colour range: the finite values' range, widened to a decade at least."""
        finite = self.matrix[np.isfinite(self.matrix)]
        if finite.size == 0:
            return -1.0, 1.0
        lo, hi = float(finite.min()), float(finite.max())
        if hi - lo < 1.0:
            mid = 0.5 * (lo + hi)
            lo, hi = mid - 0.5, mid + 0.5
        return lo, hi

    def status_lines(self, following: bool) -> list[str]:
        """How far the log has got, and what was wrong with it, one line each."""
        n = self.steps.size
        if self.finished:
            lines = [f"finished: {n} steps recorded"]
        else:
            lines = [f"{n} steps recorded" + (" — following" if following else "")]
        if self.skipped:
            lines.append(f"{self.skipped} damaged line(s) skipped")
        if self.incomplete:
            lines.append("last line incomplete (still being written, or cut off)")
        return lines + self.notes


def summarise_alerts(alerts: list[Alert]) -> list[str]:
    """One line per place and kind (``"gru/l0: vanishing, steps 1–3 (3×), latest from t = 4"``),
    ordered by the step of its latest alert (then by text)."""
    grouped: dict[tuple[str, str], list[Alert]] = {}
    for a in alerts:
        grouped.setdefault((a.where, a.kind), []).append(a)
    summary = []
    for (where, kind), items in grouped.items():
        first, last = items[0], items[-1]
        span = f"step {first.step}" if len(items) == 1 else f"steps {first.step}–{last.step} ({len(items)}×)"
        detail = f", latest from t = {last.first_t}" if last.first_t is not None else ""
        if last.first_t is not None and last.reverse:
            detail += " (counted up from t = 1)"
        summary.append((last.step, f"{where}: {kind}, {span}{detail}"))
    summary.sort()
    return [line for _step, line in summary]


def poll_run_job(follower: RunLogFollower, key: str | None, shown: tuple | None = None) -> RunSnapshot | None:
    """Read what was appended to the log and build the arrays of series ``key`` (the first if None).

    ``shown`` is ``(series key, records, finished)`` of what the view already draws: when nothing has
    changed the job returns None instead of rebuilding the same arrays every second."""
    new = follower.poll()
    log = follower.log
    if log is None:
        raise InputError(f"{follower.path}: not a gradsim run log yet (no complete header line)")
    if not new and not follower.reset and shown == (key, len(log.records), log.finished):
        return None
    keys = log.series_keys()
    if key not in keys:
        key = keys[0] if keys else None
    steps, matrix = log.heatmap(key) if key is not None else (np.zeros(0), np.zeros((0, 0)))
    rows = [r.layers[key] for r in log.records if key in r.layers] if key is not None else []
    alerts = log.alerts()
    verdict, badge = None, ""
    if rows:
        verdict = series_verdict(rows[-1], key, log.vanish_threshold, log.explode_threshold)
        bidirectional = any(is_reverse_series(k) for k in keys)  # the two directions count t apart
        badge = verdict_text(verdict, rows[-1].size, key if bidirectional else None)
    return RunSnapshot(
        header=log.header, series_keys=keys, key=key, steps=steps, matrix=matrix,
        alerts=summarise_alerts(alerts), alert_count=len(alerts), finished=log.finished,
        skipped=log.skipped_lines, incomplete=log.incomplete_tail, reset=follower.reset,
        vanish=log.vanish_threshold, explode=log.explode_threshold,
        latest=rows[-1].copy() if rows else np.zeros(0), first=rows[0].copy() if rows else np.zeros(0),
        notes=[str(n) for n in log.header.get("notes", [])], verdict=verdict, badge=badge,
    )


STATE = RunViewState
