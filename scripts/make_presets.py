"""Write the presets that need torch's random numbers as explicit scenario files.

The seeds' PyTorch example draws its weights with torch's generator (seed 0): ``W_xh`` and ``W_hh``
are ``nn.Linear`` layers without bias (their default init consumes random numbers), then
``W_hh = 0.5 I + 0.05 randn(4, 4)`` and ``x = 0.05 randn(20, 2)``. The app cannot import torch at
start, so the numbers are stored here once; ``tests/engine/test_presets.py`` regenerates them with
torch and checks the file still matches.

Run: ``python scripts/make_presets.py``
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def pytorch_example() -> dict:
    import torch
    from torch import nn

    torch.manual_seed(0)
    steps, hidden, inputs = 20, 4, 2
    w_xh = nn.Linear(inputs, hidden, bias=False)
    w_hh = nn.Linear(hidden, hidden, bias=False)
    with torch.no_grad():
        w_hh.weight.copy_(0.5 * torch.eye(hidden) + 0.05 * torch.randn(hidden, hidden))
    x = 0.05 * torch.randn(steps, inputs)
    as_list = lambda t: t.detach().double().tolist()  # noqa: E731
    return {
        "format": "gradsim.scenario/1",
        "name": "The seeds' PyTorch example (torch seed 0, T = 20, n = 4)",
        "cell": "rnn",
        "activation": "tanh",
        "W_hh": as_list(w_hh.weight),
        "W_xh": as_list(w_xh.weight),
        "b_h": [0.0] * hidden,
        "h0": [0.0] * hidden,
        "x": as_list(x),
        "loss": "sum_last",
    }


def main() -> int:
    out = ROOT / "gradsim" / "resources" / "presets" / "pytorch_example.gradsim.json"
    out.write_text(json.dumps(pytorch_example(), indent=1) + "\n", encoding="utf-8")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
