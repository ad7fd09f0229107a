"""The training lab's live redraw hands each chart only what changed since the last frame (see
``_draw_all``). These tests check that this never costs correctness: after any number of snapshots,
drawn on whichever tab happened to be visible, every chart shows exactly the run's recorded values
(``TrainRun.curves``, the engine's own record), and the scales follow the data as a full recomputation
from those records says they should. No timing here: speed is in ``benchmarks/bench_training.py --gui``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from .conftest import wait_idle
from .test_training_scene import assert_views_show_engine, make_small, show_tab, steps_done


def step_to(lab, qtbot, n: int) -> None:
    lab.step(1)
    qtbot.waitUntil(lambda: steps_done(lab) == n, timeout=20000)


def assert_scales_follow_the_record(lab) -> None:
    """Loss floor and heatmap colour levels, recomputed here from the whole record each time."""
    curves = [tr.run.curves for tr in lab.traces]
    show_tab(lab, 0)
    low, high = lab.loss_chart.getPlotItem().getViewBox().state["targetRange"][1]
    chance_log = math.log10(lab.traces[0].settings.chance_loss)
    assert high == pytest.approx(chance_log + 0.3)
    with np.errstate(divide="ignore"):
        logs = np.concatenate([np.log10(np.asarray(c.loss)) for c in curves])
    finite = logs[np.isfinite(logs)]
    lowest = float(finite.min())
    # a tenth of a decade of room below the lowest loss, at least the chance loss's 1.3 decades
    assert low <= min(chance_log + 0.3 - 1.3, lowest - 0.2) + 1e-12
    assert low > min(chance_log + 0.3 - 1.3, lowest - 0.2) - 0.1 - 1e-12
    show_tab(lab, 1)
    heat = np.concatenate([c.heatmap().ravel() for c in curves])
    heat = heat[np.isfinite(heat)]
    hi = math.ceil(float(heat.max()))
    lo = max(math.floor(float(heat.min())), hi - 24)
    assert tuple(lab.color_bar.levels()) == (float(lo), float(max(hi, lo + 1)))


def test_frames_on_changing_tabs_show_every_snapshot(lab, qtbot):
    """Step by step, each frame drawn on another tab: every chart catches up when it is shown."""
    make_small(lab, steps=30)
    for n in range(1, 31):
        step_to(lab, qtbot, n)
        show_tab(lab, n % 4)
        if n in (1, 2, 7, 24, 25, 26, 30):  # around the held-out evaluations at 1, 25 and 30
            assert_views_show_engine(lab)
            assert_scales_follow_the_record(lab)
    assert lab.state != "training"


def test_training_live_with_the_frame_timer(lab, main_window, qtbot):
    """Started with the button and drawn by the scene's own timer while the tabs change under it."""
    make_small(lab, steps=60)
    lab.play_pause()
    tab = 0
    while lab.state == "training":
        tab = (tab + 1) % 4
        lab.tabs.setCurrentIndex(tab)
        qtbot.wait(45)
    assert lab.state == "finished" and steps_done(lab) == 60
    assert lab.frames_drawn > 0
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
    lab.acc_curves[0].sigPlotChanged.connect(lambda *_: changed.__setitem__("acc", changed["acc"] + 1))
    lab.loss_curves[0].sigPlotChanged.connect(lambda *_: changed.__setitem__("loss", changed["loss"] + 1))
    lab.acc_chart.getPlotItem().getViewBox().sigRangeChanged.connect(
        lambda *_: changed.__setitem__("range", changed["range"] + 1))
    step_to(lab, qtbot, 4)  # no evaluation at step 4
    show_tab(lab, 0)
    assert changed == {"acc": 0, "loss": 1, "range": 0}
    assert_views_show_engine(lab)


def test_a_zoomed_view_is_put_back_on_the_next_frame(lab, qtbot):
    """As before the redraw kept its ranges: while training, the next frame shows the whole run."""
    make_small(lab, steps=30)
    step_to(lab, qtbot, 1)
    show_tab(lab, 3)
    box = lab.grad_chart.getPlotItem().getViewBox()
    before = [list(r) for r in box.state["targetRange"]]
    box.setXRange(3, 7, padding=0)
    step_to(lab, qtbot, 2)
    show_tab(lab, 3)
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
