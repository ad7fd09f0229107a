"""Run logs: what the monitor records, in a file that survives a crash and can be followed live.

Format ``gradsim.runlog/1`` is JSON lines (UTF-8). Every line is one self-contained JSON object:
the first is the header (``"kind": "header"``: format, thresholds, the monitored modules and their
series, the parameters), then one ``"kind": "step"`` record per recorded training step, and, when
the monitor is removed cleanly, an ``"kind": "end"`` record. Lines are only ever appended and each is
flushed whole, so a process killed mid-write leaves at most one incomplete last line; readers ignore
it (a follower keeps it back until its newline arrives). A damaged line in the middle is skipped and
counted rather than failing the whole file.

Numbers: per-timestep gradient norms are stored as ``log10 ||dL/dh_t||`` (index 0 is ``t = 1``),
which keeps tiny values exact and the file small; an exact zero is ``null`` and non-finite values are
the strings ``"nan"``, ``"inf"`` and ``"-inf"`` (plain JSON has no spelling for them).

Directions: a series of the reverse direction of a bidirectional layer (key ending ``/reverse``)
carries its gradient from ``t = 1`` up to ``T``, so its alerts' ``first_t`` is the smallest ``t``
past the threshold (the largest for a forward direction), and each alert says so in ``reverse``.
Logs written before alerts had ``reverse`` counted every series back from ``T``: their reverse
series' ``first_t`` is worked out again from the recorded series when the log is read.

No torch and no Qt here: the app reads logs with NumPy only.
"""

from __future__ import annotations

import json
import math
import os
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from gradsim.engine.errors import InputError
from gradsim.engine.files import MIB, check_writable, loads_json, open_regular
from gradsim.engine.thresholds import EXPLODING, VANISHING, Verdict, verdict_from_log10

FORMAT = "gradsim.runlog/1"
MAX_LINE_BYTES = 32 * MIB  # one step of a huge model stays far below this
MAX_POLL_BYTES = 64 * MIB  # read per poll; a follower catches up over several polls
MAX_STEPS_IN_MEMORY = 1_000_000
MAX_SERIES_LENGTH = 1_000_000  # timesteps of one series in one record
MAX_SERIES_PER_RECORD = 10_000
MAX_VALUES_IN_MEMORY = 50_000_000  # float64 numbers kept (400 MB); older records are thinned past it
MAX_HEATMAP_CELLS = 4_000_000  # the heatmap handed to a view (32 MB); rows are thinned past it
MAX_LINE_DEPTH = 8
_COPY_SUFFIX = re.compile(r"#\d+$")  # "lstm/l0#2": the same module called again in one step


def is_reverse_series(key: str) -> bool:
    """Whether a series key (``"enc.lstm/l1/reverse"``, also its ``#2`` copies) names the reverse
    direction of a bidirectional layer: the direction whose gradient travels from t = 1 up to T."""
    return _COPY_SUFFIX.sub("", key).endswith("/reverse")


def series_verdict(logs: np.ndarray, key: str, vanish_threshold: float, explode_threshold: float) -> Verdict:
    """The verdict of one per-timestep series, judged the way its direction carries the gradient
    (``first_t`` counted back from T forward, up from t = 1 in a reverse direction)."""
    return verdict_from_log10(logs, vanish_threshold, explode_threshold, reverse=is_reverse_series(key))


@dataclass(frozen=True)
class Alert:
    """One threshold crossing: ``where`` is a series key (``"lstm/l0"``) or a parameter name."""

    step: int
    where: str
    kind: str  # "vanishing" or "exploding"
    log10_value: float
    # For per-timestep series: the first t past the threshold that the gradient reaches on its way
    # from the loss: the latest t forward, the earliest in a reverse direction (``reverse``).
    first_t: int | None = None
    reverse: bool = False

    def message(self) -> str:
        if self.first_t is not None:
            counted = " (reverse direction: counted up from t = 1)" if self.reverse else ""
            return f"step {self.step}: {self.where}: {self.kind} from t = {self.first_t}{counted}"
        value = "non-finite" if math.isnan(self.log10_value) else f"10^{self.log10_value:.1f}"
        return f"step {self.step}: gradient of {self.where}: {self.kind} ({value})"

    def to_json(self) -> dict[str, Any]:
        return {
            "where": self.where,
            "kind": self.kind,
            "log10_value": encode_float(self.log10_value),
            "first_t": self.first_t,
            "reverse": self.reverse,
        }


