"""Hostile and damaged files: every reader refuses them in one line, at once, within the budget.

The corpus in ``tests/data/hostile`` is written by its ``make_corpus.py``; named pipes and links to
devices are made here, in a temporary folder. A property-based test then throws random and mutated
documents at every reader.
"""

from __future__ import annotations

import io
import json
import os
import struct
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from gradsim.content import load_quiz, load_timeline
from gradsim.engine.budget import MEMORY_BUDGET_BYTES, check_memory, training_memory_bytes
from gradsim.engine.cancel import Cancelled, CancelToken, cancel_scope, check_cancelled, report_progress
from gradsim.engine.errors import InputError, one_line
from gradsim.engine.files import (
    check_writable,
    check_zip_archive,
    dumps_json,
    format_csv,
    json_depth,
    loads_json,
    read_bytes,
    write_text,
)
from gradsim.engine.scenario import load_scenario, scenario_from_dict
from gradsim.lesson import load_lesson
from gradsim.monitor.model_file import load_input_sequence, load_model_file
from gradsim.monitor.runlog import MAX_HEATMAP_CELLS, read_run_log
from gradsim.monitor.safetensors import read_safetensors

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "data" / "hostile"
EXPECTED = json.loads((CORPUS / "expected.json").read_text(encoding="utf-8"))
PAYLOAD_MARK = "gradsim-hostile-payload-ran"


def assert_one_line(message: str, name: str | None = None) -> None:
    assert "\n" not in message and "\r" not in message
    assert "\x1b" not in message and "\x07" not in message and "\u202e" not in message
    assert len(message) <= 600
    if name is not None:
        assert name in message


def _load_training_run(path):
    from gradsim.engine.training import load_run

    return load_run(path)


READERS = {
    "scenario": load_scenario,
    "lesson": load_lesson,
    "model": load_model_file,
    "run": _load_training_run,
    "runlog": read_run_log,
}


# ---------------------------------------------------------------------------------------------------
# the corpus


@pytest.mark.parametrize("name", sorted(n for n, e in EXPECTED.items() if e["reader"] in READERS))
def test_corpus_file_is_refused_in_one_line(name, capsys):
    expected = EXPECTED[name]
    with pytest.raises(InputError) as info:
        READERS[expected["reader"]](CORPUS / name)
    message = str(info.value)
    assert_one_line(message, name)
    assert expected["fragment"] in message
    assert PAYLOAD_MARK not in capsys.readouterr().out


def test_damaged_run_log_lines_are_skipped_and_counted():
    log = read_run_log(CORPUS / "damaged_lines.gradsim-log.jsonl")
    assert [r.step for r in log.records] == [1, 6]
    assert log.skipped_lines == int(EXPECTED["damaged_lines.gradsim-log.jsonl"]["fragment"])
    assert np.array_equal(log.records[0].layers["rnn/l0"], [0.0, -1.0])


def test_declared_heatmap_is_bounded_before_allocation():
    log = read_run_log(CORPUS / "declares_20000x20000_heatmap.gradsim-log.jsonl")
    assert len(log.records) == 20000
    steps, matrix = log.heatmap("rnn/l0")
    assert matrix.shape[1] == 20000 and matrix.size <= MAX_HEATMAP_CELLS
    assert steps[-1] == 20000 and steps[0] >= 1 and np.all(np.diff(steps) > 0)  # thinned, in order, latest kept


def test_every_kind_of_the_issue_is_in_the_corpus():
    names = set(EXPECTED)
    for needed in ("huge_int_whh", "huge_int_input_scale", "huge_int_forget_bias", "digits_5000", "e400",
                   "deep_100k", "newline_key", "ansi_key", "deep_header.safetensors", "dtype_list",
                   "zero_sized_huge_shape", "model_sparse", "model_zero_stride_view", "model_inflates_past",
                   "model_pickle_code", "model_negative_numel", "damaged_lines", "declares_20000x20000"):
        assert any(needed in n for n in names), needed


