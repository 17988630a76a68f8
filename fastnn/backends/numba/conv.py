"""Numba kernels for convolution and max pooling, for the ``numba`` backend.

Convolution is im2col + GEMM one sample at a time, the samples split into one block per thread
(``prange`` over blocks): each block fills a column buffer (C*KH*KW, OH*OW) that stays in cache,
multiplies it by W with a single-threaded BLAS call (``np.dot``: every kernel here first claims
the cores for Numba's pool, :func:`fastnn.threads.use_numba_pool`, which leaves BLAS on one
thread once and for all), and writes ``out[n]`` straight in NCHW; backward does col2im into
``dx[n]`` the same way. Measured on the benchmark shapes, this beat both one whole-batch im2col
+ threaded GEMM (the ``numpy`` backend's way: 2-3x slower, the column buffer falls out of cache
and needs transposes) and batching several samples per GEMM (per-sample GEMMs ran at the highest
GFLOP/s).

Stride 1 (the common case) takes a faster path: the padded sample is copied once into a buffer
with rows of the padded width Wp, so each column-buffer row (c, i, j) is ONE contiguous slice of
it (length OH*Wp, starting at i*Wp + j); the GEMM computes Wp - OW extra columns per output row,
which are dropped (forward) or fed zeros (backward). Other strides use the general im2col with
bounds per element. Inner loops run over 1-D views: 2-D indexing there does not vectorize (7x
slower, measured).

NOTE: ``prange`` only where no two iterations write one element: a block writes ``out[n]`` and
``dx[n]`` for its own samples only, and its own partial sums ``dWs[t]``, ``dbs[t]`` (added up
after the loop); pooling goes over (sample, channel) planes.

Every kernel is compiled through :func:`.cache.jit` (an on-disk cache keyed on the sources it
depends on); with ``NUMBA_DISABLE_JIT=1`` they run as plain Python.
"""

from __future__ import annotations

import numba
import numpy as np
import scipy.linalg.cython_blas  # noqa: F401  (loads the BLAS Numba's np.dot calls, for the policy)
from numba import prange

from ...threads import use_numba_pool
from ..base import check_buffer_fits, check_conv2d, check_max_pool2d
from .cache import jit


