"""State of the ``flow`` scene: the generated (or explicit) vanilla RNN and the verdict thresholds.

``compute_flow`` is the worker job: it builds the scenario (in the worker, never on the GUI thread)
and runs the exact backward pass. A preset's claim is ``compute_flow(state.job()).verdict.kind``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache

from ..engine.activations import ACTIVATIONS
from ..engine.flow import FlowResult, gradient_flow
from ..engine.init import INITIALISERS
from ..engine.scenario import GeneratorSettings, Scenario, scenario_from_dict
from ..engine.thresholds import EXPLODE_THRESHOLD, VANISH_THRESHOLD
from ..presets import preset_ids
from ..state import SceneState, json_document, number, one_of

# What the app shows at most (the command line takes the engine's full limits).
APP_MAX_HIDDEN = 256
APP_MAX_STEPS = 1000

# The app's defaults, and the command line's (one set, in the engine's GeneratorSettings).
DEFAULTS = GeneratorSettings(hidden=32, input=4, steps=100, activation="tanh", init="gaussian", scale=0.9,
                             input_scale=0.5, seed=0)


@lru_cache(maxsize=8)
def _explicit_scenario(document: str) -> Scenario:
    """The explicit scenario of a state (parsed once per document: states are revalidated often)."""
    scenario = scenario_from_dict(json.loads(document), "flow scenario")
    if scenario.cell != "rnn":
        raise ValueError("flow: this scene shows the vanilla RNN; open LSTM and GRU scenarios in the gates scene")
    if scenario.hidden > APP_MAX_HIDDEN or scenario.steps > APP_MAX_STEPS:
        raise ValueError(f"flow: the scenario has n = {scenario.hidden}, T = {scenario.steps}; the app shows up to "
                         f"n = {APP_MAX_HIDDEN} and T = {APP_MAX_STEPS} (use `gradsim flow --scenario FILE`)")
    return scenario


@dataclass(frozen=True)
class FlowState(SceneState):
    scene_id = "flow"
    KEEP_ON_PRESET = ("speed", "seed")  # a preset holds on every seed; the speed is the presenter's

    preset: str = field(default="custom", metadata=one_of(preset_ids("flow")))
    activation: str = field(default=DEFAULTS.activation, metadata=one_of(ACTIVATIONS))
    scale: float = field(default=DEFAULTS.scale, metadata=number(0.0, 2.5))
    steps: int = field(default=DEFAULTS.steps, metadata=number(1, APP_MAX_STEPS, integer=True))
    hidden: int = field(default=DEFAULTS.hidden, metadata=number(1, APP_MAX_HIDDEN, integer=True))
    init: str = field(default=DEFAULTS.init, metadata=one_of(INITIALISERS))
    input_scale: float = field(default=DEFAULTS.input_scale, metadata=number(0.0, 3.0))
    seed: int = field(default=DEFAULTS.seed, metadata=number(0, 999_999, integer=True))
    vanish: float = field(default=VANISH_THRESHOLD, metadata=number(1e-300, 0.1))
    explode: float = field(default=EXPLODE_THRESHOLD, metadata=number(10.0, 1e300))
    speed: int = field(default=10, metadata=number(1, 200, integer=True))
    # an explicit scenario (every number given), or None for weights drawn from the controls
    scenario: str | None = field(default=None, metadata=json_document())

    def check(self) -> None:
        if self.scenario is not None:
            _explicit_scenario(self.scenario)

    def replace(self, **changes):
        # A control that describes the generated network takes the scene back to generated weights.
        if self.scenario is not None and "scenario" not in changes and set(changes) & set(_GENERATOR_FIELDS):
            changes["scenario"] = None
        return super().replace(**changes)

    def generator(self) -> GeneratorSettings:
        return GeneratorSettings(hidden=self.hidden, input=DEFAULTS.input, steps=self.steps,
                                 activation=self.activation, init=self.init, scale=self.scale,
                                 input_scale=self.input_scale, seed=self.seed)

    def explicit(self) -> Scenario | None:
        return _explicit_scenario(self.scenario) if self.scenario is not None else None

    def job(self) -> FlowJob:
        explicit = self.explicit()
        return FlowJob(None if explicit is not None else self.generator(), explicit, self.vanish, self.explode)

    def scenario_document(self) -> dict:
        """The ``gradsim.scenario/1`` document that reopens to this picture."""
        if self.scenario is not None:
            return json.loads(self.scenario)
        return {"format": "gradsim.scenario/1", **self.generator().to_dict()}


_GENERATOR_FIELDS = ("activation", "scale", "steps", "hidden", "init", "input_scale", "seed")


@dataclass(frozen=True)
class FlowJob:
    """What the worker computes: the scenario (built in the worker) and the thresholds."""

    settings: GeneratorSettings | None
    scenario: Scenario | None
    vanish: float
    explode: float


def compute_flow(job: FlowJob) -> FlowResult:
    """Runs on the worker thread: build the scenario, compute the flow and its derived figures."""
    scenario = job.scenario if job.scenario is not None else job.settings.build()
    result = gradient_flow(scenario, job.vanish, job.explode)
    if job.settings is not None:  # generated weights: the spectrum scales with the weight scale
        result.extra["spectral_radius"], result.extra["spectral_norm"] = job.settings.spectrum()
    _ = result.spectral_radius, result.spectral_norm, result.log10_bound  # computed here, not in the GUI
    result.extra["scenario"] = scenario
    return result


def outcome(state: FlowState):
    """The verdict this state shows (kind, from which step): what a preset or lesson step claims."""
    return compute_flow(state.job()).verdict


STATE = FlowState
