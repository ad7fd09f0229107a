"""Fixtures for GUI tests: a real main window with the real engine behind it (no mocks).

One window serves all the tests of a module (building one costs far more than most tests); before
each test it is put back to a known start: every scene at its defaults, no lesson, no message,
the normal theme at 1280x800 with the controls docked, an empty undo stack. A test that needs a window
of its own (closing it, starting it in projector mode) builds one with ``new_window``.
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


def reset_window(window, qtbot) -> None:
    """Put a shared window back to its start state (see the module docstring)."""
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
    for scene in list(window.scenes.values()):
        scene.deactivate()
        scene.shutdown()
        scene.reset()
    window._set_controls(True)
    window.message_bar.hide()
    qtbot.waitUntil(window.worker.is_idle, timeout=30000)
    window.undo_stack.clear()
    if window.current_scene() is not None and window.current_scene().scene_id != window.scene_ids()[0]:
        window.show_scene(window.scene_ids()[0])


@pytest.fixture
def main_window(shared_window, qtbot):
    reset_window(shared_window, qtbot)
    qtbot.wait(1)
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


def wait_idle(qtbot, window, timeout=20000):
    """Wait until the worker has nothing pending or running and queued results are delivered."""
    qtbot.waitUntil(window.worker.is_idle, timeout=timeout)
    qtbot.wait(30)


@pytest.fixture
def lab(main_window, qtbot):
    """The training lab scene, shut down (its training task stopped) after the test."""
    scene = main_window.show_scene("training")
    wait_idle(qtbot, main_window)
    yield scene
    scene.shutdown()
