"""How many threads fastnn's kernels use: Numba's ``prange`` loops and the BLAS libraries.

>>> from fastnn.threads import limit_threads
>>> with limit_threads(1):      # single-threaded, e.g. for a fair benchmark
...     pass

BLAS (NumPy's OpenBLAS, SciPy's, MKL...) is limited through :mod:`threadpoolctl`; Numba through
:func:`numba.set_num_threads` (which cannot exceed ``NUMBA_NUM_THREADS``,
by default the number of cores).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

from threadpoolctl import ThreadpoolController

from ._checks import check_positive

_controller: tuple[int, ThreadpoolController] | None = None


def _blas() -> ThreadpoolController:
    """A controller of the loaded thread pools, rebuilt only when modules were imported since
    (building one scans the loaded libraries: ~1 ms; reusing it: ~10 us)."""
    global _controller
    if _controller is None or _controller[0] != len(sys.modules):
        controller = ThreadpoolController()
        _controller = (len(sys.modules), controller)
    return _controller[1]


def _numba():
    """Numba, imported on first use (``import fastnn`` does not pay for it)."""
    import numba

    return numba


def check_threads(n: int) -> int:
    """Return ``n`` if it is a usable thread count, else raise ValueError saying the range."""
    n = int(check_positive("threads", n, integer=True))
    numba = _numba()
    if n > numba.config.NUMBA_NUM_THREADS:
        raise ValueError(f"threads must be at most {numba.config.NUMBA_NUM_THREADS} here (Numba's "
                         f"NUMBA_NUM_THREADS), got {n}")
    return n


def set_threads(n: int) -> None:
    """Use ``n`` threads from now on, in Numba kernels and BLAS, for this process.

    Parameters
    ----------
    n : int
        Threads (>= 1, and at most Numba's ``NUMBA_NUM_THREADS``, the core count by default).
    """
    n = check_threads(n)
    _blas().limit(limits=n)
    _numba().set_num_threads(n)


@contextmanager
def limit_threads(n: int | None) -> Iterator[None]:
    """Context manager: use ``n`` threads (Numba and BLAS) inside, restore the settings after.

    ``None`` changes nothing. Numba's setting is per calling thread.
    """
    if n is None:
        yield
        return
    n = check_threads(n)
    numba = _numba()
    before = numba.get_num_threads()
    try:
        with _blas().limit(limits=n):
            numba.set_num_threads(n)
            yield
    finally:
        numba.set_num_threads(before)
