"""``gradsim train``: train one model on the copy-memory or adding task and report how it did."""

from __future__ import annotations

import argparse
import math
import time
from typing import Any

import numpy as np

from ..engine import tasks
from ..engine.activations import ACTIVATIONS
from ..engine.files import check_writable, dumps_json
from ..engine.init import INITIALISERS
from ..engine.thresholds import verdict_badge, verdict_sentence
from ..engine.training import (
    CELL_LABELS,
    LEARNED_MARGIN,
    MODELS,
    OPTIMIZERS,
    Snapshot,
    TrainSettings,
    run_to_end,
    save_run,
)
from ..threads import use_gradsim_threads
from .common import finite_float, whole_number


def _number_or_off(off: float | None, accept, expected: str):
    """An argparse type: a finite number ``accept`` allows, or a word that turns the option off
    (``off``, ``none``, ``no``), read as ``off``."""

    def parse(text: str) -> float | None:
        if text.strip().lower() in ("off", "none", "no"):
            return off
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and accept(value)):
            raise argparse.ArgumentTypeError(f"expected {expected} or 'off', got {text!r}")
        return value

    return parse


# the value parsers every verb shares (gradsim.cli.common), and the two options that can be off
_count = whole_number
_finite_float = finite_float()
_clip_value = _number_or_off(0.0, lambda v: v >= 0, "a positive number")  # 0 is off too
_stop_value = _number_or_off(None, lambda v: 0 < v <= 1, "a fraction in (0, 1]")

# The options that set a TrainSettings field of the same name, in the order --help lists them:
# flag, how its text is read (argparse keywords), help (formatted with the field's default).
_SETTING_OPTIONS = (
    ("--task", {"choices": tasks.TASKS}, "copy-memory (default) or the adding problem"),
    ("--cell", {"choices": MODELS, "required": True}, "vanilla rnn, lstm, gru, or a small causal transformer"),
    ("--delay", {"type": _count(0)},
     "copy: blank steps between the symbols and the recall marker; adding: sequence length (default {})"),
    ("--symbols", {"type": _count(1)}, "symbols to remember (default {})"),
    ("--categories", {"type": _count(2)}, "symbol categories (default {}; chance is 1/categories)"),
    ("--steps", {"type": _count(1)}, "optimiser steps (default {})"),
    ("--seed", {"type": _count(0)}, "random seed (default {})"),
    ("--forget-bias", {"type": _finite_float}, "LSTM forget-gate bias (default {:g})"),
    ("--clip", {"type": _clip_value}, "gradient-norm clipping threshold, or 'off' (default {:g})"),
    ("--hidden", {"type": _count(1)}, "hidden units (default {})"),
    ("--embedding", {"type": _count(1)}, "embedding size for copy (default {})"),
    ("--activation", {"choices": ACTIVATIONS}, "vanilla RNN activation (default {})"),
    ("--init", {"choices": INITIALISERS}, "vanilla RNN W_hh initialiser (default {})"),
    ("--scale", {"type": _finite_float}, "vanilla RNN W_hh scale: spectral radius, gain or multiplier (default {:g})"),
    ("--optimizer", {"choices": OPTIMIZERS}, "adam (default) or sgd"),
    ("--lr", {"type": finite_float(0.0, low_open=True)}, "learning rate (default {:g})"),
    ("--batch", {"type": _count(1)}, "batch size (default {})"),
    ("--eval-size", {"type": _count(1)}, "held-out sequences the accuracy is measured on (default {})"),
    ("--stop-accuracy", {"type": _stop_value},
     "end the run once the held-out accuracy reaches this fraction, or 'off' to train every step (default {:g})"),
    ("--eval-every", {"type": _count(1)}, "steps between held-out evaluations (default {})"),
)


def _dest(flag: str) -> str:
    """Where argparse keeps an option's value (``--forget-bias`` -> ``forget_bias``)."""
    return flag[2:].replace("-", "_")


