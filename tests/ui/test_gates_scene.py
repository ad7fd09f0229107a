"""The gates scene driven through its real controls, with the real engine behind it: every curve,
lane, badge and diagram edge is checked against ``compare_cells`` computed independently here."""

from __future__ import annotations

import csv
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from gradsim.engine.cells import compare_cells
from gradsim.states.gates import GATES, MODEL_KEYS, GatesState, models_of
from gradsim.ui.plots import format_power, power_label

from .conftest import settle, wait_idle
from .test_flow_scene import _label_box, assert_threshold_labels_clear

ROOT = Path(__file__).resolve().parents[2]
CURVE_SOURCES = {"rnn": ("rnn", "log10_grad_norm"), "lstm": ("lstm", "log10_grad_norm"),
                 "gru": ("gru", "log10_grad_norm"), "lstm_c": ("lstm", "log10_cell_grad_norm")}
LANES = ("rnn", "lstm", "lstm_c", "gru")  # top to bottom, as the models are listed
MODELS = models_of(GATES)  # the gates comparison's models


@pytest.fixture
def start_scene():
    return "gates"  # each test starts on this scene (see conftest)


@pytest.fixture
def gates(main_window, qtbot):
    scene = main_window.show_scene("gates")
    wait_idle(qtbot, main_window)
    assert scene.result is not None
    return scene


def expected(scene):
    vanish, explode = scene.thresholds()
    return compare_cells(scene.generator_settings(), vanish, explode)


def within_count(logs: np.ndarray, vanish: float, explode: float) -> int:
    """Counted here, step by step from the loss back: how many steps stay within the thresholds."""
    count = 0
    for value in logs[::-1]:
        if not (math.log10(vanish) <= value <= math.log10(explode)):
            break
        count += 1
    return count


def factor_shown(factor: float) -> str:
    """An edge factor as the diagrams write it: two decimals, two figures below 0.095 (0.078, not 0.08)."""
    return f"{factor:.2f}" if abs(factor) >= 0.095 else f"{factor:.2g}"


def assert_shows_engine(scene):
    ref = expected(scene)
    for key, (cell, attr) in CURVE_SOURCES.items():
        x, y = (np.asarray(v) for v in scene.curves[key].getData())
        want = getattr(ref.results[cell], attr)
        np.testing.assert_array_equal(x, np.arange(1, want.size + 1, dtype=float))
        finite = np.isfinite(want)
        np.testing.assert_allclose(y[finite], want[finite], rtol=1e-12, atol=1e-12)
    vanish, explode = scene.thresholds()
    for m in MODELS:
        res = ref.results[m.key]
        headline, detail = scene.badge_lines[m.key]
        assert headline == f"{m.name}: {res.verdict.kind.upper()}"
        within = within_count(res.log10_grad_norm, vanish, explode)
        count = f"all {res.steps}" if within == res.steps else f"{within} of {res.steps}"
        limit = f"≥ {power_label(math.log10(vanish))}" if res.verdict.kind != "exploding" \
            else f"≤ {power_label(math.log10(explode))}"
        assert detail == f"{limit} for {count} steps"
        assert headline in scene.badges[m.key].text() and detail in scene.badges[m.key].text()
    for lane, key in zip(scene.lanes.logs, LANES, strict=True):
        cell, attr = CURVE_SOURCES[key]
        np.testing.assert_array_equal(lane, getattr(ref.results[cell], attr))
    for cell, edges in ref.edges.items():
        for edge in edges:
            if edge.kind == "step":
                continue
            parts = scene.diagrams.edge_items[(cell, edge.key)]
            assert parts["factor"] == pytest.approx(edge.factor, rel=1e-12)
            assert factor_shown(edge.factor) in parts["text"].toPlainText()
    return ref


def test_opens_on_the_gradient_highway(gates):
    """Issue 14: the scene opens on its point, forget bias 3 against the RNN, and the badges read in
    the right order: the LSTM's gradient stays above 10⁻⁶ at more steps than the RNN's."""
    ref = assert_shows_engine(gates)
    assert gates.state == GatesState() and gates.state.forget_bias == 3.0 and ref.rnn.steps == 200
    assert ref.lstm.verdict.kind == "healthy" and ref.rnn.verdict.kind == "vanishing"
    assert ref.lstm.grad_norm[0] > 1e-6 > ref.rnn.grad_norm[0]
    assert gates.badge_lines["lstm"][1] == "≥ 10⁻⁶ for all 200 steps"
    rnn_within = int(gates.badge_lines["rnn"][1].split(" for ")[1].split(" of ")[0])
    assert rnn_within < 200 and rnn_within == 200 - ref.rnn.verdict.first_t


def test_models_come_from_one_list(gates):
    """The badges, curves and lanes follow gradsim.states.gates.MODELS (a new model is one entry)."""
    assert tuple(gates.badges) == MODEL_KEYS
    assert set(gates.curves) == set(MODEL_KEYS) | {"lstm_c"}
    assert gates.lanes.labels == ["RNN", "LSTM h", "LSTM c", "GRU"]
    assert [label.text for _s, label in gates.chart.legend.items][:4] == ["RNN", "LSTM", "LSTM cell ‖dL/dcₜ‖", "GRU"]


