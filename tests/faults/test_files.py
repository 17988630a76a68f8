"""Class 5, files: every data file fastnn cannot use ends in one line naming it, exit 2; a file it
can use (a byte-order mark, CRLF, extreme magnitudes) trains to finite results; a pipe is read
once and nothing hangs."""

from __future__ import annotations

import errno
import json
import os
import socket
import sys
import tempfile
import threading
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fastnn.io import datafiles
from fastnn.io.datafiles import DataFileError, Standardizer, load_dataset, read_csv

from .conftest import assert_clean, assert_error, cli, run

XOR = "0,0,0\n0,1,1\n1,0,1\n1,1,0\n"


def _text(name: str, text: str):
    def make(d: Path) -> Path:
        (d / name).write_text(text, newline="")
        return d / name
    return make


def _bytes(name: str, data: bytes):
    def make(d: Path) -> Path:
        (d / name).write_bytes(data)
        return d / name
    return make


def _npz(name="d.npz", **arrays):
    def make(d: Path) -> Path:
        np.savez(d / name, **arrays)
        return d / name
    return make


def _npy_pair(X, y, stem="train"):
    def make(d: Path) -> Path:
        np.save(d / f"{stem}_X.npy", X)
        if y is not None:
            np.save(d / f"{stem}_y.npy", y)
        return d / f"{stem}_X.npy"
    return make


def _loop(d: Path) -> Path:
    os.symlink(d / "loop2.csv", d / "loop1.csv")
    os.symlink(d / "loop1.csv", d / "loop2.csv")
    return d / "loop1.csv"


def _self_loop(d: Path) -> Path:
    os.symlink(d / "self.npz", d / "self.npz")
    return d / "self.npz"


def _dangling(d: Path) -> Path:
    os.symlink(d / "gone.csv", d / "link.csv")
    return d / "link.csv"


def _folder(name):
    def make(d: Path) -> Path:
        (d / name).mkdir()
        return d / name
    return make


def _device(device, name):
    def make(d: Path) -> Path:
        os.symlink(device, d / name)
        return d / name
    return make


def _socket(d: Path) -> Path:
    # AF_UNIX paths are short: bind in a short folder, link to it from d
    import tempfile
    short = Path(tempfile.mkdtemp(prefix="fs"))
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(short / "s"))
    os.symlink(short / "s", d / "sock.csv")
    return d / "sock.csv"


def _structured():
    a = np.zeros(3, dtype=[("a", "f8"), ("b", "i4")])
    return a


def _zip_of_text(d: Path) -> Path:
    with zipfile.ZipFile(d / "z.npz", "w") as z:
        z.writestr("X.npy", "not an array")
        z.writestr("y.npy", "not an array")
    return d / "z.npz"


def _many_classes(d: Path) -> Path:
    n = 2**16 + 1
    rows = "\n".join(f"{i % 7},{i}" for i in range(n))
    (d / "many.csv").write_text(rows + "\n")
    return d / "many.csv"


