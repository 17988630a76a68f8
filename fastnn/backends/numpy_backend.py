"""The ``numpy`` backend: vectorized NumPy, one BLAS call per dense product.

Activations apply the formulas of :mod:`fastnn.nn.activations` to whole arrays, as the reference
backend does.
"""

from __future__ import annotations

import numpy as np

from ..nn.activations import BACKWARD, FORWARD, check_activation
from .base import (
    check_activation_backward,
    check_activation_forward,
    check_buffer_fits,
    check_conv2d,
    check_dense_backward,
    check_dense_forward,
    check_max_pool2d,
)

NAME = "numpy"


def activation_forward(name: str, z: np.ndarray) -> np.ndarray:
    """y = f(z), elementwise, any shape."""
    if name not in FORWARD:
        check_activation(name)
    check_activation_forward(z)
    return FORWARD[name](z)


def activation_backward(name: str, y: np.ndarray, dy: np.ndarray) -> np.ndarray:
    """dz = dy * f'(y), the derivative written from the output."""
    if name not in BACKWARD:
        check_activation(name)
    check_activation_backward(y, dy)
    return BACKWARD[name](y, dy)


# Dense products are ``ndarray.dot``, not ``@``: on these 2-D layouts both make the same BLAS call
# (the same numbers), and dot skips the ufunc dispatch that costs more than a 100x4 product.
# Likewise db is np.add.reduce itself, what ndarray.sum calls after a Python-level wrapper.
_sum = np.add.reduce


def dense_forward(x: np.ndarray, W: np.ndarray, b: np.ndarray) -> np.ndarray:
    """x (N, Din), W (Din, Dout), b (Dout,) -> (N, Dout)."""
    check_dense_forward(x, W, b)
    out = x.dot(W)  # (N, Dout)
    out += b
    return out


def dense_backward(x: np.ndarray, W: np.ndarray, dout: np.ndarray, need_dx: bool = True):
    """x (N, Din), W (Din, Dout), dout (N, Dout) -> dx (N, Din) or None, dW (Din, Dout), db."""
    check_dense_backward(x, W, dout)
    return dout.dot(W.T) if need_dx else None, x.T.dot(dout), _sum(dout, 0)


# -- convolution: im2col + one GEMM, and einsum ----------------------------------------------------
# Column buffer layout (C, KH, KW, N, OH, OW) seen as (C*KH*KW, N*OH*OW): the GEMM is
# W (F, C*KH*KW) @ cols, and im2col is one strided slice copy per kernel offset (Chainer's way).


def _im2col(x: np.ndarray, KH: int, KW: int, stride: int, padding: int, OH: int, OW: int,
            kernel: str) -> np.ndarray:
    """x (N, C, H, W) -> cols (C, KH, KW, N, OH, OW), padding and stride applied."""
    N, C, H, Wd = x.shape
    check_buffer_fits(kernel, "column", (C, KH, KW, N, OH, OW), x.dtype)
    cols = np.empty((C, KH, KW, N, OH, OW), dtype=x.dtype)
    xt = x.transpose(1, 0, 2, 3)  # (C, N, H, W) view
    for i in range(KH):
        # output rows oh whose input row oh*stride + i - padding lies inside x
        oh0, oh1 = _inside(i, padding, stride, H, OH)
        for j in range(KW):
            ow0, ow1 = _inside(j, padding, stride, Wd, OW)
            dst = cols[:, i, j]  # (C, N, OH, OW)
            if oh0 > 0 or oh1 < OH or ow0 > 0 or ow1 < OW:
                dst[:, :, :oh0] = 0
                dst[:, :, oh1:] = 0
                dst[:, :, oh0:oh1, :ow0] = 0
                dst[:, :, oh0:oh1, ow1:] = 0
            if oh0 < oh1 and ow0 < ow1:
                r0, c0 = oh0 * stride + i - padding, ow0 * stride + j - padding
                dst[:, :, oh0:oh1, ow0:ow1] = xt[:, :, r0:r0 + (oh1 - oh0 - 1) * stride + 1:stride,
                                                 c0:c0 + (ow1 - ow0 - 1) * stride + 1:stride]
    return cols


