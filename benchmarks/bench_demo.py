"""Does the training demo hold on any seed? Run ``gradsim train`` with its defaults, both cells, on
seeds drawn at random (or given), and check the promise of CONTRACTS section 3.

    python benchmarks/bench_demo.py                   # 10 seeds drawn now (printed, so a run can be repeated)
    python benchmarks/bench_demo.py --seeds 3,11,21   # these seeds
    python benchmarks/bench_demo.py --count 20
    python benchmarks/bench_demo.py -- --delay 40     # anything after -- goes to every gradsim train

The promise, with every task setting at its default: the vanilla RNN ends within 10 points of chance,
the LSTM (forget bias 3, the default) at >= 95 % held-out accuracy, and each run takes at most 60 s.
Each run is one ``gradsim train`` process, run one at a time, exactly as a user would start it: one
torch thread (the training engine sets it). Two times are printed per run: ``cpu s``, the CPU time
of the whole process (Python and torch start-up included), which is what the run takes when it has
a core to itself, and ``wall s``, what it took on this machine just now. The 60 s limit applies to
the CPU time, because on a machine shared with other work (see the load averages printed before and
after) the wall time measures the other work as much as the demo; with the machine to itself the two
agree (the run is single-threaded).

Exit status 0 when every row passes, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RNN_MARGIN = 0.10  # the RNN must end within 10 points of chance
LSTM_TARGET = 0.95
SECONDS_LIMIT = 60.0


def train(cell: str, seed: int, extra: list[str]) -> tuple[dict, float, float]:
    """One ``gradsim train`` process: its JSON, CPU seconds (user + system) and wall seconds."""
    cmd = [sys.executable, "-m", "gradsim", "train", "--cell", cell, "--seed", str(seed), "--format", "json", *extra]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=900)
    wall = time.perf_counter() - began
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode != 0:
        raise SystemExit(f"gradsim train failed ({' '.join(cmd[3:])}): {proc.stderr.strip()}")
    return json.loads(proc.stdout), cpu, wall


def load() -> str:
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "n/a"


def main() -> int:
    argv = sys.argv[1:]
    extra: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, extra = argv[:cut], argv[cut + 1 :]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", help="comma-separated seeds (default: --count seeds drawn at random)")
    parser.add_argument("--count", type=int, default=10, help="how many random seeds (default 10)")
    args = parser.parse_args(argv)
    if args.seeds:
        seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    else:
        seeds = random.SystemRandom().sample(range(2**31), args.count)
    print(f"seeds: {','.join(map(str, seeds))}")
    print(f"extra arguments: {' '.join(extra) or '(none: the defaults)'}")
    print(f"load average before: {load()}")
    print("| seed | vanilla RNN accuracy | LSTM accuracy | chance | RNN cpu s / wall s | LSTM cpu s / wall s | result |")
    print("|" + "---|" * 7)
    failures = 0
    first = None
    for seed in seeds:
        rnn, rnn_cpu, rnn_wall = train("rnn", seed, extra)
        lstm, lstm_cpu, lstm_wall = train("lstm", seed, extra)
        first = first or rnn
        chance = rnn["chance"]
        ok_rnn = rnn["accuracy"] is not None and rnn["accuracy"] <= chance + RNN_MARGIN
        ok_lstm = lstm["accuracy"] is not None and lstm["accuracy"] >= LSTM_TARGET
        ok_time = max(rnn_cpu, lstm_cpu) <= SECONDS_LIMIT
        ok = ok_rnn and ok_lstm and ok_time
        failures += not ok
        why = [w for w, good in (("RNN learned", ok_rnn), ("LSTM below 95 %", ok_lstm), ("over 60 s", ok_time))
               if not good]
        print(f"| {seed} | {rnn['accuracy']:.1%} | {lstm['accuracy']:.1%} | {chance:.1%} "
              f"| {rnn_cpu:.1f} / {rnn_wall:.1f} | {lstm_cpu:.1f} / {lstm_wall:.1f} "
              f"| {'pass' if ok else 'FAIL: ' + ', '.join(why)} |", flush=True)
    print(f"load average after: {load()}")
    if first is not None:
        s = first["settings"]
        shown = {k: s[k] for k in ("task", "symbols", "categories", "delay", "hidden", "embedding", "batch", "lr", "steps",
                                   "clip_threshold", "forget_bias", "eval_size", "stop_accuracy")}
        print(f"settings: {json.dumps(shown)}")
    print(f"{len(seeds) - failures} of {len(seeds)} seeds pass "
          f"(rnn <= chance + {RNN_MARGIN:.0%}, lstm >= {LSTM_TARGET:.0%}, each run <= {SECONDS_LIMIT:.0f} s of CPU time)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
