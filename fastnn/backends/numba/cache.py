"""Make Numba's on-disk cache fail safe: a corrupt or unreadable entry means "recompile".

Numba already ignores a *stale* cache (another source or Numba version), but a corrupt index or
data file (a crash mid-write, a full disk, a stray edit) makes its unpickling raise inside the
first call of a kernel, and the run dies. :func:`install` wraps the two places Numba reads the
cache so that any error there is logged on the ``fastnn`` logger and treated as a cache miss:
the kernel compiles and the entry is written afresh.
"""

from __future__ import annotations

import logging

logger = logging.getLogger("fastnn")
_installed = False


def install() -> None:
    """Patch numba.core.caching once per process (idempotent)."""
    global _installed
    if _installed:
        return
    from numba.core import caching

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
