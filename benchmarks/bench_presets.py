"""Do the training lab's presets show what their titles say, on ten seeds? Trains every model of
every training preset (and of every built-in lesson step on the lab) that claims an outcome, as the
lab does (``gradsim.states.training.outcome``: side by side, to the last step), and prints a table.

    OMP_NUM_THREADS=1 python benchmarks/bench_presets.py                 # seeds 0-9 (a while)
    OMP_NUM_THREADS=1 python benchmarks/bench_presets.py --seeds 3,11 --presets demo,forget

"learns" means a held-out accuracy of at least 95 % at the last step, "fails" ending within 10 points
of chance, "diverges" a loss that stopped being a number (issue 15). The test suite checks the same
claims on two random seeds per preset (``tests/engine/test_claims.py``, marked slow); this script is
the full check. ``seconds`` is each model's own training time (``TrainRun.seconds``, one torch
thread), ``steps`` the optimiser steps it took (a run stops early at 99 % held-out accuracy) and
``ms/step`` the two divided, as the lab's status line shows it; the first preset is the command line's demo, whose runs should each take at most 60 s on
this machine. The load average before and after is printed: a shared machine slows every run.

Exit status 0 when every claim held on every seed, 1 otherwise.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

DEMO_SECONDS = 60.0


def load() -> str:
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "n/a"


def claims(wanted: set[str] | None) -> list[tuple[str, dict, dict]]:
    from gradsim.lesson import load_builtin_lesson
    from gradsim.presets import load_presets

    out = [(f"preset {p.preset_id}", {"preset": p.preset_id}, p.expect) for p in load_presets("training")
           if p.expect is not None and (wanted is None or p.preset_id in wanted)]
    if wanted is None:
        presets = {p.preset_id: p.expect for p in load_presets("training")}
        for i, step in enumerate(load_builtin_lesson().steps, start=1):
            if step.scene != "training" or step.expect is None:
                continue
            if set(step.settings) == {"preset"} and presets.get(step.settings["preset"]) == step.expect:
                print(f"lesson step {i} shows preset {step.settings['preset']} and claims what it claims")
                continue
            out.append((f"lesson step {i}", step.settings, step.expect))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default=",".join(str(s) for s in range(10)), help="comma-separated seeds")
    parser.add_argument("--presets", default=None, help="comma-separated preset ids (default: all that claim)")
    args = parser.parse_args()
    from gradsim.presets import claim_holds, load_presets
    from gradsim.states.training import TrainingState, model_names, outcome

    seeds = [int(s) for s in args.seeds.split(",")]
    wanted = set(args.presets.split(",")) if args.presets else None
    first = load_presets("training")[0].preset_id
    print(f"load average before: {load()}; torch threads: 1 (set by the training engine)")
    failures, slow = 0, 0
    began = time.perf_counter()
    for what, settings, expect in claims(wanted):
        print(f"\n{what}: claims {expect}")
        print(f"  {'seed':>6s}  {'model':28s} {'held-out':>9s} {'chance':>7s} {'verdict':>9s} {'seconds':>8s} "
              f"{'steps':>6s} {'ms/step':>8s}")
        held = 0
        for seed in seeds:
            state = TrainingState.from_settings({**settings, "seed": seed})
            result = outcome(state)
            ok = claim_holds(expect, result)
            held += ok
            names = model_names(state.models)
            for k, (model, runs_names) in enumerate(zip(state.models, names, strict=True)):
                accuracy = result.accuracy[runs_names[0]]
                verdict = {True: "learned", False: "failed", "diverged": "diverged", None: "neither"}[
                    result[runs_names[0]]]
                seconds = result.seconds[runs_names[0]]
                steps = result.steps[runs_names[0]]
                if what == f"preset {first}" and seconds > DEMO_SECONDS:
                    slow += 1
                label = f"{'/'.join(runs_names)} {model.cell}"
                acc = "n/a" if accuracy is None else f"{100 * accuracy:.1f} %"
                print(f"  {seed if k == 0 else '':>6}  {label:28s} {acc:>9s} {100 * result.chance:6.1f} % "
                      f"{verdict:>9s} {seconds:8.1f} {steps:6d} {1000 * seconds / max(steps, 1):8.1f}"
                      + ("" if k or ok else "   <- claim does not hold"))
        failures += len(seeds) - held
        print(f"  held on {held} of {len(seeds)} seeds")
    print(f"\n{failures} seed(s) where a claim did not hold; {slow} demo run(s) over {DEMO_SECONDS:.0f} s; "
          f"{time.perf_counter() - began:.0f} s in all; load average after: {load()}")
    return 0 if failures == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
