"""Starting the app from the command line: window size, screenshots, files named on the command line.

Separate from :mod:`gradsim.ui.app` (the window itself) so that what happens before and around the
window (no display, ``--screenshot``, ``--size``) has one home.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from ..engine.errors import InputError
from .app import MainWindow


def parse_size(text: str | None, largest: tuple[int, int] = (10000, 10000)) -> tuple[int, int] | None:
    """``--size WxH`` (None when not given); a recording allows less than a window (``largest``)."""
    if not text:
        return None
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise InputError(f"--size: expected WIDTHxHEIGHT such as 1280x800, got {text!r}") from None
    if not (320 <= w <= largest[0] and 240 <= h <= largest[1]):
        raise InputError(f"--size: {w}x{h} is outside 320x240..{largest[0]}x{largest[1]}")
    return w, h


def terminal_progress(label: str, unit: str) -> Callable[[int, int], bool]:
    """``progress(done, total)`` for a command that renders (a recording's frames, a handout's
    pages): a line on stderr rewritten in place when stderr is a terminal; never asks to stop."""
    tty = sys.stderr.isatty()

    def report(done: int, total: int) -> bool:
        if tty:
            end = "\n" if done >= total else ""
            sys.stderr.write(f"\r{label}: {unit} {done} of {total}{end}")
            sys.stderr.flush()
        return True

    return report


@contextmanager
def rendering_window(projector: bool) -> Iterator[MainWindow]:
    """A main window for a command that renders and exits (``--record``, ``lesson handout``):
    offscreen when there is no display, no saved settings, Qt's benign offscreen chatter dropped;
    closed afterwards."""
    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    app = QApplication.instance() or QApplication(sys.argv[:1])
    _quiet_qt_messages()
    window = MainWindow(projector=projector, use_settings=False)
    try:
        yield window
    finally:
        window.close()
        app.processEvents()


_BENIGN_QT_MESSAGES = ("This plugin does not support propagateSizeHints()",)


def _quiet_qt_messages() -> None:
    """Drop Qt's known-benign offscreen warnings; pass everything else through to stderr."""
    from PySide6.QtCore import qInstallMessageHandler

    def handler(_mode, _context, message: str) -> None:
        if any(message.startswith(m) for m in _BENIGN_QT_MESSAGES):
            return
        sys.stderr.write(message + "\n")

    qInstallMessageHandler(handler)


SCREENSHOT_SIZE = (1280, 800)  # --screenshot without --size: the same picture on every machine


def run_app(args) -> int:
    """Open the app (CONTRACTS section 3). With ``--screenshot`` save a PNG once drawn, then exit."""
    screenshot = getattr(args, "screenshot", None)
    if screenshot and not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    try:
        size = parse_size(getattr(args, "size", None))
        if screenshot:  # the files named were read by the command line before Qt (cli/gui.py)
            size = size or SCREENSHOT_SIZE
    except InputError as exc:
        print(f"gradsim gui: error: {exc}", file=sys.stderr)
        return 2
    _quiet_qt_messages()
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("gradsim")
    app.setOrganizationName("gradsim")
    window = MainWindow(projector=bool(args.projector), use_settings=not screenshot)
    errors: list[str] = []
    if screenshot:
        # nobody reads the message bar of a screenshot run: what it would say becomes the exit status
        show_in_window = window.show_error

        def record_error(text: str) -> None:
            errors.append(text)
            show_in_window(text)

        window.show_error = record_error
    last_scene = window.restore_state()
    screen = app.primaryScreen()
    available = screen.availableGeometry() if screen is not None else None
    restored = window._use_settings and window.settings_store.contains("geometry")
    if size is None and not restored:
        # first start: the whole screen (a projector's 1024x768 needs every pixel); very large
        # monitors get a comfortable 2560x1440 at most
        width = min(2560, available.width()) if available is not None else 1280
        height = min(1440, available.height()) if available is not None else 800
        size = (width, height)
    if size is not None:
        window.resize(*size)
        if available is not None:
            window.move(available.topLeft())
    # the type scale of this size now, not after the resize timer: a scene built in the larger base
    # sizes asked for more height than an 800x600 projector has, and the window grew past the screen
    window._follow_size()

    scene_id = args.scene or (last_scene if last_scene in window.scene_ids() else None) or window.scene_ids()[0]
    if args.fullscreen:
        window.showFullScreen()
        window.fullscreen_action.setChecked(True)
    else:
        window.show()
    scene = window.show_scene(scene_id)
    if getattr(args, "preset", None):
        try:
            scene.apply_preset(args.preset)
        except (ValueError, KeyError) as exc:  # an unknown id: one line (a screenshot run exits 2 on it)
            window.show_error(f"--preset: {exc}")
    if args.scenario:
        window.open_scenario_path(args.scenario)
        scene = window.current_scene() or scene
    if getattr(args, "open_model", None):
        window.open_model_path(args.open_model)
    if getattr(args, "open_run", None):
        window.open_run_path(args.open_run)
    lesson = getattr(args, "lesson", None)
    if lesson:
        if lesson == "builtin":
            window.lesson_bar.start_builtin()
        else:
            window.lesson_bar.load_path(lesson)
        scene = window.current_scene() or scene

    if screenshot:
        status = {"code": 1}

        def refuse(message: str) -> int:
            print(f"gradsim gui: error: {' '.join(message.split())}", file=sys.stderr)
            # let a job already running end (say, the first import of torch): stopped by the
            # interpreter's exit, it would print a traceback under the one line
            window.worker.shutdown(timeout=120)
            window.close()
            return 2

        if errors:  # a file the window could not open (a scenario beyond the app's size, ...): its last word
            return refuse(errors[-1])

        def save() -> None:
            app.processEvents()
            if errors:
                status["code"] = refuse(errors[-1])
                app.quit()
                return
            window.toast.hide()  # "Loaded … from …" and such: a passing note, not part of the picture
            app.processEvents()
            pixmap = window.grab()
            if pixmap.save(str(screenshot), "PNG"):
                status["code"] = 0
            else:
                print(f"gradsim gui: error: could not write {screenshot}", file=sys.stderr)
                status["code"] = 2
            window.close()
            app.quit()

        def timeout() -> None:
            print(f"gradsim gui: error: scene '{scene.scene_id}' drew nothing within 120 s", file=sys.stderr)
            window.close()
            app.quit()

        if scene.drawn_once:
            QTimer.singleShot(300, save)
        else:
            scene.drawn.connect(lambda: QTimer.singleShot(300, save))
        QTimer.singleShot(120_000, timeout)
        app.exec()
        return status["code"]
    return app.exec()
