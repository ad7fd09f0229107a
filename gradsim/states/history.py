"""State of the ``history`` scene: the event on show.

The events are data (``resources/timeline.json``, read and checked by :mod:`gradsim.content`); the
state names one of them by id, so a lesson step, a quiz's "show me" or an undo record can bring the
timeline back to 1991 without a window. No Qt here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache

from ..content import TimelineEvent, load_timeline
from ..state import SceneState, one_of


@cache
def timeline() -> tuple[TimelineEvent, ...]:
    """The shipped timeline, in year order (read and validated once)."""
    return tuple(load_timeline())


def event_ids() -> tuple[str, ...]:
    return tuple(e.id for e in timeline())


@dataclass(frozen=True)
class HistoryState(SceneState):
    scene_id = "history"

    event: str = field(default=event_ids()[0], metadata=one_of(event_ids()))

    def current(self) -> TimelineEvent:
        return next(e for e in timeline() if e.id == self.event)

    def moved(self, direction: int) -> HistoryState:
        """The state of the next (``direction > 0``) or previous event; itself at either end."""
        ids = event_ids()
        row = ids.index(self.event) + (1 if direction > 0 else -1)
        return self.replace(event=ids[row]) if 0 <= row < len(ids) else self


def read_timeline() -> list[TimelineEvent]:
    """Worker job: the timeline as the scene draws it."""
    return list(timeline())


STATE = HistoryState
