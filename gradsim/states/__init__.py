"""The scenes' states: one Qt-free module per scene, each a frozen :class:`gradsim.state.SceneState`.

They hold what a scene shows and the engine job it asks for, so presets, lessons and undo records
can be checked (and their claims computed) without a window. ``state_class(scene_id)`` finds one.
"""

from __future__ import annotations

import importlib

from ..state import SceneState

_MODULES = {"flow": "flow", "scalar": "scalar", "spectrum": "spectrum", "gates": "gates", "training": "training",
            "agreement": "agreement", "history": "history", "quiz": "quiz"}


def state_class(scene_id: str) -> type[SceneState] | None:
    """The state class of a scene, or None for a scene that has not moved to state objects yet."""
    module_name = _MODULES.get(scene_id)
    if module_name is None:
        return None
    try:
        module = importlib.import_module(f"{__name__}.{module_name}")
    except ModuleNotFoundError:
        return None
    return getattr(module, "STATE", None)
