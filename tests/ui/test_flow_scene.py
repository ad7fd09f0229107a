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
from PySide6.QtGui import QTextDocument

from gradsim.engine import GeneratorSettings, gradient_flow, load_scenario
from gradsim.engine.scenario import save_scenario
from gradsim.ui.plots import colormap, format_power, power_label

from .conftest import settle, wait_idle

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
    assert_badge_says(scene, ref)


def assert_badge_says(scene, ref):
    """The badge names the verdict and what it measured: the threshold crossed and from which step,
    or both thresholds and the number of steps."""
    headline, detail = scene.badge_lines
    assert headline == ref.verdict.kind.upper()
    assert headline in scene.badge.text() and detail in scene.badge.text()
    v = ref.verdict
    if v.kind == "healthy":
        assert detail == f"within {power_label(np.log10(v.vanish_threshold))}…{power_label(np.log10(v.explode_threshold))} " \
                         f"over T = {ref.steps}"
    else:
        limit = v.vanish_threshold if v.kind == "vanishing" else v.explode_threshold
        side = "below" if v.kind == "vanishing" else "above"
        assert detail == f"{side} {power_label(np.log10(limit))} from t = {v.first_t}"
        logs = ref.log10_grad_norm
        past = logs[v.first_t - 1] < np.log10(limit) if side == "below" else logs[v.first_t - 1] > np.log10(limit)
        assert past  # the step the badge names is past its threshold


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
    # one marker where the curve leaves float64 (followed from the loss back), not one per step: ~480
    # stacked markers merged into a thick band over the curve
    beyond = np.flatnonzero(ref.underflow | ref.overflow) + 1
    assert beyond.size > 0 and np.array_equal(beyond, np.arange(1, beyond.size + 1))  # t = 1 .. k
    xs = flow.below_float.getData()[0]
    assert list(xs) == [float(beyond[-1])]
    assert flow.below_float.isVisible()
    _, y = plotted(flow)
    assert np.all(np.isfinite(y))  # no silent gaps: exact log values are drawn


def test_forward_overflow_is_marked(flow, main_window, qtbot):
    flow.apply_settings({"activation": "identity", "init": "orthogonal", "scale": 2.5, "steps": 1000,
                         "input_scale": 1.0})
    wait_idle(qtbot, main_window)
    ref = expected(flow)
    assert ref.forward_overflow.any()
    assert len(flow.overflow_marks.getData()[0]) == int(ref.forward_overflow.sum())
    assert flow.badge_lines[0] == "EXPLODING"


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


def test_undo_and_redo_show_the_results_computed_before_at_once(flow, main_window, qtbot):
    """A state shown before is not computed again: undo and redo draw the result the engine gave
    for it (the worker keeps the last few), and the picture is that result's."""
    before = flow.result
    flow.apply_settings({"steps": 61})
    wait_idle(qtbot, main_window)
    after = flow.result
    assert after.steps == 61
    computed, reused = main_window.worker.completed, main_window.worker.reused
    main_window.undo()
    wait_idle(qtbot, main_window)
    assert flow.result is before and flow.state.steps == before.steps
    assert_shows_engine(flow)
    main_window.redo()
    wait_idle(qtbot, main_window)
    assert flow.result is after
    assert_shows_engine(flow)
    assert main_window.worker.completed == computed and main_window.worker.reused == reused + 2


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
    rows = list(csv.DictReader(path.read_text().splitlines()))
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


@pytest.mark.slow  # a process of its own; tests/cli/test_gui_options.py takes a screenshot by default
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
    settle()
    for value in (0.7, 1.3, 0.95):  # the y range changes with the scale: the case that painted twice
        counter.count = 0
        with qtbot.waitSignal(flow.drawn, timeout=20000):
            flow.scale.setValue(value)
        settle()  # every pass Qt wants to make
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
    # a factor reads as one, "× 0.807", as the spectrum and agreement scenes write it
    assert f"× {format_power(ref.log10_mean_factor)}" in flow.readout_labels["factor"].text()

    label = flow.readout_labels["factor"]
    counter = EventCounter(QEvent.Type.LayoutRequest)
    label.parentWidget().installEventFilter(counter)
    label.setText("<b>something else</b>")
    settle()
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
        seen.add(flow.badge.text())
        assert flow.badge.size() == size
        assert_badge_says(flow, expected(flow))
        doc = QTextDocument()
        doc.setDefaultFont(flow.badge.font())
        doc.setHtml(flow.badge.text())
        assert doc.idealWidth() < flow.badge.contentsRect().width()
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


