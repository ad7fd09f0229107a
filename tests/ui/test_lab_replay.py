"""Issue 19: the training lab replaying a saved run, its curves growing, as a recordable animation.

What each view draws at a replay time is compared with the engine's record of the run
(``TrainRun.curves``, as saved) cut at the training step that time stands for; the GIF the command
writes is decoded again. Nothing here trains in the GUI: the run is trained once by the engine.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from gradsim.engine.training import TrainSettings, load_runs, save_run, train_side_by_side
from gradsim.states.training import VIEWS

from .conftest import wait_idle
from .test_training_scene import show_tab

Image = pytest.importorskip("PIL.Image")

STEPS = 30


@pytest.fixture
def start_scene():
    return "training"  # each test starts on this scene (see conftest)


@pytest.fixture(scope="module")
def saved_run(tmp_path_factory):
    """A vanilla RNN and an LSTM trained side by side for 30 steps, saved as the lab saves runs."""
    models = [TrainSettings(cell=cell, delay=3, hidden=8, embedding=4, batch=8, steps=STEPS, eval_every=5,
                            eval_size=64, seed=3) for cell in ("rnn", "lstm")]
    runs = None
    for row in train_side_by_side(models):
        runs = runs or [snap.run for snap in row]
    path = tmp_path_factory.mktemp("replay") / "two.gradsim-run.pt"
    save_run(path, runs)
    return path


def replayed_step(seconds: float, length: float) -> int:
    """Step 1 at the start, the last step at the end, evenly in between (the replay's promise)."""
    return 1 + round((STEPS - 1) * min(1.0, max(0.0, seconds) / length))


def assert_views_show_run_until(lab, runs, step: int) -> None:
    """Every view draws exactly the saved record's rows up to ``step``."""
    for i, run in enumerate(runs):
        c = run.curves
        k = sum(1 for s in c.step if s <= step)
        e = sum(1 for s in c.eval_step if s <= step)
        show_tab(lab, VIEWS.index("curves"))
        x, y = lab.curves_view.loss_curves[i].getData()
        np.testing.assert_array_equal(x, np.asarray(c.step[:k], dtype=float))
        np.testing.assert_allclose(y, np.log10(c.loss[:k]), rtol=1e-12)
        x, y = lab.curves_view.acc_curves[i].getData()
        np.testing.assert_array_equal(x, np.asarray(c.eval_step[:e], dtype=float))
        np.testing.assert_allclose(y, 100.0 * np.asarray(c.accuracy[:e]), rtol=1e-12)
        assert f"step {step}/{STEPS}" in lab.status.labels[i].text()
        show_tab(lab, VIEWS.index("heatmap"))
        heat = c.heatmap()[:k]
        lo, _hi = lab.heat_view.levels
        np.testing.assert_allclose(lab.heat_view.images[i].image, np.where(np.isfinite(heat), heat, lo), rtol=1e-12)
        show_tab(lab, VIEWS.index("gradnorm"))
        x, y = lab.grad_view.before[i].getData()
        np.testing.assert_array_equal(x, np.asarray(c.step[:k], dtype=float))
        np.testing.assert_allclose(y, np.log10(c.grad_norm_before[:k]), rtol=1e-12)
        if run.settings.cell == "rnn":
            show_tab(lab, VIEWS.index("eigenvalues"))
            x, y = lab.eig_view.current[i].getData()
            np.testing.assert_allclose(x, c.eigenvalues[k - 1].real, rtol=1e-12)
            np.testing.assert_allclose(y, c.eigenvalues[k - 1].imag, rtol=1e-12)


def test_seeking_replays_the_saved_run_in_every_view(lab, main_window, qtbot, saved_run):
    assert lab.load_run_from(saved_run)
    saved = load_runs(saved_run)  # the record as the file holds it
    runs_before = [(tr.run.step_count, len(tr.run.curves.loss)) for tr in lab.traces]
    length = lab.animation_length()
    assert length and length > 0
    seen = []
    for seconds in (0.0, 0.1 * length, length / 3, 0.77 * length, length, 2 * length):
        lab.seek_animation(seconds)
        step = replayed_step(seconds, length)
        seen.append(step)
        assert_views_show_run_until(lab, saved, step)
    assert seen[0] == 1 and seen[-2] == seen[-1] == STEPS and seen == sorted(seen) and len(set(seen)) >= 5
    # going back works too, and nothing was trained: the runs are as loaded
    lab.seek_animation(0.5 * length)
    assert_views_show_run_until(lab, saved, replayed_step(0.5 * length, length))
    assert [(tr.run.step_count, len(tr.run.curves.loss)) for tr in lab.traces] == runs_before
    assert lab.run_state == "finished" and lab.session.task is None
    # Start (a finished run: nothing to train) ends the replay: the whole run again
    lab.play_pause()
    assert_views_show_run_until(lab, saved, STEPS)


def test_export_animation_on_the_lab_replays_the_run(lab, main_window, qtbot, saved_run, tmp_path):
    assert lab.load_run_from(saved_run)
    saved = load_runs(saved_run)
    show_tab(lab, VIEWS.index("curves"))
    path = tmp_path / "lab.gif"
    assert main_window.export_animation(path, seconds=1.0, fps=10)
    frames = decoded(path)
    assert sum(d for _f, d in frames) == 1000
    assert len({f for f, _d in frames}) >= 4  # the curves grow
    assert frames[-1][1] >= 200  # the whole run is held at the end (Pillow merges equal frames)
    assert_views_show_run_until(lab, saved, STEPS)  # and afterwards the lab shows the whole run again
    # cancelled part-way: no file, and the lab is not left half-replayed
    assert not main_window.export_animation(tmp_path / "cut.gif", seconds=1.0, fps=10,
                                            progress=lambda done, total: done < 3)
    assert not (tmp_path / "cut.gif").exists()
    assert_views_show_run_until(lab, saved, STEPS)


def test_open_run_dialog_lists_every_run_file_and_a_saved_run_lands_in_the_lab(lab, main_window, saved_run,
                                                                               monkeypatch):
    """File ▸ Open run…: its filter names both kinds of run the app opens (a saved training run, a
    gradsim.monitor run log) by their extensions, and the file it returns goes where a chosen file
    goes (no real dialog: Qt's static call is replaced by one that "chooses" the saved run)."""
    import fnmatch

    from PySide6.QtWidgets import QFileDialog

    from gradsim.ui.model_view import window as file_windows

    asked = {}

    def choose(parent, caption, folder, filters):
        asked["filters"] = filters
        return str(saved_run), filters.split(";;")[0]

    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(choose))
    main_window.show_scene("flow")
    main_window.open_run_dialog()

    entries = asked["filters"].split(";;")
    patterns = entries[0][entries[0].index("(") + 1:-1].split()  # the entry the dialog starts on
    for name in (saved_run.name, "run.gradsim-run.pt", "run.pt", "run.gradsim-log.jsonl", "run.gradsim.jsonl"):
        assert any(fnmatch.fnmatch(name, p) for p in patterns), name
    assert entries[-1] == "All files (*)"
    # the saved run is in the lab, as the file holds it, and no run-log window was opened for it
    assert main_window.current_scene() is lab
    saved = load_runs(saved_run)
    assert [list(tr.run.curves.loss) for tr in lab.traces] == [list(r.curves.loss) for r in saved]
    assert lab.run_state == "finished"
    assert_views_show_run_until(lab, saved, STEPS)
    assert not main_window.findChildren(file_windows._FileWindow)


