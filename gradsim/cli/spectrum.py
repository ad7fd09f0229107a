"""``gradsim spectrum``: eigenvalues, norms, the prediction and (optionally) the norm sweep."""

from __future__ import annotations

import argparse

from ..engine.budget import check_memory, spectrum_memory_bytes
from ..engine.errors import InputError
from ..engine.files import dumps_json
from .flow import add_network_options, check_thresholds, scenario_from_args


def add_parser(sub) -> None:
    spectrum = sub.add_parser("spectrum", help="eigenvalues, norms and the memory horizon of W_hh")
    add_network_options(spectrum)
    spectrum.add_argument("--format", choices=("json",), default="json")
    spectrum.add_argument("--sweep", action="store_true",
                          help="add the spectral-norm sweep (0.5..1.5, 5 seeds) of the generated network")
    spectrum.set_defaults(run=run)


def run(args: argparse.Namespace) -> str:
    from ..engine.spectrum import spectrum_report

    check_thresholds(args)
    if args.sweep and not args.scenario and args.cell != "rnn":
        raise InputError("--sweep: the spectral-norm sweep is for the vanilla RNN (--cell rnn)")
    scenario = scenario_from_args(args)
    if args.sweep:  # refused before any work, not after the report has been computed
        if scenario.generator is None:
            raise InputError("--sweep needs a generated scenario (it draws one matrix per seed)")
        if scenario.cell != "rnn":
            raise InputError("--sweep: the spectral-norm sweep is for the vanilla RNN (--cell rnn)")
    check_memory(spectrum_memory_bytes(scenario.cell, scenario.steps, scenario.hidden, scenario.W_xh.shape[1]),
                 "this spectrum", "arguments")
    doc = spectrum_report(scenario, args.vanish, args.explode)
    if args.sweep:
        from ..engine.sweep import spectral_norm_sweep

        g = scenario.generator
        doc["sweep"] = spectral_norm_sweep(g, seeds=tuple(range(g.seed, g.seed + 5))).to_json_dict()
    return dumps_json(doc)
