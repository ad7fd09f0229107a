"""Train a small recurrent model on the adding problem with the gradient monitor on.

The monitor writes a run log while training runs; open it in the app with "File > Open run..." (it
follows the file live) or read it from Python with ``gradsim.monitor.read_run_log``. Try
``--cell rnn --length 100`` to watch a vanilla RNN's gradient die towards the start of the sequence,
and ``--cell lstm`` for the contrast.

    python examples/train_with_monitor.py --log run.gradsim.jsonl --cell rnn --length 60 --steps 200
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from gradsim.engine.tasks import adding_batch  # noqa: E402
from gradsim.monitor import GradientAlert, monitor  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Train on the adding problem with gradsim's gradient monitor.")
    parser.add_argument("--log", default="run.gradsim.jsonl", help="run log to write (default: %(default)s)")
    parser.add_argument("--cell", choices=("rnn", "lstm", "gru"), default="lstm")
    parser.add_argument("--hidden", type=int, default=32)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--bidirectional", action="store_true")
    parser.add_argument("--length", type=int, default=50, help="sequence length T")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--every", type=int, default=1, help="record one step in this many")
    parser.add_argument("--budget", type=float, default=0.2,
                        help="share of the training time recording may take; 0 records every step "
                             "(default: %(default)s)")
    parser.add_argument("--pause", type=float, default=0.0, help="seconds to sleep per step (to watch it live)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    import torch

    torch.manual_seed(args.seed)
    torch.set_num_threads(1)
    rng = np.random.default_rng(args.seed)
    rnn_class = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[args.cell]

    class AddingModel(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.rnn = rnn_class(2, args.hidden, num_layers=args.layers, batch_first=True,
                                 bidirectional=args.bidirectional)
            self.head = torch.nn.Linear(args.hidden * (2 if args.bidirectional else 1), 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            out, _ = self.rnn(x)
            return self.head(out[:, -1])

    model = AddingModel()
    optimiser = torch.optim.Adam(model.parameters(), lr=args.lr)
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("always", GradientAlert)
        warnings.showwarning = lambda message, *rest: print(f"  alert: {message}")
        with monitor(model, log=args.log, every=args.every, budget=args.budget or None) as mon:
            for step in range(1, args.steps + 1):
                batch = adding_batch(rng, args.batch, args.length)
                x = torch.from_numpy(batch.inputs)
                y = torch.from_numpy(batch.targets)
                optimiser.zero_grad()
                loss = torch.nn.functional.mse_loss(model(x), y)
                loss.backward()
                optimiser.step()
                if step % 25 == 0 or step == 1:
                    last = mon.records[-1] if mon.records else None
                    first_t = ""
                    if last is not None:
                        key = mon.series_keys[0]
                        first_t = (f", log10 ||dL/dh_1|| of {key} = {last.layers[key][0]:.2f}"
                                   f" (recorded at step {last.step})")
                    print(f"step {step:4d}  loss {loss.item():.4f}{first_t}")
                if args.pause:
                    time.sleep(args.pause)
    print(f"{len(mon.records)} steps recorded in {time.perf_counter() - started:.1f} s; run log: {args.log}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
