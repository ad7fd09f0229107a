"""How fast is the spectrum scene's sweep? Ratios against baselines measured in the same run.

The sweep is the seeds' eigenvalue experiment at the scene's defaults: 20 spectral norms (plus the three
marked ones) x 5 seeds, T = 50, n = 64, tanh. It has to redraw within a second of a control change.

Measured:
- ``spectral_norm_sweep`` (the engine: all norms of a seed in one batched pass, exact log-space
  backward), with its cache of seed columns cleared first: a sweep computed from nothing,
- the same sweep one seed further on with the columns cached (the scene's seed box stepped by one:
  one new column, four reused),
- the runs one by one through ``gradient_flow`` (one run per norm and seed, as the sweep ran before
  it batched the norms),
- the same runs with torch float64 autograd and ``retain_grad`` on every ``h_t`` (the seeds' method),
- the bare forward and backward chains of the same runs in NumPy (2T matrix-vector products each,
  no norms, no scaling): the practical floor,
- with ``--draw``: drawing the result into the real scene offscreen (Qt), the GUI thread's share;
- ``matrix_spectrum`` (the network's eigenvalues, singular values, radius and norm: part of every
  redraw of the scene's eigenvalue view) against ``gradsim/engine/spectrum.py`` at a git revision
  (``--against REV``, default ``main``), in the same run and checked bit for bit.

Run: ``python benchmarks/bench_spectrum.py`` (``--quick`` for fewer repeats, ``--draw`` to time drawing).
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

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from gradsim.engine import GeneratorSettings  # noqa: E402
from gradsim.engine.flow import gradient_flow  # noqa: E402
from gradsim.engine.sweep import (  # noqa: E402
    MARKED_NORMS,
    SWEEP_NORMS,
    _seed_column,
    rescale_to_norm,
    scenario_with_norm,
    spectral_norm_sweep,
)

SETTINGS = GeneratorSettings(hidden=64, input=4, steps=50, activation="tanh", init="orthogonal", scale=1.0,
                             input_scale=0.1, seed=0)
SEEDS = (0, 1, 2, 3, 4)


def best_of(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def all_scenarios():
    return [scenario_with_norm(SETTINGS, s, seed) for s in SWEEP_NORMS + MARKED_NORMS for seed in SEEDS]


def engine_sweep():
    """A sweep from nothing: no seed column cached."""
    _seed_column.cache_clear()
    return spectral_norm_sweep(SETTINGS, SWEEP_NORMS, SEEDS, MARKED_NORMS)


def next_seed_sweep():
    """The scene's seed stepped by one: four of the five columns are cached, one is new."""
    _seed_column.cache_clear()
    spectral_norm_sweep(SETTINGS, SWEEP_NORMS, SEEDS[:-1], MARKED_NORMS)
    t0 = time.perf_counter()
    spectral_norm_sweep(SETTINGS, SWEEP_NORMS, SEEDS, MARKED_NORMS)
    return time.perf_counter() - t0


def run_by_run():
    """Every norm and seed as a run of its own through ``gradient_flow`` (the sweep before batching)."""
    out = np.empty((len(SWEEP_NORMS) + len(MARKED_NORMS), len(SEEDS)))
    for j, seed in enumerate(SEEDS):
        base = replace(SETTINGS, seed=seed, scale=1.0).build()
        unit = rescale_to_norm(base.W_hh, 1.0)
        for i, target in enumerate(SWEEP_NORMS + MARKED_NORMS):
            out[i, j] = gradient_flow(replace(base, W_hh=unit * target, generator=None)).log10_grad_norm[0]
    return out


def torch_retain_grad(scenarios):
    import torch

    out = []
    for sc in scenarios:
        w = torch.tensor(sc.W_hh)
        u = torch.tensor(sc.W_xh)
        x = torch.tensor(sc.x)
        h = torch.zeros(sc.hidden, dtype=torch.float64, requires_grad=True)
        states = []
        for t in range(x.shape[0]):
            h = torch.tanh(w @ h + u @ x[t])
            h.retain_grad()
            states.append(h)
        h.sum().backward()
        out.append(states[0].grad.norm().item())
    return out


def bare_chains(scenarios):
    out = []
    for sc in scenarios:
        w = sc.W_hh
        drive = sc.x @ sc.W_xh.T
        h = np.zeros(sc.hidden)
        hs = []
        for t in range(drive.shape[0]):
            h = np.tanh(w @ h + drive[t])
            hs.append(h)
        g = np.ones(sc.hidden)
        wt = w.T
        for t in range(len(hs) - 1, 0, -1):
            g = wt @ ((1.0 - hs[t] * hs[t]) * g)
        out.append(g)
    return out


