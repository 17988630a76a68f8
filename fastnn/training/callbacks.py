"""What the epoch loop does besides training: a progress bar, Ctrl-C handling."""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager


class Progress:
    """A tqdm bar over ``total`` epochs, advanced every ``tick`` epochs (about 200 updates)."""

    def __init__(self, total: int) -> None:
        from tqdm.auto import tqdm

        self.tick = max(1, total // 200)
        self._bar = tqdm(total=total, unit="epoch", leave=False)

    def update(self, epochs: int) -> None:
        self._bar.update(epochs)

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc) -> None:
        self._bar.close()


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
