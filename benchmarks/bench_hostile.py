"""Hostile files, budgets and cancellation, measured (issue 17's "done when").

    python benchmarks/bench_hostile.py            # everything (a few minutes)
    python benchmarks/bench_hostile.py --quick    # files only

For every file of ``tests/data/hostile`` and for a named pipe, a link to ``/dev/zero`` and one to
``/dev/urandom`` under each reader's file name, it prints how long the refusal took, the peak
memory of the reading process (its maximum resident size, against the same process before it read
anything) and whether the refusal was one ``InputError`` line. Then the command line (exit status,
stderr lines), and the time from a cancel to the end of the work: Ctrl+C on a long ``flow`` and a
long ``spectrum --sweep`` on a pseudo-terminal, a cancel of a running worker job, and closing the
app's window with a job in flight until the process has exited.

Times are wall-clock on a shared machine; the ratios that matter are against one second.
"""

from __future__ import annotations

import argparse
import json
import os
import pty
import select
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "tests" / "data" / "hostile"
PY = sys.executable
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "QT_QPA_PLATFORM": "offscreen"}

READER_CODE = textwrap.dedent(
    """
    import json, resource, sys, time
    from gradsim.engine.errors import InputError
    from gradsim.engine.scenario import load_scenario
    from gradsim.lesson import load_lesson
    from gradsim.monitor.model_file import load_model_file
    from gradsim.monitor.runlog import read_run_log
    from gradsim.engine.training import load_run
    readers = {"scenario": load_scenario, "lesson": load_lesson, "model": load_model_file,
               "run": load_run, "runlog": read_run_log}
    if sys.argv[2] in ("model", "run"):
        import torch  # loaded first, so the memory measured is the file's, not torch's
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t = time.perf_counter()
    try:
        readers[sys.argv[2]](sys.argv[1]); outcome, lines = "read", 0
    except InputError as exc:
        outcome, lines = "InputError", str(exc).count("\\n") + 1
    except BaseException as exc:
        outcome, lines = type(exc).__name__, 0
    seconds = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"outcome": outcome, "lines": lines, "seconds": seconds, "mb": (peak - base) / 1024}))
    """
)


