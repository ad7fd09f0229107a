"""``gradsim.monitor(model)``: per-timestep gradient norms of a user's own PyTorch recurrent model.

Attach it to any ``torch.nn.Module`` holding ``nn.RNN``, ``nn.LSTM`` or ``nn.GRU`` layers and train as
usual. For each recorded training step it keeps ``||dL/dh_t||`` for every timestep ``t``, every layer
and every direction (the total derivative, as ``h_t.retain_grad()`` would report in an unrolled loop;
the norm is taken over the whole batch and hidden units of ``h_t``), and the gradient norm of every
parameter; it flags vanishing and exploding against the thresholds (each direction of a bidirectional
layer the way it carries the gradient: the reverse one from t = 1 up) and can write a run log
(:mod:`gradsim.monitor.runlog`) that the app follows live.

How it reads the totals, in two ways (both leave the model's computation exactly as it is):

- *Unfused kernels* (PyTorch's CPU ``nn.RNN`` and ``nn.GRU``; ``nn.LSTM`` wherever oneDNN is not used,
  e.g. float64): the autograd graph holds one node per timestep that produced ``h_t``, and the
  gradient waiting at that node when the backward pass reaches it is the total ``dL/dh_t``.
  Pre-hooks on those nodes keep it (:mod:`gradsim.monitor.step_nodes`); this costs a Python call per
  timestep and one norm per series, about 5-20 % of a step, and is exact with dropout too.
- *Fused kernels* (oneDNN's LSTM on CPU, cuDNN): one node per layer hides the timesteps. An identity
  function on the module's outputs receives their gradients and the totals are rebuilt with the
  cell's backward recurrence (:mod:`gradsim.monitor.recurrence`), which redoes about as much
  recurrent work as the training step itself: recording such a step costs 1-2x the step.

Cost control: by default (``budget=0.2``) a step is recorded only while the time spent recording stays
within 20 % of the time spent training, so an RNN or GRU is recorded at every step and a fused LSTM
at about one step in five to ten; ``budget=None`` records every step whatever it costs, ``every=k``
one step in k. Steps not recorded cost next to nothing (a forward hook, one pre-hook, the parameter
hooks). Parameter gradient norms come from tensor hooks, and the step is written once the backward
pass has finished. ``remove()`` (or leaving the ``with`` block) takes every hook away again.

Limits, said plainly: ``PackedSequence`` inputs and LSTMs with ``proj_size`` are not recorded; with
dropout between stacked layers in training mode and a *fused* kernel, the lower layers' gradients
depend on the dropout mask, which is not visible from outside, so only the top layer of a vanilla RNN
is recorded then (LSTM and GRU modules are skipped for those steps; a note says so).

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
)

from .recurrence import CELL_OF_MODE, module_totals
from .runlog import Alert, RunLog, RunLogWriter, StepRecord, make_header, series_verdict
from .step_nodes import find_step_nodes


class GradientAlert(UserWarning):
    """Warned the first time a series or parameter crosses a threshold."""


_TAP = None
DEFAULT_BUDGET = 0.2  # recording may take at most this fraction of the time spent training
# Read totals from the nodes of unfused kernels where possible (tests switch it off to exercise the
# recurrence that fused kernels need on every cell).
_STEP_NODES_ENABLED = True


class _StepCapture:
    """The gradients arriving at each ``h_t``'s node during one backward pass of one module call."""

    def __init__(self, name: str, nodes: dict[tuple[int, int], list[Any]]):
        self.name = name
        self.grads: dict[tuple[int, int], list[Any]] = {key: [None] * len(v) for key, v in nodes.items()}
        self.handles: list[Any] = []
        self.active = True

    def close(self) -> None:
        """Disarm the hooks (a retained graph may run backward again) and let go of the nodes."""
        self.active = False
        for handle in self.handles:
            handle.remove()
        self.handles.clear()


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


# Norms inside this range cannot have lost anything to underflow or overflow of the squares, in float32
# or wider: entries too small to square are too small to matter next to a norm of 1e-15.
_SAFE_NORMS = (1e-15, 1e15)


