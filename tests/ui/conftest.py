"""Fixtures for GUI tests: a real main window with the real engine behind it (no mocks).

One window serves all the tests of a module (building one costs far more than most tests); before
each test it is put back to a known start: every scene at its defaults, no lesson, no message,
the normal theme at 1280x800 with the controls docked, an empty undo stack, the start scene shown
(the first scene; a module whose tests are about another scene names it by overriding the
``start_scene`` fixture, so that each test does not show the first scene only to leave it). A test
that needs a window of its own (closing it, starting it in projector mode) builds one with
``new_window``.
"""

from __future__ import annotations

import pytest


def _build_window(projector: bool = False):
    from gradsim.ui.app import MainWindow

    window = MainWindow(projector=projector, use_settings=False)
    window.resize(1280, 800)
    window.show()
    return window


@pytest.fixture(scope="module")
def shared_window(qapp):
    window = _build_window()
    yield window
    window.close()
    window.deleteLater()
    qapp.processEvents()


def reset_window(window, qtbot, start_scene: str | None = None) -> None:
    """Put a shared window back to its start state (see the module docstring), showing
    ``start_scene`` (default: the first scene)."""
    import sys

    from gradsim.ui.theme import theme_for

    if "gradsim.ui.model_view" in sys.modules:  # model and run windows a test opened
        from gradsim.ui.model_view import _FileWindow

        for child in window.findChildren(_FileWindow):
            child.close()
            child.deleteLater()
        qtbot.waitUntil(lambda: not window.findChildren(_FileWindow), timeout=10000)
    if window.lesson_bar is not None and window.lesson_bar.lesson is not None:
        window.lesson_bar.close_lesson()
    if window.isFullScreen():
        window.toggle_fullscreen()
    if window.size().width() != 1280 or window.size().height() != 800:
        window.resize(1280, 800)
    if window.theme.projector or window.theme != theme_for(False, window.height()):
        window.apply_theme(theme_for(False, window.height()))
    window._follow_size()
    window._theme_timer.stop()  # a resize above started it; _follow_size just did its work
    for scene in list(window.scenes.values()):
        scene.deactivate()
        scene.shutdown()
        scene.reset()
    window._set_controls(True)
    window.message_bar.hide()
    qtbot.waitUntil(window.worker.is_idle, timeout=30000)
    window.undo_stack.clear()
    start_scene = start_scene or window.scene_ids()[0]
    if window.current_scene() is not None and window.current_scene().scene_id != start_scene:
        window.show_scene(start_scene)


@pytest.fixture
def start_scene() -> str | None:
    """The scene each test of a module starts on: None for the first scene. A module of one scene's
    tests overrides this fixture with that scene's id (showing the first scene between two tests of
    another costs a layout and a paint of both)."""
    return None


@pytest.fixture
def main_window(shared_window, qtbot, start_scene):
    reset_window(shared_window, qtbot, start_scene)
    settle()
    yield shared_window
    for scene in list(shared_window.scenes.values()):
        scene.shutdown()


@pytest.fixture
def new_window(qtbot):
    """A window of the test's own, closed afterwards: ``new_window(projector=False)``."""
    made = []

    def make(projector: bool = False):
        window = _build_window(projector)
        qtbot.addWidget(window)
        made.append(window)
        return window

    yield make
    for window in made:
        window.close()


def settle(max_passes: int = 1000) -> int:
    """Let Qt finish what the last change set off, and return how many passes that took.

    Posted events (queued results from the worker, layout and update requests, the paints they
    cause, zero-time timers) are delivered pass after pass until a whole pass of the event loop
    delivers none: a condition on the event queue, not a time, so a test that then asserts that
    something did *not* happen (a second paint, a layout request) has given it every chance to."""
    from PySide6.QtCore import QEvent, QObject
    from PySide6.QtWidgets import QApplication

    class Delivered(QObject):
        count = 0

        def eventFilter(self, _obj, event):  # noqa: N802 - Qt naming
            if event.type() != QEvent.Type.Timer:  # running timers tick on their own
                self.count += 1
            return False

    app = QApplication.instance()
    delivered = Delivered()
    app.installEventFilter(delivered)
    try:
        for passes in range(1, max_passes + 1):
            delivered.count = 0
            app.sendPostedEvents()
            app.processEvents()
            if delivered.count == 0:
                return passes
    finally:
        app.removeEventFilter(delivered)
    raise AssertionError(f"Qt kept delivering events for {max_passes} passes")


def wait_idle(qtbot, window, timeout=20000):
    """Wait until the worker has nothing pending or running and everything its results set off is
    delivered (a result that asks for more work is waited for too)."""
    for _round in range(50):  # bounded: a running training task keeps asking for more
        qtbot.waitUntil(window.worker.is_idle, timeout=timeout)
        settle()
        if window.worker.is_idle():
            return


@pytest.fixture
def lab(main_window, qtbot):
    """The training lab scene, shut down (its training task stopped) after the test."""
    scene = main_window.show_scene("training")
    wait_idle(qtbot, main_window)
    yield scene
    scene.shutdown()
