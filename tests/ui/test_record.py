"""Issue 19: a scene's animation recorded frame by frame, and a lesson printed as a handout.

The files are decoded again (frame count, sizes, frames that differ, pages) rather than trusted.
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from gradsim.lesson import load_builtin_lesson

from .conftest import wait_idle

Image = pytest.importorskip("PIL.Image")


def _frames(path):
    out = []
    with Image.open(path) as image:
        for i in range(image.n_frames):
            image.seek(i)
            out.append((image.convert("RGB").tobytes(), image.info.get("duration")))
        size = image.size
    return size, out


@pytest.mark.slow  # the app in a process of its own; the tests below record from the shared window
def test_flow_pulse_as_gif_from_the_command_line(tmp_path):
    path = tmp_path / "pulse.gif"
    proc = subprocess.run([sys.executable, "-m", "gradsim", "gui", "--scene", "flow", "--preset", "sigmoid20",
                           "--projector", "--record", str(path), "--size", "480x270", "--fps", "10"],
                          capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr
    size, frames = _frames(path)
    assert size == (480, 270)
    # sigmoid20: 20 steps at the default 10 steps/s is 2 s, plus a short hold: about 27 frames at 10 fps
    # (Pillow merges runs of identical frames into one longer frame, so count durations)
    total_ms = sum(d for _f, d in frames)
    assert 2600 <= total_ms <= 2800
    assert len({f for f, _d in frames}) >= 15  # the pulse moves: most frames differ
    assert all(d % 100 == 0 for _f, d in frames)


def test_frames_are_rendered_at_exact_times(main_window, qtbot):
    from gradsim.ui import record

    flow = main_window.show_scene("flow")
    flow.apply_settings({"steps": 40, "speed": 20})
    wait_idle(qtbot, main_window)
    assert flow.animation_length() == pytest.approx(2.0)
    shots = record.scene_shots(main_window, flow, None, fps=10)
    assert shots[0].frames == round((2.0 + record.HOLD_SECONDS) * 10)
    flow.seek_animation(0.5)
    assert flow.pulse.position == pytest.approx(41 - 20 * 0.5)
    first = flow.export_widget().grab().toImage()
    flow.seek_animation(1.5)
    later = flow.export_widget().grab().toImage()
    flow.seek_animation(0.5)
    again = flow.export_widget().grab().toImage()
    assert first != later and first == again  # a frame depends on its time only


def test_webp_from_the_app_and_refusals(main_window, qtbot, tmp_path):
    main_window.show_scene("flow").apply_settings({"steps": 10, "speed": 20})
    wait_idle(qtbot, main_window)
    seen = []
    assert main_window.export_animation(tmp_path / "a.webp", seconds=0.6, fps=5,
                                        progress=lambda done, total: seen.append((done, total)) or True)
    size, frames = _frames(tmp_path / "a.webp")
    assert len(frames) == 3 and seen[-1] == (3, 3)
    assert size == (main_window.width(), main_window.height())  # the content only, no menu or status bar
    assert main_window.menuBar().isVisible()  # the chrome is back after recording
    # a cancelled recording leaves no file; a bad suffix is one line
    assert not main_window.export_animation(tmp_path / "b.gif", seconds=1, fps=5, progress=lambda d, t: d < 2)
    assert not (tmp_path / "b.gif").exists() and "cancelled" in main_window.message_bar.label.text()
    assert not main_window.export_animation(tmp_path / "c.bmp")
    assert "\n" not in main_window.message_bar.label.text() and ".gif" in main_window.message_bar.label.text()


def test_bad_record_arguments_exit_2_in_one_line(tmp_path, run_cli):
    """A bad target is refused before any window exists: in this process. A bad preset is found
    with the app built: in a process of its own (the recorder installs its Qt message filter)."""
    def refused(proc):
        assert proc.returncode == 2, proc.stderr
        lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
        assert len(lines) == 1 and lines[0].startswith("gradsim gui: error:"), proc.stderr

    for target in (tmp_path / "x.bmp", tmp_path / "no" / "x.gif"):
        refused(run_cli("gui", "--scene", "flow", "--record", str(target)))
    refused(subprocess.run([sys.executable, "-m", "gradsim", "gui", "--scene", "flow", "--record",
                            str(tmp_path / "x.gif"), "--preset", "nonsense"], capture_output=True, text=True,
                           timeout=120))


def test_mp4_needs_its_optional_package_or_writes_a_video(tmp_path, main_window, qtbot):
    try:
        import imageio_ffmpeg  # noqa: F401
    except ImportError:
        assert not main_window.export_animation(tmp_path / "v.mp4", seconds=0.4, fps=5)
        assert "imageio-ffmpeg" in main_window.message_bar.label.text()
        return
    assert main_window.export_animation(tmp_path / "v.mp4", seconds=0.4, fps=5)
    assert (tmp_path / "v.mp4").read_bytes()[4:8] == b"ftyp"


def _pages(path) -> int:
    pdf = path.read_bytes()
    assert pdf.startswith(b"%PDF")
    return len(re.findall(rb"/Type\s*/Page\b", pdf))


def test_handout_has_one_page_per_lesson_step(main_window, qtbot, tmp_path):
    from gradsim.lesson import lesson_from_dict

    lesson = lesson_from_dict({"format": "gradsim.lesson/1", "title": "Three steps", "steps": [
        {"scene": "flow", "settings": {"preset": "sigmoid20"}, "caption": "Sigmoid: gone halfway back."},
        {"scene": "flow", "settings": {"preset": "linear12"}, "caption": "Linear at 1.2: explodes."},
        {"scene": "history", "settings": {}, "caption": "Where it came from."}]})
    main_window.lesson_bar.set_lesson(lesson, start=1)
    flow = main_window.show_scene("flow")
    flow.apply_settings({"steps": 33})
    wait_idle(qtbot, main_window)
    depth = main_window.undo_stack.count()
    path = tmp_path / "lesson.pdf"
    assert main_window.export_handout(path, page="letter")
    assert _pages(path) == 3
    # the walk through the lesson left nothing behind: same scene, same state, no undo records
    assert main_window.current_scene() is flow and flow.state.steps == 33
    assert main_window.undo_stack.count() == depth
    assert main_window.lesson_bar.index == 1


def test_lesson_handout_from_the_command_line(tmp_path, run_cli):
    """The quick check of the verb: a two-step lesson in a process of its own; a file that is not a
    lesson refused in one line (in this process: it is read before any window exists)."""
    import json

    lesson = tmp_path / "two.gradsim-lesson.json"
    lesson.write_text(json.dumps({"format": "gradsim.lesson/1", "title": "Two", "steps": [
        {"scene": "flow", "settings": {"preset": "sigmoid20"}, "caption": "Sigmoid: gone halfway back."},
        {"scene": "history", "settings": {}, "caption": "Where it came from."}]}))
    path = tmp_path / "two.pdf"
    proc = subprocess.run([sys.executable, "-m", "gradsim", "lesson", "handout", str(lesson), "--to", str(path)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert _pages(path) == 2
    bad = run_cli("lesson", "handout", str(tmp_path / "none.json"), "--to", str(tmp_path / "x.pdf"))
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1 and "none.json" in bad.stderr
    assert not (tmp_path / "x.pdf").exists()


@pytest.mark.slow  # fifteen steps across every scene, training included
def test_builtin_lesson_handout_from_the_command_line(tmp_path):
    path = tmp_path / "builtin.pdf"
    proc = subprocess.run([sys.executable, "-m", "gradsim", "lesson", "handout", "builtin", "--to", str(path)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert _pages(path) == len(load_builtin_lesson().steps)
    bad = subprocess.run([sys.executable, "-m", "gradsim", "lesson", "handout", str(tmp_path / "none.json"),
                          "--to", str(tmp_path / "x.pdf")], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1


def _training_lesson(steps: int):
    from gradsim.lesson import lesson_from_dict

    return lesson_from_dict({"format": "gradsim.lesson/1", "title": "Train", "steps": [
        {"scene": "training", "settings": {"steps": steps, "delay": 5, "batch": 16}, "caption": "Two models learn the copy task."}]})


def test_handout_page_of_the_lab_shows_the_models_trained_to_the_end(main_window, qtbot, tmp_path):
    """A lab page is drawn after its models have trained (it showed empty axes before): the traces
    on the page are the engine's own runs, step for step what the same settings give when trained
    alone."""
    from gradsim.engine.training import TrainRun, train_side_by_side
    from gradsim.ui.handout import write_handout

    path = tmp_path / "lab.pdf"
    assert write_handout(main_window, _training_lesson(10), path) == 1
    lab = main_window.current_scene()
    assert lab.scene_id == "training" and lab.run_state == "finished"
    runs = [TrainRun(s) for s in lab.state.train_settings()]
    for _ in train_side_by_side(runs):
        pass
    assert [tr.run.step_count for tr in lab.traces] == [r.step_count for r in runs] == [10, 10]
    for trace, run in zip(lab.traces, runs, strict=True):
        assert trace.run.curves.accuracy == pytest.approx(run.curves.accuracy, abs=1e-12)
        assert trace.run.curves.loss == pytest.approx(run.curves.loss, rel=1e-9)
    assert _pages(path) == 1


def test_handout_cancelled_while_the_lab_trains_writes_nothing(main_window, qtbot, tmp_path):
    from gradsim.engine.errors import InputError
    from gradsim.ui.handout import write_handout

    path = tmp_path / "cancelled.pdf"
    with pytest.raises(InputError, match="cancelled"):
        write_handout(main_window, _training_lesson(5000), path, progress=lambda done, total: False)
    assert not path.exists() and not list(tmp_path.iterdir())
    lab = main_window.current_scene()
    lab.shutdown()
    wait_idle(qtbot, main_window)


def test_a_lesson_recording_replays_the_labs_trained_run(main_window, qtbot):
    """A lab step of a recorded lesson trains its models first, then plays the run as the lab's
    animation (before, the step had nothing to replay and showed empty axes for its seconds)."""
    from gradsim.ui import record

    main_window.lesson_bar.set_lesson(_training_lesson(10))
    (shot,) = record.lesson_shots(main_window, main_window.lesson_bar.lesson, 1.0, 4)
    shot.prepare()
    lab = main_window.current_scene()
    assert lab.scene_id == "training" and lab.run_state == "finished"
    assert [tr.run.step_count for tr in lab.traces] == [10, 10]
    assert lab.animation_length() is not None and lab.recording_problem() is None
    # the whole run within the step's 4 frames (a 1-second step is shorter than the lab's replay)
    shot.seek(0.0)
    assert [t.steps_done for t in lab.frame().traces] == [1, 1]
    shot.seek(3 / 4)  # the last frame
    assert [t.steps_done for t in lab.frame().traces] == [10, 10]
