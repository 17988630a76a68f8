"""Which thread pool runs fastnn's work, and on how many threads: one policy per process.

>>> from fastnn.threads import limit_threads
>>> with limit_threads(1):      # single-threaded, e.g. for a fair benchmark
...     pass

Two pools can run fastnn's kernels: BLAS's (NumPy's OpenBLAS, and SciPy's, which Numba's
``np.dot`` calls) and Numba's (the ``prange`` loops of the numba backend's convolution and
pooling). On a few cores they must never compute at the same time: an idle OpenBLAS worker keeps
spinning for ~0.1 s after every threaded call, and a parallel region waits for its slowest
thread, so a kernel sharing the cores with another pool's spinning worker loses whole scheduler
ticks. The policy:

* **One owner of the cores.** BLAS owns them by default (it gets ``n`` threads). A kernel that
  runs in Numba's pool calls :func:`use_numba_pool` first: the first such call sets every BLAS
  to one thread (each Numba thread then runs its own single-threaded GEMMs), and later calls find
  it so and change nothing. Threads are never switched per call. The claim lasts until the end
  of the :func:`limit_threads` scope around it (:meth:`fastnn.Trainer.fit` opens one), or, made
  outside any scope, for the rest of the process. While it lasts, a big dense product is split
  into row blocks run in Numba's pool (:func:`numba_pool_threads`), one single-threaded GEMM per
  thread, instead of leaving all but one core idle.
* **Idle Numba workers sleep.** Numba's OpenMP threading layer is started with
  ``OMP_WAIT_POLICY=PASSIVE`` (unless the environment sets it), so its workers do not spin on a
  core after a parallel region, where they would slow whatever runs next, or another process.
* **``n``** (``Trainer(threads=n)``, ``--threads n``, :func:`set_threads`) is the size of every
  pool (Numba's, BLAS's, and any OpenMP runtime's); by default each library's own (the cores).

BLAS is driven through :mod:`threadpoolctl`; Numba through :func:`numba.set_num_threads` (at
most ``NUMBA_NUM_THREADS``, by default the number of cores).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from threadpoolctl import ThreadpoolController

from ._checks import check_positive

_controller: tuple[int, ThreadpoolController, tuple] | None = None
_numba_started = False
_claimed = False  # a kernel gave the cores to Numba's pool (use_numba_pool), not yet given back


def _libraries() -> tuple:
    """threadpoolctl's controllers of the loaded thread pools (BLAS and OpenMP libraries), found
    again only when modules were imported since (a scan costs ~1 ms; reusing it ~10 us)."""
    global _controller
    if _controller is None or _controller[0] != len(sys.modules):
        controller = ThreadpoolController()
        _controller = (len(sys.modules), controller, tuple(controller.lib_controllers))
    return _controller[2]


def _blas_libraries() -> tuple:
    return tuple(lib for lib in _libraries() if lib.user_api == "blas")


def _numba():
    """Numba, imported on first use (``import fastnn`` does not pay for it), its thread pool
    started with passive waiting (see the module's docstring)."""
    global _numba_started
    import numba

    if not _numba_started:
        _numba_started = True
        # libgomp reads its settings once, when it is loaded: when Numba starts its threading
        # layer. Set only for that moment, so no OpenMP runtime loaded later (PyTorch's) sees it.
        ours = "OMP_WAIT_POLICY" not in os.environ
        if ours:
            os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
        try:
            numba.get_num_threads()  # starts the threading layer
        finally:
            if ours:
                del os.environ["OMP_WAIT_POLICY"]
    return numba


def check_threads(n: int) -> int:
    """Return ``n`` if it is a usable thread count, else raise ValueError saying the range."""
    n = int(check_positive("threads", n, integer=True))
    import numba  # its configuration only: the thread pool is not started

    if n > numba.config.NUMBA_NUM_THREADS:
        raise ValueError(f"threads must be at most {numba.config.NUMBA_NUM_THREADS} here (Numba's "
                         f"NUMBA_NUM_THREADS), got {n}")
    return n


def _set(libs, n: int) -> None:
    for lib in libs:
        if lib.num_threads != n:
            lib.set_num_threads(n)


def set_threads(n: int) -> None:
    """Use ``n`` threads from now on, in Numba's pool, BLAS's and OpenMP's, for this process.

    BLAS owns the cores again: the next kernel that runs in Numba's pool claims them back.

    Parameters
    ----------
    n : int
        Threads (>= 1, and at most Numba's ``NUMBA_NUM_THREADS``, the core count by default).
    """
    global _claimed
    n = check_threads(n)
    _set(_libraries(), n)
    _numba().set_num_threads(n)
    _claimed = False


def use_numba_pool() -> None:
    """Give the cores to Numba's pool: every BLAS on one thread (done once; then a check, ~2 us).

    Kernels that run BLAS inside Numba's threads call it before they start.
    """
    global _claimed
    _numba()
    _set(_blas_libraries(), 1)
    _claimed = True


def numba_pool_threads() -> int:
    """The blocks a kernel splits one big BLAS product into, to run them in Numba's pool: its
    thread count while a claim by :func:`use_numba_pool` holds (every BLAS still on one thread),
    else 1 (BLAS threads the product itself, on however many threads it was given: a user's
    own BLAS limit is never taken as a claim)."""
    if not _claimed or any(lib.num_threads != 1 for lib in _blas_libraries()):
        return 1
    import numba

    return numba.get_num_threads()


def _restore_claim(claimed: bool) -> None:
    global _claimed
    _claimed = claimed


@contextmanager
def limit_threads(n: int | None = None) -> Iterator[None]:
    """Context manager: one thread policy inside (``n`` threads, or each library's own with
    None), and every setting as it was before restored after, a claim by :func:`use_numba_pool`
    inside included.

    Numba's setting is per calling thread.
    """
    if n is not None:
        n = check_threads(n)
    before = [(lib, lib.num_threads) for lib in _libraries()]
    numba = _numba() if n is not None else None  # a claim changes BLAS only
    numba_before = numba.get_num_threads() if numba is not None else None
    claimed_before = _claimed
    try:
        if numba is not None:
            _set(_libraries(), n)
            numba.set_num_threads(n)
        yield
    finally:
        if numba is not None:
            numba.set_num_threads(numba_before)
        for lib, threads in before:
            if lib.num_threads != threads:
                lib.set_num_threads(threads)
        _restore_claim(claimed_before)
        # a BLAS loaded inside the scope was claimed for Numba at most: it keeps that setting
