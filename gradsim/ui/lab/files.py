"""The lab's files: saved runs (``.gradsim-run.pt``, written and read by the engine, weights only)
and the curves as CSV columns, taken from the engine's record of each run (``run.curves``)."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtWidgets import QFileDialog, QWidget

from ...engine.training import Curves, TrainRun
from ...states.training import SLOT_NAMES

RUN_FILTER = "gradsim runs (*.gradsim-run.pt *.pt);;All files (*)"  # the lab's own Save… and Load…
# File ▸ Open run… opens both kinds of run (see engine.training.is_saved_run): a training run saved by the lab or
# `gradsim train --save` (a PyTorch archive, shown in the lab) and a gradsim.monitor run log (JSON
# lines, followed in a window of its own).
OPEN_RUN_FILTER = ("Runs (*.pt *.jsonl);;Saved training runs (*.pt);;gradsim.monitor run logs (*.jsonl);;"
                   "All files (*)")


def curve_columns(runs: Sequence[TrainRun]) -> dict | None:
    """One row per training step; per model its loss, gradient norms and (at evaluations) held-out
    accuracy, from the engine's record; None before the first step. Each record is read under its
    run's lock, so a run training meanwhile is read between two steps."""
    records = []
    for run in runs:
        with run.lock:
            c = run.curves
            records.append(Curves(list(c.step), list(c.loss), list(c.grad_norm_before), list(c.grad_norm_after),
                                  eval_step=list(c.eval_step), accuracy=list(c.accuracy)))
    if not any(c.step for c in records):
        return None
    steps = max(c.step[-1] for c in records if c.step)
    columns: dict[str, list] = {"step": list(range(1, steps + 1))}
    for i, c in enumerate(records):
        name = SLOT_NAMES[i]
        index = {s: k for k, s in enumerate(c.step)}
        evals = dict(zip(c.eval_step, c.accuracy, strict=True))

        def column(values, index=index):
            return [values[index[s]] if s in index else None for s in columns["step"]]

        columns[f"{name}_loss"] = column(c.loss)
        columns[f"{name}_heldout_accuracy"] = [evals.get(s) for s in columns["step"]]
        columns[f"{name}_grad_norm_before_clip"] = column(c.grad_norm_before)
        columns[f"{name}_grad_norm_after_clip"] = column(c.grad_norm_after)
    return columns


def sweep_columns(points: Sequence) -> dict | None:
    if not points:
        return None
    return {"cell": [p.cell for p in points], "delay": [p.delay for p in points],
            "accuracy": [p.accuracy for p in points], "chance": [p.chance for p in points],
            "steps": [p.steps for p in points]}


def ask_save_path(parent: QWidget) -> str:
    path, _ = QFileDialog.getSaveFileName(parent, "Save run", "run.gradsim-run.pt", RUN_FILTER)
    return path


def ask_open_path(parent: QWidget) -> str:
    path, _ = QFileDialog.getOpenFileName(parent, "Load run", "", RUN_FILTER)
    return path


def ask_csv_path(parent: QWidget) -> str:
    path, _ = QFileDialog.getSaveFileName(parent, "Export curves", "training-curves.csv", "CSV table (*.csv)")
    return path
