"""The training lab's Transformer: its forward pass against PyTorch's own modules with the same
weights, the per-position gradient it records against autograd, save/load and resume, the command
line, and that it learns the copy-memory and adding tasks on seeds nobody picked."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gradsim.cli.train import add_train_arguments, cli_train, format_train_result
from gradsim.engine import tasks
from gradsim.engine.additive import sinusoidal_positions
from gradsim.engine.training import (
    MODELS,
    TRANSFORMER_BLOCKS,
    TRANSFORMER_MLP,
    TrainRun,
    TrainSettings,
    TransformerModel,
    backward_capturing,
    build_model,
    load_run,
    make_batch,
    run_delay_sweep,
    run_to_end,
    save_run,
    task_loss,
    transformer_heads,
)

torch = pytest.importorskip("torch")

SMALL = {"cell": "transformer", "hidden": 12, "embedding": 5, "batch": 6, "eval_size": 32, "delay": 7}


def small(**kw) -> TrainSettings:
    return TrainSettings(**{**SMALL, **kw}).validate()


class ModuleTransformer(torch.nn.Module):
    """The same architecture from PyTorch's modules (``nn.MultiheadAttention`` with a full causal
    mask over every position, ``nn.LayerNorm``, ``nn.Linear``), sharing no code with the engine."""

    def __init__(self, model: TransformerModel):
        super().__init__()
        s = model.settings
        w = s.hidden
        p = {k: v.detach() for k, v in model.params.items()}
        f64 = torch.float64
        self.task = s.task
        self.embedding = p.get("embedding")
        self.inp = torch.nn.Linear(p["weight_ih"].shape[1], w, dtype=f64)
        self.inp.load_state_dict({"weight": p["weight_ih"], "bias": p["bias_ih"]})
        self.blocks = torch.nn.ModuleList()
        for b in range(TRANSFORMER_BLOCKS):
            q = f"block{b}."
            block = torch.nn.ModuleDict({
                "norm1": torch.nn.LayerNorm(w, dtype=f64), "attn": torch.nn.MultiheadAttention(
                    w, transformer_heads(w), batch_first=True, dtype=f64),
                "norm2": torch.nn.LayerNorm(w, dtype=f64), "mlp1": torch.nn.Linear(w, TRANSFORMER_MLP * w, dtype=f64),
                "mlp2": torch.nn.Linear(TRANSFORMER_MLP * w, w, dtype=f64)})
            block["norm1"].load_state_dict({"weight": p[q + "norm1.weight"], "bias": p[q + "norm1.bias"]})
            block["norm2"].load_state_dict({"weight": p[q + "norm2.weight"], "bias": p[q + "norm2.bias"]})
            block["attn"].load_state_dict({"in_proj_weight": p[q + "in_proj_weight"], "in_proj_bias": p[q + "in_proj_bias"],
                                           "out_proj.weight": p[q + "out_proj.weight"],
                                           "out_proj.bias": p[q + "out_proj.bias"]})
            block["mlp1"].load_state_dict({"weight": p[q + "mlp1.weight"], "bias": p[q + "mlp1.bias"]})
            block["mlp2"].load_state_dict({"weight": p[q + "mlp2.weight"], "bias": p[q + "mlp2.bias"]})
            self.blocks.append(block)
        self.norm = torch.nn.LayerNorm(w, dtype=f64)
        self.norm.load_state_dict({"weight": p["norm.weight"], "bias": p["norm.bias"]})
        self.head = torch.nn.Linear(w, p["head_weight"].shape[0], dtype=f64)
        self.head.load_state_dict({"weight": p["head_weight"], "bias": p["head_bias"]})

    def forward(self, inputs, readout):
        x = self.embedding[inputs] if self.task == "copy" else inputs.double()
        length = x.shape[1]
        # the sinusoidal code, written out from its formula
        pos = torch.arange(length, dtype=torch.float64)[:, None]
        i = torch.arange(self.inp.out_features, dtype=torch.float64)
        angle = pos / 10000 ** ((2 * torch.div(i, 2, rounding_mode="floor")) / self.inp.out_features)
        code = torch.where(i % 2 == 0, torch.sin(angle), torch.cos(angle))
        e = self.inp(x) + code
        e.retain_grad()
        mask = torch.triu(torch.ones(length, length, dtype=torch.bool), 1)  # True: may not attend
        h = e
        for block in self.blocks:
            a = block["norm1"](h)
            h = h + block["attn"](a, a, a, attn_mask=mask, need_weights=False)[0]
            h = h + block["mlp2"](torch.relu(block["mlp1"](block["norm2"](h))))
        return self.head(self.norm(h[:, readout])), e


@pytest.mark.parametrize("task", tasks.TASKS)
def test_model_equals_pytorch_modules(task):
    s = small(task=task, delay=9 if task == "adding" else 7, symbols=2)
    model = TransformerModel(s, np.random.default_rng(4), dtype=torch.float64)
    batch = make_batch(s, np.random.default_rng(1), 5)
    inputs, targets = torch.from_numpy(batch.inputs), torch.from_numpy(batch.targets)
    ours, states = model.forward(inputs, batch.readout, capture=True)
    ref_model = ModuleTransformer(model)
    ref, e = ref_model(inputs, torch.from_numpy(batch.readout))
    np.testing.assert_allclose(ours.detach().numpy(), ref.detach().numpy(), rtol=1e-10, atol=1e-12)
    # the gradients: every parameter, and the recorded per-position ||dL/de_t||
    loss = task_loss(s, ours, targets)
    norms = backward_capturing(loss, model.parameters(), states)
    task_loss(s, ref, targets.double() if task == "adding" else targets).backward()
    np.testing.assert_allclose(norms, e.grad.flatten(2).transpose(0, 1).flatten(1).norm(dim=1).numpy(), rtol=1e-9)
    q = "block0."
    np.testing.assert_allclose(model.params[q + "in_proj_weight"].grad.numpy(),
                               ref_model.blocks[0]["attn"].in_proj_weight.grad.numpy(), rtol=1e-8, atol=1e-14)
    np.testing.assert_allclose(model.params["weight_ih"].grad.numpy(), ref_model.inp.weight.grad.numpy(),
                               rtol=1e-8, atol=1e-14)
    assert norms.shape == (s.length,) and np.all(norms > 0)


def test_weights_follow_the_seed_and_pytorch_initialisation():
    s = small(hidden=16)
    a = build_model(s, np.random.default_rng(3))
    b = build_model(s, np.random.default_rng(3))
    assert isinstance(a, TransformerModel) and a.heads == 4 and transformer_heads(6) == 2 and transformer_heads(5) == 1
    for name in a.params:
        assert torch.equal(a.params[name], b.params[name])
    w = a.params["block0.in_proj_weight"]
    assert float(w.detach().abs().max()) <= np.sqrt(6 / (4 * 16)) and not a.params["block0.in_proj_bias"].any()
    assert a.recurrent_matrix() is None
    np.testing.assert_allclose(a.positions(7).numpy(), sinusoidal_positions(7, 16), rtol=1e-6)


def test_training_run_records_the_gradient_at_every_position():
    run = TrainRun(small(steps=3))
    snap = run.step()
    assert snap.log10_grad_h.shape == (run.settings.length,) and np.all(np.isfinite(snap.log10_grad_h))
    assert snap.eigenvalues is None and snap.label == "Transformer (2 blocks)"
    assert snap.accuracy is not None and 0 <= snap.accuracy <= 1


def test_save_load_round_trip_and_resume(tmp_path):
    s = small(steps=8)
    straight = TrainRun(s)
    for _ in range(8):
        straight.step()
    half = TrainRun(s)
    for _ in range(4):
        half.step()
    path = tmp_path / "t.gradsim-run.pt"
    save_run(path, half)
    again = load_run(path)
    for _ in range(4):
        again.step()
    for name, p in straight.model.params.items():
        torch.testing.assert_close(again.model.params[name], p, rtol=0, atol=0)
    assert again.curves.loss == straight.curves.loss


@settings(max_examples=3, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_learns_copy_memory_across_a_delay(seed):
    last = run_to_end(small(delay=30, hidden=32, embedding=8, batch=32, eval_size=256, steps=300,
                            stop_accuracy=0.99, seed=seed))
    assert last.run.curves.accuracy[-1] >= 0.95


@pytest.mark.slow  # 400 steps on two seeds; copy memory above is the quick check that it learns
@settings(max_examples=2, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_learns_the_adding_problem(seed):
    s = small(task="adding", delay=40, hidden=32, batch=32, eval_size=256, steps=400, seed=seed)
    last = run_to_end(s)
    assert last.run.curves.eval_loss[-1] < s.chance_loss / 10  # chance: always answering 1, MSE 1/6
    assert last.run.curves.accuracy[-1] > 5 * s.chance


def test_delay_sweep_and_command_line_take_the_transformer(tmp_path):
    assert "transformer" in MODELS
    points = run_delay_sweep(small(steps=3), [2, 4], cells=("transformer",), stop_accuracy=None)
    assert [(p.cell, p.delay, p.steps) for p in points] == [("transformer", 2, 3), ("transformer", 4, 3)]
    parser = argparse.ArgumentParser()
    add_train_arguments(parser)
    args = parser.parse_args(["--cell", "transformer", "--delay", "5", "--steps", "4", "--hidden", "8",
                              "--batch", "4", "--save", str(tmp_path / "cli.gradsim-run.pt")])
    result = cli_train(args)
    json.dumps(result, allow_nan=False)
    assert result["cell"] == "transformer" and result["steps"] == 4 and result["forget_bias"] is None
    assert "Transformer (2 blocks)" in format_train_result(result)
    assert load_run(tmp_path / "cli.gradsim-run.pt").settings.cell == "transformer"
