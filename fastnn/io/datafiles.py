"""A user's own data: ``.csv``, ``.npz`` (arrays ``X``, ``y``) and ``.npy`` pairs.

Every problem with a file is a :class:`DataFileError` (a ``ValueError``) whose one-line message
names the file and, for CSV, the line and column: an empty file, a ragged row, a non-numeric
cell, NaN or inf, a single class, a file that does not exist, a symlink loop, a folder, a device.

Each file is opened once and read once, so a named pipe (FIFO) works like a file: nothing is
read twice. A device or socket is refused before it is read; what is read is bounded by
:data:`MAX_FILE_BYTES`, and a CSV line by :data:`MAX_LINE_CHARS`.

Numbers in a CSV are what Python's ``float`` reads (``1``, ``-2.5``, ``1e-3``), without ``_``
digit separators; ``0x10`` and ``1_000`` are refused as numbers written in a way fastnn does not
read, wherever they stand, and ``nan``/``inf`` as values a network cannot learn from. A UTF-8
byte-order mark is ignored.
"""

from __future__ import annotations

import csv
import errno
import io
import math
import os
import stat
from dataclasses import dataclass
from pathlib import Path

import numpy as np


def _memory_bytes() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return 2**36


#: The most bytes read from one data file: a quarter of this machine's memory, so that the
#: arrays parsed from it (a CSV cell of 2 bytes becomes 8) and their copies fit beside them.
MAX_FILE_BYTES = _memory_bytes() // 4
#: The longest CSV line read (a line without a newline in a stream of bytes ends here).
MAX_LINE_CHARS = 1 << 24
#: The most classes a label column may have (one output unit each).
MAX_CLASSES = 2**16


class DataFileError(ValueError):
    """A data file that cannot be used; the message says where and why."""


def _shown(text: object) -> str:
    """``text`` as it can stand in a one-line message: quoted when not printable."""
    text = str(text)
    return text if text.isprintable() else repr(text)


def _error(path: Path | str, reason: str) -> DataFileError:
    return DataFileError(f"{_shown(path)}: {' '.join(reason.split())}")


@dataclass
class Dataset:
    """Features and encoded labels from a file.

    ``X`` is float64 (n, d); ``y`` is float64 (n, 1) of 0/1 for two classes or one-hot (n, k)
    for k > 2; ``classes`` holds the original label values, in the order of the encoding;
    ``feature_names`` the CSV header (or ``x0, x1, ...``).
    """

    X: np.ndarray
    y: np.ndarray | None
    classes: np.ndarray | None
    feature_names: list[str]


# -- opening: once, and only what can be read as a file -------------------------------------------

def _check_mode(path: Path, mode: int) -> bool:
    """True for a FIFO, False for a regular file; DataFileError for anything else."""
    if stat.S_ISDIR(mode):
        raise _error(path, "is a folder, not a data file")
    if stat.S_ISFIFO(mode):
        return True
    if not stat.S_ISREG(mode):
        what = "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "a socket" \
            if stat.S_ISSOCK(mode) else "not a regular file"
        raise _error(path, f"is {what}, not a data file; give a file or a named pipe")
    return False


def _os_error(path: Path, e: OSError) -> DataFileError:
    if isinstance(e, FileNotFoundError):
        dangling = os.path.islink(path)
        return _error(path, "no such file" + (" (a symlink to a missing file)" if dangling
                                              else ""))
    if e.errno == errno.ELOOP:
        return _error(path, "a symlink loop: the link never reaches a file")
    if isinstance(e, IsADirectoryError):
        return _error(path, "is a folder, not a data file")
    if isinstance(e, PermissionError):
        return _error(path, "permission denied: cannot read it")
    return _error(path, f"cannot read it: {e.strerror or e}")


class _Bounded(io.RawIOBase):
    """A binary file read through a byte budget: past ``limit`` bytes, DataFileError."""

    def __init__(self, raw, path: Path, limit: int) -> None:
        self._raw, self._path, self._left, self._limit = raw, path, limit, limit

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        self._raw.close()
        super().close()

    def readinto(self, buffer) -> int:
        try:
            n = self._raw.readinto(buffer)
        except OSError as e:
            raise _os_error(self._path, e) from None
        n = n or 0
        self._left -= n
        if self._left < 0:
            raise _error(self._path, f"larger than {self._limit} bytes, the most fastnn reads "
                         "from one data file (a quarter of this machine's memory)")
        return n


