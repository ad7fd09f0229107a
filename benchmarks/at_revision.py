"""An engine module as it was at a git revision, loaded beside this checkout's: the in-run baseline
of a speed change that keeps the numbers (``bench_cells.py --against REV``, ``bench_spectrum.py
--against REV``). Its imports resolve to this checkout's package, so only the module itself is old.
"""

from __future__ import annotations

import subprocess
import sys
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def module_at(revision: str, path: str) -> types.ModuleType:
    """``path`` (``gradsim/engine/cells.py``) at ``revision``, as a module of the same package."""
    source = subprocess.run(["git", "show", f"{revision}:{path}"], capture_output=True, text=True, check=True,
                            cwd=ROOT).stdout
    package = ".".join(Path(path).with_suffix("").parts[:-1])
    module = types.ModuleType(f"{package}._{Path(path).stem}_at_revision")
    module.__package__ = package
    sys.modules[module.__name__] = module  # dataclasses look their module up there
    exec(compile(source, f"{revision}:{path}", "exec"), module.__dict__)  # noqa: S102 - our own file
    return module