def test_forget_bias_slider_closes_the_highway_as_one_undo_step(gates, main_window, qtbot):
    start = gates.state
    slider = gates.forget_bias.slider
    for value in (2.5, 2.0, 1.5, 1.0):  # one drag of the real slider: many values, one undo step
        slider.setValue(round(value / 0.1))
    wait_idle(qtbot, main_window)
    assert gates.state.forget_bias == pytest.approx(1.0) and gates.state.preset == "custom"
    ref = assert_shows_engine(gates)
    assert ref.lstm.verdict.kind == "vanishing"
    forget = gates.diagrams.edge_items[("lstm", "forget")]
    assert forget["halo"].getData()[0].size == 2  # the highlighted additive path
    main_window.undo()
    wait_idle(qtbot, main_window)
    assert gates.state == start and gates.forget_bias.value() == pytest.approx(3.0)
    assert_shows_engine(gates)
    main_window.redo()
    wait_idle(qtbot, main_window)
    assert gates.state.forget_bias == pytest.approx(1.0)
    assert_shows_engine(gates)


def test_each_slider_redraws_engine_values(gates, main_window, qtbot):
    for control, value in (("steps", 57), ("hidden", 9), ("input_scale", 0.35), ("scale", 1.4)):  # one setup
        widget = getattr(gates, control)
        before = np.asarray(gates.curves["lstm"].getData()[1]).copy()
        widget.slider.setValue(widget.slider.value() + 2)
        widget.setValue(value)
        wait_idle(qtbot, main_window)
        assert getattr(gates.generator_settings(), control) == pytest.approx(value), control
        assert getattr(gates.state, control) == pytest.approx(value), control
        assert_shows_engine(gates)
        after = np.asarray(gates.curves["lstm"].getData()[1])
        assert before.shape != after.shape or not np.array_equal(before, after), control


def test_initialiser_choice(gates, main_window, qtbot):
    for init in ("orthogonal", "identity", "pytorch_default"):  # one window setup for the three
        gates.init.set_value(init)
        wait_idle(qtbot, main_window)
        assert gates.generator_settings().init == init
        assert_shows_engine(gates)


def test_seed_and_thresholds(gates, main_window, qtbot):
    gates.seed.setValue(12)
    gates.vanish_exp.setValue(-12)
    gates.explode_exp.setValue(2)
    wait_idle(qtbot, main_window)
    ref = assert_shows_engine(gates)
    assert ref.rnn.verdict.vanish_threshold == pytest.approx(1e-12)
    assert gates.vanish_line.value() == pytest.approx(-12)
    assert gates.explode_line.value() == pytest.approx(2)


def test_diagram_colours_follow_the_colour_bar(gates):
    from pyqtgraph import colormap

    cmap = colormap.get(gates.theme.colormap)
    lo, hi = -1.5, 0.5
    for (cell, key), parts in gates.diagrams.edge_items.items():
        factor = parts["factor"]
        position = (min(max(math.log10(factor), lo), hi) - lo) / (hi - lo)
        want = cmap.map(position, mode="qcolor")
        assert parts["line"].opts["pen"].color().name() == want.name(), (cell, key)
    # the titles carry the measured factor per step from the engine
    ref = expected(gates)
    assert f"{ref.lstm.edge('step_c').factor:.3f}" in gates.diagrams.titles["lstm"].text


def test_pulse_on_all_lanes(gates, main_window, qtbot):
    from gradsim.ui.chain import chart_screen_x

    gates.apply_settings({"steps": 30})
    wait_idle(qtbot, main_window)
    ref = expected(gates)
    gates.rewind()
    assert gates.pulse.position == 31
    assert gates.lanes.unlit_steps == 30  # nothing lit before the pulse leaves L
    assert gates.lanes.unlit.rect().width() == 30 and gates.lanes.unlit.rect().height() == 4
    gates.step(1)
    assert gates.lanes.unlit_steps == 29 and gates.lanes.unlit.rect().right() == pytest.approx(29.5)
    assert gates.cursor.value() == 30
    gates.step(1)
    # the rings on the lanes sit in the chart cursor's screen column
    ring = float(gates.lanes.pulse.data["x"][0])
    assert gates.lanes.screen_x(ring) == pytest.approx(chart_screen_x(gates.chart.getPlotItem(), gates.cursor.value()),
                                                      abs=1.0)
    text = gates.pulse_text()
    assert text.startswith("t = 29")
    for value in (ref.rnn.log10_grad_norm[28], ref.gru.log10_grad_norm[28], ref.lstm.log10_grad_norm[28],
                  ref.lstm.log10_cell_grad_norm[28]):
        assert format_power(float(value), 2) in text
    gates.speed.setValue(200)
    gates.play_pause()
    assert gates.pulse.playing
    qtbot.waitUntil(lambda: not gates.pulse.playing, timeout=5000)
    assert gates.pulse.position == 1.0 and gates.lanes.unlit_steps == 0
    assert np.allclose(gates.lanes.pulse.getData()[0], 1.0)


