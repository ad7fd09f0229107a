"""Diagnose your own model: a gradient monitor for PyTorch training loops, run logs, saved models.

``gradsim.monitor(model, log="run.gradsim.jsonl")`` records ``||dL/dh_t||`` per timestep, layer and
direction of every ``nn.RNN`` / ``nn.LSTM`` / ``nn.GRU`` inside ``model`` (see :mod:`.core`);
:mod:`.runlog` reads the log it writes (also while it grows); :mod:`.model_file` opens saved state
dicts (``.pt`` with ``weights_only=True``, ``.safetensors`` with a reader of our own).

Importing this package loads neither torch nor Qt. The package itself is callable, so that
``gradsim.monitor(model)`` works whether ``gradsim.monitor`` names the function or this package
(importing a submodule makes the package an attribute of ``gradsim``).
"""

from __future__ import annotations

import sys
import types
from typing import Any

from .core import GradientAlert, Monitor, monitor
from .model_file import (
    FlowOnInputs,
    LayerSpec,
    ModelInfo,
    gradient_flow_on_inputs,
    inspect_state_dict,
    load_input_sequence,
    load_model_file,
    load_state_dict_file,
    make_inputs,
)
from .runlog import Alert, RunLog, RunLogFollower, StepRecord, read_run_log
from .safetensors import read_safetensors

__all__ = [
    "Alert",
    "FlowOnInputs",
    "GradientAlert",
    "LayerSpec",
    "ModelInfo",
    "Monitor",
    "RunLog",
    "RunLogFollower",
    "StepRecord",
    "gradient_flow_on_inputs",
    "inspect_state_dict",
    "load_input_sequence",
    "load_model_file",
    "load_state_dict_file",
    "make_inputs",
    "monitor",
    "read_run_log",
    "read_safetensors",
]


class _CallableModule(types.ModuleType):
    def __call__(self, *args: Any, **kwargs: Any) -> Monitor:
        return monitor(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
