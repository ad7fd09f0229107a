"""Engine results computed once per test process, for the tests that check the same state.

A preset, the lesson step that shows it and the quiz question or timeline event whose "show me"
opens it are often one state (``hop1000`` is all four), and each of their tests checks it on the
same ten seeds. The engine is deterministic (a state, seed included, gives the same numbers every
time), so computing such a state once and checking it as often as before tests the same thing;
a test run alone still computes everything it checks.

The key is the state's job (``state.job()``: everything the scene's worker computes from, a frozen
dataclass), not the state: a lesson step and the preset it shows differ in fields that change
nothing computed (the preset's name, the tab on show, the animation's speed), and a scene's
``outcome`` is computed from its job as the scene's picture is (every state module's ``outcome``
reads the state through ``job()`` or the pieces ``job()`` is made of). A state without a hashable
job is keyed by itself; one that cannot be a key at all is computed every time. The results are
shared: a test reads them and never changes them.
"""

from __future__ import annotations

import importlib


def outcome(scene_id: str, state):
    """``gradsim.states.<scene_id>.outcome(state)``: what the scene's presets and links claim."""
    key = _key(state)
    if key is None:
        return _outcome(scene_id, state)
    return _cached_outcome(scene_id, key, state)


def _key(state):
    """The state's job if it can be a key, else the state itself if it can, else None."""
    for key in (getattr(state, "job", lambda: None)(), state):
        if key is None:
            continue
        try:
            hash(key)
        except TypeError:
            continue
        return key
    return None


def _outcome(scene_id: str, state):
    return importlib.import_module(f"gradsim.states.{scene_id}").outcome(state)


_computed: dict = {}


def _cached_outcome(scene_id: str, key, state):
    """Once per (scene, key) and process: the first state seen with that key is the one computed."""
    if (scene_id, key) not in _computed:
        _computed[(scene_id, key)] = _outcome(scene_id, state)
    return _computed[(scene_id, key)]