def test_lanes_stay_above_the_chart(gates, main_window, qtbot):
    """Step t of the lanes sits above step t of the chart after resizes and theme changes."""
    from gradsim.ui.chain import chart_screen_x

    def aligned():
        for t in (1.0, 100.0, 200.0):
            assert gates.lanes.screen_x(t) == pytest.approx(chart_screen_x(gates.chart.getPlotItem(), t), abs=1.0)

    aligned()
    main_window.resize(1500, 900)
    main_window._follow_size()
    wait_idle(qtbot, main_window)
    aligned()
    main_window.toggle_projector()
    wait_idle(qtbot, main_window)
    aligned()


def test_threshold_labels_never_sit_on_curves(gates, main_window, qtbot):
    for settings in ({}, {"forget_bias": 0.0}, {"preset": "long"}, {"explode": 10.0, "hidden": 200}):
        gates.apply_settings(settings)
        wait_idle(qtbot, main_window)
        curves = [tuple(np.asarray(v) for v in curve.getData()) for curve in gates.curves.values()]
        assert_threshold_labels_clear(gates, curves)


def test_below_float64_is_marked_not_dropped(gates, main_window, qtbot):
    gates.apply_settings({"steps": 1000, "init": "pytorch_default", "scale": 1.0, "forget_bias": 0.0})
    wait_idle(qtbot, main_window)
    ref = assert_shows_engine(gates)
    masks = [ref.rnn.underflow, ref.gru.underflow, ref.lstm.underflow, ref.lstm.cell_beyond_float]
    assert sum(int(m.sum()) for m in masks) > 0
    # one marker per stretch beyond float64, at its step nearest the loss (a marker per step merged
    # into a band at T = 1000)
    ends = [t + 1 for m in masks for t in range(m.size) if m[t] and (t + 1 == m.size or not m[t + 1])]
    assert sorted(gates.below_float.getData()[0].tolist()) == sorted(float(t) for t in ends)
    for curve in gates.curves.values():
        assert np.all(np.isfinite(curve.getData()[1]))


def test_presets_apply_undo_and_redo(gates, main_window, qtbot):
    gates.seed.setValue(4)
    wait_idle(qtbot, main_window)
    gates.preset_choice.set_value("fb0")
    wait_idle(qtbot, main_window)
    assert gates.state.forget_bias == 0.0 and gates.state.seed == 4 and gates.state.preset == "fb0"
    ref = assert_shows_engine(gates)
    assert ref.lstm.verdict.kind == "vanishing"  # the title's claim, on this seed too
    gates.preset_choice.set_value("long")
    wait_idle(qtbot, main_window)
    s = gates.generator_settings()
    assert (s.steps, s.forget_bias, s.init) == (1000, 5.0, "pytorch_default")
    main_window.undo()
    wait_idle(qtbot, main_window)
    assert gates.state.preset == "fb0" and gates.preset_choice.value() == "fb0" and gates.steps.value() == 200
    main_window.redo()
    wait_idle(qtbot, main_window)
    assert gates.state.preset == "long" and gates.forget_bias.value() == pytest.approx(5.0)
    assert_shows_engine(gates)
    gates.steps.setValue(900)
    assert gates.state.preset == "custom"


def test_settings_round_trip_and_refusals(gates):
    gates.apply_settings({"forget_bias": 2.5, "steps": 80, "init": "orthogonal", "seed": 3, "vanish": 1e-4,
                          "speed": 50})
    state = gates.settings()
    gates.reset()
    assert gates.settings() != state
    gates.apply_settings(state)
    assert gates.settings() == state
    json.dumps(state)
    for bad in ({"forget_bias": 7}, {"forget_bias": -1}, {"steps": 0}, {"steps": 5000}, {"hidden": 1000},
                {"init": "xavier"}, {"colour": "red"}, {"vanish": 10}, {"preset": "nope"}, {"speed": 0},
                {"cell": "lstm"}, {"view": "sideways"}):
        with pytest.raises(ValueError):
            gates.apply_settings(bad)
    assert gates.settings() == state  # refusals change nothing


def test_projector_on_a_small_screen_uses_tabs(gates, main_window, qtbot):
    # 1920x1080: at 1600x1000 the docked controls leave the views 1154 px, under the 1170 the
    # diagrams need side by side, so the scene settles on tabs there too (the splitter this test
    # saw was the choice made before the window was laid out in the new type, undone a moment later)
    main_window.resize(1920, 1080)
    main_window._follow_size()
    qtbot.waitUntil(lambda: not gates.compact, timeout=3000)
    assert gates.splitter.isVisible() and not gates.diagrams.stacked
    main_window.resize(1024, 768)
    main_window.toggle_projector()
    qtbot.waitUntil(lambda: gates.compact, timeout=3000)
    assert gates.tabs.isVisible() and not gates.splitter.isVisible()
    assert gates.diagrams.stacked
    assert_shows_engine(gates)
    gates.tabs.setCurrentIndex(1)  # the Cells tab is part of the state: one undo step
    assert gates.state.view == "cells"
    main_window.undo()
    assert gates.state.view == "curves" and gates.tabs.currentIndex() == 0