def _log10_norms(totals: Any) -> np.ndarray:
    """``log10`` of the 2-norm over (batch, hidden) for each timestep of a ``T x B x H`` tensor.

    The norms are taken in the tensor's own precision (the fast path); the few rows whose norm falls
    outside ``_SAFE_NORMS``, where squaring may have underflowed or overflowed, are taken again in
    float64 after scaling by their largest entry."""
    import torch

    flat = totals.reshape(totals.shape[0], -1)
    norms = torch.linalg.vector_norm(flat, dim=1).to(torch.float64).cpu().numpy()
    with np.errstate(invalid="ignore"):
        unsafe = ~((norms >= _SAFE_NORMS[0]) & (norms <= _SAFE_NORMS[1]))
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.log10(norms)
        if unsafe.any():
            rows = torch.from_numpy(np.flatnonzero(unsafe)).to(flat.device)
            out[unsafe] = _scaled_log10_norms(flat.index_select(0, rows))
    return out


def _scaled_log10_norms(flat: Any) -> np.ndarray:
    import torch

    flat = flat.to(torch.float64)
    biggest = flat.abs().amax(1)
    scale = torch.where(biggest > 0, biggest, torch.ones_like(biggest))
    norms = torch.linalg.vector_norm(flat / scale[:, None], dim=1).cpu().numpy()
    biggest = biggest.cpu().numpy()
    has_nan = flat.isnan().any(1).cpu().numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.log10(norms) + np.log10(biggest)
    out[np.isinf(biggest)] = np.inf  # an infinite entry: the norm is infinite
    out[has_nan] = np.nan
    return out


def _param_log10_norm(value: Any) -> float:
    if isinstance(value, float):
        return value
    norm, grad = value
    norm = float(norm)
    if _SAFE_NORMS[0] <= norm <= _SAFE_NORMS[1]:
        return math.log10(norm)
    return float(_scaled_log10_norms(grad.reshape(1, -1))[0])


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


