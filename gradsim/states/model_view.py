"""State of a model window (File ▸ Open model…, ``gradsim gui --open-model F``), and its worker jobs.

A model window is not a scene of the registry (there is one per opened file), but it is built like
one: what it shows is this frozen state (which recurrent module of the file, and the inputs the
gradient flow is computed on), its rules are the fields' rules, and the work runs on the worker
through the module-level jobs below. The file's own contents (the modules it holds) are not part of
the state: a module name is checked against the file by the window, once the file has been read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..engine.thresholds import EXPLODING, HEALTHY, VANISHING, Verdict
from ..monitor.model_file import (
    INPUT_KINDS,
    FlowOnInputs,
    LayerSpec,
    LayerSpectrum,
    ModelInfo,
    gradient_flow_on_inputs,
    load_model_file,
    make_inputs,
)
from ..monitor.runlog import is_reverse_series
from ..state import SceneState, number, one_of, text

APP_MAX_STEPS = 2000  # the window's limit on T (the engine takes up to MAX_STEPS)
NONLINEARITIES = ("tanh", "relu")


@dataclass(frozen=True)
class ModelViewState(SceneState):
    scene_id = "model view"

    module: str | None = field(default=None, metadata=text(1000, optional=True))  # None: the file's first
    inputs: str = field(default="noise", metadata=one_of(INPUT_KINDS))
    steps: int = field(default=100, metadata=number(1, APP_MAX_STEPS, integer=True))
    scale: float = field(default=1.0, metadata=number(0.0, 5.0))
    seed: int = field(default=0, metadata=number(0, 999_999, integer=True))
    file: str | None = field(default=None, metadata=text(4096, optional=True))  # the input sequence
    nonlinearity: str = field(default="tanh", metadata=one_of(NONLINEARITIES))  # a vanilla RNN's f

    def flow_request(self, spec: LayerSpec) -> FlowRequest | None:
        """What the worker computes for this state on ``spec``; None while no sequence file is chosen."""
        if self.inputs == "file" and not self.file:
            return None
        return FlowRequest(spec, self.inputs, self.steps, self.scale, self.seed, self.file,
                           self.nonlinearity if spec.cell == "rnn" else "tanh")


@dataclass
class LoadedModel:
    info: ModelInfo
    spectra: dict[str, list[LayerSpectrum]]  # module name -> every layer, direction and gate

    def module(self, name: str | None) -> LayerSpec:
        """The module called ``name``, or the file's first when ``name`` is None or not in the file."""
        names = [m.name for m in self.info.modules]
        return self.info.modules[names.index(name) if name in names else 0]


def load_model_job(path: str) -> LoadedModel:
    """Read and check the file, infer the layers and compute every ``W_hh`` spectrum (reports its
    progress per eigenvalue block, and can be cancelled between blocks)."""
    info = load_model_file(path)
    return LoadedModel(info, {m.name: m.spectra() for m in info.modules})


@dataclass(frozen=True, eq=False)
class FlowRequest:
    """One gradient-flow computation (the spec holds arrays: compared by identity)."""

    spec: LayerSpec
    inputs: str
    steps: int
    scale: float
    seed: int
    file: str | None
    nonlinearity: str


def flow_job(req: FlowRequest) -> FlowOnInputs:
    x = make_inputs(req.inputs, req.steps, req.spec.input_size, req.scale, req.seed, req.file)
    return gradient_flow_on_inputs(req.spec, x, req.nonlinearity)


def verdict_text(verdict: Verdict, steps: int, key: str | None = None) -> str:
    """The words of a verdict badge: ``"healthy"`` or ``"vanishing from t = 73"``. With ``key`` (a
    series of a bidirectional model, where the two directions count ``t`` opposite ways) a second
    line names the direction and where ``first_t`` is counted from: ``"layer 1 ←, counted up from
    t = 1"`` (the reverse direction's gradient travels from t = 1 up to T)."""
    if verdict.kind == HEALTHY:
        return HEALTHY
    text = f"{verdict.kind} from t = {verdict.first_t}"
    if key is not None:
        text += f"\n{direction_label(key)}, {verdict.counted(steps)}"
    return text


def worst_verdict(flow: FlowOnInputs | None) -> tuple[str, str, str]:
    """``(kind, badge text, where)`` over every layer and direction: exploding wins over vanishing,
    and among the series of that kind the one whose trouble starts nearest its loss end, i.e. after
    the fewest steps of travel (``T - first_t`` forward, ``first_t - 1`` in a reverse direction,
    whose gradient goes from t = 1 up; ties go to the first in the module's order).

    Each direction keeps its own verdict (``flow.verdicts``, judged the way it carries the
    gradient); for a bidirectional model the badge says which direction it names and how its ``t``
    is counted, and ``where`` lists every series' verdict."""
    verdicts = flow.verdicts if flow is not None else {}
    steps = flow.steps if flow is not None else 0
    bidirectional = any(is_reverse_series(k) for k in verdicts)
    every = "; ".join(f"{k}: {v.describe()}" for k, v in verdicts.items())
    for kind in (EXPLODING, VANISHING):
        hits = [(k, v) for k, v in verdicts.items() if v.kind == kind]
        if hits:
            key, v = min(hits, key=lambda kv: kv[1].steps_travelled(steps))
            where = f"{key}, {v.describe()}"
            if bidirectional:
                where += f". Each direction, judged the way its gradient travels: {every}"
            return kind, verdict_text(v, steps, key if bidirectional else None), where
    where = "every layer stays between the thresholds"
    if bidirectional:
        where += " (both directions, each judged the way its gradient travels)"
    return HEALTHY, HEALTHY, where


_SERIES_LAYER = re.compile(r"/l(?P<layer>\d+)(?:/reverse)?(?:#\d+)?$")


def series_layer(key: str) -> int | None:
    """The layer of a series key (``"enc/lstm/l1/reverse#2"`` -> 1), read from its end."""
    m = _SERIES_LAYER.search(key)
    return None if m is None else int(m["layer"])


def direction_label(key: str) -> str:
    """``"lstm/l1/reverse"`` -> ``"layer 1 ←"`` (the arrow says which way the direction reads)."""
    layer = series_layer(key)
    arrow = "←" if is_reverse_series(key) else "→"
    return f"layer {'?' if layer is None else layer} {arrow}"


STATE = ModelViewState
