"""The top-level window around a model or run view, and what the main window calls to open one.

The window is the view's scene context: it lends the main window's worker, theme and message bar,
and keeps an undo stack of its own (Ctrl+Z in a model window undoes that window's changes, not the
main window's). It lays the view out by the presenting rule of the main window (projector mode, or
narrower than 1280 pixels: the controls in a drawer, C opens it). It appears once there is
something to see (the first result, or the first progress of a slow file) and closes when the file
is refused or its first reading is stopped, saying why in the main window.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence, QUndoStack
from PySide6.QtWidgets import QApplication, QMainWindow

from ..app import PRESENTING_WIDTH
from ..theme import Theme
from .file_scene import FileScene
from .model import ModelView
from .run import RunView

DEFAULT_SIZE = (1280, 800)  # wide enough for the controls to be docked, where the screen allows


class _FileWindow(QMainWindow):
    """A window holding one :class:`FileScene`; it is that scene's context."""

    def __init__(self, main_window: Any, title: str) -> None:
        super().__init__(main_window)
        self.setWindowFlag(Qt.WindowType.Window, True)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, True)
        self.setWindowTitle(title)
        self.main_window = main_window
        self.worker = main_window.worker
        self.theme: Theme = main_window.theme
        self.undo_stack = QUndoStack(self)
        self.view: FileScene | None = None
        self._presenting: bool | None = None
        self._resize_to_screen()
        self._build_menus()

    def _resize_to_screen(self) -> None:
        parent = self.main_window
        screen = (parent.screen() if parent is not None else None) or QApplication.primaryScreen()
        available = screen.availableGeometry() if screen is not None else None
        width, height = DEFAULT_SIZE
        if available is not None:
            width, height = min(width, available.width()), min(height, available.height())
        self.resize(width, height)

    def _build_menus(self) -> None:
        edit = self.menuBar().addMenu("&Edit")
        undo = self.undo_stack.createUndoAction(self, "&Undo")
        undo.setShortcut(QKeySequence.StandardKey.Undo)
        redo = self.undo_stack.createRedoAction(self, "&Redo")
        redo.setShortcut(QKeySequence.StandardKey.Redo)
        edit.addAction(undo)
        edit.addAction(redo)
        view = self.menuBar().addMenu("&View")
        self.controls_action = QAction("Show &controls", self, checkable=True)
        self.controls_action.setShortcuts([QKeySequence("C"), QKeySequence("Ctrl+H")])
        self.controls_action.toggled.connect(self._set_controls_open)
        view.addAction(self.controls_action)
        close = QAction("&Close", self)
        close.setShortcut(QKeySequence.StandardKey.Close)
        close.triggered.connect(self.close)
        view.addAction(close)

    # -- the scene context ----------------------------------------------------------------------------
    def show_status(self, text: str, timeout_ms: int = 5000) -> None:
        self.main_window.show_status(text, timeout_ms)

    def show_error(self, text: str) -> None:
        self.main_window.show_error(text)

    # -- the view -------------------------------------------------------------------------------------
    def set_view(self, view: FileScene) -> None:
        self.view = view
        self.setCentralWidget(view)
        view.refused.connect(self._refused)
        view.abandoned.connect(self._abandoned)
        view.drawn.connect(self._appear)
        view.progressed.connect(self._appear)
        view.drawer_button.clicked.connect(self.controls_action.setChecked)
        self._lay_out()

    def _appear(self) -> None:
        if not self.isVisible():
            self.show()

    def _refused(self, message: str) -> None:
        self.show_error(message)
        self.close()

    def _abandoned(self, message: str) -> None:
        self.show_status(message)
        self.close()

    def presenting(self) -> bool:
        """The main window's rule: projector mode, or too narrow for docked controls."""
        return self.theme.projector or self.width() < PRESENTING_WIDTH

    def _lay_out(self) -> None:
        if self.view is None:
            return
        presenting = self.presenting()
        if presenting != self._presenting:  # docked controls open, a drawer closed, as in the main window
            self._presenting = presenting
            self.view.set_drawer_mode(presenting)
            self.controls_action.setChecked(not presenting)
            self._set_controls_open(not presenting)

    def _set_controls_open(self, open_: bool) -> None:
        if self.view is not None and self.view.controls_open() != open_:
            self.view.set_controls_open(open_)

    def set_theme(self, theme: Theme) -> None:
        self.theme = theme
        if self.view is not None:
            self.view.set_theme(theme)
        self._lay_out()

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt naming
        super().resizeEvent(event)
        self._lay_out()

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt naming
        if self.view is not None:
            self.view.shutdown()
        super().closeEvent(event)


def _open(main_window: Any, view_class: type[FileScene], path: str | Path, kind: str) -> _FileWindow:
    window = _FileWindow(main_window, f"gradsim: {kind} {Path(path).name}")
    window.set_view(view_class(window, path))
    return window


def open_model_window(main_window: Any, path: str | Path) -> _FileWindow:
    """File ▸ Open model…: a window for a saved state dict (shown once read or while a slow file
    reports progress; a refused file shows its one-line reason in the main window instead)."""
    return _open(main_window, ModelView, path, "model")


def open_run_window(main_window: Any, path: str | Path) -> _FileWindow:
    """File ▸ Open run…: a window following a monitor run log."""
    return _open(main_window, RunView, path, "run")


def restyle_windows(main_window: Any, theme: Theme) -> None:
    """Follow the main window's colour profile and type scale (``MainWindow.apply_theme`` calls it)."""
    for window in main_window.findChildren(_FileWindow):
        window.set_theme(theme)