def test_corpus_generator_is_what_was_committed(tmp_path):
    """The committed corpus is the generator's output (a changed generator must be rerun)."""
    sys.path.insert(0, str(CORPUS))
    try:
        import make_corpus
    finally:
        sys.path.pop(0)
    for name, (data, _reader, _fragment) in make_corpus.corpus().items():
        assert (CORPUS / name).read_bytes() == data, name


# ---------------------------------------------------------------------------------------------------
# files that are not regular: pipes, devices, folders (made here, never committed)


def _special_paths(tmp_path: Path, suffix: str) -> list[Path]:
    paths = []
    if hasattr(os, "mkfifo"):
        fifo = tmp_path / f"pipe{suffix}"
        os.mkfifo(fifo)
        paths.append(fifo)
    for device in ("/dev/zero", "/dev/urandom"):
        if os.path.exists(device):
            link = tmp_path / f"{Path(device).name}{suffix}"
            link.symlink_to(device)
            paths.append(link)
    folder = tmp_path / f"folder{suffix}"
    folder.mkdir()
    paths.append(folder)
    return paths


READERS_BY_SUFFIX = [
    (".gradsim.json", load_scenario),
    (".gradsim-lesson.json", load_lesson),
    (".json", load_timeline),
    (".safetensors", load_model_file),
    (".pt", load_model_file),
    (".gradsim-log.jsonl", read_run_log),
    (".gradsim-run.pt", _load_training_run),
    (".npy", lambda p: load_input_sequence(p, 2)),
    (".csv", lambda p: load_input_sequence(p, 2)),
]


@pytest.mark.parametrize("suffix,reader", READERS_BY_SUFFIX, ids=[s for s, _ in READERS_BY_SUFFIX])
def test_pipes_devices_and_folders_are_refused_at_once(tmp_path, suffix, reader):
    """No read blocks: each refusal happens in the calling thread without waiting for a writer
    (a pipe with no writer would block forever; the test fails rather than hangs if one does)."""
    for path in _special_paths(tmp_path, suffix):
        outcome: list[BaseException] = []

        def attempt(path=path, outcome=outcome) -> None:
            try:
                reader(path)
            except BaseException as exc:  # noqa: BLE001 - the test inspects it
                outcome.append(exc)

        worker = threading.Thread(target=attempt, daemon=True)
        worker.start()
        worker.join(30)
        if worker.is_alive():  # unblock the reader so the test run can end, then fail
            with open(path, "wb", buffering=0) as pipe:
                pipe.write(b"x")
            pytest.fail(f"reading {path.name} blocked")
        assert outcome and isinstance(outcome[0], InputError), (path, outcome)
        assert_one_line(str(outcome[0]), path.name)


def test_messages_escape_control_characters_and_terminal_sequences():
    raw = "key\n with\r\x1b[2J\x07 and \u202e and \x00 and tab\t"
    line = one_line(raw)
    assert_one_line(line)
    assert "\\n" in line and "\\x1b[2J" in line and "\\u202e" in line
    assert str(InputError(raw)) == line
    assert len(one_line("x" * 10_000)) == 600


