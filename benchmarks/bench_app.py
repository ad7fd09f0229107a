"""How fast does the app answer? Ratios against baselines measured in the same run.

1. Launch to first picture: ``gradsim gui --scene flow --screenshot`` (the window is grabbed once the
   scene's first result is drawn) against a bare PySide6 window shown and grabbed (the floor any Qt app
   pays), both as fresh processes, offscreen.
2. Control change to redrawn picture, in process: from setting the weight-scale control to the end
   of the last paint it causes (chart and chain included), at (T, n) = (200, 64) and (1000, 128),
   split into engine (worker thread), draw (the scene's Python code) and paint (Qt painting the
   window, pass by pass), so it shows what dominates; the ratio is to the engine alone. The event
   loop is Qt's own, as in the app (no polling with sleeps, which added up to half a millisecond
   per hop), and only the window's UpdateRequest events pass through Python (an application-wide
   event filter put a Python call on every event).
3. One animation frame (moving the backward pulse and greying the unreached nodes) at T = 1000,
   against the 16.7 ms budget of 60 frames per second.

Run: ``python benchmarks/bench_app.py`` (``--redraw-only`` skips launch and animation)
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BARE = """
import sys, time
from PySide6.QtWidgets import QApplication, QMainWindow, QLabel
app = QApplication(sys.argv[:1])
w = QMainWindow(); w.setCentralWidget(QLabel("hello")); w.resize(1024, 768); w.show()
app.processEvents(); w.grab().save(sys.argv[1], "PNG")
"""


def launch_times(repeats: int = 5) -> tuple[float, float]:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    ours, bare = [], []
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "x.png")
        for _ in range(repeats):
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-m", "gradsim", "gui", "--scene", "flow", "--screenshot", out,
                            "--size", "1024x768"], check=True, env=env, capture_output=True, cwd=ROOT)
            ours.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-c", BARE, out], check=True, env=env, capture_output=True)
            bare.append(time.perf_counter() - t0)
    return statistics.median(ours), statistics.median(bare)


class _Split:
    """Where one control change's time goes, measured by timestamps in the GUI thread.

    * engine: ``compute_flow`` on the worker thread (timed around the function the scene submits);
    * draw: the scene's Python code that hands the result to the views (``on_result``);
    * paint: Qt painting the window. Every widget paint of a Qt 6 window happens inside an
      UpdateRequest event delivered to the top-level window (posted by ``update()``, sent at once
      by ``repaint()`` and by each QGraphicsScene that flushes its view), so an event filter on the
      window alone times all of it (backgrounds, every widget, the copy to the backing store)
      while adding no Python call to the hundreds of other events;
    * other: the rest of the wall time (event delivery, signals, the slider's own handling, the
      hand-over to and from the worker thread).

    The clock stops at the end of the last paint the change causes, seen while Qt's own event loop
    runs for 60 ms after the scene's ``drawn`` signal: Qt paints in several passes (the slider,
    then the readouts and each chart's scene), some after ``drawn``; a paint deferred to a later
    pass shows up here as one more pass, it is not missed.
    """

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.engine = self.draw = self.paint = 0.0
        self.last_paint_end = 0.0
        self.passes = 0
        self.pass_times: list[float] = []


def _paint_timer(split: _Split):
    """An event filter for the top-level window that delivers each UpdateRequest itself, timed."""
    from PySide6.QtCore import QEvent, QObject

    class PaintTimer(QObject):
        active = False

        def eventFilter(self, obj, event):  # noqa: N802 - Qt naming
            if not self.active or event.type() != QEvent.Type.UpdateRequest:
                return False
            t0 = time.perf_counter()
            obj.event(event)  # the window paints its dirty widgets here
            t1 = time.perf_counter()
            split.paint += t1 - t0
            split.passes += 1
            split.pass_times.append(t1 - t0)
            split.last_paint_end = t1
            return True

    return PaintTimer()


def _make_app():
    from PySide6.QtWidgets import QApplication

    return QApplication.instance() or QApplication([])


def redraw_latency(steps: int, hidden: int, repeats: int = 15) -> dict[str, float]:
    """Medians over ``repeats`` weight-scale changes of: total (control change to the end of the
    last paint), engine, draw, paint, other (see :class:`_Split`), paint passes per change and the
    duration of each pass."""
    from gradsim.ui.app import MainWindow

    app = _make_app()
    window = MainWindow(use_settings=False)
    window.resize(1280, 800)
    window.show()
    scene = window.show_scene("flow")
    scene.apply_settings({"steps": steps, "hidden": hidden})
    _wait_drawn(app, scene)
    _pump(app, 0.2)
    split = _Split()
    submit, on_result = scene.request, scene.on_result

    def timed_request(fn, *args, key="main"):
        def job(*a):
            t0 = time.perf_counter()
            try:
                return fn(*a)
            finally:
                split.engine += time.perf_counter() - t0
        return submit(job, *args, key=key)

    def timed_on_result(result, key):
        t0 = time.perf_counter()
        on_result(result, key)
        split.draw += time.perf_counter() - t0

    scene.request, scene.on_result = timed_request, timed_on_result
    paint_timer = _paint_timer(split)
    window.installEventFilter(paint_timer)
    rows, pass_times = [], []
    try:
        for i in range(repeats + 2):
            split.reset()
            paint_timer.active = True
            t0 = time.perf_counter()
            scene.scale.setValue(0.8 + 0.01 * (i % 20))
            _run_until_drawn(app, scene, settle=0.06)
            paint_timer.active = False
            total = split.last_paint_end - t0
            if i >= 2:  # the first two warm caches
                rows.append((total, split.engine, split.draw, split.paint,
                             total - split.engine - split.draw - split.paint, split.passes))
                pass_times.append(split.pass_times)
            _pump(app, 0.02)
    finally:
        window.removeEventFilter(paint_timer)
        del scene.request, scene.on_result
        window.close()
        _pump(app, 0.05)
    keys = ("total", "engine", "draw", "paint", "other", "passes")
    out = {k: statistics.median(col) for k, col in zip(keys, zip(*rows, strict=True), strict=True)}
    out["min_total"] = min(r[0] for r in rows)
    common = statistics.mode(len(p) for p in pass_times)
    out["pass_times"] = [statistics.median(p[k] for p in pass_times if len(p) == common) for k in range(common)]
    return out


def _pump(app, seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        app.processEvents()
        time.sleep(0.0005)


def _run_until_drawn(app, scene, settle: float, timeout: float = 10.0) -> None:
    """Run Qt's own event loop (as the app does, no polling gaps) until ``settle`` seconds after
    the scene's next ``drawn`` signal, so every paint the change causes happens inside it."""
    from PySide6.QtCore import QEventLoop, QTimer

    loop = QEventLoop()

    def drawn():
        QTimer.singleShot(int(settle * 1000), loop.quit)

    scene.drawn.connect(drawn)
    guard = QTimer(singleShot=True, interval=int(timeout * 1000))
    guard.timeout.connect(loop.quit)
    guard.start()
    loop.exec()
    guard.stop()
    scene.drawn.disconnect(drawn)