def test_frames_show_the_run_without_the_buttons_that_drive_it(lab, main_window):
    """A recording (or a handout) draws the replayed run, not Start/Step/Reset: a replay half-way
    through a finished run would otherwise carry a "Finished" button."""
    assert not any(b.isHidden() for b in lab.run_buttons)
    main_window.set_recording(True)
    try:
        assert all(b.isHidden() for b in lab.run_buttons)
    finally:
        main_window.set_recording(False)
    assert not any(b.isHidden() for b in lab.run_buttons)


def test_nothing_to_replay_is_one_line_in_the_app(lab, main_window, tmp_path):
    assert lab.animation_length() is None
    assert not main_window.export_animation(tmp_path / "none.gif", seconds=1.0, fps=5)
    text = main_window.message_bar.label.text()
    assert "nothing to replay" in text and "\n" not in text
    assert not (tmp_path / "none.gif").exists()


def decoded(path):
    out = []
    with Image.open(path) as image:
        for i in range(image.n_frames):
            image.seek(i)
            out.append((image.convert("RGB").tobytes(), image.info.get("duration")))
    return out


def gradsim_gui(*args):
    return subprocess.run([sys.executable, "-m", "gradsim", "gui", *map(str, args)], capture_output=True, text=True,
                          timeout=180)


