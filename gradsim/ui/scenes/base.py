"""The base of every scene: its state, its controls, its views, and the machinery they share.

Data flows one way: a control sends a change -> a new frozen state (``gradsim.states.<id>``,
validated there) -> the window's undo stack -> ``show_state`` puts it on the widgets and ``refresh``
asks the worker for the engine result -> ``on_result`` draws it. Widgets hold no state of their own:
whatever they show was put there by ``show_state``. Presets, undo and redo, lessons, "show me" links,
reset and saved settings are all state objects, handled here once for every scene.

Style: a scene carries the theme's style sheet itself (the window sets it on its other parts, not on
itself: a window-wide sheet re-polished every scene at each switch). The window restyles the visible
scene at a switch and any other one when it is next asked for; ``set_theme`` of the theme a scene
already has costs nothing.

Layout: the controls sit in a panel at the left, or, when presenting (projector mode, or a window
narrower than 1280 pixels), in a drawer over the pictures that is closed until the presenter opens it
(the C key or the "Controls" button at the top left of the scene).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import contextmanager
from typing import Any, Protocol

from PySide6.QtCore import QEvent, Qt, Signal
from PySide6.QtGui import QUndoCommand, QUndoStack
from PySide6.QtWidgets import (
    QAbstractButton,
    QApplication,
    QComboBox,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QScrollArea,
    QSizePolicy,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ...presets import CUSTOM, get_preset, load_presets
from ...state import SceneState
from ..theme import Theme, stylesheet
from ..worker import ComputeWorker, describe_error


class SceneContext(Protocol):
    """What the main window offers a scene."""

    worker: ComputeWorker
    theme: Theme
    undo_stack: QUndoStack

    def show_status(self, text: str, timeout_ms: int = 5000) -> None: ...

    def show_error(self, text: str) -> None: ...


MERGE_SECONDS = 1.5  # changes of one control this close together are one undo step (a slider drag)


class StateChange(QUndoCommand):
    """One undoable change of one scene's state. Consecutive changes of the same control merge."""

    def __init__(self, scene: Scene, old: SceneState, new: SceneState, label: str, merge_key: str | None) -> None:
        super().__init__(label)
        self.scene, self.old, self.new, self.merge_key = scene, old, new, merge_key
        self.when = time.monotonic()

    def id(self) -> int:  # noqa: A003 - Qt's name
        if self.merge_key is None:
            return -1
        return hash((self.scene.scene_id, self.merge_key)) & 0x3FFFFFFF

    def mergeWith(self, other: QUndoCommand) -> bool:  # noqa: N802 - Qt naming
        if (not isinstance(other, StateChange) or other.scene is not self.scene
                or other.merge_key != self.merge_key or other.when - self.when > MERGE_SECONDS):
            return False
        self.new, self.when = other.new, other.when
        self.setObsolete(self.new == self.old)
        return True

    def redo(self) -> None:
        self.scene.adopt_state(self.new)

    def undo(self) -> None:
        self.scene.adopt_state(self.old)