def test_unknown_key_with_newlines_gives_one_line_on_the_command_line():
    path = CORPUS / "newline_key.gradsim.json"
    proc = subprocess.run([sys.executable, "-m", "gradsim", "flow", "--scenario", str(path)],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and "Traceback (most recent" in proc.stderr  # escaped, on one line
    assert "\\nTraceback" in proc.stderr


# ---------------------------------------------------------------------------------------------------
# the guarded reader itself


def test_size_is_enforced_while_reading_not_from_stat(tmp_path):
    path = tmp_path / "big.json"
    path.write_bytes(b" " * 1001)
    assert len(read_bytes(path, 1001)) == 1001
    with pytest.raises(InputError, match="larger than"):
        read_bytes(path, 1000)
    # /proc files report a size of 0 yet hold bytes: the limit still holds
    if os.path.exists("/proc/self/status"):
        with pytest.raises(InputError, match="larger than"):
            read_bytes("/proc/self/status", 10)


@pytest.mark.parametrize(
    "text,fragment",
    [
        ("1" + "0" * 25, "digits"),
        ("-" + "9" * 21, "digits"),
        ("1e400", "float64 range"),
        ("-1e400", "float64 range"),
        ("NaN", "NaN"),
        ("[Infinity]", "Infinity"),
        ("[" * 65 + "]" * 65, "nested"),
        ('{"a": ' * 70 + "1" + "}" * 70, "nested"),
        ("\xff", "UTF-8"),
        ("[1,]", "not valid JSON"),
    ],
)
def test_strict_json_refusals(text, fragment):
    raw = text.encode("latin-1") if text == "\xff" else text.encode()
    with pytest.raises(InputError, match=fragment) as info:
        loads_json(raw, "doc.json")
    assert_one_line(str(info.value), "doc.json")


def test_strict_json_accepts_what_it_should():
    assert loads_json(b'\xef\xbb\xbf{"a": [1, 2.5, -3e-400, "[[[[[[", 12345678901234567890]}', "x") == {
        "a": [1, 2.5, -0.0, "[[[[[[", 12345678901234567890]
    }
    deep_ok = "[" * 64 + "]" * 64
    assert loads_json(deep_ok, "x") is not None
    assert json_depth(b'["[[[[", {"a": [[]]}]', 1) == 4


def test_zip_archive_bounds():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("a", b"x" * 1000)
        z.writestr("b", b"y" * 10)
    buf.seek(0)
    assert check_zip_archive(buf, "z.pt", 2000) == 1010
    with pytest.raises(InputError, match="over the"):
        check_zip_archive(buf, "z.pt", 1005)
    deflated = io.BytesIO()
    with zipfile.ZipFile(deflated, "w") as z:
        z.writestr("a", b"x" * 1000, compress_type=zipfile.ZIP_DEFLATED)
    with pytest.raises(InputError, match="compressed"):
        check_zip_archive(deflated, "z.pt", 2000)


def test_strict_json_output_and_one_csv_convention():
    doc = {"a": float("nan"), "b": [float("inf"), -float("inf"), 1.5], "c": np.array([np.nan, 2.0]),
           "d": np.float64("inf"), "e": np.int64(3)}
    text = dumps_json(doc)
    assert json.loads(text, parse_constant=lambda c: pytest.fail(c)) == {
        "a": None, "b": [None, None, 1.5], "c": [None, 2.0], "d": None, "e": 3
    }
    csv_text = format_csv({"x": [1.0, float("nan"), float("inf")], "y": [None, 0.1, np.float32(2)]})
    assert csv_text.splitlines() == ["x,y", "1.0,", ",0.1", ",2.0"]


def test_command_line_json_is_strict(run_cli):  # in this process: tests/cli/test_cli.py runs flow in one
    proc = run_cli("flow", "--scale", "0", "--steps", "5")
    assert proc.returncode == 0
    doc = json.loads(proc.stdout, parse_constant=lambda c: pytest.fail(f"{c} in the output"))
    assert doc["log10_bound"][0] is None


@pytest.mark.parametrize("bad", ["/nonexistent-folder/x.pt", "/proc/version", "FOLDER"])
def test_unwritable_paths_are_refused_before_any_work(tmp_path, bad):
    if bad == "FOLDER":
        bad = str(tmp_path)
    if bad == "/proc/version" and not os.path.exists(bad):
        pytest.skip("no /proc here")
    with pytest.raises(InputError) as info:
        check_writable(bad, "saved run")
    assert_one_line(str(info.value), bad)


def test_atomic_write_leaves_the_old_file_on_failure(tmp_path):
    path = tmp_path / "a.txt"
    write_text(path, "old")

    class Boom(Exception):
        pass

    from gradsim.engine.files import atomic_write

    with pytest.raises(Boom), atomic_write(path, "file", "w") as f:
        f.write("half of the new")
        raise Boom
    assert path.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]


