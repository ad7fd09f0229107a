"""How long does the test suite take? The README's test command (``python -m pytest -q``, whose
``addopts`` leave out the slow and install tests) timed as a whole and file by file, with ratios
against a baseline measured in the same run.

What is timed:
- baseline: ``python -m pytest --co -q``, collecting the same suite (starting Python and pytest and
  importing every test module: NumPy, PySide6, pyqtgraph, the engine). It moves with the machine's
  load and speed as the suite does, so "the suite costs N collections" can be compared across
  machines and across busy and idle hours;
- the default suite, as the README runs it: wall time, and CPU time of pytest and every process it
  started (xdist workers, the command-line subprocesses), read from the kernel's accounting of the
  child (``os.wait4``), so a busy machine lengthens the wall time but hardly the CPU time;
- optionally (``--slow``) the slow tests, ``python -m pytest -q -m slow``, as CI runs them next.

Each test's setup, call and teardown are timed by this file loaded as a pytest plugin (``-p
bench_suite``) in every pytest process, wall and CPU (the process's own plus its finished
subprocesses'); a module's shared fixtures are charged to the test that builds them. The ten files
that take the most CPU are listed. The load average before and after is printed: on the project's
2-core machine a load above 2 means other work shared the cores.

Run: ``python benchmarks/bench_suite.py`` (``--slow`` adds the slow tests, ``--files N`` lists N
files, ``--cached-bytecode`` times it as Python runs by default, compiled modules cached, where the
environment sets PYTHONDONTWRITEBYTECODE; anything after ``--`` goes to every pytest run, e.g.
``-- -p no:xdist`` for one process).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TIMES_DIR_ENV = "GRADSIM_SUITE_TIMES_DIR"


# --- the plugin half: loaded into pytest with ``-p bench_suite`` ------------------------------------

def _cpu_now(children: bool = True) -> float:
    """This process's CPU seconds, and its finished subprocesses' (the command-line tests start some)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    total = own.ru_utime + own.ru_stime
    if children:
        kids = resource.getrusage(resource.RUSAGE_CHILDREN)
        total += kids.ru_utime + kids.ru_stime
    return total


class _PhaseTimer:
    """Writes one JSON line per test phase (setup, call, teardown) to a file of this process."""

    def __init__(self, directory: str):
        self._out = open(Path(directory) / f"times-{os.getpid()}.jsonl", "a", encoding="utf-8")  # noqa: SIM115

    def record(self, item, phase: str, wall: float, cpu: float) -> None:
        self._out.write(json.dumps({"nodeid": item.nodeid, "file": item.nodeid.split("::")[0],
                                    "phase": phase, "wall": wall, "cpu": cpu}) + "\n")
        self._out.flush()


_timer: _PhaseTimer | None = None


def _timed(item, phase: str):
    if _timer is None:
        yield
        return
    wall, cpu = time.perf_counter(), _cpu_now()
    yield
    _timer.record(item, phase, time.perf_counter() - wall, _cpu_now() - cpu)


def pytest_configure(config):  # noqa: ARG001 - pytest's hook signature
    global _timer
    directory = os.environ.get(TIMES_DIR_ENV)
    if directory:
        _timer = _PhaseTimer(directory)


def pytest_unconfigure(config):  # noqa: ARG001
    """The whole process's CPU, from its start (imports and collection included) to its end."""
    if _timer is not None:
        # xdist's controller: its own CPU only (its children are the workers, counted by themselves)
        controller = config.pluginmanager.hasplugin("dsession")
        _timer._out.write(json.dumps({"process_cpu": _cpu_now(children=not controller)}) + "\n")
        _timer._out.close()


try:  # the hooks exist only where pytest does; the benchmark itself needs no pytest import
    import pytest

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_setup(item):
        yield from _timed(item, "setup")

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_call(item):
        yield from _timed(item, "call")

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_teardown(item):
        yield from _timed(item, "teardown")
except ImportError:  # pragma: no cover - pytest is in the test extra
    pass


# --- the benchmark half ------------------------------------------------------------------------------

def run_timed(args: list[str], env: dict[str, str]) -> tuple[float, float, int, str, list[str]]:
    """Run a command; return its wall time, CPU time (it and its reaped descendants), exit status,
    the last line of its output (pytest's summary) and the lines naming failed tests (a timing of a
    failing run is not the suite's: the failures are what to look at first)."""
    with tempfile.TemporaryFile(mode="w+") as out:
        start = time.perf_counter()
        proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        lines = [line.rstrip() for line in out if line.strip()]
    summary = next((line for line in reversed(lines) if re.search(r"\b(passed|failed|error|tests? collected)\b",
                                                                  line)), lines[-1] if lines else "")
    failures = [line for line in lines if line.startswith(("FAILED ", "ERROR "))]  # pytest's -ra summary
    return wall, usage.ru_utime + usage.ru_stime, proc.returncode, summary.strip("= "), failures


