"""The training lab: train a vanilla RNN, an LSTM or a GRU on copy-memory or the adding problem and
watch, step by step, whether the gradient reaches the start of the sequence.

``train(settings)`` is a generator. Each ``next()`` performs one optimiser step and yields a
:class:`Snapshot` (loss, held-out accuracy at evaluation steps, per-timestep ``||dL/dh_t||``, the
eigenvalues of ``W_hh``, the gradient norm before and after clipping, alerts). The caller pauses by
not calling ``next()``, single-steps by calling it once, and resets by closing the generator and
starting a new one from the same settings (same seed, same run). Nothing happens between yields, so
the worker thread can stop it at any yield.

The recurrences run step by step with the equations of :mod:`gradsim.engine.equations` (PyTorch's
own, in its parameter layout, so the weights load into ``torch.nn.RNN/LSTM/GRU``) because the
per-timestep gradient needs a handle on every ``h_t``: the backward pass is asked for the gradients
of the parameters and of every ``h_t`` at once, which costs no extra matrix products (see
:func:`backward_capturing`).

torch is imported inside functions only: importing this module loads neither torch nor Qt.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from gradsim.engine import equations, tasks
from gradsim.engine.activations import ACTIVATIONS
from gradsim.engine.budget import check_memory, training_memory_bytes
from gradsim.engine.cancel import Cancelled, check_cancelled, report_progress
from gradsim.engine.errors import InputError
from gradsim.engine.files import (
    GIB,
    atomic_write,
    check_zip_archive,
    loads_json,
    one_word,
    open_regular,
)
from gradsim.engine.init import INITIALISERS, recurrent_weights
from gradsim.engine.thresholds import (
    EXPLODE_THRESHOLD,
    HEALTHY,
    VANISH_THRESHOLD,
    Verdict,
    verdict_from_log10,
)

CELLS = equations.CELLS  # the recurrent cells (the lab's model slots and delay sweep list these)
TRANSFORMER_BLOCKS = 2
TRANSFORMER_MLP = 2  # width of each block's MLP, in multiples of the model width
MODELS = (*CELLS, "transformer")  # every model `gradsim train --cell` trains
CELL_LABELS = {"rnn": "vanilla RNN", "lstm": "LSTM", "gru": "GRU",
               "transformer": f"Transformer ({TRANSFORMER_BLOCKS} blocks)"}
OPTIMIZERS = ("adam", "sgd")
SETTINGS_FORMAT = "gradsim.train/1"
RUN_FORMAT = "gradsim.run/1"

LEARNED_MARGIN = 0.10
"""A run *learned* when its held-out accuracy ends more than this above chance (10 points)."""


# --------------------------------------------------------------------------------------------------
# settings


@dataclass
class TrainSettings:
    """Everything that defines a training run; the same settings and seed give the same run.

    ``delay`` is the number of blank steps of copy-memory and the sequence length of the adding
    problem. ``init`` and ``scale`` (see :mod:`gradsim.engine.init`) and ``activation`` apply to the
    vanilla RNN's ``W_hh``; LSTM and GRU use PyTorch's default initialisation, with the LSTM's
    forget-gate bias set to ``forget_bias``. ``clip_threshold`` is used only when ``clip`` is on.
    ``stop_accuracy``, when set, ends the run early once the held-out accuracy reaches it.

    The defaults are the demo (``gradsim train --cell rnn|lstm`` and the training lab's first
    preset): copy-memory, 1 symbol of 8, delay 60, batch 128, Adam at 1e-3, up to 1000 steps, ending
    early once the held-out accuracy reaches 99 %. On any seed the vanilla RNN ends within 10 points
    of chance and the LSTM (forget bias 3) at >= 95 % (``benchmarks/bench_demo.py``). Why:

    - Adam at 3e-3 let the vanilla RNN learn on some seeds after all (delay 35-80, within 200-2000
      steps). At 1e-3 and delay 60 it never passed 16.6 % in 2000 steps, on 36 seeds at batch 64
      and 30 at batch 128.
    - At batch 64 the LSTM sometimes sat for over 1000 steps at 7/8 of the symbols (two merged:
      86-88 %; seeds 1924377466 and, with embedding 32, 110). At batch 128 it reached 99 % on all 30
      seeds tried, after 50-350 steps.
    - An LSTM at 100 % that keeps training can lose its accuracy for a while (seed 1887186721 at
      batch 64: 100 % from step 125, 78 % at step 775, 100 % again at 825), so a run that has solved
      the task stops there.
    """

    task: str = "copy"
    cell: str = "lstm"
    delay: int = 60
    symbols: int = 1
    categories: int = 8
    hidden: int = 64
    embedding: int = 16
    activation: str = "tanh"
    init: str = "pytorch_default"
    scale: float = 1.0
    forget_bias: float = 3.0
    optimizer: str = "adam"
    lr: float = 1e-3
    batch: int = 128
    steps: int = 1000
    clip: bool = True
    clip_threshold: float = 1.0
    eval_every: int = 25
    eval_size: int = 512
    seed: int = 3
    stop_accuracy: float | None = 0.99

    # ---- validation
    def validate(self) -> TrainSettings:
        """Return ``self`` if every value is acceptable; otherwise raise :class:`InputError`."""
        _choice("task", self.task, tasks.TASKS)
        _choice("cell", self.cell, MODELS)
        _choice("activation", self.activation, ACTIVATIONS)
        _choice("init", self.init, INITIALISERS)
        _choice("optimizer", self.optimizer, OPTIMIZERS)
        if self.task == "adding":
            _integer("delay (the sequence length of the adding problem)", self.delay, 2, 2000)
        else:
            _integer("delay", self.delay, 0, 2000)
        _integer("symbols", self.symbols, 1, 50)
        _integer("categories", self.categories, 2, 64)
        _integer("hidden", self.hidden, 1, 1024)
        _integer("embedding", self.embedding, 1, 512)
        _integer("batch", self.batch, 1, 4096)
        _integer("steps", self.steps, 1, 1_000_000)
        _integer("eval_every", self.eval_every, 1, 1_000_000)
        _integer("eval_size", self.eval_size, 1, 16384)
        _integer("seed", self.seed, 0, 2**32 - 1)
        _number("scale", self.scale, 0.0, 100.0)
        _number("forget_bias", self.forget_bias, -50.0, 50.0)
        _number("lr", self.lr, 0.0, 1e6, low_open=True)
        _number("clip_threshold", self.clip_threshold, 0.0, 1e9, low_open=True)
        if not isinstance(self.clip, bool):
            raise InputError(f"clip must be true or false, got {self.clip!r}")
        if self.stop_accuracy is not None:
            _number("stop_accuracy", self.stop_accuracy, 0.0, 1.0, low_open=True)
        if self.length * self.batch * self.hidden > 200_000_000:
            raise InputError("run too large: sequence length x batch x hidden must stay below 2e8")
        check_memory(self.memory_bytes(), "this training run", "training settings",
                     "lower the batch, delay, hidden size, held-out size or steps")
        return self

    def memory_bytes(self) -> float:
        """Estimated peak memory of the run (see :mod:`gradsim.engine.budget`): one step's graph, one
        held-out evaluation, the parameters with Adam's state, and the curves kept for every step
        (``log10 ||dL/dh_t||`` for each t, and the vanilla RNN's eigenvalues)."""
        features = self.embedding if self.task == "copy" else 2
        work = training_memory_bytes(self.cell, self.length, self.batch, self.hidden, features, self.eval_size,
                                     self.categories)
        curves = self.steps * (8.0 * self.length + (16.0 * self.hidden if self.cell == "rnn" else 0.0) + 200.0)
        return work + curves

    @property
    def length(self) -> int:
        """Sequence length T of the task."""
        if self.task == "copy":
            return tasks.copy_length(self.symbols, self.delay)
        return self.delay

    @property
    def chance(self) -> float:
        """Held-out accuracy of an answer that ignores the input."""
        return tasks.copy_chance(self.categories) if self.task == "copy" else tasks.adding_chance()

    @property
    def chance_loss(self) -> float:
        return tasks.copy_chance_loss(self.categories) if self.task == "copy" else tasks.ADDING_CHANCE_LOSS

    def label(self) -> str:
        """Short human name of the model, e.g. ``LSTM (forget bias 3)``."""
        if self.cell == "lstm":
            return f"LSTM (forget bias {self.forget_bias:g})"
        if self.cell == "rnn":
            return f"vanilla RNN ({self.activation})"
        return CELL_LABELS[self.cell]

    # ---- JSON
    def to_dict(self) -> dict[str, Any]:
        return {"format": SETTINGS_FORMAT, **asdict(self)}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_dict(cls, data: Any) -> TrainSettings:
        """Build validated settings from a dict; missing keys take their defaults, unknown keys are refused."""
        if not isinstance(data, dict):
            raise InputError("training settings must be a JSON object")
        data = dict(data)
        fmt = data.pop("format", SETTINGS_FORMAT)
        if fmt != SETTINGS_FORMAT:
            raise InputError(f"unknown training settings format {fmt!r} (expected {SETTINGS_FORMAT})")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise InputError(f"unknown training setting(s): {', '.join(unknown)}")
        return cls(**data).validate()

    @classmethod
    def from_json(cls, text: str) -> TrainSettings:
        return cls.from_dict(loads_json(text, "training settings", max_depth=4))


def _choice(name: str, value: Any, options: Sequence[str]) -> None:
    if value not in options:
        raise InputError(f"unknown {name} {value!r} (choose one of {', '.join(options)})")


def _integer(name: str, value: Any, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not low <= value <= high:
        raise InputError(f"{name} must be an integer from {low} to {high}, got {value!r}")


def _number(name: str, value: Any, low: float, high: float, low_open: bool = False) -> None:
    ok = isinstance(value, (int, float, np.floating, np.integer)) and not isinstance(value, bool)
    try:
        ok = ok and math.isfinite(float(value)) and float(value) <= high
    except OverflowError:  # an int beyond float range, such as 10**400
        ok = False
    ok = ok and (float(value) > low if low_open else float(value) >= low)
    if not ok:
        bound = f"above {low:g}" if low_open else f"from {low:g}"
        raise InputError(f"{name} must be a finite number {bound} up to {high:g}, got {value!r}")


# --------------------------------------------------------------------------------------------------
# the model


class _ParameterModel:
    """What every model of the lab shares: named float parameters drawn from a NumPy generator (so
    the seed alone fixes them), their state dict, and loading one back (shapes checked)."""

    params: dict[str, Any]

    def parameters(self) -> list:
        return list(self.params.values())

    def state_dict(self) -> dict:
        return {name: p.detach().clone() for name, p in self.params.items()}

    def load_state_dict(self, state: dict) -> None:
        import torch

        if set(state) != set(self.params):
            raise InputError("saved weights do not match the model described by the saved settings")
        with torch.no_grad():
            for name, p in self.params.items():
                value = state[name]
                if not isinstance(value, torch.Tensor) or tuple(value.shape) != tuple(p.shape):
                    raise InputError(f"saved weight {name} has the wrong shape for the saved settings")
                p.copy_(value.to(p.dtype))

    def recurrent_matrix(self) -> np.ndarray | None:
        return None

    def _task_ends(self, rng: np.random.Generator, params: dict[str, np.ndarray]) -> tuple[int, int]:
        """The task's two ends, the same for every model: copy-memory draws a token embedding (first
        from the generator) and reads out one logit per symbol category; the adding problem feeds
        its two numbers per step and reads out one number. Returns ``(inputs per step, outputs)``."""
        s = self.settings
        if s.task == "copy":
            params["embedding"] = rng.standard_normal((tasks.copy_vocabulary(s.categories), s.embedding))
            return s.embedding, s.categories
        return 2, 1


def build_model(settings: TrainSettings, rng: np.random.Generator, dtype: Any = None) -> _ParameterModel:
    """The model of ``settings.cell``: :class:`TransformerModel` or :class:`RecurrentModel`."""
    if settings.cell == "transformer":
        return TransformerModel(settings, rng, dtype)
    return RecurrentModel(settings, rng, dtype)


class RecurrentModel(_ParameterModel):
    """A one-layer recurrent network with an input layer and a linear read-out.

    Parameters follow PyTorch's names and layouts (``weight_ih``, ``weight_hh``, ``bias_ih``,
    ``bias_hh``; gate order i, f, g, o for LSTM and r, z, n for GRU) so that a state dict can be
    checked against, or loaded into, ``torch.nn.LSTM`` / ``GRU`` / ``RNN``. Initialisation draws from
    a NumPy generator so the seed alone fixes the weights.
    """

    def __init__(self, settings: TrainSettings, rng: np.random.Generator, dtype: Any = None):
        import torch

        self.settings = settings
        s = settings
        h = s.hidden
        gates = equations.GATES[s.cell]
        self.dtype = dtype or torch.float32
        params: dict[str, np.ndarray] = {}
        n_in, n_out = self._task_ends(rng, params)
        bound = 1.0 / math.sqrt(h)
        params["weight_ih"] = rng.uniform(-bound, bound, (gates * h, n_in))
        if s.cell == "rnn":
            params["weight_hh"] = recurrent_weights(s.init, h, float(s.scale), rng)
            params["bias_ih"] = rng.uniform(-bound, bound, h)
            params["bias_hh"] = rng.uniform(-bound, bound, h)
        else:
            params["weight_hh"] = rng.uniform(-bound, bound, (gates * h, h))
            params["bias_ih"] = rng.uniform(-bound, bound, gates * h)
            params["bias_hh"] = rng.uniform(-bound, bound, gates * h)
            if s.cell == "lstm":
                params["bias_ih"][h : 2 * h] = s.forget_bias
                params["bias_hh"][h : 2 * h] = 0.0
        params["head_weight"] = rng.uniform(-bound, bound, (n_out, h))
        params["head_bias"] = rng.uniform(-bound, bound, n_out)
        self.params = {
            name: torch.nn.Parameter(torch.as_tensor(value, dtype=self.dtype))
            for name, value in params.items()
        }

    def recurrent_matrix(self) -> np.ndarray | None:
        """``W_hh`` of the vanilla RNN as float64 (None for gated cells, whose W_hh is per gate)."""
        if self.settings.cell != "rnn":
            return None
        return self.params["weight_hh"].detach().to(dtype=_torch_float64()).numpy()

    def forward(self, inputs: Any, readout: Sequence[int], capture: bool = False) -> tuple[Any, list]:
        """Outputs at the ``readout`` steps, ``(B, len(readout), n_out)``, and the hidden states.

        With ``capture`` the list holds every ``h_t`` (t = 1..T) as a node of the graph, ready for
        :func:`backward_capturing`; without it the list is empty.
        """
        import torch

        s = self.settings
        p = self.params
        x = p["embedding"][inputs] if s.task == "copy" else inputs.to(self.dtype)
        batch, length = x.shape[0], x.shape[1]
        w_hh_t = p["weight_hh"].t()
        steps_in = equations.input_drive(s.cell, x, p["weight_ih"], p["bias_ih"], p["bias_hh"]).unbind(1)
        h = torch.zeros(batch, s.hidden, dtype=self.dtype)
        c = torch.zeros(batch, s.hidden, dtype=self.dtype) if s.cell == "lstm" else None
        wanted = {int(t) for t in readout}
        kept: dict[int, Any] = {}
        states: list = []
        for t in range(length):
            if capture and not t & 63:
                # a long sequence's step can take seconds: stay cancellable, but only in the
                # training pass, before the optimiser has changed anything (never in evaluate)
                check_cancelled()
            if s.cell == "rnn":
                h = equations.rnn_step(steps_in[t], h, w_hh_t, s.activation)
            elif s.cell == "lstm":
                h, c = equations.lstm_step(steps_in[t], h, c, w_hh_t)
            else:
                h = equations.gru_step(steps_in[t], h, w_hh_t, p["bias_hh"])
            if capture:
                states.append(h)
            if t in wanted:
                kept[t] = h
        hs = torch.stack([kept[int(t)] for t in readout], 1)
        out = torch.matmul(hs, p["head_weight"].t()) + p["head_bias"]
        return out, states


def transformer_heads(width: int) -> int:
    """Attention heads of the lab's Transformer: 4 when the width allows, else 2, else 1."""
    return next(h for h in (4, 2, 1) if width % h == 0)


class TransformerModel(_ParameterModel):
    """A small causal Transformer for the same tasks: ``TRANSFORMER_BLOCKS`` blocks of the gradient-flow
    view's self-attention layer.

    Each position is embedded as ``e_t = W_in x_t + b_in + p_t`` (``x_t`` the token's embedding or
    the adding problem's two numbers, ``p_t`` the sinusoidal position code), as in
    :mod:`gradsim.engine.additive`. A block is that causal self-attention layer with its residual
    connection, preceded by a LayerNorm, then a ReLU MLP of width ``TRANSFORMER_MLP n`` with its own residual
    connection (the pre-LayerNorm arrangement, which trains stably without a warm-up); a last
    LayerNorm and the linear read-out follow. ``n = hidden``, with :func:`transformer_heads` heads.
    The attention projections are named and laid out as ``torch.nn.MultiheadAttention``'s and drawn
    as PyTorch draws them (Xavier-uniform in-projection, ``U(-1/sqrt(fan_in), ...)`` linear layers,
    zero projection biases), from the NumPy generator of the seed.

    The per-timestep gradient the lab records is ``||dL/de_t||``, the gradient reaching the
    embedded input at position ``t`` (there is no recurrent state): the same measure as the
    recurrent cells' ``||dL/dh_t||`` at the input end.
    """

    def __init__(self, settings: TrainSettings, rng: np.random.Generator, dtype: Any = None):
        import torch

        self.settings = settings
        s = settings
        width = s.hidden
        self.heads = transformer_heads(width)
        self.dtype = dtype or torch.float32
        params: dict[str, np.ndarray] = {}
        n_in, n_out = self._task_ends(rng, params)

        def linear(rows: int, cols: int) -> tuple[np.ndarray, np.ndarray]:
            bound = 1.0 / math.sqrt(cols)
            return rng.uniform(-bound, bound, (rows, cols)), rng.uniform(-bound, bound, rows)

        params["weight_ih"], params["bias_ih"] = linear(width, n_in)
        xavier = math.sqrt(6.0 / (width + 3 * width))
        for b in range(TRANSFORMER_BLOCKS):
            p = f"block{b}."
            params[p + "norm1.weight"], params[p + "norm1.bias"] = np.ones(width), np.zeros(width)
            params[p + "in_proj_weight"] = rng.uniform(-xavier, xavier, (3 * width, width))
            params[p + "in_proj_bias"] = np.zeros(3 * width)
            params[p + "out_proj.weight"] = linear(width, width)[0]
            params[p + "out_proj.bias"] = np.zeros(width)
            params[p + "norm2.weight"], params[p + "norm2.bias"] = np.ones(width), np.zeros(width)
            params[p + "mlp1.weight"], params[p + "mlp1.bias"] = linear(TRANSFORMER_MLP * width, width)
            params[p + "mlp2.weight"], params[p + "mlp2.bias"] = linear(width, TRANSFORMER_MLP * width)
        params["norm.weight"], params["norm.bias"] = np.ones(width), np.zeros(width)
        params["head_weight"], params["head_bias"] = linear(n_out, width)
        self.params = {
            name: torch.nn.Parameter(torch.as_tensor(value, dtype=self.dtype))
            for name, value in params.items()
        }
        self._positions: Any = None

    def positions(self, length: int) -> Any:
        """The sinusoidal code of positions ``0 .. length-1`` (a constant, not a parameter)."""
        import torch

        from gradsim.engine.additive import sinusoidal_positions

        if self._positions is None or self._positions.shape[0] < length:
            self._positions = torch.as_tensor(sinusoidal_positions(length, self.settings.hidden), dtype=self.dtype)
        return self._positions[:length]

    def forward(self, inputs: Any, readout: Sequence[int], capture: bool = False) -> tuple[Any, list]:
        """Outputs at the ``readout`` positions, ``(B, len(readout), n_out)``; with ``capture`` the list
        holds every position's embedded input ``e_t`` as a node of the graph."""
        import torch
        import torch.nn.functional as F

        s = self.settings
        p = self.params
        x = p["embedding"][inputs] if s.task == "copy" else inputs.to(self.dtype)
        batch, length = x.shape[0], x.shape[1]
        width, heads = s.hidden, self.heads
        h = F.linear(x, p["weight_ih"], p["bias_ih"]) + self.positions(length)
        states: list = []
        if capture:
            states = list(h.unbind(1))
            h = torch.stack(states, 1)
        rows = torch.as_tensor(np.asarray(readout, dtype=np.int64))
        d = width // heads
        for b in range(TRANSFORMER_BLOCKS):
            q = f"block{b}."
            a = F.layer_norm(h, (width,), p[q + "norm1.weight"], p[q + "norm1.bias"])
            w_in, b_in = p[q + "in_proj_weight"], p[q + "in_proj_bias"]
            if b < TRANSFORMER_BLOCKS - 1:
                # unbind, not indexing: its backward is one stack, not a zero-filled copy per piece
                queries, keys, values = F.linear(a, w_in, b_in).reshape(batch, length, 3, heads, d).permute(
                    2, 0, 3, 1, 4).unbind(0)
                mixed = F.scaled_dot_product_attention(queries, keys, values, is_causal=True)
            else:
                # the last block: only the read-out positions reach the loss, so only their queries,
                # attention and MLP are formed (same outputs and gradients, about half the work)
                h = h[:, rows]
                keys, values = F.linear(a, w_in[width:], b_in[width:]).reshape(batch, length, 2, heads, d).permute(
                    2, 0, 3, 1, 4).unbind(0)
                queries = F.linear(a[:, rows], w_in[:width], b_in[:width])
                queries = queries.reshape(batch, rows.numel(), heads, d).transpose(1, 2)
                causal = torch.arange(length)[None, :] <= rows[:, None]
                mixed = F.scaled_dot_product_attention(queries, keys, values, attn_mask=causal)
            mixed = mixed.transpose(1, 2).reshape(batch, -1, width)
            h = h + F.linear(mixed, p[q + "out_proj.weight"], p[q + "out_proj.bias"])
            a = F.layer_norm(h, (width,), p[q + "norm2.weight"], p[q + "norm2.bias"])
            h = h + F.linear(torch.relu(F.linear(a, p[q + "mlp1.weight"], p[q + "mlp1.bias"])),
                             p[q + "mlp2.weight"], p[q + "mlp2.bias"])
        h = F.layer_norm(h, (width,), p["norm.weight"], p["norm.bias"])
        return F.linear(h, p["head_weight"], p["head_bias"]), states


def _torch_float64() -> Any:
    import torch

    return torch.float64


def task_loss(settings: TrainSettings, outputs: Any, targets: Any) -> Any:
    """Cross-entropy over the recalled symbols (copy) or mean squared error of the sum (adding)."""
    import torch

    if settings.task == "copy":
        return torch.nn.functional.cross_entropy(outputs.reshape(-1, outputs.shape[-1]), targets.reshape(-1))
    return torch.nn.functional.mse_loss(outputs[..., 0], targets)


def task_accuracy(settings: TrainSettings, outputs: Any, targets: Any) -> float:
    """Fraction of recalled symbols right (copy) or of sums within the tolerance (adding)."""
    if settings.task == "copy":
        return float((outputs.argmax(-1) == targets).double().mean())
    return float(((outputs[..., 0] - targets).abs() < tasks.ADDING_TOLERANCE).double().mean())


def make_batch(settings: TrainSettings, rng: np.random.Generator, batch: int) -> tasks.TaskBatch:
    if settings.task == "copy":
        return tasks.copy_memory_batch(rng, batch, settings.symbols, settings.categories, settings.delay)
    return tasks.adding_batch(rng, batch, settings.delay)


def _as_torch(batch: tasks.TaskBatch) -> tuple[Any, Any]:
    import torch

    return torch.from_numpy(batch.inputs), torch.from_numpy(batch.targets)


# --------------------------------------------------------------------------------------------------
# snapshots and the run


@dataclass
class Snapshot:
    """The state after one optimiser step.

    ``log10_grad_h[t-1]`` is ``log10 ||dL/dh_t||`` (Frobenius norm over batch and hidden units of the
    training batch's gradient; ``-inf`` where it is exactly 0). ``verdict`` applies the vanishing and
    exploding thresholds of :mod:`gradsim.engine.thresholds` to that curve *relative to its value at
    the last step* (where the loss enters), i.e. "how much of the loss's gradient reaches step t".
    ``accuracy`` and ``eval_loss`` are held-out values, present only at evaluation steps.
    """

    step: int
    loss: float
    accuracy: float | None
    eval_loss: float | None
    chance: float
    log10_grad_h: np.ndarray
    eigenvalues: np.ndarray | None
    grad_norm_before: float
    grad_norm_after: float
    verdict: Verdict
    alerts: tuple[str, ...]
    stopped: bool
    stop_reason: str | None
    finished: bool
    seconds: float
    label: str
    run: TrainRun = field(repr=False, compare=False)


@dataclass
class Curves:
    """Everything recorded over a run, one entry per optimiser step unless noted."""

    step: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    grad_norm_before: list[float] = field(default_factory=list)
    grad_norm_after: list[float] = field(default_factory=list)
    log10_grad_h: list[np.ndarray] = field(default_factory=list)
    eigenvalues: list[np.ndarray] = field(default_factory=list)  # vanilla RNN only, every step
    eval_step: list[int] = field(default_factory=list)  # evaluation steps only
    accuracy: list[float] = field(default_factory=list)
    eval_loss: list[float] = field(default_factory=list)

    def heatmap(self) -> np.ndarray:
        """``(training steps, T)`` array of ``log10 ||dL/dh_t||``."""
        if not self.log10_grad_h:
            return np.zeros((0, 0))
        return np.vstack(self.log10_grad_h)


class Optimiser:
    """``torch.optim.Adam`` or ``SGD`` (default settings but the learning rate) as gradsim trains
    with them: torch's own update, its functional form on the single-tensor path that torch.optim
    takes on the CPU, and the same state dict (saved runs hold it), without torch.optim's classes.
    Their methods import ``torch._dynamo`` the first time any of them runs (1.7 s of CPU and ~900
    modules, in the worker thread while the lab's first step waits and the GUI thread competes for
    the interpreter): the one thing this class leaves out. ``tests/engine/test_training.py`` holds
    it to ``torch.optim.Adam``/``SGD`` bit for bit, state dicts included."""

    ADAM_GROUP = {"betas": (0.9, 0.999), "eps": 1e-08, "weight_decay": 0, "amsgrad": False, "maximize": False,
                  "foreach": None, "capturable": False, "differentiable": False, "fused": None,
                  "decoupled_weight_decay": False}
    SGD_GROUP = {"momentum": 0, "dampening": 0, "weight_decay": 0, "nesterov": False, "maximize": False,
                 "foreach": None, "differentiable": False, "fused": None}

    def __init__(self, kind: str, params: list, lr: float):
        if kind not in OPTIMIZERS:
            raise InputError(f"unknown optimiser {kind!r} (one of {', '.join(OPTIMIZERS)})")
        self.kind = kind
        self.params = params
        self.lr = float(lr)
        self.state: dict[Any, dict[str, Any]] = {}  # param -> Adam's step, exp_avg, exp_avg_sq

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    def step(self) -> None:
        import torch

        with torch.no_grad():
            live = [p for p in self.params if p.grad is not None]
            if self.kind == "sgd":
                from torch.optim.sgd import sgd

                g = self.SGD_GROUP
                sgd(live, [p.grad for p in live], [None] * len(live), foreach=False, weight_decay=g["weight_decay"],
                    momentum=g["momentum"], lr=self.lr, dampening=g["dampening"], nesterov=g["nesterov"],
                    maximize=g["maximize"])
                return
            from torch.optim.adam import adam

            for p in live:
                if p not in self.state:  # as torch.optim.Adam starts a parameter's state
                    self.state[p] = {"step": torch.tensor(0.0, dtype=torch.float32),
                                     "exp_avg": torch.zeros_like(p, memory_format=torch.preserve_format),
                                     "exp_avg_sq": torch.zeros_like(p, memory_format=torch.preserve_format)}
            g = self.ADAM_GROUP
            adam(live, [p.grad for p in live], [self.state[p]["exp_avg"] for p in live],
                 [self.state[p]["exp_avg_sq"] for p in live], [], [self.state[p]["step"] for p in live],
                 foreach=False, capturable=False, differentiable=False, fused=None, has_complex=False,
                 decoupled_weight_decay=False, amsgrad=False, beta1=g["betas"][0], beta2=g["betas"][1],
                 lr=self.lr, weight_decay=g["weight_decay"], eps=g["eps"], maximize=False)

    def state_dict(self) -> dict:
        """As ``torch.optim.Adam/SGD.state_dict()``: state by parameter index, one parameter group."""
        index = {p: i for i, p in enumerate(self.params)}
        group = dict(self.ADAM_GROUP if self.kind == "adam" else self.SGD_GROUP, lr=self.lr,
                     params=list(range(len(self.params))))
        return {"state": {index[p]: dict(v) for p, v in self.state.items()}, "param_groups": [group]}

    def load_state_dict(self, state_dict: dict) -> None:
        """Take a state dict of the same optimiser over the same parameters (a saved run's); anything
        else raises (the run's reader turns that into one line)."""
        import torch

        groups = state_dict["param_groups"]
        if len(groups) != 1 or list(groups[0]["params"]) != list(range(len(self.params))):
            raise ValueError("the optimiser's parameter groups do not match the model")
        state: dict[Any, dict[str, Any]] = {}
        for key, value in state_dict["state"].items():
            if self.kind != "adam" or set(value) != {"step", "exp_avg", "exp_avg_sq"}:
                raise ValueError("the optimiser state is not Adam's")
            p = self.params[int(key)]
            if not all(isinstance(v, torch.Tensor) for v in value.values()):
                raise ValueError("the optimiser state holds something that is not a tensor")
            state[p] = {"step": value["step"].detach().to(torch.float32).clone(),
                        "exp_avg": value["exp_avg"].detach().to(p.dtype).clone(),
                        "exp_avg_sq": value["exp_avg_sq"].detach().to(p.dtype).clone()}
        self.lr = float(groups[0].get("lr", self.lr))
        self.state = state


class TrainRun:
    """A model, its optimiser, the data streams and the curves: everything to continue or save a run."""

    def __init__(self, settings: TrainSettings):

        settings.validate()
        self.settings = settings
        init_seq, train_seq, eval_seq = np.random.SeedSequence(settings.seed).spawn(3)
        self.model = build_model(settings, np.random.default_rng(init_seq))
        self.train_rng = np.random.default_rng(train_seq)
        held_out = make_batch(settings, np.random.default_rng(eval_seq), settings.eval_size)
        self.eval_inputs, self.eval_targets = _as_torch(held_out)
        self.readout = held_out.readout
        self.optimizer = Optimiser(settings.optimizer, list(self.model.parameters()), settings.lr)
        self.curves = Curves()
        self.step_count = 0
        self.seconds = 0.0
        self.stopped = False
        self.stop_reason: str | None = None
        # Held for a whole step; a reader on another thread (saving from the GUI) takes it to see
        # weights, optimiser state and curves of one and the same step.
        self.lock = threading.Lock()

    @property
    def finished(self) -> bool:
        return self.stopped or self.step_count >= self.settings.steps

    def recurrent_eigenvalues(self) -> np.ndarray | None:
        """Eigenvalues of the vanilla RNN's ``W_hh`` now (NaN if the weights are not finite); None for
        gated cells."""
        w = self.model.recurrent_matrix()
        if w is None:
            return None
        if not np.isfinite(w).all():
            return np.full(self.settings.hidden, np.nan + 0j)
        return np.linalg.eigvals(w)

    def evaluate(self) -> tuple[float, float]:
        """Held-out accuracy and loss on the fixed evaluation batch."""
        import torch

        with torch.no_grad():
            out, _ = self.model.forward(self.eval_inputs, self.readout)
            return task_accuracy(self.settings, out, self.eval_targets), float(
                task_loss(self.settings, out, self.eval_targets)
            )

    def step(self) -> Snapshot:
        """One optimiser step on a fresh batch, with the per-timestep gradient captured.

        A step cancelled part-way (:class:`~gradsim.engine.cancel.Cancelled`, raised before the
        optimiser changes anything) leaves the run exactly as it was, its data stream included, so
        the same run continues as if the step had never started."""
        with self.lock:
            stream = self.train_rng.bit_generator.state
            try:
                return self._step()
            except Cancelled:
                self.train_rng.bit_generator.state = stream
                raise

    def _step(self) -> Snapshot:
        import torch

        if self.finished:
            raise InputError("this run has finished; reset it to train again")
        s = self.settings
        began = time.perf_counter()
        inputs, targets = _as_torch(make_batch(s, self.train_rng, s.batch))
        params = self.model.parameters()
        self.optimizer.zero_grad()
        out, states = self.model.forward(inputs, self.readout, capture=True)
        loss = task_loss(s, out, targets)
        loss_value = float(loss.detach())
        if math.isfinite(loss_value):
            norms = backward_capturing(loss, params, states)
            before = _total_norm(params)
        else:
            norms = np.full(s.length, np.nan)
            before = float("nan")
        with np.errstate(divide="ignore", invalid="ignore"):
            log10_h = np.log10(norms)
        failure = None
        if not math.isfinite(loss_value):
            failure = self._explain_nonfinite_loss(inputs, loss_value)
        elif not math.isfinite(before):
            failure = (
                f"the gradient overflowed during the backward pass at step {self.step_count + 1} "
                "(its norm is not a finite number): the weights were left as they were; lower the "
                "learning rate or the weight scale, or turn clipping on"
            )
        if failure is None:
            if s.clip:
                torch.nn.utils.clip_grad_norm_(params, s.clip_threshold)
                after = _total_norm(params)
            else:
                after = before
            self.optimizer.step()
        else:
            after = before
            self.stopped = True
            self.stop_reason = f"training stopped: {failure}"
        self.step_count += 1
        eigs = self.recurrent_eigenvalues()
        accuracy = eval_loss = None
        evaluate_now = (
            self.step_count % s.eval_every == 0 or self.step_count >= s.steps or self.step_count == 1
        ) and not self.stopped
        if evaluate_now:
            accuracy, eval_loss = self.evaluate()
            if s.stop_accuracy is not None and accuracy >= s.stop_accuracy:
                self.stopped = True
                self.stop_reason = (
                    f"reached the target held-out accuracy {s.stop_accuracy:.0%} at step {self.step_count}"
                )
        self.seconds += time.perf_counter() - began
        verdict = _relative_verdict(log10_h)
        alerts = _alerts(verdict, before, after, s, failure)
        c = self.curves
        c.step.append(self.step_count)
        c.loss.append(loss_value)
        c.grad_norm_before.append(before)
        c.grad_norm_after.append(after)
        c.log10_grad_h.append(log10_h)
        if eigs is not None:
            c.eigenvalues.append(eigs)
        if accuracy is not None:
            c.eval_step.append(self.step_count)
            c.accuracy.append(accuracy)
            c.eval_loss.append(eval_loss)
        return Snapshot(
            step=self.step_count,
            loss=loss_value,
            accuracy=accuracy,
            eval_loss=eval_loss,
            chance=s.chance,
            log10_grad_h=log10_h,
            eigenvalues=eigs,
            grad_norm_before=before,
            grad_norm_after=after,
            verdict=verdict,
            alerts=alerts,
            stopped=self.stopped,
            stop_reason=self.stop_reason,
            finished=self.finished,
            seconds=self.seconds,
            label=s.label(),
            run=self,
        )

    def _explain_nonfinite_loss(self, inputs: Any, loss_value: float) -> str:
        import torch

        what = "NaN (not a number)" if math.isnan(loss_value) else "infinite"
        with torch.no_grad():
            weights_ok = all(bool(torch.isfinite(p).all()) for p in self.model.parameters())
        step = self.step_count + 1
        if not weights_ok:
            cause = "the weights themselves are no longer finite numbers (an earlier update blew them up)"
        else:
            cause = (
                "the forward pass overflowed: the hidden state or the outputs grew past the float32 range "
                "(an unbounded activation with a recurrent matrix whose spectral radius is above 1 "
                "multiplies the state at every step)"
            )
        return (
            f"the loss became {what} at step {step}; {cause}. Lower the learning rate or the weight "
            "scale, use a bounded activation such as tanh, or turn gradient clipping on"
        )


def backward_capturing(loss: Any, params: list, states: list) -> np.ndarray:
    """Backward pass that fills every parameter's ``.grad`` and returns ``||dL/dh_t||`` for t = 1..T.

    ``torch.autograd.grad`` is asked for the gradients of the parameters and of the hidden states in
    the same pass; the engine hands out the gradient arriving at each ``h_t`` (the total derivative,
    through every later step and the read-out) as it goes by, so the capture adds no extra matrix
    products, hooks or graph nodes. The norms are taken in float64 so that a float32 gradient of
    1e-30 does not underflow when squared.
    """
    import torch

    grads = torch.autograd.grad(loss, [*params, *states], allow_unused=True)
    seen: set[int] = set()
    for p, g in zip(params, grads[: len(params)], strict=True):
        if g is None:
            g = torch.zeros_like(p)
        elif g.data_ptr() in seen:
            # autograd hands the same tensor to both summands of a sum (bias_ih + bias_hh); an
            # in-place clip would then scale it twice, so each parameter gets its own copy.
            g = g.clone()
        seen.add(g.data_ptr())
        p.grad = g
    grads_h = [
        torch.zeros_like(h) if g is None else g for h, g in zip(states, grads[len(params) :], strict=True)
    ]
    stacked = torch.stack(grads_h).flatten(1)
    return torch.linalg.vector_norm(stacked, dim=1, dtype=torch.float64).numpy()


def _total_norm(params: list) -> float:
    import torch

    norms = [
        torch.linalg.vector_norm(p.grad.detach().to(torch.float64)) for p in params if p.grad is not None
    ]
    if not norms:
        return 0.0
    return float(torch.linalg.vector_norm(torch.stack(norms)))


def _relative_verdict(log10_h: np.ndarray) -> Verdict:
    if log10_h.size == 0 or not np.isfinite(log10_h[-1]):
        return verdict_from_log10(log10_h)
    return verdict_from_log10(log10_h - log10_h[-1])


def _alerts(
    verdict: Verdict, before: float, after: float, s: TrainSettings, failure: str | None
) -> tuple[str, ...]:
    alerts = []
    if failure is not None:
        alerts.append(f"stopped: {failure}")
    if verdict.kind != HEALTHY:
        if verdict.kind == "vanishing":
            alerts.append(
                f"vanishing gradient: less than {VANISH_THRESHOLD:.0e} of the loss's gradient reaches "
                f"steps t <= {verdict.first_t}"
            )
        else:
            alerts.append(
                f"exploding gradient: more than {EXPLODE_THRESHOLD:.0e} times the loss's gradient at "
                f"steps t <= {verdict.first_t}"
            )
    if math.isfinite(before) and before > EXPLODE_THRESHOLD:
        clip_note = f", clipped to {after:.3g}" if s.clip else " (clipping is off)"
        alerts.append(
            f"exploding update: gradient norm {before:.3g} above {EXPLODE_THRESHOLD:.0e}{clip_note}"
        )
    return tuple(alerts)


# --------------------------------------------------------------------------------------------------
# the generators


def train(settings: TrainSettings | TrainRun) -> Iterator[Snapshot]:
    """Train step by step, yielding a :class:`Snapshot` after every optimiser step.

    Pass settings to start a new run, or a :class:`TrainRun` (for example from :func:`load_run`) to
    continue it. The generator ends after ``settings.steps`` steps, or after the snapshot that
    reports a stop (non-finite loss or gradient, or ``stop_accuracy`` reached).
    """
    run = settings if isinstance(settings, TrainRun) else TrainRun(settings)
    while not run.finished:
        snapshot = run.step()
        report_progress(run.step_count, run.settings.steps, "training")
        yield snapshot


def train_side_by_side(
    models: Sequence[TrainSettings | TrainRun],
) -> Iterator[tuple[Snapshot | None, ...]]:
    """Several runs advanced in lock step: each yield is one step of every run still going.

    Give settings to start new runs or :class:`TrainRun` objects (e.g. loaded) to continue them. A
    run that has ended contributes ``None``; the generator ends when all have ended.
    """
    if not models:
        raise InputError("give at least one model to train")
    runs = [m if isinstance(m, TrainRun) else TrainRun(m) for m in models]
    while not all(r.finished for r in runs):
        yield tuple(None if r.finished else r.step() for r in runs)


def run_to_end(settings: TrainSettings) -> Snapshot:
    """Train to the end and return the last snapshot (which always carries a held-out evaluation,
    unless the run stopped on a non-finite loss)."""
    last = None
    for last in train(settings):  # noqa: B007
        pass
    assert last is not None
    return last


# --------------------------------------------------------------------------------------------------
# delay sweep


@dataclass(frozen=True)
class SweepPoint:
    cell: str
    delay: int
    accuracy: float
    chance: float
    steps: int
    stop_reason: str | None


@dataclass(frozen=True)
class SweepProgress:
    """Yielded by :func:`delay_sweep`: the points finished so far and where the current run is."""

    points: tuple[SweepPoint, ...]
    cell: str
    delay: int
    step: int
    steps: int
    total_runs: int


def delay_sweep(
    base: TrainSettings,
    delays: Sequence[int],
    cells: Sequence[str] = CELLS,
    stop_accuracy: float | None = 0.99,
    progress_every: int = 25,
) -> Iterator[SweepProgress]:
    """Final held-out accuracy against delay for each cell: the figure where vanilla RNNs stop learning.

    Each (cell, delay) is a separate run from ``base`` with that cell and delay; runs stop early once
    they reach ``stop_accuracy`` (they would only stay there). Yields progress every
    ``progress_every`` steps and after each run, so a caller can show partial results and stop it.
    """
    if not delays or not cells:
        raise InputError("a delay sweep needs at least one delay and one cell")
    for cell in cells:
        _choice("cell", cell, MODELS)
    points: list[SweepPoint] = []
    total = len(delays) * len(cells)
    for cell in cells:
        for delay in delays:
            s = TrainSettings(
                **{**asdict(base), "cell": cell, "delay": int(delay), "stop_accuracy": stop_accuracy}
            )
            s.validate()
            run = TrainRun(s)
            last = None
            while not run.finished:
                last = run.step()
                if last.step % progress_every == 0 and not run.finished:
                    yield SweepProgress(tuple(points), cell, int(delay), last.step, s.steps, total)
            assert last is not None
            accuracy = run.curves.accuracy[-1] if run.curves.accuracy else float("nan")
            points.append(SweepPoint(cell, int(delay), accuracy, s.chance, run.step_count, run.stop_reason))
            yield SweepProgress(tuple(points), cell, int(delay), last.step, s.steps, total)


def run_delay_sweep(
    base: TrainSettings, delays: Sequence[int], cells: Sequence[str] = CELLS, **kw: Any
) -> list[SweepPoint]:
    last = None
    for last in delay_sweep(base, delays, cells, **kw):  # noqa: B007
        pass
    return list(last.points) if last is not None else []


# --------------------------------------------------------------------------------------------------
# save and load


MAX_RUN_FILE_BYTES = 1 * GIB  # records of a saved run, declared and inflated
MAX_RUNS_PER_FILE = 16


def _copied(value: Any) -> Any:
    """``value`` with every tensor cloned (dicts and lists rebuilt): a payload that shares nothing
    with a run that keeps training."""
    import torch

    if isinstance(value, torch.Tensor):
        return value.detach().clone()
    if isinstance(value, dict):
        return {k: _copied(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_copied(v) for v in value)
    return value


def _run_payload(run: TrainRun) -> dict:
    """Everything of one run, copied: weights, optimiser state (Adam's moments and step counts are
    tensors that the next step changes in place, so they are cloned), curves and the data stream.
    Call with ``run.lock`` held, so all of it comes from one and the same step."""
    import torch

    c = run.curves
    eig = np.array(c.eigenvalues, dtype=np.complex128) if c.eigenvalues else np.zeros((0, 0), np.complex128)
    curves = {
        "step": torch.tensor(c.step, dtype=torch.int64),
        "loss": torch.tensor(c.loss, dtype=torch.float64),
        "grad_norm_before": torch.tensor(c.grad_norm_before, dtype=torch.float64),
        "grad_norm_after": torch.tensor(c.grad_norm_after, dtype=torch.float64),
        "log10_grad_h": torch.from_numpy(c.heatmap().astype(np.float64)),
        "eigenvalues_real": torch.from_numpy(eig.real.copy()),
        "eigenvalues_imag": torch.from_numpy(eig.imag.copy()),
        "eval_step": torch.tensor(c.eval_step, dtype=torch.int64),
        "accuracy": torch.tensor(c.accuracy, dtype=torch.float64),
        "eval_loss": torch.tensor(c.eval_loss, dtype=torch.float64),
    }
    return {
        "settings": run.settings.to_json(),
        "model": run.model.state_dict(),
        "optimizer": _copied(run.optimizer.state_dict()),
        "curves": curves,
        "step": run.step_count,
        "seconds": run.seconds,
        "stop_reason": run.stop_reason,
        "train_rng": json.dumps(run.train_rng.bit_generator.state),
    }


def save_run(path: str | Path, runs: TrainRun | Sequence[TrainRun]) -> None:
    """Write one run, or several trained side by side, to one file.

    Per run: settings (as JSON text), weights and optimiser state (state dicts), the data stream's
    position and the curves. The file is written with ``torch.save`` and holds only tensors, numbers,
    strings, lists and dicts, so :func:`load_runs` reads it with ``weights_only=True``.

    Consistent: each run is copied whole (weights, Adam's state tensors, curves) while its lock is
    held, so a run training on another thread is saved as it was between two steps. Atomic: the
    file is written to a temporary name in the same folder and renamed over ``path`` only when
    complete. A path that cannot be written (a missing folder, a folder, a device, ``/proc``) is one
    :class:`InputError` line, and is refused before anything is copied.
    """
    import torch

    from .files import check_writable

    items = [runs] if isinstance(runs, TrainRun) else list(runs)
    if not items:
        raise InputError("there is no run to save")
    check_writable(path, "saved run")
    payloads = []
    for run in items:
        with run.lock:
            payloads.append(_run_payload(run))
    with atomic_write(path, "saved run") as f:
        try:
            torch.save({"format": RUN_FORMAT, "runs": payloads}, f)
        except RuntimeError as exc:  # torch's writer reports I/O failures as RuntimeError
            raise OSError(one_word(exc)) from None


def _check_payload_tensors(value: Any, name: str, budget: list[int]) -> None:
    """Every tensor of a loaded payload dense, on the CPU and within the budget of elements, before
    any is read (a tiny storage can be viewed as a huge tensor with zero strides)."""
    import torch

    if isinstance(value, torch.Tensor):
        if value.layout != torch.strided or value.is_quantized or value.device.type != "cpu":
            raise InputError(f"damaged saved run (a tensor that is not plain and dense: {value.layout})")
        budget[0] -= value.numel()
        if budget[0] < 0:
            raise InputError("damaged saved run (its tensors hold more numbers than the file can)")
    elif isinstance(value, dict):
        for v in value.values():
            _check_payload_tensors(v, name, budget)
    elif isinstance(value, (list, tuple)):
        for v in value:
            _check_payload_tensors(v, name, budget)


def is_saved_run(path) -> bool:
    """True when ``path`` begins as a run saved by the lab or ``gradsim train --save`` does (a PyTorch
    zip archive), so "open a run" can tell it from a gradsim.monitor run log (JSON lines). Only the
    first four bytes are read, through the engine's guarded opener; a file that cannot be read is not
    one (the reader it is then handed to says why, in one line)."""
    try:
        with open_regular(path, "run") as f:
            return f.read(4) == b"PK\x03\x04"
    except (InputError, OSError):
        return False


def load_runs(path: str | Path) -> list[TrainRun]:
    """Read the runs written by :func:`save_run`; they can be shown, or trained further with
    :func:`train` / :func:`train_side_by_side`.

    The file is opened once, as a regular file (a named pipe or device is refused at once); its zip
    records' sizes, declared and inflated, are bounded before ``torch.load(..., weights_only=True)``
    reads the open file: a pickle that would import or call any Python object is refused with one
    line, and nothing in it is executed. Every tensor is checked dense and within what the file can
    hold, and every setting validated (with the memory budget), before the run is rebuilt.
    """
    import pickle

    name = str(path)
    with open_regular(path, "saved run") as f:
        if f.read(4) != b"PK\x03\x04":
            raise InputError(f"{name}: not a saved gradsim run (not a PyTorch zip archive)")
        total = check_zip_archive(f, name, MAX_RUN_FILE_BYTES, "saved run")
        import torch  # only once the file has passed every check above

        try:
            payload = torch.load(f, weights_only=True, map_location="cpu")
        except pickle.UnpicklingError:
            raise InputError(
                f"{name}: refused: the file asks to load Python code or objects, not just weights and numbers"
            ) from None
        except Exception as exc:  # a hostile file can make torch raise anything; none may escape
            if "weights_only" in str(exc) or "Unsupported global" in str(exc):
                raise InputError(
                    f"{name}: refused: the file asks to load Python code or objects, not just weights and numbers"
                ) from None
            raise InputError(f"{name}: not a saved gradsim run ({one_word(exc)})") from None
    if not isinstance(payload, dict) or payload.get("format") != RUN_FORMAT:
        raise InputError(f"{name}: not a saved gradsim run (format {RUN_FORMAT} expected)")
    items = payload.get("runs")
    if not isinstance(items, list) or not items or len(items) > MAX_RUNS_PER_FILE:
        raise InputError(f"{name}: damaged saved run (no list of runs)")
    try:
        _check_payload_tensors(items, name, [total])
        return [_restore_run(item) for item in items]
    except InputError as exc:
        raise InputError(f"{name}: {exc}") from None
    except Exception as exc:  # any other fault of a hostile payload is damage, said in one line
        raise InputError(f"{name}: damaged saved run ({type(exc).__name__}: {one_word(exc)[:100]})") from None


def load_run(path: str | Path) -> TrainRun:
    """The first (usually the only) run of a file written by :func:`save_run`."""
    return load_runs(path)[0]


_CURVE_KEYS = ("step", "loss", "grad_norm_before", "grad_norm_after", "log10_grad_h", "eigenvalues_real",
               "eigenvalues_imag", "eval_step", "accuracy", "eval_loss")


def _check_item(item: Any) -> None:
    """The shape of one saved run, checked before anything is built from it (a damaged file is
    refused at once, not after a model has been made)."""
    import torch

    def need(ok: bool, what: str) -> None:
        if not ok:
            raise InputError(f"damaged saved run ({what})")

    need(isinstance(item, dict), "a run is not a dictionary")
    need(isinstance(item.get("settings"), str), "no settings")
    need(isinstance(item.get("train_rng"), str), "no data stream state")
    for key in ("model", "optimizer", "curves"):
        need(isinstance(item.get(key), dict), f"no {key}")
    need(all(isinstance(v, torch.Tensor) for v in item["model"].values()), "weights that are not tensors")
    curves = item["curves"]
    need(all(isinstance(curves.get(k), torch.Tensor) for k in _CURVE_KEYS), "curves missing or not tensors")
    need(isinstance(item.get("step"), int) and not isinstance(item.get("step"), bool), "no step count")
    need(isinstance(item.get("seconds"), (int, float)), "no training time")
    need(item.get("stop_reason") is None or isinstance(item.get("stop_reason"), str), "a stop reason that is not text")


def _restore_run(item: dict) -> TrainRun:
    _check_item(item)
    settings = TrainSettings.from_json(item["settings"])
    run = TrainRun(settings)
    run.model.load_state_dict(item["model"])
    run.optimizer.load_state_dict(item["optimizer"])
    for param in run.model.parameters():
        for value in run.optimizer.state.get(param, {}).values():
            if hasattr(value, "shape") and value.dim() > 0 and tuple(value.shape) != tuple(param.shape):
                raise InputError("damaged saved run (the optimiser state does not match the weights)")
    curves = item["curves"]
    c = run.curves
    c.step = [int(v) for v in curves["step"].tolist()]
    c.loss = [float(v) for v in curves["loss"].tolist()]
    c.grad_norm_before = [float(v) for v in curves["grad_norm_before"].tolist()]
    c.grad_norm_after = [float(v) for v in curves["grad_norm_after"].tolist()]
    heat = curves["log10_grad_h"].numpy()
    c.log10_grad_h = [row.copy() for row in heat] if heat.size else []
    eig = curves["eigenvalues_real"].numpy() + 1j * curves["eigenvalues_imag"].numpy()
    c.eigenvalues = [row.copy() for row in eig] if eig.size else []
    c.eval_step = [int(v) for v in curves["eval_step"].tolist()]
    c.accuracy = [float(v) for v in curves["accuracy"].tolist()]
    c.eval_loss = [float(v) for v in curves["eval_loss"].tolist()]
    run.step_count = int(item["step"])
    run.seconds = float(item["seconds"])
    reason = item["stop_reason"]
    run.stop_reason = str(reason) if reason is not None else None
    run.stopped = run.stop_reason is not None
    run.train_rng.bit_generator.state = loads_json(
        item["train_rng"], "the data stream's state", max_depth=4, max_int_digits=40
    )
    lengths = {len(c.step), len(c.loss), len(c.grad_norm_before), len(c.grad_norm_after), len(c.log10_grad_h)}
    if lengths != {run.step_count} or not len(c.eval_step) == len(c.accuracy) == len(c.eval_loss):
        raise InputError("damaged saved run (curves and step count disagree)")
    if any(row.shape != (settings.length,) for row in c.log10_grad_h):
        raise InputError("damaged saved run (gradient heatmap does not match the sequence length)")
    return run
