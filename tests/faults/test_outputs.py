"""Class 8: outputs are safe. One run per --out (a lock with the holder's PID; a stale one is
taken over), --resume A --out B continues into B, every file is written atomically (a full disk
never leaves half a file), SIGTERM is handled like Ctrl-C, and no temporary file survives: a
stale one from a killed run is removed by the next run in that folder."""

from __future__ import annotations

import errno
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from fastnn.app import plots
from fastnn.app.common import LOCK_NAME
from fastnn.io import atomic, checkpoint

from .conftest import assert_clean, assert_error, assert_no_temp, cli, run, temp_files

LONG = ["train", "--data", "linear", "--epochs", "10000000", "--checkpoint-every", "200",
        "--quiet"]


def _start(argv, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "fastnn.app.cli", *map(str, argv)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


def _wait_for(path: Path, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)


def _assert_whole(out: Path) -> None:
    """Every run file in ``out`` is complete: it loads or parses."""
    for p in out.iterdir():
        if p.name == "model.npz":
            checkpoint.load(p)
        elif p.suffix == ".json":
            json.loads(p.read_text())
        elif p.suffix == ".png":
            assert p.read_bytes().endswith(b"IEND\xaeB`\x82"), p
        elif p.suffix in (".csv", ".txt"):
            assert p.read_text().endswith("\n"), p


# -- one run per folder ---------------------------------------------------------------------------

@pytest.mark.subprocess
def test_a_second_run_into_a_live_runs_folder_is_refused(tmp_path):
    out = tmp_path / "run"
    first = _start([*LONG, "--out", out])
    try:
        _wait_for(out / "model.npz", first)
        assert (out / LOCK_NAME).read_text().strip() == str(first.pid)
        for argv in (["train", "--epochs", "10", "--quiet", "--out", out],
                     ["train", "--resume", out, "--epochs", "20000000", "--quiet"]):
            assert_error(run(argv), 2, "in use by another fastnn run", f"PID {first.pid}")
        assert_error(run(["report", "lab1", "--out", out, "--epochs", "5"]), 2, "in use")
    finally:
        first.send_signal(signal.SIGINT)
        _, err = first.communicate(timeout=60)
    assert first.returncode == 130, err
    assert not (out / LOCK_NAME).exists()  # released and removed
    assert_no_temp(out)


@pytest.mark.parametrize("content", [b"999999999\n", b"", b"garbage\x00\xff", b"1\n"])
def test_a_stale_lock_is_taken_over(tmp_path, capsys, content):
    out = tmp_path / "run"
    out.mkdir()
    (out / LOCK_NAME).write_bytes(content)  # left by a dead process: nobody holds the flock
    assert cli(["train", "--epochs", "20", "--quiet", "--out", out], capsys).code == 0
    assert not (out / LOCK_NAME).exists()


# -- --resume A --out B ---------------------------------------------------------------------------

def test_resume_into_another_folder_continues_there(tmp_path, capsys):
    a, b, straight = tmp_path / "a", tmp_path / "b", tmp_path / "straight"
    base = ["train", "--data", "linear", "--optimizer", "adam", "--lr", "0.01", "--quiet"]
    assert cli([*base, "--epochs", "60", "--out", a], capsys).code == 0
    before = {p.name: p.read_bytes() for p in a.iterdir()}
    assert cli(["train", "--resume", a, "--epochs", "150", "--quiet", "--out", b],
               capsys).code == 0
    assert {p.name: p.read_bytes() for p in a.iterdir()} == before  # A untouched
    assert cli([*base, "--epochs", "150", "--out", straight], capsys).code == 0
    got, want = checkpoint.load(b / "model.npz"), checkpoint.load(straight / "model.npz")
    assert got.epoch == 150
    np.testing.assert_array_equal(got.model.params, want.model.params)  # exact resume
    assert (b / "history.csv").read_text() == (straight / "history.csv").read_text()
    assert json.loads((b / "config.json").read_text())["out"] == str(b)


# -- full disk ------------------------------------------------------------------------------------

def _tmpfs(path: Path, size_kb: int) -> bool:
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kb}k", "tmpfs", str(path)],
                          capture_output=True)
    return done.returncode == 0


@pytest.mark.subprocess
@pytest.mark.slow
def test_a_full_disk_never_leaves_half_a_file(tmp_path):
    """A real small tmpfs (as root), each size failing at a different write."""
    disk = tmp_path / "disk"
    if not _tmpfs(disk, 8):
        pytest.skip("no tmpfs (not root, or mount not allowed): see the injected ENOSPC test")
    subprocess.run(["umount", str(disk)], check=True)
    outcomes = set()
    try:
        for size_kb in (4, 12, 24, 40, 60, 80, 100, 140, 400):
            assert _tmpfs(disk, size_kb)
            try:
                out = disk / "run"
                result = run(["train", "--epochs", "300", "--checkpoint-every", "100", "--quiet",
                              "--out", out])
                assert_clean(result)
                assert result.code in (0, 1, 2), result.err
                if result.code:
                    assert "No space left on device" in result.err, result.err
                outcomes.add(result.code)
                if out.exists():
                    _assert_whole(out)
                    assert_no_temp(out)
                    assert not (out / LOCK_NAME).exists()
            finally:
                subprocess.run(["umount", str(disk)], check=True)
    finally:
        subprocess.run(["umount", str(disk)], capture_output=True)
    assert outcomes >= {0, 1}  # some sizes fail part-way, the largest finishes