def _wait_drawn(app, scene, timeout: float = 10.0) -> None:
    flag = {"done": False}

    def mark():
        flag["done"] = True

    scene.drawn.connect(mark)
    end = time.perf_counter() + timeout
    while not flag["done"] and time.perf_counter() < end:
        app.processEvents()
    scene.drawn.disconnect(mark)
    app.processEvents()


def frame_time(steps: int = 1000, frames: int = 200) -> float:
    from gradsim.ui.app import MainWindow

    app = _make_app()
    window = MainWindow(use_settings=False)
    window.show()
    scene = window.show_scene("flow")
    scene.apply_settings({"steps": steps, "hidden": 64})
    _wait_drawn(app, scene)
    t0 = time.perf_counter()
    for i in range(frames):
        scene._on_pulse(steps + 1 - i * steps / frames)
        app.processEvents()
    window.close()
    return (time.perf_counter() - t0) / frames


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redraw-only", action="store_true", help="only the control-change latency")
    parser.add_argument("--repeats", type=int, default=25, help="control changes per size (default 25)")
    parser.add_argument("--size", action="append", metavar="T,n", help="only this (T, n); repeatable")
    args = parser.parse_args()
    sizes = [(200, 64, 16), (1000, 128, 50)]
    if args.size:
        goals = {(s, h): g for s, h, g in sizes}
        sizes = [(*map(int, text.split(",")), 0) for text in args.size]
        sizes = [(s, h, goals.get((s, h), g)) for s, h, g in sizes]
    print("gradsim app benchmark (offscreen, medians)")
    if not args.redraw_only:
        ours, bare = launch_times()
        print(f"launch to first picture: {ours:.2f} s; bare Qt window: {bare:.2f} s; ratio {ours / bare:.2f}x "
              f"(goal: first picture within 2.5 s)")
    for steps, hidden, goal in sizes:
        r = redraw_latency(steps, hidden, args.repeats)
        ms = {k: v * 1e3 for k, v in r.items() if k not in ("passes", "pass_times")}
        print(f"control change to last paint at (T={steps}, n={hidden}): {ms['total']:.1f} ms "
              f"(min {ms['min_total']:.1f}; goal: within {goal} ms) = engine {ms['engine']:.1f} "
              f"+ draw (Python) {ms['draw']:.1f} + paint {ms['paint']:.1f} + other {ms['other']:.1f}; "
              f"{r['passes']:.0f} paint passes; ratio to engine {r['total'] / r['engine']:.1f}x")
        print("  paint passes (ms, in order): " + ", ".join(f"{v * 1e3:.1f}" for v in r["pass_times"]))
    if not args.redraw_only:
        ft = frame_time()
        print(f"animation frame at T=1000: {ft * 1e3:.2f} ms = {ft / (1 / 60):.2f} of a 60 fps frame budget")


if __name__ == "__main__":
    main()
