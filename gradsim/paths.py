"""Where gradsim's data files live: ``gradsim/resources/``, inside the package.

The resources ship in the wheel as package data, so an editable install, a plain (non-editable)
install run from any folder and the frozen app all find them the same way: through
:mod:`importlib.resources`, relative to the ``gradsim`` package itself.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def resources_dir() -> Path:
    """The ``gradsim/resources/`` folder of this installation (a real folder on disk)."""
    root = files("gradsim").joinpath("resources")
    # Every way gradsim is installed (wheel, editable, PyInstaller bundle) leaves the package on
    # disk; Path() makes that explicit and fails loudly for a zipped install, which is unsupported.
    return Path(str(root))


def resource(*parts: str) -> Path:
    """Path of one resource file, e.g. ``resource("quiz.json")``."""
    return resources_dir().joinpath(*parts)