#: (id, how to make the file in a folder, what the one line must say)
BAD_FILES = [
    ("symlink-loop", _loop, "symlink loop"),
    ("self-loop-npz", _self_loop, "symlink loop"),
    ("dangling-symlink", _dangling, "no such file"),
    ("missing", lambda d: d / "missing.csv", "no such file"),
    ("folder-csv", _folder("d.csv"), "is a folder"),
    ("folder-npz", _folder("d.npz"), "is a folder"),
    ("folder-npy", _folder("X.npy"), "is a folder"),
    ("dev-zero-csv", _device("/dev/zero", "zero.csv"), "is a device"),
    ("dev-urandom-npz", _device("/dev/urandom", "random.npz"), "is a device"),
    ("dev-urandom-npy", _device("/dev/urandom", "X.npy"), "is a device"),
    ("dev-null-csv", _device("/dev/null", "null.csv"), "is a device"),
    ("socket", _socket, "is a socket"),
    # CSV text
    ("empty", _text("d.csv", ""), "the file is empty"),
    ("only-bom", _bytes("d.csv", b"\xef\xbb\xbf"), "the file is empty"),
    ("bom-header-only", _bytes("d.csv", b"\xef\xbb\xbfa,b,y\n"), "header but no data rows"),
    ("not-utf8", _bytes("d.csv", b"1,2,0\n\xff\xfe,1,1\n"), "not UTF-8"),
    ("utf16", _bytes("d.csv", "1,2,0\n3,4,1\n".encode("utf-16")), "d.csv"),
    ("nul-in-cell", _text("d.csv", "1,2,0\n3,4\x00,1\n"), "line 2, column 2"),
    ("quoted-newline", _text("d.csv", 'a,b,y\n1,2,0\n"3\n4",5,1\n'), "non-numeric cell"),
    ("quoted-text", _text("d.csv", '1,2,0\n"x",5,1\n'), "non-numeric cell 'x'"),
    ("unclosed-quote", _text("d.csv", '1,2,0\n"3,5,1\n'), "d.csv"),
    ("underscore-first-row", _text("d.csv", "1_000,2,0\n3,4,1\n"), "'1_000' at line 1"),
    ("underscore", _text("d.csv", "1,2,0\n3,1_0,1\n"), "'1_0' at line 2, column 2"),
    ("hex-first-row", _text("d.csv", "0x10,2,0\n3,4,1\n"), "'0x10' at line 1"),
    ("binary-literal", _text("d.csv", "1,2,0\n0b1,4,1\n"), "'0b1' at line 2"),
    ("nan-first-row", _text("d.csv", "nan,2,0\n3,4,1\n"), "(NaN or inf) at line 1"),
    ("infinity", _text("d.csv", "1,2,0\n-Infinity,4,1\n"), "(NaN or inf) at line 2"),
    ("overflow", _text("d.csv", "1,2,0\n1e400,4,1\n"), "beyond the range of float64"),
    ("blank-cell-first-row", _text("d.csv", "1,,0\n3,4,1\n"), "empty cell at line 1, column 2"),
    ("blank-cell", _text("d.csv", "a,b,y\n1,2,0\n3, ,1\n"), "empty cell at line 3, column 2"),
    ("ragged-crlf", _text("d.csv", "1,2,0\r\n3,4\r\n"), "ragged row at line 2"),
    ("ragged-long", _text("d.csv", "1,2,0\n3,4,1,5,6\n"), "5 fields, expected 3"),
    ("one-column", _text("d.csv", "1\n0\n"), "need at least 2"),
    ("fraction-labels", _text("d.csv", "1,0\n2,0.5\n3,1\n"), "label 0.5 (row 2) is not a whole"),
    ("one-class", _text("d.csv", "1,1\n2,1\n"), "a single class"),
    ("too-many-classes", _many_classes, "at most 65536 classes"),
    ("label-name-no-header", None, "has no header row"),
    ("huge-field", _text("d.csv", "1,2,0\n" + "9" * 200_000 + ",1,1\n"), "field larger"),
    # npz / npy
    ("npz-text", _text("d.npz", "X,y\n1,0\n"), "not a .npz archive"),
    ("npz-empty-file", _text("d.npz", ""), "the file is empty"),
    ("npz-truncated", _bytes("d.npz", b"PK\x03\x04garbage"), "not a readable .npz archive"),
    ("npz-zip-of-text", _zip_of_text, "not a readable .npz archive"),
    ("npz-no-X", _npz(Z=np.zeros(3)), "no array named 'X'"),
    ("npz-no-y", _npz(X=np.zeros((3, 2))), "no array named 'y'"),
    ("npz-object", _npz(X=np.array([[1, "a"]], dtype=object), y=np.zeros(1)), "d.npz"),
    ("npz-complex", _npz(X=np.ones((3, 2), complex), y=np.arange(3)), "complex128"),
    ("npz-structured", _npz(X=_structured(), y=np.arange(3)), "real numbers are needed"),
    ("npz-strings", _npz(X=np.array([["a", "b"]]), y=np.zeros(1)), "<U1"),
    ("npz-datetime", _npz(X=np.array(["2020-01-01"], "M8[D]"), y=np.zeros(1)), "datetime"),
    ("npz-0d", _npz(X=np.float64(3.0), y=np.zeros(1)), "shape ()"),
    ("npz-3d", _npz(X=np.zeros((2, 2, 2)), y=np.arange(2)), "shape (2, 2, 2)"),
    ("npz-no-columns", _npz(X=np.zeros((3, 0)), y=np.arange(3)), "no columns"),
    ("npz-no-rows", _npz(X=np.zeros((0, 2)), y=np.zeros(0)), "is empty"),
    ("npz-y-2d", _npz(X=np.zeros((3, 2)), y=np.zeros((3, 2))), "one label per row"),
    ("npz-y-short", _npz(X=np.zeros((3, 2)), y=np.arange(2)), "3 rows of X but 2 labels"),
    ("npz-inf", _npz(X=np.array([[0.0, np.inf]]), y=np.zeros(1)), "NaN or inf at index (0, 1)"),
    ("npz-longdouble", _npz(X=np.full((2, 1), np.finfo(np.longdouble).max),
                            y=np.arange(2)), "NaN or inf"),
    ("npz-y-fraction", _npz(X=np.zeros((3, 1)), y=np.array([0, 0.5, 1])), "not a whole"),
    ("npz-y-complex", _npz(X=np.zeros((3, 1)), y=np.ones(3, complex)), "complex"),
    ("npy-text", _text("X.npy", "1,2\n"), "not a .npy array"),
    ("npy-object", _npy_pair(np.array([None, 1], dtype=object), np.arange(2)), "train_X.npy"),
    ("npy-bad-header", _bytes("X.npy", b"\x93NUMPY\x01\x00\x05\x00{bad}"),
     "not a readable .npy array"),
    ("npy-no-labels", _npy_pair(np.zeros((3, 2)), None), "train_y.npy is not beside it"),
    ("npy-no-pair-name", _bytes("lonely.npy", b"\x93NUMPY"), "cannot tell where its labels"),
    ("unknown-suffix", lambda d: d / "sub/data.txt", "unknown data"),
]


