"""``gradsim.monitor(model)``: per-timestep gradient norms of a user's own PyTorch recurrent model.

Attach it to any ``torch.nn.Module`` holding ``nn.RNN``, ``nn.LSTM`` or ``nn.GRU`` layers and train as
usual. For each recorded training step it keeps ``||dL/dh_t||`` for every timestep ``t``, every layer
and every direction (the total derivative, as ``h_t.retain_grad()`` would report in an unrolled loop;
the norm is taken over the whole batch and hidden units of ``h_t``), and the gradient norm of every
parameter; it flags vanishing and exploding against the thresholds and can write a run log
(:mod:`gradsim.monitor.runlog`) that the app follows live.

How it sees inside the fused kernels (see :mod:`gradsim.monitor.recurrence` for the math): a forward
hook on each recurrent module passes the module's outputs through an identity autograd function; its
backward receives the gradients on the output sequence and final states in one call, and rebuilds the
totals with the cell's backward recurrence. The model computes exactly what it computes without the
monitor. Parameter gradient norms come from tensor hooks, and the step is written once the backward
pass has finished. ``remove()`` (or leaving the ``with`` block) takes every hook away again.

Cost: rebuilding the totals redoes about as much recurrent work as the training step itself, so
recording every step roughly doubles to triples the time of a step of an RNN-dominated model
(``benchmarks/bench_monitor.py``). ``every=10`` brings that to 10-30 %; ``budget=0.2`` skips steps
whenever recording would exceed 20 % of the training time, whatever the model. Steps not recorded
cost next to nothing (an identity function and a few hook calls).

Limits, said plainly: ``PackedSequence`` inputs and LSTMs with ``proj_size`` are not recorded; with
dropout between stacked layers in training mode, the lower layers' gradients depend on the dropout
mask, which is not visible from outside, so only the top layer of a vanilla RNN is recorded then
(LSTM and GRU modules are skipped for those steps; a note says so).

torch is imported inside functions only.
"""

from __future__ import annotations

import math
import os
import time
import warnings
from typing import Any

import numpy as np

from gradsim.engine.errors import InputError
from gradsim.engine.thresholds import (
    EXPLODE_THRESHOLD,
    EXPLODING,
    HEALTHY,
    VANISH_THRESHOLD,
    VANISHING,
    verdict_from_log10,
)

from .recurrence import CELL_OF_MODE, module_totals
from .runlog import Alert, RunLog, RunLogWriter, StepRecord, make_header


class GradientAlert(UserWarning):
    """Warned the first time a series or parameter crosses a threshold."""


_TAP = None


def _tap_function() -> Any:
    """An identity autograd function whose backward hands all output gradients to a callback."""
    global _TAP
    if _TAP is None:
        import torch

        class _Tap(torch.autograd.Function):
            @staticmethod
            def forward(ctx: Any, callback: Any, *tensors: Any) -> Any:
                ctx.callback = callback
                return tuple(t.view_as(t) for t in tensors)

            @staticmethod
            def backward(ctx: Any, *grads: Any) -> Any:
                with torch.no_grad():
                    ctx.callback(grads)
                return (None, *grads)

        _TAP = _Tap
    return _TAP


def _log10_norms(totals: Any) -> np.ndarray:
    """``log10`` of the 2-norm over (batch, hidden) for each timestep of a ``T x B x H`` tensor,
    scaled by the largest entry first so that nothing underflows when squared."""
    import torch

    flat = totals.reshape(totals.shape[0], -1).to(torch.float64)
    biggest = flat.abs().amax(1)
    scale = torch.where(biggest > 0, biggest, torch.ones_like(biggest))
    norms = torch.linalg.vector_norm(flat / scale[:, None], dim=1).cpu().numpy()
    biggest = biggest.cpu().numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.log10(norms) + np.log10(biggest)
    out[~np.isfinite(biggest) | np.isnan(norms)] = np.nan
    return out


