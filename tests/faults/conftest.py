"""The fault suite's shared checks: every bad input or fault must end in a clean result or in
fastnn's own one-line error; never a traceback, a silent wrong result, a lost file or a leftover
temporary file.

``cli`` runs the command line in this process (fast: hypothesis can try hundreds of inputs);
``run`` starts it as a real process (for signals, FIFOs, exit codes as the shell sees them).
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from fastnn.app.cli import main

#: Exit codes of a clean end: success, divergence / I/O failure, bad input, interrupted, SIGTERM.
CLEAN_CODES = {0, 1, 2, 130, 143}
#: What a temporary file written by fastnn looks like (atomic writes, the write probe, locks).
TEMP_MARKERS = (".tmp-", ".fastnn-write-test-")


@dataclass
class Result:
    code: int
    out: str
    err: str


def cli(argv: list[str], capsys) -> Result:
    """``fastnn argv`` in this process; the result with its captured output."""
    capsys.readouterr()
    try:
        code = main([str(a) for a in argv])
    except SystemExit as e:  # --help, --version
        code = e.code if isinstance(e.code, int) else 0
    captured = capsys.readouterr()
    return Result(code, captured.out, captured.err)


def run(argv: list[str], cwd: Path | str | None = None, timeout: float = 120,
        **kwargs) -> Result:
    """``fastnn argv`` as a real process (``python -m fastnn.app.cli``)."""
    proc = subprocess.run([sys.executable, "-m", "fastnn.app.cli", *map(str, argv)], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout, **kwargs)
    return Result(proc.returncode, proc.stdout, proc.stderr)


def assert_error(result: Result, code: int = 2, *needles: str) -> str:
    """The run ended in fastnn's own one-line error with exit ``code``; returns the line.

    ``needles`` must each occur in the line (case-sensitive)."""
    assert "Traceback" not in result.err, result.err
    assert result.code == code, (result.code, result.err)
    lines = [line for line in result.err.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("fastnn: error: ")]
    assert len(errors) == 1, result.err
    for needle in needles:
        assert needle in errors[0], (needle, errors[0])
    return errors[0]


def assert_clean(result: Result) -> None:
    """The run succeeded or ended in fastnn's own one-line error: nothing else."""
    assert "Traceback" not in result.err, result.err
    assert result.code in CLEAN_CODES, (result.code, result.err)
    if result.code == 0:
        return
    errors = [line for line in result.err.splitlines() if line.startswith("fastnn: ")]
    assert len(errors) == 1, result.err


def temp_files(folder: Path | str) -> list[Path]:
    """fastnn's temporary files anywhere under ``folder``."""
    found = []
    for root, dirs, files in os.walk(folder):
        found += [Path(root, f) for f in files + dirs if any(m in f for m in TEMP_MARKERS)]
    return found


def assert_no_temp(folder: Path | str) -> None:
    """No temporary file of fastnn's survives under ``folder``."""
    assert temp_files(folder) == []


@pytest.fixture
def trained(tmp_path_factory) -> Path:
    """A finished XOR run's output folder (model.npz and the rest), trained afresh for each
    test, since tests damage its files (in this process: quicker than a CLI child)."""
    out = tmp_path_factory.mktemp("trained") / "run"
    assert main(["train", "--epochs", "200", "--quiet", "--out", str(out)]) == 0
    return out
