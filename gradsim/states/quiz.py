"""State of the ``quiz`` scene: quiz or exercises, the shuffle seed, the question and exercise on show,
and whether the quiz is being presented to a class (answers judged only when revealed).

What a student has answered is not part of the state: it is the session's progress, not a setting a
lesson step or an undo record should bring back. No Qt here; torch only inside the copy-memory
exercise's training, which the engine imports when it runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache

from ..content import Exercise, QuizQuestion, load_exercises, load_quiz, shuffle_quiz
from ..state import SceneState, flag, number, one_of

MODES = ("quiz", "exercises")
MAX_SEED = 99_999


@cache
def questions() -> tuple[QuizQuestion, ...]:
    return tuple(load_quiz())


@cache
def exercises() -> tuple[Exercise, ...]:
    return tuple(load_exercises())


def exercise_ids() -> tuple[str, ...]:
    return tuple(e.id for e in exercises())


@dataclass(frozen=True)
class QuizState(SceneState):
    scene_id = "quiz"

    mode: str = field(default="quiz", metadata=one_of(MODES))
    seed: int = field(default=0, metadata=number(0, MAX_SEED, integer=True))
    question: int = field(default=0, metadata=number(0, len(questions()) - 1, integer=True))
    present: bool = field(default=False, metadata=flag())
    exercise: str = field(default=exercise_ids()[0], metadata=one_of(exercise_ids()))

    def replace(self, **changes):
        # a new shuffle starts at its first question (unless the change says which one)
        if "seed" in changes and changes["seed"] != self.seed and "question" not in changes:
            changes["question"] = 0
        return super().replace(**changes)

    def exercise_object(self) -> Exercise:
        return next(e for e in exercises() if e.id == self.exercise)


def prepare_quiz(seed: int) -> list[QuizQuestion]:
    """Worker job: the questions in the order (and with the answer positions) the seed gives."""
    return shuffle_quiz(list(questions()), seed)


STATE = QuizState
