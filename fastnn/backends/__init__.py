"""Backend registry: every kernel exists once per backend, chosen by name.

>>> import fastnn
>>> be = fastnn.get_backend("numpy")
>>> be.NAME
'numpy'
"""

from __future__ import annotations

import importlib
from types import ModuleType

from .._checks import check_choice
from .base import Backend

#: backend name -> module implementing the kernel contract of :mod:`fastnn.backends.base`.
BACKENDS: dict[str, str] = {
    "reference": "fastnn.backends.reference",
    "numpy": "fastnn.backends.numpy_backend",
    "numba": "fastnn.backends.numba",
}

_LOADED: dict[str, ModuleType] = {}


def get_backend(name: str) -> Backend:
    """Return the backend module called ``name``; ValueError listing the choices otherwise."""
    check_choice("backend", name, BACKENDS)
    if name not in _LOADED:
        _LOADED[name] = importlib.import_module(BACKENDS[name])
    return _LOADED[name]


def available_backends() -> list[str]:
    """The backend names: ``reference``, ``numpy`` and ``numba`` (Numba is a dependency)."""
    return list(BACKENDS)
