"""Speed of the training lab, as ratios against a plain training step measured in the same run.

    python benchmarks/bench_training.py            # capture overhead per cell (a few seconds)
    python benchmarks/bench_training.py --targets  # also the issue's three outcome runs (about a minute)
    python benchmarks/bench_training.py --gui      # also redraw cost per tab and GUI latency while training
    python benchmarks/bench_training.py --gui-only --gui-size 1920x1080 --projector   # just those, one look

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
    from gradsim.cli.train import add_train_arguments, cli_train
    from gradsim.engine.training import TrainSettings

    parser = argparse.ArgumentParser(prog="gradsim train")
    add_train_arguments(parser)  # the command line's own defaults, as `gradsim train` reads them

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
        args = parser.parse_args(["--cell", kw["cell"], "--delay", str(kw["delay"]),
                                  "--forget-bias", str(kw.get("forget_bias", defaults.forget_bias))])
        r = cli_train(args)
        print(
            f"  {label:58s} accuracy {r['accuracy']:6.1%}  chance {r['chance']:.1%}  "
            f"steps {r['steps']}  {r['seconds']:5.1f} s"
        )


def gui(seconds: float, size: str = "1280x800", projector: bool = False, live_tab: int = 0, frames: int = 20) -> None:
    """Redraw cost per tab with two models at about 1000 steps, then the GUI's responsiveness while training.

    A live frame is what the scene's frame timer does while training: one new snapshot per model,
    then ``draw_now`` (the status lines and the view on show) and the event loop painting what changed.
    Besides the wall-clock time, the GUI thread's own CPU time is reported: on a machine shared with
    other work it is the steadier measure (the wall clock also counts the time other processes run). The whole-window repaint beside it
    is the worst case (everything repainted at once, as when the window is exposed or resized).
    """
    import os

    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    cpu = time.thread_time
    from PySide6.QtCore import QElapsedTimer, QTimer
    from PySide6.QtWidgets import QApplication

    from gradsim.engine.training import TrainSettings, train_side_by_side
    from gradsim.ui.app import MainWindow
    from gradsim.ui.lab.session import FRAME_MS
    from gradsim.ui.lab.traces import ModelTrace

    app = QApplication.instance() or QApplication([])
    window = MainWindow(projector=projector, use_settings=False)
    width, height = (int(v) for v in size.split("x"))
    window.resize(width, height)
    window.show()
    scene = window.show_scene("training")
    small = {"hidden": 8, "embedding": 4, "batch": 8, "steps": 1000, "delay": 40}
    rows = list(train_side_by_side([TrainSettings(cell="rnn", **small), TrainSettings(cell="lstm", **small)]))
    start = len(rows) - 3 * frames
    mode = "projector" if projector else "normal"
    print(f"\nredraw cost with 2 models x 1000 steps (T = 42), window {size} {mode}, median of {frames} frames:")
    print(f"  {'tab':18s} {'live frame':>10s} {'(draw':>6s} {'+ paint)':>9s} {'fps':>6s} {'GUI CPU':>8s}   "
          f"{'whole window':>12s} {'fps':>6s} {'GUI CPU':>8s}")
    for tab in range(4):
        scene.tabs.setCurrentIndex(tab)
        scene.session.traces = [ModelTrace(snap.run.settings) for snap in rows[0]]
        for row in rows[:start]:
            for trace, snap in zip(scene.session.traces, row, strict=True):
                trace.add(snap)
        scene.draw_now()
        window.repaint()
        app.processEvents()
        draw, paint, whole, live_cpu, whole_cpu = [], [], [], [], []
        for k in range(frames):
            for trace, snap in zip(scene.session.traces, rows[start + k], strict=True):
                trace.add(snap)
            clock = QElapsedTimer()
            clock.start()
            began = cpu()
            scene.draw_now()
            drawn = clock.nsecsElapsed() / 1e6
            app.processEvents()  # the event loop paints what the redraw changed, as in the app
            live_cpu.append((cpu() - began) * 1e3)
            draw.append(drawn)
            paint.append(clock.nsecsElapsed() / 1e6 - drawn)
        for _ in range(frames // 2):
            clock = QElapsedTimer()
            clock.start()
            began = cpu()
            window.repaint()
            whole_cpu.append((cpu() - began) * 1e3)
            whole.append(clock.nsecsElapsed() / 1e6)
        d, p, w = statistics.median(draw), statistics.median(paint), statistics.median(whole)
        live = statistics.median([a + b for a, b in zip(draw, paint, strict=True)])
        print(f"  {scene.tabs.tabText(tab).replace('&&', '&'):18s} {live:7.1f} ms {d:6.1f} {p:6.1f} ms "
              f"{1000 / live:6.0f} {statistics.median(live_cpu):5.1f} ms   {w:9.1f} ms {1000 / w:6.0f} "
              f"{statistics.median(whole_cpu):5.1f} ms")
    print(f"  goal: a live frame <= {1000 / 30:.1f} ms (30 fps); the frame timer asks for at most "
          f"{1000 / FRAME_MS:.0f} fps")

    scene.reset_run()
    scene.tabs.setCurrentIndex(live_tab)
    gaps: list[float] = []
    clock = QElapsedTimer()
    clock.start()
    last = [0.0]

    def tick() -> None:
        now = clock.nsecsElapsed() / 1e6
        gaps.append(now - last[0])
        last[0] = now

    ticks: list[float] = []  # the scene's frame timer: late ticks are frames the GUI could not keep up with
    scene.session.timer.timeout.connect(lambda: ticks.append(clock.nsecsElapsed() / 1e6))

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
    steps = min(tr.steps_done for tr in scene.traces)
    frames = scene.frames_drawn - frames_before
    steady_rate = (scene.frames_drawn - steady["frames"]) / (clock.nsecsElapsed() / 1e9 - steady["t"])
    scene.shutdown()
    window.close()
    gaps = sorted(gaps[5:]) or [float("nan")]
    tab_name = scene.tabs.tabText(live_tab).replace("&&", "&")
    print(f"\nwhile training the first preset for {seconds:.0f} s (includes start-up), tab {tab_name}:")
    print(f"  {steps} training steps, {frames} redraws ({frames / seconds:.1f}/s; one per new snapshot, "
          f"at most {1000 / FRAME_MS:.0f}/s); after the first {settle:.0f} s: {steady_rate:.1f} redraws/s")
    print(f"  GUI event loop: a 10 ms timer fired every {statistics.median(gaps):.1f} ms (median), "
          f"95th percentile {gaps[int(0.95 * (len(gaps) - 1))]:.1f} ms, worst {gaps[-1]:.1f} ms")
    late = sorted(b - a for a, b in zip(ticks, ticks[1:], strict=False) if a >= settle * 1000)
    if late:
        print(f"  frame timer ({FRAME_MS} ms) after the first {settle:.0f} s: a tick every {statistics.median(late):.1f} ms "
              f"(median), 95th percentile {late[int(0.95 * (len(late) - 1))]:.1f} ms, worst {late[-1]:.1f} ms; "
              f"{1000 / statistics.median(late):.0f} frames/s offered (goal 30)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", action="store_true", help="also run the issue's outcome targets")
    parser.add_argument("--gui", action="store_true", help="also measure redraw cost and GUI latency")
    parser.add_argument("--gui-only", action="store_true", help="only the --gui measurements")
    parser.add_argument("--gui-seconds", type=float, default=20.0)
    parser.add_argument("--gui-size", default="1280x800", help="window size for --gui, WxH")
    parser.add_argument("--projector", action="store_true", help="--gui in projector mode")
    parser.add_argument("--gui-tab", type=int, default=0, choices=range(4),
                        help="tab shown while training live (0 accuracy & loss ... 3 grad norm)")
    parser.add_argument("--gui-frames", type=int, default=20, help="frames per tab for --gui (at most 300)")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--per-block", type=int, default=10)
    args = parser.parse_args()
    if args.gui_only:
        gui(args.gui_seconds, args.gui_size, args.projector, args.gui_tab, min(args.gui_frames, 300))
        return
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
        gui(args.gui_seconds, args.gui_size, args.projector, args.gui_tab, min(args.gui_frames, 300))


if __name__ == "__main__":
    main()
