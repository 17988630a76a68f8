"""Files written whole or not at all, and JSON that is strict.

Every file fastnn writes (checkpoints, ``history.csv``, ``output.txt``, ``config.json``,
figures, predictions) goes through :func:`atomic_write`: a temporary file beside the target,
flushed and fsynced, then renamed over it. A crash, a signal or a full disk at any moment leaves
either the old file or the new one, never half of one; the temporary file is removed on any
error, and one left by a process killed with SIGKILL is removed by :func:`remove_stale_temps`.
"""

from __future__ import annotations

import errno
import io
import json
import math
import os
import re
import stat
from collections.abc import Callable, Iterable
from pathlib import Path

#: Temporary files are named ``.<target name>.tmp-<pid>``.
_TEMP = re.compile(r"^\..+\.tmp-(\d+)$")


def temp_path(path: Path) -> Path:
    """The temporary file this process writes ``path`` through."""
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


def atomic_write(path: str | Path, write: Callable, text: bool = False) -> None:
    """Call ``write(fileobj)`` on a temporary file beside ``path``, fsync, rename over ``path``.

    ``text`` opens the file as UTF-8 text. A symlink is followed (its target is replaced, the
    link stays); a target that exists and is not a regular file (``/dev/stdout``, a FIFO, a
    device) is written through, since it cannot be replaced. An OSError (a full disk, a folder
    that vanished) names ``path`` and leaves no temporary file.
    """
    path = Path(path)
    if path.is_symlink():
        path = Path(os.path.realpath(path))
    mode = {"mode": "w", "encoding": "utf-8"} if text else {"mode": "wb"}
    try:
        st = os.stat(path)
    except OSError:
        st = None
    if st is not None and not stat.S_ISREG(st.st_mode):
        if stat.S_ISDIR(st.st_mode):
            raise IsADirectoryError(errno.EISDIR, f"cannot write {path}: it is a folder")
        with open(path, **mode) as f:
            write(f)
        return
    tmp = temp_path(path)
    try:
        with open(tmp, **mode) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        tmp.unlink(missing_ok=True)
        if isinstance(e, OSError) and (e.filename is None or str(e.filename) == str(tmp)):
            raise OSError(e.errno, f"cannot write {path}: {e.strerror or e}") from None
        raise
    _fsync_folder(path.parent)


def _fsync_folder(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_text(path: str | Path, lines: str | Iterable[str]) -> None:
    """Write ``lines`` (a string, or strings each written with a newline) atomically."""
    def write(f: io.TextIOBase) -> None:
        if isinstance(lines, str):
            f.write(lines)
        else:
            for line in lines:
                f.write(line + "\n")
    atomic_write(path, write, text=True)


def strict_json(obj, **kwargs) -> str:
    """``json.dumps`` that refuses NaN and infinity (which are not JSON) with a ValueError
    naming where they are, instead of writing ``NaN``/``Infinity`` tokens."""
    try:
        return json.dumps(obj, allow_nan=False, **kwargs)
    except ValueError:
        raise ValueError(f"not writing JSON with a non-finite number at "
                         f"{_nonfinite_at(obj) or '?'}") from None


def _nonfinite_at(obj, where: str = "") -> str | None:
    if isinstance(obj, float) and not math.isfinite(obj):
        return where or "the top"
    items = obj.items() if isinstance(obj, dict) else enumerate(obj) \
        if isinstance(obj, (list, tuple)) else ()
    for k, v in items:
        found = _nonfinite_at(v, f"{where}.{k}" if where else str(k))
        if found:
            return found
    return None


def finite_or_null(obj):
    """``obj`` with every non-finite float replaced by None (JSON ``null``): for records such
    as benchmark statistics, where a missing number is honest and a run should not fail."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: finite_or_null(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite_or_null(v) for v in obj]
    return obj


def write_json(path: str | Path, obj, indent: int | None = 2) -> None:
    """Write ``obj`` as strict JSON (see :func:`strict_json`), atomically."""
    write_text(path, strict_json(obj, indent=indent) + "\n")


def remove_stale_temps(folder: str | Path) -> list[Path]:
    """Remove temporary files in ``folder`` left by processes that no longer run; return them.

    A temporary file of a live process (another writer) is left alone.
    """
    removed = []
    try:
        names = os.listdir(folder)
    except OSError:
        return removed
    for name in names:
        m = _TEMP.match(name)
        pid = int(m.group(1)) if m else 0
        if m and (pid == os.getpid() or not pid_alive(pid)):  # ours: from a killed run's PID
            p = Path(folder, name)
            try:
                p.unlink()
            except OSError:
                continue
            removed.append(p)
    return removed


def pid_alive(pid: int) -> bool:
    """Whether a process with this PID exists (on this machine)."""
    if pid == os.getpid():
        return True
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, owned by someone else
        return True
    except OverflowError:
        return False
    return True
