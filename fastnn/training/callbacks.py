"""What the epoch loop does besides training: Ctrl-C handling."""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager


@contextmanager
def sigint_flag():
    """Inside, Ctrl-C (SIGINT) only raises a flag, read by calling the yielded function; a
    second Ctrl-C interrupts at once. Off the main thread, nothing is changed."""
    hit = []
    if threading.current_thread() is not threading.main_thread():
        yield lambda: False
        return

    def handler(signum, frame):
        if hit:
            raise KeyboardInterrupt
        hit.append(signum)

    old = signal.signal(signal.SIGINT, handler)
    try:
        yield lambda: bool(hit)
    finally:
        signal.signal(signal.SIGINT, old)
