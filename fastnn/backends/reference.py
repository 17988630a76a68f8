"""The ``reference`` backend: plain loops, readable above all; the ground truth.

Dense kernels go one sample at a time; the weight gradient is a sum of per-sample outer products,
the lab's ``gradient_cal``. Activations apply the formulas of :mod:`fastnn.activations` as written.
"""

from __future__ import annotations

import numpy as np

from .. import activations
from .base import (
    check_activation_backward,
    check_dense_backward,
    check_dense_forward,
    check_same_float_dtype,
)

NAME = "reference"


def dense_forward(x: np.ndarray, W: np.ndarray, b: np.ndarray) -> np.ndarray:
    """x (N, Din), W (Din, Dout), b (Dout,) -> (N, Dout), one sample at a time."""
    check_dense_forward(x, W, b)
    N = x.shape[0]
    out = np.empty((N, W.shape[1]), dtype=x.dtype)
    for i in range(N):
        out[i] = x[i] @ W + b
    return out


def dense_backward(x: np.ndarray, W: np.ndarray, dout: np.ndarray):
    """x (N, Din), W (Din, Dout), dout (N, Dout) -> dx, dW (sum of outer products), db."""
    check_dense_backward(x, W, dout)
    N = x.shape[0]
    dx = np.empty_like(x)
    dW = np.zeros_like(W)
    db = np.zeros(W.shape[1], dtype=x.dtype)
    for i in range(N):
        dx[i] = W @ dout[i]
        dW += np.outer(x[i], dout[i])
        db += dout[i]
    return dx, dW, db


def activation_forward(name: str, z: np.ndarray) -> np.ndarray:
    """y = f(z) with the formula from :mod:`fastnn.activations`."""
    activations.check_activation(name)
    check_same_float_dtype("activation_forward", z)
    return activations.FORWARD[name](z)


def activation_backward(name: str, y: np.ndarray, dy: np.ndarray) -> np.ndarray:
    """dz = dy * f'(y), the derivative written from the output."""
    activations.check_activation(name)
    check_activation_backward(y, dy)
    return dy * activations.DERIVATIVE[name](y)
