"""Open a saved recurrent model: read the weights, work out the layers, and look at their gradients.

A state dict of ``nn.RNN`` / ``nn.LSTM`` / ``nn.GRU`` (alone or inside a bigger model) is read from
``.pt`` / ``.pth`` with ``torch.load(weights_only=True)``, so a file that carries code is refused
instead of run, or from ``.safetensors`` with :mod:`.safetensors`. The layers are inferred from the
keys and shapes: ``weight_hh_l{k}`` is ``gates*H x H`` with 1, 3 or 4 gates for RNN, GRU and LSTM;
``_reverse`` keys mean bidirectional. A vanilla RNN's nonlinearity is not in its state dict, so the
caller says which (tanh unless told otherwise).

For each layer and direction the app shows the eigenvalues of ``W_hh`` (of each gate's square block
for LSTM and GRU) and the gradient flow ``||dL/dh_t||`` on inputs the user picks, computed in float64
with the monitor's exact recurrence, for the loss ``L = sum`` of the top layer's final hidden states
(the ``sum_last`` loss of the flow view, one final state per direction).

Directions: the forward direction's final state is ``h_T`` and its gradient travels from ``T`` down
to 1; the reverse direction's final state is its ``h_1`` (it reads the sequence backwards) and its
gradient travels from ``t = 1`` up to ``T``. Each direction's verdict is judged its own way
(``Verdict.reverse``): ``first_t`` is the first step past a threshold the gradient reaches, the
largest ``t`` forward and the smallest in reverse, and the "far end", how much gradient is left after
the whole sequence, is ``t = 1`` forward and ``t = T`` in reverse.
"""

from __future__ import annotations

import io
import math
import os
import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gradsim.engine.budget import check_memory
from gradsim.engine.cancel import report_progress
from gradsim.engine.errors import InputError
from gradsim.engine.files import GIB, MIB, check_zip_archive, one_word, open_regular, read_limited
from gradsim.engine.init import spectral_norm, spectral_radius
from gradsim.engine.thresholds import EXPLODE_THRESHOLD, VANISH_THRESHOLD, Verdict

from .runlog import is_reverse_series, series_verdict
from .safetensors import read_safetensors, safetensors_names

MAX_FILE_BYTES = 1 * GIB  # declared and real size of all records of a .pt file, or a .safetensors file
MAX_KEY_CHARS = 1000
MAX_OTHER_KEYS = 10_000
MAX_STEPS = 10_000
MAX_INPUT_BYTES = 256 * MIB
GATE_NAMES = {"rnn": ("W_hh",), "gru": ("r", "z", "n"), "lstm": ("i", "f", "g", "o")}
CELL_OF_GATES = {1: "rnn", 3: "gru", 4: "lstm"}
INPUT_KINDS = ("zeros", "noise", "file")

_KEY = re.compile(r"^(?P<prefix>.*?)(?P<kind>weight_ih|weight_hh|bias_ih|bias_hh|weight_hr)_l(?P<layer>\d+)(?P<rev>_reverse)?$")


@dataclass
class LayerSpectrum:
    """Eigenvalues of one square block of ``W_hh`` (the whole matrix for a vanilla RNN)."""

    key: str  # series key of the layer and direction, as the monitor names it
    gate: str
    eigenvalues: np.ndarray  # complex
    spectral_radius: float
    spectral_norm: float


@dataclass
class LayerSpec:
    """One recurrent module found in a state dict, with its weights as float64 arrays."""

    name: str
    cell: str
    input_size: int
    hidden_size: int
    num_layers: int
    bidirectional: bool
    bias: bool
    weights: dict[str, np.ndarray]  # PyTorch's names without the module prefix ("weight_hh_l0")

    @property
    def directions(self) -> int:
        return 2 if self.bidirectional else 1

    def describe(self) -> str:
        kind = {"rnn": "RNN", "lstm": "LSTM", "gru": "GRU"}[self.cell]
        bi = ", bidirectional" if self.bidirectional else ""
        return (
            f"{self.name}: {kind}, {self.num_layers} layer{'s' if self.num_layers > 1 else ''}, "
            f"input {self.input_size}, hidden {self.hidden_size}{bi}"
        )

    def series_keys(self) -> list[str]:
        return [
            f"{self.name}/l{layer}" + ("/reverse" if d else "")
            for layer in range(self.num_layers)
            for d in range(self.directions)
        ]

    def spectra(self) -> list[LayerSpectrum]:
        """Every layer, direction and gate block of ``W_hh``, largest eigenvalues first."""
        out = []
        hidden = self.hidden_size
        gates = GATE_NAMES[self.cell]
        total = self.num_layers * self.directions * len(gates)
        for layer in range(self.num_layers):
            for d in range(self.directions):
                suffix = f"_l{layer}" + ("_reverse" if d else "")
                key = f"{self.name}/l{layer}" + ("/reverse" if d else "")
                w_hh = self.weights["weight_hh" + suffix]
                for g, gate in enumerate(gates):
                    # a checkpoint per block: one eigensolve of a 1024-unit block takes seconds
                    report_progress(len(out), total, "eigenvalue blocks")
                    block = w_hh[g * hidden : (g + 1) * hidden]
                    eig = np.linalg.eigvals(block)
                    eig = eig[np.argsort(-np.abs(eig), kind="stable")]
                    out.append(LayerSpectrum(key, gate, eig, spectral_radius(block), spectral_norm(block)))
        return out