def test_train_save_to_bad_paths_is_one_line_exit_2(tmp_path, run_cli):
    """In this process (tests/cli/test_cli.py trains in one of its own)."""
    for bad in ("/nonexistent-folder/x.pt", str(tmp_path)):
        proc = run_cli("train", "--cell", "rnn", "--delay", "1", "--steps", "1", "--save", bad)
        assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and bad in proc.stderr


# ---------------------------------------------------------------------------------------------------
# budget and cancellation (Qt-free)


def test_budget_refuses_the_issue_training_runs_before_they_start():
    from gradsim.engine.training import TrainSettings

    for kw in ({"cell": "gru", "delay": 2000, "batch": 4096, "hidden": 24},
               {"cell": "lstm", "delay": 2000, "symbols": 50, "batch": 90, "hidden": 1024}):
        with pytest.raises(InputError, match="budget") as info:
            TrainSettings(**kw).validate()
        assert_one_line(str(info.value))
    assert TrainSettings().memory_bytes() < MEMORY_BUDGET_BYTES / 20  # the defaults are far inside
    with pytest.raises(InputError, match="2.0 GB"):
        check_memory(MEMORY_BUDGET_BYTES + 1, "x")
    assert training_memory_bytes("lstm", 100, 64, 64, 16, 512) > training_memory_bytes("rnn", 100, 64, 64, 16, 512)


def test_every_valid_flow_setting_fits_the_budget():
    from gradsim.engine.budget import flow_memory_bytes

    for cell in ("rnn", "lstm", "gru"):
        assert flow_memory_bytes(cell, 10_000, 400, 512) < MEMORY_BUDGET_BYTES
        assert flow_memory_bytes(cell, 7_812, 512, 512) < MEMORY_BUDGET_BYTES


def test_cancel_token_stops_engine_work_at_a_checkpoint():
    from gradsim.engine.flow import gradient_flow
    from gradsim.engine.scenario import GeneratorSettings

    seen = []
    token = CancelToken(progress=lambda done, total, what: (seen.append(done), token.cancel()))
    scenario = GeneratorSettings(cell="gru", hidden=8, steps=400).build()
    with cancel_scope(token), pytest.raises(Cancelled):
        gradient_flow(scenario)
    assert len(seen) == 1  # it stopped at the first checkpoint after the cancel
    check_cancelled()  # outside the scope nothing is cancelled
    report_progress(1, 2)


def test_a_cancelled_training_step_leaves_the_run_as_it_was():
    from gradsim.engine.training import TrainRun, TrainSettings

    settings = TrainSettings(cell="rnn", delay=200, hidden=8, batch=4, steps=3, eval_size=8)
    run = TrainRun(settings)
    before = run.train_rng.bit_generator.state
    token = CancelToken()
    token.cancel()
    with cancel_scope(token), pytest.raises(Cancelled):
        run.step()
    assert run.step_count == 0 and run.train_rng.bit_generator.state == before
    reference = TrainRun(settings)
    assert run.step().loss == reference.step().loss