def draw_time(repeats: int) -> float:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([])
    from gradsim.ui.app import MainWindow

    window = MainWindow(projector=False, use_settings=False)
    window.resize(1280, 800)
    window.show()
    scene = window.show_scene("spectrum", {"view": "sweep"})
    while not window.worker.is_idle():
        app.processEvents()
        time.sleep(0.01)
    app.processEvents()
    from gradsim.engine.activations import get_activation
    from gradsim.states.spectrum import SweepResult

    gamma = float(get_activation(SETTINGS.activation).max_derivative)
    result = SweepResult(engine_sweep(), SETTINGS.activation, gamma)

    def draw():
        scene._draw_sweep(result)
        scene.sweep_chart.repaint()
        app.processEvents()

    seconds = best_of(draw, repeats)
    window.close()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    parser.add_argument("--draw", action="store_true", help="also time drawing the sweep in the real scene")
    parser.add_argument("--against", default="main", metavar="REV",
                        help="git revision whose matrix_spectrum is timed against this checkout's")
    args = parser.parse_args()
    repeats = 2 if args.quick else 5
    scenarios = all_scenarios()
    runs = len(scenarios)

    # agreement first: the engine's numbers are the autograd numbers
    sweep = engine_sweep()
    ref = np.log10(torch_retain_grad(scenarios)).reshape(len(SWEEP_NORMS) + len(MARKED_NORMS), len(SEEDS))
    got = np.vstack([sweep.log10_grad_h1, sweep.marked_log10])
    worst = float(np.max(np.abs(got - ref)))
    worst_runs = float(np.max(np.abs(got - run_by_run())))

    t_engine = best_of(engine_sweep, repeats)
    t_next = min(next_seed_sweep() for _ in range(repeats))
    t_runs = best_of(run_by_run, repeats)
    t_torch = best_of(lambda: torch_retain_grad(scenarios), max(1, repeats // 2))
    t_bare = best_of(lambda: bare_chains(scenarios), repeats)
    print(f"sweep: {len(SWEEP_NORMS)} norms + {len(MARKED_NORMS)} marked x {len(SEEDS)} seeds = {runs} runs, "
          f"T = {SETTINGS.steps}, n = {SETTINGS.hidden}, {SETTINGS.activation}")
    print(f"max |log10 engine - log10 torch| = {worst:.2e}; - log10 run by run = {worst_runs:.2e}")
    print(f"engine sweep          {t_engine * 1e3:8.1f} ms  (1.00)")
    print(f"  next seed, cached   {t_next * 1e3:8.1f} ms  ({t_next / t_engine:.2f}x the engine's time)")
    print(f"run by run            {t_runs * 1e3:8.1f} ms  ({t_runs / t_engine:.2f}x the engine's time)")
    print(f"torch retain_grad     {t_torch * 1e3:8.1f} ms  ({t_torch / t_engine:.2f}x the engine's time)")
    print(f"bare NumPy chains     {t_bare * 1e3:8.1f} ms  ({t_bare / t_engine:.2f}x the engine's time)")
    if args.draw:
        t_draw = draw_time(repeats)
        print(f"draw in the scene     {t_draw * 1e3:8.1f} ms  ({t_draw / t_engine:.2f}x the engine's time)")
        print(f"sweep + draw          {(t_engine + t_draw) * 1e3:8.1f} ms  (budget: 1000 ms)")
    spectrum_against(args.against, repeats)


def spectrum_against(revision: str, repeats: int) -> None:
    """``matrix_spectrum`` now against ``revision``'s, alternated run by run, on the generated
    networks of the scene's sizes; the results must be equal to the last bit."""
    from at_revision import module_at

    from gradsim.engine import spectrum

    try:
        before = module_at(revision, "gradsim/engine/spectrum.py")
    except Exception as exc:  # noqa: BLE001 - no git, or no such revision: say so and go on
        print(f"(no comparison with {revision}: {exc})")
        return
    for n in (32, 64, 128):
        w = replace(SETTINGS, hidden=n).build().W_hh
        a, b = spectrum.matrix_spectrum(w), before.matrix_spectrum(w)
        same = all(np.array_equal(getattr(a, k), getattr(b, k)) for k in ("eigenvalues", "singular_values",
                                                                           "spectral_radius", "spectral_norm"))
        t_now, t_then = [], []
        for _ in range(5 * repeats):
            t0 = time.perf_counter()
            spectrum.matrix_spectrum(w)
            t1 = time.perf_counter()
            before.matrix_spectrum(w)
            t_then.append(time.perf_counter() - t1)
            t_now.append(t1 - t0)
        print(f"matrix_spectrum n = {n:3d} {min(t_now) * 1e3:6.2f} ms  ({min(t_now) / min(t_then):.2f}x {revision}'s; "
              f"bit for bit: {same})")


if __name__ == "__main__":
    main()