def _make(case, d: Path) -> tuple[Path, list[str]]:
    cid, make, _ = case
    if cid == "label-name-no-header":
        return _text("d.csv", XOR)(d), ["--label-col", "label"]
    return make(d), []


@pytest.mark.parametrize("case", BAD_FILES, ids=[c[0] for c in BAD_FILES])
def test_a_bad_data_file_is_one_line_naming_it(tmp_path, capsys, case):
    path, extra = _make(case, tmp_path)
    out = tmp_path / "out"
    result = cli(["train", "--data", path, "--epochs", "2", "--quiet", "--out", out, *extra],
                 capsys)
    line = assert_error(result, 2, case[2])
    assert path.name in line
    assert not out.exists()


@pytest.mark.parametrize("case", [c for c in BAD_FILES if c[0] in {
    "symlink-loop", "folder-csv", "dev-zero-csv", "npz-text", "npz-object", "nul-in-cell",
    "not-utf8", "underscore", "npz-3d", "dangling-symlink", "npz-zip-of-text"}],
    ids=lambda c: c[0])
def test_predict_refuses_the_same_files(tmp_path, capsys, case, trained_here):
    path, extra = _make(case, tmp_path)
    result = cli(["predict", "--model", trained_here / "model.npz", "--data", path, *extra],
                 capsys)
    assert_error(result, 2, case[2])


@pytest.fixture(scope="module")
def trained_here(tmp_path_factory) -> Path:
    """An XOR run (2 features, one 0/1 output) trained in this process."""
    out = tmp_path_factory.mktemp("xor") / "run"
    from fastnn.app.cli import main
    assert main(["train", "--epochs", "20", "--quiet", "--out", str(out)]) == 0
    return out


def test_a_library_caller_gets_a_data_file_error_too(tmp_path):
    for case in BAD_FILES:
        if case[0] in ("unknown-suffix", "label-name-no-header", "socket"):
            continue
        d = tmp_path / case[0]
        d.mkdir()
        path, _ = _make(case, d)
        with pytest.raises(DataFileError) as info:
            load_dataset(path)
        assert "\n" not in str(info.value) and path.name in str(info.value)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_an_unreadable_file(tmp_path, capsys):
    path = _text("d.csv", XOR)(tmp_path)
    path.chmod(0)
    assert_error(cli(["train", "--data", path, "--out", tmp_path / "o"], capsys), 2,
                 "permission denied")


