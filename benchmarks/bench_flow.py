"""How fast is ``gradient_flow``? Ratios against baselines measured in the same run.

Baselines, all float64 on one thread:
- torch autograd with ``retain_grad`` on every ``h_t`` (the seeds' method),
- ``torch.nn.RNN`` with a single backward (gradients w.r.t. the output sequence, hooked),
- the bare chain of ``2T`` NumPy matrix-vector products (forward and backward, nothing else): the
  practical floor for any exact method.

Run: ``python benchmarks/bench_flow.py`` (add ``--quick`` for fewer repeats).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from gradsim.engine import GeneratorSettings, gradient_flow  # noqa: E402


def best_of(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def torch_retain_grad(sc):
    import torch

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
    return [s.grad.norm().item() for s in states]


def make_torch_rnn(sc):
    import torch

    rnn = torch.nn.RNN(sc.x.shape[1], sc.hidden, nonlinearity="tanh", bias=False, batch_first=True).double()
    with torch.no_grad():
        rnn.weight_hh_l0.copy_(torch.tensor(sc.W_hh))
        rnn.weight_ih_l0.copy_(torch.tensor(sc.W_xh))
    x = torch.tensor(sc.x)[None]

    def run():
        # One backward through the fused kernel; dL/dh_t for all t needs T backward passes through
        # nn.RNN (its hidden states are not graph nodes), so this is a lower bound for torch's cost.
        out, _ = rnn(x)
        out[0, -1].sum().backward()

    return run


def bare_chain(sc):
    w = sc.W_hh
    wt = np.ascontiguousarray(w.T)
    steps = sc.steps
    v = np.ones(sc.hidden)

    def run():
        a = v
        for _ in range(steps):
            a = w @ a
        b = v
        for _ in range(steps):
            b = wt @ b
        return a, b

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    repeats = 3 if args.quick else 7
    print(f"gradient_flow benchmark, float64, 1 thread, best of {repeats}")
    header = f"{'(T, n)':>12} {'gradsim ms':>11} {'retain_grad ms':>15} {'nn.RNN ms':>10} {'bare chain ms':>14} {'vs retain_grad':>15} {'vs nn.RNN':>10} {'vs bare':>8}"
    print(header)
    for steps, n in [(20, 4), (200, 64), (1000, 128)]:
        sc = GeneratorSettings(hidden=n, input=4, steps=steps, activation="tanh", scale=0.9, input_scale=0.5).build()
        ours = best_of(lambda sc=sc: gradient_flow(sc), repeats)
        retain = best_of(lambda sc=sc: torch_retain_grad(sc), max(2, repeats // 2))
        fused = best_of(make_torch_rnn(sc), repeats)
        bare = best_of(bare_chain(sc), repeats)
        print(
            f"{str((steps, n)):>12} {ours * 1e3:11.2f} {retain * 1e3:15.2f} {fused * 1e3:10.2f} {bare * 1e3:14.2f}"
            f" {retain / ours:14.1f}x {fused / ours:9.2f}x {ours / bare:7.2f}x"
        )
    print("vs retain_grad / vs nn.RNN: how many times faster gradsim is; vs bare: gradsim's time over the bare chain")
    print("goal at (1000, 128): >= 5x faster than retain_grad, <= 2x the bare chain")


if __name__ == "__main__":
    main()
