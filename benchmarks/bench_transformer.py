"""The training lab's Transformer: its time per step against the LSTM's (and the vanilla RNN's), and
whether it learns a delay the vanilla RNN does not. Ratios against runs in the same process.

    python benchmarks/bench_transformer.py              # time per training step (about a minute)
    python benchmarks/bench_transformer.py --outcomes   # also the outcome runs (several minutes)

Time per step: ``TrainRun.step`` (forward, the backward pass with the per-position gradient
capture, clipping, the optimiser; no held-out evaluation), one thread, the lab's settings (hidden 64,
batch 64, Adam). The models' steps are interleaved one by one, so a busy machine slows all of them
alike, and the median is reported.

Outcomes: ``gradsim train`` runs to the end (no early stop), seed 3 and two others, held-out
accuracy against chance; the copy task at delay 40 (the lab's first preset) and the adding problem
at length 100.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def time_per_step(task: str, delay: int, cells: tuple[str, ...], steps: int) -> dict[str, float]:
    import torch

    from gradsim.engine.training import TrainRun, TrainSettings

    torch.set_num_threads(1)
    runs = {c: TrainRun(TrainSettings(task=task, cell=c, delay=delay, steps=10**6, eval_every=10**6)) for c in cells}
    for run in runs.values():  # warm up (the first step also evaluates)
        for _ in range(3):
            run.step()
    times: dict[str, list[float]] = {c: [] for c in cells}
    for _ in range(steps):
        for c, run in runs.items():
            t0 = time.perf_counter()
            run.step()
            times[c].append(time.perf_counter() - t0)
    return {c: statistics.median(v) for c, v in times.items()}


def outcome(task: str, cell: str, delay: int, seed: int, steps: int) -> tuple[float, float, float]:
    from gradsim.engine.training import TrainSettings, run_to_end

    settings = TrainSettings(task=task, cell=cell, delay=delay, seed=seed, steps=steps)
    t0 = time.perf_counter()
    last = run_to_end(settings)
    return last.run.curves.accuracy[-1], settings.chance, time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--outcomes", action="store_true", help="also train to the end and report accuracy")
    parser.add_argument("--quick", action="store_true", help="fewer timed steps")
    args = parser.parse_args()
    steps = 10 if args.quick else 30
    cells = ("lstm", "transformer", "rnn")
    print(f"time per training step, median of {steps} interleaved steps, 1 thread, hidden 64, batch 64")
    print(f"{'task':>18} {'T':>5} {'LSTM ms':>8} {'Transformer ms':>15} {'RNN ms':>7} {'Transformer / LSTM':>19}")
    for task, delay in (("copy", 40), ("copy", 200), ("adding", 100)):
        med = time_per_step(task, delay, cells, steps)
        length = delay + 2 if task == "copy" else delay
        print(f"{task + ' delay ' + str(delay) if task == 'copy' else 'adding length ' + str(delay):>18} {length:5d}"
              f" {med['lstm'] * 1e3:8.1f} {med['transformer'] * 1e3:15.1f} {med['rnn'] * 1e3:7.1f}"
              f" {med['transformer'] / med['lstm']:18.2f}x")
    if not args.outcomes:
        return
    print("\noutcomes (held-out accuracy at the end, chance in brackets, wall time)")
    for task, delay, steps_ in (("copy", 40, 1000), ("adding", 100, 1000)):
        for seed in (3, 0, 1):
            cols = []
            for cell in ("rnn", "transformer"):
                acc, chance, secs = outcome(task, cell, delay, seed, steps_)
                cols.append(f"{cell} {acc:6.1%} ({chance:.1%}) {secs:5.1f} s")
            print(f"{task:>7} {delay:4d} seed {seed}: " + "   ".join(cols), flush=True)


if __name__ == "__main__":
    main()
