"""Faults a review found after the first fault suite: each test failed before its fix."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from fastnn.app.common import LOCK_NAME
from fastnn.io import atomic
from fastnn.io.datafiles import split

from .conftest import assert_error, assert_no_temp, cli


def _csv(path, X, y):
    np.savetxt(path, np.c_[X, y], delimiter=",")
    return path


def test_predict_out_writes_through_a_fifo_and_a_symlink(tmp_path, capsys, trained):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_text()))
    reader.start()
    result = cli(["predict", "--model", trained / "model.npz", "--data", "xor", "--out", fifo],
                 capsys)
    reader.join(timeout=30)
    assert result.code == 0, result.err
    assert fifo.is_fifo() and got and got[0].count("\n") == 22
    target, link = tmp_path / "target.csv", tmp_path / "link.csv"
    target.write_text("old\n")
    link.symlink_to(target)
    assert cli(["predict", "--model", trained / "model.npz", "--data", "xor", "--out", link],
               capsys).code == 0
    assert link.is_symlink() and target.read_text().count("\n") == 22
    assert_no_temp(tmp_path)


def test_an_overflowing_optimizer_state_is_divergence(tmp_path, capsys):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 2)) * 1e100
    data = _csv(tmp_path / "e100.csv", X, X[:, 0] > 0)
    out = tmp_path / "run"
    assert_error(cli(["train", "--data", data, "--no-standardize", "--activation", "identity",
                      "--output-activation", "identity", "--loss", "mse", "--optimizer", "adam",
                      "--epochs", "5", "--out", out], capsys), 1, "diverged", "optimizer's v")
    assert not out.exists()


def test_a_non_finite_validation_loss_is_divergence(tmp_path, capsys):
    rng = np.random.default_rng(1)
    X, y = rng.normal(size=(50, 2)), rng.integers(0, 3, 50)
    y[:3] = [0, 1, 2]
    _, val = split(50, 0.2, 2)
    X[val] = 1.7e308
    data = _csv(tmp_path / "valhuge.csv", X, y)
    out = tmp_path / "run"
    assert_error(cli(["train", "--data", data, "--val-split", "0.2", "--no-standardize",
                      "--activation", "relu", "--epochs", "5", "--out", out], capsys),
                 1, "validation loss")
    assert not out.exists()


def test_a_failed_first_checkpoint_keeps_the_previous_run(tmp_path, capsys, monkeypatch):
    out = tmp_path / "run"
    assert cli(["train", "--epochs", "30", "--quiet", "--out", out], capsys).code == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def fsync(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(atomic.os, "fsync", fsync)
    result = cli(["train", "--epochs", "30", "--hidden", "6", "--quiet", "--out", out], capsys)
    monkeypatch.undo()
    assert_error(result, 1, "No space left on device")
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_only_a_previous_run_s_files_are_removed(tmp_path, capsys):
    out = tmp_path / "project"
    out.mkdir()
    (out / "misclassified.png").write_bytes(b"the user's own figure")
    (out / "output.txt").write_text("the user's notes\n")
    assert cli(["train", "--epochs", "30", "--checkpoint-every", "10", "--quiet", "--out", out],
               capsys).code == 0
    assert (out / "misclassified.png").read_bytes() == b"the user's own figure"


def test_the_lock_file_is_never_followed(tmp_path, capsys):
    out, precious = tmp_path / "run", tmp_path / "precious.txt"
    out.mkdir()
    precious.write_text("precious\n")
    (out / LOCK_NAME).symlink_to(precious)
    assert_error(cli(["train", "--epochs", "3", "--out", out], capsys), 2, "--out")
    assert precious.read_text() == "precious\n"


def test_resume_refuses_a_changed_data_file(tmp_path, capsys):
    rng = np.random.default_rng(2)
    X, y = rng.normal(size=(40, 2)), np.arange(40) % 3
    data = _csv(tmp_path / "d.csv", X, y)
    out = tmp_path / "run"
    assert cli(["train", "--data", data, "--epochs", "5", "--quiet", "--out", out],
               capsys).code == 0
    before = (out / "model.npz").read_bytes()
    _csv(data, X, np.where(y == 2, 5, y))  # class 2 renamed 5
    assert_error(cli(["train", "--resume", out, "--epochs", "8"], capsys), 2,
                 "data file changed", "label values")
    _csv(data, X * 2, y)
    assert_error(cli(["train", "--resume", out, "--epochs", "8"], capsys), 2,
                 "feature statistics")
    assert (out / "model.npz").read_bytes() == before


def test_predict_refuses_non_finite_outputs(tmp_path, capsys):
    rng = np.random.default_rng(3)
    X, y = rng.normal(size=(40, 2)), np.arange(40) % 3
    out = tmp_path / "run"
    assert cli(["train", "--data", _csv(tmp_path / "d.csv", X, y), "--hidden", "8",
                "--activation", "relu", "--no-standardize", "--epochs", "5", "--quiet",
                "--out", out], capsys).code == 0
    h = 1.7e308
    rows = np.array([[1.0, 1.0], [h, h], [-h, -h], [h, -h], [-h, h]])
    big = _csv(tmp_path / "big.csv", rows, [0, 1, 2, 0, 1])
    assert_error(cli(["predict", "--model", out / "model.npz", "--data", big], capsys), 2,
                 "output for row", "not finite")


def test_a_write_error_names_the_file_not_its_temporary(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "history.csv").mkdir()
    line = assert_error(cli(["train", "--epochs", "20", "--quiet", "--out", out], capsys), 1)
    assert "history.csv" in line and ".tmp-" not in line
    assert_no_temp(out)


@pytest.mark.subprocess
@pytest.mark.slow
def test_report_is_all_its_runs_or_nothing(tmp_path):
    out = tmp_path / "report"
    proc = subprocess.Popen([sys.executable, "-m", "fastnn.app.cli", "report", "lab1", "--out",
                             str(out), "--epochs", "2000000", "--backend", "numpy"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(4)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    assert "Traceback" not in err and not (out / "REPORT.md").exists()
    assert_no_temp(out)
