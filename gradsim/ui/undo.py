"""Undo for scenes that keep their settings in their widgets (not yet moved to a state object).

Scenes with a state record each change as a :class:`gradsim.ui.scenes.base.StateChange`. A scene
without one is recorded as a snapshot of its ``settings()`` before an action; undo applies the
snapshot and redo the settings it had when undone.
"""

from __future__ import annotations

from PySide6.QtGui import QUndoCommand


class SettingsSnapshot(QUndoCommand):
    def __init__(self, window, scenes: dict, label: str) -> None:
        super().__init__(label)
        self.window = window
        self.before = {sid: scene.settings() for sid, scene in scenes.items()}
        self.after: dict | None = None
        self.scenes = scenes

    def redo(self) -> None:
        if self.after is None:
            return  # the action itself runs after the snapshot is pushed
        self._apply(self.after)

    def undo(self) -> None:
        self.after = {sid: scene.settings() for sid, scene in self.scenes.items()}
        self._apply(self.before)

    def _apply(self, settings: dict) -> None:
        for sid, values in settings.items():
            try:
                self.scenes[sid].apply_settings(values)
            except ValueError as exc:
                self.window.show_error(f"could not undo: {exc}")
