"""The teaching content as data: the timeline, the quiz and the worked exercises (``resources/*.json``).

Why data and not code: teachers can read, correct and translate the texts without touching Python,
and tests can check every file (schema, exactly one right answer per question, an explanation for
every option, every "show me" opening a scene that exists). Nothing here imports Qt or torch at
module level; the copy-memory exercise imports torch through the training engine when it runs.

Numbers inside texts are never typed in: a placeholder such as ``{{0.9^50}}`` or ``{{0.9*50}}`` is
computed when the text is rendered, so a question cannot state a wrong power. Exercises carry a
``compute`` spec that :func:`compute_exercise` evaluates with the engine (NumPy) every time the app
shows the solution.

Every refusal is an :class:`InputError` with one line that names the file and what is wrong.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from gradsim.engine.errors import InputError
from gradsim.engine.files import read_json
from gradsim.formatting import format_log10, format_number  # noqa: F401 - the one home; re-exported
from gradsim.formatting import subscript as sub
from gradsim.formatting import superscript as sup
from gradsim.paths import resource
from gradsim.registry import SCENE_IDS

TIMELINE_FORMAT = "gradsim.timeline/1"
QUIZ_FORMAT = "gradsim.quiz/1"
EXERCISES_FORMAT = "gradsim.exercises/1"

EVENT_KINDS = ("foundation", "problem", "remedy", "architecture")
QUIZ_TOPICS = {  # a question's topic id, and how the quiz's header names it to a class
    "weight_sharing": "one W_hh at every step",
    "jacobian_product": "a product of Jacobians",
    "eigenvalue_condition": "the eigenvalue condition",
    "sigmoid_bound": "sigmoid's slope",
    "scalar_power": "one number, many steps",
    "clipping": "gradient clipping",
    "relu": "ReLU",
    "lstm": "the LSTM",
    "lstm_gru": "LSTM and GRU",
    "additive_path": "the additive path",
    "detection": "spotting the problem",
    "history": "history",
}

MAX_CONTENT_BYTES = 2 * 1024 * 1024
MAX_TEXT = 2000
MAX_SETTINGS_DEPTH = 6
MAX_SETTINGS_ITEMS = 4000

_PLACEHOLDER = re.compile(r"\{\{\s*([0-9]+(?:\.[0-9]+)?)\s*([\^*])\s*([0-9]+(?:\.[0-9]+)?)\s*\}\}")
# --------------------------------------------------------------------------------------------------
# numbers in texts


def placeholder_value(base: float, op: str, other: float) -> float:
    """The value a placeholder stands for: ``base^other`` or ``base*other``."""
    if op == "^":
        with np.errstate(over="ignore", under="ignore"):
            return float(np.power(base, other))
    return base * other


def render_text(text: str) -> str:
    """Replace every ``{{a^b}}`` / ``{{a*b}}`` placeholder by its computed, formatted value."""

    def repl(match: re.Match[str]) -> str:
        return format_number(placeholder_value(float(match.group(1)), match.group(2), float(match.group(3))))

    return _PLACEHOLDER.sub(repl, text)


def _check_placeholders(text: str, where: str) -> None:
    stripped = _PLACEHOLDER.sub("", text)
    if "{{" in stripped or "}}" in stripped:
        raise InputError(f"{where}: malformed placeholder (write {{{{a^b}}}} or {{{{a*b}}}} with plain numbers)")


# --------------------------------------------------------------------------------------------------
# the data types


@dataclass(frozen=True)
class ShowMe:
    """Open ``scene`` with ``settings`` applied (through the scene's ``apply_settings``, on top of its
    defaults). ``expect``: the outcome the link's label or text claims, as a preset's ``expect``
    (the tests compute it with the engine on ten seeds)."""

    scene: str
    settings: dict[str, Any]
    label: str = "Show me"
    expect: Any = None

    def to_dict(self) -> dict[str, Any]:
        out = {"scene": self.scene, "settings": self.settings, "label": self.label}
        if self.expect is not None:
            out["expect"] = self.expect
        return out


@dataclass(frozen=True)
class TimelineEvent:
    id: str
    year: int
    title: str
    short: str  # a label of a few words for the timeline strip
    people: tuple[str, ...]
    kind: str
    text: str
    reference: str = ""
    show_me: ShowMe | None = None


@dataclass(frozen=True)
class QuizOption:
    text: str
    correct: bool
    explanation: str


@dataclass(frozen=True)
class QuizQuestion:
    id: str
    topic: str
    prompt: str
    options: tuple[QuizOption, ...]
    show_me: ShowMe | None = None

    @property
    def topic_title(self) -> str:
        """The topic as the quiz names it on screen (``relu`` -> ``ReLU``)."""
        return QUIZ_TOPICS[self.topic]

    @property
    def correct_index(self) -> int:
        return next(i for i, o in enumerate(self.options) if o.correct)


@dataclass(frozen=True)
class Exercise:
    id: str
    title: str
    prompt: str
    hints: tuple[str, ...]
    compute: dict[str, Any]
    show_me: ShowMe | None = None

    @property
    def slow(self) -> bool:
        """True when computing the solution trains networks (seconds to minutes): run it on demand."""
        return self.compute.get("kind") in SLOW_KINDS


# --------------------------------------------------------------------------------------------------
# reading and checking


def read_json_file(path: str | Path, what: str = "file") -> Any:
    """Parse one JSON file strictly through :mod:`gradsim.engine.files`: a regular file of at most
    ``MAX_CONTENT_BYTES``, UTF-8, no NaN/Infinity, bounded numbers and nesting. One-line errors
    name the file."""
    return read_json(path, MAX_CONTENT_BYTES, what, max_depth=32)


def _obj(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InputError(f"{where} must be a JSON object")
    return value


def _str(data: dict, key: str, where: str, required: bool = True, allow_empty: bool = False,
         limit: int = MAX_TEXT) -> str:
    """The text under ``key``: missing (an error when ``required``), not text, empty (unless
    ``allow_empty``), longer than ``limit`` or with an unknown ``{{...}}`` placeholder is refused."""
    if key not in data:
        if required:
            raise InputError(f"{where}: missing {key!r}")
        return ""
    v = data[key]
    if not isinstance(v, str):
        raise InputError(f"{where}: {key!r} must be text")
    if not allow_empty and not v.strip():
        raise InputError(f"{where}: {key!r} is empty")
    if len(v) > limit:
        raise InputError(f"{where}: {key!r} is longer than {limit} characters")
    _check_placeholders(v, f"{where} {key!r}")
    return v


def _id(data: dict, where: str, seen: set[str]) -> str:
    v = _str(data, "id", where)
    if not re.fullmatch(r"[a-z0-9][a-z0-9_\-]*", v):
        raise InputError(f"{where}: id {v!r} must be lower-case letters, digits, '_' or '-'")
    if v in seen:
        raise InputError(f"{where}: duplicate id {v!r}")
    seen.add(v)
    return v


def _unknown_keys(data: dict, allowed: set[str], where: str) -> None:
    extra = sorted(set(data) - allowed)
    if extra:
        raise InputError(f"{where}: unknown key(s) {', '.join(map(repr, extra))}")


def check_settings_value(value: Any, where: str) -> dict[str, Any]:
    """Scene settings are plain JSON (objects, lists, strings, finite numbers, booleans, null), of
    bounded depth and size, so a lesson file cannot smuggle anything else into a scene."""
    if not isinstance(value, dict):
        raise InputError(f"{where}: settings must be a JSON object")
    count = 0

    def walk(v: Any, depth: int) -> None:
        nonlocal count
        count += 1
        if count > MAX_SETTINGS_ITEMS:
            raise InputError(f"{where}: settings have more than {MAX_SETTINGS_ITEMS} values")
        if depth > MAX_SETTINGS_DEPTH:
            raise InputError(f"{where}: settings nested deeper than {MAX_SETTINGS_DEPTH}")
        if isinstance(v, dict):
            for k, item in v.items():
                if not isinstance(k, str):
                    raise InputError(f"{where}: settings keys must be text")
                walk(item, depth + 1)
        elif isinstance(v, list):
            for item in v:
                walk(item, depth + 1)
        elif isinstance(v, float):
            if not math.isfinite(v):
                raise InputError(f"{where}: settings hold a non-finite number")
        elif v is None or isinstance(v, (str, bool, int)):
            pass
        else:
            raise InputError(f"{where}: settings hold a {type(v).__name__}, which JSON cannot carry")

    walk(value, 0)
    return value


def parse_show_me(value: Any, where: str) -> ShowMe:
    from gradsim.presets import check_expect

    data = _obj(value, f"{where} show_me")
    _unknown_keys(data, {"scene", "settings", "label", "expect"}, f"{where} show_me")
    scene = _str(data, "scene", f"{where} show_me")
    if scene not in SCENE_IDS:
        raise InputError(f"{where}: show_me opens unknown scene {scene!r} (choose one of {', '.join(SCENE_IDS)})")
    settings = check_settings_value(data.get("settings", {}), f"{where} show_me")
    label = _str(data, "label", f"{where} show_me", required=False) or "Show me"
    return ShowMe(scene, settings, label, check_expect(data.get("expect"), f"{where} show_me"))


def _container(data: Any, fmt: str, key: str, name: str) -> list[Any]:
    data = _obj(data, name)
    if data.get("format") != fmt:
        raise InputError(f"{name}: format must be {fmt!r}, got {data.get('format')!r}")
    items = data.get(key)
    if not isinstance(items, list) or not items:
        raise InputError(f"{name}: {key!r} must be a non-empty list")
    return items


# --------------------------------------------------------------------------------------------------
# timeline


def timeline_from_dict(data: Any, name: str = "timeline") -> list[TimelineEvent]:
    """Validate a timeline document; events come back sorted by year (stable)."""
    events = []
    seen: set[str] = set()
    for i, item in enumerate(_container(data, TIMELINE_FORMAT, "events", name)):
        where = f"{name}: event {i + 1}"
        item = _obj(item, where)
        _unknown_keys(item, {"id", "year", "title", "short", "people", "kind", "text", "reference", "show_me"}, where)
        eid = _id(item, where, seen)
        where = f"{name}: event {eid!r}"
        year = item.get("year")
        if not isinstance(year, int) or isinstance(year, bool) or not 1900 <= year <= 2100:
            raise InputError(f"{where}: 'year' must be a whole year between 1900 and 2100")
        people = item.get("people", [])
        if not isinstance(people, list) or not all(isinstance(p, str) and p.strip() for p in people):
            raise InputError(f"{where}: 'people' must be a list of names")
        kind = _str(item, "kind", where)
        if kind not in EVENT_KINDS:
            raise InputError(f"{where}: unknown kind {kind!r} (choose one of {', '.join(EVENT_KINDS)})")
        show = parse_show_me(item["show_me"], where) if "show_me" in item else None
        events.append(
            TimelineEvent(
                id=eid,
                year=year,
                title=_str(item, "title", where),
                short=_short(item, where),
                people=tuple(people),
                kind=kind,
                text=_str(item, "text", where),
                reference=_str(item, "reference", where, required=False),
                show_me=show,
            )
        )
    return sorted(events, key=lambda e: e.year)


def _short(item: dict, where: str) -> str:
    short = _str(item, "short", where, required=False) or _str(item, "title", where)
    if len(short) > 40:
        raise InputError(f"{where}: 'short' label is longer than 40 characters")
    return short


def load_timeline(path: str | Path | None = None) -> list[TimelineEvent]:
    p = Path(path) if path is not None else resource("timeline.json")
    return timeline_from_dict(read_json_file(p, "timeline"), p.name)


# --------------------------------------------------------------------------------------------------
# quiz


def quiz_from_dict(data: Any, name: str = "quiz") -> list[QuizQuestion]:
    """Validate a quiz: every question has 2 to 6 options, exactly one correct, each explained."""
    questions = []
    seen: set[str] = set()
    for i, item in enumerate(_container(data, QUIZ_FORMAT, "questions", name)):
        where = f"{name}: question {i + 1}"
        item = _obj(item, where)
        _unknown_keys(item, {"id", "topic", "prompt", "options", "show_me"}, where)
        qid = _id(item, where, seen)
        where = f"{name}: question {qid!r}"
        topic = _str(item, "topic", where)
        if topic not in QUIZ_TOPICS:
            raise InputError(f"{where}: unknown topic {topic!r} (choose one of {', '.join(QUIZ_TOPICS)})")
        options_raw = item.get("options")
        if not isinstance(options_raw, list) or not 2 <= len(options_raw) <= 6:
            raise InputError(f"{where}: 'options' must be a list of 2 to 6 answers")
        options = []
        for j, opt in enumerate(options_raw):
            owhere = f"{where} option {j + 1}"
            opt = _obj(opt, owhere)
            _unknown_keys(opt, {"text", "correct", "explanation"}, owhere)
            correct = opt.get("correct", False)
            if not isinstance(correct, bool):
                raise InputError(f"{owhere}: 'correct' must be true or false")
            options.append(QuizOption(_str(opt, "text", owhere), correct, _str(opt, "explanation", owhere)))
        n_correct = sum(o.correct for o in options)
        if n_correct != 1:
            raise InputError(f"{where}: needs exactly one correct option, has {n_correct}")
        texts = [render_text(o.text).strip().lower() for o in options]
        if len(set(texts)) != len(texts):
            raise InputError(f"{where}: two options have the same text")
        show = parse_show_me(item["show_me"], where) if "show_me" in item else None
        questions.append(QuizQuestion(qid, topic, _str(item, "prompt", where), tuple(options), show))
    return questions


def load_quiz(path: str | Path | None = None) -> list[QuizQuestion]:
    p = Path(path) if path is not None else resource("quiz.json")
    return quiz_from_dict(read_json_file(p, "quiz"), p.name)


def shuffle_quiz(questions: list[QuizQuestion], seed: int, shuffle_options: bool = True) -> list[QuizQuestion]:
    """The questions in an order drawn from ``seed`` (and each question's options too), the same on
    every machine and Python version: a class sees the same quiz as the teacher's preview."""
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise InputError("quiz seed must be a whole number >= 0")
    rng = random.Random(seed)
    order = list(questions)
    # Fisher-Yates with randrange, whose sequence for a given seed Python keeps stable.
    for i in range(len(order) - 1, 0, -1):
        j = rng.randrange(i + 1)
        order[i], order[j] = order[j], order[i]
    if not shuffle_options:
        return order
    out = []
    for q in order:
        opts = list(q.options)
        for i in range(len(opts) - 1, 0, -1):
            j = rng.randrange(i + 1)
            opts[i], opts[j] = opts[j], opts[i]
        out.append(replace(q, options=tuple(opts)))
    return out


@dataclass
class QuizScore:
    """Right answers so far out of the questions answered (each question counts once: its first answer)."""

    answered: dict[str, bool] = field(default_factory=dict)

    def record(self, question: QuizQuestion, chosen: int) -> bool:
        if not 0 <= chosen < len(question.options):
            raise InputError(f"answer {chosen} is out of range for question {question.id!r}")
        right = question.options[chosen].correct
        self.answered.setdefault(question.id, right)
        return right

    @property
    def right(self) -> int:
        return sum(self.answered.values())

    @property
    def total(self) -> int:
        return len(self.answered)


# --------------------------------------------------------------------------------------------------
# exercises and their live solutions

COMPUTE_KINDS = ("jacobian", "eigenvalues", "norm_power", "sigmoid_bound", "spectral_sweep", "copy_memory")
SLOW_KINDS = ("copy_memory",)
MAX_MATRIX = 8


@dataclass
class ExerciseResult:
    """A computed solution: ``rows`` of (label, formatted value) for display, ``values`` with the raw
    numbers (for plots and tests), and a one-sentence ``conclusion`` derived from those numbers."""

    kind: str
    rows: list[tuple[str, str]]
    values: dict[str, Any]
    conclusion: str


def _num(v: Any, key: str, where: str, lo: float, hi: float) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or not lo <= v <= hi:
        raise InputError(f"{where}: {key!r} must be a number between {lo:g} and {hi:g}")
    return float(v)


def _int(v: Any, key: str, where: str, lo: int, hi: int) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise InputError(f"{where}: {key!r} must be a whole number between {lo} and {hi}")
    return int(v)


def _num_list(v: Any, key: str, where: str, lo: float, hi: float, max_len: int = 10) -> list[float]:
    if not isinstance(v, list) or not 1 <= len(v) <= max_len:
        raise InputError(f"{where}: {key!r} must be a list of 1 to {max_len} numbers")
    return [_num(x, key, where, lo, hi) for x in v]


def _matrix(v: Any, where: str) -> np.ndarray:
    if (
        not isinstance(v, list)
        or not 1 <= len(v) <= MAX_MATRIX
        or not all(isinstance(r, list) and len(r) == len(v) for r in v)
    ):
        raise InputError(f"{where}: 'matrix' must be a square list of lists (n from 1 to {MAX_MATRIX})")
    return np.array([[_num(x, "matrix", where, -1e3, 1e3) for x in row] for row in v], dtype=np.float64)


_SPEC_KEYS = {
    "jacobian": {"matrix", "h_prev", "activation"},
    "eigenvalues": {"matrix"},
    "norm_power": {"norms", "factors", "hidden", "input_scale", "seed"},
    "sigmoid_bound": {"norm", "steps", "hidden", "input_scale", "seed"},
    "spectral_sweep": {"norms", "steps", "hidden", "input_scale", "seeds"},
    "copy_memory": {"delays", "cell", "train_steps", "hidden", "seed", "fail_below"},
}


def check_compute_spec(spec: Any, where: str = "compute") -> dict[str, Any]:
    """Validate a compute spec (kind and parameters) without running it."""
    spec = _obj(spec, where)
    kind = spec.get("kind")
    if kind not in COMPUTE_KINDS:
        raise InputError(f"{where}: unknown compute kind {kind!r} (choose one of {', '.join(COMPUTE_KINDS)})")
    _unknown_keys(spec, _SPEC_KEYS[kind] | {"kind"}, where)
    _parse_spec(spec, where)
    return spec


def _flow_common(spec: dict, where: str) -> tuple[int, float]:
    hidden = _int(spec.get("hidden", 16), "hidden", where, 1, 256)
    input_scale = _num(spec.get("input_scale", 0.01), "input_scale", where, 0.0, 100.0)
    return hidden, input_scale


def _parse_spec(spec: dict, where: str) -> dict[str, Any]:
    """The spec's parameters with defaults filled in, each checked."""
    from gradsim.engine.activations import ACTIVATIONS

    kind = spec["kind"]
    if kind in ("jacobian", "eigenvalues"):
        w = _matrix(spec.get("matrix"), where)
        out: dict[str, Any] = {"matrix": w}
        if kind == "jacobian":
            h = spec.get("h_prev", [0.0] * w.shape[0])
            out["h_prev"] = np.array(_num_list(h, "h_prev", where, -1e3, 1e3, MAX_MATRIX))
            if out["h_prev"].size != w.shape[0]:
                raise InputError(f"{where}: 'h_prev' must have one value per row of the matrix")
            act = spec.get("activation", "tanh")
            if act not in ACTIVATIONS:
                raise InputError(f"{where}: unknown activation {act!r}")
            out["activation"] = act
        return out
    if kind == "norm_power":
        hidden, input_scale = _flow_common(spec, where)
        # "factors" is the number of backward steps the gradient crosses: T = factors + 1 steps
        factors = _int(spec.get("factors", 100), "factors", where, 1, 4999)
        return {
            "norms": _num_list(spec.get("norms"), "norms", where, 0.01, 5.0),
            "factors": factors,
            "steps": factors + 1,
            "hidden": hidden,
            "input_scale": input_scale,
            "seed": _int(spec.get("seed", 0), "seed", where, 0, 2**32 - 1),
        }
    if kind == "sigmoid_bound":
        hidden, input_scale = _flow_common(spec, where)
        steps = spec.get("steps", [10, 20, 50])
        if not isinstance(steps, list) or not 1 <= len(steps) <= 10:
            raise InputError(f"{where}: 'steps' must be a list of 1 to 10 sequence lengths")
        return {
            "norm": _num(spec.get("norm", 1.0), "norm", where, 0.01, 5.0),
            "steps": [_int(s, "steps", where, 2, 5000) for s in steps],
            "hidden": hidden,
            "input_scale": input_scale,
            "seed": _int(spec.get("seed", 0), "seed", where, 0, 2**32 - 1),
        }
    if kind == "spectral_sweep":
        hidden, input_scale = _flow_common(spec, where)
        seeds = spec.get("seeds", [0, 1, 2, 3, 4])
        if not isinstance(seeds, list) or not 1 <= len(seeds) <= 20:
            raise InputError(f"{where}: 'seeds' must be a list of 1 to 20 seeds")
        return {
            "norms": _num_list(spec.get("norms"), "norms", where, 0.01, 5.0),
            "steps": _int(spec.get("steps", 50), "steps", where, 2, 5000),
            "hidden": hidden,
            "input_scale": input_scale,
            "seeds": [_int(s, "seeds", where, 0, 2**32 - 1) for s in seeds],
        }
    # copy_memory
    delays = spec.get("delays")
    if not isinstance(delays, list) or not 1 <= len(delays) <= 10:
        raise InputError(f"{where}: 'delays' must be a list of 1 to 10 delays")
    cell = spec.get("cell", "rnn")
    if cell not in ("rnn", "lstm", "gru"):
        raise InputError(f"{where}: unknown cell {cell!r} (choose rnn, lstm or gru)")
    return {
        "delays": sorted({_int(d, "delays", where, 1, 200) for d in delays}),
        "cell": cell,
        "train_steps": _int(spec.get("train_steps", 600), "train_steps", where, 1, 5000),
        "hidden": _int(spec.get("hidden", 64), "hidden", where, 1, 256),
        "seed": _int(spec.get("seed", 0), "seed", where, 0, 2**32 - 1),
        "fail_below": _num(spec.get("fail_below", 0.5), "fail_below", where, 0.0, 1.0),
    }


def _flow_ratio(norm: float, steps: int, hidden: int, input_scale: float, seed: int, activation: str = "tanh"):
    """The engine's gradient flow for an orthogonal ``W_hh`` scaled to spectral norm ``norm`` exactly
    (every singular value equals the gain), so the measured curve sits right under the norm bound."""
    from gradsim.engine import GeneratorSettings, gradient_flow

    settings = GeneratorSettings(
        hidden=hidden, input=4, steps=steps, activation=activation, init="orthogonal",
        scale=norm, input_scale=input_scale, seed=seed,
    )
    return gradient_flow(settings.build())


def compute_exercise(spec: dict[str, Any]) -> ExerciseResult:
    """Evaluate an exercise's compute spec with the engine and return the worked solution.

    Fast kinds (everything but ``copy_memory``) take milliseconds; ``copy_memory`` trains one
    network per delay (use :func:`iter_compute` from a worker to show progress and stay stoppable).
    """
    last = None
    for last in iter_compute(spec):  # noqa: B007
        pass
    assert isinstance(last, ExerciseResult)
    return last


@dataclass(frozen=True)
class ComputeProgress:
    """Yielded by :func:`iter_compute` while a slow solution is being computed."""

    done: int
    total: int
    message: str


def iter_compute(spec: dict[str, Any]) -> Iterator[ComputeProgress | ExerciseResult]:
    """Like :func:`compute_exercise`, as a generator: progress items, then the result last.

    The worker can stop it at any yield, so a long training sweep never blocks closing the app.
    """
    check_compute_spec(spec)
    p = _parse_spec(spec, "compute")
    kind = spec["kind"]
    if kind == "jacobian":
        yield _jacobian(p)
    elif kind == "eigenvalues":
        yield _eigenvalues(p)
    elif kind == "norm_power":
        yield _norm_power(p)
    elif kind == "sigmoid_bound":
        yield _sigmoid_bound(p)
    elif kind == "spectral_sweep":
        yield _spectral_sweep(p)
    else:
        yield from _copy_memory(p)


def _matrix_text(m: np.ndarray) -> str:
    return "[" + ", ".join("[" + ", ".join(f"{x:.4g}" for x in row) + "]" for row in m) + "]"


def _complex_text(z: complex) -> str:
    if abs(z.imag) < 1e-12:
        return f"{z.real:.4g}"
    sign = "+" if z.imag >= 0 else "-"
    return f"{z.real:.4g} {sign} {abs(z.imag):.4g}i"


def _jacobian(p: dict) -> ExerciseResult:
    from gradsim.engine.activations import get_activation

    w, h, act = p["matrix"], p["h_prev"], get_activation(p["activation"])
    z = w @ h
    dfdz = act.df(z)
    jac = dfdz[:, None] * w
    rows = [
        ("pre-activation z = W hₜ₋₁", "[" + ", ".join(f"{v:.4g}" for v in z) + "]"),
        (f"{act.name}′(z)", "[" + ", ".join(f"{v:.4g}" for v in dfdz) + "]"),
        ("Jacobian diag(f′(z)) W", _matrix_text(jac)),
    ]
    if np.allclose(jac, w, rtol=0, atol=1e-15):
        conclusion = f"{act.name}′(z) = 1 at every unit here, so the Jacobian is W itself."
    else:
        conclusion = "Each row of W is scaled by its unit's derivative f′(z): saturated units pass less."
    return ExerciseResult("jacobian", rows, {"jacobian": jac, "dfdz": dfdz, "z": z}, conclusion)


def _eigenvalues(p: dict) -> ExerciseResult:
    from gradsim.engine.spectrum import matrix_spectrum

    w = p["matrix"]
    spec = matrix_spectrum(w)
    rows = []
    if w.shape == (2, 2):
        tr, det = float(np.trace(w)), float(np.linalg.det(w))
        rows.append(("characteristic polynomial", f"λ² − {tr:.4g} λ + {det:.4g} = 0"))
    rows += [
        ("eigenvalues", ", ".join(_complex_text(complex(z)) for z in spec.eigenvalues)),
        ("spectral radius max |λ|", f"{spec.spectral_radius:.4g}"),
        ("spectral norm ‖W‖₂", f"{spec.spectral_norm:.4g}"),
    ]
    rho = spec.spectral_radius
    if spec.prediction == "vanish":
        conclusion = (
            f"Every eigenvalue lies inside the unit circle (largest |λ| = {rho:.4g} < 1): "
            f"over long sequences the gradient vanishes, shrinking by about {rho:.4g} per step."
        )
    elif spec.prediction == "explode":
        conclusion = f"An eigenvalue lies outside the unit circle (|λ| = {rho:.4g} > 1): in the linear regime the gradient explodes."
    else:
        conclusion = "The largest eigenvalue sits on the unit circle: the edge of stability."
    values = {
        "eigenvalues": spec.eigenvalues,
        "spectral_radius": spec.spectral_radius,
        "spectral_norm": spec.spectral_norm,
        "prediction": spec.prediction,
    }
    return ExerciseResult("eigenvalues", rows, values, conclusion)


def _norm_power(p: dict) -> ExerciseResult:
    """``norm^k`` against the measured ``||dL/dh_1|| / ||dL/dh_T||`` over ``k = factors`` backward
    steps (a run of ``T = k + 1`` steps): the power and the measurement count the same factors."""
    factors, steps = p["factors"], p["steps"]
    rows, bounds, measured = [], [], []
    for norm in p["norms"]:
        log_bound = factors * math.log10(norm)
        result = _flow_ratio(norm, steps, p["hidden"], p["input_scale"], p["seed"])
        log_meas = result.log10_total_factor
        bounds.append(log_bound)
        measured.append(log_meas)
        rows.append((f"‖W_hh‖₂ = {norm:g}: bound {norm:g}{sup(factors)}", format_log10(log_bound)))
        rows.append((f"‖W_hh‖₂ = {norm:g}: measured ‖dL/dh₁‖ / ‖dL/dh{sub(steps)}‖", format_log10(log_meas)))
    parts = []
    for norm, lb in zip(p["norms"], bounds, strict=True):
        if lb < 0:
            parts.append(f"at {norm:g} the signal shrinks to at most {format_log10(lb)} of its size")
        else:
            parts.append(f"at {norm:g} it can grow up to {format_log10(lb)} times")
    conclusion = (
        f"Over {factors} backward steps {'; '.join(parts)}. A few percent either side of 1 decides "
        "between vanishing and exploding; tanh saturation keeps the measured growth below the bound."
    )
    values = {"norms": p["norms"], "factors": factors, "steps": steps, "log10_bound": bounds,
              "log10_measured": measured}
    return ExerciseResult("norm_power", rows, values, conclusion)


def _sigmoid_bound(p: dict) -> ExerciseResult:
    from gradsim.engine.activations import get_activation

    c = get_activation("sigmoid").max_derivative
    norm = p["norm"]
    rows, bounds, measured = [], [], []
    rows.append(("largest σ′(z) (at z = 0)", f"{c:g}"))
    for steps in p["steps"]:
        lb = (steps - 1) * math.log10(c * norm)
        lm = _flow_ratio(norm, steps, p["hidden"], p["input_scale"], p["seed"], "sigmoid").log10_total_factor
        bounds.append(lb)
        measured.append(lm)
        rows.append((f"T = {steps}: bound ({c:g} × {norm:g}){sup(steps - 1)}", format_log10(lb)))
        rows.append((f"T = {steps}: measured ‖dL/dh₁‖ / ‖dL/dh{sub(steps)}‖", format_log10(lm)))
    conclusion = (
        f"Each backward step multiplies by diag(σ′(z)) W_hh, whose norm is at most {c:g} × ‖W_hh‖₂, "
        f"so T − 1 steps give at most ({c:g} ‖W_hh‖₂)ᵀ⁻¹; the measured ratio stays under it."
    )
    values = {"norm": norm, "steps": p["steps"], "log10_bound": bounds, "log10_measured": measured}
    return ExerciseResult("sigmoid_bound", rows, values, conclusion)


def _spectral_sweep(p: dict) -> ExerciseResult:
    steps = p["steps"]
    table = np.empty((len(p["norms"]), len(p["seeds"])))
    for i, norm in enumerate(p["norms"]):
        for j, seed in enumerate(p["seeds"]):
            result = _flow_ratio(norm, steps, p["hidden"], p["input_scale"], seed)
            table[i, j] = result.log10_grad_norm[0]
            log10_last = float(result.log10_grad_norm[-1])
    rows = []
    for i, norm in enumerate(p["norms"]):
        lo, hi = table[i].min(), table[i].max()
        rng = format_log10(lo) if np.isclose(lo, hi) else f"{format_log10(lo)} to {format_log10(hi)}"
        rows.append((f"spectral norm {norm:g}: ‖dL/dh₁‖ after {steps} steps", rng))
    rows.append((f"for comparison, ‖dL/dh{sub(steps)}‖ (loss = sum of h{sub(steps)})", format_log10(log10_last)))
    med = np.median(table, axis=1)
    order = "rises" if np.all(np.diff(med) > 0) else "does not rise monotonically"
    conclusion = (
        f"‖dL/dh₁‖ {order} with the spectral norm, by orders of magnitude: below 1 the signal dies, "
        "at 1 it survives, above 1 it grows until tanh saturates."
    )
    values = {"norms": p["norms"], "seeds": p["seeds"], "steps": steps, "log10_grad_h1": table, "log10_grad_hT": log10_last}
    return ExerciseResult("spectral_sweep", rows, values, conclusion)


def _copy_memory(p: dict) -> Iterator[ComputeProgress | ExerciseResult]:
    from gradsim.engine.training import CELL_LABELS, TrainSettings, delay_sweep

    base = TrainSettings(
        task="copy", cell=p["cell"], hidden=p["hidden"], steps=p["train_steps"], seed=p["seed"],
        eval_every=50, eval_size=256,
    )
    total = len(p["delays"])
    # a first word before any training, then progress every 10 steps: the worker can stop it promptly
    yield ComputeProgress(0, total, f"preparing to train at delay {p['delays'][0]}")
    last = None
    for last in delay_sweep(base, p["delays"], cells=[p["cell"]], progress_every=10):
        yield ComputeProgress(
            len(last.points), total, f"training at delay {last.delay}: step {last.step} of {last.steps}"
        )
    assert last is not None
    yield copy_memory_result(list(last.points), p["fail_below"], CELL_LABELS[p["cell"]])


def copy_memory_result(points: list, bar: float, label: str) -> ExerciseResult:
    """The solution of the copy-memory exercise from the sweep's points (delay, accuracy, chance)."""
    acc = [pt.accuracy for pt in points]
    chance = points[0].chance
    fails = [not pt.accuracy >= bar for pt in points]
    # "Fails from delay D on": every delay tried from D upwards is below the bar (a lucky run at one
    # long delay does not count as having learned long delays).
    failing = [pt.delay for i, pt in enumerate(points) if all(fails[i:])]
    rows = [(f"delay {pt.delay}: held-out accuracy", f"{pt.accuracy:.0%}") for pt in points]
    rows.append(("chance level", f"{chance:.1%}"))
    learned = [pt.delay for pt in points if pt.accuracy >= bar]
    failed = [pt.delay for pt in points if not pt.accuracy >= bar]
    first = failing[0] if failing else None
    sentences = []
    if learned and failed:
        sentences.append(f"The {label} reaches {bar:.0%} at delay {_join(learned)} and stays below it at "
                         f"delay {_join(failed)} (chance is {chance:.1%}).")
    elif failed:
        sentences.append(f"The {label} stays below {bar:.0%} at every delay tried (chance is {chance:.1%}).")
    else:
        sentences.append(f"The {label} reaches {bar:.0%} at every delay tried.")
    if first is not None and learned:
        sentences.append(f"From delay {first} on it fails every time: the gradient no longer reaches the symbol.")
    if failed and learned and max(learned) > min(failed):
        sentences.append("Neighbouring delays can disagree: with a gradient this weak, whether one run learns "
                         "depends on its seed.")
    values = {"delays": [pt.delay for pt in points], "accuracy": acc, "chance": chance, "first_failing_delay": first}
    return ExerciseResult("copy_memory", rows, values, " ".join(sentences))


def _join(items: list[int]) -> str:
    words = [str(i) for i in items]
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def exercises_from_dict(data: Any, name: str = "exercises") -> list[Exercise]:
    out = []
    seen: set[str] = set()
    for i, item in enumerate(_container(data, EXERCISES_FORMAT, "exercises", name)):
        where = f"{name}: exercise {i + 1}"
        item = _obj(item, where)
        _unknown_keys(item, {"id", "title", "prompt", "hints", "compute", "show_me"}, where)
        eid = _id(item, where, seen)
        where = f"{name}: exercise {eid!r}"
        hints = item.get("hints")
        if not isinstance(hints, list) or not hints:
            raise InputError(f"{where}: 'hints' must be a non-empty list")
        hint_texts = tuple(_str({"hint": h}, "hint", where) for h in hints)
        compute = check_compute_spec(item.get("compute"), f"{where} compute")
        show = parse_show_me(item["show_me"], where) if "show_me" in item else None
        out.append(Exercise(eid, _str(item, "title", where), _str(item, "prompt", where), hint_texts, compute, show))
    return out


def load_exercises(path: str | Path | None = None) -> list[Exercise]:
    p = Path(path) if path is not None else resource("exercises.json")
    return exercises_from_dict(read_json_file(p, "exercises"), p.name)
