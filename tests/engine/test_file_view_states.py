"""The model and run windows' states and worker jobs, without Qt (gradsim.states.model_view / run_view).

The jobs' numbers are the monitor's (checked against autograd in test_monitor.py); here: the rules of
the settings, what a state asks the worker for, which verdict the model window's badge shows, and that
a poll of a run log gives what reading the whole log gives.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from gradsim.engine.thresholds import EXPLODING, HEALTHY, VANISHING, verdict_from_log10
from gradsim.monitor.model_file import FlowOnInputs
from gradsim.monitor.runlog import series_verdict
from gradsim.states.model_view import ModelViewState, direction_label, worst_verdict
from gradsim.states.run_view import RunSnapshot, RunViewState, poll_run_job, summarise_alerts


@pytest.mark.parametrize("settings", [
    {"steps": 0}, {"steps": 2001}, {"steps": 2.5}, {"steps": True}, {"seed": -1}, {"scale": 5.5},
    {"scale": math.nan}, {"inputs": "ones"}, {"nonlinearity": "gelu"}, {"file": 3}, {"module": ["lstm"]},
    {"file": "x" * 5000}, {"bogus": 1},
])
def test_model_view_settings_are_refused_in_one_line(settings):
    with pytest.raises(ValueError) as caught:
        ModelViewState.from_settings(settings)
    message = str(caught.value)
    assert message.startswith("model view: ") and "\n" not in message


def test_model_view_settings_round_trip_and_defaults():
    state = ModelViewState.from_settings({"inputs": "zeros", "steps": 37, "seed": 4.0, "file": None})
    assert state.steps == 37 and isinstance(state.seed, int) and state.seed == 4
    assert ModelViewState.from_settings(state.to_dict()) == state
    assert ModelViewState().to_dict() == {"module": None, "inputs": "noise", "steps": 100, "scale": 1.0, "seed": 0,
                                          "file": None, "nonlinearity": "tanh"}


class _Spec:
    """The two things a flow request reads of a module."""

    def __init__(self, cell):
        self.cell = cell
        self.input_size = 3


def test_flow_request_follows_the_state():
    state = ModelViewState(inputs="file")
    assert state.flow_request(_Spec("rnn")) is None  # no sequence chosen yet
    req = state.replace(file="/data/seq.csv", nonlinearity="relu").flow_request(_Spec("rnn"))
    assert (req.inputs, req.file, req.nonlinearity) == ("file", "/data/seq.csv", "relu")
    # an LSTM's or GRU's nonlinearities are fixed: the RNN choice does not reach them
    assert ModelViewState(nonlinearity="relu").flow_request(_Spec("lstm")).nonlinearity == "tanh"
    req = ModelViewState(steps=12, scale=0.5, seed=9).flow_request(_Spec("gru"))
    assert (req.inputs, req.steps, req.scale, req.seed, req.file) == ("noise", 12, 0.5, 9, None)


def _flow(series: dict[str, np.ndarray]) -> FlowOnInputs:
    return FlowOnInputs("lstm", 50, series, {k: series_verdict(v, k, 1e-6, 1e3) for k, v in series.items()})


def test_the_badge_names_the_worst_layer():
    rng = np.random.default_rng(5)
    t = np.arange(1, 51, dtype=float)
    healthy = rng.uniform(-2, 1, 50)
    vanish_early = np.where(t < 30, -9.0, 0.0)  # below 10⁻⁶ up to t = 29
    vanish_late = np.where(t < 40, -9.0, 0.0)  # up to t = 39: nearer the loss
    explode = np.where(t < 10, 5.0, 0.0)
    assert worst_verdict(None)[0] == HEALTHY
    assert worst_verdict(_flow({"lstm/l0": healthy}))[:2] == (HEALTHY, "healthy")
    kind, text, where = worst_verdict(_flow({"lstm/l0": vanish_early, "lstm/l1": vanish_late}))
    assert (kind, text) == (VANISHING, "vanishing from t = 39") and where.startswith("lstm/l1,")
    kind, text, _where = worst_verdict(_flow({"lstm/l0": vanish_late, "lstm/l1": explode}))
    assert (kind, text) == (EXPLODING, "exploding from t = 9")


def test_the_badge_judges_each_direction_the_way_its_gradient_travels():
    """A reverse direction's gradient goes from t = 1 up to T: its trouble starts at the smallest t
    past the threshold, and it is nearer its loss end the smaller that t is."""
    t = np.arange(1, 51, dtype=float)
    forward_from_40 = np.where(t <= 40, -9.0, 0.0)  # forward: 10 steps back from T = 50
    reverse_from_5 = np.where(t >= 5, -9.0, 0.0)  # reverse: 4 steps up from t = 1
    reverse_from_20 = np.where(t >= 20, -9.0, 0.0)  # reverse: 19 steps up
    flow = _flow({"lstm/l0": forward_from_40, "lstm/l0/reverse": reverse_from_5})
    assert flow.verdicts["lstm/l0/reverse"].first_t == 5 and flow.verdicts["lstm/l0/reverse"].reverse
    kind, text, where = worst_verdict(flow)
    assert (kind, text) == (VANISHING, "vanishing from t = 5\nlayer 0 ←, counted up from t = 1")
    assert where.startswith("lstm/l0/reverse, vanishing from step t = 5")
    assert "lstm/l0: vanishing from step t = 40 (gradient below 1e-06)" in where  # each direction said
    kind, text, _where = worst_verdict(_flow({"lstm/l0": forward_from_40, "lstm/l0/reverse": reverse_from_20}))
    assert text == "vanishing from t = 40\nlayer 0 →, counted back from t = 50"
    # The same reverse curve read as if its gradient travelled down from T: the bug this guards.
    assert verdict_from_log10(reverse_from_5).first_t == 50
    kind, text, where = worst_verdict(_flow({"lstm/l0": np.zeros(50), "lstm/l0/reverse": np.zeros(50)}))
    assert (kind, text) == (HEALTHY, "healthy") and "both directions" in where


def test_direction_labels():
    assert direction_label("lstm/l1/reverse") == "layer 1 ←"
    assert direction_label("rnn/l0") == "layer 0 →"
    # a module called twice in one step ("#2"), a name holding a slash
    assert direction_label("enc/lstm/l12/reverse#2") == "layer 12 ←"
    assert direction_label("lstm/l3#2") == "layer 3 →"


def test_run_view_state():
    assert RunViewState().to_dict() == {"series": None, "follow": True}
    for bad in ({"follow": "yes"}, {"series": 5}, {"step": 1}):
        with pytest.raises(ValueError, match="^run view: "):
            RunViewState.from_settings(bad)


def _snapshot(matrix) -> RunSnapshot:
    m = np.asarray(matrix, dtype=float)
    return RunSnapshot({}, [], "a", np.arange(1, m.shape[0] + 1, dtype=float), m, [], 0, False, 2, True, False,
                       1e-6, 1e3, np.zeros(0), np.zeros(0), ["seed 3"])


def test_colour_range_and_status_lines():
    assert _snapshot([[np.nan, np.nan]]).colour_range() == (-1.0, 1.0)
    assert _snapshot([[-3.0, np.nan], [-np.inf, 2.5]]).colour_range() == (-3.0, 2.5)
    lo, hi = _snapshot([[-4.2, -4.0]]).colour_range()  # widened to a decade around the middle
    assert (lo, hi) == pytest.approx((-4.6, -3.6))
    assert _snapshot([[0.0]]).status_lines(True) == [
        "1 steps recorded — following", "2 damaged line(s) skipped",
        "last line incomplete (still being written, or cut off)", "seed 3"]


def test_poll_gives_what_reading_the_whole_log_gives(tmp_path):
    torch = pytest.importorskip("torch")
    from gradsim.monitor import Monitor, RunLogFollower, read_run_log

    path = tmp_path / "run.jsonl"
    model = torch.nn.RNN(2, 3, num_layers=2, batch_first=True)
    with torch.no_grad():
        # both layers vanish, whatever the random initialisation: the top one's gradient enters only
        # at t = T (with only the first layer scaled, whether the top one raised an alert over 30
        # steps depended on the draw, and one run in a few dozen had none)
        model.weight_hh_l0.mul_(0.05)
        model.weight_hh_l1.mul_(0.05)
    generator = torch.Generator().manual_seed(1)
    with Monitor(model, log=path, warn=False, budget=None):
        for _ in range(4):
            model.zero_grad()
            model(torch.randn(1, 30, 2, generator=generator))[0][:, -1].sum().backward()
    log = read_run_log(path)
    follower = RunLogFollower(path)
    snap = poll_run_job(follower, "rnn/l1")
    steps, matrix = log.heatmap("rnn/l1")
    assert snap.key == "rnn/l1" and snap.series_keys == log.series_keys() and snap.finished
    np.testing.assert_array_equal(snap.steps, steps)
    np.testing.assert_array_equal(snap.matrix, matrix)
    np.testing.assert_array_equal(snap.latest, log.records[-1].layers["rnn/l1"])
    np.testing.assert_array_equal(snap.first, log.records[0].layers["rnn/l1"])
    assert snap.alert_count == len(log.alerts()) > 0
    assert snap.alerts == summarise_alerts(log.alerts())
    # one line per place and kind, counting that place's alerts
    counts = {}
    for a in log.alerts():
        counts[(a.where, a.kind)] = counts.get((a.where, a.kind), 0) + 1
    assert len(snap.alerts) == len(counts)
    for (where, kind), n in counts.items():
        line = next(x for x in snap.alerts if x.startswith(f"{where}: {kind}, "))
        assert (f"({n}×)" in line) == (n > 1)
    # nothing new: no arrays rebuilt; an unknown series falls back to the first
    assert poll_run_job(follower, "rnn/l1", ("rnn/l1", len(log.records), True)) is None
    assert poll_run_job(follower, "nope").key == log.series_keys()[0]


def test_a_saved_training_run_opened_as_a_model_says_where_it_opens(tmp_path):
    pytest.importorskip("torch")
    from gradsim.engine.errors import InputError
    from gradsim.engine.training import TrainSettings, run_to_end, save_run
    from gradsim.states.model_view import load_model_job

    path = tmp_path / "r.gradsim-run.pt"
    save_run(path, run_to_end(TrainSettings(cell="lstm", delay=2, hidden=4, batch=2, steps=2, eval_size=4)).run)
    with pytest.raises(InputError) as caught:
        load_model_job(str(path))
    assert str(caught.value).startswith(f"{path}: a training run saved by gradsim")
    assert "--open-run" in str(caught.value) and "\n" not in str(caught.value)
