"""The ``reference`` backend: plain loops, readable above all; the ground truth.

Dense kernels go one sample at a time; the weight gradient is a sum of per-sample outer products,
the lab's ``gradient_cal``. Activations apply the formulas of :mod:`fastnn.nn.activations` as
written.
"""

from __future__ import annotations

import numpy as np

from ..nn import activations
from .base import (
    check_activation_backward,
    check_arrays,
    check_conv2d,
    check_dense_backward,
    check_dense_forward,
    check_max_pool2d,
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


def dense_backward(x: np.ndarray, W: np.ndarray, dout: np.ndarray, need_dx: bool = True):
    """x (N, Din), W (Din, Dout), dout (N, Dout) -> dx (None unless need_dx), dW (sum of outer
    products), db."""
    check_dense_backward(x, W, dout)
    N = x.shape[0]
    dx = np.empty_like(x) if need_dx else None
    dW = np.zeros_like(W)
    db = np.zeros(W.shape[1], dtype=x.dtype)
    for i in range(N):
        if need_dx:
            dx[i] = W @ dout[i]
        dW += np.outer(x[i], dout[i])
        db += dout[i]
    return dx, dW, db


def activation_forward(name: str, z: np.ndarray) -> np.ndarray:
    """y = f(z) with the formula from :mod:`fastnn.nn.activations`."""
    if name not in activations.FORWARD:
        activations.check_activation(name)
    check_arrays("activation_forward", z=z)
    check_same_float_dtype("activation_forward", z)
    return activations.FORWARD[name](z)


def activation_backward(name: str, y: np.ndarray, dy: np.ndarray) -> np.ndarray:
    """dz = dy * f'(y), the derivative written from the output."""
    if name not in activations.BACKWARD:
        activations.check_activation(name)
    check_activation_backward(y, dy)
    return activations.BACKWARD[name](y, dy)


def _pad(x: np.ndarray, padding: int) -> np.ndarray:
    """x (N, C, H, W) -> (N, C, H + 2 padding, W + 2 padding), zeros around."""
    N, C, H, Wd = x.shape
    xp = np.zeros((N, C, H + 2 * padding, Wd + 2 * padding), dtype=x.dtype)
    xp[:, :, padding:padding + H, padding:padding + Wd] = x
    return xp


def conv2d_forward(x: np.ndarray, W: np.ndarray, b: np.ndarray, stride: int = 1,
                   padding: int = 0) -> np.ndarray:
    """x (N, C, H, W), W (F, C, KH, KW), b (F,) -> (N, F, OH, OW): the lab's nested loops."""
    OH, OW = check_conv2d("conv2d_forward", x, W, b, stride, padding)
    N, F = x.shape[0], W.shape[0]
    KH, KW = W.shape[2:]
    xp = _pad(x, padding)  # (N, C, H + 2p, W + 2p)
    out = np.empty((N, F, OH, OW), dtype=x.dtype)
    for n in range(N):
        for f in range(F):
            for i in range(OH):
                for j in range(OW):
                    window = xp[n, :, i * stride:i * stride + KH, j * stride:j * stride + KW]
                    out[n, f, i, j] = np.sum(window * W[f]) + b[f]
    return out


def conv2d_backward(x: np.ndarray, W: np.ndarray, dout: np.ndarray, stride: int = 1,
                    padding: int = 0):
    """x (N, C, H, W), W (F, C, KH, KW), dout (N, F, OH, OW) -> dx, dW, db, by the same loops."""
    OH, OW = check_conv2d("conv2d_backward", x, W, dout, stride, padding, backward=True)
    N, F = x.shape[0], W.shape[0]
    H, Wd = x.shape[2:]
    KH, KW = W.shape[2:]
    xp = _pad(x, padding)
    dxp = np.zeros_like(xp)  # (N, C, H + 2p, W + 2p)
    dW = np.zeros_like(W)
    db = np.zeros(F, dtype=x.dtype)
    for n in range(N):
        for f in range(F):
            for i in range(OH):
                for j in range(OW):
                    g = dout[n, f, i, j]
                    rows = slice(i * stride, i * stride + KH)
                    cols = slice(j * stride, j * stride + KW)
                    dxp[n, :, rows, cols] += g * W[f]
                    dW[f] += g * xp[n, :, rows, cols]
                    db[f] += g
    dx = dxp[:, :, padding:padding + H, padding:padding + Wd].copy()
    return dx, dW, db


def max_pool2d_forward(x: np.ndarray, size=2, stride=None) -> np.ndarray:
    """x (N, C, H, W) -> (N, C, OH, OW), the max of each size window."""
    KH, KW, s, OH, OW = check_max_pool2d("max_pool2d_forward", x, None, size, stride)
    N, C = x.shape[:2]
    out = np.empty((N, C, OH, OW), dtype=x.dtype)
    for n in range(N):
        for c in range(C):
            for i in range(OH):
                for j in range(OW):
                    out[n, c, i, j] = x[n, c, i * s:i * s + KH, j * s:j * s + KW].max()
    return out


def max_pool2d_backward(x: np.ndarray, dout: np.ndarray, size=2, stride=None) -> np.ndarray:
    """x (N, C, H, W), dout (N, C, OH, OW) -> dx; each window's gradient to its first maximum."""
    KH, KW, s, OH, OW = check_max_pool2d("max_pool2d_backward", x, dout, size, stride)
    N, C = x.shape[:2]
    dx = np.zeros_like(x)
    for n in range(N):
        for c in range(C):
            for i in range(OH):
                for j in range(OW):
                    window = x[n, c, i * s:i * s + KH, j * s:j * s + KW]
                    a, b = divmod(int(np.argmax(window)), KW)  # first max, row-major
                    dx[n, c, i * s + a, j * s + b] += dout[n, c, i, j]
    return dx
