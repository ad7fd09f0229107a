"""The main window: scene switcher, menus, keyboard control, projector mode, undo, files and export.

Scenes are created on first visit, so the window is on screen before any scene module (or torch) is
imported. All engine work runs on the shared :class:`ComputeWorker`; every change of a scene's state
is one command on the window's undo stack (Ctrl+Z / Ctrl+Shift+Z).

Presenting: in projector mode, or in a window narrower than 1280 pixels, each scene's controls move
into a drawer over the pictures that stays closed until the presenter opens it (C); full screen (F11)
hides the menu and status bars (every shortcut still works; Esc leaves). Type follows the window's
height (``theme.type_scale``).

Styling: the theme's style sheet is set on each part of the window (menu bar, scene bar, message and
lesson bars, status bar, dialogs) and on each scene, never on the window itself: a style sheet set on
a widget re-polishes every widget below it, so a window-wide sheet restyled all eight scenes, shown or
not, at every switch. A switch restyles the chrome and the visible scene; another scene is brought up
to date when it is next asked for (:meth:`MainWindow.scene`, which ``show_scene``, lessons, handouts,
recordings and screenshots all go through).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from PySide6.QtCore import QByteArray, QEvent, QPoint, QSettings, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QColor, QFont, QGuiApplication, QIcon, QKeySequence, QPalette, QUndoStack
from PySide6.QtWidgets import (
    QApplication,
    QButtonGroup,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMenu,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QStackedWidget,
    QToolButton,
    QToolTip,
    QVBoxLayout,
    QWidget,
)

from .. import __version__
from ..engine.errors import InputError
from ..paths import resource
from ..registry import entry
from . import scenes as scene_registry
from .plots import export_png, export_svg, write_csv
from .scenes.base import Scene
from .theme import Theme, stylesheet, theme_for
from .worker import ComputeWorker

SCENARIO_FILTER = "gradsim scenarios (*.gradsim.json);;JSON files (*.json);;All files (*)"
PRESENTING_WIDTH = 1280  # narrower windows (and projector mode) keep the controls in a drawer


class MessageBar(QFrame):
    """A one-line, dismissable message above the scene: errors never block the app with a dialog."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("messagebar")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 4, 6, 4)
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setTextFormat(Qt.TextFormat.PlainText)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._theme_sheet = ""  # the window's theme sheet; this bar adds its border colour to it
        self._border = ""
        close = QPushButton("✕")
        close.setFlat(True)
        close.setToolTip("Dismiss (Esc)")
        close.clicked.connect(self.hide)
        layout.addWidget(self.label, 1)
        layout.addWidget(close, 0)
        self.hide()

    def show_message(self, text: str, theme: Theme, error: bool = True) -> None:
        colour = theme.explode if error else theme.healthy
        self._border = f"QFrame#messagebar {{ border: 2px solid {colour}; border-radius: 4px; }}"
        self._restyle()
        self.label.setText(text)
        self.show()

    def set_theme_sheet(self, sheet: str) -> None:
        self._theme_sheet = sheet
        self._restyle()

    def _restyle(self) -> None:
        sheet = self._theme_sheet + self._border
        if self.styleSheet() != sheet:  # setting even the same sheet re-polishes every child
            self.setStyleSheet(sheet)


class SwitcherButton(QToolButton):
    """The scene switcher: as wide as the longest scene title, whatever it shows now.

    Its size hint says so too, because the menu bar places a corner widget by its size hint; a
    fixed width wider than the hint would run off the window's right edge."""

    def sizeHint(self):  # noqa: N802 - Qt naming
        hint = super().sizeHint()
        hint.setWidth(max(hint.width(), self.minimumWidth()))
        return hint