@pytest.mark.parametrize("fail_at", range(1, 9))
def test_enospc_at_any_write_leaves_whole_files(tmp_path, capsys, monkeypatch, fail_at):
    """ENOSPC injected at the n-th atomic write of a run (each of its files in turn)."""
    out = tmp_path / "run"
    writes = []
    real_fsync = atomic.os.fsync

    def fsync(fd):
        if os.path.basename(os.readlink(f"/proc/self/fd/{fd}")).startswith("."):
            writes.append(fd)
            if len(writes) == fail_at:
                raise OSError(errno.ENOSPC, "No space left on device")
        return real_fsync(fd)

    monkeypatch.setattr(atomic.os, "fsync", fsync)
    result = cli(["train", "--epochs", "300", "--checkpoint-every", "100", "--quiet", "--out",
                  out], capsys)
    monkeypatch.undo()
    assert_error(result, 1, "No space left on device", "cannot write", str(out))
    if fail_at == 1:  # the first checkpoint: the run leaves nothing, not even its folder
        assert not out.exists()
        return
    _assert_whole(out)
    assert_no_temp(out)
    assert not (out / LOCK_NAME).exists()


# -- signals -----------------------------------------------------------------------------------

@pytest.mark.subprocess
def test_sigterm_is_handled_like_ctrl_c(tmp_path):
    out = tmp_path / "run"
    proc = _start([*LONG, "--out", out])
    _wait_for(out / "model.npz", proc)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert "interrupted after epoch" in err and "SIGTERM" in err and "Traceback" not in err
    ckpt = checkpoint.load(out / "model.npz")
    assert ckpt.epoch > 0 and len((out / "history.csv").read_text().splitlines()) == \
        ckpt.epoch + 1
    assert_no_temp(out)
    assert not (out / LOCK_NAME).exists()


def test_sigterm_while_results_are_written(tmp_path, capsys, monkeypatch):
    """SIGTERM outside the epoch loop (here: while a figure is drawn) ends the command with 143,
    leaving whole files and no temporary one."""
    out = tmp_path / "run"
    real = plots.learning_curve

    def drawn_then_terminated(*args, **kwargs):
        real(*args, **kwargs)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(1)  # the handler raises before this ends

    monkeypatch.setattr(plots, "learning_curve", drawn_then_terminated)
    old = signal.getsignal(signal.SIGTERM)
    try:
        result = cli(["train", "--epochs", "50", "--quiet", "--out", out], capsys)
    finally:
        signal.signal(signal.SIGTERM, old)
    assert result.code == 143 and "terminated" in result.err and "Traceback" not in result.err
    _assert_whole(out)
    assert_no_temp(out)
    assert not (out / LOCK_NAME).exists()


@pytest.mark.subprocess
@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL])
def test_signals_at_random_moments_of_checkpoint_writes(tmp_path, sig):
    """Checkpoints written every epoch; signals at random moments. The checkpoint always loads;
    SIGINT/SIGTERM leave no temporary file; SIGKILL's is removed by the next run there; the
    resumed run ends exactly where an uninterrupted one does."""
    rng = random.Random(sig)
    base = ["train", "--data", "linear", "--n", "40", "--optimizer", "adam", "--lr", "0.01",
            "--quiet"]
    total = 1500
    straight = tmp_path / "straight"
    assert run([*base, "--epochs", total, "--out", straight]).code == 0
    want = checkpoint.load(straight / "model.npz").model.params
    stopped = 0
    for trial in range(4):
        out = tmp_path / f"run{trial}"
        proc = _start([*base, "--epochs", total, "--checkpoint-every", "2", "--out", out])
        _wait_for(out / "model.npz", proc)
        time.sleep(rng.uniform(0, 0.3))
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
        if proc.returncode == 0:  # finished before the signal: nothing to check
            continue
        stopped += 1
        assert proc.returncode == {signal.SIGINT: 130, signal.SIGTERM: 143,
                                   signal.SIGKILL: -9}[sig], err
        assert "Traceback" not in err
        ckpt = checkpoint.load(out / "model.npz")
        if sig != signal.SIGKILL:
            assert_no_temp(out)
        done = run(["train", "--resume", out, "--epochs", total, "--checkpoint-every", total,
                    "--quiet"])
        assert done.code == 0, done.err
        assert_no_temp(out)  # the killed run's temporary file is gone too
        got = checkpoint.load(out / "model.npz")
        assert got.epoch == total and ckpt.epoch < total
        np.testing.assert_array_equal(got.model.params, want)
    assert stopped >= 2


def test_the_next_run_removes_a_killed_runs_temporary_files(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    dead = out / ".model.npz.tmp-999999999"
    dead.write_bytes(b"half a checkpoint")
    live = out / f".history.csv.tmp-{os.getppid()}"  # another live process's: left alone
    live.write_bytes(b"being written")
    assert cli(["train", "--epochs", "20", "--quiet", "--out", out], capsys).code == 0
    assert not dead.exists() and live.exists()
    assert temp_files(out) == [live]


def test_predict_removes_a_killed_predicts_temporary_file(tmp_path, capsys, trained):
    dest = tmp_path / "preds"
    dest.mkdir()
    dead = dest / ".p.csv.tmp-999999999"
    dead.write_text("row,prediction\n0,")
    result = cli(["predict", "--model", trained / "model.npz", "--data", "xor", "--out",
                  dest / "p.csv"], capsys)
    assert result.code == 0, result.err
    assert not dead.exists() and (dest / "p.csv").read_text().count("\n") == 22
    assert_no_temp(dest)
