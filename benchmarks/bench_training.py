"""Speed of the training lab, as ratios against a plain training step measured in the same run.

    python benchmarks/bench_training.py            # capture overhead per cell (a few seconds)
    python benchmarks/bench_training.py --targets  # also the issue's three outcome runs (about a minute)
    python benchmarks/bench_training.py --gui      # also redraw cost per tab and GUI latency while training

The plain step is what any PyTorch training loop does: forward, backward, clip, optimiser step. The
captured step asks the same backward pass for the gradient of every h_t too and turns them into
||dL/dh_t|| (``backward_capturing``). The lab step is everything ``TrainRun.step`` does besides
(eigenvalues of W_hh, alerts, bookkeeping), without the periodic held-out evaluation. Target of issue 6: captured / plain <= 1.25.

Blocks of the variants are interleaved and the median block is reported, because the machine is shared.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def measure(cell: str, delay: int, rounds: int, per_block: int) -> dict[str, float]:
    import torch

    from gradsim.engine.training import TrainRun, TrainSettings, backward_capturing, make_batch, task_loss

    torch.set_num_threads(1)
    settings = TrainSettings(cell=cell, delay=delay, steps=10**6, eval_every=10**6)
    run = TrainRun(settings)
    batch = make_batch(settings, run.train_rng, settings.batch)
    inputs, targets = torch.from_numpy(batch.inputs), torch.from_numpy(batch.targets)
    params = run.model.parameters()

    def plain() -> None:
        run.optimizer.zero_grad(set_to_none=True)
        out, _ = run.model.forward(inputs, batch.readout, capture=False)
        task_loss(settings, out, targets).backward()
        torch.nn.utils.clip_grad_norm_(params, settings.clip_threshold)
        run.optimizer.step()

    def captured() -> None:
        run.optimizer.zero_grad(set_to_none=True)
        out, states = run.model.forward(inputs, batch.readout, capture=True)
        backward_capturing(task_loss(settings, out, targets), params, states)
        torch.nn.utils.clip_grad_norm_(params, settings.clip_threshold)
        run.optimizer.step()

    def lab() -> None:
        run.step()

    variants = {"plain": plain, "captured": captured, "lab": lab}
    for fn in variants.values():  # warm up
        for _ in range(3):
            fn()
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(rounds):
        for name, fn in variants.items():
            began = time.perf_counter()
            for _ in range(per_block):
                fn()
            times[name].append((time.perf_counter() - began) / per_block)
    return {name: statistics.median(v) for name, v in times.items()}


def targets() -> None:
    from gradsim.engine.training import TrainSettings, cli_train

    cases = [
        ("LSTM, forget bias 3, delay 40 (target >= 95 %)", {"cell": "lstm", "delay": 40, "forget_bias": 3.0}),
        ("vanilla RNN, delay 40 (target: chance)", {"cell": "rnn", "delay": 40}),
        ("vanilla RNN, delay 10 (target >= 90 %)", {"cell": "rnn", "delay": 10}),
        (
            "LSTM, forget bias 0, delay 40 (issue: stays at chance)",
            {"cell": "lstm", "delay": 40, "forget_bias": 0.0},
        ),
    ]
    defaults = TrainSettings()
    print("\noutcomes with the CLI defaults (seed, steps, sizes as `gradsim train`):")
    for label, kw in cases:
        args = argparse.Namespace(
            task="copy",
            symbols=defaults.symbols,
            categories=defaults.categories,
            steps=defaults.steps,
            seed=defaults.seed,
            forget_bias=kw.get("forget_bias", defaults.forget_bias),
            clip=defaults.clip_threshold,
            hidden=defaults.hidden,
            embedding=defaults.embedding,
            activation=defaults.activation,
            init=defaults.init,
            scale=defaults.scale,
            optimizer=defaults.optimizer,
            lr=defaults.lr,
            batch=defaults.batch,
            eval_every=defaults.eval_every,
            save=None,
            cell=kw["cell"],
            delay=kw["delay"],
        )
        r = cli_train(args)
        print(
            f"  {label:58s} accuracy {r['accuracy']:6.1%}  chance {r['chance']:.1%}  "
            f"steps {r['steps']}  {r['seconds']:5.1f} s"
        )


def gui(seconds: float) -> None:
    """Redraw cost per tab with 1000 steps of two models, then the GUI's responsiveness while training."""
    import os

    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QElapsedTimer, QTimer
    from PySide6.QtWidgets import QApplication

    from gradsim.engine.training import TrainSettings, train_side_by_side
    from gradsim.ui.app import MainWindow
    from gradsim.ui.scenes.training import FRAME_MS, ModelTrace

    app = QApplication.instance() or QApplication([])
    window = MainWindow(projector=False, use_settings=False)
    window.resize(1280, 800)
    window.show()
    scene = window.show_scene("training")
    small = {"hidden": 8, "embedding": 4, "batch": 8, "steps": 1000, "delay": 40}
    runs = None
    for row in train_side_by_side([TrainSettings(cell="rnn", **small), TrainSettings(cell="lstm", **small)]):
        runs = [snap.run for snap in row]
    scene._traces = [ModelTrace.from_run(r) for r in runs]
    print("\nredraw cost with 2 models x 1000 steps (T = 42), median of 20 frames:")
    for tab in range(4):
        scene.tabs.setCurrentIndex(tab)
        costs = []
        for _ in range(20):
            clock = QElapsedTimer()
            clock.start()
            scene._draw_all()
            window.repaint()
            app.processEvents()
            costs.append(clock.nsecsElapsed() / 1e6)
        ms = statistics.median(costs)
        print(f"  tab {scene.tabs.tabText(tab).replace('&&', '&'):18s} {ms:6.1f} ms/frame  (at most {1000 / ms:5.0f} fps)")

    scene.reset_run()
    scene.tabs.setCurrentIndex(0)
    gaps: list[float] = []
    clock = QElapsedTimer()
    clock.start()
    last = [0.0]

    def tick() -> None:
        now = clock.nsecsElapsed() / 1e6
        gaps.append(now - last[0])
        last[0] = now

    probe = QTimer()
    probe.setInterval(10)
    probe.timeout.connect(tick)
    frames_before = scene.frames_drawn
    settle = 2.0  # torch import and the first steps: the steady rate is counted after this
    steady: dict[str, float] = {}

    def mark() -> None:
        steady["frames"] = scene.frames_drawn
        steady["t"] = clock.nsecsElapsed() / 1e9

    scene.play_pause()
    probe.start()
    QTimer.singleShot(int(settle * 1000), mark)
    QTimer.singleShot(int(seconds * 1000), app.quit)
    app.exec()
    probe.stop()
    steps = min((tr.step[-1] if tr.step else 0) for tr in scene.traces)
    frames = scene.frames_drawn - frames_before
    steady_rate = (scene.frames_drawn - steady["frames"]) / (clock.nsecsElapsed() / 1e9 - steady["t"])
    scene.shutdown()
    window.close()
    gaps = sorted(gaps[5:]) or [float("nan")]
    print(f"\nwhile training the comparison preset for {seconds:.0f} s (includes start-up):")
    print(f"  {steps} training steps, {frames} redraws ({frames / seconds:.1f}/s; one per new snapshot, "
          f"at most {1000 / FRAME_MS:.0f}/s); after the first {settle:.0f} s: {steady_rate:.1f} redraws/s")
    print(f"  GUI event loop: a 10 ms timer fired every {statistics.median(gaps):.1f} ms (median), "
          f"95th percentile {gaps[int(0.95 * (len(gaps) - 1))]:.1f} ms, worst {gaps[-1]:.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", action="store_true", help="also run the issue's outcome targets")
    parser.add_argument("--gui", action="store_true", help="also measure redraw cost and GUI latency")
    parser.add_argument("--gui-seconds", type=float, default=20.0)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--per-block", type=int, default=10)
    args = parser.parse_args()
    print("per-step time, median of interleaved blocks (batch 64, hidden 64, copy task)")
    print(
        f"{'cell':5s} {'delay':>5s} {'plain ms':>9s} {'captured':>9s} {'lab step':>9s}  captured/plain  lab/plain"
    )
    for cell in ("rnn", "lstm", "gru"):
        for delay in (10, 40):
            t = measure(cell, delay, args.rounds, args.per_block)
            print(
                f"{cell:5s} {delay:5d} {t['plain'] * 1e3:9.2f} {t['captured'] * 1e3:9.2f} {t['lab'] * 1e3:9.2f}"
                f"  {t['captured'] / t['plain']:14.3f} {t['lab'] / t['plain']:10.3f}"
            )
    print("target: captured/plain <= 1.25")
    if args.targets:
        targets()
    if args.gui:
        gui(args.gui_seconds)


if __name__ == "__main__":
    main()
