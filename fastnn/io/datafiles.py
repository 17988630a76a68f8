"""A user's own data: ``.csv``, ``.npz`` (arrays ``X``, ``y``) and ``.npy`` pairs.

Every problem with a file is a :class:`DataFileError` (a ``ValueError``) whose message names the
file and, for CSV, the line and column: an empty file, a ragged row, a non-numeric cell, NaN or
inf, a single class, a file that does not exist.
"""

from __future__ import annotations

import csv
import math
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np


class DataFileError(ValueError):
    """A data file that cannot be used; the message says where and why."""


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


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _label_index(label_col: str | int | None, header: list[str] | None, ncols: int,
                 path: Path) -> int:
    if label_col is None:
        return ncols - 1
    if isinstance(label_col, str) and not label_col.lstrip("-").isdigit():
        if header is None:
            raise DataFileError(f"{path}: --label-col {label_col!r} is a name, but the file "
                                "has no header row")
        if label_col not in header:
            raise DataFileError(f"{path}: no column named {label_col!r}; columns: "
                                f"{', '.join(header)}")
        return header.index(label_col)
    index = int(label_col)
    if not -ncols <= index < ncols:
        raise DataFileError(f"{path}: --label-col {index} is out of range for {ncols} columns")
    return index % ncols


def read_csv(path: str | Path, label_col: str | int | None = None,
             has_labels: bool = True) -> tuple[np.ndarray, np.ndarray | None, list[str]]:
    """Read a numeric CSV: (features (n, d), raw labels (n,) or None, feature names).

    A first row with any non-numeric cell is a header. The label is the last column unless
    ``label_col`` (a header name or a 0-based index, negative from the end) says otherwise.
    Blank lines are skipped. Errors name the line (1-based, as an editor shows it) and column.
    """
    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = [(i, row) for i, row in enumerate(csv.reader(f), start=1)
                    if row and any(c.strip() for c in row)]
    except FileNotFoundError:
        raise DataFileError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise DataFileError(f"{path}: cannot read it as CSV text ({e})") from None
    if not rows:
        raise DataFileError(f"{path}: the file is empty")
    header = None
    first_line, first = rows[0]
    if not all(_is_number(c) for c in first):
        header = [c.strip() for c in first]
        rows = rows[1:]
        if not rows:
            raise DataFileError(f"{path}: the file has a header but no data rows")
    ncols = len(header) if header is not None else len(rows[0][1])
    min_cols = 2 if has_labels else 1
    if ncols < min_cols:
        raise DataFileError(f"{path}: line {rows[0][0]} has {ncols} column(s); need at least "
                            f"{min_cols} (features{' and a label' if has_labels else ''})")
    values = np.empty((len(rows), ncols))
    for r, (line, row) in enumerate(rows):
        if len(row) != ncols:
            raise DataFileError(f"{path}: ragged row at line {line}: {len(row)} fields, "
                                f"expected {ncols}")
        for c, cell in enumerate(row):
            try:
                v = float(cell)
            except ValueError:
                raise DataFileError(f"{path}: non-numeric cell {cell.strip()!r} at line {line}, "
                                    f"column {c + 1}") from None
            if not math.isfinite(v):
                raise DataFileError(f"{path}: {cell.strip()} (NaN or inf) at line {line}, "
                                    f"column {c + 1}")
            values[r, c] = v
    names = header or [f"x{i}" for i in range(ncols)]
    if not has_labels:
        return values, None, names
    li = _label_index(label_col, header, ncols, path)
    keep = [i for i in range(ncols) if i != li]
    return values[:, keep], values[:, li], [names[i] for i in keep]


def _check_array(path: Path, name: str, a: np.ndarray, ndim: tuple[int, ...]) -> np.ndarray:
    if a.dtype.kind not in "biuf":
        raise DataFileError(f"{path}: array {name} has dtype {a.dtype}; numbers are needed")
    if a.ndim not in ndim:
        raise DataFileError(f"{path}: array {name} has shape {a.shape}; want "
                            f"{' or '.join(f'{d}-D' for d in ndim)}")
    if a.shape[0] == 0:
        raise DataFileError(f"{path}: array {name} is empty")
    a = a.astype(np.float64)
    bad = np.argwhere(~np.isfinite(a))
    if len(bad):
        raise DataFileError(f"{path}: array {name} holds NaN or inf at index "
                            f"{tuple(int(i) for i in bad[0])}")
    return a


def _load_npy(path: Path) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise DataFileError(f"{path}: no such file") from None
    except (OSError, ValueError, EOFError) as e:
        raise DataFileError(f"{path}: not a readable .npy array ({e})") from None


