"""``gradsim gui`` (and ``gradsim`` alone): the options of the desktop app."""

from __future__ import annotations

import argparse
import os
import sys

from ..registry import SCENE_IDS
from .common import finite_float, whole_number


def add_parser(sub) -> argparse.ArgumentParser:
    gui = sub.add_parser("gui", help="open the desktop app")
    gui.add_argument("--scene", choices=SCENE_IDS, help="scene to open")
    gui.add_argument("--scenario", metavar="FILE", help="scenario file to open")
    gui.add_argument("--projector", action="store_true", help="projector colours: light, high contrast, large")
    gui.add_argument("--fullscreen", action="store_true", help="start full screen (F11 toggles)")
    gui.add_argument("--screenshot", metavar="FILE.png",
                     help="save a PNG of the window once the scene is drawn, then exit (no display needed)")
    gui.add_argument("--size", metavar="WxH", help="window size, e.g. 1024x768 (with --screenshot: 1280x800 by default)")
    gui.add_argument("--lesson", metavar="FILE", help="open a lesson file, or 'builtin' for the built-in lesson")
    gui.add_argument("--open-model", metavar="FILE", help="open a saved nn.RNN/LSTM/GRU state dict (.pt, .safetensors)")
    gui.add_argument("--open-run", metavar="FILE",
                     help="open a run: one saved by gradsim train --save (or the lab) in the training lab, "
                          "where --record replays it; a gradsim.monitor run log in its own window")
    gui.add_argument("--preset", metavar="ID", help="show one of the scene's presets")
    rec = gui.add_argument_group("recording (render the animation frame by frame, then exit)")
    rec.add_argument("--record", metavar="FILE", help="write the scene's animation (or the lesson) as .gif, .webp or .mp4")
    rec.add_argument("--seconds", type=finite_float(0, 120), default=None,
                     help="length (default: the animation's own; per step with --lesson)")
    rec.add_argument("--fps", type=whole_number(1, 60), default=30, help="frames per second (default %(default)s)")
    gui.set_defaults(run=None)
    return gui


def missing_display(environ=None, platform: str | None = None) -> str | None:
    """Why the app cannot open a window here, or None.

    On Linux, Qt with neither an X11 nor a Wayland display and no platform plugin chosen aborts the
    process with several lines of advice about reinstalling; this says the cause and the way out in one
    line instead, before Qt is loaded. Windows and macOS always have a display to draw on."""
    environ = os.environ if environ is None else environ
    platform = sys.platform if platform is None else platform
    if not platform.startswith("linux"):
        return None
    if environ.get("DISPLAY") or environ.get("WAYLAND_DISPLAY") or environ.get("QT_QPA_PLATFORM"):
        return None
    return ("no display: neither DISPLAY nor WAYLAND_DISPLAY is set. Start gradsim from a desktop session "
            "(or set DISPLAY, e.g. DISPLAY=:0), or save a picture without a display: "
            "gradsim gui --scene flow --screenshot flow.png")


def check_files(args) -> None:
    """Read every file named on the command line with the engine's own loaders, before Qt is loaded,
    so that a run nobody watches (``--screenshot``, ``--record``) refuses a bad one in one line
    (InputError) at once instead of saving a picture of an error message. The window reads them
    again; these loaders are the only judges."""
    if getattr(args, "scenario", None):
        from ..engine.scenario import load_scenario

        load_scenario(args.scenario)
    if getattr(args, "lesson", None) and args.lesson != "builtin":
        from ..lesson import load_lesson

        load_lesson(args.lesson)
    if getattr(args, "open_model", None):
        from ..monitor.model_file import load_model_file

        load_model_file(args.open_model)
    if getattr(args, "open_run", None):
        from ..engine.training import is_saved_run, load_runs

        if is_saved_run(args.open_run):
            load_runs(args.open_run)
        else:
            from ..monitor.runlog import read_run_log

            read_run_log(args.open_run)


def run(args: argparse.Namespace) -> int:
    if getattr(args, "record", None) or getattr(args, "screenshot", None):
        from ..engine.errors import InputError

        try:
            check_files(args)
        except InputError as exc:
            print(f"gradsim gui: error: {exc}", file=sys.stderr)
            return 2
    if args.record:
        from ..ui.record import run_record

        return run_record(args)
    if not args.screenshot:
        problem = missing_display()
        if problem:
            print(f"gradsim: error: {problem}", file=sys.stderr)
            return 2
    from ..ui.launch import run_app

    return run_app(args)
