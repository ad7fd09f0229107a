"""``gradsim gui`` (and ``gradsim`` alone): the options of the desktop app."""

from __future__ import annotations

import argparse

from ..registry import SCENE_IDS


def add_parser(sub) -> argparse.ArgumentParser:
    gui = sub.add_parser("gui", help="open the desktop app")
    gui.add_argument("--scene", choices=SCENE_IDS, help="scene to open")
    gui.add_argument("--scenario", metavar="FILE", help="scenario file to open")
    gui.add_argument("--projector", action="store_true", help="projector colours: light, high contrast, large")
    gui.add_argument("--fullscreen", action="store_true", help="start full screen (F11 toggles)")
    gui.add_argument("--screenshot", metavar="FILE.png", help="save a PNG once the scene is drawn, then exit")
    gui.add_argument("--size", metavar="WxH", help="window size, e.g. 1280x800")
    gui.add_argument("--lesson", metavar="FILE", help="open a lesson file, or 'builtin' for the built-in lesson")
    gui.add_argument("--open-model", metavar="FILE", help="open a saved nn.RNN/LSTM/GRU state dict (.pt, .safetensors)")
    gui.add_argument("--open-run", metavar="FILE", help="open a gradsim.monitor run log and follow it")
    gui.set_defaults(run=None)
    return gui


def run(args: argparse.Namespace) -> int:
    from ..ui.launch import run_app

    return run_app(args)
