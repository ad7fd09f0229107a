"""The app's view of the scene registry (:mod:`gradsim.registry`, the one list of scenes).

Scenes are imported when first opened, so the first window appears without loading them all
(and without torch). A scene whose module is missing is simply absent from the navigator.
"""

from __future__ import annotations

import importlib
import importlib.util

from ...registry import SCENES

REGISTRY: list[tuple[str, str, str]] = [(e.scene_id, e.title, e.target) for e in SCENES]


def available() -> list[tuple[str, str, str]]:
    """Registered scenes whose module exists in this installation."""
    out = []
    for scene_id, title, target in REGISTRY:
        module = target.split(":")[0]
        if importlib.util.find_spec(module) is not None:
            out.append((scene_id, title, target))
    return out


def load_class(target: str):
    module_name, class_name = target.split(":")
    return getattr(importlib.import_module(module_name), class_name)
