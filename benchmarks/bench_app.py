"""How fast does the app answer? Ratios against baselines measured in the same run.

1. Launch to first picture: ``gradsim gui --scene flow --screenshot`` (the window is grabbed once the
   scene's first result is drawn) against a bare PySide6 window shown and grabbed (the floor any Qt app
   pays), both as fresh processes, offscreen.
2. Control change to redrawn picture, in process: from setting the weight-scale control to the last
   paint it causes (chart and chain included), at (T, n) = (200, 64) and (1000, 128), against the
   engine computation alone.
3. One animation frame (moving the backward pulse and greying the unreached nodes) at T = 1000,
   against the 16.7 ms budget of 60 frames per second.

Run: ``python benchmarks/bench_app.py``
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


def redraw_latency(steps: int, hidden: int, repeats: int = 15) -> tuple[float, float]:
    """From setting the control to the last paint it causes. Qt paints in several passes (the
    slider, then each chart's scene), some of them after the scene's ``drawn`` signal, so the clock
    stops at the last paint event seen while the event loop is pumped for 60 ms afterwards."""
    from PySide6.QtCore import QEvent, QObject
    from PySide6.QtWidgets import QApplication

    from gradsim.engine import GeneratorSettings, gradient_flow
    from gradsim.ui.app import MainWindow

    class LastPaint(QObject):
        at = 0.0

        def eventFilter(self, obj, event):  # noqa: N802 - Qt naming
            if event.type() == QEvent.Type.Paint:
                self.at = time.perf_counter()
            return False

    app = QApplication.instance() or QApplication([])
    window = MainWindow(use_settings=False)
    window.resize(1280, 800)
    window.show()
    scene = window.show_scene("flow")
    scene.apply_settings({"steps": steps, "hidden": hidden})
    _wait_drawn(app, scene)
    _pump(app, 0.2)
    last_paint = LastPaint()
    app.installEventFilter(last_paint)
    latencies, engine = [], []
    for i in range(repeats):
        value = 0.8 + 0.01 * (i % 10)
        t0 = time.perf_counter()
        scene.scale.setValue(value)
        _wait_drawn(app, scene)
        _pump(app, 0.06)
        latencies.append(last_paint.at - t0)
        settings = GeneratorSettings(hidden=hidden, steps=steps, scale=value, input_scale=0.5)
        t0 = time.perf_counter()
        r = gradient_flow(settings.build())
        _ = r.spectral_radius, r.spectral_norm, r.log10_bound
        engine.append(time.perf_counter() - t0)
        _pump(app, 0.02)
    app.removeEventFilter(last_paint)
    window.close()
    return statistics.median(latencies), statistics.median(engine)


def _pump(app, seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        app.processEvents()
        time.sleep(0.0005)


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
    from PySide6.QtWidgets import QApplication

    from gradsim.ui.app import MainWindow

    app = QApplication.instance() or QApplication([])
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
    ours, bare = launch_times()
    print("gradsim app benchmark (offscreen, medians)")
    print(f"launch to first picture: {ours:.2f} s; bare Qt window: {bare:.2f} s; ratio {ours / bare:.2f}x "
          f"(goal: first picture within 2.5 s)")
    for steps, hidden, goal in ((200, 64, 16), (1000, 128, 50)):
        lat, eng = redraw_latency(steps, hidden)
        print(f"control change to redraw at (T={steps}, n={hidden}): {lat * 1e3:.1f} ms; engine alone "
              f"{eng * 1e3:.1f} ms; ratio {lat / eng:.1f}x (goal: within {goal} ms)")
    ft = frame_time()
    print(f"animation frame at T=1000: {ft * 1e3:.2f} ms = {ft / (1 / 60):.2f} of a 60 fps frame budget")


if __name__ == "__main__":
    main()