def per_process(directory: Path) -> list[tuple[float, float, bool]]:
    """Per pytest process: CPU seconds in its tests, in the whole process (start to end), and whether
    it ran tests (xdist's controller only hands them out); the busiest first."""
    out = []
    for path in directory.glob("times-*.jsonl"):
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
        tests = sum(r["cpu"] for r in rows if "cpu" in r)
        whole = next((r["process_cpu"] for r in rows if "process_cpu" in r), float("nan"))
        out.append((tests, whole, any("cpu" in r for r in rows)))
    return sorted(out, reverse=True)


def per_file(directory: Path) -> dict[str, dict[str, float]]:
    totals: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    tests: dict[str, set[str]] = defaultdict(set)
    for path in directory.glob("times-*.jsonl"):
        for line in path.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            if "file" not in row:  # a process's own total (see pytest_unconfigure)
                continue
            file = totals[row["file"]]
            file["wall"] += row["wall"]
            file["cpu"] += row["cpu"]
            file[f"{row['phase']}_cpu"] += row["cpu"]
            tests[row["file"]].add(row["nodeid"])
    for name, file in totals.items():
        file["tests"] = len(tests[name])
    return totals


def load() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--slow", action="store_true", help="also time the slow tests (CI's next step)")
    parser.add_argument("--files", type=int, default=10, help="how many of the costliest files to list")
    parser.add_argument("--cached-bytecode", action="store_true",
                        help="run as Python does by default, compiled modules cached (in a temporary "
                             "PYTHONPYCACHEPREFIX, warmed by one untimed collection), even where "
                             "PYTHONDONTWRITEBYTECODE is set")
    parser.add_argument("pytest_args", nargs="*", help="after --: passed to every pytest run")
    args = parser.parse_args(argv)

    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        p for p in (str(Path(__file__).resolve().parent), os.environ.get("PYTHONPATH", "")) if p))
    env.setdefault("QT_QPA_PLATFORM", "offscreen")
    pytest_cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args.pytest_args]

    print(f"load average before: {load()} (1/5/15 min) on {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory() as cache_dir:
        if args.cached_bytecode:
            env.pop("PYTHONDONTWRITEBYTECODE", None)
            env["PYTHONPYCACHEPREFIX"] = cache_dir  # the checkout stays as it is
            run_timed([*pytest_cmd, "--co"], env)
            print("  bytecode cached (Python's default), warmed by one collection before the timed runs")
        elif env.get("PYTHONDONTWRITEBYTECODE"):  # as on a fresh checkout: nothing cached from an earlier run
            print("  bytecode is not cached (PYTHONDONTWRITEBYTECODE): every pytest process compiles the "
                  "project and rewrites the tests' asserts again (--cached-bytecode: as Python does by default)")
        return _timed_runs(args, env, pytest_cmd)


def _timed_runs(args, env: dict, pytest_cmd: list[str]) -> int:
    base_wall, base_cpu, _, base_summary, _ = run_timed([*pytest_cmd, "--co"], env)
    print(f"baseline, collection:  {base_wall:7.1f} s wall {base_cpu:7.1f} s CPU   ({base_summary})")

    runs = [("default suite", [])] + ([("slow tests", ["-m", "slow"])] if args.slow else [])
    status = 0
    for name, extra in runs:
        with tempfile.TemporaryDirectory() as times_dir:
            run_env = dict(env, **{TIMES_DIR_ENV: times_dir})
            wall, cpu, code, summary, failures = run_timed([*pytest_cmd, "-p", "bench_suite", *extra], run_env)
            files = per_file(Path(times_dir))
            processes = per_process(Path(times_dir))
        status = status or code
        print(f"{name + ':':22s} {wall:7.1f} s wall {cpu:7.1f} s CPU   = {wall / base_wall:5.1f}x / "
              f"{cpu / base_cpu:5.1f}x the collection   ({summary})")
        for line in failures:
            print(f"  {line}")
        print(f"  load average after: {load()}")
        runners = [p for p in processes if p[2]]
        others = [p for p in processes if not p[2]]
        print(f"  CPU per process running tests, in tests / from start to end: "
              f"{', '.join(f'{t:.1f} / {w:.1f}' for t, w, _ in runners)} s"
              + (f"; the controller {sum(w for _, w, _ in others):.1f} s" if others else ""))
        if len(runners) > 1:  # each process on a core of its own: the busiest one sets the pace
            print(f"  with a free core per process this run would take about "
                  f"{max(w for _, w, _ in runners) + sum(w for _, w, _ in others):.0f} s "
                  f"(an estimate from CPU times; wall time above is what it took here)")
        print(f"  the {args.files} files taking the most CPU (setup includes fixtures a module shares):")
        print(f"  {'CPU s':>7} {'setup':>6} {'wall s':>7} {'tests':>5}  file")
        for file_name, t in sorted(files.items(), key=lambda kv: -kv[1]["cpu"])[:args.files]:
            print(f"  {t['cpu']:7.1f} {t['setup_cpu']:6.1f} {t['wall']:7.1f} {int(t['tests']):5d}  {file_name}")
    return status


if __name__ == "__main__":
    sys.exit(main())
