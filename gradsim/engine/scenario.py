"""Scenarios: the numbers of one vanilla-RNN run, and the ``gradsim.scenario/1`` file format.

A scenario comes in two forms (CONTRACTS section 2). The *explicit* form gives every number
(``W_hh``, ``W_xh``, ``x`` ...). The *generated* form gives the settings the app's controls show
(hidden size, steps, initialiser, scale, seed ...) and the numbers are drawn from them
deterministically, so a file saved from the app reopens to exactly the same picture.

Files are parsed as plain JSON and validated field by field; nothing is executed or unpickled. Every
refusal is an :class:`InputError` whose message is one line naming the file and the problem.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from .activations import ACTIVATIONS
from .budget import check_memory, flow_memory_bytes
from .errors import InputError
from .files import dumps_json, loads_json, read_bytes, write_text
from .init import INITIALISERS, input_weights, scale_recurrent, spectral_norm, spectral_radius, unit_recurrent

FORMAT = "gradsim.scenario/1"
CELLS = ("rnn", "lstm", "gru", "residual", "attention")
ACTIVATION_CELLS = ("rnn", "residual")  # the cells whose activation f is a setting
LOSSES = ("sum_last",)

# Limits that keep the app responsive and the files sane; documented in the README.
MAX_HIDDEN = 512
MAX_INPUT = 512
MAX_STEPS = 10_000
MAX_CELLS = 4_000_000  # T * n, the size of the forward trajectory
MAX_ABS_VALUE = 1e6
MAX_FILE_BYTES = 50 * 1024 * 1024
MAX_SCALE = 100.0
MAX_INPUT_SCALE = 1e3
MAX_FORGET_BIAS = 20.0
MAX_RESIDUAL_SCALE = 10.0


@dataclass(frozen=True)
class GeneratorSettings:
    """The settings behind a generated scenario: what the app's controls show.

    ``scale`` is the initialiser's weight scale (the spectral radius for ``gaussian``, the gain for
    ``orthogonal`` and ``identity``; see :mod:`gradsim.engine.init`). ``forget_bias`` is used by the
    LSTM only, ``residual_scale`` (alpha in ``h_t = h_{t-1} + alpha f(W_hh h_{t-1} + W_xh x_t + b)``)
    by the residual RNN only.

    The defaults are the one set the command line and the app start from (what the flow scene
    shows when it opens); a generated scenario file that leaves a key out gets them too.
    """

    hidden: int = 32
    input: int = 4
    steps: int = 100
    activation: str = "tanh"
    init: str = "gaussian"
    scale: float = 0.9
    input_scale: float = 0.5
    seed: int = 0
    cell: str = "rnn"
    forget_bias: float = 3.0
    loss: str = "sum_last"
    residual_scale: float = 1.0

    def validated(self, where: str = "settings") -> GeneratorSettings:
        """Return self if every field is in range, else raise one-line :class:`InputError`."""
        _check_int(self.hidden, "hidden", 1, MAX_HIDDEN, where)
        _check_int(self.input, "input", 1, MAX_INPUT, where)
        _check_int(self.steps, "steps", 1, MAX_STEPS, where)
        _check_int(self.seed, "seed", 0, 2**32 - 1, where)
        if self.steps * self.hidden > MAX_CELLS:
            raise InputError(f"{where}: steps x hidden = {self.steps * self.hidden} exceeds the limit {MAX_CELLS}")
        _check_choice(self.activation, "activation", ACTIVATIONS, where)
        _check_choice(self.init, "init", INITIALISERS, where)
        _check_choice(self.cell, "cell", CELLS, where)
        _check_choice(self.loss, "loss", LOSSES, where)
        _check_float(self.scale, "scale", 0.0, MAX_SCALE, where)
        _check_float(self.input_scale, "input_scale", 0.0, MAX_INPUT_SCALE, where)
        _check_float(self.forget_bias, "forget_bias", -MAX_FORGET_BIAS, MAX_FORGET_BIAS, where)
        _check_float(self.residual_scale, "residual_scale", 0.0, MAX_RESIDUAL_SCALE, where)
        if self.cell not in ACTIVATION_CELLS and self.activation != "tanh":
            what = ("the attention layer has none to choose (softmax attention)" if self.cell == "attention"
                    else f"the {self.cell.upper()} uses sigmoid gates and tanh")
            raise InputError(f"{where}: 'activation' applies to the vanilla and residual RNN only; {what}")
        check_memory(flow_memory_bytes(self.cell, self.steps, self.hidden, self.input), "this gradient flow", where)
        return self

    def build(self) -> Scenario:
        """Draw the scenario's numbers from the seed.

        Three independent streams (for ``W_hh``, ``W_xh`` and ``x``) mean that changing the sequence
        length does not change the weights, and changing the scale only rescales ``W_hh``.
        """
        self.validated()
        _rng_w, rng_u, rng_x = (np.random.default_rng(s) for s in np.random.SeedSequence(self.seed).spawn(3))
        n, m, steps = self.hidden, self.input, self.steps
        # the same numbers as recurrent_weights(init, n, scale, rng_w), drawn once per (initialiser,
        # size, seed): a Gaussian draw's eigensolve took 5 ms of every slider step at n = 128
        w_hh = scale_recurrent(_unit_recurrent(self.init, n, self.seed), self.scale)
        w_xh = input_weights(n, m, rng_u)
        x = self.input_scale * rng_x.standard_normal((steps, m))
        return Scenario(
            cell=self.cell,
            activation=self.activation,
            W_hh=w_hh,
            W_xh=w_xh,
            b_h=np.zeros(n),
            h0=np.zeros(n),
            x=x,
            loss=self.loss,
            generator=self,
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def spectrum(self) -> tuple[float, float]:
        """Spectral radius and norm of ``W_hh`` without an eigensolve per call.

        Every initialiser returns ``scale`` times a matrix drawn at scale 1 from the same stream, so
        both figures are ``scale`` times those of the unit matrix, which is computed once per
        (initialiser, size, seed) and cached. A slider on the scale then costs nothing here.
        """
        radius, norm = _unit_spectrum(self.init, self.hidden, self.seed)
        return self.scale * radius, self.scale * norm


@lru_cache(maxsize=16)
def _unit_recurrent(init: str, hidden: int, seed: int) -> tuple[np.ndarray, float]:
    """The initialiser's draw for ``W_hh`` from the seed's first stream, read-only (it is shared)."""
    rng_w = np.random.default_rng(np.random.SeedSequence(seed).spawn(3)[0])
    w, divisor = unit_recurrent(init, hidden, rng_w)
    w.flags.writeable = False
    return w, divisor


@lru_cache(maxsize=64)
def _unit_spectrum(init: str, hidden: int, seed: int) -> tuple[float, float]:
    w = scale_recurrent(_unit_recurrent(init, hidden, seed), 1.0)
    return spectral_radius(w), spectral_norm(w)


@dataclass
class Scenario:
    """Every number of one run: ``h_t = f(W_hh h_{t-1} + W_xh x_t + b_h)`` for ``t = 1..T``."""

    cell: str
    activation: str
    W_hh: np.ndarray
    W_xh: np.ndarray
    b_h: np.ndarray
    h0: np.ndarray
    x: np.ndarray
    loss: str = "sum_last"
    generator: GeneratorSettings | None = None
    name: str = field(default="", compare=False)

    @property
    def hidden(self) -> int:
        return int(self.W_hh.shape[0])

    @property
    def steps(self) -> int:
        return int(self.x.shape[0])

    def to_json_dict(self) -> dict[str, Any]:
        """The file form: generated when the scenario came from settings, else explicit."""
        if self.generator is not None:
            return {"format": FORMAT, **self.generator.to_dict()}
        return {
            "format": FORMAT,
            "cell": self.cell,
            "activation": self.activation,
            "W_hh": self.W_hh.tolist(),
            "W_xh": self.W_xh.tolist(),
            "b_h": self.b_h.tolist(),
            "h0": self.h0.tolist(),
            "x": self.x.tolist(),
            "loss": self.loss,
        }


# ---------------------------------------------------------------------------------------------------
# validation helpers: each raises InputError("<where>: <what is wrong>")


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _check_int(v: Any, key: str, lo: int, hi: int, where: str) -> int:
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    if not isinstance(v, int) or isinstance(v, bool):
        raise InputError(f"{where}: '{key}' must be a whole number, got {v!r}")
    if not lo <= v <= hi:
        raise InputError(f"{where}: '{key}' = {v} is outside the allowed range {lo}..{hi}")
    return v


def _finite(v: Any) -> bool:
    """A finite number (a Python int beyond float range, such as 10**400, is not)."""
    try:
        return math.isfinite(v)
    except OverflowError:
        return False


def _check_float(v: Any, key: str, lo: float, hi: float, where: str) -> float:
    if not _is_number(v) or not _finite(v):
        raise InputError(f"{where}: '{key}' must be a finite number, got {v!r}")
    if not lo <= v <= hi:
        raise InputError(f"{where}: '{key}' = {v} is outside the allowed range {lo:g}..{hi:g}")
    return float(v)


def _check_choice(v: Any, key: str, choices: tuple[str, ...], where: str) -> str:
    if not isinstance(v, str) or v not in choices:
        raise InputError(f"{where}: unknown {key} {v!r} (expected one of: {', '.join(choices)})")
    return v


def float_array(value: Any, name: str, ndim: int) -> np.ndarray:
    """``value`` (a NumPy array, a tensor's numbers, nested lists) as a float64 array of ``ndim``
    dimensions holding only finite numbers: the check every network built from arrays makes."""
    try:
        arr = np.array(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"{name} is not an array of numbers") from None
    if arr.ndim != ndim:
        raise InputError(f"{name} must have {ndim} dimension(s), got {arr.ndim}")
    if not np.all(np.isfinite(arr)):
        raise InputError(f"{name} holds a non-finite number")
    return arr


def float64_state_dict(arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    """A network's arrays as float64 tensors under PyTorch's parameter names, for a module's
    ``load_state_dict``: how the engine's networks hand their numbers to the torch modules that
    check them. Copies, so the module's training cannot write into the engine's arrays."""
    import torch

    return {name: torch.tensor(value, dtype=torch.float64) for name, value in arrays.items()}


def _matrix(data: dict, key: str, where: str, ndim: int, required: bool = True) -> np.ndarray | None:
    """A list (of lists) of finite numbers within ``MAX_ABS_VALUE``, as a float64 array."""
    if key not in data:
        if required:
            raise InputError(f"{where}: missing '{key}'")
        return None
    value = data[key]
    shape_word = "a list of numbers" if ndim == 1 else "a list of rows (lists of numbers)"
    if not isinstance(value, list) or len(value) == 0:
        raise InputError(f"{where}: '{key}' must be {shape_word}, non-empty")
    rows = [value] if ndim == 1 else value
    width = None
    for i, row in enumerate(rows):
        if not isinstance(row, list) or len(row) == 0:
            raise InputError(f"{where}: '{key}' must be {shape_word}; row {i} is not")
        if width is None:
            width = len(row)
        elif len(row) != width:
            raise InputError(f"{where}: '{key}' is ragged: row {i} has {len(row)} entries, row 0 has {width}")
        for j, v in enumerate(row):
            if not _is_number(v):
                at = f"[{j}]" if ndim == 1 else f"[{i}][{j}]"
                raise InputError(f"{where}: '{key}'{at} is not a number: {v!r}")
            if isinstance(v, int) and abs(v) > MAX_ABS_VALUE:
                raise InputError(f"{where}: '{key}' holds a value beyond ±{MAX_ABS_VALUE:g}")
    arr = np.asarray(value, dtype=np.float64)
    if not np.all(np.isfinite(arr)):
        raise InputError(f"{where}: '{key}' holds a non-finite number")
    if np.max(np.abs(arr)) > MAX_ABS_VALUE:
        raise InputError(f"{where}: '{key}' holds a value beyond ±{MAX_ABS_VALUE:g}")
    return arr


_EXPLICIT_KEYS = {"format", "cell", "activation", "W_hh", "W_xh", "b_h", "h0", "x", "loss", "name", "description"}
_GENERATED_KEYS = {f.name for f in fields(GeneratorSettings)} | {"format", "name", "description"}


def scenario_from_dict(data: Any, where: str = "scenario") -> Scenario:
    """Validate a parsed ``gradsim.scenario/1`` document and build the scenario it describes."""
    if not isinstance(data, dict):
        raise InputError(f"{where}: the top level must be a JSON object")
    fmt = data.get("format")
    if fmt != FORMAT:
        if fmt is None:
            raise InputError(f"{where}: missing 'format' (expected \"{FORMAT}\")")
        raise InputError(f"{where}: unknown format {fmt!r} (expected \"{FORMAT}\")")
    name = data.get("name", "")
    if not isinstance(name, str):
        raise InputError(f"{where}: 'name' must be a string")
    if "W_hh" in data:
        return _explicit(data, where, name)
    return _generated(data, where, name)


def _explicit(data: dict, where: str, name: str) -> Scenario:
    unknown = sorted(set(data) - _EXPLICIT_KEYS)
    if unknown:
        raise InputError(f"{where}: unknown key '{unknown[0]}' in an explicit scenario")
    cell = _check_choice(data.get("cell", "rnn"), "cell", CELLS, where)
    if cell != "rnn":
        raise InputError(f"{where}: the explicit form describes a vanilla RNN only; use the generated form for cell '{cell}'")
    activation = _check_choice(data.get("activation", "tanh"), "activation", ACTIVATIONS, where)
    loss = _check_choice(data.get("loss", "sum_last"), "loss", LOSSES, where)
    w_hh = _matrix(data, "W_hh", where, 2)
    w_xh = _matrix(data, "W_xh", where, 2)
    x = _matrix(data, "x", where, 2)
    n = w_hh.shape[0]
    if w_hh.shape != (n, n):
        raise InputError(f"{where}: 'W_hh' must be square, got {w_hh.shape[0]}x{w_hh.shape[1]}")
    if n > MAX_HIDDEN:
        raise InputError(f"{where}: hidden size {n} exceeds the limit {MAX_HIDDEN}")
    if w_xh.shape[0] != n:
        raise InputError(f"{where}: 'W_xh' has {w_xh.shape[0]} rows but 'W_hh' is {n}x{n}")
    m = w_xh.shape[1]
    if m > MAX_INPUT:
        raise InputError(f"{where}: input size {m} exceeds the limit {MAX_INPUT}")
    if x.shape[1] != m:
        raise InputError(f"{where}: 'x' rows have {x.shape[1]} entries but 'W_xh' expects inputs of size {m}")
    steps = x.shape[0]
    if steps > MAX_STEPS:
        raise InputError(f"{where}: sequence length {steps} exceeds the limit {MAX_STEPS}")
    if steps * n > MAX_CELLS:
        raise InputError(f"{where}: steps x hidden = {steps * n} exceeds the limit {MAX_CELLS}")
    check_memory(flow_memory_bytes("rnn", steps, n, m), "this gradient flow", where)
    vectors = {}
    for key in ("b_h", "h0"):
        v = _matrix(data, key, where, 1, required=False)
        if v is None:
            v = np.zeros(n)
        elif v.shape != (n,):
            raise InputError(f"{where}: '{key}' has length {v.shape[0]}, expected {n}")
        vectors[key] = v
    return Scenario(cell, activation, w_hh, w_xh, vectors["b_h"], vectors["h0"], x, loss, None, name)


def _generated(data: dict, where: str, name: str) -> Scenario:
    unknown = sorted(set(data) - _GENERATED_KEYS)
    if unknown:
        raise InputError(f"{where}: unknown key '{unknown[0]}' (a generated scenario takes: "
                         f"{', '.join(sorted(_GENERATED_KEYS - {'format'}))})")
    values = {k: v for k, v in data.items() if k not in ("format", "name", "description")}
    defaults = GeneratorSettings()
    for key in ("scale", "input_scale", "forget_bias"):
        if key in values and _is_number(values[key]) and _finite(values[key]):
            values[key] = float(values[key])
    try:
        settings = replace(defaults, **values)
    except TypeError as exc:  # pragma: no cover - keys were checked above
        raise InputError(f"{where}: {exc}") from None
    settings.validated(where)
    scenario = settings.build()
    scenario.name = name
    return scenario


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a ``*.gradsim.json`` file; raise :class:`InputError` naming the file.

    The file is read through :mod:`gradsim.files`: regular files only (a named pipe or a device is
    refused at once), at most :data:`MAX_FILE_BYTES` read, strict JSON."""
    where = str(path)
    return scenario_from_json(read_bytes(path, MAX_FILE_BYTES, "scenario file"), where)


def scenario_from_json(raw: bytes | str, where: str = "scenario") -> Scenario:
    """Parse JSON text (UTF-8) strictly and validate it: NaN, Infinity, numbers beyond float64 and
    integers of more than 20 digits are refused, and so is nesting deeper than a scenario needs."""
    return scenario_from_dict(loads_json(raw, where, max_depth=8), where)


def save_scenario(scenario: Scenario, path: str | Path) -> None:
    """Write the scenario as JSON (atomically: a crash never leaves half a file behind)."""
    doc = scenario.to_json_dict()
    if scenario.name:
        doc["name"] = scenario.name
    write_text(path, dumps_json(doc, indent=1) + "\n", "scenario file")