def test_a_file_that_vanishes_after_the_checks(tmp_path, capsys, monkeypatch):
    """The run's settings are checked, then the file goes (or becomes a folder) before it is
    read: the reader says so in one line."""
    path = _text("d.csv", XOR)(tmp_path)
    real = datafiles.load_dataset

    def vanish_then_load(p, *args, **kwargs):
        os.unlink(p)
        return real(p, *args, **kwargs)

    monkeypatch.setattr(datafiles, "load_dataset", vanish_then_load)
    assert_error(cli(["train", "--data", path, "--out", tmp_path / "o"], capsys), 2,
                 "no such file")
    path.write_text(XOR)

    def swap_then_load(p, *args, **kwargs):
        os.unlink(p)
        os.mkdir(p)
        return real(p, *args, **kwargs)

    monkeypatch.setattr(datafiles, "load_dataset", swap_then_load)
    assert_error(cli(["train", "--data", path, "--out", tmp_path / "o"], capsys), 2,
                 "is a folder")


def test_a_long_line_and_a_large_pipe_are_bounded(tmp_path, monkeypatch):
    monkeypatch.setattr(datafiles, "MAX_LINE_CHARS", 64)
    path = _text("d.csv", "1,2,0\n" + "1," * 40 + "1\n")(tmp_path)
    with pytest.raises(DataFileError, match="line 2 is longer than 64 characters"):
        load_dataset(path)
    monkeypatch.setattr(datafiles, "MAX_FILE_BYTES", 100)
    path = _text("d.csv", XOR * 10)(tmp_path)
    with pytest.raises(DataFileError, match="at most 100"):
        load_dataset(path)


# -- a byte-order mark, CRLF, quotes: the same data as without them --------------------------------

SAME_AS_PLAIN = [
    ("bom-numeric", b"\xef\xbb\xbf" + XOR.encode()),
    ("bom-header", b"\xef\xbb\xbfa,b,y\n" + XOR.encode()),
    ("crlf", XOR.replace("\n", "\r\n").encode()),
    ("bom-crlf", b"\xef\xbb\xbf" + XOR.replace("\n", "\r\n").encode()),
    ("quoted", b'"0","0","0"\n0,"1",1\n1,0,1\n1,1,"0"\n'),
    ("spaces", b" 0, 0 ,0\n0,1,1\n1,0,1\n1,1,0\n"),
    ("blank-lines", b"\n0,0,0\n\n0,1,1\n1,0,1\n \n1,1,0\n\n"),
    ("no-final-newline", XOR.rstrip("\n").encode()),
]


@pytest.mark.parametrize("name, data", SAME_AS_PLAIN, ids=[c[0] for c in SAME_AS_PLAIN])
def test_bom_crlf_and_quotes_read_as_the_plain_file(tmp_path, name, data):
    plain = _text("plain.csv", XOR)(tmp_path)
    path = _bytes("d.csv", data)(tmp_path)
    X, y, names = read_csv(path)
    X0, y0, names0 = read_csv(plain)
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(y, y0)
    if name != "bom-header":
        assert names == names0
    else:
        assert names == ["a", "b"]


def test_a_bom_before_a_numeric_first_row_trains_on_every_row(tmp_path, capsys):
    path = _bytes("bom.csv", b"\xef\xbb\xbf" + XOR.encode())(tmp_path)
    out = tmp_path / "run"
    assert cli(["train", "--data", path, "--epochs", "3", "--quiet", "--out", out],
               capsys).code == 0
    assert json.loads((out / "config.json").read_text())["n_train"] == 4


# -- extreme magnitudes: standardised to finite numbers, never a varying feature made constant -----

SCALES = [1e200, 1e-300, 1e308, 1e-308, 5e-324, 1.7e308]


