"""Lesson mode: a bar under the scenes that walks through a lesson file step by step.

Each step opens a scene (from its defaults, with the step's settings on top), shows the caption and
what to point at. The bar is one compact row of controls and a caption of at most three lines in the
body size, so the pictures above keep their room. Page Down / Page Up go forward and back, so a presentation clicker (which sends
exactly those keys) drives the demo; they are caught for the whole window while a lesson is open,
even when a spin box has the focus. Teachers build their own lessons by adding the app's current
state as a step, then saving; the file format is :mod:`gradsim.lesson`.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QMenu,
    QMenuBar,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from ..engine.errors import InputError
from ..lesson import LESSON_SUFFIX, Lesson, LessonStep, load_builtin_lesson, load_lesson, save_lesson
from .theme import Theme

LESSON_FILTER = f"gradsim lessons (*{LESSON_SUFFIX});;JSON files (*.json);;All files (*)"


CAPTION_LINES = 3  # the caption takes at most this many lines of body text; a longer one scrolls


def open_configured(window, scene_id: str, settings: dict) -> bool:
    """Open ``scene_id`` showing ``settings`` on top of its defaults, so a lesson step or a "show me"
    gives the same picture whatever the scene showed before (one undo step). Problems go to the
    message bar and change nothing."""
    try:
        scene = window.scene(scene_id)
    except ValueError as exc:  # a scene that is not part of this build, or unknown
        window.show_error(str(exc))
        return False
    try:
        if scene.State is not None:  # states apply on top of the defaults by themselves
            scene.apply_settings(settings)
            window.show_scene(scene_id)
        else:  # a scene that has not moved to a state object yet: back to its defaults first
            scene.reset()
            window.show_scene(scene_id, settings)
    except ValueError as exc:
        window.show_error(f"{scene_id}: {exc}" if not str(exc).startswith(scene_id) else str(exc))
        return False
    return True


class LessonBar(QFrame):
    """The lesson strip; hidden until a lesson is open. ``window`` is the main window."""

    step_shown = Signal(int)  # index of the step now shown

    def __init__(self, window, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.window_ = window
        self._lesson: Lesson | None = None
        self.index = 0
        self.path: Path | None = None
        self.setObjectName("lessonbar")

        outer = QVBoxLayout(self)
        outer.setContentsMargins(10, 4, 10, 6)
        outer.setSpacing(2)
        top = QHBoxLayout()
        top.setSpacing(6)
        self.title_label = QLabel()  # wraps rather than ends in "…": a long title takes a second line
        self.title_label.setWordWrap(True)
        self.title_label.setTextFormat(Qt.TextFormat.PlainText)
        self.title_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.step_label = QLabel()
        self.step_label.setObjectName("readout")
        self.step_label.setToolTip("Which step of the lesson is on screen")
        self.prev_button = QPushButton("◀")
        self.prev_button.setToolTip("Previous step (Page Up)")
        self.next_button = QPushButton("▶")
        self.next_button.setToolTip("Next step (Page Down, or a presentation clicker)")
        self.add_button = QPushButton("+ Step")
        self.add_button.setToolTip("Add the current scene and its settings as a new step after this one")
        self.save_button = QPushButton("Save…")
        self.save_button.setToolTip("Save this lesson as a file")
        self.close_button = QPushButton("✕")
        self.close_button.setToolTip("Close the lesson (the scenes stay as they are)")
        top.addWidget(self.title_label, 1)
        top.addWidget(self.step_label, 0)
        for b in (self.prev_button, self.next_button, self.add_button, self.save_button, self.close_button):
            top.addWidget(b, 0)
        outer.addLayout(top)
        # the caption and what to look at, in one label of at most CAPTION_LINES lines (then it scrolls)
        self.caption_label = QLabel()
        self.caption_label.setWordWrap(True)
        self.caption_label.setTextFormat(Qt.TextFormat.RichText)
        self.caption_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.caption_label.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.caption_scroll = QScrollArea()
        self.caption_scroll.setWidgetResizable(True)
        self.caption_scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.caption_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.caption_scroll.setWidget(self.caption_label)
        outer.addWidget(self.caption_scroll)

        self.prev_button.clicked.connect(self.previous_step)
        self.next_button.clicked.connect(self.next_step)
        self.add_button.clicked.connect(self.add_step_dialog)
        self.save_button.clicked.connect(self.save_dialog)
        self.close_button.clicked.connect(self.close_lesson)
        self.apply_theme(window.theme)
        self.hide()

    # -- menu ---------------------------------------------------------------------------------------
    def install_menu(self, menu_bar: QMenuBar) -> QMenu:
        """Add the "Lesson" menu (before Help when there is one)."""
        menu = QMenu("&Lesson", menu_bar)

        def add(text: str, slot, shortcut: str | None = None, tip: str = "") -> QAction:
            action = QAction(text, menu)
            if shortcut:
                action.setShortcut(QKeySequence(shortcut))
                action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
                self.window_.addAction(action)
            if tip:
                action.setStatusTip(tip)
            action.triggered.connect(slot)
            menu.addAction(action)
            return action

        add("Start the &built-in lesson", self.start_builtin, "Ctrl+L",
            "From 0.5²⁰ to an LSTM that keeps its gradient, across every scene")
        add("&Open lesson…", self.open_dialog, "Ctrl+Shift+O")
        add("&Save lesson as…", self.save_dialog, "Ctrl+Shift+S")
        menu.addSeparator()
        add("&Add current state as a step…", self.add_step_dialog, "Ctrl+Shift+A",
            "The current scene and its settings become a new step with your caption")
        # Page Up / Page Down are handled by the event filter so they work whatever has the focus
        nxt = add("&Next step\tPage Down", self.next_step)
        prv = add("&Previous step\tPage Up", self.previous_step)
        menu.addSeparator()
        close = add("&Close lesson", self.close_lesson)
        self._lesson_actions = [nxt, prv, close]
        help_action = next((a for a in menu_bar.actions() if a.text().replace("&", "") == "Help"), None)
        if help_action is not None:
            menu_bar.insertMenu(help_action, menu)
        else:
            menu_bar.addMenu(menu)
        self._update()
        return menu

    # -- lessons ------------------------------------------------------------------------------------
    @property
    def lesson(self) -> Lesson | None:
        return self._lesson

    @lesson.setter
    def lesson(self, lesson: Lesson | None) -> None:
        """Page Up / Page Down are the lesson's only while one is open: the application-wide key
        filter (a Python call for every event of every widget) is installed with it and removed
        with it."""
        self._lesson = lesson
        app = QApplication.instance()
        if app is not None:
            if lesson is not None:
                app.installEventFilter(self)  # installed once however often it is called
            else:
                app.removeEventFilter(self)

    def set_lesson(self, lesson: Lesson, start: int = 0, path: Path | None = None) -> None:
        self.lesson = lesson
        self.path = path
        self.show()
        self.go_to(start)

    def start_builtin(self) -> None:
        try:
            self.set_lesson(load_builtin_lesson())
        except InputError as exc:
            self.window_.show_error(str(exc))

    def load_path(self, path: str | Path) -> bool:
        """Open a lesson file; a bad file changes nothing and says why in one line."""
        try:
            lesson = load_lesson(path)
        except InputError as exc:
            self.window_.show_error(str(exc))
            return False
        self.set_lesson(lesson, 0, Path(path))
        self.window_.show_status(f"Opened lesson {Path(path).name}: {len(lesson.steps)} step{'' if len(lesson.steps) == 1 else 's'}")
        return True

    def save_path(self, path: str | Path) -> bool:
        if self.lesson is None or not self.lesson.steps:
            self.window_.show_error("There is no lesson to save: add a step first (Lesson menu)")
            return False
        path = Path(path)
        try:
            save_lesson(self.lesson, path)
        except (InputError, ValueError) as exc:
            self.window_.show_error(f"{path.name}: {exc}")
            return False
        except OSError as exc:
            self.window_.show_error(f"{path}: cannot write ({exc.strerror or exc})")
            return False
        self.path = path
        self.window_.show_status(f"Saved lesson {path}")
        return True

    def close_lesson(self) -> None:
        self.lesson = None
        self.index = 0
        self.hide()
        self._update()

    # -- steps --------------------------------------------------------------------------------------
    def go_to(self, index: int) -> None:
        if self.lesson is None or not self.lesson.steps:
            return
        self.index = max(0, min(index, len(self.lesson.steps) - 1))
        step = self.lesson.steps[self.index]
        self._update()
        bar = getattr(self.window_, "message_bar", None)
        if bar is not None:
            bar.hide()  # an error from the previous step is not about this one
        open_configured(self.window_, step.scene, step.settings)
        self.step_shown.emit(self.index)

    def next_step(self) -> None:
        if self.lesson is not None and self.index < len(self.lesson.steps) - 1:
            self.go_to(self.index + 1)

    def previous_step(self) -> None:
        if self.lesson is not None and self.index > 0:
            self.go_to(self.index - 1)

    def add_current_step(self, caption: str, point_at: str = "") -> LessonStep:
        """The current scene and its ``settings()`` as a new step after the one shown (or the first
        step of a new lesson), which becomes the step shown."""
        scene = self.window_.current_scene()
        if scene is None:
            raise InputError("no scene is open")
        if not caption.strip():
            raise InputError("a step needs a caption")
        step = LessonStep(scene.scene_id, scene.settings(), caption.strip(), point_at.strip())
        if self.lesson is None:
            self.lesson = Lesson("My lesson", [step])
            self.index = 0
        else:
            self.lesson.steps.insert(self.index + 1, step)
            self.index += 1
        self.show()
        self._update()
        return step

    # -- dialogs ------------------------------------------------------------------------------------
    def open_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self.window_, "Open lesson", str(Path.home()), LESSON_FILTER)
        if path:
            self.load_path(path)

    def save_dialog(self) -> None:
        if self.lesson is None:
            self.window_.show_error("There is no lesson to save: add a step first (Lesson menu)")
            return
        title, ok = QInputDialog.getText(self.window_, "Save lesson", "Title of the lesson:",
                                         QLineEdit.EchoMode.Normal, self.lesson.title)
        if not ok:
            return
        if title.strip():
            self.lesson.title = title.strip()
        default = str(self.path) if self.path is not None else str(Path.home() / f"my-lesson{LESSON_SUFFIX}")
        path, _ = QFileDialog.getSaveFileName(self.window_, "Save lesson", default, LESSON_FILTER)
        if path:
            if not path.endswith(".json"):
                path += LESSON_SUFFIX
            self.save_path(path)

    def add_step_dialog(self) -> None:
        scene = self.window_.current_scene()
        if scene is None:
            return
        caption, ok = QInputDialog.getMultiLineText(
            self.window_, "Add a lesson step",
            f"Caption for this step ({scene.title}); type {{{{0.5^20}}}} for a number the app computes (0.5²⁰):", "")
        if not ok or not caption.strip():
            return
        point_at, ok = QInputDialog.getText(self.window_, "Add a lesson step", "What should the class look at?")
        if not ok:
            point_at = ""
        try:
            self.add_current_step(caption, point_at)
        except InputError as exc:
            self.window_.show_error(str(exc))

    # -- drawing ------------------------------------------------------------------------------------
    def _update(self) -> None:
        active = self.lesson is not None and bool(self.lesson.steps)
        for action in getattr(self, "_lesson_actions", []):
            action.setEnabled(active)
        if not active:
            return
        step = self.lesson.steps[self.index]
        n = len(self.lesson.steps)
        self.title_label.setText(self.lesson.title)
        self.title_label.setToolTip(self.lesson.description or self.lesson.title)
        self.step_label.setText(f"Step {self.index + 1} of {n}")
        html = _esc(step.rendered_caption)
        if step.point_at:
            muted = getattr(getattr(self, "theme", None), "muted", "gray")
            html += f" <span style='color:{muted}'>Look at: {_esc(step.point_at)}.</span>"
        self.caption_label.setText(html)
        self.prev_button.setEnabled(self.index > 0)
        self.next_button.setEnabled(self.index < n - 1)
        self._fit_caption()

    def apply_theme(self, theme: Theme) -> None:
        self.theme = theme
        self.setStyleSheet(
            f"QFrame#lessonbar {{ background: {theme.panel}; border-top: 2px solid {theme.highlight}; }}"
            f"QFrame#lessonbar QLabel, QFrame#lessonbar QScrollArea {{ background: {theme.panel}; }}"
        )
        self.title_label.setStyleSheet(f"font-weight: bold; font-size: {theme.font_px}px;")
        self._update()
        self._fit_caption()

    def shown_caption(self) -> str:
        """The caption as the audience reads it (plain text: the step's caption and what to look at)."""
        from PySide6.QtGui import QTextDocument

        doc = QTextDocument()
        doc.setHtml(self.caption_label.text())
        return doc.toPlainText()

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt naming
        super().resizeEvent(event)
        self._fit_caption()

    def _fit_caption(self) -> None:
        """The caption area as tall as its text, up to CAPTION_LINES lines of body type."""
        width = max(100, self.caption_scroll.viewport().width() or self.width() - 20)
        needed = self.caption_label.heightForWidth(width)
        line = self.caption_label.fontMetrics().lineSpacing()
        self.caption_scroll.setFixedHeight(max(line, min(needed, CAPTION_LINES * line + 4)))

    # -- Page Up / Page Down for the whole window -----------------------------------------------------
    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt naming
        if (
            event.type() == QEvent.Type.KeyPress
            and self.lesson is not None
            and isinstance(obj, QWidget)
            and obj.window() is self.window_
            and event.key() in (Qt.Key.Key_PageDown, Qt.Key.Key_PageUp)
            and event.modifiers() in (Qt.KeyboardModifier.NoModifier, Qt.KeyboardModifier.KeypadModifier)
        ):
            if event.key() == Qt.Key.Key_PageDown:
                self.next_step()
            else:
                self.previous_step()
            return True
        return False

    def shutdown(self) -> None:
        """Stop listening to keys (the window is closing)."""
        app = QApplication.instance()
        if app is not None:
            app.removeEventFilter(self)


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