class Scene(QWidget):
    """Subclass, set ``scene_id``/``title``/``summary`` and ``State``, and implement the build, show and
    draw methods (see DEVELOPING.md, "Scenes")."""

    scene_id = ""
    title = ""
    summary = ""  # one sentence shown under the title: what this scene teaches
    State: type[SceneState] | None = None  # the scene's frozen state class (gradsim.states.<id>)

    drawn = Signal()  # emitted after each result is drawn
    state_changed = Signal(object)  # the new state, after it is shown

    def __init__(self, context: SceneContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.theme: Theme = context.theme
        # The theme's sheet on the scene itself, before its children exist (they are built in it);
        # its background painted by the scene, since the stack around it has no sheet.
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        self.setStyleSheet(stylesheet(self.theme))
        self._latest: dict[str, int] = {}
        self._drawn_once = False
        self._showing = False
        self._state: SceneState | None = self.State() if self.State is not None else None
        self.presets = load_presets(self.scene_id) if self.State is not None else ()
        self.preset_choice: QComboBox | None = None
        self.threshold_box = None  # controls.ThresholdBox, from make_threshold_box
        self.pulse_controls = None  # controls.PulseControls, from make_pulse_controls
        self._drawer_mode = False
        self._controls_open = True
        self._bare = False  # recording: no drawer button either

        outer = QHBoxLayout(self)
        outer.setContentsMargins(6, 6, 6, 6)
        outer.setSpacing(8)
        self._outer = outer

        self.controls_panel = QWidget()
        self.controls_panel.setObjectName("controls")
        self.controls_layout = QVBoxLayout(self.controls_panel)
        self.controls_layout.setContentsMargins(4, 4, 4, 4)
        self.controls_layout.setSpacing(8)
        self._scroll = QScrollArea()
        self._scroll.setWidgetResizable(True)
        self._scroll.setWidget(self.controls_panel)
        self._scroll.setFrameShape(QFrame.Shape.NoFrame)
        self._scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        outer.addWidget(self._scroll, 0)

        right = QWidget()
        self.views_layout = QVBoxLayout(right)
        self.views_layout.setContentsMargins(0, 0, 0, 0)
        self.views_layout.setSpacing(6)
        self.drawer_button = QToolButton()
        self.drawer_button.setText("☰ Controls")
        self.drawer_button.setCheckable(True)
        self.drawer_button.setToolTip("Show or hide this scene's controls (C)")
        self.drawer_button.clicked.connect(lambda checked: self.set_controls_open(checked))
        self.drawer_button.hide()
        self.header = QLabel()
        self.header.setWordWrap(True)
        self.header.setTextFormat(Qt.TextFormat.RichText)
        self.header.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Maximum)
        self.header_row = QHBoxLayout()  # scenes may add a badge or buttons right of the title
        self.header_row.setContentsMargins(0, 0, 0, 0)
        self.header_row.addWidget(self.drawer_button, 0, Qt.AlignmentFlag.AlignTop)
        self.header_row.addWidget(self.header, 1)
        self.views_layout.addLayout(self.header_row)
        outer.addWidget(right, 1)
        self.views_widget = right

        context.worker.finished.connect(self._on_finished)
        context.worker.errored.connect(self._on_errored)
        context.worker.progress.connect(self._on_progress)

        self.build_controls(self.controls_layout)
        self.controls_layout.addStretch(1)
        self.build_views(self.views_layout)
        if self._state is not None:
            self._show(self._state)
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

    def show_state(self, state: SceneState) -> None:
        """Put ``state`` on the widgets. Runs with change signals ignored; never computes."""

    def refresh(self) -> None:
        """Ask the engine for a new result from the current state (via ``request``)."""
        raise NotImplementedError

    def on_result(self, result: Any, key: str) -> None:
        raise NotImplementedError

    # -- state --------------------------------------------------------------------------------------
    @property
    def state(self) -> SceneState | None:
        return self._state

    def set_state(self, state: SceneState, label: str = "change", merge_key: str | None = None) -> None:
        """Make ``state`` the scene's state as one undoable step (nothing happens if it is the same)."""
        if self._state is None:
            raise RuntimeError(f"scene '{self.scene_id}' has no state class")
        if state == self._state:
            self._show(self._state)  # a control may show a value the state refused: put it back
            return
        if getattr(self.context, "undo_paused", False):  # walking a lesson for a handout: not the user's doing
            self.adopt_state(state)
            return
        self.context.undo_stack.push(StateChange(self, self._state, state, label, merge_key))

    def change(self, label: str | None = None, **fields: Any) -> None:
        """A control moved: the state with these fields changed, validated, as an undo step.

        Ignored while the scene itself is putting a state on its widgets. A value the state refuses
        is reported in one line and the controls show the current state again.
        """
        if self._showing or self._state is None:
            return
        try:
            new = self._state.replace(**fields)
        except ValueError as exc:
            self.context.show_error(str(exc))
            self._show(self._state)
            return
        names = ", ".join(sorted(fields))
        self.set_state(new, label or f"change {names}", merge_key=names)

    def adopt_state(self, state: SceneState) -> None:
        """Show ``state`` and compute it (the undo stack calls this; so does nothing else)."""
        self._state = state
        self._show(state)
        self.refresh()
        self.state_changed.emit(state)

    def _show(self, state: SceneState) -> None:
        with self.showing():
            if self.preset_choice is not None and hasattr(state, "preset"):
                index = self.preset_choice.findData(state.preset)
                self.preset_choice.setCurrentIndex(max(0, index))
            if self.threshold_box is not None:
                self.threshold_box.show_thresholds(state.vanish, state.explode)
            if self.pulse_controls is not None:
                self.pulse_controls.speed.setValue(state.speed)
                self.pulse.speed = float(state.speed)
            self.show_state(state)

    @contextmanager
    def showing(self):
        """Widgets changed inside this block do not send changes back (they are being shown a state)."""
        previous, self._showing = self._showing, True
        try:
            yield
        finally:
            self._showing = previous

    def bind(self, widget: QWidget, name: str, convert: Callable[[Any], Any] = lambda v: v,
             label: str | None = None) -> None:
        """Send ``widget``'s changes to the state field ``name`` (``convert`` maps widget value to field)."""
        text = label or f"change {name.replace('_', ' ')}"

        def send(value: Any) -> None:
            self.change(label=text, **{name: convert(value)})

        if hasattr(widget, "choiceChanged"):
            widget.choiceChanged.connect(send)
        elif isinstance(widget, QTabWidget):
            widget.currentChanged.connect(send)
        elif isinstance(widget, QAbstractButton):
            widget.toggled.connect(send)
        elif hasattr(widget, "valueChanged"):
            widget.valueChanged.connect(send)
        else:
            raise TypeError(f"cannot bind a {type(widget).__name__}")

    # -- settings: the state as plain data (lessons, "show me", saving, the old API) -----------------
    def settings(self) -> dict:
        """The scene's state as JSON-able values."""
        return self._state.to_dict() if self._state is not None else {}

    def apply_settings(self, settings: dict, label: str = "apply settings") -> None:
        """Show the state these (partial) settings describe, on top of the defaults, as one undo step.

        Raises ``ValueError`` (one line) for an unknown key or a bad value, changing nothing.
        """
        if self.State is None:
            if settings:
                raise ValueError(f"scene '{self.scene_id}' takes no settings")
            return
        self.set_state(self.State.from_settings(settings), label)

    def reset(self) -> None:
        """Restore the defaults ("reset all")."""
        if self.State is not None:
            self.set_state(self.State(), "reset")

    # -- presets ------------------------------------------------------------------------------------
    def make_preset_box(self, layout: QVBoxLayout, tooltip: str = "Ready-made configurations") -> QGroupBox | None:
        """A "Presets" box listing the scene's presets (from gradsim/resources/presets/<id>.json)."""
        if not self.presets:
            return None
        from ..controls import Choice

        box = QGroupBox("Presets")
        inner = QVBoxLayout(box)
        self.preset_choice = Choice([(CUSTOM, "Custom")] + [(p.preset_id, p.title) for p in self.presets], CUSTOM,
                                    tooltip=tooltip, elide=False)
        for i, preset in enumerate(self.presets, start=1):
            if preset.note:
                self.preset_choice.setItemData(i, f"{preset.title}\n{preset.note}", Qt.ItemDataRole.ToolTipRole)
        self.preset_choice.choiceChanged.connect(self._on_preset_chosen)
        inner.addWidget(self.preset_choice)
        layout.addWidget(box)
        return box

    def _on_preset_chosen(self, preset_id: str) -> None:
        if self._showing or preset_id == CUSTOM:
            return
        try:
            self.apply_preset(preset_id)
        except ValueError as exc:
            self.context.show_error(str(exc))
            self._show(self._state)

    def preset_state(self, preset_id: str) -> SceneState:
        """The state a preset describes, keeping the fields the state class keeps (seed, speed)."""
        kept = {k: getattr(self._state, k) for k in self.State.KEEP_ON_PRESET}
        return self.State.from_settings({**kept, "preset": preset_id})

    def apply_preset(self, preset_id: str) -> None:
        preset = get_preset(self.scene_id, preset_id)
        self.set_state(self.preset_state(preset_id), f"preset “{preset.title}”")

    # -- shared controls: thresholds and the backward pulse ------------------------------------------
    def make_threshold_box(self, layout: QVBoxLayout) -> None:
        """The vanishing and exploding thresholds, bound to the state's ``vanish`` and ``explode``
        (shown by the base with every state)."""
        from ..controls import ThresholdBox

        self.threshold_box = box = ThresholdBox()
        self.vanish_exp, self.explode_exp = box.vanish_exp, box.explode_exp
        layout.addWidget(box)
        self.bind(box.vanish_exp, "vanish", lambda e: 10.0 ** e, "change vanishing threshold")
        self.bind(box.explode_exp, "explode", lambda e: 10.0 ** e, "change exploding threshold")

    def make_pulse_controls(self, layout: QVBoxLayout, play_tip: str) -> None:
        """``self.pulse`` (a ``chain.BackwardPulse``) and its controls, the speed bound to the
        state's ``speed``; the pulse's moves go to ``self._on_pulse(position)``. The animation hooks
        below drive it."""
        from ..chain import BackwardPulse
        from ..controls import PulseControls

        self.pulse = BackwardPulse(self)
        self.pulse_controls = PulseControls(self.pulse, play_tip, speed=self._state.speed)
        self.speed = self.pulse_controls.speed
        layout.addWidget(self.pulse_controls)
        self.bind(self.speed, "speed", int, "change animation speed")
        self.pulse.position_changed.connect(self._on_pulse)

    # -- optional hooks: the animation -------------------------------------------------------------
    # A scene with a backward pulse (``self.pulse``, a ``chain.BackwardPulse``) gets all of these
    # from it; a scene that animates otherwise overrides them.
    def _pulse(self):
        return getattr(self, "pulse", None)

    def play_pause(self) -> None:
        """Space: start or pause the animation."""
        if (pulse := self._pulse()) is not None:
            pulse.toggle()

    def step(self, direction: int) -> None:
        """← / →: one step of the animation back or on."""
        if (pulse := self._pulse()) is not None:
            pulse.step(direction)

    def rewind(self) -> None:
        if (pulse := self._pulse()) is not None:
            pulse.rewind()

    # -- the animation as a function of time (recording, issue 19) ------------------------------------
    def animation_length(self) -> float | None:
        """Seconds the scene's animation lasts at its current speed, or None for a still scene."""
        pulse = self._pulse()
        return pulse.duration() if pulse is not None else None

    def seek_animation(self, seconds: float) -> None:
        """Show the animation at ``seconds`` from its start, paused (frames are rendered at exact
        times, not captured from a running clock)."""
        if (pulse := self._pulse()) is not None:
            pulse.seek(seconds)

    def prepare_still(self) -> bool:
        """Before a still picture of the scene (a handout page): start what the picture still needs
        and return True while that is under way (the caller processes events and asks again). Most
        scenes are complete once drawn; the training lab trains its models to the end, so the page
        shows what its caption says rather than empty axes."""
        return False

    def activate(self) -> None:
        """Called when the scene becomes visible."""

    def deactivate(self) -> None:
        """Called when another scene is shown: pause animations, keep state."""
        if (pulse := self._pulse()) is not None:
            pulse.pause()

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
        """A ``gradsim.scenario/1`` document of the current state, if the scene's state makes one."""
        document = getattr(self._state, "scenario_document", None)
        return document() if document is not None else None

    def open_scenario(self, scenario) -> bool:
        """Show a loaded scenario; return False if this scene does not take scenarios."""
        return False

    def shutdown(self) -> None:
        """Stop any task the scene owns (window closing)."""
        if (pulse := self._pulse()) is not None:
            pulse.pause()

    # -- engine requests ------------------------------------------------------------------------------
    def request(self, fn, *args: Any, key: str = "main", lane: str | None = None, reuse: bool = False) -> int:
        """Run ``fn(*args)`` on the worker; the newest request of this key wins (a running older one
        is cancelled at its next checkpoint). The visible scene's requests go first; ``lane="files"``
        for reading a file. ``reuse`` for an engine function of its (frozen) arguments alone: undo,
        redo and reset then show a result computed before at once (the worker keeps the last few)."""
        full = f"{self.scene_id}:{key}"
        request_id = self.context.worker.submit(full, fn, *args, lane=lane, reuse=reuse)
        self._latest[full] = request_id
        return request_id

    def cancel_request(self, key: str = "main") -> bool:
        """Stop the request of ``key`` (pending, or running: at its next checkpoint); nothing of it
        is drawn. True if there was one."""
        full = f"{self.scene_id}:{key}"
        self._latest.pop(full, None)
        return self.context.worker.cancel(full)

    def _mine(self, full_key: str, request_id: int) -> bool:
        """A reply to this scene's newest request of its key (not another scene's, not a stale one)."""
        return full_key.startswith(self.scene_id + ":") and self._latest.get(full_key) == request_id

    def _on_finished(self, full_key: str, request_id: int, result: Any) -> None:
        if not self._mine(full_key, request_id):
            return  # another scene's, or stale: a newer request of this key is on its way
        self.on_result(result, full_key.split(":", 1)[1])
        self._drawn_once = True
        self.drawn.emit()

    def _on_errored(self, full_key: str, request_id: int, exc: BaseException) -> None:
        if self._mine(full_key, request_id):
            self.on_error(exc, full_key.split(":", 1)[1])

    def _on_progress(self, full_key: str, request_id: int, done: float, total: float, what: str) -> None:
        if self._mine(full_key, request_id):
            self.on_progress(done, total, what, full_key.split(":", 1)[1])

    def on_error(self, exc: BaseException, key: str) -> None:
        """A request of this scene failed: one line in the message bar (scenes may do more)."""
        self.context.show_error(describe_error(exc))

    def on_progress(self, done: float, total: float, what: str, key: str) -> None:
        """A running request says how far it has got (the engine's ``report_progress``); scenes
        whose work can take long show it."""

    @property
    def drawn_once(self) -> bool:
        return self._drawn_once

    # -- layout: docked panel or drawer -----------------------------------------------------------------
    def set_drawer_mode(self, drawer: bool) -> None:
        """Presenting layout: the controls in a drawer over the pictures (closed), or docked (open)."""
        if drawer == self._drawer_mode:
            return
        self._drawer_mode = drawer
        if drawer:
            self._outer.removeWidget(self._scroll)
            self._scroll.setParent(self)
        # the object name selects the drawer's rules of the style sheet (QFrame#drawer: its panel
        # colour and edge), which Qt applies when the widget is polished again: before its frame is
        # set, which takes the frame's width from them
        self._scroll.setObjectName("drawer" if drawer else "")
        self._scroll.style().unpolish(self._scroll)
        self._scroll.style().polish(self._scroll)
        self._scroll.setFrameShape(QFrame.Shape.StyledPanel if drawer else QFrame.Shape.NoFrame)
        if not drawer:
            self._outer.insertWidget(0, self._scroll, 0)
        self.drawer_button.setVisible(drawer and not self._bare)
        self.set_controls_open(not drawer)
        self._apply_panel_width()  # a drawer may be wider than the docked panel (up to 90 % of the scene)

    def set_bare(self, bare: bool) -> None:
        """Only the pictures and their titles (frames for a recording or a handout)."""
        self._bare = bare
        self.drawer_button.setVisible(self._drawer_mode and not bare)

    @property
    def drawer_mode(self) -> bool:
        return self._drawer_mode

    def controls_open(self) -> bool:
        return self._controls_open

    def set_controls_open(self, open_: bool) -> None:
        """Show or hide the controls (the drawer, or the docked panel); the state is untouched."""
        self._controls_open = open_
        self.drawer_button.setChecked(open_)
        if self._drawer_mode:
            self._place_drawer()
            self._scroll.setVisible(open_)
            if open_:
                self._scroll.raise_()
        else:
            self._scroll.setVisible(open_)

    def _place_drawer(self) -> None:
        width = self._scroll.width() if self._scroll.width() > 50 else 300
        top = self.drawer_button.geometry().bottom() + 8 if self.drawer_button.isVisible() else 0
        self._scroll.setGeometry(0, max(0, top), min(width, self.width()), max(100, self.height() - max(0, top)))

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt naming
        super().resizeEvent(event)
        if self._drawer_mode:
            self._apply_panel_width()  # its width limit follows the scene's width; it places the drawer

    def event(self, event) -> bool:
        if event.type() == QEvent.Type.LayoutRequest and self._drawer_mode:
            self._place_drawer()
        return super().event(event)

    def set_theme(self, theme: Theme, lay_out: Callable[[], None] | None = None) -> None:
        """Restyle the scene for ``theme``: its style sheet (the widgets' type and colours), the
        controls' width (type changes it), the title, then ``lay_out()`` (the window's layout for the
        theme: drawer or docked), and ``apply_theme`` (plots and drawn views) once the scene is laid
        out in the new type: a scene that arranges its views by their room (the gates scene: tabs or
        a splitter) sees its new room, not the old one first (it chose twice). Nothing to do but
        ``lay_out`` if the scene has this theme already."""
        if theme == self.theme:
            self.theme = theme
            if lay_out is not None:
                lay_out()
            return
        self.theme = theme
        self.setStyleSheet(stylesheet(theme))
        self._apply_panel_width()
        self._update_header()
        if lay_out is not None:
            lay_out()
        # laid out now, in the new type and layout: apply_theme measures the views' room (a hidden
        # scene's own layout waits for its show: ``lay_out`` activates it)
        QApplication.sendPostedEvents(None, QEvent.Type.LayoutRequest)
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
        limit = max(260, int(self.width() * 0.9)) if self._drawer_mode else 520
        self._scroll.setFixedWidth(int(min(limit, max(260, needed))))
        if self._drawer_mode:
            self._place_drawer()

    def _update_header(self) -> None:
        t = self.theme
        self.header.setText(
            f"<span style='font-size:{t.title_px}px; font-weight:bold'>{self.title}</span><br>"
            f"<span style='color:{t.muted}'>{self.summary}</span>"
        )

