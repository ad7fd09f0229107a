"""The main window: scene navigator, menus, keyboard control, projector mode, files and export.

Scenes are created on first visit, so the window is on screen before any scene module (or torch) is
imported. All engine work runs on the shared :class:`ComputeWorker`.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QGuiApplication, QIcon, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from .. import __version__
from ..engine.errors import InputError
from ..paths import resource
from . import scenes as scene_registry
from .plots import export_png, export_svg, write_csv
from .scenes.base import Scene
from .theme import Theme, stylesheet, theme_for
from .worker import ComputeWorker

SCENARIO_FILTER = "gradsim scenarios (*.gradsim.json);;JSON files (*.json);;All files (*)"


class MessageBar(QFrame):
    """A one-line, dismissable message above the scene: errors never block the app with a dialog."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("messagebar")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 4, 6, 4)
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        close = QPushButton("✕")
        close.setFlat(True)
        close.setToolTip("Dismiss (Esc)")
        close.clicked.connect(self.hide)
        layout.addWidget(self.label, 1)
        layout.addWidget(close, 0)
        self.hide()

    def show_message(self, text: str, theme: Theme, error: bool = True) -> None:
        colour = theme.explode if error else theme.healthy
        self.setStyleSheet(f"QFrame#messagebar {{ border: 2px solid {colour}; border-radius: 4px; }}")
        self.label.setText(text)
        self.show()


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
        self.theme = theme_for(projector)
        self.worker = ComputeWorker(self)
        self.scenes: dict[str, Scene] = {}
        self._entries = scene_registry.available()
        self._undo: list[tuple[str, dict[str, dict]]] = []
        self._current_scenario_path: Path | None = None

        central = QWidget()
        root = QVBoxLayout(central)
        root.setContentsMargins(0, 0, 0, 0)
        root.setSpacing(0)
        self.message_bar = MessageBar()
        root.addWidget(self.message_bar)
        body = QHBoxLayout()
        body.setContentsMargins(0, 0, 0, 0)
        body.setSpacing(0)
        self.navigator = QListWidget()
        self.navigator.setToolTip("Scenes (keys 1-8 switch)")
        for number, (scene_id, title, _target) in enumerate(self._entries, start=1):
            item = QListWidgetItem(f"{number}  {title}")
            item.setData(Qt.ItemDataRole.UserRole, scene_id)
            self.navigator.addItem(item)
        self.stack = QStackedWidget()
        body.addWidget(self.navigator, 0)
        body.addWidget(self.stack, 1)
        root.addLayout(body, 1)
        self.setCentralWidget(central)

        self.busy = QProgressBar()
        self.busy.setRange(0, 0)
        self.busy.setMaximumWidth(120)
        self.busy.setToolTip("Computing…")
        self.busy.hide()
        self.mode_label = QLabel()
        self.statusBar().addPermanentWidget(self.busy)
        self.statusBar().addPermanentWidget(self.mode_label)
        self._busy_timer = QTimer(self, singleShot=True, interval=200)
        self._busy_timer.timeout.connect(self.busy.show)
        self.worker.busy_changed.connect(self._on_busy)

        self._build_menus()
        self.navigator.currentRowChanged.connect(self._on_nav_row)
        from .lesson_bar import LessonBar

        self.lesson_bar = None
        self.lesson_bar = LessonBar(self, parent=central)
        root.insertWidget(1, self.lesson_bar)  # below the message bar, above the scenes
        self.lesson_bar.install_menu(self.menuBar())  # "Lesson" menu before Help
        self.apply_theme(self.theme)

    # -- menus and keys -----------------------------------------------------------------------------
    def _action(self, menu, text: str, slot, shortcut=None, tip: str = "", checkable: bool = False) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
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
                     "Open a gradsim.monitor run log and follow it while training writes it")
        file_menu.addSeparator()
        self._action(file_menu, "Export picture as &PNG…", lambda: self.export_dialog("png"), "Ctrl+E")
        self._action(file_menu, "Export chart as S&VG…", lambda: self.export_dialog("svg"), "Ctrl+Shift+E")
        self._action(file_menu, "Export &data as CSV…", lambda: self.export_dialog("csv"), "Ctrl+Shift+D",
                     "The numbers behind the chart, straight from the engine")
        self._action(file_menu, "&Copy picture", self.copy_picture, "Ctrl+Shift+C")
        file_menu.addSeparator()
        self.file_menu = file_menu
        self._action(file_menu, "&Quit", self.close, QKeySequence.StandardKey.Quit)

        edit_menu = bar.addMenu("&Edit")
        self.undo_action = self._action(edit_menu, "&Undo", self.undo, QKeySequence.StandardKey.Undo,
                                        "Undo the last reset, preset or opened file")
        self.undo_action.setEnabled(False)
        self._action(edit_menu, "&Reset all", self.reset_all, "Ctrl+R", "Restore every scene's defaults (undoable)")

        view_menu = bar.addMenu("&View")
        self.projector_action = self._action(view_menu, "&Projector mode", self.toggle_projector, "Ctrl+P",
                                             "Light, high-contrast colours and large type for a projector",
                                             checkable=True)
        self.fullscreen_action = self._action(view_menu, "&Full screen", self.toggle_fullscreen, "F11",
                                              checkable=True)
        self.controls_action = self._action(view_menu, "Show &controls", self.toggle_controls, "Ctrl+H",
                                            "Hide the control panels to give the charts the whole screen",
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
        """The scene with this id, created on first use."""
        if scene_id not in self.scenes:
            target = next((t for s, _title, t in self._entries if s == scene_id), None)
            if target is None:
                raise InputError(f"unknown scene '{scene_id}' (available: {', '.join(self.scene_ids())})")
            cls = scene_registry.load_class(target)
            scene = cls(self)
            scene.set_controls_visible(self.controls_action.isChecked())
            self.scenes[scene_id] = scene
            self.stack.addWidget(scene)
            scene.refresh()
        return self.scenes[scene_id]

    def show_scene(self, scene_id: str, settings: dict | None = None) -> Scene:
        previous = self.current_scene()
        scene = self.scene(scene_id)
        if settings:
            scene.apply_settings(settings)
        if previous is not None and previous is not scene:
            previous.deactivate()
        self.stack.setCurrentWidget(scene)
        row = self.scene_ids().index(scene_id)
        if self.navigator.currentRow() != row:
            self.navigator.blockSignals(True)
            self.navigator.setCurrentRow(row)
            self.navigator.blockSignals(False)
        scene.activate()
        self.statusBar().showMessage(scene.summary, 6000)
        self.scene_shown.emit(scene_id)
        return scene

    def open_scene(self, scene_id: str, settings: dict | None = None) -> None:
        """For scenes ("show me"), lessons and the history: switch and apply, errors in the bar."""
        try:
            self._push_undo(f"open {scene_id}", [scene_id])
            self.show_scene(scene_id, settings)
        except (ValueError, KeyError) as exc:
            self.show_error(str(exc))

    def _on_nav_row(self, row: int) -> None:
        if 0 <= row < len(self._entries):
            self.show_scene(self._entries[row][0])

    # -- messages -----------------------------------------------------------------------------------
    def show_status(self, text: str, timeout_ms: int = 5000) -> None:
        self.statusBar().showMessage(text, timeout_ms)

    def show_error(self, text: str) -> None:
        self.message_bar.show_message(text, self.theme, error=True)
        self.statusBar().showMessage(text, 10000)

    def show_info(self, text: str) -> None:
        self.message_bar.show_message(text, self.theme, error=False)

    def _on_busy(self, busy: bool) -> None:
        if busy:
            self._busy_timer.start()
        else:
            self._busy_timer.stop()
            self.busy.hide()

    # -- theme --------------------------------------------------------------------------------------
    def apply_theme(self, theme: Theme) -> None:
        self.theme = theme
        app = QApplication.instance()
        if app is not None:
            app.setStyleSheet(stylesheet(theme))
        self.projector_action.setChecked(theme.projector)
        self.mode_label.setText("Projector mode" if theme.projector else "")
        self._fit_navigator()
        for scene in self.scenes.values():
            scene.set_theme(theme)
        if self.lesson_bar is not None and hasattr(self.lesson_bar, "apply_theme"):
            self.lesson_bar.apply_theme(theme)
        if "gradsim.ui.model_view" in sys.modules:  # restyle open model/run windows, if any
            from .model_view import restyle_windows

            restyle_windows(self, theme)

    def toggle_projector(self) -> None:
        self.apply_theme(theme_for(not self.theme.projector))
        if self._use_settings:
            self.settings_store.setValue("projector", self.theme.projector)

    def toggle_controls(self) -> None:
        visible = self.controls_action.isChecked()
        for scene in self.scenes.values():
            scene.set_controls_visible(visible)
        self.navigator.setVisible(visible)

    def _fit_navigator(self) -> None:
        """Numbers only when the window is narrow for the theme's type size; titles stay as tooltips."""
        compact = self.width() < (1280 if self.theme.projector else 1100)
        for row, (_scene_id, title, _t) in enumerate(self._entries):
            item = self.navigator.item(row)
            item.setText(f"{row + 1}" if compact else f"{row + 1}  {title}")
            item.setToolTip(f"{title} (key {row + 1})")
        metrics = self.navigator.fontMetrics()
        if compact:
            width = metrics.horizontalAdvance("00") + 40
        else:
            longest = max((metrics.horizontalAdvance(self.navigator.item(r).text()) for r in range(self.navigator.count())),
                          default=100)
            width = longest + 40
        self.navigator.setFixedWidth(width)

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt naming
        super().resizeEvent(event)
        self._fit_navigator()

    def toggle_fullscreen(self) -> None:
        if self.isFullScreen():
            self.showNormal()
            self.menuBar().show()
        else:
            self.showFullScreen()
        self.fullscreen_action.setChecked(self.isFullScreen())

    # -- undo / reset -------------------------------------------------------------------------------
    def _push_undo(self, label: str, scene_ids: list[str] | None = None) -> None:
        ids = scene_ids if scene_ids is not None else list(self.scenes)
        snapshot = {}
        for sid in ids:
            if sid in self.scenes:
                try:
                    snapshot[sid] = self.scenes[sid].settings()
                except Exception:  # a scene without settings support
                    continue
        if snapshot:
            self._undo.append((label, snapshot))
            del self._undo[:-20]
            self.undo_action.setEnabled(True)
            self.undo_action.setText(f"&Undo {label}")

    def undo(self) -> None:
        if not self._undo:
            return
        label, snapshot = self._undo.pop()
        for sid, settings in snapshot.items():
            try:
                self.scenes[sid].apply_settings(settings)
            except ValueError as exc:
                self.show_error(f"could not undo {label}: {exc}")
        self.undo_action.setEnabled(bool(self._undo))
        self.undo_action.setText(f"&Undo {self._undo[-1][0]}" if self._undo else "&Undo")
        self.show_status(f"Undid {label}")

    def reset_all(self) -> None:
        self._push_undo("reset all")
        for scene in self.scenes.values():
            scene.reset()
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
        if not scene.open_scenario(scenario):
            self.show_error(f"{Path(path).name}: this scene cannot show the scenario")
            return False
        self._current_scenario_path = Path(path)
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
        from .model_view import open_run_window

        self._remember_dir(str(path))
        return open_run_window(self, path)

    def open_model_dialog(self) -> None:
        from .model_view import MODEL_FILTER

        path, _ = QFileDialog.getOpenFileName(self, "Open model", self._last_dir(), MODEL_FILTER)
        if path:
            self.open_model_path(path)

    def open_run_dialog(self) -> None:
        from .model_view import RUN_FILTER

        path, _ = QFileDialog.getOpenFileName(self, "Open run", self._last_dir(), RUN_FILTER)
        if path:
            self.open_run_path(path)

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
            "1-8: switch scene",
            "Ctrl+P: projector mode   F11: full screen   Esc: leave full screen",
            "Ctrl+R: reset all (Ctrl+Z undoes)",
            "Ctrl+O / Ctrl+S: open / save a scenario",
            "Ctrl+Alt+M / Ctrl+Alt+O: open a saved model / a monitor run log",
            "Ctrl+H: show or hide the control panels",
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