@pytest.mark.slow  # the app and torch in a process of their own; the export test above records in-process
def test_gif_of_a_saved_run_from_the_command_line(saved_run, tmp_path):
    path = tmp_path / "replay.gif"
    proc = gradsim_gui("--scene", "training", "--open-run", saved_run, "--record", path, "--seconds", 2,
                       "--fps", 10, "--size", "640x360")
    assert proc.returncode == 0, proc.stderr
    frames = decoded(path)
    with Image.open(path) as image:
        assert image.size == (640, 360)
    assert sum(d for _f, d in frames) == 2000  # 20 frames of 100 ms
    assert len({f for f, _d in frames}) >= 10  # the curves grow: most frames differ
    assert frames[0][0] != frames[-1][0]
    # the replay ends before the clip does: its last picture (the whole run) is held 4 frames
    assert frames[-1][1] >= 400


# Each case starts the app in a process of its own (2-4 s): a bad run file by default, the other
# three with the slow tests.
@pytest.mark.parametrize("case", ["junk"] + [pytest.param(c, marks=pytest.mark.slow)
                                             for c in ("nothing", "absent", "not the lab")])
def test_nothing_or_a_bad_run_to_replay_exits_2_in_one_line(saved_run, tmp_path, case):
    junk = tmp_path / "junk.gradsim-run.pt"
    junk.write_bytes(b"PK\x03\x04 not really a zip")
    extra, said = {"nothing": (["--scene", "training"], "nothing to replay"),
                   "junk": (["--open-run", junk], junk.name),
                   "absent": (["--open-run", tmp_path / "absent.gradsim-run.pt"], "absent.gradsim-run.pt"),
                   "not the lab": (["--scene", "flow", "--open-run", saved_run], "training lab")}[case]
    proc = gradsim_gui(*extra, "--record", tmp_path / "x.gif", "--fps", 5)
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert lines[0].startswith("gradsim gui: error:") and said in lines[0]
    assert not (tmp_path / "x.gif").exists()


def test_replay_is_qt_free_and_torch_free():
    code = ("import sys, gradsim.ui.lab.replay; "
            "print(sorted(m for m in ('torch', 'PySide6', 'pyqtgraph') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "[]", out.stderr


def test_a_run_trained_in_the_lab_is_replayed_too(lab, main_window, qtbot):
    from .test_training_scene import make_small

    make_small(lab, steps=10)
    lab.play_pause()
    qtbot.waitUntil(lambda: lab.run_state == "finished", timeout=60000)
    wait_idle(qtbot, main_window)
    show_tab(lab, VIEWS.index("curves"))
    lab.seek_animation(0.0)
    x, _y = lab.curves_view.loss_curves[0].getData()
    assert list(x) == [1.0]
    lab.seek_animation(lab.animation_length())
    x, y = lab.curves_view.loss_curves[0].getData()
    np.testing.assert_allclose(y, np.log10(lab.traces[0].run.curves.loss), rtol=1e-12)
    assert len(x) == 10


def test_recording_closes_the_controls_when_its_size_switches_the_layout(new_window, qtbot):
    """From a narrow (drawer) layout to 1280x720 (docked): the docked layout's own choice, controls
    shown, must not come back into the frames."""
    window = new_window()
    window.show_scene("training")
    window.resize(1000, 700)
    window._follow_size()
    assert window.presenting()
    window.set_recording(True, (1280, 720))
    assert not window.presenting()
    assert not window.current_scene().controls_open()