def _field(flag: str) -> str:
    """The TrainSettings field an option sets (``--clip`` gives the threshold; 0 turns clipping off)."""
    name = _dest(flag)
    return "clip_threshold" if name == "clip" else name


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``gradsim train`` (CONTRACTS section 3, plus model and optimiser options):
    every setting's default is :class:`TrainSettings`' own."""
    defaults = TrainSettings()
    for flag, reading, text in _SETTING_OPTIONS:
        default = getattr(defaults, _field(flag))
        given = {} if reading.get("required") else {"default": default}
        parser.add_argument(flag, **reading, **given, help=text.format(default))
    parser.add_argument(
        "--save", metavar="FILE", default=None, help="save the finished run (settings, weights, curves)"
    )
    parser.add_argument(
        "--format", choices=("text", "json"), default="json", help="json (default): one JSON object; text: one line per figure"
    )


def settings_from_args(args: argparse.Namespace) -> TrainSettings:
    values = {_field(flag): getattr(args, _dest(flag)) for flag, _, _ in _SETTING_OPTIONS}
    clip = float(values["clip_threshold"])
    values.update(clip=clip > 0, clip_threshold=clip if clip > 0 else TrainSettings.clip_threshold)
    return TrainSettings(**values).validate()


def gradient_verdict(last: Snapshot, settings: TrainSettings) -> dict[str, Any]:
    """What the gradient verdict of the last training step measured, named for what it is.

    The quantity is ``||dL/dh_t|| / ||dL/dh_T||`` for t = 1..T on the last training batch (the
    share of the loss's gradient at the last step that reaches step t; ``e_t``, the embedded input,
    for the Transformer, which has no recurrent state), judged against the
    vanishing and exploding thresholds. It says whether the gradient reaches the early steps, not
    whether the model learned: a vanilla RNN can end at chance with a gradient inside the thresholds.
    """
    v = last.verdict
    logs = np.asarray(last.log10_grad_h, dtype=np.float64)
    change = float(logs[0] - logs[-1]) if logs.size else float("nan")
    symbol = "e" if settings.cell == "transformer" else "h"  # a Transformer's embedded inputs e_t
    headline, detail = verdict_badge(v, settings.length, relative=True, symbol=symbol)
    return {
        "quantity": f"||dL/d{symbol}_t|| / ||dL/d{symbol}_T||",
        "batch": f"the last training batch, at training step {last.step}",
        "t_from": 1,
        "t_to": settings.length,
        "vanish_threshold": v.vanish_threshold,
        "explode_threshold": v.explode_threshold,
        "kind": v.kind,
        "first_t": v.first_t,
        "log10_first_to_last": change if math.isfinite(change) else None,
        "badge": f"{headline}: {detail}",
        "sentence": verdict_sentence(logs, v, relative=True, symbol=symbol),
    }


def cli_train(args: argparse.Namespace) -> dict:
    """Run ``gradsim train`` and return its result; raises :class:`InputError` for bad settings."""
    settings = settings_from_args(args)
    if getattr(args, "save", None):
        check_writable(args.save, "saved run")  # a bad --save path is refused before training
    wall = time.perf_counter()
    last = run_to_end(settings)
    seconds = time.perf_counter() - wall
    run = last.run
    if getattr(args, "save", None):
        save_run(args.save, run)
    accuracy = run.curves.accuracy[-1] if run.curves.accuracy else None
    heldout_loss = run.curves.eval_loss[-1] if run.curves.eval_loss else None
    above = None if accuracy is None else accuracy - settings.chance
    return {
        "task": settings.task,
        "cell": settings.cell,
        "delay": settings.delay,
        "symbols": settings.symbols,
        "categories": settings.categories,
        "accuracy": accuracy,
        "chance": settings.chance,
        "accuracy_above_chance": above,
        "learned": None if above is None else bool(above > LEARNED_MARGIN),
        "learned_margin": LEARNED_MARGIN,
        "loss": heldout_loss if heldout_loss is not None and math.isfinite(heldout_loss) else None,
        "train_loss": last.loss if math.isfinite(last.loss) else None,
        "steps": run.step_count,
        "seconds": round(seconds, 3),
        "seed": settings.seed,
        "forget_bias": settings.forget_bias if settings.cell == "lstm" else None,
        "clip": settings.clip_threshold if settings.clip else None,
        "last_batch_gradient": gradient_verdict(last, settings),
        "stopped": run.stop_reason,
        "settings": settings.to_dict(),
    }


def format_train_result(result: dict) -> str:
    """The text form of :func:`cli_train`'s result, for ``--format text``."""
    acc = result["accuracy"]
    grad = result["last_batch_gradient"]
    if result["learned"] is None:
        learned = "learned           n/a (no held-out evaluation)"
    else:
        points = 100 * result["accuracy_above_chance"]
        word = "yes" if result["learned"] else "no"
        learned = (f"learned           {word} ({points:+.1f} points from chance; learned means more than "
                   f"{100 * result['learned_margin']:.0f} above)")
    lines = [
        f"{result['task']} task, {CELL_LABELS[result['cell']]}, delay {result['delay']}, "
        f"{result['symbols']} symbol(s) of {result['categories']}",
        f"held-out accuracy {acc:.1%}" if acc is not None else "held-out accuracy: none (stopped)",
        f"chance            {result['chance']:.1%}",
        learned,
        f"held-out loss     {result['loss']:.4g}" if result["loss"] is not None else "held-out loss     n/a",
        f"steps             {result['steps']}",
        f"seconds           {result['seconds']:.1f}",
        f"gradient          {grad['badge']}, on {grad['batch']}",
        f"                  {grad['sentence']}",
    ]
    if result["stopped"]:
        lines.append(result["stopped"])
    return "\n".join(lines)


def add_parser(sub) -> None:
    train = sub.add_parser("train", help="train on the copy-memory task and report accuracy")
    add_train_arguments(train)
    train.set_defaults(run=run)


def run(args: argparse.Namespace) -> str:
    use_gradsim_threads()  # this process is the command line's own (the engine never sets threads)
    result = cli_train(args)
    if getattr(args, "format", "json") == "text":
        return format_train_result(result)
    return dumps_json(result)