def _rects(diagrams, cell):
    """Scene rectangles of a diagram's edge labels, node labels, arrows and nodes."""
    labels = [parts["text"] for (c, _k), parts in diagrams.edge_items.items() if c == cell]
    arrows = [parts["arrow"] for (c, _k), parts in diagrams.edge_items.items() if c == cell]
    _nodes, node_labels = diagrams.node_items[cell]

    view_transform = diagrams.viewportTransform()

    def rect(item):  # in the view's pixels (arrows ignore the view's scaling: map through the device)
        return item.deviceTransform(view_transform).mapRect(item.boundingRect())

    return [rect(t) for t in labels], [rect(t) for t in node_labels], [rect(a) for a in arrows]


# the classroom projector by default; the other sizes with the slow tests
@pytest.mark.parametrize("compare", ["gates", "additive"])
@pytest.mark.parametrize("mode", [(1024, 768, True)] + [pytest.param(m, marks=pytest.mark.slow) for m in (
    (800, 600, True), (1920, 1080, False), (1920, 1080, True))])
def test_cell_diagrams_readable(gates, main_window, qtbot, mode, compare):
    """Issue 14: the Cells tab turned its titles by 90° and put labels over arrows; the diagram labels
    were about 7 px tall at 1920x1080. Titles are upright, labels clear of arrows and of each other,
    at the type scale's small size (which grows with the window). The same for the additive
    comparison's paths (RNN, residual RNN, attention)."""
    width, height, projector = mode
    main_window.resize(width, height)
    if main_window.theme.projector != projector:
        main_window.toggle_projector()
    main_window._follow_size()
    gates.apply_settings({"view": "cells", "compare": compare})
    wait_idle(qtbot, main_window)
    diagrams = gates.additive.diagrams if compare == "additive" else gates.diagrams
    assert diagrams.isVisible()
    small = main_window.theme.small_px
    for title in diagrams.titles.values():
        assert title.angle == 0 and title.item.rotation() == 0
    for cell in diagrams.boxes:
        edge_labels, node_labels, arrows = _rects(diagrams, cell)
        for i, label in enumerate(edge_labels):
            shrunk = label.adjusted(2, 2, -2, -2)  # the text's empty frame
            assert not any(shrunk.intersects(a) for a in arrows), (cell, i)
            assert not any(shrunk.intersects(n) for n in node_labels), (cell, i)
            assert not any(shrunk.intersects(other.adjusted(2, 2, -2, -2)) for j, other in enumerate(edge_labels)
                           if j != i), (cell, i)
        for (c, _k), parts in diagrams.edge_items.items():
            if c == cell:
                assert parts["text"].textItem.font().pixelSize() == small
    from .layout_audit import problems

    assert not [p for p in problems(main_window, small) if "CellDiagrams" in p]


@hypothesis_settings(max_examples=100, deadline=None)
@given(box=st.tuples(*[st.floats(0, 300)] * 2, st.floats(1, 80), st.floats(1, 40)),
       ends=st.tuples(*[st.floats(-50, 400)] * 4), margin=st.floats(0, 6))
def test_label_placement_finds_every_segment_through_a_box(box, ends, margin):
    """The diagrams' placement test of a label against an edge agrees with Qt's own path-rectangle
    intersection (a point every 3 pixels, as before, missed segments clipping a corner). Cases that
    only touch the boundary (Qt's answer changes within a millionth of a pixel) say nothing."""
    from PySide6.QtCore import QPointF, QRectF
    from PySide6.QtGui import QPainterPath

    from gradsim.ui.scenes.gates import _rect_hits_segment

    rect, a, b = QRectF(*box), QPointF(*ends[:2]), QPointF(*ends[2:])
    path = QPainterPath(a)
    path.lineTo(b)
    grown = [path.intersects(rect.adjusted(-m, -m, m, m)) for m in (margin - 1e-6, margin + 1e-6)]
    assume(grown[0] == grown[1])
    assert _rect_hits_segment(rect, a, b, margin) == grown[0]


def test_csv_export_is_engine_data(gates, main_window, tmp_path):
    path = tmp_path / "gates.csv"
    assert main_window.export_to("csv", path)
    rows = list(csv.DictReader(path.read_text().splitlines()))
    ref = expected(gates)
    assert [int(r["t"]) for r in rows] == list(range(1, 201))
    np.testing.assert_array_equal([float(r["lstm_log10_cell_grad_norm"]) for r in rows], ref.lstm.log10_cell_grad_norm)
    np.testing.assert_array_equal([float(r["gru_log10_grad_norm"]) for r in rows], ref.gru.log10_grad_norm)