@pytest.mark.parametrize("scale", SCALES)
def test_standardizer_is_finite_and_keeps_varying_features(scale):
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, (50, 3)) * scale
    X[:, 2] = np.abs(X[:, 2])  # one column of one sign
    with np.errstate(all="raise"):  # no overflow warning escapes either
        pass
    norm = Standardizer.fit(X)
    assert np.isfinite(norm.mean).all() and np.isfinite(norm.std).all()
    varying = X.max(axis=0) > X.min(axis=0)
    assert (norm.std[varying] > 0).all() and varying.all()
    Z = norm(X)
    assert np.isfinite(Z).all()
    assert (Z.max(axis=0) > Z.min(axis=0)).all()  # still varying after standardisation
    if scale >= 1e-300:
        assert np.all(np.abs(Z) < 10)


def test_a_far_away_row_is_refused_not_made_inf():
    norm = Standardizer.fit(np.array([[1e-300], [2e-300]]))
    with pytest.raises(ValueError, match="too far from the data"):
        norm(np.array([[1e300]]))


@pytest.mark.parametrize("scale", [1e200, 1e-300, 1e308, -1e308])
def test_a_file_of_extreme_magnitudes_trains_to_finite_results(tmp_path, capsys, scale):
    rng = np.random.default_rng(1)
    X = rng.uniform(0.1, 1, (20, 2)) * scale
    y = (X[:, 0] > X[:, 1]).astype(int)
    y[:2] = [0, 1]
    path = tmp_path / "big.csv"
    path.write_text("".join(f"{float(a)!r},{float(b)!r},{c}\n"
                            for (a, b), c in zip(X, y, strict=True)))
    out = tmp_path / "run"
    result = cli(["train", "--data", path, "--epochs", "20", "--quiet", "--out", out], capsys)
    assert result.code == 0, result.err
    _assert_finite_run(out)


@pytest.mark.parametrize("text", [
    ".5,-3,1e300\n 2 ,-3.6e-156,0\n+1,.5,1e300\n2,-7.04e16,0\n",  # found by hypothesis
    "1e-300,1e300,0\n2e-300,-1e300,1\n3e-300,5e299,0\n4e-300,0,1\n",
    "0,0,0\n1e-320,1e308,1\n0,1e308,0\n1e-320,0,1\n",
])
def test_columns_of_unlike_spans_train_and_plot(tmp_path, capsys, text):
    """Two features whose spans differ by 1e16 or more: the comparison figure is drawn (an
    equal-aspect plot of them made matplotlib's transform singular: exit 2 after training)."""
    path = tmp_path / "unlike.csv"
    path.write_text(text)
    out = tmp_path / "run"
    result = cli(["train", "--data", path, "--epochs", "5", "--quiet", "--out", out], capsys)
    assert result.code == 0, result.err
    assert (out / "comparison.png").stat().st_size > 0
    _assert_finite_run(out)


def _assert_finite_run(out: Path) -> None:
    config = json.loads((out / "config.json").read_text())
    assert np.isfinite(config["final_loss"])
    with np.load(out / "model.npz", allow_pickle=False) as f:
        for name in f.files:
            a = f[name]
            if a.dtype.kind == "f":
                assert np.isfinite(a).all(), name
    for line in (out / "output.txt").read_text().splitlines():
        assert "nan" not in line.lower() and "inf" not in line.lower(), line


# -- FIFOs: read once, never hang (real processes, with a timeout) --------------------------------

def _feed(fifo: Path, data: bytes, deadline: float) -> threading.Thread:
    """Write ``data`` into ``fifo`` once, as soon as a reader opens it; give up at ``deadline``
    (a writer blocked on open would hang the test when fastnn never reads)."""
    def write():
        while time.monotonic() < deadline:
            try:
                fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
            except OSError as e:
                if e.errno != errno.ENXIO:  # ENXIO: no reader yet
                    raise
                time.sleep(0.02)
                continue
            os.set_blocking(fd, True)
            try:
                with open(fd, "wb") as f:
                    f.write(data)
            except BrokenPipeError:
                pass
            return

    thread = threading.Thread(target=write, daemon=True)
    thread.start()
    return thread


