"""Weight initializers by name: each draws a (Din, Dout) matrix from a NumPy Generator."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .._checks import check_choice


def normal(din: int, dout: int, rng: np.random.Generator) -> np.ndarray:
    """N(0, 1), the lab's default."""
    return rng.standard_normal((din, dout))


def small(din: int, dout: int, rng: np.random.Generator) -> np.ndarray:
    """0.01 * N(0, 1), the lab's ``randn`` option."""
    return 0.01 * rng.standard_normal((din, dout))


def xavier(din: int, dout: int, rng: np.random.Generator) -> np.ndarray:
    """Glorot normal: N(0, 2 / (Din + Dout))."""
    return np.sqrt(2.0 / (din + dout)) * rng.standard_normal((din, dout))


def he(din: int, dout: int, rng: np.random.Generator) -> np.ndarray:
    """He normal: N(0, 2 / Din)."""
    return np.sqrt(2.0 / din) * rng.standard_normal((din, dout))


INITIALIZERS: dict[str, Callable[[int, int, np.random.Generator], np.ndarray]] = {
    "normal": normal,
    "small": small,
    "xavier": xavier,
    "he": he,
}


def get_initializer(name: str) -> Callable[[int, int, np.random.Generator], np.ndarray]:
    """Return the initializer called ``name``; ValueError listing the choices otherwise."""
    return INITIALIZERS[check_choice("init", name, INITIALIZERS)]
