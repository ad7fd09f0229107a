"""The flow scene and the main window, driven through real widgets, checked against the engine."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QObject

from gradsim.engine import GeneratorSettings, gradient_flow, load_scenario
from gradsim.engine.scenario import save_scenario
from gradsim.ui.plots import colormap

from .conftest import wait_idle

ROOT = Path(__file__).resolve().parents[2]


def plotted(scene):
    x, y = scene.curve.getData()
    return np.asarray(x), np.asarray(y)


def expected(scene):
    s = scene.generator_settings()
    vanish, explode = scene.thresholds()
    return gradient_flow(s.build(), vanish, explode)


@pytest.fixture
def flow(main_window, qtbot):
    scene = main_window.show_scene("flow")
    wait_idle(qtbot, main_window)
    assert scene.result is not None
    return scene


class EventCounter(QObject):
    """Counts the events of one type that reach the objects it is installed on."""

    def __init__(self, kind: QEvent.Type) -> None:
        super().__init__()
        self.kind = kind
        self.count = 0

    def eventFilter(self, obj, event):  # noqa: N802 - Qt naming
        if event.type() == self.kind:
            self.count += 1
        return False


def assert_shows_engine(scene):
    ref = expected(scene)
    x, y = plotted(scene)
    np.testing.assert_array_equal(x, ref.t.astype(float))
    finite = np.isfinite(ref.log10_grad_norm)
    np.testing.assert_allclose(y[finite], ref.log10_grad_norm[finite], rtol=1e-12)
    assert scene.badge.text().split()[0].lower() == ref.verdict.kind


@pytest.mark.parametrize("control, value", [
    ("scale", 1.37), ("steps", 123), ("hidden", 7), ("input_scale", 2.0),
])
def test_each_slider_redraws_engine_values(flow, main_window, qtbot, control, value):
    widget = getattr(flow, control)
    before = plotted(flow)[1].copy()
    widget.slider.setValue(widget.slider.value() + 3)  # drag the real slider a little
    widget.setValue(value)
    wait_idle(qtbot, main_window)
    assert getattr(flow.generator_settings(), control) == pytest.approx(value)
    assert_shows_engine(flow)
    assert not np.array_equal(before, plotted(flow)[1])


@pytest.mark.parametrize("control, value", [
    ("activation", "sigmoid"), ("activation", "relu"), ("activation", "identity"),
    ("init", "orthogonal"), ("init", "identity"), ("init", "pytorch_default"),
])
def test_each_choice_redraws_engine_values(flow, main_window, qtbot, control, value):
    getattr(flow, control).set_value(value)
    wait_idle(qtbot, main_window)
    assert getattr(flow.generator_settings(), control) == value
    assert_shows_engine(flow)


def test_seed_and_thresholds(flow, main_window, qtbot):
    flow.seed.setValue(77)
    flow.vanish_exp.setValue(-3)
    flow.explode_exp.setValue(2)
    wait_idle(qtbot, main_window)
    assert_shows_engine(flow)
    assert flow.vanish_line.value() == pytest.approx(-3)
    assert flow.explode_line.value() == pytest.approx(2)


def test_burst_of_slider_moves_ends_on_the_last(flow, main_window, qtbot):
    done_before = main_window.worker.completed
    for i in range(200):
        flow.scale.slider.setValue(i)  # 0.00 .. 1.99
    wait_idle(qtbot, main_window)
    assert flow.generator_settings().scale == pytest.approx(1.99)
    assert_shows_engine(flow)
    ran = main_window.worker.completed - done_before
    assert ran < 200  # coalesced: stale requests were replaced, not queued


def test_underflow_and_zero_markers(flow, main_window, qtbot):
    flow.apply_settings({"activation": "sigmoid", "steps": 1000, "scale": 1.0})
    wait_idle(qtbot, main_window)
    ref = expected(flow)
    assert ref.log10_grad_norm[0] < -308
    xs = flow.below_float.getData()[0]
    assert len(xs) == int(ref.underflow.sum()) > 0
    _, y = plotted(flow)
    assert np.all(np.isfinite(y))  # no silent gaps: exact log values are drawn


def test_forward_overflow_is_marked(flow, main_window, qtbot):
    flow.apply_settings({"activation": "identity", "init": "orthogonal", "scale": 2.5, "steps": 1000,
                         "input_scale": 1.0})
    wait_idle(qtbot, main_window)
    ref = expected(flow)
    assert ref.forward_overflow.any()
    assert len(flow.overflow_marks.getData()[0]) == int(ref.forward_overflow.sum())
    assert flow.badge.text().startswith("EXPLODING")


def test_presets_apply_undo_and_redo(flow, main_window, qtbot):
    flow.preset_choice.set_value("sigmoid20")
    wait_idle(qtbot, main_window)
    s = flow.generator_settings()
    assert (s.activation, s.scale, s.steps) == ("sigmoid", 1.0, 20)
    assert flow.state.preset == "sigmoid20"
    assert_shows_engine(flow)
    main_window.undo()
    wait_idle(qtbot, main_window)
    assert flow.generator_settings().activation == "tanh"
    assert flow.preset_choice.value() == "custom" and flow.activation.value() == "tanh"
    main_window.redo()
    wait_idle(qtbot, main_window)
    assert flow.state.preset == "sigmoid20" and flow.activation.value() == "sigmoid"
    assert_shows_engine(flow)


def test_a_slider_drag_is_one_undo_step(flow, main_window, qtbot):
    start = flow.state
    for value in (0.95, 1.0, 1.05, 1.1):  # one drag: many values, one step
        flow.scale.slider.setValue(round(value / 0.01))
    wait_idle(qtbot, main_window)
    assert flow.state.scale == pytest.approx(1.1) and flow.state.preset == "custom"
    assert_shows_engine(flow)
    main_window.undo()
    wait_idle(qtbot, main_window)
    assert flow.state == start and flow.scale.value() == pytest.approx(start.scale)
    assert_shows_engine(flow)


def test_changing_the_seed_keeps_the_preset(flow, main_window, qtbot):
    flow.apply_preset("tanh12")
    flow.seed.setValue(7)
    wait_idle(qtbot, main_window)
    assert flow.state.preset == "tanh12" and flow.state.seed == 7
    flow.steps.setValue(60)
    assert flow.state.preset == "custom"


def test_pytorch_example_preset_shows_seed_numbers(flow, main_window, qtbot):
    flow.preset_choice.set_value("pytorch")
    wait_idle(qtbot, main_window)
    r = flow.result
    assert r.steps == 20 and r.grad_norm[-1] == pytest.approx(2.0)
    assert r.grad_norm[0] == pytest.approx(2.354e-4, rel=0.02)
    assert "PyTorch example" in flow.source_label.text()


def test_scenario_save_and_reopen_same_picture(flow, main_window, qtbot, tmp_path):
    flow.apply_settings({"scale": 1.21, "steps": 140, "activation": "relu", "seed": 5})
    wait_idle(qtbot, main_window)
    before = plotted(flow)[1].copy()
    path = tmp_path / "mine.gradsim.json"
    assert main_window.save_scenario_path(path)
    flow.reset()
    wait_idle(qtbot, main_window)
    assert main_window.open_scenario_path(path)
    wait_idle(qtbot, main_window)
    np.testing.assert_array_equal(plotted(flow)[1], before)


def test_explicit_scenario_opens(flow, main_window, qtbot, tmp_path):
    sc = GeneratorSettings(hidden=3, steps=12, seed=9).build()
    sc.generator = None  # write it as every-number-given
    path = tmp_path / "explicit.gradsim.json"
    save_scenario(sc, path)
    assert main_window.open_scenario_path(path)
    wait_idle(qtbot, main_window)
    ref = gradient_flow(load_scenario(path))
    np.testing.assert_allclose(plotted(flow)[1], ref.log10_grad_norm)


def test_bad_file_is_refused_and_state_kept(flow, main_window, qtbot):
    flow.apply_settings({"scale": 1.11})
    wait_idle(qtbot, main_window)
    before = plotted(flow)[1].copy()
    bad = ROOT / "tests" / "data" / "bad_scenarios" / "nan.gradsim.json"
    assert not main_window.open_scenario_path(bad)
    assert main_window.message_bar.isVisible()
    assert "nan.gradsim.json" in main_window.message_bar.label.text()
    wait_idle(qtbot, main_window)
    np.testing.assert_array_equal(plotted(flow)[1], before)
    assert flow.generator_settings().scale == pytest.approx(1.11)


def test_apply_settings_refuses_bad_values(flow):
    for bad in ({"scale": -1}, {"steps": 0}, {"activation": "softplus"}, {"colour": "red"}, {"hidden": 1000},
                {"vanish": 10}):
        with pytest.raises(ValueError):
            flow.apply_settings(bad)


def test_csv_export_is_engine_data(flow, main_window, qtbot, tmp_path):
    path = tmp_path / "flow.csv"
    assert main_window.export_to("csv", path)
    rows = list(csv.DictReader(path.open()))
    ref = expected(flow)
    assert [int(r["t"]) for r in rows] == list(ref.t)
    np.testing.assert_array_equal([float(r["log10_grad_norm"]) for r in rows], ref.log10_grad_norm)


def test_png_and_svg_export(flow, main_window, tmp_path):
    assert main_window.export_to("png", tmp_path / "a.png")
    assert (tmp_path / "a.png").stat().st_size > 1000
    assert main_window.export_to("svg", tmp_path / "a.svg")
    assert "<svg" in (tmp_path / "a.svg").read_text()


def test_animation_play_step_rewind(flow, main_window, qtbot):
    steps = flow.result.steps
    flow.rewind()
    assert flow.pulse.position == steps + 1
    assert flow.chain.unlit_steps == steps  # nothing lit before the pulse leaves L
    flow.step(1)
    assert flow.pulse.position == steps
    assert flow.chain.unlit_steps == steps - 1
    assert flow.cursor.value() == steps
    flow.speed.setValue(200)
    flow.play_pause()
    assert flow.pulse.playing
    qtbot.waitUntil(lambda: not flow.pulse.playing, timeout=5000)
    assert flow.pulse.position == 1.0
    assert flow.chain.unlit_steps == 0


def test_keyboard_shortcuts(flow, main_window, qtbot):
    from PySide6.QtCore import Qt

    main_window.activateWindow()
    flow.rewind()
    qtbot.keyClick(main_window, Qt.Key.Key_Right)
    assert flow.pulse.position == flow.result.steps
    qtbot.keyClick(main_window, Qt.Key.Key_R)
    assert flow.pulse.position == flow.result.steps + 1


def test_projector_mode_and_reset_all(flow, main_window, qtbot):
    main_window.toggle_projector()
    assert main_window.theme.projector and flow.theme.projector
    flow.apply_settings({"scale": 2.2})
    wait_idle(qtbot, main_window)
    main_window.reset_all()
    wait_idle(qtbot, main_window)
    assert flow.generator_settings().scale == pytest.approx(0.9)
    assert_shows_engine(flow)
    main_window.undo()
    wait_idle(qtbot, main_window)
    assert flow.generator_settings().scale == pytest.approx(2.2)


def test_close_during_computation_is_clean(qtbot):
    from gradsim.ui.app import MainWindow

    window = MainWindow(use_settings=False)
    window.show()
    scene = window.show_scene("flow")
    scene.apply_settings({"steps": 1000, "hidden": 256})
    for i in range(20):
        scene.scale.slider.setValue(100 + i)
    window.close()
    assert window.worker._thread.is_alive() is False


def test_settings_round_trip(flow, main_window, qtbot):
    flow.apply_settings({"scale": 0.7, "steps": 33, "init": "orthogonal", "seed": 4, "vanish": 1e-4})
    state = flow.settings()
    flow.reset()
    flow.apply_settings(state)
    assert flow.settings() == state
    json.dumps(state)


def test_screenshot_option(tmp_path):
    out = tmp_path / "flow.png"
    proc = subprocess.run([sys.executable, "-m", "gradsim", "gui", "--scene", "flow", "--screenshot", str(out),
                           "--size", "1024x768"], capture_output=True, text=True, timeout=120, cwd=ROOT,
                          env={**__import__("os").environ, "QT_QPA_PLATFORM": "offscreen"})
    assert proc.returncode == 0, proc.stderr
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_control_change_paints_the_chart_once(flow, main_window, qtbot):
    """pyqtgraph applies a new view range during the next paint, which dirties the chart again and
    costs a second paint of it (a third of the redraw time); the scene settles the view first."""
    counter = EventCounter(QEvent.Type.Paint)
    flow.chart.installEventFilter(counter)
    with qtbot.waitSignal(flow.drawn, timeout=20000):
        flow.scale.setValue(1.1)  # the first change after start-up also lays the chart out
    qtbot.wait(150)
    for value in (0.7, 1.3, 0.95):  # the y range changes with the scale: the case that painted twice
        counter.count = 0
        with qtbot.waitSignal(flow.drawn, timeout=20000):
            flow.scale.setValue(value)
        qtbot.wait(150)  # every pass Qt wants to make
        assert counter.count == 1, f"{counter.count} paints after setting the scale to {value}"
    assert_shows_engine(flow)


def test_long_chains_are_one_image_strip_with_the_engines_colours(flow, main_window, qtbot):
    """Above STRIP_FROM nodes the chain is drawn as an image, one pixel per step: each pixel is the colour
    map's colour of that step's log10 norm on the colour bar's scale, and a grey cover hides the
    steps the pulse has not reached."""
    from gradsim.ui.chain import STRIP_FROM

    flow.apply_settings({"steps": 200})
    wait_idle(qtbot, main_window)
    chain, ref = flow.chain, expected(flow)
    assert chain.strip_mode and chain.strip.isVisible() and len(chain.nodes.data) == 0
    logs = ref.log10_grad_norm
    finite = logs[np.isfinite(logs)]
    lo, hi = finite.min(), finite.max()
    assert chain.colorbar.levels() == pytest.approx((lo, hi))
    index = np.clip(((np.where(np.isfinite(logs), logs, lo) - lo) / (hi - lo) * 63).astype(int), 0, 63)
    lut = np.asarray(colormap(main_window.theme).getLookupTable(0.0, 1.0, 64, alpha=True), dtype=np.ubyte)
    np.testing.assert_array_equal(chain.strip.image[:, 0, :], lut[index])
    flow.rewind()
    flow.step(1)
    flow.step(1)
    assert chain.unlit_steps == 198 and chain.strip_cover.rect().width() == 198

    flow.apply_settings({"steps": STRIP_FROM})
    wait_idle(qtbot, main_window)
    assert not chain.strip_mode and not chain.strip.isVisible() and len(chain.nodes.data) == STRIP_FROM


def test_readouts_change_without_relayout(flow, qtbot):
    """The readouts show the engine's figures, and a new figure repaints the readout alone: no layout
    request reaches the grid around it (a QLabel's would, on every control move)."""
    ref = flow.result
    assert f"{ref.spectral_radius:.4g}" in flow.readout_labels["radius"].text()
    assert f"{ref.spectral_norm:.4g}" in flow.readout_labels["norm"].text()

    label = flow.readout_labels["factor"]
    counter = EventCounter(QEvent.Type.LayoutRequest)
    label.parentWidget().installEventFilter(counter)
    label.setText("<b>something else</b>")
    qtbot.wait(50)
    assert label.text() == "<b>something else</b>" and counter.count == 0


def test_verdict_changes_without_relayout(flow, main_window, qtbot):
    """The badge keeps one size whatever it says, so a new verdict repaints the badge alone: no layout
    request reaches the views around it (a label that followed its text cost two more paint passes
    of the window per control move). It is still wide enough for the widest verdict."""
    pane = flow.badge.parentWidget()
    counter = EventCounter(QEvent.Type.LayoutRequest)
    pane.installEventFilter(counter)
    seen = set()
    for settings in ({"steps": 1000, "scale": 0.9}, {"steps": 9, "scale": 0.9}, {"steps": 50, "scale": 1.5},
                     {"steps": 200, "scale": 1.0}):
        size = flow.badge.size()
        flow.apply_settings(settings)
        wait_idle(qtbot, main_window)
        qtbot.wait(50)
        seen.add(flow.badge.text())
        assert flow.badge.size() == size
        assert flow.badge.text().split()[0].lower() == expected(flow).verdict.kind
        lines = flow.badge.text().split("\n")
        metrics = flow.badge.fontMetrics()
        assert max(metrics.horizontalAdvance(line) for line in lines) < flow.badge.contentsRect().width()
    assert len(seen) == 4 and counter.count == 0


def test_chart_fits_its_view_after_a_theme_change(main_window, qtbot):
    """The chart's layout is fitted to its view whenever the legend is rebuilt. Before, a layout that
    had been wider at some moment (here: while the window went to projector mode at 1024 x 768) kept
    that width, wider than the view, and clipped the plot's right side and the legend, until
    something else happened to resize the chart."""
    main_window.resize(1024, 768)
    main_window.toggle_projector()
    flow = main_window.show_scene("flow")
    flow.apply_settings({"steps": 1000, "hidden": 128})
    wait_idle(qtbot, main_window)
    qtbot.wait(50)
    chart = flow.chart
    assert chart.centralWidget.geometry().width() <= chart.viewport().width() + 0.5
    assert chart.legend.geometry().right() <= chart.viewport().width()


def test_strip_mode_hides_the_empty_node_scatters(flow, main_window, qtbot):
    """With the image strip standing in for the nodes, the two node scatters are empty and hidden
    (an empty scatter still costs a paint); back to dots, they show again."""
    from gradsim.ui.chain import STRIP_FROM

    chain = flow.chain
    flow.apply_settings({"steps": STRIP_FROM + 50})
    wait_idle(qtbot, main_window)
    assert chain.strip.isVisible() and not chain.nodes.isVisible() and not chain.unlit.isVisible()
    flow.apply_settings({"steps": 20})
    wait_idle(qtbot, main_window)
    flow.rewind()
    flow.step(1)
    assert chain.nodes.isVisible() and chain.unlit.isVisible() and not chain.strip.isVisible()
    assert len(chain.nodes.data) == 20 and len(chain.unlit.data) == 19
