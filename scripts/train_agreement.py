#!/usr/bin/env python3
"""Train the subject-verb agreement models shipped in resources/agreement/models.npz.

For each cell (vanilla RNN, LSTM) and each seed: one model per fixed training distance
(5, 10, ..., 30) and one trained on a uniform mix of distances 1-40, all with the issue's settings
(embedding 16, hidden 32, Adam 3e-3, gradient clipping at 1.0, 800 steps of batch 64, 15 %
attractor nouns among the fillers, LSTM forget bias 2). Then it scores them on held-out sequences
and prints the accuracy-vs-distance table the app's `agreement` scene shows.

The weights are written as a plain .npz of float32 arrays (loaded with allow_pickle=False); the
run settings travel in it as one JSON string. Runs are reproducible from their seeds; bit-for-bit
equality across machines or torch versions is not promised (floating-point summation order).

    python scripts/train_agreement.py                 # everything, 3 seeds, ~10-15 min on 1 core
    python scripts/train_agreement.py --jobs 2        # two processes
    python scripts/train_agreement.py --seeds 0 --out /tmp/models.npz
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gradsim.engine import agreement as ag  # noqa: E402
from gradsim.threads import use_gradsim_threads  # noqa: E402


def _train_one(config: ag.TrainConfig) -> tuple[ag.TrainConfig, dict, float]:
    start = time.perf_counter()
    state = ag.train_model(config)
    return config, state, time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--distances", type=int, nargs="+", default=list(ag.FIXED_DISTANCES))
    parser.add_argument("--cells", nargs="+", default=list(ag.CELLS), choices=ag.CELLS)
    parser.add_argument("--steps", type=int, default=800)
    parser.add_argument("--no-mixed", action="store_true", help="skip the mixed-distance runs")
    parser.add_argument("--jobs", type=int, default=1, help="training processes in parallel")
    parser.add_argument("--out", type=Path, default=ag.default_models_path())
    parser.add_argument("--json", type=Path, help="also write the accuracy curves as JSON here")
    args = parser.parse_args(argv)

    configs = []
    for seed in args.seeds:
        for cell in args.cells:
            for d in [*args.distances, *([] if args.no_mixed else [None])]:
                configs.append(ag.TrainConfig(cell=cell, distance=d, steps=args.steps, seed=seed).validate())

    bank = ag.ModelBank()
    t0 = time.perf_counter()
    use_gradsim_threads()  # the models were trained with gradsim's one torch thread per process
    if args.jobs > 1:
        with ProcessPoolExecutor(max_workers=args.jobs, initializer=use_gradsim_threads) as pool:
            results = list(pool.map(_train_one, configs))
    else:
        results = map(_train_one, configs)
    for config, state, seconds in results:
        bank.add(config, state, seconds)
        print(f"trained {config.key:<16} {seconds:6.1f} s", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    ag.save_models(bank, args.out)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1024:.0f} KiB) in {time.perf_counter() - t0:.0f} s")

    curves = ag.accuracy_curves(ag.load_models(args.out))
    for cell in curves.fixed:
        label = ag.CELL_LABELS[cell]
        row = "  ".join(f"d={int(d)}: {a:5.1%}" for d, a in zip(curves.fixed_distances[cell], curves.fixed_mean(cell), strict=True))
        print(f"{label:<12} fixed, mean of seeds {curves.fixed_seeds[cell]}: {row}")
        for s, accs in zip(curves.fixed_seeds[cell], curves.fixed[cell], strict=True):
            print(f"{'':<12}   seed {s}: " + "  ".join(f"{a:5.1%}" for a in accs))
    for cell in curves.mixed:
        label = ag.CELL_LABELS[cell]
        pick = [0, 4, 9, 19, 29, 39]
        for s, accs in zip(curves.mixed_seeds[cell], curves.mixed[cell], strict=True):
            row = "  ".join(f"d={int(curves.mixed_distances[i])}: {accs[i]:5.1%}" for i in pick if i < len(accs))
            print(f"{label:<12} mixed 1-40, seed {s}: {row}")
    if args.json:
        args.json.write_text(json.dumps(curves.to_dict(), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
