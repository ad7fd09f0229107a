"""What does ``gradsim.monitor`` cost? Ratios against the same training step without it, same run.

A training step here is what a user's loop does: ``zero_grad``, forward through an embedding-free
model (recurrent module plus a linear head), a cross-entropy loss on every timestep, ``backward`` and
an Adam update, float32 on one thread. Each configuration is timed without the monitor, with
``every=1`` (every step recorded, ``budget=None``), with ``every=10``, and with the default
``budget=0.2`` (steps skipped to keep recording under 20 % of the training time). The goal of issue 8
is an overhead under 20 % of a step.

Why the cells differ: PyTorch's CPU ``nn.RNN`` and ``nn.GRU`` run one autograd node per timestep, and
the monitor reads the totals at those nodes (a Python call per timestep). oneDNN's fused LSTM hides
its timesteps, so the monitor rebuilds the totals with the backward recurrence: the gate values of
every step again and one more sequential product per step, about two thirds of the recurrent work
of a training step. The budget is what keeps that under 20 %, by recording fewer LSTM steps.

Run: ``python benchmarks/bench_monitor.py`` (``--quick`` for fewer repeats).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

CONFIGS = [
    # cell, hidden, layers, bidirectional, steps T, batch
    ("lstm", 64, 1, False, 50, 32),
    ("lstm", 128, 2, False, 100, 32),
    ("lstm", 128, 2, True, 100, 32),
    ("gru", 128, 2, False, 100, 32),
    ("rnn", 128, 2, False, 100, 32),
    ("lstm", 256, 1, False, 200, 64),
]


class Model:
    """Recurrent module plus a linear head over every timestep (built lazily: torch imported here)."""

    def __init__(self, cell: str, hidden: int, layers: int, bidirectional: bool):
        import torch

        torch.manual_seed(0)
        rnn_class = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell]
        self.net = torch.nn.ModuleDict(
            {
                "rnn": rnn_class(16, hidden, num_layers=layers, bidirectional=bidirectional, batch_first=True),
                "head": torch.nn.Linear(hidden * (2 if bidirectional else 1), 10),
            }
        )
        self.opt = torch.optim.Adam(self.net.parameters(), lr=1e-3)

    def step(self, x, y) -> None:
        import torch

        self.opt.zero_grad(set_to_none=True)
        out, _ = self.net["rnn"](x)
        logits = self.net["head"](out)
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, 10), y.reshape(-1))
        loss.backward()
        self.opt.step()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    args = parser.parse_args()
    import torch

    from gradsim.monitor.core import Monitor

    torch.set_num_threads(1)
    rounds = 4 if args.quick else 8
    block = 10  # steps per timed block: with every=10 each block holds exactly one recorded step
    print(f"torch {torch.__version__}, 1 thread, process CPU time per step. plain / every=1 / every=10:")
    print(f"fastest of {rounds} interleaved blocks of {block} steps; budget=0.2 (the default): mean over one")
    print("continuous run of at least 3 s of steps against plain's mean over as many steps, same run.")
    print(
        f"{'model':<34} {'plain ms':>9} {'every=1':>9} {'ratio':>6} {'every=10':>9} {'ratio':>6}"
        f" {'budget=.2':>9} {'ratio':>6} {'recorded':>8}"
    )
    for cell, hidden, layers, bi, steps, batch in CONFIGS:
        model = Model(cell, hidden, layers, bi)
        gen = torch.Generator().manual_seed(1)
        x = torch.randn(batch, steps, 16, generator=gen)
        y = torch.randint(0, 10, (batch, steps), generator=gen)
        model.step(x, y)  # warm-up

        def run(count: int, model=model, x=x, y=y) -> float:
            # CPU time of this process (one thread): other processes on a shared machine stretch wall
            # time by a factor of two or three between runs, but barely touch this.
            t0 = time.process_time()
            for _ in range(count):
                model.step(x, y)
            return (time.process_time() - t0) / count

        def with_monitor(every: int, model=model, x=x, y=y) -> float:
            # The warning of a vanishing alert is not part of what is measured.
            mon = Monitor(model.net, every=every, budget=None, warn=False)
            try:
                return run(block)
            finally:
                mon.remove()

        best = {"plain": float("inf"), "every1": float("inf"), "every10": float("inf")}
        for _ in range(rounds):
            best["plain"] = min(best["plain"], run(block))
            best["every1"] = min(best["every1"], with_monitor(1))
            best["every10"] = min(best["every10"], with_monitor(10))
        # The budget is a long-run share (the first step is always recorded): run about 3 s of steps.
        long_run = max(rounds * block, int(3.0 / best["plain"]))
        plain_mean = run(long_run)
        mon = Monitor(model.net, warn=False)  # the default: budget=0.2
        try:
            budget_mean = run(long_run)
            recorded = f"{len(mon.records)}/{long_run}"
        finally:
            mon.remove()
        label = f"{cell} H={hidden} L={layers}{' bi' if bi else ''} T={steps} B={batch}"
        print(
            f"{label:<34} {best['plain'] * 1e3:9.2f} {best['every1'] * 1e3:9.2f} "
            f"{best['every1'] / best['plain']:6.2f} {best['every10'] * 1e3:9.2f} "
            f"{best['every10'] / best['plain']:6.2f} {budget_mean * 1e3:9.2f} {budget_mean / plain_mean:6.2f}"
            f" {recorded:>8}"
        )


if __name__ == "__main__":
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        main()
