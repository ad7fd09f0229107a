"""torch's thread count belongs to whoever owns the process: the engine never changes it (issue 18).

A user who imports gradsim's engine into their own program keeps the ``torch.set_num_threads`` they
chose, also when training and agreement code run on two worker threads at once, as in the app.
gradsim's own programs set it once (``gradsim.threads``): checked here for the command line, whose
verbs own their process. The checks run in a fresh process with the slow tests, so nothing an earlier
test did to the thread count (or to a module's memory of having set it) can hide a change; the
default run makes the same checks in its own process.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytest.importorskip("torch")

from gradsim.threads import TORCH_THREADS  # noqa: E402

AS_A_LIBRARY = r"""
import json, threading
import torch

chosen = torch.get_num_threads() + 2  # neither gradsim's 1 nor torch's default
torch.set_num_threads(chosen)

from gradsim.engine import GeneratorSettings, agreement
from gradsim.engine.cells import gated_gradient_flow
from gradsim.engine.training import TrainRun, TrainSettings
from gradsim.monitor import Monitor


def training():
    run = TrainRun(TrainSettings(cell="lstm", delay=4, hidden=8, embedding=4, batch=4, steps=3, eval_size=8))
    while not run.finished:
        run.step()


def agreement_code():
    config = agreement.TrainConfig(cell="lstm", distance=3, steps=2, batch=4, hidden=8, embedding=4)
    state = agreement.train_model(config)
    agreement.accuracy_at("lstm", state, 3, samples=8)
    bank = agreement.ModelBank()
    bank.add(agreement.TrainConfig(cell="rnn", distance=5, seed=0), agreement.untrained_state("rnn"))
    agreement.accuracy_curves(bank, samples=4, mixed_distances=[2], transfer_from=None)


def monitored_step():
    model = torch.nn.LSTM(3, 4)
    with Monitor(model, budget=None, warn=False):
        out, _ = model(torch.randn(5, 2, 3))
        out.sum().backward()


def gates():
    gated_gradient_flow(GeneratorSettings(cell="gru", hidden=6, steps=20))


seen = {}
for job in (training, agreement_code, monitored_step, gates):  # on the caller's own thread
    job()
    seen[job.__name__] = torch.get_num_threads()
workers = [threading.Thread(target=job) for job in (training, agreement_code)]  # two at once
for w in workers:
    w.start()
for w in workers:
    w.join()
seen["after two worker threads"] = torch.get_num_threads()
fresh = {}
probe = threading.Thread(target=lambda: fresh.update(n=torch.get_num_threads()))
probe.start()
probe.join()
seen["a new thread"] = fresh["n"]

# then the command line, in the same process: its verbs that run torch set gradsim's count
from gradsim.cli import main

cli = {}
for argv in (["flow", "--cell", "lstm", "--steps", "5", "--hidden", "4"],
             ["train", "--cell", "rnn", "--delay", "2", "--steps", "2", "--hidden", "4", "--batch", "4"]):
    torch.set_num_threads(chosen)
    assert main(argv) == 0
    cli[argv[0]] = torch.get_num_threads()
print(json.dumps({"chosen": chosen, "seen": seen, "cli": cli}))
"""


@pytest.mark.parametrize("where", ["this process", pytest.param("a fresh process", marks=pytest.mark.slow)])
def test_engine_code_leaves_the_callers_thread_count_and_the_command_line_sets_its_own(where, capsys):
    """By default in this process (the count it had is put back afterwards); the fresh process, where
    nothing earlier can hide a change, runs with the slow tests."""
    if where == "a fresh process":
        proc = subprocess.run([sys.executable, "-c", AS_A_LIBRARY], capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr
        out = proc.stdout
    else:
        import torch

        before = torch.get_num_threads()
        try:
            exec(compile(AS_A_LIBRARY, "<as a library>", "exec"), {"__name__": "as_a_library"})
        finally:
            torch.set_num_threads(before)
        out = capsys.readouterr().out
    doc = json.loads(out.strip().splitlines()[-1])
    assert len(doc["seen"]) == 6
    assert doc["seen"] == dict.fromkeys(doc["seen"], doc["chosen"])
    assert doc["cli"] == {"flow": TORCH_THREADS, "train": TORCH_THREADS}
