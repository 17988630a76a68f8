"""Backend registry: every kernel exists once per backend, chosen by name.

>>> import fastnn
>>> be = fastnn.get_backend("numpy")
>>> be.NAME
'numpy'
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

from .._checks import check_choice

#: backend name -> module implementing the kernel contract of :mod:`fastnn.backends.base`.
BACKENDS: dict[str, str] = {
    "reference": "fastnn.backends.reference",
    "numpy": "fastnn.backends.numpy_backend",
    "numba": "fastnn.backends.numba",
}

#: backend name -> (the third-party modules it imports, the command that installs them).
REQUIREMENTS: dict[str, tuple[tuple[str, ...], str]] = {
    "numba": (("numba", "scipy"), "pip install numba scipy"),
}

_LOADED: dict[str, ModuleType] = {}


def get_backend(name: str) -> ModuleType:
    """Return the backend module called ``name``.

    Raises
    ------
    ValueError
        If ``name`` is not a backend, with the list of choices.
    ImportError
        If the backend needs a package that cannot be imported, saying how to install it.
    """
    check_choice("backend", name, BACKENDS)
    if name not in _LOADED:
        try:
            _LOADED[name] = importlib.import_module(BACKENDS[name])
        except ImportError as e:
            if name not in REQUIREMENTS:
                raise
            raise ImportError(f"the {name!r} backend needs {' and '.join(REQUIREMENTS[name][0])}"
                              f", which could not be imported ({e}); install with: "
                              f"{REQUIREMENTS[name][1]}") from e
    return _LOADED[name]


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def available_backends() -> list[str]:
    """The backend names that can be used on this machine (numba only when it is installed).

    Checks that each backend's packages are installed without importing them, so that listing
    the choices stays cheap.
    """
    return [name for name in BACKENDS
            if name in _LOADED or all(_importable(m) for m in REQUIREMENTS.get(name, ((), ""))[0])]