def run_reader(path: Path, reader: str, timeout: float = 60) -> dict:
    try:
        proc = subprocess.run([PY, "-c", READER_CODE, str(path), reader], capture_output=True, text=True,
                              cwd=ROOT, env=ENV, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"outcome": "HUNG", "lines": 0, "seconds": timeout, "mb": float("nan")}
    try:
        return json.loads(proc.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        return {"outcome": f"crashed ({proc.returncode}): {proc.stderr.strip()[-200:]}", "lines": 0,
                "seconds": float("nan"), "mb": float("nan")}


def files_table() -> None:
    expected = json.loads((CORPUS / "expected.json").read_text())
    rows = []
    for name, e in sorted(expected.items()):
        reader = e["reader"].split("-")[0]
        rows.append((name, reader, run_reader(CORPUS / name, reader)))
    with tempfile.TemporaryDirectory() as tmp:
        for reader, suffix in (("scenario", ".gradsim.json"), ("lesson", ".gradsim-lesson.json"),
                               ("model", ".safetensors"), ("model", ".pt"), ("runlog", ".gradsim-log.jsonl"),
                               ("run", ".gradsim-run.pt")):
            fifo = Path(tmp) / f"pipe{suffix}"
            if not fifo.exists():
                os.mkfifo(fifo)
            rows.append((fifo.name, reader, run_reader(fifo, reader)))
            for device in ("/dev/zero", "/dev/urandom"):
                link = Path(tmp) / f"{Path(device).name}{suffix}"
                if not link.exists():
                    link.symlink_to(device)
                rows.append((link.name, reader, run_reader(link, reader)))
    print(f"{'input':52s} {'reader':9s} {'outcome':12s} {'lines':>5s} {'seconds':>8s} {'peak MB':>8s}")
    for name, reader, r in rows:
        print(f"{name[:52]:52s} {reader:9s} {r['outcome'][:12]:12s} {r['lines']:5d} {r['seconds']:8.3f} {r['mb']:8.1f}")
    refused = [r for _, _, r in rows if r["outcome"] == "InputError" and r["lines"] == 1]
    read = [r for n, _, r in rows if r["outcome"] == "read"]
    worst_t = max(r["seconds"] for _, _, r in rows)
    worst_m = max(r["mb"] for _, _, r in rows)
    print(f"-> {len(refused)} refused in one line, {len(read)} read (valid), "
          f"{len(rows) - len(refused) - len(read)} other; slowest {worst_t:.3f} s (1 s goal), "
          f"largest peak {worst_m:.0f} MB (2048 MB budget)")


BUDGET_CODE = textwrap.dedent(
    """
    import json, resource, sys
    import torch
    torch.zeros(2) + 1
    kind, kw = sys.argv[1], json.loads(sys.argv[2])
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if kind == "train":
        from gradsim.engine.training import TrainRun, TrainSettings
        s = TrainSettings(**kw, steps=2, eval_every=1)
        estimate = s.memory_bytes()
        run = TrainRun(s); run.step(); run.step()
    else:
        from gradsim.engine.budget import flow_memory_bytes
        from gradsim.engine.flow import gradient_flow
        from gradsim.engine.scenario import GeneratorSettings
        g = GeneratorSettings(**kw)
        estimate = flow_memory_bytes(g.cell, g.steps, g.hidden, g.input)
        gradient_flow(g.build())
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"estimate_mb": estimate / 2**20, "measured_mb": (peak - base) / 1024}))
    """
)


def budget_table() -> None:
    cases = [
        ("train", {"cell": "lstm", "delay": 200, "batch": 256, "hidden": 128}),
        ("train", {"cell": "gru", "delay": 400, "batch": 128, "hidden": 256}),
        ("train", {"cell": "rnn", "delay": 400, "batch": 512, "hidden": 64, "embedding": 256}),
        ("train", {"cell": "lstm", "delay": 100, "batch": 32, "hidden": 64, "eval_size": 16384}),
        ("flow", {"cell": "lstm", "steps": 10000, "hidden": 400, "input": 512}),
        ("flow", {"cell": "rnn", "steps": 10000, "hidden": 400, "input": 512}),
    ]
    print(f"\n{'memory estimate against measured peak':60s} {'estimate MB':>11s} {'measured MB':>11s}")
    for kind, kw in cases:
        proc = subprocess.run([PY, "-c", BUDGET_CODE, kind, json.dumps(kw)], capture_output=True, text=True,
                              cwd=ROOT, env=ENV, timeout=900)
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        shown = kind + " " + " ".join(f"{k}={v}" for k, v in kw.items())
        print(f"{shown[:60]:60s} {r['estimate_mb']:11.0f} {r['measured_mb']:11.0f}")


def cli_table() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        fifo = Path(tmp) / "x.gradsim.json"
        os.mkfifo(fifo)
        cases = [
            ["flow", "--scenario", str(fifo)],
            ["flow", "--scenario", "/dev/zero"],
            ["flow", "--scenario", str(CORPUS / "huge_int_whh.gradsim.json")],
            ["flow", "--scenario", str(CORPUS / "newline_key.gradsim.json")],
            ["flow", "--scenario", str(CORPUS / "ansi_key.gradsim.json")],
            ["flow", "--scale", "0", "--steps", "5"],
            ["spectrum", "--hidden", "512", "--cell", "lstm", "--sweep"],
            ["train", "--cell", "gru", "--delay", "2000", "--batch", "4096", "--hidden", "24"],
            ["train", "--cell", "lstm", "--delay", "2000", "--symbols", "50", "--batch", "90", "--hidden", "1024"],
            ["train", "--cell", "rnn", "--delay", "5", "--steps", "2", "--save", "/nonexistent/x.pt"],
            ["train", "--cell", "rnn", "--delay", "5", "--steps", "2", "--save", "/proc/version"],
            ["train", "--cell", "rnn", "--delay", "5", "--steps", "2", "--save", tmp],
        ]
        print(f"\n{'command':78s} {'exit':>4s} {'stderr lines':>12s} {'strict JSON':>11s} {'seconds':>8s}")
        for args in cases:
            t = time.perf_counter()
            proc = subprocess.run([PY, "-m", "gradsim", *args], capture_output=True, text=True, cwd=ROOT,
                                  env=ENV, timeout=300)
            seconds = time.perf_counter() - t
            strict = "-"
            if proc.returncode == 0:
                strict = "yes" if all(w not in proc.stdout for w in ("NaN", "Infinity")) else "NO"
            shown = " ".join(a if len(a) < 30 else "…" + a[-28:] for a in args)
            print(f"{shown[:78]:78s} {proc.returncode:4d} {proc.stderr.count(chr(10)):12d} {strict:>11s} {seconds:8.2f}")


def ctrl_c(args: list[str], after: float) -> tuple[int, float, str]:
    """Run on a pseudo-terminal, send SIGINT ``after`` seconds in; exit status, seconds from the
    signal to the exit, and the last progress line seen."""
    pid, fd = pty.fork()
    if pid == 0:
        os.chdir(ROOT)
        os.execve(PY, [PY, "-m", "gradsim", *args], ENV)
    out, start, sent, status = b"", time.monotonic(), None, None
    while status is None:
        ready, _, _ = select.select([fd], [], [], 0.02)
        if ready:
            try:
                out += os.read(fd, 65536)
            except OSError:
                pass
        if sent is None and time.monotonic() - start > after:
            os.kill(pid, signal.SIGINT)
            sent = time.monotonic()
        done, st = os.waitpid(pid, os.WNOHANG)
        if done:
            status = st
    text = out.decode(errors="replace")
    progress = [p for p in text.replace("\r", "\n").splitlines() if "%" in p]
    return os.waitstatus_to_exitcode(status), time.monotonic() - (sent or time.monotonic()), (
        progress[-1].replace("\x1b[K", "") if progress else "")


def cancel_table() -> None:
    print("\nCtrl+C on a terminal (progress shown on stderr):")
    for args, after in ((["flow", "--steps", "10000", "--hidden", "400", "--cell", "lstm", "--input", "512"], 12.0),
                        (["spectrum", "--hidden", "512", "--steps", "7812", "--sweep"], 12.0),
                        (["train", "--cell", "lstm", "--delay", "40", "--steps", "5000"], 25.0)):
        code, seconds, progress = ctrl_c(args, after)
        print(f"  gradsim {' '.join(args)}: exit {code}, {seconds:.2f} s from Ctrl+C to exit; last: {progress.strip()[:70]}")

    code = textwrap.dedent(
        """
        import sys, time, threading
        from PySide6.QtWidgets import QApplication
        app = QApplication([])
        from gradsim.ui.app import MainWindow
        from gradsim.engine.scenario import GeneratorSettings
        from gradsim.engine.flow import gradient_flow
        w = MainWindow(use_settings=False); w.show(); w.show_scene("flow")
        big = GeneratorSettings(cell="lstm", steps=10000, hidden=400, input=512).build()
        progressed = threading.Event()
        w.worker.progress.connect(lambda *a: progressed.set())
        # a cancel of a running job
        w.worker.submit("flow:big", gradient_flow, big)
        while not progressed.is_set(): app.processEvents(); time.sleep(0.01)
        t = time.perf_counter(); w.worker.cancel("flow:big")
        while not w.worker.is_idle(): app.processEvents(); time.sleep(0.002)
        print(f"cancel {time.perf_counter() - t:.3f}", flush=True)
        # closing the window with the job in flight
        progressed.clear(); w.worker.submit("flow:big", gradient_flow, big)
        while not progressed.is_set(): app.processEvents(); time.sleep(0.01)
        t = time.perf_counter(); w.close(); app.quit()
        print(f"close {time.perf_counter() - t:.3f}", flush=True)
        print("exiting", flush=True)
        from gradsim.cli import _end_process  # how `gradsim gui` ends once the window has closed
        _end_process(0)
        """
    )
    proc = subprocess.Popen([PY, "-c", code], cwd=ROOT, env=ENV, stdout=subprocess.PIPE, text=True)
    marks = {}
    for line in proc.stdout:
        if line.startswith("exiting"):
            marks["exiting"] = time.monotonic()
        else:
            key, value = line.split()
            marks[key] = float(value)
    proc.wait()
    exit_after = time.monotonic() - marks["exiting"]
    print(f"\napp: a running flow job cancelled in {marks['cancel']:.3f} s; window closed with the job in "
          f"flight in {marks['close']:.3f} s; the process exited {exit_after:.3f} s later (goal: 1 s)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the files only")
    parser.add_argument("--cancel-only", action="store_true", help="the cancellation timings only")
    args = parser.parse_args()
    if not args.cancel_only:
        files_table()
    if args.cancel_only or not args.quick:
        if not args.cancel_only:
            cli_table()
            budget_table()
        cancel_table()
    return 0


if __name__ == "__main__":
    sys.exit(main())
