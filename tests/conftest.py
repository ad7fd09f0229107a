"""Shared test setup: Qt runs offscreen unless a developer asks for a real display."""

import os
import subprocess

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# The GUI stores settings; keep tests away from the developer's own.
os.environ.setdefault("GRADSIM_SETTINGS_ORG", "gradsim-tests")

# A run of the whole suite (no paths given: `python -m pytest`, `-m slow`) is spread over this many
# processes when pytest-xdist is installed (the test extra has it): the suite is CPU-bound and the
# project's machines have two cores. Each process takes whole files (`--dist loadfile`), so a
# module's shared window is built once; `-m slow` hands out single tests. Naming files or folders
# runs them in one process; `-n N` chooses, and `-n 0` or `-p no:xdist` keeps one process.
WHOLE_SUITE_WORKERS = 2


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config):
    """Runs before pytest-xdist's own hook of the same name, which reads what is set here."""
    if (not config.pluginmanager.hasplugin("xdist") or hasattr(config, "workerinput")
            or config.option.numprocesses is not None or config.option.dist != "no"
            or config.args_source != pytest.Config.ArgsSource.TESTPATHS
            or config.option.collectonly or config.option.usepdb):
        return
    config.option.numprocesses = WHOLE_SUITE_WORKERS
    # One BLAS/OpenMP thread per process (unless set): two processes each starting threads for both
    # cores spent 30 s more CPU in a 165 s run (OpenBLAS waits by spinning). The processes inherit it.
    for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(variable, "1")
    if config.option.markexpr == "slow":  # few, long tests (the claims' training: 280 s in one file)
        config.option.dist = "load"  # handed out one by one
    else:
        config.option.dist = "loadfile"
        config.option.loadscopereorder = False  # files in the order below, not by their number of tests


def pytest_collection_modifyitems(config, items):
    """The costly folders first (the UI's tests share a window per file and take ~0.3 s each, the
    command line's start processes), the engine's many quick files after them: a process that
    finishes early then takes small files, and the two end together. Files stay whole, in order."""
    cost_rank = {"ui": 0, "cli": 1}
    items.sort(key=lambda item: cost_rank.get(item.path.parent.name, 2))


@pytest.fixture
def run_cli(capsys):
    """``gradsim ARGS`` run in this process: what a subprocess would give (exit status, stdout,
    stderr) without starting Python and importing NumPy, and for some verbs torch, again (0.2-1.5 s
    each). A crash that a process would end with a traceback raises here instead. For sweeps over
    many arguments; each verb keeps a test in a real process, as a user runs it."""
    from gradsim.cli import main

    def run(*args: str) -> subprocess.CompletedProcess:
        capsys.readouterr()
        try:
            code = main(list(args))
        except SystemExit as exit_:  # argparse's refusals
            code = exit_.code if isinstance(exit_.code, int) else 1
        out, err = capsys.readouterr()
        return subprocess.CompletedProcess(["gradsim", *args], code, out, err)

    return run
