"""The training lab's live redraw hands each chart only what changed since the last frame (see
``gradsim.ui.lab.shown``). These tests check that this never costs correctness: after any number of
snapshots, drawn on whichever view happened to be on show, every chart shows exactly the run's
recorded values (``TrainRun.curves``, the engine's own record), and the scales follow the data as a
full recomputation from those records says they should. No timing here: speed is in
``benchmarks/bench_training.py --gui``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from gradsim.ui.lab.views import HEAT_DECADES

from .conftest import wait_idle
from .test_training_scene import assert_views_show_engine, make_small, show_tab, steps_done


def step_to(lab, qtbot, n: int) -> None:
    lab.step(1)
    qtbot.waitUntil(lambda: steps_done(lab) == n, timeout=20000)


def decades(values: np.ndarray) -> tuple[float, float]:
    finite = values[np.isfinite(values)]
    return float(finite.min()), float(finite.max())


def assert_scales_follow_the_record(lab) -> None:
    """Loss floor, gradient-norm range and heatmap colour levels, recomputed from the whole record:
    whole decades, at least two for the charts (a tick label every decade or two)."""
    curves = [tr.run.curves for tr in lab.traces]
    with np.errstate(divide="ignore"):
        loss = np.concatenate([np.log10(np.asarray(c.loss)) for c in curves])
        grads = np.concatenate([np.log10(np.asarray(c.grad_norm_before + c.grad_norm_after)) for c in curves])
    show_tab(lab, 0)
    box = lab.curves_view.loss_chart.getPlotItem().getViewBox()
    low, high = box.state["targetRange"][1]
    top = math.ceil(math.log10(lab.traces[0].settings.chance_loss) + 0.05)
    bottom = min(top - 2, math.floor(decades(loss)[0]))
    pad = 0.08 * (top - bottom)
    assert (low, high) == pytest.approx((bottom - pad, top + pad))
    show_tab(lab, 3)
    low, high = lab.grad_view.chart.getPlotItem().getViewBox().state["targetRange"][1]
    g_lo, g_hi = decades(grads)
    bottom, top = math.floor(g_lo), math.ceil(g_hi)
    bottom = min(bottom, top - 2)
    pad = 0.08 * (top - bottom)
    assert (low, high) == pytest.approx((bottom - pad, top + pad))
    assert low <= g_lo and g_hi <= high
    show_tab(lab, 1)
    heat = np.concatenate([c.heatmap().ravel() for c in curves])
    h_lo, h_hi = decades(heat)
    hi = math.ceil(h_hi)
    lo = max(math.floor(h_lo), hi - HEAT_DECADES)
    assert lab.heat_view.levels == (float(lo), float(max(hi, lo + 1)))
    axis = lab.heat_view.bar.getAxis("right")
    labelled = [v for _spacing, values in axis.tickValues(lo, hi, axis.height()) for v in values]
    assert len(labelled) >= 2 and all(float(v).is_integer() for v in labelled)
    assert np.diff(labelled).max() <= 2  # a label every decade or two


@pytest.fixture
def start_scene():
    return "training"  # each test starts on this scene (see conftest)


def test_frames_on_changing_views_show_every_snapshot(lab, qtbot):
    """Step by step, each frame drawn on another view: every chart catches up when it is shown."""
    make_small(lab, steps=30)
    for n in range(1, 31):
        step_to(lab, qtbot, n)
        show_tab(lab, n % 4)
        if n in (1, 2, 7, 24, 25, 26, 30):  # around the held-out evaluations at 1, 25 and 30
            assert_views_show_engine(lab)
            assert_scales_follow_the_record(lab)
    assert lab.run_state != "training"


def test_training_live_with_the_frame_timer(lab, main_window, qtbot):
    """Started with the button and drawn by the scene's own timer while the views change under it
    (each frame the timer draws moves the next one to another view)."""
    make_small(lab, steps=60)
    frames = []

    def next_view():
        frames.append(lab.tabs.currentIndex())
        if lab.run_state == "training":
            lab.tabs.setCurrentIndex(len(frames) % 4)

    lab.drawn.connect(next_view)
    try:
        lab.play_pause()
        qtbot.waitUntil(lambda: lab.run_state == "finished", timeout=60000)
    finally:
        lab.drawn.disconnect(next_view)
    assert steps_done(lab) == 60 and lab.frames_drawn > 0 and len(set(frames)) > 1
    assert_views_show_engine(lab)
    assert_scales_follow_the_record(lab)


def test_unchanged_chart_is_not_given_its_data_again(lab, qtbot):
    """Between two held-out evaluations the accuracy curve and its ranges are left alone (nothing
    new to draw, so no repaint); the loss curve takes the new point."""
    make_small(lab, steps=30)
    for n in range(1, 4):
        step_to(lab, qtbot, n)
    show_tab(lab, 0)
    changed = {"acc": 0, "loss": 0, "range": 0}
    view = lab.curves_view
    view.acc_curves[0].sigPlotChanged.connect(lambda *_: changed.__setitem__("acc", changed["acc"] + 1))
    view.loss_curves[0].sigPlotChanged.connect(lambda *_: changed.__setitem__("loss", changed["loss"] + 1))
    view.acc_chart.getPlotItem().getViewBox().sigRangeChanged.connect(
        lambda *_: changed.__setitem__("range", changed["range"] + 1))
    step_to(lab, qtbot, 4)  # no evaluation at step 4
    lab.draw_now()
    assert changed == {"acc": 0, "loss": 1, "range": 0}
    assert_views_show_engine(lab)


def test_a_zoomed_view_is_put_back_on_the_next_frame(lab, qtbot):
    """While training, the next frame shows the whole run again."""
    make_small(lab, steps=30)
    step_to(lab, qtbot, 1)
    show_tab(lab, 3)
    box = lab.grad_view.chart.getPlotItem().getViewBox()
    before = [list(r) for r in box.state["targetRange"]]
    box.setXRange(3, 7, padding=0)
    step_to(lab, qtbot, 2)
    lab.draw_now()
    assert [list(r) for r in box.state["targetRange"]][0] == pytest.approx(before[0])


def test_a_new_run_of_the_same_length_is_drawn(lab, main_window, qtbot):
    """Reset and a run with another seed: same number of points, other values, drawn anew."""
    make_small(lab)
    for n in range(1, 4):
        step_to(lab, qtbot, n)
    for tab in range(4):
        show_tab(lab, tab)
    lab.seed.setValue(lab.seed.value() + 1)  # resets the run
    wait_idle(qtbot, main_window)
    for n in range(1, 4):
        step_to(lab, qtbot, n)
    assert_views_show_engine(lab)
    assert_scales_follow_the_record(lab)
