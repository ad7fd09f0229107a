"""How fast is the three-cell comparison of the ``gates`` scene? Ratios against baselines measured
in the same run.

What is timed:
- ``compare_cells``: vanilla RNN, LSTM and GRU gradient flow on the same inputs, exact log10 norms
  (what one control change of the scene costs in the worker),
- per cell, ``gated_gradient_flow`` for the LSTM and the GRU alone,
- baseline: torch float64 autograd with ``retain_grad`` on every ``h_t`` (and ``c_t``) through
  hand-written cells, for RNN + LSTM + GRU (the seeds' method; it underflows to 0 past 1e-308),
- baseline: ``torch.nn.LSTM`` + ``nn.GRU`` one fused forward and one backward (no per-step
  gradients at all: a floor for anything built on torch's kernels).

The goal (issue 5): a control change redraws within 100 ms at (T = 200, n = 64) on a 2-core CPU, so
the engine's share should stay well below that.

The LSTM and GRU columns run the step functions of ``gradsim.engine.equations`` (the cells' one
home) for the forward pass. An in-place copy of that forward pass, kept "for speed", was timed here
against them until this benchmark showed it not clearly faster (the step functions took 0.86-0.93x
its time at (200, 64), 1.0-1.2x at (1000, 128)); it was deleted, and these columns time what
replaced it against the same baselines.

``--against REV`` (default ``main``) loads ``gradsim/engine/cells.py`` as it was at that git
revision and times its forward pass, backward pass and ``gated_flow`` against this checkout's on
the same networks in the same run, checking that both give the same numbers bit for bit: how a
change to the gates engine is measured.

The five-model comparison (issue 20: RNN, LSTM, GRU, residual RNN, self-attention, with ``||dL/dx_t||``
for each) is timed against the three-cell one in the same run, as a ratio: what a slider step of the
gates scene costs when it shows all five.

Run: ``python benchmarks/bench_cells.py`` (add ``--quick`` for fewer repeats, ``--gui`` to time the
scene's whole redraw, engine plus drawing, and a real slider step, offscreen, in both comparisons;
``--gui-only`` for that alone).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import replace

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from gradsim.engine import GeneratorSettings  # noqa: E402
from gradsim.engine.additive import attention_gradient_flow, compare_models, residual_flow  # noqa: E402
from gradsim.engine.cells import build_network, compare_cells, gated_gradient_flow  # noqa: E402


def best_of(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def retain_grad_three(settings: GeneratorSettings):
    """RNN, LSTM and GRU by plain autograd with retain_grad on every state (weights prepared outside)."""
    import torch

    sc = replace(settings, cell="rnn").build()
    rnn_w, rnn_u, x = torch.tensor(sc.W_hh), torch.tensor(sc.W_xh), torch.tensor(sc.x)
    nets = {cell: build_network(settings, cell) for cell in ("lstm", "gru")}
    tensors = {cell: [torch.tensor(a) for a in (net.weight_ih, net.weight_hh, net.bias_ih, net.bias_hh)]
               for cell, net in nets.items()}
    n = settings.hidden

    def run():
        norms = []
        h = torch.zeros(n, dtype=torch.float64, requires_grad=True)
        hs = []
        for t in range(x.shape[0]):
            h = torch.tanh(rnn_w @ h + rnn_u @ x[t])
            h.retain_grad()
            hs.append(h)
        h.sum().backward()
        norms.append([s.grad.norm().item() for s in hs])
        w_ih, w_hh, b_ih, b_hh = tensors["lstm"]
        h = torch.zeros(n, dtype=torch.float64, requires_grad=True)
        c = torch.zeros(n, dtype=torch.float64, requires_grad=True)
        hs, cs = [], []
        for t in range(x.shape[0]):
            pre = w_ih @ x[t] + b_ih + w_hh @ h + b_hh
            i, f, g, o = pre[:n].sigmoid(), pre[n : 2 * n].sigmoid(), pre[2 * n : 3 * n].tanh(), pre[3 * n :].sigmoid()
            c = f * c + i * g
            c.retain_grad()
            h = o * torch.tanh(c)
            h.retain_grad()
            hs.append(h)
            cs.append(c)
        h.sum().backward()
        norms.append([s.grad.norm().item() for s in hs] + [s.grad.norm().item() for s in cs])
        w_ih, w_hh, b_ih, b_hh = tensors["gru"]
        h = torch.zeros(n, dtype=torch.float64, requires_grad=True)
        hs = []
        for t in range(x.shape[0]):
            xi, hh = w_ih @ x[t] + b_ih, w_hh @ h + b_hh
            r, z = (xi[:n] + hh[:n]).sigmoid(), (xi[n : 2 * n] + hh[n : 2 * n]).sigmoid()
            cand = torch.tanh(xi[2 * n :] + r * hh[2 * n :])
            h = (1 - z) * cand + z * h
            h.retain_grad()
            hs.append(h)
        h.sum().backward()
        norms.append([s.grad.norm().item() for s in hs])
        return norms

    return run


def against_revision(revision: str, repeats: int) -> None:
    """The gates engine's forward pass, backward pass and whole ``gated_flow`` against the same
    functions at ``revision`` (default ``main``), on the same networks, alternated run by run so
    that a busy machine slows both alike; every result must be equal to the last bit."""
    import numpy as np
    from at_revision import module_at

    from gradsim.engine import cells

    try:
        before = module_at(revision, "gradsim/engine/cells.py")
    except Exception as exc:  # noqa: BLE001 - no git, or no such revision: say so and go on
        print(f"\n(no comparison with {revision}: {exc})")
        return

    def same(x, y) -> bool:
        if isinstance(x, dict):
            return all(np.array_equal(x[k], y[k]) for k in x)
        if isinstance(x, tuple):
            return all(np.array_equal(a, b, equal_nan=True) for a, b in zip(x, y, strict=True))
        return np.array_equal(x.log10_grad_norm, y.log10_grad_norm, equal_nan=True) and np.array_equal(
            x.log10_input_grad_norm, y.log10_input_grad_norm, equal_nan=True)

    print(f"\nthe gates engine against {revision} (this checkout's time / {revision}'s, best of {3 * repeats})")
    print(f"{'(T, n)':>12} {'cell':>5} {'forward':>8} {'backward':>9} {'gated_flow':>11} {'ms now':>7} {'bit for bit':>12}")
    for steps, n in [(200, 32), (1000, 32), (200, 64), (1000, 128)]:
        s = GeneratorSettings(hidden=n, input=4, steps=steps, forget_bias=3.0)
        for cell in ("lstm", "gru"):
            net = build_network(s, cell)
            fw = cells._forward(net)
            parts = {"forward": (lambda m, net=net: m._forward(net)),
                     "backward": (lambda m, net=net, fw=fw, cell=cell: getattr(m, f"_{cell}_backward")(net, fw)),
                     "gated_flow": (lambda m, net=net: m.gated_flow(net))}
            ratios, equal, now = [], True, 0.0
            for fn in parts.values():
                equal &= same(fn(cells), fn(before))
                t_now, t_then = [], []
                for _ in range(3 * repeats):
                    t0 = time.perf_counter()
                    fn(cells)
                    t1 = time.perf_counter()
                    fn(before)
                    t_then.append(time.perf_counter() - t1)
                    t_now.append(t1 - t0)
                ratios.append(min(t_now) / min(t_then))
                now = min(t_now)
            print(f"{str((steps, n)):>12} {cell:>5} {ratios[0]:7.2f}x {ratios[1]:8.2f}x {ratios[2]:10.2f}x"
                  f" {now * 1e3:7.1f} {str(bool(equal)):>12}")
    print("bit for bit: states, gates, log10 norms (and the result's) equal to the last bit")


def fused_modules(settings: GeneratorSettings):
    import torch

    mods = []
    for cell, cls in (("lstm", torch.nn.LSTM), ("gru", torch.nn.GRU)):
        net = build_network(settings, cell)
        mod = cls(settings.input, settings.hidden).double()
        mod.load_state_dict(net.state_dict())
        mods.append(mod)
    x = torch.tensor(net.x)[:, None]

    def run():
        for mod in mods:
            out, _ = mod(x)
            out[-1].sum().backward()

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--gui", action="store_true", help="also time a full redraw of the gates scene (offscreen)")
    parser.add_argument("--gui-only", action="store_true", help="only the redraw of the gates scene")
    parser.add_argument("--against", default="main", metavar="REV",
                        help="git revision whose gates engine the forward and backward passes are timed against")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    repeats = 3 if args.quick else 7
    if args.gui_only:
        gui_redraw(repeats)
        return
    print(f"gates benchmark (RNN + LSTM + GRU), float64, 1 thread, best of {repeats}")
    print(f"{'(T, n)':>12} {'3 cells ms':>11} {'LSTM ms':>8} {'GRU ms':>7} {'retain_grad ms':>15}"
          f" {'fused fwd+bwd ms':>17} {'vs retain_grad':>15} {'vs fused':>9} {'of 100 ms':>10}")
    for steps, n in [(50, 32), (200, 64), (1000, 64), (1000, 128)]:
        s = GeneratorSettings(hidden=n, input=4, steps=steps, forget_bias=1.0)
        ours = best_of(lambda s=s: compare_cells(s), repeats)
        lstm = best_of(lambda s=s: gated_gradient_flow(replace(s, cell="lstm")), repeats)
        gru = best_of(lambda s=s: gated_gradient_flow(replace(s, cell="gru")), repeats)
        retain = best_of(retain_grad_three(s), max(2, repeats // 2))
        fused = best_of(fused_modules(s), repeats)
        print(f"{str((steps, n)):>12} {ours * 1e3:11.1f} {lstm * 1e3:8.1f} {gru * 1e3:7.1f} {retain * 1e3:15.1f}"
              f" {fused * 1e3:17.1f} {retain / ours:14.1f}x {ours / fused:8.2f}x {ours / 0.1:9.0%}")
    print("vs retain_grad: how many times faster the exact three-cell comparison is than plain autograd;")
    print("vs fused: our time over one fused nn.LSTM + nn.GRU forward+backward (which gives no per-step norms);")
    print("of 100 ms: share of the redraw budget at that size (goal: (200, 64) well under 100%)")
    against_revision(args.against, repeats)
    five_models(repeats)
    if args.gui:
        gui_redraw(repeats)


def five_models(repeats: int) -> None:
    """The five-model comparison against the three-cell one, alternated run by run so that a busy
    machine slows both sides alike; best of ``3 * repeats`` each."""
    print("\nfive models (RNN, LSTM, GRU, residual RNN, attention; ||dL/dx_t|| for each) vs the three cells")
    print(f"{'(T, n)':>12} {'3 cells ms':>11} {'5 models ms':>12} {'residual ms':>12} {'attention ms':>13}"
          f" {'5 / 3':>7} {'of 100 ms':>10}")
    for steps, n in [(50, 32), (200, 64), (1000, 64), (1000, 128)]:
        s = GeneratorSettings(hidden=n, input=4, steps=steps, forget_bias=1.0)
        base = s.build()
        compare_cells(s)
        compare_models(s)
        three, five = [], []
        for _ in range(3 * repeats):
            t0 = time.perf_counter()
            compare_cells(s)
            t1 = time.perf_counter()
            compare_models(s)
            t2 = time.perf_counter()
            three.append(t1 - t0)
            five.append(t2 - t1)
        residual = best_of(lambda s=s, base=base: residual_flow(base, s.residual_scale), repeats)
        attention = best_of(lambda s=s, base=base: attention_gradient_flow(s, base=base), repeats)
        t3, t5 = min(three), min(five)
        print(f"{str((steps, n)):>12} {t3 * 1e3:11.1f} {t5 * 1e3:12.1f} {residual * 1e3:12.2f} {attention * 1e3:13.2f}"
              f" {t5 / t3:6.2f}x {t5 / 0.1:9.0%}")
    print("5 / 3: the five-model comparison's time over the three-cell one (same settings, same run)")


def gui_redraw(repeats: int) -> None:
    """A whole control change in the real scene, offscreen, for both comparisons (the gates: RNN +
    LSTM + GRU; the additive path: all five models by ``||dL/dx_t||``):

    - engine: the worker's function (``compute_gates``) on the GUI thread, timed alone;
    - draw: ``on_result`` (every view) plus the events it causes, painting included;
    - slider: a real slider step (the hidden size, alternating n and n - 1) from ``setValue`` to
      the ``drawn`` signal and the paint after it, through the undo stack and the worker thread:
      what a presenter waits for while dragging.
    """
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    from gradsim.states.gates import GatesState
    from gradsim.ui.app import MainWindow
    from gradsim.ui.scenes.gates import compute_gates

    app = QApplication.instance() or QApplication([])
    window = MainWindow(use_settings=False)
    window.resize(1280, 800)
    window.show()
    window._follow_size()
    scene = window.show_scene("gates")

    def wait_drawn() -> None:
        loop = QEventLoop()
        scene.drawn.connect(loop.quit)
        QTimer.singleShot(60_000, loop.quit)
        loop.exec()
        scene.drawn.disconnect(loop.quit)
        app.processEvents()

    print(f"\nwhole redraw of the gates scene, 1280x800, best of {repeats}")
    print(f"{'comparison':>12} {'(T, n)':>11} {'engine ms':>10} {'draw ms':>8} {'total ms':>9} {'slider ms':>10}"
          f" {'of 100 ms':>10}")
    for compare in ("gates", "additive"):
        for steps, n in [(200, 64), (1000, 64)]:
            state = GatesState(compare=compare, steps=steps, hidden=n)
            scene.apply_settings(state.to_dict())
            wait_drawn()
            job = state.job()
            engine_times, draw_times, slider_times = [], [], []
            for k in range(repeats):
                t0 = time.perf_counter()
                result = compute_gates(job)
                t1 = time.perf_counter()
                scene.on_result(result, "main")
                app.processEvents()
                t2 = time.perf_counter()
                engine_times.append(t1 - t0)
                draw_times.append(t2 - t1)
                t3 = time.perf_counter()
                scene.hidden.setValue(n - 1 if k % 2 == 0 else n)
                wait_drawn()
                slider_times.append(time.perf_counter() - t3)
            engine, draw, slider = min(engine_times), min(draw_times), min(slider_times)
            print(f"{compare:>12} {str((steps, n)):>11} {engine * 1e3:10.1f} {draw * 1e3:8.1f}"
                  f" {(engine + draw) * 1e3:9.1f} {slider * 1e3:10.1f} {slider / 0.1:9.0%}")
    print("slider: a real slider step to the end of the redraw it causes (worker thread, undo stack, paint);")
    print("of 100 ms: the slider step's share of the interactive budget (goal: (200, 64) within it)")
    window.close()


if __name__ == "__main__":
    main()