def _fifo(tmp_path: Path, name: str, data: bytes) -> tuple[Path, threading.Thread]:
    path = tmp_path / name
    os.mkfifo(path)
    return path, _feed(path, data, time.monotonic() + 60)


def _npz_bytes(**arrays) -> bytes:
    import io
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


@pytest.mark.subprocess
@pytest.mark.parametrize("name, data", [
    ("fifo.csv", XOR.encode() * 5),
    ("fifo.npz", _npz_bytes(X=np.array([[0, 0], [0, 1], [1, 0], [1, 1]] * 5, float),
                            y=np.array([0, 1, 1, 0] * 5))),
])
def test_train_reads_a_fifo_once(tmp_path, name, data):
    fifo, writer = _fifo(tmp_path, name, data)
    out = tmp_path / "run"
    result = run(["train", "--data", fifo, "--epochs", "5", "--quiet", "--out", out],
                 timeout=90)
    writer.join(5)
    assert result.code == 0, result.err
    assert json.loads((out / "config.json").read_text())["n_train"] == 20


@pytest.mark.subprocess
@pytest.mark.parametrize("name, data, labelled", [
    ("fifo.csv", XOR.encode(), True),
    ("fifo.csv", b"0,0\n0,1\n1,0\n1,1\n", False),
    ("fifo.npz", _npz_bytes(X=np.array([[0, 0], [1, 1.0]]), y=np.array([0, 1])), True),
    ("fifo.npz", _npz_bytes(X=np.array([[0, 0], [1, 1.0]])), False),
])
def test_predict_reads_a_fifo_once(tmp_path, trained, name, data, labelled):
    fifo, writer = _fifo(tmp_path, name, data)
    result = run(["predict", "--model", trained / "model.npz", "--data", fifo], timeout=60)
    writer.join(5)
    assert result.code == 0, result.err
    assert ("accuracy=" in result.err) == labelled


@pytest.mark.subprocess
def test_a_fifo_with_bad_data_is_one_line(tmp_path):
    fifo, writer = _fifo(tmp_path, "bad.csv", b"1,2,0\n3,x,1\n")
    result = run(["train", "--data", fifo, "--epochs", "2", "--out", tmp_path / "o"], timeout=60)
    writer.join(5)
    assert_error(result, 2, "non-numeric cell 'x' at line 2, column 2")


@pytest.mark.subprocess
def test_a_real_symlink_loop_in_a_real_process(tmp_path):
    path = _loop(tmp_path)
    result = run(["train", "--data", path, "--out", tmp_path / "o"], timeout=60)
    assert_error(result, 2, "loop1.csv: a symlink loop")
    result = run(["train", "--data", "loop1.csv", "--out", tmp_path / "o"], cwd=tmp_path,
                 timeout=60)
    assert_error(result, 2, "symlink loop")


# -- hypothesis: any CSV ends in a clean finite run or one line, exit 2 ---------------------------

_MAGNITUDES = st.sampled_from([0.0, 1.0, -1.0, 0.5, 3.0, 1e200, -1e200, 1e-300, 1e308,
                               -1.7e308, 5e-324, 1e-310, 2.2250738585072014e-308])
#: Cells that are numbers, in the spellings fastnn reads.
_NUMBERS = st.one_of(
    _MAGNITUDES.map(repr),
    st.integers(-3, 3).map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.sampled_from([" 2 ", "+1", ".5", "5.", '"1"', "1e-3", "\u0661", "-0"]),
)
#: Cells that are not: blanks, text, NaN/inf, other bases, overflow, stray quotes, NUL.
_BAD_CELLS = st.sampled_from(["", " ", "x", "nan", "inf", "-Infinity", "1_000", "0x10", "1e400",
                              '"a,b"', '"', "\x00", "1\x00", '"1\n2"', "1;2", "\ufeff1"])
_LABELS = st.sampled_from([["0", "1"], ["0", "1", "2"], ["3", "5", "7"], ["-1", "1"],
                           ["1e300", "0"], ["0.5", "1"], ["1"], ["0", "1", "1.0"]])
