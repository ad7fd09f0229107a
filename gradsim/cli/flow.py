"""``gradsim flow`` and the generator options it shares with ``gradsim spectrum``."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from ..engine.activations import ACTIVATIONS
from ..engine.cells import GATED_CELLS
from ..engine.errors import InputError
from ..engine.files import dumps_json
from ..engine.init import INITIALISERS
from ..engine.scenario import CELLS, GeneratorSettings
from ..engine.thresholds import EXPLODE_THRESHOLD, VANISH_THRESHOLD
from ..threads import use_gradsim_threads
from .common import emit, finite_float, whole_number


def add_generator_options(p: argparse.ArgumentParser) -> None:
    d = GeneratorSettings()
    g = p.add_argument_group("generator options (used when no --scenario is given)")
    g.add_argument("--cell", choices=CELLS, default=d.cell,
                   help="rnn; lstm/gru with PyTorch's equations; residual (h_t = h_{t-1} + alpha f(...)); "
                        "attention (one causal self-attention layer with a residual connection) "
                        "(default %(default)s)")
    g.add_argument("--activation", choices=ACTIVATIONS, default=d.activation,
                   help="vanilla and residual RNN only; the other cells take tanh (default %(default)s)")
    g.add_argument("--hidden", type=whole_number(1, 512), default=d.hidden, help="hidden size (default %(default)s)")
    g.add_argument("--input", type=whole_number(1, 512), default=d.input, help="input size (default %(default)s)")
    g.add_argument("--steps", type=whole_number(1, 10_000), default=d.steps, help="sequence length T (default %(default)s)")
    g.add_argument("--init", choices=INITIALISERS, default=d.init, help="W_hh initialiser (default %(default)s)")
    g.add_argument("--scale", type=finite_float(0, 100), default=d.scale,
                   help="weight scale: spectral radius for gaussian, gain for orthogonal/identity (default %(default)s)")
    g.add_argument("--input-scale", type=finite_float(0, 1000), default=d.input_scale, help="default %(default)s")
    g.add_argument("--seed", type=whole_number(0, 2**32 - 1), default=d.seed, help="default %(default)s")
    g.add_argument("--forget-bias", type=finite_float(-20, 20), default=d.forget_bias,
                   help="LSTM forget-gate bias (default %(default)s)")
    g.add_argument("--residual-scale", type=finite_float(0, 10), default=d.residual_scale,
                   help="residual RNN's alpha (default %(default)s)")


def add_threshold_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--vanish", type=finite_float(0, math.inf), default=VANISH_THRESHOLD,
                   help="vanishing threshold (default %(default)g)")
    p.add_argument("--explode", type=finite_float(0, math.inf), default=EXPLODE_THRESHOLD,
                   help="exploding threshold (default %(default)g)")


def add_network_options(p: argparse.ArgumentParser) -> None:
    """What every verb about one network takes (``flow``, ``spectrum``): a scenario file or the
    generator options, and the thresholds; :func:`scenario_from_args` reads them back."""
    p.add_argument("--scenario", metavar="FILE", help="a *.gradsim.json scenario")
    add_generator_options(p)
    add_threshold_options(p)


def scenario_from_args(args: argparse.Namespace):
    from ..engine.scenario import load_scenario

    if args.scenario:
        return load_scenario(args.scenario)
    settings = GeneratorSettings(
        hidden=args.hidden, input=args.input, steps=args.steps, activation=args.activation, init=args.init,
        scale=args.scale, input_scale=args.input_scale, seed=args.seed, cell=args.cell,
        forget_bias=args.forget_bias, residual_scale=args.residual_scale,
    )
    return settings.validated("arguments").build()


def check_thresholds(args: argparse.Namespace) -> None:
    if not 0 < args.vanish < args.explode:
        raise InputError("arguments: thresholds must satisfy 0 < --vanish < --explode")


def add_parser(sub) -> None:
    flow = sub.add_parser("flow", help="gradient flow ||dL/dh_t|| for t = 1..T")
    add_network_options(flow)
    flow.add_argument("--preset", metavar="ID",
                      help="the flow scene's preset ID (see --list-presets): its settings, with --seed and the "
                           "thresholds; no other generator option")
    flow.add_argument("--list-presets", action="store_true",
                      help="list the flow presets as {id, title, expect} (expect: the verdict each claims, on every seed)")
    flow.add_argument("--format", choices=("csv", "json"), default="json", help="default %(default)s")
    flow.add_argument("--save-scenario", metavar="FILE",
                      help="also write the scenario to FILE (*.gradsim.json) in the form the app and "
                           "--scenario reopen to the same picture: the generator settings, or every number")
    flow.set_defaults(run=run)


def save_scenario_file(scenario, path: str) -> None:
    """Write ``scenario`` to ``path`` atomically (a temporary file renamed over it), or refuse in one line."""
    from ..engine.scenario import save_scenario

    target = Path(path)
    try:
        save_scenario(scenario, target)
    except OSError as exc:
        target.with_name(target.name + ".tmp").unlink(missing_ok=True)
        raise InputError(f"{target}: cannot write ({exc.strerror or exc})") from None


def list_presets(fmt: str) -> str:
    from ..presets import load_presets

    items = [p.to_dict() for p in load_presets("flow")]
    if fmt == "json":
        return dumps_json(items)
    return emit({key: [item[key] for item in items] for key in ("id", "title", "expect")}, "csv")


_GENERATOR_OPTIONS = ("cell", "activation", "hidden", "input", "steps", "init", "scale", "input_scale",
                      "forget_bias", "residual_scale")


def preset_scenario(args: argparse.Namespace):
    """The scenario of the app's flow preset ``args.preset`` (the app's defaults under the preset's
    settings, exactly as the scene builds it), drawn with ``--seed`` when its weights are generated."""
    from dataclasses import replace

    from ..presets import get_preset
    from ..states.flow import FlowState

    if args.scenario:
        raise InputError("arguments: give --preset or --scenario, not both")
    defaults = GeneratorSettings()
    changed = [name for name in _GENERATOR_OPTIONS if getattr(args, name) != getattr(defaults, name)]
    if changed:
        raise InputError(f"arguments: --preset sets the network itself; drop --{changed[0].replace('_', '-')} "
                         "(only --seed and the thresholds go with it)")
    preset = get_preset("flow", args.preset)
    job = FlowState.from_settings({"preset": preset.preset_id}).job()
    if job.scenario is not None:  # every number given: the seed has nothing to draw
        return preset, job.scenario
    return preset, replace(job.settings, seed=args.seed).validated("arguments").build()


def run(args: argparse.Namespace) -> str:
    from ..engine.flow import gradient_flow

    if args.list_presets:
        return list_presets(args.format)
    check_thresholds(args)
    preset = None
    if args.preset is not None:
        preset, scenario = preset_scenario(args)
    else:
        scenario = scenario_from_args(args)
    if scenario.cell in GATED_CELLS:  # computed in torch, in this process of the command line's own
        use_gradsim_threads()
    result = gradient_flow(scenario, args.vanish, args.explode)
    if args.save_scenario:
        save_scenario_file(scenario, args.save_scenario)
    doc = result.to_json_dict()
    if preset is not None:
        doc["preset"] = preset.to_dict()
    if args.format == "json":
        return dumps_json(doc)
    columns = {k: doc[k] for k in ("t", "grad_norm", "log10_grad_norm", "log10_local_factor", "log10_bound")}
    for key in ("input_grad_norm", "log10_input_grad_norm",  # every cell: the gradient at the input
                "cell_grad_norm", "log10_cell_grad_norm"):  # LSTM only: the cell-state gradient
        if key in doc:
            columns[key] = doc[key]
    return emit(columns, "csv")