def test_scenario_save_and_reopen(gates, main_window, qtbot, tmp_path):
    gates.apply_settings({"forget_bias": 4.2, "steps": 120, "hidden": 12, "seed": 8})
    wait_idle(qtbot, main_window)
    before = np.asarray(gates.curves["lstm_c"].getData()[1]).copy()
    path = tmp_path / "lstm.gradsim.json"
    assert main_window.save_scenario_path(path)
    assert json.loads(path.read_text())["cell"] == "lstm"
    gates.reset()
    wait_idle(qtbot, main_window)
    assert main_window.open_scenario_path(path)
    wait_idle(qtbot, main_window)
    assert main_window.current_scene() is gates
    assert gates.state.forget_bias == pytest.approx(4.2) and gates.state.hidden == 12
    np.testing.assert_array_equal(np.asarray(gates.curves["lstm_c"].getData()[1]), before)


def test_worker_function_directly():
    from gradsim.engine import GeneratorSettings
    from gradsim.ui.scenes.gates import GatesJob, compute_gates

    settings = GeneratorSettings(hidden=5, steps=25, cell="lstm", forget_bias=2.0)
    got = compute_gates(GatesJob(settings, 1e-6, 1e3))
    want = compare_cells(settings)
    for cell in ("rnn", "lstm", "gru"):
        np.testing.assert_array_equal(got.results[cell].log10_grad_norm, want.results[cell].log10_grad_norm)


