"""Numba's on-disk compile cache, made safe and keyed on everything compiled code depends on.

Two faults of ``@njit(cache=True)`` are mended here:

* **Staleness across files** (numba issue #1833). Numba keys a cached kernel on its own
  bytecode and drops the entry when its own file changes, but not when a function it calls from
  another file does: the fused step is compiled from definitions in ``fastnn/nn/`` (update rules,
  losses) and helpers in sibling modules, so an edited rule would silently keep its old compiled
  code. :func:`jit` keys every kernel on a digest of the source files it may depend on (the
  formula modules of ``fastnn/nn/`` and every module of this package) and on :func:`describe`
  of the kernel: the functions captured in its closure and the globals it reads, followed into
  whatever file they live in (a user's own optimizer and its helpers included), and the values
  of the constants it uses. Numba's own key pickles a closure's captured dispatchers, which
  carry a random id: such kernels were never found again and each process recompiled them.
* **Corrupt entries.** A corrupt index or data file (a crash mid-write, a full disk, a stray
  edit) makes Numba's unpickling raise inside the first call of a kernel, and the run dies.
  :func:`install` wraps the two places Numba reads the cache so that any error there is logged
  on the ``fastnn`` logger and treated as a cache miss: the kernel compiles afresh.
"""

from __future__ import annotations

import dis
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
#: The package's source files compiled code is built from: the formula modules of ``nn/`` and
#: every module of this package (an edit to ``nn/layers.py`` recompiles nothing).
DEPENDENCY_FILES = ("nn/activations.py", "nn/losses.py", "nn/optim.py", "backends/numba/*.py")


@functools.cache
def _file_digest(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@functools.cache
def dependency_digest() -> str:
    """A digest of the files in :data:`DEPENDENCY_FILES` (names and contents)."""
    h = hashlib.sha256()
    for pattern in DEPENDENCY_FILES:
        for path in sorted(_PACKAGE.glob(pattern)):
            h.update(f"{path.relative_to(_PACKAGE)}\0{_file_digest(str(path))}\0".encode())
    return h.hexdigest()


def global_names(code: types.CodeType) -> set[str]:
    """The global names ``code`` (and the code nested in it) reads, attribute names excluded."""
    names = {ins.argval for ins in dis.get_instructions(code) if ins.opname == "LOAD_GLOBAL"}
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= global_names(const)
    return names


def describe(value: object, _seen: set[int] | None = None) -> str:
    """A description of what compiled code built from ``value`` depends on, the same in every
    process: a function by module, name and its file's digest, then (recursively) its closure
    cells and the globals it reads; numbers and strings by value; modules by name."""
    seen = set() if _seen is None else _seen
    func = getattr(value, "py_func", value)  # a Numba dispatcher: its Python function
    if isinstance(func, types.FunctionType):
        head = f"{func.__module__}.{func.__qualname__}@{_file_digest(func.__code__.co_filename)}"
        if id(func) in seen:
            return head
        seen.add(id(func))
        cells = ",".join(describe(c.cell_contents, seen) for c in func.__closure__ or ())
        used = sorted(n for n in global_names(func.__code__) if n in func.__globals__)
        reads = ",".join(f"{n}={describe(func.__globals__[n], seen)}" for n in used)
        return f"{head}({cells})[{reads}]"
    if isinstance(value, tuple):
        return f"({','.join(describe(v, seen) for v in value)})"
    if value is None or isinstance(value, (bool, int, float, complex, str, bytes)):
        return repr(value)
    if isinstance(value, types.ModuleType):
        return value.__name__
    return f"{type(value).__qualname__}:{getattr(value, '__qualname__', '')}"


class _KeyedCache(caching.FunctionCache):
    """Numba's function cache with an index key that covers the dependencies (module doc)."""

    def _index_key(self, sig, codegen):
        func = self._py_func
        deps = dependency_digest() + describe(func)
        return (sig, codegen.magic_tuple(),
                (hashlib.sha256(func.__code__.co_code).hexdigest(),
                 hashlib.sha256(deps.encode()).hexdigest()))


#: ``jit`` options of a kernel that only compiled code calls: Numba then builds no wrapper to
#: call it from Python and none to call it through a C pointer. Each wrapper is one more function
#: that LLVM optimizes and emits, with the kernel, at a cold start; a nested kernel is reached by
#: a direct call without either.
INTERNAL = {"no_cpython_wrapper": True, "no_cfunc_wrapper": True}


def jit(signature=None, **options):
    """``numba.njit(**options)`` with the dependency-keyed on-disk cache (module docstring);
    with a ``signature``, compiled for it at once (from the cache when there) and for nothing
    else, as ``njit(signature)`` does: such a function can be handed to compiled code as a
    first-class function.

    Under ``NUMBA_DISABLE_JIT=1`` the function is returned as it is, as ``njit`` does.
    """
    def wrap(py_func):
        dispatcher = numba.njit(**options)(py_func)
        if config.DISABLE_JIT:
            return dispatcher
        try:
            dispatcher._cache = _KeyedCache(py_func)
        except RuntimeError:  # no file to key on (code from exec, say): compile per process
            pass
        if signature is not None:
            dispatcher.compile(signature)
            dispatcher.disable_compile()
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
