"""The "Open model..." and "Open run..." windows, driven through real widgets, checked against the
engine (:mod:`gradsim.monitor`, itself checked against autograd in tests/engine/test_monitor.py)."""

from __future__ import annotations

import os

import numpy as np
import pytest
from PySide6.QtCore import Qt

torch = pytest.importorskip("torch")

from gradsim.monitor import (  # noqa: E402
    Monitor,
    gradient_flow_on_inputs,
    load_model_file,
    make_inputs,
    read_run_log,
)
from gradsim.states.model_view import worst_verdict  # noqa: E402
from gradsim.ui.model_view import open_model_window, open_run_window, restyle_windows  # noqa: E402
from gradsim.ui.theme import theme_for  # noqa: E402

from .conftest import wait_idle  # noqa: E402
from .layout_audit import picture_share, problems  # noqa: E402
from .sizing import sized  # noqa: E402


@pytest.fixture
def model_path(tmp_path):
    torch.manual_seed(0)
    module = torch.nn.LSTM(3, 6, num_layers=2, bidirectional=True)
    path = tmp_path / "model.pt"
    torch.save({"epoch": 1, "state_dict": module.state_dict()}, path)
    return path


def _curves(view):
    return {key: np.asarray(curve.getData()[1]) for key, curve in view._curves.items()}


def _assert_flow_shows_engine(view, inputs):
    spec = load_model_file(view.path).module(view.module_choice.value())
    ref = gradient_flow_on_inputs(spec, inputs, view.nonlinearity.value())
    shown = _curves(view)
    assert set(shown) == set(ref.series)
    for key, logs in ref.series.items():
        finite = np.isfinite(logs)
        np.testing.assert_allclose(shown[key][finite], logs[finite], rtol=1e-12)
        x = np.asarray(view._curves[key].getData()[0])
        np.testing.assert_array_equal(x, np.arange(1, logs.size + 1, dtype=float))


def _open_model(main_window, qtbot, path):
    window = open_model_window(main_window, path)
    qtbot.waitUntil(lambda: window.view.flow is not None, timeout=30000)
    wait_idle(qtbot, main_window)
    return window, window.view


def test_open_model_shows_layers_spectrum_and_flow(main_window, qtbot, model_path):
    window, view = _open_model(main_window, qtbot, model_path)
    assert window.isVisible()
    assert view.layer_list.count() == 4  # 2 layers x 2 directions
    s = view.settings()
    _assert_flow_shows_engine(view, make_inputs("noise", s["steps"], 3, s["scale"], s["seed"]))

    # The eigenvalues drawn are those of each gate block of the selected layer's W_hh.
    view.layer_list.setCurrentRow(3)  # layer 1, reverse
    w = load_model_file(model_path).module("lstm").weights["weight_hh_l1_reverse"]
    for gate, scatter in enumerate(view._eig_items):
        xs, ys = scatter.getData()
        expected = np.linalg.eigvals(w[gate * 6:(gate + 1) * 6])
        np.testing.assert_allclose(np.sort_complex(np.asarray(xs) + 1j * np.asarray(ys)),
                                   np.sort_complex(expected), atol=1e-12)


def test_input_controls_recompute(main_window, qtbot, model_path):
    _window, view = _open_model(main_window, qtbot, model_path)
    view.steps.slider.setValue(view.steps.slider.value() + 5)
    view.steps.setValue(37)
    view.input_kind.set_value("zeros")
    wait_idle(qtbot, main_window)
    assert view.flow.steps == 37
    _assert_flow_shows_engine(view, np.zeros((37, 3)))
    view.input_kind.set_value("noise")
    view.noise_scale.setValue(2.5)
    view.seed.setValue(7)
    wait_idle(qtbot, main_window)
    _assert_flow_shows_engine(view, make_inputs("noise", 37, 3, 2.5, 7))


