"""A wheel built from this checkout, installed as a user would install it (not editable, into a fresh
virtual environment), runs every scene from a folder that is not the checkout.

An editable install reads the checkout itself and hides a wheel that lacks its data files; this test
builds the wheel from a copy of the project's files, checks that every resource is inside it, installs
it with pip (which reuses the wheels it can find locally), and runs, from an empty folder: the
self-test (every scene opens and draws, the engine checks pass), and screenshots of the agreement
scene and of the built-in lesson, whose pictures must be real ones.

It takes a few minutes, so the default run leaves it out: `python -m pytest -m install` runs it
(CI does, after the other tests).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.install

ROOT = Path(__file__).resolve().parents[1]
TORCH = "torch==2.13.0"  # the README's pin: the CPU build where pip is pointed at it
PROJECT_FILES = ("pyproject.toml", "README.md", "gradsim")


def _bin(env_dir: Path, name: str) -> Path:
    return env_dir / ("Scripts" if os.name == "nt" else "bin") / (name + (".exe" if os.name == "nt" else ""))


def _run(cmd: list, cwd: Path, env: dict | None = None, timeout: float = 900) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{' '.join(map(str, cmd))}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(wheel, the fresh environment's folder, an empty folder outside the checkout, environment)."""
    base = tmp_path_factory.mktemp("install")
    source = base / "source"  # a clean copy: no build/ or egg-info leftovers can slip into the wheel
    source.mkdir()
    for name in PROJECT_FILES:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(src, source / name)
    wheels = base / "wheels"
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", wheels, source], cwd=base)
    (wheel,) = wheels.glob("gradsim-*.whl")

    env_dir = base / "venv"
    venv.EnvBuilder(with_pip=True, clear=True).create(env_dir)
    _run([_bin(env_dir, "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", wheel, TORCH],
         cwd=base, timeout=1800)

    elsewhere = base / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env.update(QT_QPA_PLATFORM="offscreen", GRADSIM_SETTINGS_ORG="gradsim-install-test", TMPDIR=str(base),
               OMP_NUM_THREADS="1")
    return wheel, env_dir, elsewhere, env


def test_wheel_holds_every_resource_file(installed):
    wheel = installed[0]
    names = set(zipfile.ZipFile(wheel).namelist())
    resources = ROOT / "gradsim" / "resources"
    expected = {"gradsim/resources/" + p.relative_to(resources).as_posix() for p in resources.rglob("*") if p.is_file()}
    assert len(expected) > 20
    assert expected <= names, sorted(expected - names)[:10]
    assert not any(n.startswith(("tests/", "benchmarks/", "scripts/")) for n in names)


def test_installed_package_is_the_wheel_not_the_checkout(installed):
    _wheel, env_dir, elsewhere, env = installed
    out = _run([_bin(env_dir, "python"), "-c", "import gradsim, gradsim.paths as p; print(gradsim.__file__); "
                "print(p.resources_dir())"], cwd=elsewhere, env=env).stdout.split()
    for path in out:
        assert Path(path).resolve().is_relative_to(env_dir.resolve()), out
    for entry in ("gradsim", "gradsim-app"):
        assert _bin(env_dir, entry).exists(), entry


def test_self_test_passes_from_outside_the_checkout(installed):
    _wheel, env_dir, elsewhere, env = installed
    proc = _run([_bin(env_dir, "gradsim"), "--self-test"], cwd=elsewhere, env=env)
    assert "SELF-TEST PASSED" in proc.stdout and "[PASS] every scene opens and draws" in proc.stdout, proc.stdout


def _pixels(path: Path) -> np.ndarray:
    pytest.importorskip("PySide6")
    from PySide6.QtGui import QImage

    image = QImage(str(path))
    assert not image.isNull(), path
    image = image.convertToFormat(QImage.Format.Format_RGB32)
    rows = np.frombuffer(image.constBits(), dtype=np.uint32, count=image.bytesPerLine() * image.height() // 4)
    return rows.reshape(image.height(), image.bytesPerLine() // 4)[:, : image.width()] & 0xFFFFFF


@pytest.mark.parametrize("name, args", [
    ("agreement", ["--scene", "agreement"]),
    ("lesson", ["--lesson", "builtin"]),
])
def test_screenshots_are_real_pictures(installed, name, args):
    _wheel, env_dir, elsewhere, env = installed
    shot = elsewhere / f"{name}.png"
    _run([_bin(env_dir, "gradsim"), "gui", *args, "--screenshot", shot.name], cwd=elsewhere, env=env)
    pixels = _pixels(shot)
    assert pixels.shape == (800, 1280)  # --screenshot without --size
    colours, counts = np.unique(pixels, return_counts=True)
    assert len(colours) >= 64, f"{shot}: only {len(colours)} colours"
    assert counts.max() < 0.9 * pixels.size, f"{shot}: one colour covers {counts.max() / pixels.size:.0%}"
    # drawn all over, not in a corner: every quarter of the window has detail
    for quarter in (pixels[:400, :640], pixels[:400, 640:], pixels[400:, :640], pixels[400:, 640:]):
        assert len(np.unique(quarter)) >= 8
