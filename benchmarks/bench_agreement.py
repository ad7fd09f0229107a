"""Speed of the agreement scene's engine work, as ratios against plain PyTorch in the same run.

    python benchmarks/bench_agreement.py

- saliency: ``agreement.saliency`` (build the float64 network from stored weights, encode, forward,
  backward to the embeddings) against a bare forward + backward of an already built network on the
  same token ids. The difference is the per-request cost of rebuilding the model in the worker.
- scoring: one held-out accuracy point (``accuracy_at``, 1000 sentences) against a bare no-grad
  forward of the same batch; and the whole chart (``accuracy_curves``) in seconds, for the record.
- training: one step of ``train_steps`` against a hand-written step (same network, batch, optimiser).

Blocks of the variants are interleaved and the median is reported, because the machine is shared.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def timed(fn, repeat: int) -> float:
    start = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - start) / repeat


def median_ratio(a, b, rounds: int = 7, repeat: int = 5) -> tuple[float, float, float]:
    ta, tb = [], []
    for _ in range(rounds):
        ta.append(timed(a, repeat))
        tb.append(timed(b, repeat))
    ma, mb = statistics.median(ta), statistics.median(tb)
    return ma, mb, ma / mb


def main() -> int:
    import numpy as np
    import torch

    from gradsim.engine import agreement as ag

    torch.set_num_threads(1)
    vocab = ag.load_vocabulary()
    bank = ag.shipped_models()
    sentence = ag.generate_sentence(30, "plural", 0)
    _, state = bank.get("lstm", None, 0)

    net = ag.load_network("lstm", state, vocab.size, torch.float64)
    ids = torch.as_tensor(vocab.encode(sentence.read_tokens))[None]

    def bare_backward() -> None:
        emb = net["embedding"](ids).detach().requires_grad_(True)
        out, _ = net["rnn"](emb)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(net["head"](out[0, -1]).squeeze(),
                                                                    torch.tensor(1.0, dtype=torch.float64))
        torch.autograd.grad(loss, emb)

    def engine_saliency() -> None:
        ag.saliency(sentence, "lstm", state)

    t_eng, t_bare, r = median_ratio(engine_saliency, bare_backward)
    print(f"saliency      engine {t_eng * 1e3:7.2f} ms   bare {t_bare * 1e3:7.2f} ms   ratio {r:5.2f}")

    batch = ag.training_batch(np.random.default_rng([12345, 20, 99]), 1000, 20)
    net32 = ag.load_network("lstm", state, vocab.size, torch.float32)

    def bare_score() -> None:
        with torch.no_grad():
            ag.network_logits(net32, batch.ids, batch.readout)

    def engine_score() -> None:
        ag.accuracy_at("lstm", state, 20, samples=1000)

    t_eng, t_bare, r = median_ratio(engine_score, bare_score, repeat=2)
    print(f"score point   engine {t_eng * 1e3:7.2f} ms   bare {t_bare * 1e3:7.2f} ms   ratio {r:5.2f}")

    cfg = ag.TrainConfig(cell="lstm", distance=20, steps=10**6)
    gen = ag.train_steps(cfg)
    next(gen)
    tnet = ag.build_network("lstm", vocab.size, seed=1)
    opt = torch.optim.Adam(tnet.parameters(), lr=3e-3)
    rng = np.random.default_rng(3)

    def bare_step() -> None:
        b = ag.training_batch(rng, 64, 20, 0.15, vocab)
        logits = ag.network_logits(tnet, b.ids, b.readout)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, torch.as_tensor(b.target, dtype=torch.float32))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(tnet.parameters(), 1.0)
        opt.step()

    t_eng, t_bare, r = median_ratio(lambda: next(gen), bare_step)
    print(f"training step engine {t_eng * 1e3:7.2f} ms   bare {t_bare * 1e3:7.2f} ms   ratio {r:5.2f}")
    gen.close()

    start = time.perf_counter()
    ag.accuracy_curves(bank, samples=1000)
    print(f"whole accuracy chart ({len(bank.states)} models, 1000 sentences per point): "
          f"{time.perf_counter() - start:.1f} s (computed once per session, in the worker)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