@dataclass
class ModelInfo:
    """What a model file holds: the recurrent modules found and the names of other tensors."""

    path: Path | None
    modules: list[LayerSpec]
    other_keys: list[str] = field(default_factory=list)

    def module(self, name: str) -> LayerSpec:
        for m in self.modules:
            if m.name == name:
                return m
        raise InputError(f"no recurrent module named {name!r} in the model")


def _refuse_pickle(p: Path) -> InputError:
    return InputError(
        f"{p}: refused: the file holds Python objects or code, not only tensors "
        "(loaded with weights_only=True; save model.state_dict() instead)"
    )


def _is_layer_key(key: object) -> bool:
    return isinstance(key, str) and len(key) <= MAX_KEY_CHARS and _KEY.match(key) is not None


def _find_state_dict(obj: Any, depth: int = 0) -> Mapping[str, Any] | None:
    """The mapping of names to tensors inside a loaded checkpoint (a bare state dict, or one kept
    under a key such as ``"state_dict"`` or ``"model"``)."""
    import torch

    if not isinstance(obj, Mapping) or depth > 3:
        return None
    if any(_is_layer_key(k) and isinstance(v, torch.Tensor) for k, v in obj.items()):
        return obj
    for value in obj.values():
        found = _find_state_dict(value, depth + 1)
        if found is not None:
            return found
    return None