def _finite_number(value: Any) -> bool:
    """A real, finite int or float (a bool is not; nor is an int too large for a float, 10**400)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(float(value))
    except OverflowError:
        return False


def series_key(module_name: str, layer: int, direction: int) -> str:
    """``"encoder.lstm/l1/reverse"``: module, layer (0-based as in PyTorch's ``_l1``), direction."""
    return f"{module_name}/l{layer}" + ("/reverse" if direction else "")


class Monitor:
    """Hooks on a model that record per-timestep gradient norms; see the module docstring.

    Use as a context manager or call :meth:`remove` when done. ``records`` holds the recorded steps
    (also in ``run``, a :class:`~gradsim.monitor.runlog.RunLog`), ``alerts`` every threshold crossing.

    ``every=k`` records one training step in k, starting with the first; a training step is a
    backward pass that reaches the model. ``budget`` (0.2 by default) skips steps whenever recording
    would take more than that fraction of the time spent training, and ``budget=None`` records every
    step whatever it costs; ``warn`` issues a :class:`GradientAlert` warning at the first crossing of
    each threshold by each series or parameter.
    """

    def __init__(
        self,
        model: Any,
        log: str | os.PathLike[str] | None = None,
        vanish_threshold: float = VANISH_THRESHOLD,
        explode_threshold: float = EXPLODE_THRESHOLD,
        every: int = 1,
        *,
        budget: float | None = DEFAULT_BUDGET,
        warn: bool = True,
    ):
        import torch

        if not isinstance(model, torch.nn.Module):
            raise InputError("monitor: the model must be a torch.nn.Module")
        for name, value in (("vanish_threshold", vanish_threshold), ("explode_threshold", explode_threshold)):
            if not _finite_number(value):
                raise InputError(f"monitor: {name} must be a finite number")
        if not (0 < vanish_threshold < explode_threshold):
            raise InputError("monitor: thresholds must satisfy 0 < vanish_threshold < explode_threshold")
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise InputError("monitor: every must be an integer >= 1")
        if budget is not None and (not _finite_number(budget) or not budget > 0):
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

        modules = [_module_summary(name, m) for m, name in self._rnns.items()]
        parameters = [{"name": n, "shape": list(p.shape)} for n, p in model.named_parameters() if p.requires_grad]
        notes = []
        if any(m.dropout > 0 and m.num_layers > 1 for m in self._rnns):
            notes.append(
                "dropout between stacked layers: where a fused kernel runs (oneDNN LSTM, cuDNN), in "
                "training mode only the top layer of a vanilla RNN is recorded (the dropout mask "
                "decides the lower layers' gradients); unfused kernels are recorded exactly"
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
        # For the budget: what recording costs. Time inside the monitor's hooks is measured directly;
        # the rest (autograd's own work for the identity function, memory traffic) shows only as
        # recorded steps taking longer than the others, so both step durations are tracked too.
        self._monitor_seconds = 0.0  # time spent in the monitor's hooks
        self._last_cost = 0.0  # hook time of the last recorded step (its rebuild, norms, writing)
        self._seconds_at_decision = 0.0
        self._overhead = 0.0  # estimated seconds that recording has added to training so far
        self._step_clock: float | None = None  # when the last step was finalised
        self._step_seconds: dict[bool, float] = {}  # running mean duration of recorded / other steps
        self._pending: StepRecord | None = None
        self._callback_queued = False
        self._removed = False
        self._captures: list[_StepCapture] = []  # step-node captures of the step now running

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
        for capture in self._captures:  # graphs built but never run backward: disarm their hooks
            capture.close()
        self._captures.clear()
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
                # Record only if this step, costing what recorded steps have cost, still fits: the
                # share then never overshoots by more than one step's misestimate.
                cost = self._recording_cost()
                training = time.perf_counter() - self._start - self._overhead
                decision = self._overhead + cost <= self.budget * training
            self._decision = decision
            if decision:
                self._seconds_at_decision = self._monitor_seconds
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
            t0 = time.perf_counter()
            if self._recording():
                import torch

                grad = grad.detach()
                # A 0-d tensor (and the gradient, in case the norm needs taking again in float64)
                # until the step is finalised: no synchronisation with the device inside backward.
                self._step_record().params[name] = (torch.linalg.vector_norm(grad), grad)
            self._queue_finalise()
            self._monitor_seconds += time.perf_counter() - t0

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
        if not out.requires_grad:
            return None
        t0 = time.perf_counter()
        try:
            if not self._recording():
                # Nothing to read this step; one pre-hook still marks the end of its backward pass, so
                # that steps are counted even in a model whose parameters are all frozen.
                out.grad_fn.register_prehook(self._count_only)
                return None
            if _STEP_NODES_ENABLED and self._tap_step_nodes(module, x, hx, out):
                return None
            return self._tap_output(module, x, hx, out, state)
        finally:
            self._monitor_seconds += time.perf_counter() - t0

    def _count_only(self, grads: Any) -> None:
        self._queue_finalise()

    def _tap_step_nodes(self, module: Any, x: Any, hx: Any, out: Any) -> bool:
        """Pre-hooks on the nodes that produced each ``h_t`` (see :mod:`.step_nodes`); ``False`` when the
        module ran a fused kernel, so that the totals must be rebuilt (:meth:`_tap_output`)."""
        steps = x.shape[1] if (x.dim() == 3 and module.batch_first) else x.shape[0]
        stop = {x.grad_fn}
        for part in (hx if isinstance(hx, tuple) else (hx,)):
            if part is not None and part.grad_fn is not None:
                stop.add(part.grad_fn)
        stop.discard(None)
        directions = 2 if module.bidirectional else 1
        nodes = find_step_nodes(out.grad_fn, steps, module.num_layers, directions, stop)
        if nodes is None:
            return False
        capture = _StepCapture(self._rnns[module], nodes)
        for key, entries in nodes.items():
            slots = capture.grads[key]
            for t, (node, nr) in enumerate(entries):
                capture.handles.append(node.register_prehook(self._slot_hook(capture, slots, t, nr)))
        self._captures.append(capture)
        return True

    def _slot_hook(self, capture: _StepCapture, slots: list[Any], t: int, nr: int) -> Any:
        def hook(grads: Any) -> None:
            if capture.active:
                grad = grads[nr]
                slots[t] = False if grad is None else grad  # None: no gradient at all, a zero
                if not self._callback_queued:
                    self._queue_finalise()

        return hook

    def _tap_output(self, module: Any, x: Any, hx: Any, out: Any, state: Any) -> Any:
        """The fallback for fused kernels: an identity function on the outputs whose backward receives
        their gradients and rebuilds the totals with the cell's recurrence."""
        is_lstm = module.mode == "LSTM"
        h_n, c_n = state if is_lstm else (state, None)
        name = self._rnns[module]
        tensors = (out, h_n, c_n) if is_lstm else (out, h_n)
        saved = (x.detach(), hx, out.detach())
        lower = not (module.training and module.dropout > 0 and module.num_layers > 1)

        def on_backward(grads: Any) -> None:
            t0 = time.perf_counter()
            try:
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
        for (layer, d), value in sorted(totals.items()):
            self._store_series(series_key(name, layer, d), _log10_norms(value))

    def _store_series(self, key: str, logs: np.ndarray) -> None:
        record = self._step_record()
        suffix, n = key, 1
        while suffix in record.layers:  # the same module called twice in one step
            n += 1
            suffix = f"{key}#{n}"
        record.layers[suffix] = logs

    def _read_captures(self) -> None:
        """Turn the gradients the step-node pre-hooks collected into ``log10`` norms per timestep."""
        import torch

        captures, self._captures = self._captures, []
        for capture in captures:
            capture.close()
            for (layer, d), grads in sorted(capture.grads.items()):
                # A node that never ran leaves NaN (unknown); one that ran without a gradient, -inf.
                logs = np.full(len(grads), np.nan)
                logs[[g is False for g in grads]] = -np.inf
                present = [t for t, g in enumerate(grads) if g is not None and g is not False]
                if present:
                    logs[present] = _log10_norms(torch.stack([grads[t] for t in present]))
                self._store_series(series_key(capture.name, layer, d), logs)

    def _finalise(self) -> None:
        self._callback_queued = False
        recorded, self._decision = self._decision, None
        self._backward_count += 1
        finalise_started = time.perf_counter()
        try:
            if self._captures:
                try:
                    self._read_captures()
                except Exception as exc:  # a monitor bug must never stop the user's training
                    self.errors.append(f"{type(exc).__name__}: {exc}")
                    self._warn_once(("error", "capture"), f"the monitor failed and skipped this step ({exc})")
            record, self._pending = self._pending, None
            if record is not None:
                self._emit(record)
        finally:
            self._monitor_seconds += time.perf_counter() - finalise_started
        now = time.perf_counter()
        if recorded:
            self._last_cost = self._monitor_seconds - self._seconds_at_decision
        if self._step_clock is not None:
            duration = now - self._step_clock
            mean = self._step_seconds.get(bool(recorded))
            self._step_seconds[bool(recorded)] = duration if mean is None else 0.8 * mean + 0.2 * duration
        self._step_clock = now
        if recorded:
            self._overhead += self._recording_cost()

    def _recording_cost(self) -> float:
        """Seconds one recorded step adds: its hook time, or, when larger, how much longer recorded
        steps have taken than the others."""
        cost = self._last_cost
        if True in self._step_seconds and False in self._step_seconds:
            cost = max(cost, self._step_seconds[True] - self._step_seconds[False])
        return cost

    def _emit(self, record: StepRecord) -> None:
        record.params = {k: _param_log10_norm(v) for k, v in record.params.items()}
        for key, logs in record.layers.items():
            # each direction judged the way it carries the gradient (a reverse one from t = 1 up)
            verdict = series_verdict(logs, key, self.vanish_threshold, self.explode_threshold)
            if verdict.kind != HEALTHY:
                idx = verdict.first_t - 1
                record.alerts.append(Alert(record.step, key, verdict.kind, float(logs[idx]), verdict.first_t,
                                           verdict.reverse))
        low, high = math.log10(self.vanish_threshold), math.log10(self.explode_threshold)
        for name, value in record.params.items():
            if math.isnan(value) or value > high:
                record.alerts.append(Alert(record.step, name, EXPLODING, value))
            elif value < low:
                record.alerts.append(Alert(record.step, name, VANISHING, value))
        self.run.append(record)
        if self._writer is not None:
            self._writer.write(record.to_json())
            if self._writer.error is not None and self._writer.error not in self.errors:
                self.errors.append(self._writer.error)
                warnings.warn(f"gradsim monitor: {self._writer.error}", RuntimeWarning, stacklevel=2)
        for alert in record.alerts:
            self._warn_once((alert.where, alert.kind), alert.message())

    def _warn_once(self, key: tuple[str, str], message: str) -> None:
        if self.warn and key not in self._warned:
            self._warned.add(key)
            warnings.warn(f"gradsim monitor: {message}", GradientAlert, stacklevel=2)


def monitor(model: Any, *args: Any, **kwargs: Any) -> Monitor:
    """Start monitoring ``model``: ``Monitor(model, ...)`` under the name the README shows, with the
    same options and defaults (one signature, :class:`Monitor`'s, so the two cannot disagree)."""
    return Monitor(model, *args, **kwargs)
