"""What importing gradsim's Qt-free modules loads, seen from a fresh interpreter started once per
test process.

Importing ``gradsim``, ``gradsim.engine`` and the rest of the engine, the monitor, the content and
the command line must load neither torch nor Qt (CONTRACTS section 4; torch only inside the
functions that need it). A module's test asks :func:`probe` about it. The interpreter imports (and
for some modules runs) the probes below one after the other and records, after each, every heavy
module loaded *so far*: a probe is clean only if it and every probe before it loaded nothing heavy,
so nothing an earlier probe did can hide what a later one loads (an earlier culprit makes the later
probes fail too, and each failure names the probe that loaded it first). One interpreter instead of
one per module: each started Python and NumPy again (0.15 s of CPU apiece).
"""

from __future__ import annotations

import functools
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("torch", "PySide6", "pyqtgraph")  # top-level packages no probe may load

# name: code run in the fresh interpreter, in this order; ``value`` is what the probe hands back
PROBES = {
    "command line": "import gradsim, gradsim.engine, gradsim.cli; value = None",
    "equations": "import gradsim.engine.equations as e; value = e.GATES['lstm']",
    "cells": "import gradsim.engine.cells; value = None",
    "additive": ("import gradsim.engine.additive as a, gradsim.engine as e; value = len(a.compare_models("
                 "e.GeneratorSettings(steps=5), models=('rnn', 'residual', 'attention')).results)"),
    "agreement": "import gradsim.engine.agreement; value = None",
    "content": ("import gradsim.content, gradsim.lesson; value = type(gradsim.content.compute_exercise("
                "{'kind': 'norm_power', 'norms': [0.9], 'factors': 10})).__name__"),
    "monitor": "import gradsim.monitor; value = callable(gradsim.monitor)",
}

_SCRIPT = """
import json, sys
probes = json.loads(sys.argv[1])
heavy = tuple(json.loads(sys.argv[2]))
seen = {}
for name, code in probes.items():
    scope = {}
    exec(code, scope)
    loaded = sorted(m for m in sys.modules if m.split(".")[0] in heavy)
    seen[name] = {"value": scope.get("value"), "heavy": loaded}
print(json.dumps(seen))
"""


@functools.cache
def _run() -> dict[str, dict]:
    proc = subprocess.run([sys.executable, "-c", _SCRIPT, json.dumps(PROBES), json.dumps(HEAVY)],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def probe(name: str):
    """The value probe ``name`` handed back, once no heavy module is loaded after it (or an
    assertion naming the first probe that loaded one)."""
    seen = _run()
    heavy = seen[name]["heavy"]
    if heavy:
        first = next(p for p in PROBES if seen[p]["heavy"])
        raise AssertionError(f"after importing {name!r} in a fresh interpreter, loaded: {sorted({m.split('.')[0] for m in heavy})} "
                             f"(first after probe {first!r}: {PROBES[first]})")
    return seen[name]["value"]
