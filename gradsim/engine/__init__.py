"""gradsim's engine: NumPy only at import time (torch is imported inside the functions that need it).

The public API of CONTRACTS section 4 is ``load_scenario`` and ``gradient_flow``.
"""

from .errors import InputError
from .flow import FlowResult, gradient_flow
from .scenario import GeneratorSettings, Scenario, load_scenario, save_scenario, scenario_from_dict
from .thresholds import EXPLODE_THRESHOLD, VANISH_THRESHOLD, Verdict, verdict_from_log10

__all__ = [
    "EXPLODE_THRESHOLD",
    "FlowResult",
    "GeneratorSettings",
    "InputError",
    "Scenario",
    "VANISH_THRESHOLD",
    "Verdict",
    "gradient_flow",
    "load_scenario",
    "save_scenario",
    "scenario_from_dict",
    "verdict_from_log10",
]
