"""How much memory this process may still take, and the refusal of what cannot fit.

The policy: before a big allocation (a model's buffers, a checkpoint's arrays, training's
optimizer state and activations) its size is estimated from shapes alone, with Python ints,
and compared with the memory available now: ``MemAvailable`` of ``/proc/meminfo`` (memory
the kernel can hand out without swapping), or the physical memory where that file does not
exist, and no more than a cgroup (container) limit leaves. A request larger than that is a
:class:`MemoryLimitError` naming the size, before anything is allocated; the estimates are
lower bounds of what the work needs, so a refusal is never wrong, only late for borderline
cases (those end in NumPy's MemoryError, as before).
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path

_UNITS = ("bytes", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB")


class MemoryLimitError(ValueError):
    """Something would need more memory than this machine has available."""


def human_bytes(n: int) -> str:
    """``3.2 TB``: a byte count in decimal units, three significant digits."""
    value, unit = float(n), 0
    while value >= 1000 and unit < len(_UNITS) - 1:
        value /= 1000
        unit += 1
    return f"{int(n)} bytes" if unit == 0 else f"{value:.3g} {_UNITS[unit]}"


def _meminfo_available() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _physical() -> int | None:
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _cgroup_room() -> int | None:
    """What a cgroup v2 memory limit still leaves this process's group, if there is one."""
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        if limit == "max":
            return None
        used = int(Path("/sys/fs/cgroup/memory.current").read_text())
        return max(int(limit) - used, 0)
    except (OSError, ValueError):
        return None


def available_bytes() -> int | None:
    """Memory this process can still allocate without swapping, or None when unknown."""
    known = [n for n in (_meminfo_available() or _physical(), _cgroup_room()) if n is not None]
    return min(known) if known else None


#: How long a reading of the available memory is reused (an epoch loop with fresh or
#: validation data checks every epoch; reading /proc costs ~90 µs, a lab epoch ~5 µs).
READING_SECONDS = 0.5
_reading: tuple = (None, -math.inf, None)  # (reader, when, bytes)


def _recent_available() -> int | None:
    global _reading
    reader, when, value = _reading
    now = time.monotonic()
    if reader is not available_bytes or now - when > READING_SECONDS:
        value = available_bytes()
        _reading = (available_bytes, now, value)
    return value


def check_fits(nbytes: int, what: str) -> None:
    """Raise :class:`MemoryLimitError` when ``nbytes`` exceed the memory available now.

    ``what`` starts the message: ``"{what} needs 3.2 TB; about 23 GB of memory is
    available"``. Where the available memory cannot be known, nothing is refused.
    """
    available = _recent_available()
    if available is not None and nbytes > available:
        raise MemoryLimitError(f"{what} needs {human_bytes(nbytes)}; about "
                               f"{human_bytes(available)} of memory is available")