class SceneBar(QWidget):
    """The scenes by name: a strip of buttons when they fit, else one button with a menu.

    Either way every scene is one click (or its number key) away and the current one is named.
    """

    chosen = Signal(str)

    def __init__(self, entries: list[tuple[str, str, str]], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("scenebar")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        # The row of names must never hold the window wider than the screen asks for: ``fit`` turns it
        # into the compact switcher when the window is narrower (without this, a projector window made
        # at 1280 pixels could not be resized to 1024: the row's width was its minimum).
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self._ids = [e[0] for e in entries]
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 0, 4, 0)
        layout.setSpacing(0)
        self.group = QButtonGroup(self)
        self.group.setExclusive(True)
        self.buttons: dict[str, QToolButton] = {}
        for number, (scene_id, title, _target) in enumerate(entries, start=1):
            button = QToolButton()
            button.setObjectName("scenebutton")
            button.setCheckable(True)
            button.setText(f"{number} {entry(scene_id).short_title}")
            button.setToolTip(f"{title} (key {number})")
            button.clicked.connect(lambda _c=False, s=scene_id: self.chosen.emit(s))
            self.group.addButton(button)
            self.buttons[scene_id] = button
            layout.addWidget(button)
        self.menu = QMenu(self)
        for number, (scene_id, title, _target) in enumerate(entries, start=1):
            action = self.menu.addAction(f"{number}  {title}")
            action.triggered.connect(lambda _c=False, s=scene_id: self.chosen.emit(s))
        self.menu_button = self._switcher()
        layout.addWidget(self.menu_button)
        # the same switcher, for the menu bar's corner: when the names do not fit in a row, the row
        # goes and the switcher sits in the menu bar, which leaves the pictures more height
        self.corner_button = self._switcher()
        layout.addStretch(1)
        self._current: str | None = None
        self._compact = False
        self.menu_button.hide()

    def _switcher(self) -> QToolButton:
        button = SwitcherButton()
        button.setObjectName("scenebutton")
        button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        button.setToolTip(f"Choose a scene (keys 1-{len(self._ids)})")
        button.setMenu(self.menu)
        return button

    @property
    def compact(self) -> bool:
        return self._compact

    def set_current(self, scene_id: str) -> None:
        self._current = scene_id
        button = self.buttons.get(scene_id)
        if button is not None:
            button.setChecked(True)
        number = self._ids.index(scene_id) + 1 if scene_id in self._ids else 0
        for button in (self.menu_button, self.corner_button):
            button.setText(f"☰ {number} · {entry(scene_id).title}" if number else "☰ Scenes")

    def minimumSizeHint(self) -> QSize:  # noqa: N802 - Qt naming
        """As narrow as the compact switcher: a row of names that does not fit gives way to it, so
        it must not hold the window wider than that (a 1024-pixel window was kept at 1153)."""
        hint = super().minimumSizeHint()
        return QSize(min(hint.width(), self.menu_button.sizeHint().width() + 8), hint.height())

    def fit(self, width: int) -> bool:
        """Buttons if all of them fit ``width``, else the menu button; True when compact."""
        for button in (self.menu_button, self.corner_button):  # wide enough for every scene's title
            shown = button.text()
            widest = 0
            for scene_id in self._ids:
                button.setText(f"☰ {self._ids.index(scene_id) + 1} · {entry(scene_id).title}")
                widest = max(widest, button.sizeHint().width())
            button.setText(shown)
            button.setMinimumWidth(widest)
        needed = sum(b.sizeHint().width() for b in self.buttons.values()) + 12
        self._compact = needed > width
        for button in self.buttons.values():
            button.setVisible(not self._compact)
        self.menu_button.setVisible(self._compact)
        return self._compact


def _style_detached_tooltips(theme: Theme) -> None:
    """Colours and type for a tooltip that the window's style sheet does not reach (one Qt shows as
    a window of its own): QToolTip's palette and font, which restyle nothing else."""
    palette = QPalette()
    for role, colour in ((QPalette.ColorRole.ToolTipBase, theme.panel), (QPalette.ColorRole.Window, theme.panel),
                         (QPalette.ColorRole.ToolTipText, theme.foreground),
                         (QPalette.ColorRole.WindowText, theme.foreground)):
        palette.setColor(role, QColor(colour))
    QToolTip.setPalette(palette)
    font = QFont(QToolTip.font())
    font.setPixelSize(theme.font_px)
    QToolTip.setFont(font)