@jit()
def _inside(k, padding, stride, size, out):  # pragma: no cover - jitted
    """[lo, hi): the outputs o with 0 <= o*stride + k - padding < size."""
    lo = 0
    if padding - k > 0:
        lo = (padding - k + stride - 1) // stride
    top = size - 1 + padding - k
    hi = 0
    if top >= 0:
        hi = min(out, top // stride + 1)
    return lo, max(lo, hi)


@jit()
def _im2col_one(x, n, KH, KW, stride, padding, OH, OW, cols):  # pragma: no cover - jitted
    """x[n] (C, H, W) -> cols (C*KH*KW, OH*OW), zeros where the window leaves x."""
    C, H, Wd = x.shape[1], x.shape[2], x.shape[3]
    for r in range(C * KH * KW):
        c = r // (KH * KW)
        i = (r // KW) % KH
        j = r % KW
        oh0, oh1 = _inside(i, padding, stride, H, OH)
        ow0, ow1 = _inside(j, padding, stride, Wd, OW)
        cols[r, :oh0 * OW] = 0.0
        cols[r, oh1 * OW:] = 0.0
        for oh in range(oh0, oh1):
            h = oh * stride + i - padding
            row = oh * OW
            cols[r, row:row + ow0] = 0.0
            cols[r, row + ow1:row + OW] = 0.0
            dst = cols[r, row:row + OW]
            src = x[n, c, h]
            for ow in range(ow0, ow1):
                dst[ow] = src[ow * stride + j - padding]


@jit()
def _col2im_one(dcols, n, KH, KW, stride, padding, OH, OW, dx):  # pragma: no cover - jitted
    """dcols (C*KH*KW, OH*OW) -> dx[n] (C, H, W) (zeroed here), overlapping windows summed."""
    C, H, Wd = dx.shape[1], dx.shape[2], dx.shape[3]
    dx[n] = 0.0
    for r in range(C * KH * KW):
        c = r // (KH * KW)
        i = (r // KW) % KH
        j = r % KW
        oh0, oh1 = _inside(i, padding, stride, H, OH)
        ow0, ow1 = _inside(j, padding, stride, Wd, OW)
        for oh in range(oh0, oh1):
            h = oh * stride + i - padding
            dst = dx[n, c, h]
            src = dcols[r, oh * OW:(oh + 1) * OW]
            for ow in range(ow0, ow1):
                dst[ow * stride + j - padding] += src[ow]


@jit(parallel=True)
def _conv_forward(x, Wm, b, KH, KW, stride, padding, OH, OW, T, out):  # pragma: no cover
    """Any stride: x (N, C, H, W), Wm (F, C*KH*KW), b (F,) -> out (N, F, OH*OW); T blocks."""
    N = x.shape[0]
    F, K = Wm.shape
    for t in prange(T):  # block t owns samples [t N / T, (t + 1) N / T): out[n] is its alone
        cols = np.empty((K, OH * OW), dtype=x.dtype)
        for n in range(t * N // T, (t + 1) * N // T):
            _im2col_one(x, n, KH, KW, stride, padding, OH, OW, cols)
            np.dot(Wm, cols, out[n])  # (F, OH*OW)
            for f in range(F):
                out[n, f] += b[f]


@jit(parallel=True)
def _conv_backward(x, Wm, WmT, dout, KH, KW, stride, padding, OH, OW, T, dx, dWs,
                   dbs):  # pragma: no cover - jitted
    """Any stride: dout (N, F, OH*OW) -> dx (N, C, H, W), block partial sums dWs (T, K, F)
    (dW transposed), dbs (T, F)."""
    N = x.shape[0]
    F, K = Wm.shape
    for t in prange(T):  # block t writes dx[n] for its own samples and dWs[t], dbs[t]
        cols = np.empty((K, OH * OW), dtype=x.dtype)
        dcols = np.empty((K, OH * OW), dtype=x.dtype)
        part = np.empty((K, F), dtype=x.dtype)
        dWs[t] = 0.0
        dbs[t] = 0.0
        for n in range(t * N // T, (t + 1) * N // T):
            _im2col_one(x, n, KH, KW, stride, padding, OH, OW, cols)
            np.dot(cols, dout[n].T, part)  # (K, F): dW transposed
            dWs[t] += part
            for f in range(F):
                dbs[t, f] += dout[n, f].sum()
            np.dot(WmT, dout[n], dcols)  # (K, OH*OW)
            _col2im_one(dcols, n, KH, KW, stride, padding, OH, OW, dx)


@jit()
def _pad_one(x, n, padding, Wp, xp):  # pragma: no cover - jitted
    """x[n] (C, H, W) -> interior of xp (C, Hp*Wp + Wp), rows of width Wp; the border stays 0."""
    C, H, Wd = x.shape[1], x.shape[2], x.shape[3]
    for c in range(C):
        for h in range(H):
            # 1-D views in the innermost loops: they vectorize (2-D indexing does not)
            dst = xp[c, (h + padding) * Wp + padding:(h + padding) * Wp + padding + Wd]
            src = x[n, c, h]
            for w in range(Wd):
                dst[w] = src[w]


@jit()
def _shift_cols(xp, KH, KW, Wp, L, cols):  # pragma: no cover - jitted
    """xp (C, Hp*Wp + Wp) -> cols (C*KH*KW, L): row (c, i, j) is xp[c] from i*Wp + j, L long."""
    for r in range(cols.shape[0]):
        c = r // (KH * KW)
        off = ((r // KW) % KH) * Wp + r % KW
        dst = cols[r]
        src = xp[c, off:off + L]
        for q in range(L):
            dst[q] = src[q]


@jit()
def _unshift_cols(dcols, KH, KW, Wp, L, dxp):  # pragma: no cover - jitted
    """The adjoint of _shift_cols: dxp (C, Hp*Wp + Wp) <- the sum of each row of dcols
    (C*KH*KW, L) added back where _shift_cols took it from."""
    dxp[:] = 0.0
    for r in range(dcols.shape[0]):
        c = r // (KH * KW)
        off = ((r // KW) % KH) * Wp + r % KW
        dst = dxp[c, off:off + L]
        src = dcols[r]
        for q in range(L):
            dst[q] += src[q]


@jit()
def _crop_one(xp, padding, Wp, n, x):  # pragma: no cover - jitted
    """The inverse of _pad_one: the interior of xp (C, Hp*Wp + Wp) -> x[n] (C, H, W)."""
    C, H, Wd = x.shape[1], x.shape[2], x.shape[3]
    for c in range(C):
        for h in range(H):
            src = xp[c, (h + padding) * Wp + padding:(h + padding) * Wp + padding + Wd]
            dst = x[n, c, h]
            for w in range(Wd):
                dst[w] = src[w]


@jit(parallel=True)
def _conv_forward_s1(x, Wm, b, KH, KW, padding, OH, OW, T, out):  # pragma: no cover - jitted
    """Stride 1: x (N, C, H, W), Wm (F, C*KH*KW), b (F,) -> out (N, F, OH*OW).

    Columns span the padded width Wp (L = OH*Wp): each column row is ONE contiguous copy of the
    padded sample; the GEMM's extra Wp - OW columns per output row are computed and dropped.
    """
    N, C, H, Wd = x.shape
    F, K = Wm.shape
    Wp = Wd + 2 * padding
    L = OH * Wp
    for t in prange(T):  # block t owns samples [t N / T, (t + 1) N / T): out[n] is its alone
        xp = np.zeros((C, (H + 2 * padding) * Wp + Wp), dtype=x.dtype)
        cols = np.empty((K, L), dtype=x.dtype)
        ext = np.empty((F, L), dtype=x.dtype)
        for n in range(t * N // T, (t + 1) * N // T):
            _pad_one(x, n, padding, Wp, xp)
            _shift_cols(xp, KH, KW, Wp, L, cols)
            np.dot(Wm, cols, ext)  # (F, OH*Wp)
            for f in range(F):
                bf = b[f]
                for oh in range(OH):
                    dst = out[n, f, oh * OW:(oh + 1) * OW]
                    src = ext[f, oh * Wp:oh * Wp + OW]
                    for ow in range(OW):
                        dst[ow] = src[ow] + bf


@jit(parallel=True)
def _conv_backward_s1(x, Wm, WmT, dout, KH, KW, padding, OH, OW, T, dx, dWs,
                      dbs):  # pragma: no cover - jitted
    """Stride 1: dout (N, F, OH*OW) -> dx (N, C, H, W), block partial sums dWs (T, K, F)
    (dW transposed), dbs (T, F)."""
    N, C, H, Wd = x.shape
    F, K = Wm.shape
    Wp = Wd + 2 * padding
    L = OH * Wp
    for t in prange(T):  # block t writes dx[n] for its own samples and dWs[t], dbs[t]
        xp = np.zeros((C, (H + 2 * padding) * Wp + Wp), dtype=x.dtype)
        dxp = np.empty_like(xp)
        cols = np.empty((K, L), dtype=x.dtype)
        dcols = np.empty((K, L), dtype=x.dtype)
        ext = np.zeros((F, L), dtype=x.dtype)  # dout[n] on the padded width; extra columns 0
        part = np.empty((K, F), dtype=x.dtype)
        acc = np.empty(OW)  # float64, as the scalar sum it replaces
        dWs[t] = 0.0
        dbs[t] = 0.0
        for n in range(t * N // T, (t + 1) * N // T):
            _pad_one(x, n, padding, Wp, xp)
            _shift_cols(xp, KH, KW, Wp, L, cols)
            for f in range(F):
                # db: one running sum per output column (a sum along the row is a serial
                # chain the compiler may not reorder; across columns it vectorizes)
                acc[:] = 0.0
                for oh in range(OH):
                    dst = ext[f, oh * Wp:oh * Wp + OW]
                    src = dout[n, f, oh * OW:(oh + 1) * OW]
                    for ow in range(OW):
                        dst[ow] = src[ow]
                        acc[ow] += src[ow]
                dbs[t, f] += acc.sum()
            np.dot(cols, ext.T, part)  # (K, F); the extra columns add exact zeros
            dWs[t] += part
            np.dot(WmT, ext, dcols)  # (K, OH*Wp), zero in the extra columns
            _unshift_cols(dcols, KH, KW, Wp, L, dxp)
            _crop_one(dxp, padding, Wp, n, dx)


@jit(parallel=True)
def _max_pool_forward(x, KH, KW, s, OH, OW, out):  # pragma: no cover - jitted
    """x (N, C, H, W) -> out (N, C, OH, OW), window maxima."""
    N, C = x.shape[0], x.shape[1]
    for nc in prange(N * C):
        n = nc // C
        c = nc % C
        for oh in range(OH):
            for ow in range(OW):
                m = x[n, c, oh * s, ow * s]
                for i in range(KH):
                    for j in range(KW):
                        v = x[n, c, oh * s + i, ow * s + j]
                        if v > m:
                            m = v
                out[n, c, oh, ow] = m


@jit(parallel=True)
def _max_pool_backward(x, dout, KH, KW, s, dx):  # pragma: no cover - jitted
    """x (N, C, H, W), dout (N, C, OH, OW) -> dx (zeroed here); first maximum takes the gradient."""
    N, C, OH, OW = dout.shape
    H, Wd = x.shape[2], x.shape[3]
    for nc in prange(N * C):
        n = nc // C
        c = nc % C
        for h in range(H):
            for w in range(Wd):
                dx[n, c, h, w] = 0.0
        for oh in range(OH):
            for ow in range(OW):
                bi = oh * s
                bj = ow * s
                m = x[n, c, bi, bj]
                for i in range(KH):
                    for j in range(KW):
                        v = x[n, c, oh * s + i, ow * s + j]
                        if v > m:
                            m = v
                            bi = oh * s + i
                            bj = ow * s + j
                dx[n, c, bi, bj] += dout[n, c, oh, ow]


def _blocks(N: int) -> int:
    """Claim the cores for Numba's pool (BLAS on one thread, set once: see fastnn.threads), and
    return the sample blocks for the parallel loops: one per thread, at most one per sample."""
    use_numba_pool()
    return max(1, min(N, numba.get_num_threads()))


def conv2d_forward(x: np.ndarray, W: np.ndarray, b: np.ndarray, stride: int = 1,
                   padding: int = 0) -> np.ndarray:
    """x (N, C, H, W), W (F, C, KH, KW), b (F,) -> (N, F, OH, OW): im2col + GEMM per sample."""
    OH, OW = check_conv2d("conv2d_forward", x, W, b, stride, padding)
    N, C, H, Wd = x.shape
    F, _, KH, KW = W.shape
    T = _blocks(N)
    check_buffer_fits("conv2d_forward", "column", (T, C * KH * KW, OH * OW), x.dtype)
    check_buffer_fits("conv2d_forward", "output", (N, F, OH, OW), x.dtype)
    out = np.empty((N, F, OH * OW), dtype=x.dtype)
    x, Wm = np.ascontiguousarray(x), np.ascontiguousarray(W).reshape(F, -1)
    if stride == 1:
        _conv_forward_s1(x, Wm, b, KH, KW, int(padding), OH, OW, T, out)
    else:
        _conv_forward(x, Wm, b, KH, KW, int(stride), int(padding), OH, OW, T, out)
    return out.reshape(N, F, OH, OW)


def conv2d_backward(x: np.ndarray, W: np.ndarray, dout: np.ndarray, stride: int = 1,
                    padding: int = 0):
    """x (N, C, H, W), W (F, C, KH, KW), dout (N, F, OH, OW) -> dx, dW, db: GEMMs per sample."""
    OH, OW = check_conv2d("conv2d_backward", x, W, dout, stride, padding, backward=True)
    N, C, H, Wd = x.shape
    F, _, KH, KW = W.shape
    K = C * KH * KW
    T = _blocks(N)
    check_buffer_fits("conv2d_backward", "column", (2 * T, K, OH * OW), x.dtype)
    Wm = np.ascontiguousarray(W).reshape(F, K)
    dx = np.empty((N, C, H, Wd), dtype=x.dtype)
    dWs = np.empty((T, K, F), dtype=x.dtype)  # transposed: cols @ dout.T ran faster (float32)
    dbs = np.empty((T, F), dtype=x.dtype)
    args = (np.ascontiguousarray(x), Wm, np.ascontiguousarray(Wm.T),
            np.ascontiguousarray(dout).reshape(N, F, OH * OW), KH, KW)
    if stride == 1:
        _conv_backward_s1(*args, int(padding), OH, OW, T, dx, dWs, dbs)
    else:
        _conv_backward(*args, int(stride), int(padding), OH, OW, T, dx, dWs, dbs)
    return dx, dWs.sum(axis=0).T.reshape(F, C, KH, KW), dbs.sum(axis=0)


def max_pool2d_forward(x: np.ndarray, size=2, stride=None) -> np.ndarray:
    """x (N, C, H, W) -> (N, C, OH, OW), the max of each window."""
    KH, KW, s, OH, OW = check_max_pool2d("max_pool2d_forward", x, None, size, stride)
    out = np.empty((*x.shape[:2], OH, OW), dtype=x.dtype)
    use_numba_pool()
    _max_pool_forward(np.ascontiguousarray(x), KH, KW, s, OH, OW, out)
    return out


def max_pool2d_backward(x: np.ndarray, dout: np.ndarray, size=2, stride=None) -> np.ndarray:
    """x (N, C, H, W), dout (N, C, OH, OW) -> dx; each window's gradient to its first maximum."""
    KH, KW, s, OH, OW = check_max_pool2d("max_pool2d_backward", x, dout, size, stride)
    dx = np.empty(x.shape, dtype=x.dtype)
    use_numba_pool()
    _max_pool_backward(np.ascontiguousarray(x), np.ascontiguousarray(dout), KH, KW, s, dx)
    return dx