def _open(path: Path):
    """Open ``path`` for reading once: (unbuffered binary file, whether it is a FIFO).

    Devices, sockets and folders are refused before they are opened; a FIFO waits for its
    writer, as reading any pipe does. A file that vanishes or changes kind between the check
    and the open is reported like one that was never there.
    """
    try:
        mode = os.stat(path).st_mode
    except OSError as e:
        raise _os_error(path, e) from None
    except ValueError:  # an embedded NUL
        raise _error(path, "not a valid file name") from None
    _check_mode(path, mode)
    try:
        f = open(path, "rb", buffering=0)
    except OSError as e:
        raise _os_error(path, e) from None
    try:
        st = os.fstat(f.fileno())
        fifo = _check_mode(path, st.st_mode)
        if not fifo and st.st_size > MAX_FILE_BYTES:
            raise _error(path, f"{st.st_size} bytes; fastnn reads at most {MAX_FILE_BYTES} "
                         "from one data file (a quarter of this machine's memory)")
    except BaseException:
        f.close()
        raise
    return f, fifo


def _bounded(f, path: Path) -> io.BufferedReader:
    return io.BufferedReader(_Bounded(f, path, MAX_FILE_BYTES))


# -- CSV ------------------------------------------------------------------------------------------

_UNSUPPORTED = object()
_NONFINITE_WORDS = frozenset({"nan", "inf", "infinity"})


def _value(cell: str):
    """A cell's number (NaN/inf included), None for text, _UNSUPPORTED for a number written in
    a way fastnn does not read (``1_000``, ``0x10``, ``0b1``)."""
    try:
        v = float(cell)
    except ValueError:
        try:
            int(cell, 0)
        except ValueError:
            return None
        return _UNSUPPORTED
    return _UNSUPPORTED if "_" in cell else v


def _cell_error(path: Path, cell: str, v, line: int, column: int) -> DataFileError:
    where = f"at line {line}, column {column}"
    text = cell.strip()
    if v is None:
        if not text:
            return _error(path, f"empty cell {where}")
        return _error(path, f"non-numeric cell {_shown(repr(text))} {where}")
    if v is _UNSUPPORTED:
        return _error(path, f"{text!r} {where} is not a plain decimal number; write it without "
                      "'_' separators or a 0x/0o/0b prefix")
    if text.lstrip("+-").lower() in _NONFINITE_WORDS:
        return _error(path, f"{text} (NaN or inf) {where}")
    return _error(path, f"{text} {where} is beyond the range of float64 (about 1.8e308)")


def _lines(text, path: Path):
    """The lines of ``text``, each at most MAX_LINE_CHARS long."""
    number = 0
    while True:
        line = text.readline(MAX_LINE_CHARS + 1)
        if not line:
            return
        number += 1
        if len(line) > MAX_LINE_CHARS and line[-1] not in "\r\n":
            raise _error(path, f"line {number} is longer than {MAX_LINE_CHARS} characters")
        yield line


def _label_index(label_col: str | int | None, header: list[str] | None, ncols: int,
                 path: Path) -> int:
    if label_col is None:
        return ncols - 1
    if isinstance(label_col, str) and not label_col.lstrip("-").isdigit():
        if header is None:
            raise _error(path, f"the label column {_shown(repr(label_col))} is a name, but the "
                         "file has no header row")
        if label_col not in header:
            raise _error(path, f"no column named {_shown(repr(label_col))}; columns: "
                         f"{', '.join(map(_shown, header))}")
        return header.index(label_col)
    index = int(label_col)
    if not -ncols <= index < ncols:
        raise _error(path, f"label column {index} is out of range for {ncols} columns")
    return index % ncols


def _read_csv_rows(path: Path) -> tuple[np.ndarray, list[str] | None, int]:
    """(values (n, ncols), header or None, line of the first data row) from one read."""
    f = _bounded(_open(path)[0], path)
    with f:
        text = io.TextIOWrapper(f, encoding="utf-8-sig", newline="")
        reader = csv.reader(_lines(text, path))
        header, ncols, first_line = None, None, 0
        values: list[float] = []
        try:
            for row in reader:
                if not any(c.strip() for c in row):
                    continue  # blank line
                line = reader.line_num
                parsed = [_value(c) for c in row]
                if ncols is None and header is None and any(
                        v is None and c.strip() for v, c in zip(parsed, row, strict=True)):
                    header = [c.strip() for c in row]
                    continue
                if ncols is None:
                    ncols, first_line = len(header) if header is not None else len(row), line
                if len(row) != ncols:
                    raise _error(path, f"ragged row at line {line}: {len(row)} fields, "
                                 f"expected {ncols}")
                for c, (cell, v) in enumerate(zip(row, parsed, strict=True)):
                    if v is None or v is _UNSUPPORTED or not math.isfinite(v):
                        raise _cell_error(path, cell, v, line, c + 1)
                values.extend(parsed)
        except csv.Error as e:
            raise _error(path, f"cannot read it as CSV text (line {reader.line_num}: {e})") \
                from None
        except UnicodeDecodeError as e:
            raise _error(path, f"cannot read it as CSV text (it is not UTF-8: {e.reason})") \
                from None
    if ncols is None:
        if header is not None:
            raise _error(path, "the file has a header but no data rows")
        raise _error(path, "the file is empty")
    return np.array(values, dtype=np.float64).reshape(-1, ncols), header, first_line


