"""What the commands share: the usage error, output folders (checked, locked, cleaned), label
values."""

from __future__ import annotations

import errno
import os
import signal
import stat
import tempfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from ..io.atomic import remove_stale_temps
from ..nn.losses import THRESHOLD
from ..training.callbacks import Terminated

try:
    import fcntl
except ImportError:  # not POSIX: folders are not locked
    fcntl = None

#: The lock file of an output folder; it holds the PID of the run that writes there.
LOCK_NAME = ".fastnn.lock"


class UsageError(Exception):
    """Bad command-line input: reported in one line with exit code 2."""


def prepare_out_dir(out: Path, flag: str = "--out") -> list[Path]:
    """Create ``out`` and prove a file can be written there, or raise UsageError.

    Returns the folders this call created (deepest last), so a failed run can remove them.
    """
    created = [p for p in (out, *out.parents) if not p.exists()][::-1]
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out, prefix=".fastnn-write-test-"):
            pass
    except OSError as e:
        remove_empty(created)
        reason = "it is not a folder" if isinstance(e, FileExistsError) else e.strerror or e
        raise UsageError(f"cannot write to {flag} {str(out)!r}: {reason}") from None
    return created


@contextmanager
def terminate_cleanly():
    """Inside, SIGTERM raises :class:`Terminated` in the main thread, so files being written are
    finished or removed (the epoch loop turns it into a flag instead, like Ctrl-C); the previous
    handler is restored on leaving."""
    def handler(signum, frame):
        raise Terminated
    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class OutFolder:
    """An output folder held by one run: created (``flag`` names it in messages), locked against
    a second run, cleaned of the temporary files killed runs left.

    The lock is ``LOCK_NAME``, locked with ``flock`` and holding the holder's PID; the kernel
    releases it when the holder dies in any way, so a stale lock is taken over. On leaving, the
    lock file is removed, and so are the folders this run created if they are still empty.
    """

    def __init__(self, path: Path, flag: str = "--out") -> None:
        self.path, self.flag = Path(path), flag
        self._fd: int | None = None
        self.created: list[Path] = []

    def __enter__(self) -> OutFolder:
        self.created = prepare_out_dir(self.path, self.flag)
        try:
            self._lock()
        except BaseException:
            remove_empty(self.created)
            raise
        remove_stale_temps(self.path)
        return self

    def _lock(self) -> None:
        if fcntl is None:
            return
        lock = self.path / LOCK_NAME
        while True:
            try:
                fd = os.open(lock, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)
                if not stat.S_ISREG(os.fstat(fd).st_mode):
                    os.close(fd)
                    raise OSError(errno.EEXIST, "its lock file .fastnn.lock is not a file")
            except OSError as e:
                raise UsageError(f"cannot write to {self.flag} {str(self.path)!r}: "
                                 f"{e.strerror or e}") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
                os.close(fd)
                raise UsageError(f"{self.flag} {str(self.path)!r} is in use by another fastnn "
                                 f"run (PID {holder}); wait for it or choose another "
                                 f"{self.flag}") from None
            try:  # the holder we waited out may have removed the file: lock the one on disk
                same = os.path.samestat(os.fstat(fd), os.stat(lock))
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        except OSError as e:  # a full disk: no lock is left behind
            lock.unlink(missing_ok=True)
            os.close(fd)
            raise OSError(e.errno, f"cannot write {lock}: {e.strerror or e}") from None
        self._fd = fd

    def __exit__(self, *exc) -> None:
        if self._fd is not None:
            try:
                (self.path / LOCK_NAME).unlink(missing_ok=True)
            except OSError:
                pass
            os.close(self._fd)
            self._fd = None
        remove_empty(self.created)


def remove_empty(folders: list[Path]) -> None:
    """Remove ``folders`` (deepest last) while they are empty."""
    for p in reversed(folders):
        try:
            p.rmdir()
        except OSError:
            return


def class_labels(outputs: np.ndarray, classes: np.ndarray | None) -> np.ndarray:
    """Class values from (N, 1) probabilities or (N, K) scores/one-hot rows."""
    index = (outputs[:, 0] > THRESHOLD).astype(int) if outputs.shape[1] == 1 \
        else outputs.argmax(axis=1)
    return index.astype(float) if classes is None else classes[index]