def _load_torch_file(p: Path) -> Any:
    """``torch.load(weights_only=True)`` of a file checked first: a regular file, a zip archive (the
    format of ``torch.save`` since PyTorch 1.6) whose records, declared and inflated, fit within
    :data:`MAX_FILE_BYTES`. The open file itself is handed to torch, so what was checked is what is
    loaded."""
    import pickle

    with open_regular(p, "model file") as f:
        if f.read(4) != b"PK\x03\x04":
            raise InputError(
                f"{p}: refused: not a PyTorch zip archive (files from torch.save since PyTorch 1.6 are; "
                "re-save older ones with a current PyTorch)"
            )
        check_zip_archive(f, str(p), MAX_FILE_BYTES, "model file")
        import torch  # only once the file has passed every check above

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # torch's notes on pickle protocols are not for the user
                return torch.load(f, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError:
            raise _refuse_pickle(p) from None
        except Exception as exc:  # a hostile file can make torch raise anything; none may escape
            if "weights_only" in str(exc) or "Unsupported global" in str(exc):
                raise _refuse_pickle(p) from None
            raise InputError(f"{p}: cannot read as a PyTorch file ({one_word(exc)})") from None


def _check_tensor(p: Path, key: str, value: Any) -> None:
    """A dense, real, floating tensor of a size the budget allows, or a one-line refusal."""
    import torch

    if value.layout != torch.strided:
        raise InputError(f"{p}: {key} is a sparse or otherwise non-dense tensor ({value.layout}); save dense weights")
    if value.is_quantized or value.is_complex() or value.device.type != "cpu":
        raise InputError(f"{p}: {key} is not a plain real tensor")
    if any(d < 0 for d in value.shape):
        raise InputError(f"{p}: {key} has a negative dimension")


def load_state_dict_file(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """The recurrent layers' tensors of a ``.pt`` / ``.pth`` / ``.safetensors`` file as float64
    NumPy arrays (keys such as ``lstm.weight_hh_l0``). Other keys are listed with empty arrays, so
    their names show without their memory being spent."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix == ".safetensors":
        names = safetensors_names(p)
        tensors, _ = read_safetensors(p, keep=_is_layer_key)
        out = {k: v.astype(np.float64) for k, v in tensors.items() if v.dtype.kind == "f"}
        return {**{k: np.zeros(0) for k in names if k not in out and not _is_layer_key(k)}, **out}
    if suffix not in (".pt", ".pth", ".bin", ".ckpt"):
        raise InputError(f"{p}: unknown model file type {suffix!r} (use .pt, .pth or .safetensors)")
    loaded = _load_torch_file(p)
    import torch

    state = _find_state_dict(loaded)
    if state is None:
        from gradsim.engine.training import RUN_FORMAT

        if isinstance(loaded, Mapping) and loaded.get("format") == RUN_FORMAT:
            raise InputError(f"{p}: a training run saved by gradsim (the lab or gradsim train --save), not a "
                             "model's state dict: open it as a run (File ▸ Open run, gradsim gui --open-run)")
        raise InputError(f"{p}: holds no weights of nn.RNN, nn.LSTM or nn.GRU (no weight_hh_l0 key)")
    chosen = {k: v for k, v in state.items() if _is_layer_key(k) and isinstance(v, torch.Tensor)}
    for k, v in chosen.items():
        _check_tensor(p, k, v)
    check_memory(sum(8 * v.numel() for v in chosen.values()), "these weights as float64", str(p))
    out: dict[str, np.ndarray] = {str(k): np.zeros(0) for k in list(state)[:MAX_OTHER_KEYS] if not _is_layer_key(k)}
    for k, v in chosen.items():
        if v.is_floating_point():
            out[k] = v.detach().to(torch.float64).numpy().copy()
    return out


def inspect_state_dict(tensors: Mapping[str, np.ndarray], path: Path | None = None) -> ModelInfo:
    """Infer the recurrent modules of a state dict from its keys and shapes, checking every shape."""
    where = f"{path}: " if path is not None else ""
    groups: dict[str, dict[str, np.ndarray]] = {}
    other = []
    for key, value in tensors.items():
        m = _KEY.match(key)
        if m is None:
            other.append(key)
            continue
        if m["kind"] == "weight_hr":
            raise InputError(f"{where}{key}: LSTMs with proj_size are not supported")
        groups.setdefault(m["prefix"], {})[key[len(m["prefix"]) :]] = np.asarray(value, dtype=np.float64)
    modules = []
    for prefix, weights in groups.items():
        modules.append(_layer_spec(prefix, weights, where))
    if not modules:
        raise InputError(f"{where}holds no weights of nn.RNN, nn.LSTM or nn.GRU (no weight_hh_l0 key)")
    return ModelInfo(path, modules, other)


def _layer_spec(prefix: str, weights: dict[str, np.ndarray], where: str) -> LayerSpec:
    label = prefix.rstrip(".") or None
    name_for_errors = label or "the recurrent module"
    layers = sorted({int(_KEY.match(k)["layer"]) for k in weights})  # type: ignore[index]
    if layers != list(range(len(layers))):
        raise InputError(f"{where}{name_for_errors}: layers {layers} are not numbered 0..{len(layers) - 1}")
    bidirectional = any(k.endswith("_reverse") for k in weights)
    bias = "bias_ih_l0" in weights
    w_hh0 = weights.get("weight_hh_l0")
    if w_hh0 is None or w_hh0.ndim != 2 or w_hh0.shape[1] == 0 or w_hh0.shape[0] % w_hh0.shape[1]:
        raise InputError(f"{where}{name_for_errors}: weight_hh_l0 is missing or not gates*H x H")
    hidden = w_hh0.shape[1]
    gates = w_hh0.shape[0] // hidden
    if gates not in CELL_OF_GATES:
        raise InputError(f"{where}{name_for_errors}: weight_hh_l0 has {gates} gate blocks (1, 3 or 4 expected)")
    cell = CELL_OF_GATES[gates]
    w_ih0 = weights.get("weight_ih_l0")
    if w_ih0 is None or w_ih0.ndim != 2:
        raise InputError(f"{where}{name_for_errors}: weight_ih_l0 is missing or not a matrix")
    input_size = w_ih0.shape[1]
    directions = 2 if bidirectional else 1
    expected = {}
    for layer in layers:
        for d in range(directions):
            s = f"_l{layer}" + ("_reverse" if d else "")
            in_size = input_size if layer == 0 else directions * hidden
            expected["weight_ih" + s] = (gates * hidden, in_size)
            expected["weight_hh" + s] = (gates * hidden, hidden)
            if bias:
                expected["bias_ih" + s] = (gates * hidden,)
                expected["bias_hh" + s] = (gates * hidden,)
    for key, shape in expected.items():
        if key not in weights:
            raise InputError(f"{where}{prefix}{key} is missing")
        if weights[key].shape != shape:
            raise InputError(f"{where}{prefix}{key} has shape {list(weights[key].shape)}, expected {list(shape)}")
        if not np.all(np.isfinite(weights[key])):
            raise InputError(f"{where}{prefix}{key} holds NaN or infinite values")
    extra = sorted(set(weights) - set(expected))
    if extra:
        raise InputError(f"{where}{prefix}{extra[0]} does not fit a {cell.upper()} of {len(layers)} layers")
    name = label or cell
    return LayerSpec(name, cell, input_size, hidden, len(layers), bidirectional, bias, weights)


def load_model_file(path: str | os.PathLike[str]) -> ModelInfo:
    """Read and inspect a model file: the entry point of "Open model..."."""
    p = Path(path)
    return inspect_state_dict(load_state_dict_file(p), p)


def load_input_sequence(path: str | os.PathLike[str], input_size: int) -> np.ndarray:
    """A ``T x input_size`` sequence from ``.npy`` (never unpickled) or ``.csv`` (one row per step)."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in (".npy", ".csv", ".txt"):
        raise InputError(f"{p}: unknown input file type {p.suffix!r} (use .npy or .csv)")
    with open_regular(p, "input file") as f:
        raw = read_limited(f, MAX_INPUT_BYTES, str(p), "input file")
    if not raw.strip():
        raise InputError(f"{p}: the input file is empty")
    try:
        if suffix == ".npy":
            arr = _npy_from_bytes(raw, p)
        else:
            arr = np.loadtxt(io.StringIO(raw.decode("utf-8")), delimiter=",", ndmin=2, dtype=np.float64)
    except UnicodeDecodeError:
        raise InputError(f"{p}: not UTF-8 text") from None
    except InputError:
        raise
    except (ValueError, OverflowError, EOFError) as exc:
        raise InputError(f"{p}: not a numeric sequence ({one_word(exc)})") from None
    if not isinstance(arr, np.ndarray) or arr.dtype.kind not in "fiub":
        raise InputError(f"{p}: not a numeric array")
    arr = np.asarray(arr, dtype=np.float64)
    if arr.ndim == 1 and input_size == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[1] != input_size:
        raise InputError(f"{p}: shape {list(arr.shape)} is not T x {input_size} (steps x model inputs)")
    if not 1 <= arr.shape[0] <= MAX_STEPS:
        raise InputError(f"{p}: {arr.shape[0]} steps (1 to {MAX_STEPS} allowed)")
    if not np.all(np.isfinite(arr)):
        raise InputError(f"{p}: holds NaN or infinite values")
    return arr


def _npy_from_bytes(raw: bytes, p: Path) -> np.ndarray:
    """An ``.npy`` array (never unpickled) whose declared shape is checked against the bytes present
    before NumPy allocates it."""
    import tokenize

    from numpy.lib import format as npy

    f = io.BytesIO(raw)
    version = npy.read_magic(f)
    if version not in ((1, 0), (2, 0), (3, 0)):
        raise InputError(f"{p}: unsupported .npy version {version}")
    try:
        read_header = npy.read_array_header_1_0 if version == (1, 0) else npy.read_array_header_2_0
        shape, _fortran, dtype = read_header(f)
    except (SyntaxError, tokenize.TokenError) as exc:  # NumPy tokenizes the header's text: a broken
        # one raises the tokenizer's errors, not ValueError (found by the fuzz test: nine NUL bytes)
        raise InputError(f"{p}: not a valid .npy header ({exc.args[0] if exc.args else type(exc).__name__})") from None
    if dtype.hasobject or any(d < 0 for d in shape):
        raise InputError(f"{p}: not a numeric array")
    count = 1
    for d in shape:
        count *= d
        if count * dtype.itemsize > len(raw):
            raise InputError(f"{p}: the .npy header declares shape {list(shape)}, more than the file holds")
    f.seek(0)
    return np.load(f, allow_pickle=False)


def make_inputs(
    kind: str,
    steps: int,
    input_size: int,
    scale: float = 1.0,
    seed: int = 0,
    path: str | os.PathLike[str] | None = None,
) -> np.ndarray:
    """The input sequence ``T x input_size`` of one of the choices: ``zeros``, ``noise`` (Gaussian of
    standard deviation ``scale``, deterministic from ``seed``) or ``file``."""
    if kind == "file":
        if path is None:
            raise InputError("input from a file needs a file")
        return load_input_sequence(path, input_size)
    if isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= MAX_STEPS:
        raise InputError(f"steps must be an integer from 1 to {MAX_STEPS}")
    if kind == "zeros":
        return np.zeros((steps, input_size))
    if kind == "noise":
        if not math.isfinite(scale) or scale < 0:
            raise InputError("noise scale must be a finite number >= 0")
        return scale * np.random.default_rng(seed).standard_normal((steps, input_size))
    raise InputError(f"unknown input kind {kind!r} (choose one of {', '.join(INPUT_KINDS)})")


@dataclass
class FlowOnInputs:
    """Gradient flow of every layer and direction of one module on one input sequence."""

    module: str
    steps: int
    series: dict[str, np.ndarray]  # key -> log10 ||dL/dh_t||, index 0 is t = 1 (-inf for exact 0)
    verdicts: dict[str, Verdict]  # key -> its verdict, judged the way that direction carries the gradient

    def far_end(self, key: str) -> tuple[int, float]:
        """``(t, log10 ||dL/dh_t||)`` at the step farthest from the loss along series ``key``: what is
        left after the whole sequence (``t = 1`` forward, ``t = T`` for a reverse direction)."""
        logs = self.series[key]
        t = logs.size if is_reverse_series(key) else 1
        return t, float(logs[t - 1])


def build_torch_module(spec: LayerSpec, nonlinearity: str = "tanh") -> Any:
    """An ``nn.RNN`` / ``nn.LSTM`` / ``nn.GRU`` in float64 holding the spec's weights."""
    import torch

    if nonlinearity not in ("tanh", "relu"):
        raise InputError(f"unknown RNN nonlinearity {nonlinearity!r} (tanh or relu)")
    kwargs = dict(
        input_size=spec.input_size,
        hidden_size=spec.hidden_size,
        num_layers=spec.num_layers,
        bias=spec.bias,
        batch_first=True,
        bidirectional=spec.bidirectional,
        dtype=torch.float64,
    )
    if spec.cell == "rnn":
        module = torch.nn.RNN(nonlinearity=nonlinearity, **kwargs)
    elif spec.cell == "lstm":
        module = torch.nn.LSTM(**kwargs)
    else:
        module = torch.nn.GRU(**kwargs)
    module.load_state_dict({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in spec.weights.items()})
    return module


def gradient_flow_on_inputs(
    spec: LayerSpec,
    inputs: np.ndarray,
    nonlinearity: str = "tanh",
    vanish_threshold: float = VANISH_THRESHOLD,
    explode_threshold: float = EXPLODE_THRESHOLD,
) -> FlowOnInputs:
    """``||dL/dh_t||`` for every layer and direction on ``inputs`` (T x input_size), float64, with
    ``L`` the sum of the top layer's final hidden states (both directions when bidirectional: the
    forward one's ``h_T`` and the reverse one's ``h_1``), and each series' verdict judged the way its
    direction carries the gradient (see the module docstring)."""
    import torch

    from .core import Monitor

    x = np.asarray(inputs, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != spec.input_size or not 1 <= x.shape[0] <= MAX_STEPS:
        raise InputError(f"inputs must be T x {spec.input_size} with 1 <= T <= {MAX_STEPS}")
    module = build_torch_module(spec, nonlinearity)
    with torch.no_grad():
        for p in module.parameters():
            p.requires_grad_(False)
    xt = torch.from_numpy(np.ascontiguousarray(x))[None].requires_grad_(True)
    with Monitor(module, warn=False) as mon:
        _, state = module(xt)
        h_n = state[0] if spec.cell == "lstm" else state
        h_n[-spec.directions :].sum().backward()
    if not mon.records:
        raise InputError("the gradient could not be recorded for this model")
    layers = mon.records[-1].layers
    series = {}
    for key in mon.series_keys:
        series[key.replace(mon.header["modules"][0]["name"], spec.name, 1)] = layers[key]
    verdicts = {k: series_verdict(v, k, vanish_threshold, explode_threshold) for k, v in series.items()}
    return FlowOnInputs(spec.name, x.shape[0], series, verdicts)
