"""Numba's on-disk compile cache, made safe and keyed on everything compiled code depends on.

Two faults of ``@njit(cache=True)`` are mended here:

* **Staleness across files** (numba issue #1833). Numba keys a cached kernel on its own
  bytecode and drops the entry when its own file changes, but not when a function it calls from
  another file does: the fused step is compiled from definitions in ``fastnn/nn/`` (update rules,
  losses) and helpers in sibling modules, so an edited rule would silently keep its old compiled
  code. :func:`jit` keys every kernel on a digest of the source files it may depend on (every
  module of ``fastnn/nn/`` and of this package) and, for kernels built by a factory, on the
  module, name and file contents of each function captured in its closure (a user's own
  optimizer included). Numba's own key pickles a closure's captured dispatchers, which carry a
  random id: such kernels were never found again and each process recompiled them.
* **Corrupt entries.** A corrupt index or data file (a crash mid-write, a full disk, a stray
  edit) makes Numba's unpickling raise inside the first call of a kernel, and the run dies.
  :func:`install` wraps the two places Numba reads the cache so that any error there is logged
  on the ``fastnn`` logger and treated as a cache miss: the kernel compiles afresh.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import types
from pathlib import Path

import numba
from numba.core import caching, config

logger = logging.getLogger("fastnn")
_installed = False

_PACKAGE = Path(__file__).resolve().parents[2]
#: Folders of the package whose modules compiled code is built from.
DEPENDENCY_FOLDERS = ("nn", "backends/numba")


@functools.cache
def _file_digest(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@functools.cache
def dependency_digest() -> str:
    """A digest of every source file in :data:`DEPENDENCY_FOLDERS` (names and contents)."""
    h = hashlib.sha256()
    for folder in DEPENDENCY_FOLDERS:
        for path in sorted((_PACKAGE / folder).glob("*.py")):
            h.update(f"{folder}/{path.name}\0{_file_digest(str(path))}\0".encode())
    return h.hexdigest()


def describe(value: object) -> str:
    """A description of a closure cell that is the same in every process and changes when the
    code behind it does: functions by module, name and their file's digest."""
    func = getattr(value, "py_func", value)  # a Numba dispatcher: its Python function
    if isinstance(func, types.FunctionType):
        cells = func.__closure__ or ()
        return (f"{func.__module__}.{func.__qualname__}@{_file_digest(func.__code__.co_filename)}"
                f"({','.join(describe(c.cell_contents) for c in cells)})")
    if isinstance(value, tuple):
        return f"({','.join(describe(v) for v in value)})"
    return repr(value)


class _KeyedCache(caching.FunctionCache):
    """Numba's function cache with an index key that covers the dependencies (module doc)."""

    def _index_key(self, sig, codegen):
        func = self._py_func
        deps = dependency_digest() + describe(func)
        return (sig, codegen.magic_tuple(),
                (hashlib.sha256(func.__code__.co_code).hexdigest(),
                 hashlib.sha256(deps.encode()).hexdigest()))


def jit(**options):
    """``numba.njit(**options)`` with the dependency-keyed on-disk cache (module docstring).

    Under ``NUMBA_DISABLE_JIT=1`` the function is returned as it is, as ``njit`` does.
    """
    def wrap(py_func):
        dispatcher = numba.njit(**options)(py_func)
        if not config.DISABLE_JIT:
            dispatcher._cache = _KeyedCache(py_func)
        return dispatcher
    return wrap


def install() -> None:
    """Make reading Numba's cache fail safe (see the module docstring); once per process."""
    global _installed
    if _installed:
        return
    load_index = caching.IndexDataCacheFile._load_index
    load_overload = caching.Cache.load_overload

    def safe_load_index(self):
        try:
            return load_index(self)
        except Exception as e:  # corrupt index: start a new one
            logger.warning("numba cache index %s is unreadable (%s: %s); recompiling",
                           self._index_path, type(e).__name__, e)
            return {}

    def safe_load_overload(self, sig, target_context):
        try:
            return load_overload(self, sig, target_context)
        except Exception as e:  # corrupt data file: compile instead, and overwrite it
            logger.warning("numba cache entry of %s is unreadable (%s: %s); recompiling",
                           getattr(self, "_name", "?"), type(e).__name__, e)
            return None

    caching.IndexDataCacheFile._load_index = safe_load_index
    caching.Cache.load_overload = safe_load_overload
    _installed = True
