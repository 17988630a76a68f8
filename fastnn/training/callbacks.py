"""What the epoch loop does besides training: a progress bar, Ctrl-C and SIGTERM handling."""

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


class Terminated(BaseException):
    """SIGTERM where it cannot wait for the epoch to end: ends a command like Ctrl-C's
    KeyboardInterrupt does, with exit code 143 at the command line."""


#: The signals a run stops at cleanly: the epoch under way is finished first.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextmanager
def stop_flag():
    """Inside, Ctrl-C (SIGINT) or SIGTERM only raises a flag, read by calling the yielded
    function: the name of the first signal (``"SIGINT"``/``"SIGTERM"``), or None. A second
    signal interrupts at once (KeyboardInterrupt, or :class:`Terminated` for SIGTERM). Off the
    main thread, nothing is changed."""
    hit: list[str] = []
    if threading.current_thread() is not threading.main_thread():
        yield lambda: None
        return

    def handler(signum, frame):
        if hit:
            raise Terminated if signum == signal.SIGTERM else KeyboardInterrupt
        hit.append(signal.Signals(signum).name)

    old = {sig: signal.signal(sig, handler) for sig in STOP_SIGNALS}
    try:
        yield lambda: hit[0] if hit else None
    finally:
        for sig, previous in old.items():
            signal.signal(sig, previous)