def _module_summary(name: str, module: Any) -> dict[str, Any]:
    cell = CELL_OF_MODE[module.mode]
    directions = 2 if module.bidirectional else 1
    return {
        "name": name,
        "cell": cell,
        "nonlinearity": "relu" if module.mode == "RNN_RELU" else "tanh",
        "input_size": int(module.input_size),
        "hidden_size": int(module.hidden_size),
        "num_layers": int(module.num_layers),
        "bidirectional": bool(module.bidirectional),
        "batch_first": bool(module.batch_first),
        "dropout": float(module.dropout),
        "series": [series_key(name, layer, d) for layer in range(module.num_layers) for d in range(directions)],
    }


def series_key(module_name: str, layer: int, direction: int) -> str:
    """``"encoder.lstm/l1/reverse"``: module, layer (0-based as in PyTorch's ``_l1``), direction."""
    return f"{module_name}/l{layer}" + ("/reverse" if direction else "")


class Monitor:
    """Hooks on a model that record per-timestep gradient norms; see the module docstring.

    Use as a context manager or call :meth:`remove` when done. ``records`` holds the recorded steps
    (also in ``run``, a :class:`~gradsim.monitor.runlog.RunLog`), ``alerts`` every threshold crossing.
    """

    def __init__(
        self,
        model: Any,
        log: str | os.PathLike[str] | None = None,
        vanish_threshold: float = VANISH_THRESHOLD,
        explode_threshold: float = EXPLODE_THRESHOLD,
        every: int = 1,
        *,
        budget: float | None = None,
        warn: bool = True,
    ):
        import torch

        if not isinstance(model, torch.nn.Module):
            raise InputError("monitor: the model must be a torch.nn.Module")
        for name, value in (("vanish_threshold", vanish_threshold), ("explode_threshold", explode_threshold)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise InputError(f"monitor: {name} must be a finite number")
        if not (0 < vanish_threshold < explode_threshold):
            raise InputError("monitor: thresholds must satisfy 0 < vanish_threshold < explode_threshold")
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise InputError("monitor: every must be an integer >= 1")
        if budget is not None and (
            isinstance(budget, bool) or not isinstance(budget, (int, float)) or not 0 < budget < math.inf
        ):
            raise InputError("monitor: budget must be a positive fraction of the training time, such as 0.2")

        self.model = model
        self.vanish_threshold = float(vanish_threshold)
        self.explode_threshold = float(explode_threshold)
        self.every = every
        self.budget = None if budget is None else float(budget)
        self.warn = warn
        self._handles: list[Any] = []
        self._rnns: dict[Any, str] = {}
        for name, module in model.named_modules():
            if isinstance(module, torch.nn.RNNBase) and module.mode in CELL_OF_MODE:
                if getattr(module, "proj_size", 0):
                    raise InputError(f"monitor: {name or 'the model'} is an LSTM with proj_size, which is not supported")
                self._rnns[module] = name or module.mode.split("_")[0].lower()
        if not self._rnns:
            raise InputError("monitor: the model holds no nn.RNN, nn.LSTM or nn.GRU layer")
        if not hasattr(getattr(torch.autograd.Variable, "_execution_engine", None), "queue_callback"):
            raise InputError("monitor: this PyTorch build cannot run a callback at the end of backward")

        self._param_names = [n for n, p in model.named_parameters() if p.requires_grad]
        modules = [_module_summary(name, m) for m, name in self._rnns.items()]
        parameters = [{"name": n, "shape": list(p.shape)} for n, p in model.named_parameters() if p.requires_grad]
        notes = []
        if any(m.dropout > 0 and m.num_layers > 1 for m in self._rnns):
            notes.append(
                "dropout between stacked layers: in training mode only the top layer of a vanilla RNN is "
                "recorded (the dropout mask decides the lower layers' gradients)"
            )
        self.header = make_header(
            modules,
            parameters,
            self.vanish_threshold,
            self.explode_threshold,
            every,
            notes,
            {"torch": torch.__version__, "budget": self.budget},
        )
        self.run = RunLog(self.header)
        self.errors: list[str] = []
        self._writer = RunLogWriter(log, self.header) if log is not None else None
        self._warned: set[tuple[str, str]] = set()
        self._start = time.perf_counter()
        self._backward_count = 0  # training steps seen: backward passes that reached the model
        self._decision: bool | None = None  # whether the backward pass now running is recorded
        self._monitor_seconds = 0.0  # time spent recording, for the budget
        self._pending: StepRecord | None = None
        self._callback_queued = False
        self._removed = False

        for module in self._rnns:
            self._handles.append(module.register_forward_hook(self._on_rnn_forward, with_kwargs=True))
        for name, p in model.named_parameters():
            if p.requires_grad:
                self._handles.append(p.register_hook(self._param_hook(name)))

    # -- public -----------------------------------------------------------------------------------
    @property
    def records(self) -> list[StepRecord]:
        return self.run.records

    @property
    def alerts(self) -> list[Alert]:
        return self.run.alerts()

    @property
    def series_keys(self) -> list[str]:
        return self.run.series_keys()

    def flush(self) -> None:
        """Write out a step still pending (a backward pass that raised before it finished)."""
        if self._pending is not None:
            self._finalise()

    def remove(self) -> None:
        """Take every hook off the model and close the run log (with an ``end`` record)."""
        if self._removed:
            return
        self.flush()
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        self._removed = True
        if self._writer is not None:
            self._writer.close({"kind": "end", "steps": len(self.records)})

    def __enter__(self) -> Monitor:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.remove()

    # -- hooks ------------------------------------------------------------------------------------
    def _step_record(self) -> StepRecord:
        if self._pending is None:
            self._pending = StepRecord(self._backward_count + 1, time.perf_counter() - self._start, {}, {})
        return self._pending

    def _recording(self) -> bool:
        """Whether the backward pass now running is one to record: every k-th, the first included,
        and, with a budget, only while the time spent recording stays within that fraction of the
        time spent training. Decided once per backward pass."""
        if self._decision is None:
            decision = self._backward_count % self.every == 0
            if decision and self.budget is not None:
                training = time.perf_counter() - self._start - self._monitor_seconds
                decision = self._monitor_seconds <= self.budget * training
            self._decision = decision
        return self._decision

    def _queue_finalise(self) -> None:
        """Arrange for :meth:`_finalise` to run once the backward pass now running has finished."""
        if self._callback_queued:
            return
        import torch

        torch.autograd.Variable._execution_engine.queue_callback(self._finalise)
        self._callback_queued = True

    def _param_hook(self, name: str) -> Any:
        def hook(grad: Any) -> None:
            if self._recording():
                import torch

                t0 = time.perf_counter()
                value = torch.linalg.vector_norm(grad.detach(), dtype=torch.float64)
                self._step_record().params[name] = value  # a 0-d tensor until the step is finalised
                self._monitor_seconds += time.perf_counter() - t0
            self._queue_finalise()

        return hook

    def _on_rnn_forward(self, module: Any, args: Any, kwargs: Any, output: Any) -> Any:
        import torch

        if not torch.is_grad_enabled():
            return None
        x = args[0] if args else kwargs.get("input")
        hx = args[1] if len(args) > 1 else kwargs.get("hx")
        if not isinstance(x, torch.Tensor):
            self._warn_once(("packed", self._rnns[module]), f"{self._rnns[module]}: PackedSequence input is not recorded")
            return None
        out, state = output
        is_lstm = module.mode == "LSTM"
        h_n, c_n = state if is_lstm else (state, None)
        if not out.requires_grad:
            return None
        name = self._rnns[module]
        tensors = (out, h_n, c_n) if is_lstm else (out, h_n)
        saved = (x.detach(), hx, out.detach())
        lower = not (module.training and module.dropout > 0 and module.num_layers > 1)

        def on_backward(grads: Any) -> None:
            t0 = time.perf_counter()
            try:
                if self._recording():
                    self._record_module(module, name, saved, grads, lower)
            except Exception as exc:  # a monitor bug must never stop the user's training
                self.errors.append(f"{name}: {type(exc).__name__}: {exc}")
                self._warn_once(("error", name), f"{name}: the monitor failed and skipped this step ({exc})")
            self._monitor_seconds += time.perf_counter() - t0
            self._queue_finalise()

        tapped = _tap_function().apply(on_backward, *tensors)
        if is_lstm:
            return tapped[0], (tapped[1], tapped[2])
        return tapped[0], tapped[1]

    def _record_module(self, module: Any, name: str, saved: Any, grads: Any, lower: bool) -> None:
        import torch

        x, hx, out = saved
        g_out, g_hn = grads[0], grads[1]
        g_cn = grads[2] if len(grads) > 2 else None
        unbatched = x.dim() == 2
        if unbatched:
            x, out, g_out = x.unsqueeze(1), out.unsqueeze(1), g_out.unsqueeze(1)
            g_hn = g_hn.unsqueeze(1)
            g_cn = None if g_cn is None else g_cn.unsqueeze(1)
        elif module.batch_first:
            x, out, g_out = x.transpose(0, 1), out.transpose(0, 1), g_out.transpose(0, 1)
        directions = 2 if module.bidirectional else 1
        shape = (module.num_layers * directions, x.shape[1], module.hidden_size)
        if hx is None:
            h0 = out.new_zeros(shape)
            c0 = out.new_zeros(shape) if module.mode == "LSTM" else None
        else:
            h0, c0 = (hx if module.mode == "LSTM" else (hx, None))
            h0 = h0.detach().reshape(shape)
            c0 = None if c0 is None else c0.detach().reshape(shape)
        if module.mode == "LSTM" and g_cn is None:
            g_cn = torch.zeros_like(g_hn)
        totals = module_totals(module, x, h0, c0, out, g_out, g_hn, g_cn, lower_layers=lower)
        if not totals:
            self._warn_once(
                ("dropout", name),
                f"{name}: dropout between layers in training mode hides the per-timestep gradients; not recorded",
            )
        record = self._step_record()
        for (layer, d), value in sorted(totals.items()):
            key = series_key(name, layer, d)
            suffix, n = key, 1
            while suffix in record.layers:  # the same module called twice in one step
                n += 1
                suffix = f"{key}#{n}"
            record.layers[suffix] = _log10_norms(value)

    def _finalise(self) -> None:
        self._callback_queued = False
        self._decision = None
        self._backward_count += 1
        record, self._pending = self._pending, None
        if record is None:
            return
        t0 = time.perf_counter()
        try:
            self._emit(record)
        finally:
            self._monitor_seconds += time.perf_counter() - t0

    def _emit(self, record: StepRecord) -> None:
        with np.errstate(divide="ignore", invalid="ignore"):
            record.params = {
                k: float(np.log10(float(v))) if not isinstance(v, float) else v for k, v in record.params.items()
            }
        for key, logs in record.layers.items():
            verdict = verdict_from_log10(logs, self.vanish_threshold, self.explode_threshold)
            if verdict.kind != HEALTHY:
                idx = verdict.first_t - 1
                record.alerts.append(Alert(record.step, key, verdict.kind, float(logs[idx]), verdict.first_t))
        low, high = math.log10(self.vanish_threshold), math.log10(self.explode_threshold)
        for name, value in record.params.items():
            if math.isnan(value) or value > high:
                record.alerts.append(Alert(record.step, name, EXPLODING, value))
            elif value < low:
                record.alerts.append(Alert(record.step, name, VANISHING, value))
        self.run.append(record)
        if self._writer is not None:
            self._writer.write(record.to_json())
        for alert in record.alerts:
            self._warn_once((alert.where, alert.kind), alert.message())

    def _warn_once(self, key: tuple[str, str], message: str) -> None:
        if self.warn and key not in self._warned:
            self._warned.add(key)
            warnings.warn(f"gradsim monitor: {message}", GradientAlert, stacklevel=2)


def monitor(
    model: Any,
    log: str | os.PathLike[str] | None = None,
    vanish_threshold: float = VANISH_THRESHOLD,
    explode_threshold: float = EXPLODE_THRESHOLD,
    every: int = 1,
    *,
    budget: float | None = None,
    warn: bool = True,
) -> Monitor:
    """Start monitoring ``model``; see :class:`Monitor`. ``every=k`` records one training step in k,
    starting with the first; a training step is a backward pass that reaches the model. ``budget``
    (for example 0.2) skips steps whenever recording would take more than that fraction of the time
    spent training; ``warn`` issues a :class:`GradientAlert` warning at the first crossing of each
    threshold by each series or parameter."""
    return Monitor(model, log, vanish_threshold, explode_threshold, every, budget=budget, warn=warn)
