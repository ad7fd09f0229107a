"""How long does switching the theme take? Ratios against a repaint of the visible scene, same run.

A teacher presses Ctrl+P (projector mode on or off) in front of a class; a resized window changes
the type size, which is another theme. The window is built at 1280x800 (``--size``) with every
scene, the gates scene showing, each scene's first result drawn. Timed, in the GUI thread's CPU time (the worker's
threads and the machine's other work are left out) until Qt has delivered everything the change set
off (layouts, paints: event passes until one delivers nothing):

* projector on / off: ``toggle_projector()``;
* the same theme again: ``apply_theme(window.theme)``;
* another type size: ``apply_theme`` of the theme for a window 100 px taller (what a resize brings);
* the first showing of each scene that was hidden at a switch (it is restyled then) against showing
  a scene that is up to date, and the switch plus all seven first showings (a class that sees every
  scene once after the switch).

The baseline: one repaint of the visible scene (``repaint()``, painting its pictures and controls).

Run: ``python benchmarks/bench_theme.py`` (``--rounds N``, default 6 switches each way; ``--size WxH``)
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.ui.conftest import settle  # noqa: E402 - the UI tests' own: event passes until one delivers nothing


def timed(action) -> float:
    """GUI-thread CPU seconds of ``action()`` and of everything it sets off."""
    t0 = time.thread_time()
    action()
    settle()
    return time.thread_time() - t0


def wait_idle(window) -> None:
    for _ in range(200):
        settle()
        if window.worker.is_idle():
            settle()
            return
        time.sleep(0.02)


def build_window(size: tuple[int, int] = (1280, 800)):
    from PySide6.QtWidgets import QApplication

    from gradsim.ui.app import MainWindow

    app = QApplication.instance() or QApplication([])
    window = MainWindow(projector=False, use_settings=False)
    window.resize(*size)
    window._follow_size()  # the type for that height at once (a resize applies it after 120 ms)
    window.show()
    for scene_id in window.scene_ids():
        window.show_scene(scene_id)
        wait_idle(window)
    window.show_scene("gates")
    wait_idle(window)
    return app, window


def repaint_time(window, repeats: int = 7) -> float:
    scene = window.current_scene()
    return statistics.median(timed(scene.repaint) for _ in range(repeats))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=6, help="projector switches each way (default 6)")
    parser.add_argument("--size", default="1280x800", help="window size (default 1280x800)")
    args = parser.parse_args()
    from gradsim.ui.theme import theme_for

    size = tuple(int(v) for v in args.size.lower().split("x"))
    _app, window = build_window(size)
    timed(window.toggle_projector)  # one round trip first: lazily created things are not timed
    timed(window.toggle_projector)
    base = repaint_time(window)

    on, off, same, taller = [], [], [], []
    for _ in range(args.rounds):
        on.append(timed(window.toggle_projector))
        same.append(timed(lambda: window.apply_theme(window.theme)))
        off.append(timed(window.toggle_projector))
        taller.append(timed(lambda: window.apply_theme(theme_for(False, window.height() + 100))))
        timed(lambda: window.apply_theme(theme_for(False, window.height())))

    # after a switch: the first showing of each scene hidden at it, against showing an up-to-date one
    switch = timed(window.toggle_projector)
    hidden = [s for s in window.scene_ids() if s != "gates"]
    first_show = {s: timed(lambda s=s: window.show_scene(s)) for s in hidden}
    again_show = {s: timed(lambda s=s: window.show_scene(s)) for s in hidden}
    window.show_scene("gates")
    settle()
    timed(window.toggle_projector)
    base_after = repaint_time(window)
    base = statistics.median([base, base_after])

    def row(what: str, seconds: float) -> None:
        print(f"| {what} | {seconds * 1000:.0f} ms | {seconds / base:.1f}× |")

    print(f"window {size[0]}x{size[1]}, every scene built, gates showing; baseline: one repaint of the gates "
          f"scene {base * 1000:.1f} ms (GUI-thread CPU)")
    print("| switch | time | × one repaint |")
    print("|---|---|---|")
    row("projector on (median)", statistics.median(on))
    row("projector off (median)", statistics.median(off))
    row("the same theme again (median)", statistics.median(same))
    row("type size of a 100 px taller window (median)", statistics.median(taller))
    row("after a switch: first showing of a hidden scene (median of 7)", statistics.median(first_show.values()))
    row("showing an up-to-date scene (median of 7)", statistics.median(again_show.values()))
    row("a switch, then each of the 7 other scenes shown once", switch + sum(first_show.values()))
    print("first showings after the switch: " + ", ".join(
        f"{s} {first_show[s] * 1000:.0f} ms (again {again_show[s] * 1000:.0f})" for s in hidden))
    window.close()


if __name__ == "__main__":
    main()