def test_sequence_from_file(main_window, qtbot, model_path, tmp_path):
    _window, view = _open_model(main_window, qtbot, model_path)
    seq = np.random.default_rng(3).standard_normal((23, 3))
    np.savetxt(tmp_path / "seq.csv", seq, delimiter=",")
    view.set_input_file(tmp_path / "seq.csv")
    wait_idle(qtbot, main_window)
    assert view.flow.steps == 23
    _assert_flow_shows_engine(view, np.loadtxt(tmp_path / "seq.csv", delimiter=",", ndmin=2))
    # A file of the wrong width is refused in one line; the last good picture stays.
    drawn = _curves(view)
    np.save(tmp_path / "wide.npy", np.zeros((5, 4)))
    view.set_input_file(tmp_path / "wide.npy")
    wait_idle(qtbot, main_window)
    message = main_window.message_bar.label.text()
    assert "wide.npy" in message and "not T x 3" in message and "\n" not in message
    assert view.flow_caption.text() == message
    assert view.flow.steps == 23
    for key, y in _curves(view).items():
        np.testing.assert_array_equal(y, drawn[key])
    # choosing the same good file again reads it again (it may have changed)
    view.set_input_file(tmp_path / "seq.csv")
    wait_idle(qtbot, main_window)
    np.savetxt(tmp_path / "seq.csv", seq[:11], delimiter=",")
    view.set_input_file(tmp_path / "seq.csv")
    wait_idle(qtbot, main_window)
    assert view.flow.steps == 11


def test_settings_round_trip(main_window, qtbot, model_path):
    _window, view = _open_model(main_window, qtbot, model_path)
    view.apply_settings({"inputs": "noise", "steps": 12, "scale": 0.5, "seed": 4, "nonlinearity": "tanh"})
    wait_idle(qtbot, main_window)
    saved = view.settings()
    assert saved["steps"] == 12 and saved["seed"] == 4 and saved["scale"] == 0.5
    view.apply_settings({"steps": 50})
    view.apply_settings(saved)
    assert view.settings() == saved
    with pytest.raises(ValueError):
        view.apply_settings({"bogus": 1})
    with pytest.raises(ValueError):
        view.apply_settings({"steps": 0})
    with pytest.raises(ValueError, match="no module 'gru' in this model"):
        view.apply_settings({"module": "gru"})
    assert view.settings() == saved  # a refused setting changes nothing
    view.apply_settings({"module": "lstm", "steps": 9})
    wait_idle(qtbot, main_window)
    assert view.flow.steps == 9


def test_changes_are_undone_in_the_model_window_own_stack(main_window, qtbot, model_path):
    window, view = _open_model(main_window, qtbot, model_path)
    view.steps.setValue(40)
    view.input_kind.set_value("zeros")
    wait_idle(qtbot, main_window)
    _assert_flow_shows_engine(view, np.zeros((40, 3)))
    assert window.undo_stack.count() == 2 and main_window.undo_stack.count() == 0
    window.undo_stack.undo()
    wait_idle(qtbot, main_window)
    assert view.input_kind.value() == "noise"
    _assert_flow_shows_engine(view, make_inputs("noise", 40, 3, 1.0, 0))
    window.undo_stack.undo()
    wait_idle(qtbot, main_window)
    assert view.steps.value() == 100 and view.flow.steps == 100
    window.undo_stack.redo()
    wait_idle(qtbot, main_window)
    assert view.settings()["steps"] == 40 and view.flow.steps == 40


