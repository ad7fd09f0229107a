"""Shared test setup: Qt runs offscreen unless a developer asks for a real display."""

import os
import subprocess

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# The GUI stores settings; keep tests away from the developer's own.
os.environ.setdefault("GRADSIM_SETTINGS_ORG", "gradsim-tests")


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