# -- presenting (issue 14): the chain above the chart, labels off the curves, nothing cut ---------------


def _settle(qtbot, window):
    wait_idle(qtbot, window)


def assert_pulse_above_cursor(flow):
    """The pulse ring on the chain and the chart's cursor sit in the same screen column (to a pixel)."""
    from gradsim.ui.chain import chart_screen_x

    position = flow.pulse.position
    ring = flow.chain.pulse.data["x"][0]
    assert ring == position and flow.cursor.value() == pytest.approx(position)
    chain_x = flow.chain.screen_x(ring)
    chart_x = chart_screen_x(flow.chart.getPlotItem(), flow.cursor.value())
    assert chain_x == pytest.approx(chart_x, abs=1.0), (chain_x, chart_x)
    # and the nodes h0 and L, at t = 0 and T + 1, are inside the chain's view
    vb = flow.chain.plot.getViewBox()
    (x0, x1) = vb.viewRange()[0]
    assert x0 < 0 and x1 > flow.pulse.steps + 1


def test_chain_step_t_sits_above_chart_step_t(flow, main_window, qtbot):
    """Issue 14: the pulse at t = 49 sat 74 px left of the chart's cursor. Now every t is in the same
    screen column in both views: after a result, a resize, hiding the controls and a theme change."""
    flow.apply_settings({"steps": 100})
    _settle(qtbot, main_window)
    flow.rewind()
    for _ in range(52):
        flow.step(1)
    assert flow.pulse.position == 49
    assert_pulse_above_cursor(flow)
    main_window.resize(1100, 760)
    main_window._follow_size()
    _settle(qtbot, main_window)
    assert_pulse_above_cursor(flow)
    main_window._set_controls(False)
    _settle(qtbot, main_window)
    assert_pulse_above_cursor(flow)
    main_window.toggle_projector()
    _settle(qtbot, main_window)
    assert_pulse_above_cursor(flow)
    for steps in (7, 1000):  # few big nodes, and the image strip
        flow.apply_settings({"steps": steps})
        _settle(qtbot, main_window)
        flow.rewind()
        flow.step(1)
        flow.step(1)
        assert_pulse_above_cursor(flow)


def _label_box(chart, line):
    """A threshold label's box in the chart's data coordinates."""
    vb = chart.getPlotItem().getViewBox()
    rect = line.label.mapRectToItem(vb.childGroup, line.label.boundingRect())
    return rect


def assert_threshold_labels_clear(scene, curves):
    """Each threshold label is inside the plot, off every curve, and off the other label (or, when no
    place was free, in the legend instead)."""
    chart = scene.chart
    vb = chart.getPlotItem().getViewBox()
    (x0, x1), (y0, y1) = vb.viewRange()
    boxes = []
    legend = [label.text for _sample, label in chart.legend.items]
    for name, line in (("vanish", scene.vanish_line), ("explode", scene.explode_line)):
        if not line.label.isVisible():
            assert any(text.startswith(f"{'vanishing' if name == 'vanish' else 'exploding'} threshold") for text in legend)
            continue
        box = _label_box(chart, line)
        assert x0 <= box.left() and box.right() <= x1 and y0 <= box.top() and box.bottom() <= y1, name
        for x, y in curves:
            inside = (x >= box.left()) & (x <= box.right())
            ys = y[inside]
            assert not np.any((ys >= box.top()) & (ys <= box.bottom())), f"{name} label sits on a curve"
        boxes.append(box)
    if len(boxes) == 2:
        assert not boxes[0].intersects(boxes[1]), "the two threshold labels overlap"