@dataclass
class StepRecord:
    """One recorded training step."""

    step: int
    time: float  # seconds since the monitor started
    layers: dict[str, np.ndarray]  # series key -> log10 ||dL/dh_t|| (index 0 is t = 1; -inf for 0)
    params: dict[str, float]  # parameter name -> log10 of its gradient norm
    alerts: list[Alert] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": "step",
            "step": self.step,
            "time": round(self.time, 4),
            "layers": {k: [encode_float(v) for v in arr.tolist()] for k, arr in self.layers.items()},
            "params": {k: encode_float(v) for k, v in self.params.items()},
            "alerts": [a.to_json() for a in self.alerts],
        }


def encode_float(x: float) -> float | str | None:
    """A log10 value as JSON: rounded to 5 decimals, ``None`` for log10(0), strings for the rest."""
    if math.isfinite(x):
        return round(float(x), 5)
    if x == -math.inf:
        return None
    return "inf" if x == math.inf else "nan"


def decode_float(v: Any) -> float:
    if v is None:
        return -math.inf
    if isinstance(v, bool):
        raise ValueError("a boolean where a number belongs")
    if isinstance(v, (int, float)):
        return float(v)
    if v in ("nan", "inf", "-inf"):
        return float(v)
    raise ValueError(f"{v!r} is not a number")


