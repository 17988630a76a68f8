"""Weight initializers by name, and the generators they draw from.

Each initializer draws a (Din, Dout) matrix from ``rng``, a NumPy ``Generator`` or a legacy
``RandomState``: both have ``standard_normal``. A model draws its layers' matrices in layer order
from one generator made by :func:`generator`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .._checks import check_choice

#: Any NumPy generator an initializer draws from.
RandomSource = np.random.Generator | np.random.RandomState


def normal(din: int, dout: int, rng: RandomSource) -> np.ndarray:
    """N(0, 1), the lab's default (``np.random.normal(0, 1, (Din, Dout))``: with a legacy
    ``RandomState`` the same numbers, bit for bit, since 0 + 1 * z is z)."""
    return rng.standard_normal((din, dout))


def small(din: int, dout: int, rng: RandomSource) -> np.ndarray:
    """0.01 * N(0, 1), the lab's ``randn`` option (``np.random.randn(Din, Dout) * 0.01``)."""
    return 0.01 * rng.standard_normal((din, dout))


def xavier(din: int, dout: int, rng: RandomSource) -> np.ndarray:
    """Glorot normal: N(0, 2 / (Din + Dout))."""
    return np.sqrt(2.0 / (din + dout)) * rng.standard_normal((din, dout))


def he(din: int, dout: int, rng: RandomSource) -> np.ndarray:
    """He normal: N(0, 2 / Din)."""
    return np.sqrt(2.0 / din) * rng.standard_normal((din, dout))


INITIALIZERS: dict[str, Callable[[int, int, RandomSource], np.ndarray]] = {
    "normal": normal,
    "small": small,
    "xavier": xavier,
    "he": he,
}

#: How a seed becomes a generator: ``default`` is NumPy's ``default_rng`` (PCG64); ``legacy`` is
#: ``RandomState`` (MT19937), what ``np.random.seed`` seeds: the lab's program drew its weights
#: from it, so ``legacy`` with the lab's seed starts from the lab's very weights.
GENERATORS: dict[str, Callable[[int | None], RandomSource]] = {
    "default": np.random.default_rng,
    "legacy": np.random.RandomState,
}
#: The largest seed a legacy RandomState takes (its seed is a 32-bit unsigned integer).
MAX_LEGACY_SEED = 2**32 - 1


def get_initializer(name: str) -> Callable[[int, int, RandomSource], np.ndarray]:
    """Return the initializer called ``name``; ValueError listing the choices otherwise."""
    return INITIALIZERS[check_choice("init", name, INITIALIZERS)]


def check_generator(rng: str, seed: int | None = None) -> str:
    """Return ``rng`` if it names a generator in :data:`GENERATORS` that takes ``seed``;
    ValueError otherwise."""
    check_choice("rng", rng, GENERATORS)
    if rng == "legacy" and seed is not None and not (
            isinstance(seed, (int, np.integer)) and not isinstance(seed, bool)
            and 0 <= seed <= MAX_LEGACY_SEED):
        raise ValueError(f"seed must be an integer in [0, {MAX_LEGACY_SEED}] for the legacy "
                         f"generator, got {seed!r}")
    return rng


def generator(rng: str, seed: int | None) -> RandomSource:
    """A fresh generator of kind ``rng`` (see :data:`GENERATORS`) seeded with ``seed`` (None:
    from the operating system's entropy)."""
    return GENERATORS[check_generator(rng, seed)](seed)