def test_a_slow_file_shows_progress_and_can_be_stopped(main_window, qtbot, tmp_path):
    torch.manual_seed(1)
    path = tmp_path / "big.pt"
    torch.save(torch.nn.LSTM(4, 32, num_layers=3, bidirectional=True).state_dict(), path)  # 24 eigen blocks
    worker = main_window.worker
    held = []

    def hold(key, _request_id, _done, _total, _what):
        """On the worker thread, inside the job's first progress report: from here on the job waits
        at each checkpoint, as long as a slow file would take."""
        if key.startswith("model-") and not held:
            held.append(key)
            worker.set_paused(True)

    worker.progress.connect(hold, Qt.ConnectionType.DirectConnection)
    try:
        window = open_model_window(main_window, path)
        view = window.view
        with qtbot.waitSignal(view.progressed, timeout=30000):
            pass
        assert window.isVisible() and view.progress_row.isVisible()
        assert view.progress_label.text() == "Reading big.pt: eigenvalue blocks 0 of 24"
        assert view.loaded is None and not worker.is_idle()
        stopped = worker.cancelled_jobs
        qtbot.mouseClick(view.stop_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(worker.is_idle, timeout=10000)  # cancelled at its next checkpoint, though paused
        assert worker.cancelled_jobs == stopped + 1
        qtbot.waitUntil(lambda: not _file_windows(main_window), timeout=5000)
        assert main_window.statusBar().currentMessage() == "Stopped reading big.pt"
    finally:
        worker.progress.disconnect(hold)
        worker.set_paused(False)


def _file_windows(main_window):
    from gradsim.ui.model_view import _FileWindow

    return main_window.findChildren(_FileWindow)


class _Payload:
    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (open, (self.target, "w"))


def test_malicious_file_is_refused_and_no_window_stays(main_window, qtbot, tmp_path):
    target = tmp_path / "pwned"
    bad = tmp_path / "bad.pt"
    torch.save({"weight_hh_l0": _Payload(str(target))}, bad)
    open_model_window(main_window, bad)
    qtbot.waitUntil(lambda: "refused" in main_window.message_bar.label.text(), timeout=20000)
    qtbot.waitUntil(lambda: not _file_windows(main_window), timeout=5000)  # closed and deleted
    assert not target.exists()


def _write_log(path, steps):
    model = torch.nn.GRU(2, 4, num_layers=2, batch_first=True)
    x = torch.randn(3, 8, 2, generator=torch.Generator().manual_seed(0))
    with Monitor(model, log=path, warn=False, budget=None):
        for _ in range(steps):
            model.zero_grad()
            model(x)[0][:, -1].sum().backward()


def test_run_view_follows_a_growing_log(main_window, qtbot, tmp_path):
    full = tmp_path / "full.jsonl"
    _write_log(full, 4)
    lines = full.read_bytes().split(b"\n")
    live = tmp_path / "live.jsonl"
    live.write_bytes(b"\n".join(lines[:3]) + b"\n" + lines[3][:20])  # header, 2 steps, half a line
    window = open_run_window(main_window, live)
    view = window.view
    qtbot.waitUntil(lambda: view.snapshot is not None and view.snapshot.steps.size == 2, timeout=20000)
    assert window.isVisible()
    assert view.series.values() == ["gru/l0", "gru/l1"]
    assert "incomplete" in view.status.text()

    with open(live, "ab") as f:  # the training script writes on
        f.write(lines[3][20:] + b"\n" + lines[4] + b"\n")
    qtbot.waitUntil(lambda: view.snapshot.steps.size == 4, timeout=20000)

    # What is drawn is the engine's reading of the file.
    log = read_run_log(live)
    steps, matrix = log.heatmap("gru/l0")
    np.testing.assert_array_equal(view.snapshot.steps, steps)
    np.testing.assert_allclose(view.image.image, matrix, rtol=0, atol=0)
    x, y = view.latest_curve.getData()
    np.testing.assert_allclose(y, log.records[-1].layers["gru/l0"])
    view.series.set_value("gru/l1")
    qtbot.waitUntil(lambda: view.snapshot.key == "gru/l1", timeout=20000)
    np.testing.assert_allclose(view.image.image, log.heatmap("gru/l1")[1])

    with open(live, "ab") as f:
        f.write(b"\n".join(lines[5:]))  # the end record
    qtbot.waitUntil(lambda: view.snapshot.finished, timeout=20000)
    assert "finished" in view.status.text()
    assert not view.timer.isActive()


def test_run_alerts_are_listed(main_window, qtbot, tmp_path):
    path = tmp_path / "vanish.jsonl"
    model = torch.nn.RNN(2, 3, batch_first=True)
    with torch.no_grad():
        model.weight_hh_l0.mul_(0.05)
    with Monitor(model, log=path, warn=False, budget=None) as mon:
        for _ in range(3):
            model(torch.randn(1, 30, 2))[1].sum().backward()
    window = open_run_window(main_window, path)
    qtbot.waitUntil(lambda: window.view.snapshot is not None, timeout=20000)
    texts = [window.view.alerts.item(i).text() for i in range(window.view.alerts.count())]
    assert any(t.startswith("rnn/l0: vanishing, steps 1–3 (3×)") for t in texts)
    assert len(mon.alerts) == window.view.snapshot.alert_count
    assert window.view.alerts_box.title() == f"Alerts: {len(mon.alerts)}"
    assert window.view.badge.text().startswith("vanishing")


def _bidirectional_rnn(seed):
    """A bidirectional RNN (3 inputs, 5 units) whose W_hh have spectral norm 0.5 in both directions:
    with tanh, the gradient shrinks at least twofold a step away from each direction's loss end, so
    both directions vanish within 23 steps of it (t = T forward, t = 1 in reverse)."""
    torch.manual_seed(seed)
    module = torch.nn.RNN(3, 5, bidirectional=True, batch_first=True)
    with torch.no_grad():
        for name, p in module.named_parameters():
            if name.startswith("weight_hh"):
                p.mul_(0.5 / torch.linalg.matrix_norm(p, 2))
    return module


def _first_past(logs, reverse):
    """The first step below 10⁻⁶ the gradient meets: counting up from t = 1 in reverse, back from T forward."""
    below = np.flatnonzero(np.asarray(logs) < -6) + 1
    return int(below.min() if reverse else below.max())


def test_bidirectional_model_badge_counts_each_direction_its_own_way(main_window, qtbot, tmp_path):
    """The forward direction keeps its gradient (orthogonal W_hh × 0.9, no biases, small inputs: it
    stays above 10⁻³); the reverse one loses it within a few steps of t = 1 (spectral norm 0.05).
    The badge must name the reverse direction, counted up from t = 1, not "from t = 60".

    The inputs' scale is 0.05: 0.9⁵⁹ · √5 alone gives 10^-2.35, and the rest is tanh' < 1 along the
    way, which grows with the hidden states. At scale 0.1, 5 of 20,000 drawn initialisations fell
    just below 10⁻³ (down to 10^-3.09, seed 724022554); at 0.05 none of 20,000 fell below 10^-2.59."""
    seed = int(np.random.default_rng().integers(0, 2**31 - 1))
    module = _bidirectional_rnn(seed)
    with torch.no_grad():
        torch.nn.init.orthogonal_(module.weight_hh_l0)
        module.weight_hh_l0.mul_(0.9)
        module.weight_hh_l0_reverse.mul_(0.1)  # spectral norm 0.5 -> 0.05
        module.bias_ih_l0.zero_()
        module.bias_hh_l0.zero_()
    path = tmp_path / "bi.pt"
    torch.save(module.state_dict(), path)
    _window, view = _open_model(main_window, qtbot, path)
    with qtbot.waitSignal(view.drawn, timeout=30000):
        view.apply_settings({"inputs": "noise", "steps": 60, "scale": 0.05})
    assert view.flow.steps == 60
    inputs = make_inputs("noise", 60, 3, 0.05, 0)
    _assert_flow_shows_engine(view, inputs)
    flow = gradient_flow_on_inputs(load_model_file(path).module("rnn"), inputs)
    _kind, text, where = worst_verdict(flow)
    assert view.badge.text() == text, f"seed {seed}"
    assert where in view.badge.toolTip()
    # Worked out again from the curves drawn: the reverse direction counted up from t = 1.
    shown = _curves(view)
    assert shown["rnn/l0"].min() > -3, f"seed {seed}"
    reverse = _first_past(shown["rnn/l0/reverse"], True)
    assert reverse <= 6, f"seed {seed}"  # sqrt(5) · 0.05^(t-1) < 10⁻⁶ from t = 6
    assert view.badge.text() == f"vanishing from t = {reverse}\nlayer 0 ←, counted up from t = 1", f"seed {seed}"
    assert f"rnn/l0/reverse: vanishing from step t = {reverse} " in view.badge.toolTip()
    assert "rnn/l0: healthy" in view.badge.toolTip()
    assert "layer 0 ← ‖dL/dh₆₀‖" in view.flow_caption.text() and "layer 0 → ‖dL/dh₁‖" in view.flow_caption.text()


def test_bidirectional_run_badge_and_alerts(main_window, qtbot, tmp_path):
    seed = int(np.random.default_rng().integers(0, 2**31 - 1))
    module = _bidirectional_rnn(seed)
    path = tmp_path / "bi.jsonl"
    x = torch.randn(2, 40, 3, generator=torch.Generator().manual_seed(seed))
    with Monitor(module, log=path, warn=False, budget=None) as mon:
        for _ in range(2):
            module.zero_grad()
            module(x)[1].sum().backward()
    window = open_run_window(main_window, path)
    view = window.view
    qtbot.waitUntil(lambda: view.snapshot is not None and view.snapshot.finished, timeout=20000)
    with qtbot.waitSignal(view.drawn, timeout=20000):
        view.series.set_value("rnn/l0/reverse")
    latest = read_run_log(path).records[-1].layers["rnn/l0/reverse"]
    first_t = _first_past(latest, True)
    assert first_t <= 23, f"seed {seed}"
    assert view.badge.text() == f"vanishing from t = {first_t}\nlayer 0 ←, counted up from t = 1"
    assert "counted up from t = 1" in view.badge.toolTip() and "from t = 1 up to T" in view.heat_caption.text()
    texts = [view.alerts.item(i).text() for i in range(view.alerts.count())]
    assert f"rnn/l0/reverse: vanishing, steps 1–2 (2×), latest from t = {first_t} (counted up from t = 1)" in texts
    assert [a.first_t for a in mon.alerts if a.where == "rnn/l0/reverse"][-1] == first_t
    with qtbot.waitSignal(view.drawn, timeout=20000):
        view.series.set_value("rnn/l0")
    forward = _first_past(read_run_log(path).records[-1].layers["rnn/l0"], False)
    assert view.badge.text() == f"vanishing from t = {forward}\nlayer 0 →, counted back from t = 40"


def test_not_a_run_log_is_refused(main_window, qtbot, tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_text('{"hello": 1}\n')
    open_run_window(main_window, path)
    qtbot.waitUntil(lambda: "not a gradsim run log" in main_window.message_bar.label.text(), timeout=20000)
    qtbot.waitUntil(lambda: not _file_windows(main_window), timeout=5000)


def test_both_colour_profiles(main_window, qtbot, model_path, tmp_path):
    _window, view = _open_model(main_window, qtbot, model_path)
    run_path = tmp_path / "r.jsonl"
    _write_log(run_path, 2)
    run_window = open_run_window(main_window, run_path)
    qtbot.waitUntil(lambda: run_window.view.snapshot is not None, timeout=20000)
    before = _curves(view)
    for projector in (True, False):
        theme = theme_for(projector)
        main_window.apply_theme(theme)
        restyle_windows(main_window, theme)
        assert view.theme is theme and run_window.view.theme is theme
        after = _curves(view)
        for key in before:
            np.testing.assert_array_equal(before[key], after[key])


def test_a_run_log_turned_bad_says_so_and_keeps_the_picture(main_window, qtbot, tmp_path):
    path = tmp_path / "r.jsonl"
    _write_log(path, 3)
    window = open_run_window(main_window, path)
    view = window.view
    qtbot.waitUntil(lambda: view.snapshot is not None and view.snapshot.steps.size == 3, timeout=20000)
    image, latest = view.image.image.copy(), view.latest_curve.getData()[1].copy()
    replacement = tmp_path / "other"
    replacement.write_text("this is not a run log\n")
    os.replace(replacement, path)  # another program writes something else under the name
    view.poll()  # what the file watcher or the timer does
    qtbot.waitUntil(lambda: "not a gradsim run log" in view.status.text(), timeout=20000)
    assert str(path) in view.status.text() and "\n" not in view.status.text()
    assert window.isVisible() and view.snapshot.steps.size == 3
    np.testing.assert_array_equal(view.image.image, image)
    np.testing.assert_array_equal(view.latest_curve.getData()[1], latest)


@pytest.mark.parametrize("size", [(1024, 768), pytest.param((800, 600), marks=pytest.mark.slow)],
                         ids=["1024x768", "800x600"])  # the classroom size by default
@pytest.mark.parametrize("kind", ["model", "run"])
def test_file_windows_fit_a_projector(new_window, qtbot, qapp, model_path, tmp_path, kind, size):
    main = new_window(projector=True)
    sized(qtbot, main, *size)
    if kind == "model":
        window = open_model_window(main, model_path)
        qtbot.waitUntil(lambda: window.view.flow is not None, timeout=30000)
    else:
        _write_log(tmp_path / "r.jsonl", 3)
        window = open_run_window(main, tmp_path / "r.jsonl")
        qtbot.waitUntil(lambda: window.view.snapshot is not None, timeout=30000)
    wait_idle(qtbot, main)
    window.resize(*size)
    qapp.processEvents()
    assert (window.width(), window.height()) == size
    assert window.view.drawer_mode and not window.view.controls_open()
    for drawer_open in (False, True):
        window.controls_action.setChecked(drawer_open)
        qapp.processEvents()
        assert window.view.controls_open() == drawer_open
        assert problems(window, main.theme.small_px) == [], f"{kind} {size}, drawer open: {drawer_open}"
        if not drawer_open and size == (1024, 768):
            assert picture_share(window) >= 0.55
    window.close()