def read_csv(path: str | Path, label_col: str | int | None = None,
             has_labels: bool | None = True, n_features: int | None = None,
             ) -> tuple[np.ndarray, np.ndarray | None, list[str]]:
    """Read a numeric CSV once: (features (n, d), raw labels (n,) or None, feature names).

    A first row with a non-numeric cell (a blank one aside) is a header. The label is the last
    column unless ``label_col`` (a header name or a 0-based index, negative from the end) says
    otherwise. Blank lines are skipped. Errors name the line (1-based, as an editor shows it)
    and column. ``has_labels=None`` decides from the file: labelled when ``label_col`` is given
    or the file has ``n_features + 1`` columns.
    """
    path = Path(path)
    values, header, first_line = _read_csv_rows(path)
    ncols = values.shape[1]
    if has_labels is None:
        has_labels = label_col is not None or (n_features is not None
                                               and ncols == n_features + 1)
    if has_labels and ncols < 2:  # every row has a field: only a label needs a second one
        raise _error(path, f"line {first_line} has {ncols} column(s); need at least 2 "
                     "(features and a label)")
    names = header or [f"x{i}" for i in range(ncols)]
    if not has_labels:
        return values, None, names
    li = _label_index(label_col, header, ncols, path)
    keep = [i for i in range(ncols) if i != li]
    return values[:, keep], values[:, li], [names[i] for i in keep]


# -- .npz and .npy --------------------------------------------------------------------------------

_NPY_MAGIC = b"\x93NUMPY"
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")


def _check_array(path: Path, name: str, a: np.ndarray, ndim: tuple[int, ...]) -> np.ndarray:
    if a.dtype.kind not in "biuf":
        raise _error(path, f"array {name} has dtype {a.dtype}; real numbers are needed")
    if a.ndim not in ndim:
        raise _error(path, f"array {name} has shape {a.shape}; want "
                     f"{' or '.join(f'{d}-D' for d in ndim)}")
    if a.shape[0] == 0:
        raise _error(path, f"array {name} is empty")
    if a.ndim == 2 and a.shape[1] == 0:
        raise _error(path, f"array {name} has shape {a.shape}: no columns")
    with np.errstate(over="ignore"):  # float128 beyond float64 becomes inf, reported below
        a = a.astype(np.float64)
    bad = np.argwhere(~np.isfinite(a))
    if len(bad):
        raise _error(path, f"array {name} holds NaN or inf at index "
                     f"{tuple(int(i) for i in bad[0])}")
    return a


def _binary(path: Path, magic: tuple[bytes, ...], what: str):
    """``path`` opened once, as a seekable binary file that starts with one of ``magic``."""
    f, fifo = _open(path)
    try:
        if fifo:  # np.load seeks: hold the pipe's bytes (at most MAX_FILE_BYTES) in memory
            with _bounded(f, path) as pipe:
                f = io.BytesIO(pipe.read())
        else:
            f = io.BufferedReader(f)
        head = f.read(max(map(len, magic)))
        f.seek(0)
    except BaseException:
        f.close()
        raise
    if not any(head.startswith(m) for m in magic):
        f.close()
        raise _error(path, f"not {what}: its first bytes are {head[:8]!r}" if head
                     else f"the file is empty, not {what}")
    return f


def _load_npy(path: Path) -> np.ndarray:
    with _binary(path, (_NPY_MAGIC,), "a .npy array") as f:
        try:
            return np.load(f, allow_pickle=False)
        except MemoryError:
            raise
        except Exception as e:  # noqa: BLE001 - any failure to parse untrusted bytes
            raise _error(path, f"not a readable .npy array ({e})") from None


