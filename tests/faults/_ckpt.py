"""Helpers of the checkpoint, memory and predict fault tests: runs to damage, and ways to
rewrite a checkpoint's entries with NumPy alone (never through fastnn's own writer)."""

from __future__ import annotations

import io
import json
import shutil
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np

from fastnn.app.cli import main


def write_csv(path: Path, n: int = 40, seed: int = 0) -> Path:
    """A labelled CSV of ``n`` rows, three features, two classes (labels 3 and 7)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    y = np.where(X[:, 0] + X[:, 1] > 0, 7.0, 3.0)
    y[:2] = (3.0, 7.0)
    rows = ["a,b,c,label"] + [",".join(f"{v:.6g}" for v in row) for row in np.c_[X, y]]
    path.write_text("\n".join(rows) + "\n")
    return path


def train_file_run(root: Path) -> tuple[Path, Path]:
    """A finished run on a CSV file whose checkpoint holds every kind of entry: Adam's two
    state slots, standardisation, class values, training and validation history."""
    csv = write_csv(root / "data.csv")
    out = root / "run"
    code = main(["train", "--data", str(csv), "--val-split", "0.25", "--hidden", "4",
                 "--epochs", "5", "--quiet", "--out", str(out)])
    assert code == 0
    return out, csv


def copy_run(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def read(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


def write(path: Path, arrays: dict[str, np.ndarray]) -> None:
    np.savez(path, **arrays)  # allow_pickle defaults to True: object arrays get pickled


def js(obj) -> np.ndarray:
    """A JSON entry, stored as fastnn stores them (a 0-d unicode array)."""
    return np.array(json.dumps(obj))


def jget(arrays: dict, name: str):
    return json.loads(str(arrays[name]))


def npy_bytes(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, a, allow_pickle=False)
    return buf.getvalue()


def forged_npy(shape: tuple[int, ...], dtype="<f8", data: bytes = b"\0" * 16) -> bytes:
    """A .npy whose header declares ``shape`` but which holds only ``data``."""
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": dtype, "fortran_order": False,
                                               "shape": shape})
    return buf.getvalue() + data


def zip64(path: Path, members: dict[str, bytes], declared: dict[str, int] | None = None) -> None:
    """Write a stored (uncompressed) ZIP64 archive by hand; ``declared`` overrides a member's
    uncompressed size in the central directory (a zip bomb's claim, without its bytes)."""
    declared = declared or {}
    out, central = bytearray(), bytearray()
    for name, data in members.items():
        raw = name.encode()
        crc, offset, size = zlib.crc32(data), len(out), declared.get(name, len(data))
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 45, 0, 0, 0, 0x21, crc, 0xFFFFFFFF,
                           0xFFFFFFFF, len(raw), 20) + raw
        out += struct.pack("<HHQQ", 1, 16, size, len(data)) + data
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 45, 45, 0, 0, 0, 0x21, crc,
                               0xFFFFFFFF, 0xFFFFFFFF, len(raw), 28, 0, 0, 0, 0,
                               0xFFFFFFFF) + raw
        central += struct.pack("<HHQQQ", 1, 24, size, len(data), offset)
    cd_offset = len(out)
    out += central
    eocd64 = len(out)
    n = len(members)
    out += struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, n, n, len(central),
                       cd_offset)
    out += struct.pack("<IIQI", 0x07064B50, 0, eocd64, 1)
    out += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
    path.write_bytes(bytes(out))
    with zipfile.ZipFile(path) as z:  # the forgery is a zip Python reads, with the claimed size
        assert {i.filename: i.file_size for i in z.infolist()} == \
            {k: declared.get(k, len(v)) for k, v in members.items()}