_MUTATIONS = st.lists(st.sampled_from(["bad-cell", "ragged", "blank-line", "header", "bom",
                                       "crlf", "cr", "no-final-eol", "quote-all", "extra-line"]),
                      max_size=3)


@st.composite
def csv_files(draw) -> bytes:
    """A CSV of numbers of every magnitude with a label column, then up to three mutations:
    a bad cell, a ragged row, a header, a byte-order mark, CRLF or CR line ends..."""
    n, width = draw(st.integers(2, 8)), draw(st.integers(1, 3))
    labels = draw(_LABELS)
    rows = [[draw(_NUMBERS) for _ in range(width)] + [labels[i % len(labels)]]
            for i in range(n)]
    mutations = draw(_MUTATIONS)
    eol, bom, header, final = "\n", False, None, True
    for m in mutations:
        i = draw(st.integers(0, n - 1))
        if m == "bad-cell":
            rows[i][draw(st.integers(0, width))] = draw(_BAD_CELLS)
        elif m == "ragged":
            rows[i] = rows[i][:-1] if draw(st.booleans()) else rows[i] + ["1"]
        elif m == "blank-line":
            rows.insert(i, [""])
        elif m == "header":
            header = ",".join(draw(st.sampled_from(["a", "b", "label", '"q""uoted"', "x y"]))
                              for _ in range(width + 1))
        elif m == "quote-all":
            rows = [[f'"{c}"' if '"' not in c else c for c in r] for r in rows]
        elif m == "extra-line":
            rows.append([draw(_NUMBERS) for _ in range(draw(st.integers(1, width + 2)))])
        elif m == "bom":
            bom = True
        elif m == "no-final-eol":
            final = False
        else:
            eol = "\r\n" if m == "crlf" else "\r"
    text = eol.join(([header] if header else []) + [",".join(r) for r in rows])
    data = (text + (eol if final else "")).encode("utf-8")
    return b"\xef\xbb\xbf" + data if bom else data


def _train_any_csv(tmp_path: Path, capsys, data: bytes) -> None:
    d = Path(tempfile.mkdtemp(dir=tmp_path))
    path = d / "h.csv"
    path.write_bytes(data)
    out = d / "run"
    result = cli(["train", "--data", path, "--epochs", "3", "--hidden", "3", "--quiet",
                  "--out", out], capsys)
    assert_clean(result)
    assert result.code in (0, 2), result.err
    if result.code == 0:
        _assert_finite_run(out)
    else:
        assert "h.csv" in result.err
        assert not out.exists()


_HYPOTHESIS = dict(deadline=None, derandomize=True,
                   suppress_health_check=[HealthCheck.function_scoped_fixture,
                                          HealthCheck.too_slow])


@settings(max_examples=30, **_HYPOTHESIS)
@given(data=csv_files())
def test_any_csv_trains_finitely_or_is_one_line(tmp_path, capsys, data):
    _train_any_csv(tmp_path, capsys, data)


@pytest.mark.slow
@settings(max_examples=200, **_HYPOTHESIS)
@given(data=csv_files())
def test_any_csv_trains_finitely_or_is_one_line_more(tmp_path, capsys, data):
    _train_any_csv(tmp_path, capsys, data)


def test_the_hypothesis_csvs_quickly(tmp_path):
    """The generated CSVs through the reader alone (fast, in the default suite): a dataset of
    finite numbers or a one-line DataFileError, never another exception."""
    @settings(max_examples=150, deadline=None, derandomize=True)
    @given(data=csv_files())
    def check(data):
        path = tmp_path / "q.csv"
        path.write_bytes(data)
        try:
            ds = load_dataset(path)
        except DataFileError as e:
            assert "\n" not in str(e) and "q.csv" in str(e)
            return
        assert np.isfinite(ds.X).all() and np.isfinite(ds.y).all()
        Z = Standardizer.fit(ds.X)(ds.X)
        assert np.isfinite(Z).all()

    check()


if sys.platform != "linux":  # pragma: no cover
    pytestmark = pytest.mark.skip("FIFOs, devices and sockets as on Linux")
