"""The base of every scene: a control panel on the left, views on the right, engine work through the
worker, and the hooks the main window calls (settings, theme, time control, export).

Data flows one way: controls -> ``settings()`` -> ``request(engine_fn, ...)`` -> worker -> engine ->
``on_result`` -> views. A scene never computes in a view and never blocks the GUI thread.
"""

from __future__ import annotations

from typing import Any, Protocol

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QScrollArea,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from ..theme import Theme
from ..worker import ComputeWorker


class SceneContext(Protocol):
    """What the main window offers a scene."""

    worker: ComputeWorker
    theme: Theme

    def show_status(self, text: str, timeout_ms: int = 5000) -> None: ...

    def show_error(self, text: str) -> None: ...

    def open_scene(self, scene_id: str, settings: dict | None = None) -> None: ...


class Scene(QWidget):
    """Subclass, set ``scene_id``/``title``/``summary``, and implement the build and draw methods."""

    scene_id = ""
    title = ""
    summary = ""  # one sentence shown under the title: what this scene teaches
    has_animation = False

    drawn = Signal()  # emitted after each result is drawn
    settings_changed = Signal()

    def __init__(self, context: SceneContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.theme: Theme = context.theme
        self._latest: dict[str, int] = {}
        self._drawn_once = False

        outer = QHBoxLayout(self)
        outer.setContentsMargins(6, 6, 6, 6)
        outer.setSpacing(8)

        self.controls_panel = QWidget()
        self.controls_panel.setObjectName("controls")
        self.controls_layout = QVBoxLayout(self.controls_panel)
        self.controls_layout.setContentsMargins(4, 4, 4, 4)
        self.controls_layout.setSpacing(8)
        self._scroll = QScrollArea()
        self._scroll.setWidgetResizable(True)
        self._scroll.setWidget(self.controls_panel)
        self._scroll.setFrameShape(QFrame.Shape.NoFrame)
        self._scroll.setHorizontalScrollBarPolicy(self._scroll.horizontalScrollBarPolicy().ScrollBarAlwaysOff)
        outer.addWidget(self._scroll, 0)

        right = QWidget()
        self.views_layout = QVBoxLayout(right)
        self.views_layout.setContentsMargins(0, 0, 0, 0)
        self.views_layout.setSpacing(6)
        self.header = QLabel()
        self.header.setWordWrap(True)
        self.header.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Maximum)
        self.header_row = QHBoxLayout()  # scenes may add a badge or buttons right of the title
        self.header_row.setContentsMargins(0, 0, 0, 0)
        self.header_row.addWidget(self.header, 1)
        self.views_layout.addLayout(self.header_row)
        outer.addWidget(right, 1)
        self.views_widget = right

        context.worker.finished.connect(self._on_finished)
        context.worker.failed.connect(self._on_failed)

        self.build_controls(self.controls_layout)
        self.controls_layout.addStretch(1)
        self.build_views(self.views_layout)
        self._apply_panel_width()
        self._update_header()

    def showEvent(self, event) -> None:  # noqa: N802 - Qt naming
        super().showEvent(event)
        self._apply_panel_width()

    # -- to implement ------------------------------------------------------------------------------
    def build_controls(self, layout: QVBoxLayout) -> None:
        raise NotImplementedError

    def build_views(self, layout: QVBoxLayout) -> None:
        raise NotImplementedError

    def refresh(self) -> None:
        """Ask the engine for a new result from the current settings (via ``request``)."""
        raise NotImplementedError

    def on_result(self, result: Any, key: str) -> None:
        raise NotImplementedError

    def settings(self) -> dict:
        """The scene's state as JSON-able values (lessons, "show me", saving)."""
        return {}

    def apply_settings(self, settings: dict) -> None:
        """Set controls from ``settings`` (a subset is fine); raise ``ValueError`` for anything unknown."""
        if settings:
            raise ValueError(f"scene '{self.scene_id}' takes no settings")

    def reset(self) -> None:
        """Restore the defaults ("reset all")."""

    # -- optional hooks ----------------------------------------------------------------------------
    def play_pause(self) -> None: ...

    def step(self, direction: int) -> None: ...

    def rewind(self) -> None: ...

    def activate(self) -> None:
        """Called when the scene becomes visible."""

    def deactivate(self) -> None:
        """Called when another scene is shown: pause animations, keep state."""

    def export_widget(self) -> QWidget:
        """What "Export picture" saves and "Copy picture" copies."""
        return self.views_widget

    def export_plot(self):
        """The main chart, for SVG export (a ``pg.PlotWidget``), or None."""
        return None

    def export_columns(self) -> dict | None:
        """The data behind the main chart, from the engine's arrays, for CSV export."""
        return None

    def scenario_document(self) -> dict | None:
        """A ``gradsim.scenario/1`` document of the current state, if the scene has one."""
        return None

    def open_scenario(self, scenario) -> bool:
        """Show a loaded scenario; return False if this scene does not take scenarios."""
        return False

    def shutdown(self) -> None:
        """Stop any task the scene owns (window closing)."""

    # -- machinery -----------------------------------------------------------------------------------
    def request(self, fn, *args: Any, key: str = "main") -> int:
        """Run ``fn(*args)`` on the worker; the newest request of this key wins."""
        full = f"{self.scene_id}:{key}"
        request_id = self.context.worker.submit(full, fn, *args)
        self._latest[full] = request_id
        return request_id

    def is_current(self, key: str, request_id: int) -> bool:
        return self._latest.get(key) == request_id

    def _on_finished(self, full_key: str, request_id: int, result: Any) -> None:
        if not full_key.startswith(self.scene_id + ":") or self._latest.get(full_key) != request_id:
            return  # another scene's, or stale: a newer request of this key is on its way
        self.on_result(result, full_key.split(":", 1)[1])
        self._drawn_once = True
        self.drawn.emit()

    def _on_failed(self, full_key: str, request_id: int, message: str) -> None:
        if not full_key.startswith(self.scene_id + ":") or self._latest.get(full_key) != request_id:
            return
        self.context.show_error(message)

    @property
    def drawn_once(self) -> bool:
        return self._drawn_once

    def set_controls_visible(self, visible: bool) -> None:
        """Presenting: hide the control panel so the views fill the screen."""
        self._scroll.setVisible(visible)

    def set_theme(self, theme: Theme) -> None:
        self.theme = theme
        self._apply_panel_width()
        self._update_header()
        self.apply_theme(theme)

    def apply_theme(self, theme: Theme) -> None:
        """Restyle plots and custom-drawn views; the style sheet does the widgets."""

    def _apply_panel_width(self) -> None:
        """Wide enough for the controls' own size hint (fonts grow in projector mode), within limits."""
        self.controls_panel.ensurePolished()
        for child in self.controls_panel.findChildren(QWidget):
            child.ensurePolished()
        self.controls_panel.adjustSize()
        needed = self.controls_panel.sizeHint().width() + self._scroll.verticalScrollBar().sizeHint().width() + 6
        self._scroll.setFixedWidth(int(min(520, max(260, needed))))

    def _update_header(self) -> None:
        t = self.theme
        self.header.setText(
            f"<span style='font-size:{t.title_pt + 2}pt; font-weight:bold'>{self.title}</span><br>"
            f"<span style='color:{t.muted}'>{self.summary}</span>"
        )
