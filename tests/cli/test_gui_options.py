"""`gradsim gui` as a script or a teacher would start it: no display, screenshots, files that cannot be
opened. Every failure is one line on stderr and exit status 2 (CONTRACTS section 3)."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from gradsim.cli.gui import missing_display

ROOT = Path(__file__).resolve().parents[2]


def gradsim(*args: str, env: dict | None = None, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gradsim", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT, env=env)


def no_display_env() -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    env["GRADSIM_SETTINGS_ORG"] = "gradsim-tests"
    return env


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", path
    return struct.unpack(">II", data[16:24])


def one_error_line(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    return lines[0]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the display check is Linux's")
@pytest.mark.parametrize("args", [[]] + [pytest.param(a, marks=pytest.mark.slow)  # a process each
                                  for a in (["gui", "--scene", "flow"], ["gui", "--projector"])])
def test_no_display_is_one_line_with_the_way_out(args):
    line = one_error_line(gradsim(*args, env=no_display_env(), timeout=60))
    assert "DISPLAY" in line and "--screenshot" in line
    assert "Reinstalling" not in line


def test_missing_display_only_on_linux_without_any_display_or_platform():
    assert missing_display({}, "linux")
    assert missing_display({"DISPLAY": ""}, "linux")  # set but empty is no display either
    for env in ({"DISPLAY": ":0"}, {"WAYLAND_DISPLAY": "wayland-0"}, {"QT_QPA_PLATFORM": "offscreen"}):
        assert missing_display(env, "linux") is None, env
    assert missing_display({}, "win32") is None and missing_display({}, "darwin") is None


def test_screenshot_without_display_or_size_is_1280x800(tmp_path):
    shot = tmp_path / "flow.png"
    proc = gradsim("gui", "--scene", "flow", "--screenshot", str(shot), env=no_display_env())
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert png_size(shot) == (1280, 800)


def test_screenshot_size_option_still_wins(tmp_path):
    shot = tmp_path / "scalar.png"
    proc = gradsim("gui", "--scene", "scalar", "--size", "1024x768", "--screenshot", str(shot))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert png_size(shot) == (1024, 768)


def _bad_files(tmp: Path) -> dict[str, Path]:
    not_json = tmp / "broken.gradsim.json"
    not_json.write_text("{ nope")
    model = tmp / "weights.pt"
    model.write_bytes(b"\x00\x01 not a state dict")
    run_log = tmp / "run.gradsim-log.jsonl"
    run_log.write_text('{"kind": "step"}\n')
    lesson = tmp / "lesson.gradsim-lesson.json"
    lesson.write_text(json.dumps({"format": "something else"}))
    return {"scenario": not_json, "model": model, "run": run_log, "lesson": lesson}


# Each case starts the app in a process of its own: a bad scenario and a missing model file by
# default, the other six with the slow tests (the scenes' tests refuse each kind of file in-process).
@pytest.mark.parametrize("option, key, missing", [
    pytest.param(option, key, missing, id=f"{'missing' if missing else 'bad'}-{option}",
                 marks=() if (key, missing) in (("scenario", False), ("model", True)) else pytest.mark.slow)
    for option, key in (("--scenario", "scenario"), ("--open-model", "model"), ("--open-run", "run"),
                        ("--lesson", "lesson"))
    for missing in (False, True)])
def test_screenshot_with_a_file_that_cannot_be_opened_is_one_line_exit_2(tmp_path, option, key, missing):
    path = tmp_path / f"absent-{key}.json" if missing else _bad_files(tmp_path)[key]
    shot = tmp_path / "shot.png"
    line = one_error_line(gradsim("gui", option, str(path), "--screenshot", str(shot)))
    assert path.name in line
    assert not shot.exists()


@pytest.mark.parametrize("doc, limit", [  # the app in a process, the RNN's step limit by default
    ({"steps": 5000, "hidden": 8}, "1000"),
    pytest.param({"steps": 5000, "hidden": 8, "cell": "lstm"}, "1000", marks=pytest.mark.slow),
    pytest.param({"steps": 100, "hidden": 400}, "256", marks=pytest.mark.slow),
])
def test_scenario_beyond_the_app_names_the_limit_and_the_command(tmp_path, doc, limit, run_cli):
    """A valid scenario the app is too small for: the scene's reason reaches the user, with the file."""
    path = tmp_path / "large.gradsim.json"
    path.write_text(json.dumps({"format": "gradsim.scenario/1", **doc}))
    ok = run_cli("flow", "--scenario", str(path), "--format", "csv")
    assert ok.returncode == 0, ok.stderr  # the command line takes it
    shot = tmp_path / "shot.png"
    line = one_error_line(gradsim("gui", "--scenario", str(path), "--screenshot", str(shot)))
    assert "large.gradsim.json" in line and limit in line and "gradsim flow --scenario" in line
    assert line.count("gradsim flow") == 1
    assert "cannot show the scenario" not in line
    assert not shot.exists()


@pytest.mark.slow
def test_an_unknown_preset_is_one_line_exit_2_and_a_known_one_is_drawn(tmp_path):
    proc = gradsim("gui", "--scene", "flow", "--preset", "no-such-preset", "--screenshot", str(tmp_path / "x.png"))
    assert "unknown flow preset 'no-such-preset'" in one_error_line(proc)
    shot = tmp_path / "linear12.png"
    proc = gradsim("gui", "--scene", "flow", "--preset", "linear12", "--screenshot", str(shot))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert png_size(shot) == (1280, 800)
