"""The scene registry: the one list of scene ids, their titles and where their code lives.

Qt-free, so the command line, the content files (lessons, quiz, timeline) and the app all read the
same list. ``target`` is ``"module:Class"``; the app imports a scene's module when it is first
opened, so the first window appears without loading them all (and without torch).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SceneEntry:
    scene_id: str
    title: str  # in the scene switcher and the View menu
    short_title: str  # where room is short (a strip of scene buttons at 1024 pixels)
    target: str


SCENES: tuple[SceneEntry, ...] = (
    SceneEntry("flow", "Gradient flow", "Flow", "gradsim.ui.scenes.flow:FlowScene"),
    SceneEntry("scalar", "Scalar intuition", "Scalar", "gradsim.ui.scenes.scalar:ScalarScene"),
    SceneEntry("spectrum", "Eigenvalues", "Eigenvalues", "gradsim.ui.scenes.spectrum:SpectrumScene"),
    SceneEntry("gates", "RNN vs LSTM vs GRU", "Gates", "gradsim.ui.scenes.gates:GatesScene"),
    SceneEntry("training", "Training lab", "Training", "gradsim.ui.scenes.training:TrainingScene"),
    SceneEntry("agreement", "Subject-verb agreement", "Agreement", "gradsim.ui.scenes.agreement:AgreementScene"),
    SceneEntry("history", "History", "History", "gradsim.ui.scenes.history:HistoryScene"),
    SceneEntry("quiz", "Knowledge check", "Quiz", "gradsim.ui.scenes.quiz:QuizScene"),
)

SCENE_IDS: tuple[str, ...] = tuple(entry.scene_id for entry in SCENES)


def entry(scene_id: str) -> SceneEntry:
    for candidate in SCENES:
        if candidate.scene_id == scene_id:
            return candidate
    raise KeyError(scene_id)