def _load_npz(path: Path, has_labels: bool | None):
    with _binary(path, _ZIP_MAGIC, "a .npz archive (a zip of .npy arrays)") as raw:
        try:
            with np.load(raw, allow_pickle=False) as f:
                if "X" not in f.files:
                    raise _error(path, f"no array named 'X' (found: "
                                 f"{', '.join(map(_shown, f.files)) or 'none'})")
                X = f["X"]
                y = f["y"] if has_labels is not False and "y" in f.files else None
                for name, a in (("X", X), ("y", y)):
                    if a is not None and not isinstance(a, np.ndarray):  # a member not .npy
                        raise _error(path, f"not a readable .npz archive: its {name} is not "
                                     "a .npy array")
        except (DataFileError, MemoryError):
            raise
        except Exception as e:  # noqa: BLE001 - any failure to parse untrusted bytes
            raise _error(path, f"not a readable .npz archive ({e})") from None
    if has_labels and y is None:
        raise _error(path, "no array named 'y' (the labels)")
    return X, y


def labels_path_for(path: Path) -> Path:
    """The labels file paired with a features ``.npy``: ``X.npy`` -> ``y.npy``,
    ``train_X.npy`` -> ``train_y.npy``, ``features.npy`` -> ``labels.npy``."""
    stem = path.stem
    for a, b in (("X", "y"), ("x", "y"), ("features", "labels")):
        if stem == a or stem.endswith("_" + a):
            return path.with_name(stem[: len(stem) - len(a)] + b + path.suffix)
    raise _error(path, "cannot tell where its labels are: name the features file X.npy, "
                 "NAME_X.npy or features.npy, with y.npy, NAME_y.npy or labels.npy beside it")


def read_arrays(path: str | Path, has_labels: bool | None = True):
    """Read ``.npz`` (arrays X and y) or an ``.npy`` features file and its paired labels.

    ``has_labels=None`` takes the labels when they are there (a ``y`` array, a labels file).
    """
    path = Path(path)
    if path.suffix.lower() == ".npz":
        X, y = _load_npz(path, has_labels)
    else:
        labels = labels_path_for(path) if has_labels is not False else None
        if has_labels is None:
            has_labels = os.path.lexists(labels)
        X = _load_npy(path)
        if has_labels and not os.path.lexists(labels):
            raise _error(path, f"its labels file {_shown(labels.name)} is not beside it")
        y = _load_npy(labels) if has_labels else None
    X = _check_array(path, "X", X, (1, 2))
    if X.ndim == 1:
        X = X.reshape(-1, 1)
    if y is not None:
        y = _check_array(path, "y", y, (1, 2))
        if y.ndim == 2 and y.shape[1] != 1:
            raise _error(path, f"labels have shape {y.shape}; want one label per row")
        y = y.reshape(-1)
        if len(y) != len(X):
            raise _error(path, f"{len(X)} rows of X but {len(y)} labels")
    return X, y, [f"x{i}" for i in range(X.shape[1])]


# -- labels ---------------------------------------------------------------------------------------

