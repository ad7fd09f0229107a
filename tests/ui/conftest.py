"""Fixtures for GUI tests: a real main window with the real engine behind it (no mocks)."""

from __future__ import annotations

import pytest


@pytest.fixture
def main_window(qtbot, tmp_path, monkeypatch):
    from gradsim.ui.app import MainWindow

    monkeypatch.setenv("GRADSIM_SETTINGS_ORG", f"gradsim-tests-{tmp_path.name}")
    window = MainWindow(projector=False, use_settings=False)
    qtbot.addWidget(window)
    window.resize(1280, 800)
    window.show()
    yield window
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
