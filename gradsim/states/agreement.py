"""State of the ``agreement`` scene: which sentence, which network, and the worker job that scores it.

The sentence is one of the seeds' example sentences (``seed:0`` ... ``seed:2``) or one generated from
the vocabulary (``generated``) at ``distance`` tokens between subject and verb, with a ``number``,
a ``variant`` and, optionally, attractors. A seed sentence has its own distance and number: the
state takes them from the sentence (``The cat sits.`` is singular at distance 1, whatever a lesson
file says), so the controls never show a number the sentence does not have, and switching to
``generated`` carries on from the sentence that was on show.

The network is ``untrained`` (PyTorch's initial weights for seed ``run``), or the shipped ``rnn`` or
``lstm`` trained on ``mixed`` distances 1-40 or at one fixed distance (``training``: 5 ... 30).

``compute_view`` is the worker job (torch is imported inside the engine's functions, never here).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..engine import agreement as ag
from ..state import Rule, SceneState, flag, one_of
from ..state import number as whole_number  # the class has a field called ``number``

CURVE_SAMPLES = 500  # held-out sentences per distance and model for the accuracy chart (±2 % at chance)
RUNS = 3  # training seeds shipped per model (0, 1, 2)


def sentence_ids() -> tuple[str, ...]:
    """``generated`` and one id per seed sentence, in the order the scene lists them."""
    return ("generated", *(f"seed:{i}" for i in range(len(ag.seed_sentences()))))


def _training_rule() -> dict:
    """``"mixed"`` or one of the shipped fixed training distances (an integer; "10" from old files too)."""
    allowed = ag.FIXED_DISTANCES

    def convert(value: Any) -> str | int:
        if value == "mixed":
            return "mixed"
        if isinstance(value, str) and value.isdigit():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value not in allowed:
            raise ValueError(f"{value!r} is not 'mixed' or one of {', '.join(map(str, allowed))}")
        return int(value)

    return {"rule": Rule("'mixed' or a training distance", convert)}


@dataclass(frozen=True)
class AgreementState(SceneState):
    scene_id = "agreement"

    sentence: str = field(default="seed:2", metadata=one_of(sentence_ids()))
    distance: int = field(default=13, metadata=whole_number(1, ag.MIXED_RANGE[1], integer=True))
    number: str = field(default="plural", metadata=one_of(ag.NUMBER_NAMES))
    variant: int = field(default=0, metadata=whole_number(0, 9999, integer=True))
    attractors: bool = field(default=True, metadata=flag())
    model: str = field(default="untrained", metadata=one_of(ag.MODEL_CHOICES))
    training: str | int = field(default="mixed", metadata=_training_rule())
    run: int = field(default=0, metadata=whole_number(0, RUNS - 1, integer=True))

    def __post_init__(self) -> None:
        super().__post_init__()
        seed = self.seed_sentence()
        if seed is not None:  # a seed sentence brings its own distance and number
            object.__setattr__(self, "distance", seed.distance)
            object.__setattr__(self, "number", ag.NUMBER_NAMES[seed.number])

    def seed_sentence(self) -> ag.Sentence | None:
        if self.sentence == "generated":
            return None
        return ag.seed_sentences()[int(self.sentence.split(":")[1])]

    @property
    def generated(self) -> bool:
        return self.sentence == "generated"

    def sentence_object(self) -> ag.Sentence:
        """The sentence this state shows (a seed sentence, or the generated one), without a network."""
        return ag.sentence_for(self.sentence, self.distance, self.number, self.variant, self.attractors)

    def job(self, curve_samples: int | None = None) -> AgreementJob:
        return AgreementJob(self.sentence, self.distance, self.number, self.variant, self.attractors, self.model,
                            self.training, self.run, curve_samples)


@dataclass(frozen=True)
class AgreementJob:
    """The sentence and model a state describes; built and evaluated in the worker."""

    sentence: str
    distance: int
    number: str
    variant: int
    attractors: bool
    model: str
    training: str | int
    run: int
    curve_samples: int | None = None  # score the shipped models too (the chart), on this many sentences


@dataclass
class AgreementView:
    """What the worker returns: the saliency of the sentence, and the accuracy curves when asked."""

    saliency: ag.Saliency
    curves: ag.AccuracyCurves | None


def compute_saliency(job: AgreementJob) -> ag.Saliency:
    """Build the sentence, pick the weights, backpropagate the verb's loss."""
    sentence = ag.sentence_for(job.sentence, job.distance, job.number, job.variant, job.attractors)
    cell, weights, label = ag.model_weights(job.model, job.training, job.run)
    return ag.saliency(sentence, cell, weights, label)


def compute_view(job: AgreementJob) -> AgreementView:
    """Worker thread. The curves (the shipped models scored on fresh sentences, cached by the engine)
    come with the first result, so the first picture, and ``--screenshot``, show both views."""
    curves = ag.shipped_accuracy_curves(job.curve_samples) if job.curve_samples else None
    return AgreementView(compute_saliency(job), curves)


def holds_without_gradient(state: AgreementState, sal: ag.Saliency) -> bool:
    """A trained vanilla RNN that answers right although (almost) no gradient reaches the subject:
    the picture that needs its word of why (it was trained on mixed distances, short ones among them)."""
    return state.model == "rnn" and sal.correct and sal.total < 1e-6


STATE = AgreementState