def make_header(
    modules: list[dict[str, Any]],
    parameters: list[dict[str, Any]],
    vanish_threshold: float,
    explode_threshold: float,
    every: int,
    notes: Iterable[str] = (),
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    header = {
        "format": FORMAT,
        "kind": "header",
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "thresholds": {"vanish": vanish_threshold, "explode": explode_threshold},
        "every": every,
        "modules": modules,
        "parameters": parameters,
        "notes": list(notes),
    }
    if extra:
        header.update(extra)
    return header


class RunLogWriter:
    """Writes a run log: the header at once, then one flushed line per record.

    A path that cannot hold a log (a missing folder, a folder, a device such as ``/dev/full``) is
    refused when the writer is made. If writing fails later (the disk fills up), the writer stops
    writing, keeps the reason in :attr:`error` and never raises into the training loop it records.
    """

    def __init__(self, path: str | os.PathLike[str], header: dict[str, Any]):
        self.path = check_writable(path, "run log")
        self.error: str | None = None
        try:
            self._file: TextIO | None = open(self.path, "w", encoding="utf-8", newline="\n")  # noqa: SIM115
        except OSError as exc:
            raise InputError(f"{self.path}: cannot write the run log ({exc.strerror or exc})") from None
        self.write(header)
        if self.error is not None:
            raise InputError(self.error)

    def write(self, record: dict[str, Any]) -> None:
        if self._file is None:
            return
        # One write call per line: a crash leaves at most this line incomplete.
        try:
            self._file.write(json.dumps(record, allow_nan=False, separators=(",", ":")) + "\n")
            self._file.flush()
        except (OSError, ValueError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc)
            self.error = f"{self.path}: cannot write the run log ({reason}); recording goes on in memory only"
            self._abandon()

    def _abandon(self) -> None:
        file, self._file = self._file, None
        if file is not None:
            try:
                file.close()
            except OSError:
                pass

    def close(self, end_record: dict[str, Any] | None = None) -> None:
        if self._file is None:
            return
        if end_record is not None:
            self.write(end_record)
        self._abandon()


def _series_from_json(name: str, values: Any) -> np.ndarray:
    if not isinstance(values, list) or not values:
        raise ValueError(f"series {name!r} is not a non-empty list")
    if len(values) > MAX_SERIES_LENGTH:
        raise ValueError(f"series {name!r} is longer than {MAX_SERIES_LENGTH} steps")
    return np.array([decode_float(v) for v in values], dtype=np.float64)


def step_from_json(obj: dict[str, Any], thresholds: tuple[float, float] | None = None) -> StepRecord:
    """Validate and convert one ``step`` line (raises ``ValueError`` when it is malformed).

    ``thresholds`` (vanish, explode: the header's) let an alert of an older log, written before
    alerts said ``reverse``, on a reverse series have its ``first_t`` worked out again from the
    recorded series, counted up from t = 1 as the direction carries the gradient."""
    step = obj.get("step")
    if not isinstance(step, int) or isinstance(step, bool) or step < 0:
        raise ValueError("step is not a non-negative integer")
    seconds = obj.get("time", 0.0)
    if not isinstance(seconds, (int, float)) or isinstance(seconds, bool):
        raise ValueError("time is not a number")
    layers_obj = obj.get("layers", {})
    params_obj = obj.get("params", {})
    if not isinstance(layers_obj, dict) or not isinstance(params_obj, dict):
        raise ValueError("layers and params must be objects")
    if len(layers_obj) > MAX_SERIES_PER_RECORD or len(params_obj) > MAX_SERIES_PER_RECORD:
        raise ValueError("more series in one record than a run log holds")
    if not isinstance(obj.get("alerts", []), list):
        raise ValueError("alerts must be a list")
    layers = {str(k): _series_from_json(str(k), v) for k, v in layers_obj.items()}
    params = {str(k): decode_float(v) for k, v in params_obj.items()}
    alerts = []
    for a in obj.get("alerts", []):
        if not isinstance(a, dict) or a.get("kind") not in (VANISHING, EXPLODING):
            raise ValueError("malformed alert")
        first_t = a.get("first_t")
        if first_t is not None and (not isinstance(first_t, int) or isinstance(first_t, bool)):
            raise ValueError("alert first_t is not an integer")
        where = str(a.get("where", ""))
        reverse = a.get("reverse")
        if reverse is not None and not isinstance(reverse, bool):
            raise ValueError("alert reverse is not a boolean")
        value = decode_float(a.get("log10_value"))
        if reverse is None:  # an older log: per-timestep alerts were all counted back from T
            reverse = False  # and stay so, unless the reverse series is here to count it up again
            series = layers.get(where)
            if first_t is not None and is_reverse_series(where) and series is not None and thresholds:
                verdict = series_verdict(series, where, *thresholds)
                if verdict.kind == a["kind"] and verdict.first_t is not None:
                    first_t, value, reverse = verdict.first_t, float(series[verdict.first_t - 1]), True
        alerts.append(Alert(step, where, a["kind"], value, first_t, bool(reverse)))
    return StepRecord(step, float(seconds), layers, params, alerts)


def _check_header(obj: Any, path: Path) -> dict[str, Any]:
    if not isinstance(obj, dict) or obj.get("kind") != "header":
        raise InputError(f"{path}: not a gradsim run log (the first line is not a run-log header)")
    if obj.get("format") != FORMAT:
        raise InputError(f"{path}: unsupported run-log format {obj.get('format')!r} (expected {FORMAT})")
    thresholds = obj.get("thresholds")
    try:
        vanish = float(thresholds["vanish"])
        explode = float(thresholds["explode"])
    except (TypeError, KeyError, ValueError):
        raise InputError(f"{path}: the run-log header has no valid thresholds") from None
    if not (0 < vanish < explode < math.inf):
        raise InputError(f"{path}: the run-log thresholds must satisfy 0 < vanish < explode")
    modules = obj.get("modules", [])
    if not isinstance(modules, list) or not all(
        isinstance(m, dict) and isinstance(m.get("series", []), list) and all(isinstance(k, str) for k in m.get("series", []))
        for m in modules
    ):
        raise InputError(f"{path}: the run-log header's modules are not a list of modules with their series")
    for key in ("parameters", "notes"):
        if not isinstance(obj.get(key, []), list):
            raise InputError(f"{path}: the run-log header's {key} are not a list")
    return obj


class RunLog:
    """A run's header and step records, with the arrays the app draws."""

    def __init__(self, header: dict[str, Any], path: Path | None = None):
        self.header = header
        self.path = path
        self.records: list[StepRecord] = []
        self.finished = False
        self.skipped_lines = 0  # complete lines that could not be read
        self.incomplete_tail = False  # the file ends in a line without its newline
        self._values = 0

    @property
    def vanish_threshold(self) -> float:
        return float(self.header["thresholds"]["vanish"])

    @property
    def explode_threshold(self) -> float:
        return float(self.header["thresholds"]["explode"])

    def append(self, record: StepRecord) -> None:
        """Keep a record; past the memory bounds, every other record is dropped (the first and the
        latest stay), so an endless run still spans its whole history at a coarser grain."""
        self.records.append(record)
        self._values += sum(v.size for v in record.layers.values()) + len(record.params)
        while len(self.records) > 2 and (
            len(self.records) > MAX_STEPS_IN_MEMORY or self._values > MAX_VALUES_IN_MEMORY
        ):
            self.records = self.records[:-1:2] + [self.records[-1]]
            self._values = sum(sum(v.size for v in r.layers.values()) + len(r.params) for r in self.records)

    def series_keys(self) -> list[str]:
        """Per-timestep series in header order, then any that only appear in records."""
        keys: list[str] = []
        for module in self.header.get("modules", []):
            if isinstance(module, dict):
                keys += [str(k) for k in module.get("series", [])]
        for rec in self.records:
            keys += [k for k in rec.layers if k not in keys]
        return keys

    def steps(self) -> np.ndarray:
        return np.array([r.step for r in self.records], dtype=np.float64)

    def heatmap(self, key: str) -> tuple[np.ndarray, np.ndarray]:
        """``(steps, matrix)``: ``matrix[i, t-1]`` is ``log10 ||dL/dh_t||`` of series ``key`` at the
        i-th recorded step (NaN where that step has no value: the series is missing or shorter)."""
        rows = [r for r in self.records if key in r.layers]
        width = max((r.layers[key].size for r in rows), default=0)
        if width and len(rows) * width > MAX_HEATMAP_CELLS:
            # bounded before allocating: every k-th recorded step, the latest always included
            stride = math.ceil(len(rows) * width / MAX_HEATMAP_CELLS)
            rows = rows[::-1][::stride][::-1]
        steps = np.array([r.step for r in rows], dtype=np.float64)
        matrix = np.full((len(rows), width), np.nan)
        for i, r in enumerate(rows):
            matrix[i, : r.layers[key].size] = r.layers[key]
        return steps, matrix

    def alerts(self) -> list[Alert]:
        return [a for r in self.records for a in r.alerts]


class RunLogFollower:
    """Reads a run log and, on each :meth:`poll`, whatever has been appended since.

    Holds back an incomplete last line until its newline arrives, so a reader racing the writer never
    sees half a record. If the file shrinks or is replaced (a new run written to the same name), the
    next poll starts over and reports it with ``reset = True``.
    """

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)
        self.log: RunLog | None = None
        self._offset = 0
        self._pending = b""
        self._identity: tuple[int, int] | None = None
        self._skip_to_newline = False
        self.reset = False
        self.more = False  # the last poll stopped at MAX_POLL_BYTES with more to read

    def poll(self) -> list[StepRecord]:
        """New step records since the last call (the header is read on the first).

        Reads at most :data:`MAX_POLL_BYTES` per call (call again to catch up); a damaged line is
        skipped and counted, whatever it holds (huge numbers, deep nesting, wrong types)."""
        self.reset = False
        with open_regular(self.path, "run log") as f:
            st = os.fstat(f.fileno())
            identity = (st.st_dev, st.st_ino)
            if self.log is not None and (identity != self._identity or st.st_size < self._offset):
                self.log, self._offset, self._pending, self.reset = None, 0, b"", True
            self._identity = identity
            if st.st_size <= self._offset:
                return []
            try:
                f.seek(self._offset)
                chunk = f.read(min(st.st_size - self._offset, MAX_POLL_BYTES))
            except OSError as exc:
                raise InputError(f"{self.path}: cannot read the run log ({exc.strerror or exc})") from None
        self._offset += len(chunk)
        self.more = self._offset < st.st_size
        data = self._pending + chunk
        lines = data.split(b"\n")
        self._pending = lines.pop()  # b"" when the data ends with a newline
        new: list[StepRecord] = []
        for raw in lines:
            if self._skip_to_newline:
                self._skip_to_newline = False
                continue
            if not raw.strip():
                continue
            try:
                obj = loads_json(raw, str(self.path), max_depth=MAX_LINE_DEPTH)
            except InputError:
                obj = None
            if self.log is None:
                if obj is None:
                    raise InputError(f"{self.path}: not a gradsim run log (the first line is not JSON)")
                self.log = RunLog(_check_header(obj, self.path), self.path)
                continue
            if not isinstance(obj, dict):
                self.log.skipped_lines += 1
                continue
            kind = obj.get("kind")
            if kind == "end":
                self.log.finished = True
                continue
            if kind != "step":
                self.log.skipped_lines += 1
                continue
            try:
                record = step_from_json(obj, (self.log.vanish_threshold, self.log.explode_threshold))
            except (ValueError, TypeError, KeyError, OverflowError, AttributeError):
                self.log.skipped_lines += 1
                continue
            self.log.append(record)
            new.append(record)
        if len(self._pending) > MAX_LINE_BYTES:
            if self.log is None:
                raise InputError(f"{self.path}: not a gradsim run log (a first line longer than {MAX_LINE_BYTES} bytes)")
            if not self._skip_to_newline:
                self.log.skipped_lines += 1  # a runaway line: drop what has come of it, and its rest
            self._pending = b""
            self._skip_to_newline = True
        if self.log is not None:
            self.log.incomplete_tail = bool(self._pending.strip())
        return new


def read_run_log(path: str | os.PathLike[str]) -> RunLog:
    """Read a whole run log (one that is still being written reads as far as it goes).

    A log whose header line itself is incomplete is refused: there is nothing to show yet."""
    follower = RunLogFollower(path)
    follower.poll()
    while follower.more:
        follower.poll()
    if follower.log is None:
        raise InputError(f"{Path(path)}: not a gradsim run log (no complete header line)")
    return follower.log
