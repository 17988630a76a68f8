"""``fastnn predict --out``: never over its own input (the data, its labels, the model), by
any name; never into a folder; written atomically, with no temporary file left by a failure.
And a text file named ``.npz`` is never called "pickled"."""

from __future__ import annotations

import os

import numpy as np
import pytest

from fastnn.io import atomic

from ._ckpt import train_file_run
from .conftest import assert_error, assert_no_temp, cli


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    return train_file_run(tmp_path_factory.mktemp("out"))


@pytest.fixture
def work(base, tmp_path, monkeypatch):
    """A copy of the run's model and data in the working folder."""
    out, csv = base
    (tmp_path / "model.npz").write_bytes((out / "model.npz").read_bytes())
    (tmp_path / "data.csv").write_bytes(csv.read_bytes())
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _hardlink(src, dst):
    os.link(src, dst)


def _symlink(src, dst):
    os.symlink(src, dst)


@pytest.mark.parametrize("out, alias", [
    ("data.csv", None), ("./data.csv", None), ("sub/../data.csv", None),
    ("{abs}/data.csv", None), ("link.csv", _symlink), ("hard.csv", _hardlink),
    ("model.npz", None), ("./sub/../model.npz", None), ("mlink.npz", _symlink),
    ("mhard.npz", _hardlink),
])
def test_out_is_never_an_input(work, capsys, out, alias):
    (work / "sub").mkdir()
    out = out.format(abs=work)
    target = "model.npz" if out.startswith("m") or "model" in out else "data.csv"
    if alias is not None:
        alias(work / target, work / out)
    before = {p: p.read_bytes() for p in (work / "data.csv", work / "model.npz")}
    flag = "--model" if target == "model.npz" else "--data"
    line = assert_error(cli(["predict", "--model", "model.npz", "--data", "data.csv", "--out",
                             out], capsys), 2, f"is the {flag} file", "never writes over")
    assert "Traceback" not in line
    assert {p: p.read_bytes() for p in before} == before
    assert_no_temp(work)


def test_out_is_never_the_labels_of_an_npy_pair(work, capsys):
    np.save(work / "X.npy", np.zeros((4, 3)))
    np.save(work / "y.npy", np.array([3.0, 7.0, 3.0, 7.0]))
    before = (work / "y.npy").read_bytes()
    assert_error(cli(["predict", "--model", "model.npz", "--data", "X.npy", "--out", "y.npy"],
                     capsys), 2, "is the --data's labels file")
    assert (work / "y.npy").read_bytes() == before


@pytest.mark.parametrize("out, needle", [
    ("sub", "is a folder; predict writes one CSV file"),
    ("sub/", "is a folder"),
    (".", "is a folder"),
    ("new/", "is a folder"),
    ("missing/p.csv", "no folder 'missing'"),
])
def test_out_into_a_folder_is_one_line(work, capsys, out, needle):
    (work / "sub").mkdir()
    assert_error(cli(["predict", "--model", "model.npz", "--data", "data.csv", "--out", out],
                     capsys), 2, needle)
    assert not (work / "new").exists() and sorted(os.listdir(work / "sub")) == []
    assert_no_temp(work)


def test_predictions_replace_an_old_file_atomically(work, capsys, monkeypatch):
    (work / "p.csv").write_text("old\n")
    result = cli(["predict", "--model", "model.npz", "--data", "data.csv", "--out", "p.csv"],
                 capsys)
    assert result.code == 0 and (work / "p.csv").read_text().startswith("row,prediction,p0")
    good = (work / "p.csv").read_text()

    def full_disk(fd):  # the disk fills up as the file is flushed to it
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    result = cli(["predict", "--model", "model.npz", "--data", "data.csv", "--out", "p.csv"],
                 capsys)
    assert_error(result, 1, "No space left on device")
    assert (work / "p.csv").read_text() == good
    assert_no_temp(work)


def test_predictions_go_through_the_one_atomic_writer(work, capsys, monkeypatch):
    calls = []
    real = atomic.atomic_write
    monkeypatch.setattr(atomic, "atomic_write",
                        lambda p, w, **kw: (calls.append(p), real(p, w, **kw)))
    assert cli(["predict", "--model", "model.npz", "--data", "data.csv", "--out", "q.csv"],
               capsys).code == 0
    assert [str(p) for p in calls] == ["q.csv"]


@pytest.mark.parametrize("which", ["--model", "--data"])
def test_a_text_file_named_npz_is_not_called_pickled(work, capsys, which):
    (work / "text.npz").write_text("a,b\n1,2\n")
    argv = ["predict", "--model", "model.npz", "--data", "data.csv"]
    argv[argv.index(which) + 1] = "text.npz"
    line = assert_error(cli(argv, capsys), 2, "text.npz")
    assert "pickle" not in line.lower()
    assert "npz archive" in line
