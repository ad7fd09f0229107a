"""The README's pictures: every one it shows is in the repository, is what its name says, and the
command printed under the GIF is the one scripts/screenshots runs to make it.

The pictures themselves are redrawn by `python scripts/screenshots` (the app's own --screenshot and
--record); these checks read the committed files, so they stay fast and need no Qt.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import re
import shlex
from pathlib import Path

import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
LINKED = re.findall(r"!\[[^\]]*\]\(([^)\s]+)\)", README)
MAX_DOCS_BYTES = 3_000_000  # the repository stays small to clone


def _script():
    path = ROOT / "scripts" / "screenshots"
    loader = importlib.machinery.SourceFileLoader("readme_screenshots", str(path))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def test_readme_shows_the_pulse_gif_and_screenshots():
    assert "docs/flow-pulse.gif" in LINKED
    assert sum(link.startswith("docs/screens/") for link in LINKED) >= 2


@pytest.mark.parametrize("link", LINKED)
def test_every_picture_the_readme_shows_exists(link):
    path = ROOT / link
    assert path.is_file(), f"README shows {link}, which is not in the repository"
    with Image.open(path) as image:
        image.verify()
    size = re.search(r"-(\d+)x(\d+)-", path.name)
    if size:  # docs/screens/<scene>-<W>x<H>-<mode>.png
        with Image.open(path) as image:
            assert image.size == (int(size[1]), int(size[2])), link


def test_the_gif_is_the_command_under_it():
    """The command the README prints under the GIF is the script's, and the file matches it."""
    script = _script()
    shown = re.search(r"`(gradsim gui [^`]*--record docs/flow-pulse\.gif)`", README)
    assert shown, "the README prints no command under the GIF"
    args = shlex.split(shown[1])[2:]
    assert args[:-2] == list(script.PULSE_ARGS), (args, script.PULSE_ARGS)
    options = {flag: value for flag, value in zip(args, [*args[1:], ""], strict=True) if not value.startswith("--")}
    width, height = (int(v) for v in options["--size"].split("x"))
    fps, seconds = int(options["--fps"]), float(options["--seconds"])
    with Image.open(ROOT / "docs" / "flow-pulse.gif") as gif:
        assert gif.size == (width, height)
        delays, distinct = [], set()
        for i in range(gif.n_frames):
            gif.seek(i)
            delays.append(gif.info["duration"])
            distinct.add(gif.convert("RGB").tobytes())
    assert sum(delays) == pytest.approx(seconds * 1000, abs=1000 / fps)
    assert min(delays) == round(1000 / fps)  # a delay GIF can store exactly
    assert len(distinct) >= seconds * fps / 4  # the pulse moves


def test_docs_stay_small():
    total = sum(p.stat().st_size for p in (ROOT / "docs").rglob("*") if p.is_file())
    assert total < MAX_DOCS_BYTES, f"docs/ holds {total / 1e6:.2f} MB"