def test_a_run_saved_while_training_is_one_step(tmp_path):
    """Save from another thread while training runs: weights, Adam's moments and step count and the
    curves all come from one step (training resumed from the file matches the run's own next step)."""
    import torch

    from gradsim.engine.training import TrainRun, TrainSettings, load_run, save_run

    run = TrainRun(TrainSettings(cell="lstm", delay=5, hidden=8, batch=4, steps=40, eval_size=8))
    stop = threading.Event()

    def train() -> None:
        while not stop.is_set() and not run.finished:
            run.step()

    trainer = threading.Thread(target=train)
    trainer.start()
    try:
        paths = []
        for i in range(5):
            path = tmp_path / f"r{i}.gradsim-run.pt"
            save_run(path, run)
            paths.append(path)
    finally:
        stop.set()
        trainer.join()
    for path in paths:
        loaded = load_run(path)
        steps = loaded.step_count
        adam_steps = {int(s["step"]) for s in loaded.optimizer.state_dict()["state"].values()}
        assert adam_steps <= {steps} and len(loaded.curves.loss) == steps
        # the weights are those of that step: replaying the run to that step gives the same weights
        replay = TrainRun(loaded.settings)
        for _ in range(steps):
            replay.step()
        for name, p in replay.model.params.items():
            assert torch.equal(p.detach(), loaded.model.params[name].detach()), (path.name, name)


# ---------------------------------------------------------------------------------------------------
# property-based: random and mutated documents at every reader


def _json_values():
    scalars = st.one_of(
        st.none(), st.booleans(), st.integers(min_value=-(10**30), max_value=10**30),
        st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=20),
    )
    return st.recursive(scalars, lambda inner: st.one_of(
        st.lists(inner, max_size=5), st.dictionaries(st.text(max_size=12), inner, max_size=5)), max_leaves=25)


KEYS = ["format", "W_hh", "W_xh", "x", "b_h", "h0", "hidden", "steps", "input", "scale", "cell", "activation",
        "init", "seed", "input_scale", "forget_bias", "title", "steps", "events", "kind", "dtype", "shape",
        "data_offsets", "layers", "params", "step", "thresholds", "modules", "\n\x1b[2J"]


def _documents():
    base = st.fixed_dictionaries({"format": st.sampled_from(["gradsim.scenario/1", "gradsim.lesson/1",
                                                             "gradsim.timeline/1", "gradsim.runlog/1", "x"])})
    return st.builds(lambda b, extra: {**b, **extra}, base, st.dictionaries(st.sampled_from(KEYS), _json_values(), max_size=6))


def _mutate(data: bytes, cuts: list[tuple[int, int, bytes]]) -> bytes:
    out = bytearray(data)
    for position, length, insert in cuts:
        if not out:
            break
        position %= len(out)
        out[position : position + length] = insert
    return bytes(out)


_MUTATIONS = st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 8), st.binary(max_size=8)), max_size=4)
FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _refused_in_one_line_or_read(reader, path) -> None:
    try:
        reader(path)
    except InputError as exc:
        assert_one_line(str(exc), path.name)


@FUZZ
@given(doc=_documents(), mutations=_MUTATIONS)
def test_fuzz_json_readers(tmp_path, doc, mutations):
    raw = _mutate(json.dumps(doc).encode(), mutations)
    for suffix, reader in ((".gradsim.json", load_scenario), (".gradsim-lesson.json", load_lesson),
                           (".json", load_timeline), (".json", load_quiz)):
        path = tmp_path / f"f{suffix}"
        path.write_bytes(raw)
        _refused_in_one_line_or_read(reader, path)
    try:
        scenario_from_dict(doc, "dict")
    except InputError as exc:
        assert_one_line(str(exc))


@FUZZ
@given(doc=_documents(), mutations=_MUTATIONS, lines=st.integers(0, 3))
def test_fuzz_run_log_reader(tmp_path, doc, mutations, lines):
    header = {"format": "gradsim.runlog/1", "kind": "header", "thresholds": {"vanish": 1e-6, "explode": 1e3},
              "modules": [{"name": "rnn", "series": ["rnn/l0"]}]}
    body = [json.dumps(header)] + [json.dumps({**doc, "kind": "step", "step": i}) for i in range(lines)]
    path = tmp_path / "r.gradsim-log.jsonl"
    path.write_bytes(_mutate("\n".join(body).encode() + b"\n", mutations))
    try:
        log = read_run_log(path)
    except InputError as exc:
        assert_one_line(str(exc), path.name)
    else:
        for key in log.series_keys():
            log.heatmap(key)


