"""The ``numpy`` backend: vectorized NumPy, one BLAS call per dense product.

Activations are the formulas of :mod:`fastnn.activations`, evaluated with in-place ufuncs in the
same operation order, so they round exactly as the reference does.
"""

from __future__ import annotations

import numpy as np

from .. import activations
from ..activations import LEAKY_SLOPE
from .base import (
    check_activation_backward,
    check_dense_backward,
    check_dense_forward,
    check_same_float_dtype,
)

NAME = "numpy"


def dense_forward(x: np.ndarray, W: np.ndarray, b: np.ndarray) -> np.ndarray:
    """x (N, Din), W (Din, Dout), b (Dout,) -> (N, Dout)."""
    check_dense_forward(x, W, b)
    out = x @ W  # (N, Dout)
    out += b
    return out


def dense_backward(x: np.ndarray, W: np.ndarray, dout: np.ndarray):
    """x (N, Din), W (Din, Dout), dout (N, Dout) -> dx (N, Din), dW (Din, Dout), db (Dout,)."""
    check_dense_backward(x, W, dout)
    return dout @ W.T, x.T @ dout, dout.sum(axis=0)


def _sigmoid(z):
    y = np.negative(z)
    np.exp(y, out=y)
    y += 1.0
    return np.reciprocal(y, out=y)


def _sigmoid_backward(y, dy):
    dz = 1.0 - y
    dz *= y
    dz *= dy
    return dz


def _tanh_backward(y, dy):
    dz = y * y
    np.subtract(1.0, dz, out=dz)
    dz *= dy
    return dz


_FORWARD = {
    "sigmoid": _sigmoid,
    "tanh": np.tanh,
    "relu": lambda z: np.maximum(z, 0.0),
    # max(z, slope z) equals where(z > 0, z, slope z) because 0 < slope < 1
    "leaky_relu": lambda z: np.maximum(z, LEAKY_SLOPE * z),
    "identity": np.copy,
}

_BACKWARD = {
    "sigmoid": _sigmoid_backward,
    "tanh": _tanh_backward,
    "relu": lambda y, dy: dy * (y > 0),
    "leaky_relu": lambda y, dy: dy * np.where(y > 0, 1.0, LEAKY_SLOPE).astype(y.dtype),
    "identity": lambda y, dy: dy.copy(),
}


def activation_forward(name: str, z: np.ndarray) -> np.ndarray:
    """y = f(z), elementwise."""
    if name not in _FORWARD:
        activations.check_activation(name)
    check_same_float_dtype("activation_forward", z)
    return _FORWARD[name](z)


def activation_backward(name: str, y: np.ndarray, dy: np.ndarray) -> np.ndarray:
    """dz = dy * f'(y), the derivative written from the output."""
    if name not in _BACKWARD:
        activations.check_activation(name)
    check_activation_backward(y, dy)
    return _BACKWARD[name](y, dy)