def labels_path_for(path: Path) -> Path:
    """The labels file paired with a features ``.npy``: ``X.npy`` -> ``y.npy``,
    ``train_X.npy`` -> ``train_y.npy``, ``features.npy`` -> ``labels.npy``."""
    stem = path.stem
    for a, b in (("X", "y"), ("x", "y"), ("features", "labels")):
        if stem == a or stem.endswith("_" + a):
            return path.with_name(stem[: len(stem) - len(a)] + b + path.suffix)
    raise DataFileError(f"{path}: cannot tell where its labels are: name the features file "
                        "X.npy, NAME_X.npy or features.npy, with y.npy, NAME_y.npy or "
                        "labels.npy beside it")


def read_arrays(path: str | Path, has_labels: bool = True):
    """Read ``.npz`` (arrays X and y) or an ``.npy`` features file and its paired labels."""
    path = Path(path)
    if path.suffix == ".npz":
        try:
            with np.load(path, allow_pickle=False) as f:
                if "X" not in f.files:
                    raise DataFileError(f"{path}: no array named 'X' (found: "
                                        f"{', '.join(f.files) or 'none'})")
                X = f["X"]
                y = f["y"] if "y" in f.files else None
        except FileNotFoundError:
            raise DataFileError(f"{path}: no such file") from None
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
            raise DataFileError(f"{path}: not a readable .npz archive ({e})") from None
        if has_labels and y is None:
            raise DataFileError(f"{path}: no array named 'y' (the labels)")
    else:
        X = _load_npy(path)
        y = _load_npy(labels_path_for(path)) if has_labels else None
    X = _check_array(path, "X", X, (1, 2))
    if X.ndim == 1:
        X = X.reshape(-1, 1)
    if y is not None and has_labels:
        y = _check_array(path, "y", y, (1, 2))
        if y.ndim == 2 and y.shape[1] != 1:
            raise DataFileError(f"{path}: labels have shape {y.shape}; want one label per row")
        y = y.reshape(-1)
        if len(y) != len(X):
            raise DataFileError(f"{path}: {len(X)} rows of X but {len(y)} labels")
    else:
        y = None
    return X, y, [f"x{i}" for i in range(X.shape[1])]


def encode_labels(y: np.ndarray, path: str | Path = "labels",
                  classes: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Encode raw labels: two classes -> (n, 1) of 0/1, k > 2 -> one-hot (n, k).

    With ``classes`` given (from a trained model), labels outside them are an error.
    """
    found = np.unique(y)
    if classes is None:
        if len(found) < 2:
            raise DataFileError(f"{path}: every label is {found[0]:g}: a single class cannot "
                                "be learned")
        classes = found
    else:
        unknown = np.setdiff1d(found, classes)
        if len(unknown):
            raise DataFileError(f"{path}: labels {', '.join(f'{v:g}' for v in unknown[:5])} "
                                f"are not among the model's classes "
                                f"{', '.join(f'{v:g}' for v in classes)}")
    index = np.searchsorted(classes, y)
    if len(classes) == 2:
        return index.astype(np.float64).reshape(-1, 1), classes
    onehot = np.zeros((len(y), len(classes)))
    onehot[np.arange(len(y)), index] = 1.0
    return onehot, classes


def load_dataset(path: str | Path, label_col: str | int | None = None,
                 has_labels: bool = True, classes: np.ndarray | None = None) -> Dataset:
    """Read a data file by its extension and encode its labels (see :func:`encode_labels`)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        X, raw, names = read_csv(path, label_col, has_labels)
    elif suffix in (".npz", ".npy"):
        if label_col is not None:
            raise DataFileError(f"{path}: --label-col applies to CSV files only")
        X, raw, names = read_arrays(path, has_labels)
    else:
        raise DataFileError(f"{path}: unknown data format {suffix or '(no extension)'!r}; "
                            "choose from: .csv, .npz, .npy")
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
    """Per-feature ``(X - mean) / std``; constant features (std 0) are only centred."""

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, X: np.ndarray) -> Standardizer:
        std = X.std(axis=0)
        return cls(X.mean(axis=0), np.where(std > 0, std, 1.0))

    def __call__(self, X: np.ndarray) -> np.ndarray:
        if X.shape[1:] != self.mean.shape:
            raise ValueError(f"X has {X.shape[1]} features; the standardizer was fitted on "
                             f"{self.mean.shape[0]}")
        return (X - self.mean) / self.std


def labels_path_exists(path: str | Path) -> bool:
    """Whether a features ``.npy`` has a labels file beside it (see :func:`labels_path_for`)."""
    try:
        return labels_path_for(Path(path)).exists()
    except DataFileError:
        return False


def npz_has_labels(path: str | Path) -> bool:
    """Whether an ``.npz`` holds a ``y`` array (False for anything unreadable: the loader then
    reports the problem)."""
    try:
        with np.load(path, allow_pickle=False) as f:
            return "y" in f.files
    except (OSError, ValueError, EOFError, zipfile.BadZipFile):
        return False
