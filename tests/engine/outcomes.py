"""Engine results computed once per test process, for the tests that check the same state.

A preset, the lesson step that shows it and the quiz question or timeline event whose "show me"
opens it are often one state (``hop1000`` is all four), and each of their tests checks it on the
same ten seeds. The engine is deterministic (a state, seed included, gives the same numbers every
time), so computing such a state once and checking it as often as before tests the same thing;
a test run alone still computes everything it checks. States are frozen dataclasses, so they are
keys (one that holds something unhashable is computed every time). The results are shared: a test
reads them and never changes them.
"""

from __future__ import annotations

import functools
import importlib


def outcome(scene_id: str, state):
    """``gradsim.states.<scene_id>.outcome(state)``: what the scene's presets and links claim."""
    try:
        hash(state)
    except TypeError:
        return _outcome(scene_id, state)
    return _cached_outcome(scene_id, state)


def _outcome(scene_id: str, state):
    return importlib.import_module(f"gradsim.states.{scene_id}").outcome(state)


_cached_outcome = functools.cache(_outcome)
