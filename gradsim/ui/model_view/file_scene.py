"""The scene base, for a file the user opened: a model window or a run window.

A :class:`FileScene` is a :class:`~gradsim.ui.scenes.base.Scene` (state, undo, requests to the
worker, the docked panel or the drawer), keyed by the file rather than by the registry, so that two
windows on two files never take each other's results. On top of the base it adds what reading a
file needs:

* a progress row under the title while a request reports progress (a large model: one eigenvalue
  block after another), with a Stop button that cancels it at the engine's next checkpoint;
* one rule for failures: before anything has been shown, the file is refused (``refused``: the
  window closes and the main window says why, in one line); after, the one line goes where the
  view shows it (``show_problem``) and what was shown stays.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QSizePolicy, QWidget

from ..scenes.base import Scene
from ..theme import Theme
from ..worker import describe_error

_WINDOW_NUMBERS = itertools.count(1)


class FileScene(Scene):
    """Subclass like a scene (``State``, ``build_controls``, ``build_views``, ``show_state``,
    ``refresh``, ``on_result``) and implement ``show_problem``; ``key_prefix`` names the kind."""

    key_prefix = "file"
    refused = Signal(str)  # nothing could be shown: the one-line reason (the window closes)
    abandoned = Signal(str)  # the user stopped the first reading: what was stopped (the window closes)
    progressed = Signal()  # a request reported progress (the window shows itself, if hidden)

    def __init__(self, context: Any, path: str | Path, parent: QWidget | None = None) -> None:
        self.path = Path(path)
        # per window, and never a registry id: the worker runs these requests in the visible lane
        self.scene_id = f"{self.key_prefix}-{next(_WINDOW_NUMBERS)}"
        self.title = self.path.name
        self.summary = "reading the file…"
        self._progress_key: str | None = None
        super().__init__(context, parent)
        self.views_layout.insertWidget(1, self._build_progress_row())  # right under the title
        self.drawn.connect(self.end_progress)

    # -- progress and stopping ----------------------------------------------------------------------
    def _build_progress_row(self) -> QWidget:
        row = QWidget()
        layout = QHBoxLayout(row)
        layout.setContentsMargins(0, 0, 0, 0)
        self.progress_label = QLabel()
        self.progress_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.progress_bar = QProgressBar()
        self.progress_bar.setTextVisible(False)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setToolTip("Stop reading: the work ends at its next checkpoint")
        self.stop_button.clicked.connect(self.stop_work)
        layout.addWidget(self.progress_label, 2)
        layout.addWidget(self.progress_bar, 3)
        layout.addWidget(self.stop_button, 0)
        row.hide()
        self.progress_row = row
        return row

    def on_progress(self, done: float, total: float, what: str, key: str) -> None:
        self._progress_key = key
        if total > 0:
            self.progress_bar.setRange(0, 1000)
            self.progress_bar.setValue(int(round(1000 * min(1.0, done / total))))
            self.progress_label.setText(f"{self.progress_subject(key)}: {what} {int(done)} of {int(total)}")
        else:
            self.progress_bar.setRange(0, 0)  # no total: a busy bar
            self.progress_label.setText(f"{self.progress_subject(key)}: {what}")
        self.progress_row.show()
        self.progressed.emit()

    def progress_subject(self, key: str) -> str:
        """What a request of ``key`` is doing, for the progress row ("Reading model.pt")."""
        return f"Reading {self.path.name}"

    def end_progress(self) -> None:
        self._progress_key = None
        self.progress_row.hide()

    def stop_work(self) -> None:
        """The Stop button: cancel the request that reports progress; if it was the first reading,
        there is nothing to show and the window closes."""
        key = self._progress_key
        self.end_progress()
        if key is None:
            return
        self.cancel_request(key)
        if not self.drawn_once:
            self.abandoned.emit(f"Stopped reading {self.path.name}")
        else:
            self.show_problem(f"{self.progress_subject(key)}: stopped", key)

    # -- failures -----------------------------------------------------------------------------------
    def on_error(self, exc: BaseException, key: str) -> None:
        self.end_progress()
        message = describe_error(exc)
        if not self.drawn_once:
            self.refused.emit(message)
        else:
            self.show_problem(message, key)

    def show_problem(self, message: str, key: str) -> None:
        """A request failed after something was shown: say so in one line, keep the picture."""
        raise NotImplementedError

    # -- the window closing -------------------------------------------------------------------------
    def shutdown(self) -> None:
        """Cancel this window's work and stop listening to the worker."""
        super().shutdown()
        worker = self.context.worker
        worker.cancel_prefix(self.scene_id + ":")
        for signal, slot in ((worker.finished, self._on_finished), (worker.errored, self._on_errored),
                             (worker.progress, self._on_progress)):
            try:
                signal.disconnect(slot)
            except (RuntimeError, TypeError):
                pass

    def set_summary(self, text: str) -> None:
        """The line under the title (what the file holds)."""
        self.summary = text
        self._update_header()


def caption_label(text: str = "") -> QLabel:
    """A muted, wrapped line of explanation that takes the width it is given."""
    label = QLabel(text)
    label.setObjectName("caption")
    label.setWordWrap(True)
    label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
    return label


def verdict_badge_label(tooltip: str) -> QLabel:
    badge = QLabel("…")
    badge.setObjectName("badge")
    badge.setAlignment(Qt.AlignmentFlag.AlignCenter)
    badge.setToolTip(tooltip)
    return badge


def paint_badge(badge: QLabel, kind: str, text: str, theme: Theme) -> None:
    """The verdict's text on the verdict's colour (``kind`` "" for none yet)."""
    colour = theme.verdict_colour(kind)
    badge.setText(text)
    badge.setStyleSheet(f"background: {colour}; color: {theme.on_colour(colour)};")