@pytest.mark.parametrize("preset", ["sigmoid20", "tanh12", "tanh15zero", "linear12", "sigmoid1000", "explode"])
def test_threshold_labels_never_sit_on_curves(flow, main_window, qtbot, preset):
    flow.apply_preset(preset)
    _settle(qtbot, main_window)
    curves = [plotted(flow)]
    bx, by = flow.bound_curve.getData()
    if bx is not None and len(bx):
        curves.append((np.asarray(bx), np.asarray(by)))
    assert_threshold_labels_clear(flow, curves)


@pytest.mark.parametrize("preset", ["sigmoid1000", pytest.param("explode", marks=pytest.mark.slow)])
def test_long_presets_fit_a_projector(main_window, qtbot, preset):
    """Issue 14: at sigmoid/1000 steps and at 'explode' the legend and chart ran off the right edge."""
    main_window.resize(1024, 768)
    main_window.toggle_projector()
    flow = main_window.show_scene("flow")
    flow.apply_preset(preset)
    _settle(qtbot, main_window)
    chart = flow.chart
    assert chart.centralWidget.geometry().width() <= chart.viewport().width() + 0.5
    assert chart.legend.mapRectToScene(chart.legend.boundingRect()).right() <= chart.viewport().width()
    assert chart.getPlotItem().getViewBox().sceneBoundingRect().right() <= chart.viewport().width()


def test_pulse_value_is_never_cut(flow, main_window, qtbot):
    """The value under the pulse stays inside the chain's view at both ends of the chain."""
    from tests.ui.layout_audit import graphics_problems

    flow.apply_settings({"steps": 100})
    _settle(qtbot, main_window)
    flow.rewind()
    view = flow.chain.viewport().rect()
    for _ in range(101):
        flow.step(1)
        text = flow.chain.value_text
        box = flow.chain.mapFromScene(text.mapRectToScene(text.boundingRect())).boundingRect()
        assert view.adjusted(-2, -2, 2, 2).contains(box), (flow.pulse.position, box, view)
        t = flow.pulse.step_at()
        assert text.toPlainText().endswith(format_power(float(expected(flow).log10_grad_norm[t - 1])))
    assert not [p for p in graphics_problems(main_window, 0) if "ChainView" in p]


def test_colour_bar_is_labelled_every_decade_or_two(flow, main_window, qtbot):
    """Issue 14: colour bars spanning 30 decades carried one or two labels."""
    for settings in ({"steps": 100}, {"steps": 300}, {"activation": "sigmoid", "steps": 45, "scale": 1.0}):
        flow.apply_settings(settings)
        _settle(qtbot, main_window)
        axis = flow.chain.colorbar.axis
        lo, hi = flow.chain.colorbar.levels()
        ticks = axis.tickValues(lo, hi, axis.width())[0][1]
        assert 8 < (hi - lo) <= 31 and len(ticks) >= 5
        steps = np.diff(ticks)
        assert np.all(steps == steps[0]) and steps[0] in (1.0, 2.0), (settings, ticks)
        assert all(float(v).is_integer() for v in ticks)


def test_readout_captions_use_the_projects_typography(flow):
    captions = flow._readout_captions
    assert captions == {"factor": "per step", "radius": "ρ(W_hh)", "total": "ratio left at t = 1", "norm": "‖W_hh‖₂"}
    for value in flow.readout_labels.values():
        assert "_t" not in value.toolTip() and "||" not in value.toolTip()


def test_bound_is_written_as_the_spectrum_scene_writes_it(flow):
    """The dotted bound's legend names its factor γ, the symbol the spectrum scene defines (γ = max |f′|),
    and the chart says what γ is; it was an unexplained 'c'."""
    legend = [label.text for _sample, label in flow.chart.legend.items]
    assert "bound (γ‖W_hh‖₂)ᵀ⁻ᵗ" in legend
    assert "γ = max |f′|" in flow.chart.toolTip()
    spectrum_tip = spectrum_prediction_tip()
    assert "γ = max |f′|" in spectrum_tip


def spectrum_prediction_tip() -> str:
    from gradsim.engine.spectrum import theorem_prediction
    from gradsim.ui.scenes.spectrum import prediction_tip

    return prediction_tip(theorem_prediction(np.eye(2) * 0.5, "tanh"))