def _inside(k: int, padding: int, stride: int, size: int, out: int) -> tuple[int, int]:
    """[lo, hi): the outputs o with 0 <= o*stride + k - padding < size."""
    lo = max(0, -(-(padding - k) // stride))
    hi = min(out, (size - 1 + padding - k) // stride + 1) if size - 1 + padding - k >= 0 else 0
    return lo, max(lo, hi)


def _col2im(dcols: np.ndarray, x_shape: tuple[int, ...], stride: int, padding: int) -> np.ndarray:
    """dcols (C, KH, KW, N, OH, OW) -> dx (N, C, H, W), overlapping windows summed."""
    C, KH, KW, N, OH, OW = dcols.shape
    H, Wd = x_shape[2:]
    dx = np.zeros((N, C, H, Wd), dtype=dcols.dtype)
    dxt = dx.transpose(1, 0, 2, 3)  # (C, N, H, W) view
    for i in range(KH):
        oh0, oh1 = _inside(i, padding, stride, H, OH)
        for j in range(KW):
            ow0, ow1 = _inside(j, padding, stride, Wd, OW)
            if oh0 < oh1 and ow0 < ow1:
                r0, c0 = oh0 * stride + i - padding, ow0 * stride + j - padding
                dxt[:, :, r0:r0 + (oh1 - oh0 - 1) * stride + 1:stride,
                    c0:c0 + (ow1 - ow0 - 1) * stride + 1:stride] += dcols[:, i, j, :, oh0:oh1,
                                                                          ow0:ow1]
    return dx


def conv2d_forward_im2col(x: np.ndarray, W: np.ndarray, b: np.ndarray, stride: int = 1,
                          padding: int = 0) -> np.ndarray:
    """x (N, C, H, W), W (F, C, KH, KW), b (F,) -> (N, F, OH, OW), by im2col and one GEMM."""
    OH, OW = check_conv2d("conv2d_forward", x, W, b, stride, padding)
    N, F, KH, KW = x.shape[0], W.shape[0], W.shape[2], W.shape[3]
    cols = _im2col(x, KH, KW, stride, padding, OH, OW, "conv2d_forward")
    out = W.reshape(F, -1) @ cols.reshape(-1, N * OH * OW)  # (F, N*OH*OW)
    out += b[:, None]
    return np.ascontiguousarray(out.reshape(F, N, OH, OW).transpose(1, 0, 2, 3))


def conv2d_backward_im2col(x: np.ndarray, W: np.ndarray, dout: np.ndarray, stride: int = 1,
                           padding: int = 0):
    """x (N, C, H, W), W (F, C, KH, KW), dout (N, F, OH, OW) -> dx, dW, db, by two GEMMs."""
    OH, OW = check_conv2d("conv2d_backward", x, W, dout, stride, padding, backward=True)
    N, F, KH, KW = x.shape[0], W.shape[0], W.shape[2], W.shape[3]
    cols = _im2col(x, KH, KW, stride, padding, OH, OW, "conv2d_backward")
    dout_t = np.ascontiguousarray(dout.transpose(1, 0, 2, 3)).reshape(F, -1)  # (F, N*OH*OW)
    dW = (dout_t @ cols.reshape(-1, N * OH * OW).T).reshape(W.shape)  # (F, C*KH*KW)
    db = dout_t.sum(axis=1)
    dcols = W.reshape(F, -1).T @ dout_t  # (C*KH*KW, N*OH*OW)
    dx = _col2im(dcols.reshape(-1, KH, KW, N, OH, OW), x.shape, stride, padding)
    return dx, dW, db


def _windows(x: np.ndarray, KH: int, KW: int, stride: int, padding: int, OH: int, OW: int,
             kernel: str) -> np.ndarray:
    """x (N, C, H, W) -> read-only strided view (N, C, OH, OW, KH, KW) of the padded input."""
    if padding:
        N, C, H, Wd = x.shape
        check_buffer_fits(kernel, "padded input", (N, C, H + 2 * padding, Wd + 2 * padding),
                          x.dtype)
        x = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    win = np.lib.stride_tricks.sliding_window_view(x, (KH, KW), axis=(2, 3))
    return win[:, :, :(OH - 1) * stride + 1:stride, :(OW - 1) * stride + 1:stride]


def conv2d_forward_einsum(x: np.ndarray, W: np.ndarray, b: np.ndarray, stride: int = 1,
                          padding: int = 0) -> np.ndarray:
    """x (N, C, H, W), W (F, C, KH, KW), b (F,) -> (N, F, OH, OW), by einsum on window views."""
    OH, OW = check_conv2d("conv2d_forward", x, W, b, stride, padding)
    KH, KW = W.shape[2:]
    win = _windows(x, KH, KW, stride, padding, OH, OW, "conv2d_forward")  # (N, C, OH, OW, KH, KW)
    out = np.einsum("ncpqij,fcij->nfpq", win, W, optimize=True)
    out += b[:, None, None]
    return np.ascontiguousarray(out)


def conv2d_backward_einsum(x: np.ndarray, W: np.ndarray, dout: np.ndarray, stride: int = 1,
                           padding: int = 0):
    """x (N, C, H, W), W (F, C, KH, KW), dout (N, F, OH, OW) -> dx, dW, db, by einsum."""
    OH, OW = check_conv2d("conv2d_backward", x, W, dout, stride, padding, backward=True)
    KH, KW = W.shape[2:]
    win = _windows(x, KH, KW, stride, padding, OH, OW, "conv2d_backward")
    dW = np.einsum("ncpqij,nfpq->fcij", win, dout, optimize=True)
    db = dout.sum(axis=(0, 2, 3))
    check_buffer_fits("conv2d_backward", "column", (W.size // W.shape[0], dout.size),
                      x.dtype)
    dcols = np.einsum("fcij,nfpq->cijnpq", W, dout, optimize=True)  # (C, KH, KW, N, OH, OW)
    dx = _col2im(dcols, x.shape, stride, padding)
    return dx, np.ascontiguousarray(dW), db


#: The conv formulations of this backend; ``conv2d_forward`` / ``conv2d_backward`` are the faster
#: one (measured in ``fastnn/app/bench_suite/test_conv.py``); both are tested against the reference.
CONV_VARIANTS = {
    "im2col": (conv2d_forward_im2col, conv2d_backward_im2col),
    "einsum": (conv2d_forward_einsum, conv2d_backward_einsum),
}
conv2d_forward, conv2d_backward = CONV_VARIANTS["im2col"]


# -- max pooling ----------------------------------------------------------------------------------

def max_pool2d_forward(x: np.ndarray, size=2, stride=None) -> np.ndarray:
    """x (N, C, H, W) -> (N, C, OH, OW), the max of each window."""
    KH, KW, s, OH, OW = check_max_pool2d("max_pool2d_forward", x, None, size, stride)
    out = x[:, :, :(OH - 1) * s + 1:s, :(OW - 1) * s + 1:s].copy()  # offset (0, 0)
    for i in range(KH):
        for j in range(KW):
            if i or j:
                np.maximum(out, x[:, :, i:i + (OH - 1) * s + 1:s, j:j + (OW - 1) * s + 1:s],
                           out=out)
    return out


def max_pool2d_backward(x: np.ndarray, dout: np.ndarray, size=2, stride=None) -> np.ndarray:
    """x (N, C, H, W), dout (N, C, OH, OW) -> dx; each window's gradient to its first maximum."""
    KH, KW, s, OH, OW = check_max_pool2d("max_pool2d_backward", x, dout, size, stride)
    out = max_pool2d_forward(x, (KH, KW), s)  # (N, C, OH, OW)
    taken = np.zeros(out.shape, dtype=bool)  # window already gave its gradient away
    dx = np.zeros_like(x)
    for i in range(KH):
        for j in range(KW):
            view = (slice(None), slice(None), slice(i, i + (OH - 1) * s + 1, s),
                    slice(j, j + (OW - 1) * s + 1, s))
            first = (x[view] == out) & ~taken  # (N, C, OH, OW)
            taken |= first
            dx[view] += np.where(first, dout, 0)
    return dx