@pytest.mark.slow  # a process of its own; tests/cli/test_gui_options.py takes a screenshot by default
def test_screenshot_option(tmp_path):
    out = tmp_path / "gates.png"
    proc = subprocess.run([sys.executable, "-m", "gradsim", "gui", "--scene", "gates", "--screenshot", str(out),
                           "--size", "1024x768"], capture_output=True, text=True, timeout=120, cwd=ROOT,
                          env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert proc.returncode == 0, proc.stderr
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# a gates step of the built-in lesson by default, a flow step with the slow tests
@pytest.mark.parametrize("step", [pytest.param(4, marks=pytest.mark.slow), 11])
def test_pictures_keep_their_room_under_a_lesson(main_window, qtbot, step):
    """With the lesson bar below the scene at 1024x768 in projector mode, the chart keeps a readable
    plot (the strip above gives up its colour bar first), lanes keep one label's height each, and no
    text in the pictures is cut or too small."""
    from gradsim.lesson import load_builtin_lesson

    from .layout_audit import graphics_problems

    main_window.resize(1024, 768)
    main_window.toggle_projector()
    main_window.lesson_bar.set_lesson(load_builtin_lesson(), start=step - 1)
    wait_idle(qtbot, main_window, timeout=60000)
    scene = main_window.current_scene()
    small = main_window.theme.small_px
    assert scene.chart.getPlotItem().getViewBox().height() >= 6 * small
    if scene.scene_id == "gates":
        vb = scene.lanes.plot.getViewBox()
        (y0, y1) = vb.viewRange()[1]
        assert vb.height() / (y1 - y0) >= small  # pixels per lane
    assert not graphics_problems(main_window, small)


# ---------------------------------------------------------------------------------------------------
# the additive comparison (issue 20): five models by ‖dL/dxₜ‖

FIVE = ("rnn", "lstm", "gru", "residual", "attention")


def expected_five(scene):
    from gradsim.engine.additive import compare_models

    vanish, explode = scene.thresholds()
    return compare_models(scene.generator_settings(), vanish, explode)


def assert_additive_shows_engine(scene):
    """Every curve, the bound, every badge and diagram edge of the additive page against the engine."""
    from gradsim.engine.additive import attention_middle
    from gradsim.engine.thresholds import verdict_from_log10

    page = scene.additive
    assert scene.pages.currentWidget() is page and page.isVisibleTo(scene)
    ref = expected_five(scene)
    steps = ref.results["rnn"].steps
    distance = np.arange(steps, dtype=float)
    for key in FIVE:
        x, y = (np.asarray(v) for v in page.curves[key].getData())
        want = ref.results[key].log10_input_grad_norm[::-1]  # x is T − t: t = T first
        np.testing.assert_array_equal(x, distance)
        finite = np.isfinite(want)
        np.testing.assert_allclose(y[finite], want[finite], rtol=1e-12, atol=1e-12)
    x, y = (np.asarray(v) for v in page.curves["attention_bound"].getData())
    bound = ref.results["attention"].log10_input_bound[::-1]
    np.testing.assert_array_equal(y[1:], bound[1:])
    assert np.isnan(y[0])  # at t = T the residual connection adds the identity: no bound drawn
    vanish, explode = scene.thresholds()
    step = page._cursor_step
    for m in models_of("additive"):
        logs = ref.results[m.key].log10_input_grad_norm
        kind = verdict_from_log10(logs, vanish, explode).kind
        name, verdict, value = page.badge_lines[m.key]
        assert (name, verdict) == (m.name, kind.upper())
        # the value at the cursor's step, in the badge's words (two figures, or one where narrow)
        assert value in (f"‖dL/dx{_sub(step)}‖ {format_power(float(logs[step - 1]), 2)}",
                         f"‖dL/dx{_sub(step)}‖ {format_power(float(logs[step - 1]), 1)}",
                         f"‖dL/dxₜ‖ {format_power(float(logs[step - 1]), 1)}")
        text = page.badges[m.key].text()
        assert verdict in text and value in text
    for cell in ("rnn", "residual", "attention"):
        for edge in ref.edges[cell]:
            if edge.kind == "step":
                continue
            parts = page.diagrams.edge_items[(cell, edge.key)]
            if np.isfinite(edge.factor):
                assert parts["factor"] == pytest.approx(edge.factor, rel=1e-12)
                assert factor_shown(edge.factor) in parts["text"].toPlainText()
    # the attention diagram names the steps it shows: x₁, the middle and the last
    _nodes, labels = page.diagrams.node_items["attention"]
    assert [t.toPlainText() for t in labels][1:] == ["x₁", f"x{_sub(attention_middle(steps))}", f"x{_sub(steps)}"]
    return ref


def _sub(n: int) -> str:
    return str(n).translate(str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉"))


@pytest.fixture
def additive(gates, main_window, qtbot):
    """The gates scene switched to the additive comparison by its real switch."""
    qtbot.mouseClick(gates.compare_buttons["additive"], Qt_left())
    wait_idle(qtbot, main_window)
    assert gates.state.compare == "additive"
    return gates


def Qt_left():  # noqa: N802 - reads like the Qt enum it returns
    from PySide6.QtCore import Qt

    return Qt.MouseButton.LeftButton


def test_switch_shows_all_five_on_the_same_inputs_and_undoes(additive, main_window, qtbot):
    """Issue 20: the switch beside the title shows the five models' ‖dL/dxₜ‖ against the distance from
    the loss, computed on the gates' own inputs; one undo step back to the gates."""
    scene = additive
    ref = assert_additive_shows_engine(scene)
    gates_ref = compare_cells(scene.generator_settings())
    for cell in ("rnn", "lstm", "gru"):  # the very same RNN, LSTM and GRU as the gates comparison
        np.testing.assert_array_equal(ref.results[cell].log10_grad_norm, gates_ref.results[cell].log10_grad_norm)
    assert scene.header.text().count("The additive path") == 1
    assert scene.residual_box.isVisibleTo(scene)
    # the page's point, in numbers: the RNN's input gradient is gone at x₁, attention's is not
    assert scene.additive.badge_lines["rnn"][1] == "VANISHING"
    assert scene.additive.badge_lines["attention"][1] == "HEALTHY"
    main_window.undo()
    wait_idle(qtbot, main_window)
    assert scene.state.compare == "gates" and scene.pages.currentWidget() is scene.gates_page
    assert not scene.residual_box.isVisibleTo(scene) and "RNN vs LSTM vs GRU" in scene.header.text()
    assert_shows_engine(scene)
    main_window.redo()
    wait_idle(qtbot, main_window)
    assert_additive_shows_engine(scene)


def test_attention_bound_is_drawn_beside_its_curve_and_holds(additive):
    """The bound beside attention's curve is the engine's, above the curve at every step but the last,
    and proportional to the attention aₜ the last position pays (one constant for all t < T)."""
    res = expected_five(additive).results["attention"]
    _x, curve = (np.asarray(v) for v in additive.additive.curves["attention"].getData())
    _x, bound = (np.asarray(v) for v in additive.additive.curves["attention_bound"].getData())
    assert np.all(curve[1:] <= bound[1:] + 1e-9)
    gain = bound[1:] - res.log10_attention_last[0, ::-1][1:]
    np.testing.assert_allclose(gain, gain[0], atol=1e-9)
    legend = [label.text for _s, label in additive.additive.chart.legend.items]
    assert legend[:6] == ["RNN", "LSTM", "GRU", "Residual", "Attention", "attention's bound (∝ aₜ)"]


def test_residual_scale_drag_is_one_undo_step(additive, main_window, qtbot):
    scene = additive
    before = np.asarray(scene.additive.curves["residual"].getData()[1]).copy()
    for value in (0.2, 0.3, 0.4, 0.5):
        scene.residual_scale.slider.setValue(round(value / 0.01))
    wait_idle(qtbot, main_window)
    assert scene.state.residual_scale == pytest.approx(0.5) and scene.state.preset == "custom"
    assert scene.generator_settings().residual_scale == pytest.approx(0.5)
    assert_additive_shows_engine(scene)
    assert not np.array_equal(before, np.asarray(scene.additive.curves["residual"].getData()[1]))
    main_window.undo()
    wait_idle(qtbot, main_window)
    assert scene.state.residual_scale == pytest.approx(0.1) and scene.state.compare == "additive"
    np.testing.assert_array_equal(before, np.asarray(scene.additive.curves["residual"].getData()[1]))


def test_additive_sliders_redraw_engine_values(additive, main_window, qtbot):
    for control, value in (("steps", 57), ("hidden", 9), ("forget_bias", 1.0)):  # one window setup
        getattr(additive, control).setValue(value)
        wait_idle(qtbot, main_window)
        assert getattr(additive.state, control) == pytest.approx(value), control
        assert_additive_shows_engine(additive)


def test_additive_presets_apply_undo_and_redo(gates, main_window, qtbot):
    gates.seed.setValue(6)
    wait_idle(qtbot, main_window)
    gates.preset_choice.set_value("hop1000")
    wait_idle(qtbot, main_window, timeout=60000)
    s = gates.state
    assert (s.compare, s.steps, s.forget_bias, s.init, s.residual_scale, s.seed) == \
        ("additive", 1000, 5.0, "pytorch_default", 0.03, 6)
    ref = assert_additive_shows_engine(gates)
    assert ref.results["rnn"].log10_input_grad_norm[0] < -6 < ref.results["attention"].log10_input_grad_norm[0]
    # below float64 the curve goes on at its exact log; one marker where it leaves the range
    below = np.asarray(gates.additive.below_float.getData()[0])
    assert below.size >= 1 and gates.additive.below_float.isVisible()
    gates.preset_choice.set_value("fb0")
    wait_idle(qtbot, main_window)
    assert gates.state.compare == "gates" and gates.state.forget_bias == 0.0
    main_window.undo()
    wait_idle(qtbot, main_window, timeout=60000)
    assert gates.state.preset == "hop1000" and gates.compare_buttons["additive"].isChecked()
    assert_additive_shows_engine(gates)


def test_additive_pulse_moves_the_cursor_and_the_badges(additive, main_window, qtbot):
    scene = additive
    scene.apply_settings({"compare": "additive", "steps": 30})
    wait_idle(qtbot, main_window)
    ref = expected_five(scene)
    scene.rewind()
    assert not scene.additive.cursor.isVisible()  # the pulse has not left the loss
    scene.step(1)  # t = 30, distance 0
    assert scene.additive.cursor.isVisible() and scene.additive.cursor.value() == pytest.approx(0.0)
    scene.step(1)  # t = 29
    assert scene.additive.cursor.value() == pytest.approx(1.0)
    value = ref.results["attention"].log10_input_grad_norm[28]
    assert format_power(float(value), 1) in scene.additive.badge_lines["attention"][2]
    assert "x₂₉" in scene.additive.badge_lines["attention"][2] or "xₜ" in scene.additive.badge_lines["attention"][2]
    assert_additive_shows_engine(scene)


def test_additive_threshold_labels_keep_clear_of_the_cursor(additive, main_window, qtbot):
    """At a short T the cursor at rest stands at the far end (step 1), where the labels sat first:
    at every step of the pulse each label is off the cursor line (and still off every curve)."""
    scene = additive
    scene.apply_settings({"compare": "additive", "steps": 12})
    wait_idle(qtbot, main_window)
    page = scene.additive
    curves = [tuple(np.asarray(v) for v in item.getData()) for item in page.curves.values()]
    scene.rewind()
    for _ in range(12):  # distance 0 (t = T) ... 11 (t = 1), where the pulse comes to rest
        scene.step(1)
        x = page.cursor.value()
        for line in (page.vanish_line, page.explode_line):
            box = _label_box(page.chart, line)
            assert line.label.isVisible() and not box.left() <= x <= box.right(), (x, line.label.toPlainText())
        assert_threshold_labels_clear(page, curves)


def test_additive_csv_export_and_scenario(additive, main_window, qtbot, tmp_path):
    path = tmp_path / "five.csv"
    assert main_window.export_to("csv", path)
    rows = list(csv.DictReader(path.read_text().splitlines()))
    ref = expected_five(additive)
    assert [int(r["steps_back"]) for r in rows] == [200 - t for t in range(1, 201)]
    np.testing.assert_array_equal([float(r["attention_log10_input_grad_norm"]) for r in rows],
                                  ref.results["attention"].log10_input_grad_norm)
    np.testing.assert_array_equal([float(r["attention_last"]) for r in rows], ref.results["attention"].attention_last[0])
    additive.apply_settings({"compare": "additive", "residual_scale": 0.3, "steps": 40, "seed": 2})
    wait_idle(qtbot, main_window)
    scenario = tmp_path / "five.gradsim.json"
    assert main_window.save_scenario_path(scenario)
    doc = json.loads(scenario.read_text())
    assert doc["cell"] == "attention" and doc["residual_scale"] == 0.3
    before = np.asarray(additive.additive.curves["residual"].getData()[1]).copy()
    additive.reset()
    wait_idle(qtbot, main_window)
    assert main_window.open_scenario_path(scenario)
    wait_idle(qtbot, main_window)
    assert additive.state.compare == "additive" and additive.state.residual_scale == pytest.approx(0.3)
    np.testing.assert_array_equal(np.asarray(additive.additive.curves["residual"].getData()[1]), before)


@pytest.mark.parametrize("mode", [(1024, 768, True)] + [pytest.param(m, marks=pytest.mark.slow)
                                                        for m in ((800, 600, True), (1920, 1080, False))])
def test_additive_page_fits_and_keeps_the_switch_in_reach(additive, main_window, qtbot, mode):
    """At 1024x768 and 800x600 in projector mode the chart and the paths share tabs, the switch sits
    in the tab bar's corner (the summary keeps the width), nothing is cut; at 1920x1080 all in view."""
    from .layout_audit import problems

    width, height, projector = mode
    main_window.resize(width, height)
    if main_window.theme.projector != projector:
        main_window.toggle_projector()
    main_window._follow_size()
    wait_idle(qtbot, main_window)
    page = additive.additive
    small = main_window.theme.small_px
    if projector:
        assert page.compact and page.tabs.isVisible() and not page.splitter.isVisible()
        assert additive.compare_switch.parent() is page.tabs.cornerWidget()
    else:
        assert not page.compact and page.chart.isVisible() and page.diagrams.isVisible()
        assert additive.compare_switch.parent() is additive.views_widget
    assert additive.compare_switch.isVisible()
    assert not problems(main_window, small)
    for index in (1, 0):  # the Paths tab too (a state: one undo step)
        if page.compact:
            page.tabs.setCurrentIndex(index)
            assert additive.state.view == ("cells" if index else "curves")
            settle()
            assert not problems(main_window, small)


@pytest.mark.parametrize("where", [pytest.param("timeline resnet-2015", marks=pytest.mark.slow),
                                   "timeline transformer-2017", "quiz attention-hop"])  # a link of each kind
def test_show_me_links_land_on_the_additive_comparison(main_window, qtbot, where):
    """Issue 20 point 5: the history's 2015 (residual networks) and 2017 (Transformer) events and the
    quiz's attention question open the additive comparison by their real "show me" buttons, on top of
    the defaults (whatever the gates scene showed), drawn as the engine computes it, as one undo step."""
    from gradsim.content import load_quiz, load_timeline

    kind, item = where.split()
    gates = main_window.show_scene("gates")
    gates.apply_settings({"steps": 77, "forget_bias": 1.0, "seed": 3})  # another picture before
    wait_idle(qtbot, main_window)
    before = gates.state
    if kind == "timeline":
        show = {e.id: e for e in load_timeline()}[item].show_me
        history = main_window.show_scene("history")
        history.select_event(item)
        button = history.show_me_button
    else:
        show = {q.id: q for q in load_quiz()}[item].show_me
        quiz = main_window.show_scene("quiz")
        wait_idle(qtbot, main_window)
        qtbot.waitUntil(lambda: bool(quiz.order), timeout=10000)
        quiz.apply_settings({"mode": "quiz", "question": [q.id for q in quiz.order].index(item)})
        assert quiz.current_question().id == item
        button = quiz.q_show_me
    count = main_window.undo_stack.count()
    qtbot.mouseClick(button, Qt_left())
    wait_idle(qtbot, main_window)
    assert main_window.current_scene() is gates
    assert gates.state == GatesState.from_settings(show.settings)
    assert gates.state.compare == "additive" and gates.state.preset == show.settings["preset"]
    assert gates.compare_buttons["additive"].isChecked() and gates.state.seed == 0
    assert_additive_shows_engine(gates)
    for model, kind_claimed in show.expect.items():  # the outcome it claims, as the badges say it
        assert gates.additive.badge_lines[model][1] == kind_claimed.upper()
    assert main_window.undo_stack.count() == count + 1
    main_window.undo_stack.undo()
    assert gates.state == before


def test_threshold_labels_stand_clear_of_the_cursor_at_rest(gates, main_window, qtbot):
    """With the pulse at rest on t = 1 and the curves crossing the vanishing line near the right end,
    no end of the line is free of both: the label stands beside the cursor, a clearance away, not on
    it (it used to start on the cursor's line)."""
    from gradsim.ui.chain import ThresholdLabels

    main_window.resize(1024, 768)  # the classroom projector, as the README's picture shows it
    main_window.toggle_projector()
    wait_idle(qtbot, main_window)
    settle()
    chart = gates.chart
    vb = chart.getPlotItem().getViewBox()
    (x0, x1), _ = vb.viewRange()
    clearance = ThresholdLabels.CURSOR_CLEARANCE_PX * (x1 - x0) / vb.width()
    x = gates.cursor.value()
    assert gates.cursor.isVisible() and x == pytest.approx(1.0)
    for line in (gates.vanish_line, gates.explode_line):
        box = _label_box(chart, line)
        assert line.label.isVisible()
        assert box.left() - x >= clearance or x - box.right() >= clearance, (x, box, line.label.toPlainText())
    curves = [tuple(np.asarray(v) for v in item.getData()) for item in gates.curves.values()]
    assert_threshold_labels_clear(gates, curves)