class MainWindow(QMainWindow):
    scene_shown = Signal(str)

    def __init__(self, projector: bool = False, use_settings: bool = True) -> None:
        super().__init__()
        self.setWindowTitle("gradsim: vanishing and exploding gradients")
        icon_path = resource("icons", "gradsim.svg")
        if icon_path.exists():
            self.setWindowIcon(QIcon(str(icon_path)))
        self._use_settings = use_settings
        self.settings_store = QSettings(os.environ.get("GRADSIM_SETTINGS_ORG", "gradsim"), "gradsim")
        if use_settings:
            projector = projector or self.settings_store.value("projector", False, type=bool)
        self.theme = theme_for(projector, 800)
        self.worker = ComputeWorker(self)
        self.undo_stack = QUndoStack(self)
        self.undo_stack.setUndoLimit(200)
        self.scenes: dict[str, Scene] = {}
        self._entries = scene_registry.available()
        self._presenting: bool | None = None
        self._styled: Theme | None = None  # the theme the chrome and the visible scene are styled in
        self._sheet = ""  # its style sheet
        self._recording = False  # rendering frames for a recording or a handout: no chrome
        self.undo_paused = False  # scenes change without undo records (a handout walking a lesson)
        self._controls_wanted: dict[bool, bool] = {}  # per layout: controls shown (docked) / drawer open

        central = QWidget()
        root = QVBoxLayout(central)
        root.setContentsMargins(0, 0, 0, 0)
        root.setSpacing(0)
        self.scene_bar = SceneBar(self._entries)
        self.scene_bar.chosen.connect(self.show_scene)
        root.addWidget(self.scene_bar)
        self.message_bar = MessageBar()
        root.addWidget(self.message_bar)
        self.stack = QStackedWidget()
        root.addWidget(self.stack, 1)
        self.setCentralWidget(central)

        self.toast = QLabel(central)  # status messages while the status bar is hidden (full screen)
        self.toast.setObjectName("toast")
        self.toast.hide()
        self._toast_timer = QTimer(self, singleShot=True)
        self._toast_timer.timeout.connect(self.toast.hide)

        self.busy = QProgressBar()
        self.busy.setRange(0, 0)
        self.busy.setMaximumWidth(120)
        self.busy.setToolTip("Computing…")
        self.busy.hide()
        self.statusBar().addPermanentWidget(self.busy)
        self._busy_timer = QTimer(self, singleShot=True, interval=200)
        self._busy_timer.timeout.connect(self.busy.show)
        self.worker.busy_changed.connect(self._on_busy)
        self._theme_timer = QTimer(self, singleShot=True, interval=120)
        self._theme_timer.timeout.connect(self._follow_size)

        self._build_menus()
        self.menuBar().setCornerWidget(self.scene_bar.corner_button, Qt.Corner.TopRightCorner)
        from .lesson_bar import LessonBar

        self.lesson_bar = None
        self.lesson_bar = LessonBar(self, parent=central)
        root.addWidget(self.lesson_bar)  # below the scenes: the pictures keep their room at the top
        self.lesson_bar.install_menu(self.menuBar())  # "Lesson" menu before Help
        self.apply_theme(self.theme)

    # -- menus and keys -----------------------------------------------------------------------------
    def _action(self, menu, text: str, slot, shortcut=None, tip: str = "", checkable: bool = False) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            if isinstance(shortcut, (list, tuple)):
                action.setShortcuts([QKeySequence(s) for s in shortcut])
            else:
                action.setShortcut(QKeySequence(shortcut))
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        if tip:
            action.setStatusTip(tip)
            action.setToolTip(tip)
        action.setCheckable(checkable)
        action.triggered.connect(slot)
        menu.addAction(action)
        self.addAction(action)  # shortcuts work even when the menu bar is hidden (full screen)
        return action

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        self._action(file_menu, "&Open scenario…", self.open_scenario_dialog, QKeySequence.StandardKey.Open,
                     "Open a *.gradsim.json scenario")
        self._action(file_menu, "&Save scenario as…", self.save_scenario_dialog, QKeySequence.StandardKey.Save,
                     "Save the current scene's scenario so it reopens to the same picture")
        file_menu.addSeparator()
        self._action(file_menu, "Open &model…", self.open_model_dialog, "Ctrl+Alt+M",
                     "Open a saved nn.RNN/LSTM/GRU state dict (.pt, .safetensors): W_hh eigenvalues and gradient flow")
        self._action(file_menu, "Open r&un…", self.open_run_dialog, "Ctrl+Alt+O",
                     "Open a training run saved by the lab or gradsim train (shown in the lab), or a "
                     "gradsim.monitor run log (followed while training writes it)")
        file_menu.addSeparator()
        self._action(file_menu, "Export picture as &PNG…", lambda: self.export_dialog("png"), "Ctrl+E")
        self._action(file_menu, "Export chart as S&VG…", lambda: self.export_dialog("svg"), "Ctrl+Shift+E")
        self._action(file_menu, "Export &data as CSV…", lambda: self.export_dialog("csv"), "Ctrl+Shift+D",
                     "The numbers behind the chart, straight from the engine")
        self._action(file_menu, "&Copy picture", self.copy_picture, "Ctrl+Shift+C")
        self._action(file_menu, "Export &animation…", self.export_animation_dialog, "Ctrl+Shift+G",
                     "Render the scene's animation frame by frame as GIF, WebP or MP4")
        self._action(file_menu, "Export lesson &handout…", self.export_handout_dialog, "Ctrl+Shift+H",
                     "One PDF page per lesson step (the open lesson, else the built-in one)")
        file_menu.addSeparator()
        self.file_menu = file_menu
        self._action(file_menu, "&Quit", self.close, QKeySequence.StandardKey.Quit)

        edit_menu = bar.addMenu("&Edit")
        self.undo_action = self.undo_stack.createUndoAction(self, "&Undo")
        self.undo_action.setShortcut(QKeySequence.StandardKey.Undo)
        self.redo_action = self.undo_stack.createRedoAction(self, "&Redo")
        self.redo_action.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
        for action in (self.undo_action, self.redo_action):
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
            edit_menu.addAction(action)
            self.addAction(action)
        self._action(edit_menu, "&Reset all", self.reset_all, "Ctrl+R", "Restore every scene's defaults (undoable)")

        view_menu = bar.addMenu("&View")
        self.projector_action = self._action(view_menu, "&Projector mode", self.toggle_projector, "Ctrl+P",
                                             "Light, high-contrast colours and large type for a projector",
                                             checkable=True)
        self.fullscreen_action = self._action(view_menu, "&Full screen", self.toggle_fullscreen, "F11",
                                              "Full screen without menu and status bars (Esc leaves)",
                                              checkable=True)
        self.controls_action = self._action(view_menu, "Show &controls", self.toggle_controls, ("C", "Ctrl+H"),
                                            "Show or hide the scene's controls (a drawer when presenting)",
                                            checkable=True)
        self.controls_action.setChecked(True)
        view_menu.addSeparator()
        for number, (scene_id, title, _t) in enumerate(self._entries, start=1):
            self._action(view_menu, f"{number}  {title}", lambda _c=False, s=scene_id: self.show_scene(s), str(number))
        self.view_menu = view_menu

        time_menu = bar.addMenu("&Animation")
        self._action(time_menu, "&Play / pause", lambda: self._scene_call("play_pause"), "Space")
        self._action(time_menu, "Step &forward", lambda: self._scene_call("step", 1), "Right")
        self._action(time_menu, "Step &back", lambda: self._scene_call("step", -1), "Left")
        self._action(time_menu, "&Rewind", lambda: self._scene_call("rewind"), "R", "Back to the start of the animation")

        help_menu = bar.addMenu("&Help")
        self._action(help_menu, "&Keyboard shortcuts", self.show_shortcuts, "F1")
        self._action(help_menu, "&About gradsim", self.show_about)
        esc = QAction(self)
        esc.setShortcut(QKeySequence("Esc"))
        esc.triggered.connect(self._escape)
        self.addAction(esc)

    def _escape(self) -> None:
        scene = self.current_scene()
        if scene is not None and scene.drawer_mode and scene.controls_open():
            self._set_controls(False)
            return
        if self.isFullScreen():
            self.toggle_fullscreen()
        self.message_bar.hide()

    def _scene_call(self, name: str, *args) -> None:
        scene = self.current_scene()
        if scene is not None:
            getattr(scene, name)(*args)

    # -- scenes -------------------------------------------------------------------------------------
    def scene_ids(self) -> list[str]:
        return [e[0] for e in self._entries]

    def current_scene(self) -> Scene | None:
        widget = self.stack.currentWidget()
        return widget if isinstance(widget, Scene) else None

    def scene(self, scene_id: str) -> Scene:
        """The scene with this id, created on first use, and up to date: in the window's theme and
        layout. Everything that shows, draws or records a scene gets it here (``show_scene``,
        lessons, handouts, recordings, screenshots), so a scene that was hidden at a theme switch is
        restyled before anyone sees it."""
        scene = self._scene(scene_id)
        self._bring_up_to_date(scene)
        return scene

    def _scene(self, scene_id: str) -> Scene:
        """The scene with this id, created on first use (in the window's theme), maybe not up to date."""
        if scene_id in self.scenes:
            return self.scenes[scene_id]
        target = next((t for s, _title, t in self._entries if s == scene_id), None)
        if target is None:
            raise InputError(f"unknown scene '{scene_id}' (available: {', '.join(self.scene_ids())})")
        cls = scene_registry.load_class(target)
        scene = cls(self, parent=self.stack)  # built in the window's theme (the scene carries its sheet)
        self.scenes[scene_id] = scene
        scene.set_bare(self._recording)
        self.stack.addWidget(scene)
        self._lay_out_scene(scene)
        scene.refresh()
        return scene

    def show_scene(self, scene_id: str, settings: dict | None = None) -> Scene:
        previous = self.current_scene()
        scene = self.scene(scene_id)
        if settings:
            scene.apply_settings(settings)
        if previous is not None and previous is not scene:
            previous.deactivate()
            if previous.drawer_mode:
                previous.set_controls_open(False)
        self.stack.setCurrentWidget(scene)
        self.scene_bar.set_current(scene_id)
        self._lay_out_scene(scene)
        scene.activate()
        self.scene_shown.emit(scene_id)
        return scene

    # -- messages -----------------------------------------------------------------------------------
    def show_status(self, text: str, timeout_ms: int = 5000) -> None:
        if self.statusBar().isVisible():
            self.statusBar().showMessage(text, timeout_ms)
            return
        self.toast.setWordWrap(False)
        self.toast.setText(text)
        parent = self.toast.parentWidget()
        self.toast.setMinimumSize(0, 0)
        self.toast.setMaximumSize(16777215, 16777215)
        one_line = self.toast.sizeHint()
        if one_line.width() <= parent.width() - 20:
            self.toast.setFixedSize(one_line)
        else:  # wrap: a few lines as wide as the window allows
            self.toast.setWordWrap(True)
            width = parent.width() - 20
            self.toast.setFixedWidth(width)
            inner = self.toast.contentsRect().width()
            self.toast.setFixedHeight(self.toast.heightForWidth(inner) + self.toast.height() - self.toast.contentsRect().height())
        bottom = parent.height()
        bar = self.lesson_bar
        if bar is not None and bar.isVisible() and parent.isAncestorOf(bar):  # above the lesson's buttons
            bottom = min(bottom, bar.mapTo(parent, QPoint(0, 0)).y())
        self.toast.move((parent.width() - self.toast.width()) // 2, max(0, bottom - self.toast.height() - 12))
        self.toast.raise_()
        self.toast.show()
        self._toast_timer.start(timeout_ms)

    def show_error(self, text: str) -> None:
        self.message_bar.show_message(text, self.theme, error=True)
        if self.statusBar().isVisible():
            self.statusBar().showMessage(text, 10000)

    def _on_busy(self, busy: bool) -> None:
        if busy:
            self._busy_timer.start()
        else:
            self._busy_timer.stop()
            self.busy.hide()

    # -- theme and layout -----------------------------------------------------------------------------
    def apply_theme(self, theme: Theme) -> None:
        """Restyle the window for ``theme``: its chrome, dialogs and model windows, and the visible
        scene now; the other scenes when next asked for (``scene``). The theme it has already costs
        nothing (a type size that followed the window's height makes another theme)."""
        if theme == self._styled:
            self.theme = theme
            return
        self.theme = self._styled = theme
        # Each part's own sheet, not the window's (see the module docstring) and not the
        # application's: a second window (a test's, a tool's) must not restyle this one.
        self._sheet = sheet = stylesheet(theme)
        for part in (self.menuBar(), self.statusBar(), self.scene_bar, self.toast, *self._child_windows()):
            part.setStyleSheet(sheet)  # the menus, the corner switcher, the busy bar are their children
        self.message_bar.set_theme_sheet(sheet)
        # A tooltip is a child of the widget it explains, so that widget's sheet styles it. For one
        # shown elsewhere, QToolTip's own palette and font: an application style sheet would do it
        # too, but changing one re-polishes every widget of every window (2.3 s with all scenes built).
        _style_detached_tooltips(theme)
        self.projector_action.setChecked(theme.projector)
        if self.lesson_bar is not None and hasattr(self.lesson_bar, "apply_theme"):
            self.lesson_bar.apply_theme(theme)
            if not self.lesson_bar.styleSheet().startswith(sheet):  # its own rules on top of the theme's
                self.lesson_bar.setStyleSheet(sheet + self.lesson_bar.styleSheet())
        if "gradsim.ui.model_view" in sys.modules:  # restyle open model/run windows, if any
            from .model_view import restyle_windows

            restyle_windows(self, theme)
        current = self.current_scene()
        if current is not None:
            current.set_theme(theme, lay_out=self._update_layout)
        else:
            self._update_layout()
        # laid out in the new theme before this returns: the window's minimum size is the theme's,
        # not one from halfway through the switch (a resize right after would be held to it)
        QApplication.sendPostedEvents(None, QEvent.Type.LayoutRequest)

    def _bring_up_to_date(self, scene: Scene) -> None:
        """The window's theme and layout on a scene that may have been hidden when they changed."""
        scene.set_theme(self.theme, lay_out=lambda: self._lay_out_hidden(scene))

    def _lay_out_hidden(self, scene: Scene) -> None:
        """A scene's layout (drawer or docked) and, while it is hidden, the room it will have on show:
        its ``apply_theme`` measures that room (a hidden page of the stack keeps the size it had)."""
        self._lay_out_scene(scene)
        if not scene.isVisible():
            scene.setGeometry(self.stack.contentsRect())
            scene.layout().activate()  # a hidden widget's layout waits for its show otherwise

    def _child_windows(self) -> list[QWidget]:
        """Dialogs and model/run windows parented to this window (styled like its parts)."""
        return [c for c in self.children() if isinstance(c, QWidget) and c.isWindow()]

    def childEvent(self, event) -> None:  # noqa: N802 - Qt naming
        """A dialog (a message box, a file or input dialog, a progress dialog) or a model window
        opened on this window takes the theme's sheet before it is first shown: polished, not yet
        laid out."""
        super().childEvent(event)
        sheet = getattr(self, "_sheet", "")  # child events arrive while QMainWindow is built too
        if event.type() == QEvent.Type.ChildPolished and sheet:
            child = event.child()
            if isinstance(child, QWidget) and child.isWindow() and child.styleSheet() != sheet:
                child.setStyleSheet(sheet)

    def toggle_projector(self) -> None:
        self.apply_theme(theme_for(not self.theme.projector, self._content_height()))
        if self._use_settings:
            self.settings_store.setValue("projector", self.theme.projector)

    def presenting(self) -> bool:
        """Projector mode, or a window too narrow for a docked control panel."""
        return self.theme.projector or self.width() < PRESENTING_WIDTH

    def _content_height(self) -> int:
        return max(240, self.height())

    def _follow_size(self) -> None:
        """After a resize: type that follows the window's height, and the layout that fits its width."""
        wanted = theme_for(self.theme.projector, self._content_height())
        if wanted != self.theme:
            self.apply_theme(wanted)
        else:
            self._update_layout()

    def _update_layout(self) -> None:
        presenting = self.presenting()
        if presenting != self._presenting:
            self._presenting = presenting
            self.controls_action.setChecked(self._controls_wanted.get(presenting, not presenting))
        current = self.current_scene()  # the others when next asked for (``scene``)
        if current is not None:
            self._lay_out_scene(current)
        self._place_chrome()

    def _place_chrome(self) -> None:
        """Scene names in a row when they fit, else a switcher in the menu bar (a row in full screen);
        the status bar only in a docked layout (presenting, messages appear over the picture)."""
        full = self.isFullScreen() or self._recording
        compact = self.scene_bar.fit(self.width())
        in_corner = compact and not full
        self.scene_bar.setVisible(not in_corner and not self._recording)
        self.scene_bar.corner_button.setVisible(in_corner)
        self.menuBar().setVisible(not full)
        if in_corner:  # the menu bar lays out its corner only when told
            self.menuBar().setCornerWidget(self.scene_bar.corner_button, Qt.Corner.TopRightCorner)
        self.statusBar().setVisible(not full and not self.presenting())

    def _lay_out_scene(self, scene: Scene) -> None:
        presenting = self.presenting() if self._presenting is None else self._presenting
        scene.set_drawer_mode(presenting)
        wanted = self.controls_action.isChecked()
        if scene.controls_open() != wanted:
            scene.set_controls_open(wanted)

    def toggle_controls(self) -> None:
        self._set_controls(self.controls_action.isChecked())

    def _set_controls(self, visible: bool) -> None:
        self.controls_action.setChecked(visible)
        self._controls_wanted[bool(self._presenting)] = visible
        for scene in self.scenes.values():
            scene.set_controls_open(visible)

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt naming
        super().resizeEvent(event)
        if self._presenting is not None and self.presenting() != self._presenting:
            self._update_layout()  # at once: the drawer must not flash docked
        else:
            self._place_chrome()
        self._theme_timer.start()

    def changeEvent(self, event) -> None:  # noqa: N802 - Qt naming
        super().changeEvent(event)
        if event.type() == QEvent.Type.WindowStateChange:
            self.fullscreen_action.setChecked(self.isFullScreen())
            self._place_chrome()

    def set_recording(self, on: bool, size: tuple[int, int] | None = None) -> None:
        """Frames for a recording or a handout: no menu, status or scene bar, controls closed, and the
        content ``size`` pixels, or the same picture drawn k times larger where the layout needs more
        room than ``size`` (the frames are then scaled down by k: type follows the window, so the
        picture keeps its proportions)."""
        self._recording = on
        for scene in self.scenes.values():
            scene.set_bare(on)
        if on:
            self._set_controls(False)
            self.message_bar.hide()
            self.toast.hide()  # a status note ("Loaded … from …") is not part of any frame
        self._place_chrome()
        if on and size is not None:
            self.resize(*size)
            self._follow_size()
            QApplication.processEvents()
            need = self.minimumSizeHint()
            k = max(1.0, need.width() / size[0], need.height() / size[1])
            if k > 1.0:
                self.resize(int(round(size[0] * k)), int(round(size[1] * k)))
                self._follow_size()
            # a new size can switch the layout (drawer / docked), and a layout brings back its own
            # choice of controls: closed again for the frames
            self._set_controls(False)

    def toggle_fullscreen(self) -> None:
        if self.isFullScreen():
            self.showNormal()
        else:
            self.showFullScreen()
        self.fullscreen_action.setChecked(self.isFullScreen())
        self._place_chrome()

    # -- undo / reset -------------------------------------------------------------------------------
    def _push_undo(self, label: str, scene_ids: list[str] | None = None) -> None:
        """Record the settings of scenes that do not keep a state object yet (their next change is
        then undoable as a whole). Scenes with a state record their own changes."""
        from .undo import SettingsSnapshot

        ids = scene_ids if scene_ids is not None else list(self.scenes)
        legacy = {sid: self.scenes[sid] for sid in ids if sid in self.scenes and self.scenes[sid].State is None}
        if legacy:
            self.undo_stack.push(SettingsSnapshot(self, legacy, label))

    def undo(self) -> None:
        self.undo_stack.undo()

    def redo(self) -> None:
        self.undo_stack.redo()

    def reset_all(self) -> None:
        self.undo_stack.beginMacro("reset all")
        try:
            self._push_undo("reset all")
            for scene in self.scenes.values():
                scene.reset()
        finally:
            self.undo_stack.endMacro()
        self.show_status("Every scene is back to its defaults (Ctrl+Z undoes)", 8000)

    # -- files --------------------------------------------------------------------------------------
    def open_scenario_path(self, path: str | Path) -> bool:
        """Load a scenario file into the flow scene. A bad file changes nothing and says why."""
        from ..engine.scenario import load_scenario
        from .worker import read_off_gui_thread

        try:
            scenario = read_off_gui_thread(self.worker, load_scenario, path)
        except InputError as exc:
            self.show_error(str(exc))
            return False
        target = "gates" if scenario.cell != "rnn" and "gates" in self.scene_ids() else "flow"
        self._push_undo(f"open {Path(path).name}", [target])
        scene = self.show_scene(target)
        self.message_bar.hide()
        if not scene.open_scenario(scenario):
            # a valid file the scene refuses is beyond what the app shows: keep the scene's reason (its
            # limits) and name the command line, which takes every valid file
            reason = self.message_bar.label.text() if not self.message_bar.isHidden() else ""
            reason = reason or "this scene cannot show the scenario"
            if "gradsim flow" not in reason:
                reason += f"; use `gradsim flow --scenario {Path(path).name}` for it"
            self.show_error(f"{Path(path).name}: {reason}")
            return False
        self.show_status(f"Opened {path}")
        self.message_bar.hide()
        return True

    def open_scenario_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open scenario", self._last_dir(), SCENARIO_FILTER)
        if path:
            self._remember_dir(path)
            self.open_scenario_path(path)

    def save_scenario_path(self, path: str | Path) -> bool:
        scene = self.current_scene()
        doc = scene.scenario_document() if scene is not None else None
        if doc is None:
            self.show_error("This scene has no scenario to save; open the gradient flow scene")
            return False
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp")
        try:
            tmp.write_text(json.dumps(doc, indent=1, allow_nan=False) + "\n", encoding="utf-8")
            tmp.replace(path)
        except OSError as exc:
            self.show_error(f"{path}: cannot write ({exc.strerror or exc})")
            return False
        self.show_status(f"Saved {path}")
        return True

    def save_scenario_dialog(self) -> None:
        default = str(Path(self._last_dir()) / "scenario.gradsim.json")
        path, _ = QFileDialog.getSaveFileName(self, "Save scenario", default, SCENARIO_FILTER)
        if path:
            if not path.endswith(".json"):
                path += ".gradsim.json"
            self._remember_dir(path)
            self.save_scenario_path(path)

    def export_to(self, kind: str, path: str | Path) -> bool:
        scene = self.current_scene()
        if scene is None:
            return False
        try:
            if kind == "png":
                export_png(scene.export_widget(), path)
            elif kind == "svg":
                plot = scene.export_plot()
                if plot is None:
                    self.show_error("This scene has no chart to export as SVG")
                    return False
                export_svg(plot, path)
            elif kind == "csv":
                columns = scene.export_columns()
                if columns is None:
                    self.show_error("This scene has no data to export")
                    return False
                write_csv(path, columns)
            else:
                raise ValueError(kind)
        except OSError as exc:
            self.show_error(f"{path}: cannot write ({exc.strerror or exc})")
            return False
        self.show_status(f"Exported {path}")
        return True

    def export_dialog(self, kind: str) -> None:
        scene = self.current_scene()
        if scene is None:
            return
        filters = {"png": "PNG image (*.png)", "svg": "SVG drawing (*.svg)", "csv": "CSV table (*.csv)"}
        default = str(Path(self._last_dir()) / f"gradsim-{scene.scene_id}.{kind}")
        path, _ = QFileDialog.getSaveFileName(self, f"Export {kind.upper()}", default, filters[kind])
        if path:
            self._remember_dir(path)
            self.export_to(kind, path)

    def open_model_path(self, path):
        from .model_view import open_model_window

        self._remember_dir(str(path))
        return open_model_window(self, path)

    def open_run_path(self, path):
        """A run saved by the lab or ``gradsim train --save`` opens in the training lab; a
        gradsim.monitor run log in its own window, followed as it grows."""
        from ..engine.training import is_saved_run
        from .model_view import open_run_window

        self._remember_dir(str(path))
        if is_saved_run(path):
            lab = self.show_scene("training")
            return lab if lab.load_run_from(path) else None
        return open_run_window(self, path)

    def open_model_dialog(self) -> None:
        from .model_view import MODEL_FILTER

        path, _ = QFileDialog.getOpenFileName(self, "Open model", self._last_dir(), MODEL_FILTER)
        if path:
            self.open_model_path(path)

    def open_run_dialog(self) -> None:
        from .lab.files import OPEN_RUN_FILTER

        path, _ = QFileDialog.getOpenFileName(self, "Open run", self._last_dir(), OPEN_RUN_FILTER)
        if path:
            self.open_run_path(path)

    def export_animation(self, path: str | Path, seconds: float | None = None, fps: int = 30,
                         progress=None) -> bool:
        """Record the current scene's animation at the window's present size; errors in the bar."""
        from . import record

        scene = self.current_scene()
        if scene is None:
            return False
        try:
            record.check_timing(seconds, fps)
            record.check_target(path)
            self.set_recording(True)
            try:
                record.wait_until_drawn(self)
                shots = record.scene_shots(self, scene, seconds, fps)
                total = sum(s.frames for s in shots)
                result = record.write(path, record.render_frames(self.centralWidget(), shots, fps), total, fps,
                                      progress)
            finally:
                self.set_recording(False)
        except InputError as exc:
            self.show_error(str(exc))
            return False
        self.show_status(f"Wrote {result.path.name}: {result.frames} frames, {result.bytes / 1e6:.1f} MB")
        return True

    def _progress_dialog(self, text: str):
        """A window-modal progress dialog for a long export, and the ``progress(done, total)``
        callback the writers call: it moves the bar and answers False once Cancel is pressed."""
        from PySide6.QtWidgets import QProgressDialog

        dialog = QProgressDialog(text, "Cancel", 0, 100, self)
        dialog.setWindowModality(Qt.WindowModality.WindowModal)
        dialog.setMinimumDuration(300)

        def progress(done: int, total: int) -> bool:
            dialog.setMaximum(total)
            dialog.setValue(done)
            return not dialog.wasCanceled()

        return dialog, progress

    def export_animation_dialog(self) -> None:
        scene = self.current_scene()
        if scene is None:
            return
        default = str(Path(self._last_dir()) / f"gradsim-{scene.scene_id}.gif")
        path, _ = QFileDialog.getSaveFileName(self, "Export animation", default,
                                              "GIF (*.gif);;WebP (*.webp);;MP4 video (*.mp4)")
        if not path:
            return
        self._remember_dir(path)
        dialog, progress = self._progress_dialog("Rendering frames…")
        self.export_animation(path, progress=progress)
        dialog.close()

    def export_handout(self, path: str | Path, page: str = "a4", progress=None) -> bool:
        from ..lesson import load_builtin_lesson
        from .handout import write_handout

        bar = self.lesson_bar
        lesson, index = (bar.lesson, bar.index) if bar is not None and bar.lesson else (None, 0)
        current = self.current_scene()
        before = {sid: s.state for sid, s in self.scenes.items() if s.state is not None}
        legacy = {sid: s.settings() for sid, s in self.scenes.items() if s.state is None}
        self.undo_paused = True
        try:
            pages = write_handout(self, lesson or load_builtin_lesson(), path, page, progress)
        except InputError as exc:
            self.show_error(str(exc))
            return False
        finally:  # the handout walked through the lesson: put the lesson bar and every scene back
            if lesson is None:
                bar.close_lesson()
            else:
                bar.set_lesson(lesson, start=index)
            for sid, scene in self.scenes.items():
                if scene.State is not None:
                    scene.adopt_state(before.get(sid, scene.State()))
                elif sid in legacy:
                    scene.apply_settings(legacy[sid])
            self.undo_paused = False
            if current is not None:
                self.show_scene(current.scene_id)
        self.show_status(f"Wrote {Path(path).name}: {pages} pages")
        return True

    def export_handout_dialog(self) -> None:
        default = str(Path(self._last_dir()) / "gradsim-lesson.pdf")
        path, chosen = QFileDialog.getSaveFileName(self, "Export lesson handout", default,
                                                   "PDF, A4 (*.pdf);;PDF, Letter (*.pdf)")
        if not path:
            return
        self._remember_dir(path)
        dialog, progress = self._progress_dialog("Drawing the lesson's pages…")
        self.export_handout(path, "letter" if "Letter" in chosen else "a4", progress)
        dialog.close()

    def copy_picture(self) -> None:
        scene = self.current_scene()
        if scene is not None:
            QGuiApplication.clipboard().setPixmap(scene.export_widget().grab())
            self.show_status("Picture copied to the clipboard")

    def _last_dir(self) -> str:
        return str(self.settings_store.value("last_dir", str(Path.home())))

    def _remember_dir(self, path: str) -> None:
        if self._use_settings:
            self.settings_store.setValue("last_dir", str(Path(path).parent))

    # -- help ---------------------------------------------------------------------------------------
    def show_shortcuts(self) -> None:
        lines = [
            "Space: play / pause the animation",
            "← / →: step the animation",
            "R: rewind the animation",
            f"1-{len(self._entries)}: switch scene (or click its name at the top)",
            "C: show or hide the scene's controls (Ctrl+H too)",
            "Ctrl+P: projector mode   F11: full screen   Esc: leave full screen",
            "Ctrl+Z / Ctrl+Shift+Z: undo / redo   Ctrl+R: reset all",
            "Ctrl+O / Ctrl+S: open / save a scenario",
            "Ctrl+Alt+M / Ctrl+Alt+O: open a saved model / a monitor run log",
            "Ctrl+E: export picture   Ctrl+Shift+D: export data (CSV)",
            "Page Up / Page Down: previous / next lesson step",
        ]
        QMessageBox.information(self, "Keyboard shortcuts", "\n".join(lines))

    def show_about(self) -> None:
        QMessageBox.about(
            self,
            "About gradsim",
            f"<b>gradsim {__version__}</b><p>A simulator that makes the vanishing and exploding gradient "
            "problem of recurrent networks visible and measurable. Every number comes from an exact "
            "engine checked against PyTorch float64 autograd.</p>",
        )

    # -- persistence and shutdown ---------------------------------------------------------------------
    def restore_state(self) -> str | None:
        if not self._use_settings:
            return None
        geometry = self.settings_store.value("geometry")
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)
        last = self.settings_store.value("last_scene")
        return str(last) if last else None

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt naming
        if self._use_settings:
            self.settings_store.setValue("geometry", self.saveGeometry())
            scene = self.current_scene()
            if scene is not None:
                self.settings_store.setValue("last_scene", scene.scene_id)
            self.settings_store.setValue("projector", self.theme.projector)
        for scene in self.scenes.values():
            try:
                scene.shutdown()
            except Exception:
                pass
        if self.lesson_bar is not None:
            self.lesson_bar.shutdown()
        self.worker.shutdown()
        super().closeEvent(event)
