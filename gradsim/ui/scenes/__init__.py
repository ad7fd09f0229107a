"""The scene registry: one line per scene, ``(id, title, "module:Class")``.

Scenes are imported when first opened, so the first window appears without loading them all
(and without torch). A scene whose module is missing is simply absent from the navigator.
"""

from __future__ import annotations

import importlib
import importlib.util

REGISTRY: list[tuple[str, str, str]] = [
    ("flow", "Gradient flow", "gradsim.ui.scenes.flow:FlowScene"),
    ("scalar", "Scalar intuition", "gradsim.ui.scenes.scalar:ScalarScene"),
    ("spectrum", "Eigenvalues", "gradsim.ui.scenes.spectrum:SpectrumScene"),
    ("gates", "RNN vs LSTM vs GRU", "gradsim.ui.scenes.gates:GatesScene"),
    ("training", "Training lab", "gradsim.ui.scenes.training:TrainingScene"),
    ("agreement", "Subject-verb agreement", "gradsim.ui.scenes.agreement:AgreementScene"),
    ("history", "History", "gradsim.ui.scenes.history:HistoryScene"),
    ("quiz", "Knowledge check", "gradsim.ui.scenes.quiz:QuizScene"),
]


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