def _safetensors(header: dict, data: bytes) -> bytes:
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + data


@FUZZ
@given(
    dtype=st.one_of(st.sampled_from(["F64", "F32", "F16", "BF16", "I64", "BOOL", "U8"]), _json_values()),
    shape=st.one_of(st.lists(st.integers(-2, 2**41), max_size=4), _json_values()),
    offsets=st.one_of(st.lists(st.integers(-5, 2**65), min_size=2, max_size=2), _json_values()),
    data=st.binary(max_size=64),
    mutations=_MUTATIONS,
)
def test_fuzz_safetensors_reader(tmp_path, dtype, shape, offsets, data, mutations):
    raw = _safetensors({"weight_hh_l0": {"dtype": dtype, "shape": shape, "data_offsets": offsets}}, data)
    path = tmp_path / "m.safetensors"
    path.write_bytes(_mutate(raw, mutations))
    try:
        read_safetensors(path)
    except InputError as exc:
        assert_one_line(str(exc), path.name)
    _refused_in_one_line_or_read(load_model_file, path)


@pytest.fixture(scope="module")
def saved_files(tmp_path_factory):
    """A real model file and a real saved run, for mutation."""
    import torch

    from gradsim.engine.training import TrainSettings, run_to_end, save_run

    folder = tmp_path_factory.mktemp("saved")
    model = folder / "m.pt"
    torch.save(torch.nn.GRU(2, 3).state_dict(), model)
    run = folder / "r.gradsim-run.pt"
    save_run(run, run_to_end(TrainSettings(cell="rnn", delay=2, hidden=4, batch=2, steps=2, eval_size=4)).run)
    return model.read_bytes(), run.read_bytes()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(mutations=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 64), st.binary(max_size=16)),
                          min_size=1, max_size=4))
def test_fuzz_model_and_run_files(tmp_path, saved_files, mutations, capsys):
    model, run = saved_files
    for name, data, reader in (("m.pt", model, load_model_file), ("r.gradsim-run.pt", run, _load_training_run)):
        path = tmp_path / name
        path.write_bytes(_mutate(data, mutations))
        _refused_in_one_line_or_read(reader, path)
    assert PAYLOAD_MARK not in capsys.readouterr().out


@FUZZ
@given(data=st.binary(max_size=300), suffix=st.sampled_from([".npy", ".csv"]))
@example(data=b"\x00" * 9, suffix=".npy")  # NUL bytes in the header: NumPy's tokenizer raised TokenError
def test_fuzz_input_sequences(tmp_path, data, suffix):
    path = tmp_path / f"x{suffix}"
    if suffix == ".npy" and data[:1] == b"\x00":
        buf = io.BytesIO()
        np.save(buf, np.zeros((3, 2)))
        data = _mutate(buf.getvalue(), [(len(data), 4, data[1:5])])
    path.write_bytes(data)
    _refused_in_one_line_or_read(lambda p: load_input_sequence(p, 2), path)


def test_npy_declaring_a_huge_shape_is_refused_before_allocation(tmp_path):
    buf = io.BytesIO()
    np.save(buf, np.zeros((3, 2)))
    raw = buf.getvalue().replace(b"(3, 2)", b"(10**9, 2)".replace(b"10**9", b"1000000000"))
    path = tmp_path / "x.npy"
    path.write_bytes(raw)
    with pytest.raises(InputError, match="more than the file holds"):
        load_input_sequence(path, 2)


def test_long_but_valid_numbers_are_read():
    """A float written with 5,000 digits is a valid number (0.333...): read, not refused."""
    scenario = load_scenario(CORPUS / "float_5000_digits.gradsim.json")
    assert scenario.W_hh[0, 0] == pytest.approx(1 / 3)