def encode_labels(y: np.ndarray, path: str | Path = "labels",
                  classes: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Encode raw labels: two classes -> (n, 1) of 0/1, k > 2 -> one-hot (n, k).

    Labels are class values: whole numbers, at most :data:`MAX_CLASSES` of them. With
    ``classes`` given (from a trained model), labels outside them are an error.
    """
    fractional = np.flatnonzero(y != np.round(y))
    if len(fractional):
        i = int(fractional[0])
        raise _error(path, f"label {y[i]:g} (row {i + 1}) is not a whole number: labels are "
                     "class values such as 0, 1, 2; fastnn classifies, it does not fit "
                     "real-valued targets")
    found = np.unique(y)
    if classes is None:
        if len(found) < 2:
            raise _error(path, f"every label is {found[0]:g}: a single class cannot be learned")
        if len(found) > MAX_CLASSES:
            raise _error(path, f"{len(found)} different labels; at most {MAX_CLASSES} classes "
                         "(is the label column a measurement rather than a class?)")
        classes = found
    else:
        unknown = np.setdiff1d(found, classes)
        if len(unknown):
            raise _error(path, f"labels {', '.join(f'{v:g}' for v in unknown[:5])} are not "
                         f"among the model's classes {', '.join(f'{v:g}' for v in classes)}")
    index = np.searchsorted(classes, y)
    if len(classes) == 2:
        return index.astype(np.float64).reshape(-1, 1), classes
    nbytes = len(y) * len(classes) * 8
    if nbytes > MAX_FILE_BYTES:
        raise _error(path, f"one-hot labels of {len(y)} rows x {len(classes)} classes need "
                     f"{nbytes / 2**30:.1f} GiB; at most {MAX_FILE_BYTES / 2**30:.1f} here")
    onehot = np.zeros((len(y), len(classes)))
    onehot[np.arange(len(y)), index] = 1.0
    return onehot, classes


def load_dataset(path: str | Path, label_col: str | int | None = None,
                 has_labels: bool | None = True, classes: np.ndarray | None = None,
                 n_features: int | None = None) -> Dataset:
    """Read a data file by its extension, once, and encode its labels (see
    :func:`encode_labels`).

    ``has_labels=None`` decides from that one read whether the file has labels: for a CSV,
    when ``label_col`` is given or it has ``n_features + 1`` columns; for ``.npz``, when it
    holds ``y``; for ``.npy``, when a labels file is beside it.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            X, raw, names = read_csv(path, label_col, has_labels, n_features)
        elif suffix in (".npz", ".npy"):
            if label_col is not None:
                raise _error(path, "a label column applies to CSV files only")
            X, raw, names = read_arrays(path, has_labels)
        else:
            raise _error(path, f"unknown data format {suffix or '(no extension)'!r}; "
                         "choose from: .csv, .npz, .npy")
    except MemoryError:
        raise _error(path, "too large to load into this machine's memory") from None
    if raw is None:
        return Dataset(X, None, classes, names)
    y, classes = encode_labels(raw, path, classes)
    return Dataset(X, y, classes, names)


def split(n: int, val_fraction: float, seed) -> tuple[np.ndarray, np.ndarray]:
    """Seeded (train indices, validation indices) with ``round(n * val_fraction)`` held out."""
    if not 0 < val_fraction < 1:
        raise ValueError(f"validation split must be in (0, 1), got {val_fraction!r}")
    n_val = int(round(n * val_fraction))
    if n_val < 1 or n_val >= n:
        raise ValueError(f"validation split {val_fraction} of {n} rows leaves "
                         f"{n - n_val} for training and {n_val} for validation; need both > 0")
    order = np.random.default_rng(seed).permutation(n)
    return np.sort(order[n_val:]), np.sort(order[:n_val])


@dataclass
class Standardizer:
    """Per-feature ``(X - mean) / std``; constant features (std 0) are only centred.

    Fitting is safe at any magnitude float64 holds: a column of 1e200s (whose squares overflow)
    or of 1e-300s (whose squares underflow to 0) is scaled by its largest ``|x|`` first, so the
    statistics are finite and a column that varies never counts as constant.
    """

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, X: np.ndarray) -> Standardizer:
        X = np.asarray(X, dtype=np.float64)
        with np.errstate(all="ignore"):
            mean, std = X.mean(axis=0), X.std(axis=0)
            varying = X.max(axis=0) > X.min(axis=0)
            if not (np.isfinite(mean).all() and np.isfinite(std).all()
                    and (std[varying] > 0).all()):
                scale = np.abs(X).max(axis=0)
                scale = np.where(scale > 0, scale, 1.0)
                Xs = X / scale  # in [-1, 1]
                mean, std = Xs.mean(axis=0) * scale, Xs.std(axis=0) * scale
                # a spread below the smallest float (subnormal columns): the column's scale
                std = np.where((std > 0) | ~varying, std, scale)
        return cls(mean, np.where(std > 0, std, 1.0))

    def __call__(self, X: np.ndarray) -> np.ndarray:
        if X.shape[1:] != self.mean.shape:
            raise ValueError(f"X has {X.shape[1]} features; the standardizer was fitted on "
                             f"{self.mean.shape[0]}")
        with np.errstate(all="ignore"):
            Z = (X - self.mean) / self.std
            if not np.isfinite(Z).all():  # X - mean overflowed: divide first
                Z = X / self.std - self.mean / self.std
        bad = np.argwhere(~np.isfinite(Z))
        if len(bad):
            i, j = (int(v) for v in bad[0])
            raise ValueError(f"feature {j} of row {i} ({X[i, j]:g}) is too far from the data "
                             f"the standardization was fitted on (mean {self.mean[j]:g}, "
                             f"std {self.std[j]:g}) to be represented")
        return Z


def labels_path_exists(path: str | Path) -> bool:
    """Whether a features ``.npy`` has a labels file beside it (see :func:`labels_path_for`)."""
    try:
        return labels_path_for(Path(path)).exists()
    except DataFileError:
        return False
