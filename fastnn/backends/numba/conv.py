"""Numba kernels for convolution and max pooling, for the ``numba`` backend.

Convolution runs one sample at a time, the samples split into one block per thread (``prange``
over blocks), with single-threaded BLAS calls (every kernel here first claims the cores for
Numba's pool, :func:`fastnn.threads.use_numba_pool`, which leaves BLAS on one thread once and
for all); each block writes ``out[n]`` and ``dx[n]`` straight in NCHW. Measured on the benchmark
shapes, per-sample products beat both one whole-batch im2col + threaded GEMM (the ``numpy``
backend's way: 2-3x slower, the column buffer falls out of cache and needs transposes) and
batching several samples per GEMM.

Stride 1 (the common case) takes faster paths. From VIEWS_MIN_CHANNELS input channels on it
needs no column buffer at all. The sample is copied once, padded, into a buffer with rows of the
padded width Wp; then the inputs that kernel offset (i, j) meets for all OH output rows are ONE
strided view of it (rows c, OH*Wp long, from i*Wp + j), and the convolution is KH*KW matrix
products on such views, summed by BLAS itself (``beta`` = 1, :func:`.blas.gemm`); backward's dW
and dx are the same products transposed. Over the padded width each output row has Wp - OW
extra columns, computed and dropped (forward) or fed zeros (backward). This is 1.3-1.5x faster
than one product over a column buffer (float32, benchmark shapes): the buffer cost a copy of
KH*KW times the sample, and BLAS then packed it again. With fewer channels each of the KH*KW
products is too thin, and one product over a column buffer wins: its rows (c, i, j) are each
ONE contiguous copy of the padded sample (from i*Wp + j, OH*Wp long). Other strides use im2col
with bounds per element. Both column paths multiply with ``np.dot``. Inner loops run over 1-D
views: 2-D indexing there does not vectorize (7x slower, measured).

NOTE: ``prange`` only where no two iterations write one element: a block writes ``out[n]`` and
``dx[n]`` for its own samples only, and its own partial sums ``dWs[t]`` (or ``dW9s[t]``),
``dbs[t]`` (added up after the loop); pooling goes over (sample, channel) planes.

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
from .blas import gemm
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


@jit()
def _crop_bias_one(ext, b, OH, OW, Wp, n, out):  # pragma: no cover - jitted
    """ext (F, OH*Wp), rows of the padded width -> out[n] (F, OH*OW) = ext's first OW columns
    of each row + b (the Wp - OW extra columns dropped)."""
    for f in range(ext.shape[0]):
        bf = b[f]
        for oh in range(OH):
            dst = out[n, f, oh * OW:(oh + 1) * OW]
            src = ext[f, oh * Wp:oh * Wp + OW]
            for ow in range(OW):
                dst[ow] = src[ow] + bf


@jit()
def _widen_one(dout, n, OH, OW, Wp, ext, acc, db):  # pragma: no cover - jitted
    """dout[n] (F, OH*OW) -> ext (F, OH*Wp), rows of the padded width (the extra columns are
    not written: kept zero); each channel's sum added to db (F,). ``acc`` (OW,) float64 holds
    one running sum per output column: a sum along the row is a serial chain the compiler may
    not reorder, across columns it vectorizes."""
    for f in range(ext.shape[0]):
        acc[:] = 0.0
        for oh in range(OH):
            dst = ext[f, oh * Wp:oh * Wp + OW]
            src = dout[n, f, oh * OW:(oh + 1) * OW]
            for ow in range(OW):
                dst[ow] = src[ow]
                acc[ow] += src[ow]
        db[f] += acc.sum()


@jit(parallel=True)
def _conv_forward_s1(x, W9, b, KH, KW, padding, OH, OW, T, out):  # pragma: no cover - jitted
    """Stride 1: x (N, C, H, W), W9 (KH*KW, F, C) (W9[i*KW + j] = W[:, :, i, j]), b (F,) ->
    out (N, F, OH*OW).

    Over the padded width Wp (L = OH*Wp), the inputs kernel offset (i, j) meets are ONE strided
    view of the padded sample, xp[:, i*Wp + j:][:, :L]: the KH*KW products W9[i*KW + j] @ view
    are summed by BLAS itself (beta = 1) into ext (F, L), with no column buffer; the extra
    Wp - OW columns per output row are computed and dropped.
    """
    N, C, H, Wd = x.shape
    F = W9.shape[1]
    Wp = Wd + 2 * padding
    L = OH * Wp
    for t in prange(T):  # block t owns samples [t N / T, (t + 1) N / T): out[n] is its alone
        xp = np.zeros((C, (H + 2 * padding) * Wp + Wp), dtype=x.dtype)
        ext = np.empty((F, L), dtype=x.dtype)
        for n in range(t * N // T, (t + 1) * N // T):
            _pad_one(x, n, padding, Wp, xp)
            for ij in range(KH * KW):
                off = (ij // KW) * Wp + ij % KW
                gemm(W9[ij], xp[:, off:off + L], ext, 0.0 if ij == 0 else 1.0)
            _crop_bias_one(ext, b, OH, OW, Wp, n, out)


@jit(parallel=True)
def _conv_backward_s1(x, W9, dout, KH, KW, padding, OH, OW, T, dx, dW9s,
                      dbs):  # pragma: no cover - jitted
    """Stride 1: dout (N, F, OH*OW) -> dx (N, C, H, W), block partial sums dW9s (T, KH*KW,
    F, C) (laid out as W9) and dbs (T, F). For each kernel offset, with the view of
    _conv_forward_s1: dW9[i*KW + j] += ext @ view.T, and W9[i*KW + j].T @ ext is added into
    the padded gradient dxp through the same view (BLAS's beta = 1; the offsets run one after
    another, so overlapping views are summed in order)."""
    N, C, H, Wd = x.shape
    F = W9.shape[1]
    Wp = Wd + 2 * padding
    L = OH * Wp
    for t in prange(T):  # block t writes dx[n] for its own samples and dW9s[t], dbs[t]
        xp = np.zeros((C, (H + 2 * padding) * Wp + Wp), dtype=x.dtype)
        dxp = np.empty_like(xp)
        ext = np.zeros((F, L), dtype=x.dtype)  # dout[n] on the padded width; extra columns 0
        acc = np.empty(OW)  # float64, as the scalar sum it replaces
        dW9s[t] = 0.0
        dbs[t] = 0.0
        for n in range(t * N // T, (t + 1) * N // T):
            _pad_one(x, n, padding, Wp, xp)
            _widen_one(dout, n, OH, OW, Wp, ext, acc, dbs[t])
            dxp[:] = 0.0
            for ij in range(KH * KW):
                off = (ij // KW) * Wp + ij % KW
                view = xp[:, off:off + L]
                gemm(ext, view.T, dW9s[t, ij], 1.0)  # the extra columns of ext add exact zeros
                gemm(W9[ij].T, ext, dxp[:, off:off + L], 1.0)
            _crop_one(dxp, padding, Wp, n, dx)


@jit(parallel=True)
def _conv_forward_s1_cols(x, Wm, b, KH, KW, padding, OH, OW, T, out):  # pragma: no cover - jitted
    """Stride 1, few channels: x (N, C, H, W), Wm (F, C*KH*KW), b (F,) -> out (N, F, OH*OW).

    Columns span the padded width Wp (L = OH*Wp): each column row is ONE contiguous copy of the
    padded sample (the view _conv_forward_s1 multiplies in place, one per row); the GEMM's extra
    Wp - OW columns per output row are computed and dropped.
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
            _crop_bias_one(ext, b, OH, OW, Wp, n, out)


@jit(parallel=True)
def _conv_backward_s1_cols(x, Wm, WmT, dout, KH, KW, padding, OH, OW, T, dx, dWs,
                           dbs):  # pragma: no cover - jitted
    """Stride 1, few channels: dout (N, F, OH*OW) -> dx (N, C, H, W), block partial sums dWs
    (T, K, F) (dW transposed), dbs (T, F)."""
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
            _widen_one(dout, n, OH, OW, Wp, ext, acc, dbs[t])
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


def _by_offset(W: np.ndarray) -> np.ndarray:
    """W (F, C, KH, KW) -> W9 (KH*KW, F, C): W9[i*KW + j] = W[:, :, i, j], contiguous."""
    F, C, KH, KW = W.shape
    return np.ascontiguousarray(W.transpose(2, 3, 0, 1)).reshape(KH * KW, F, C)


#: Stride 1 multiplies strided views (no column buffer) from this many input channels on: each
#: of its KH*KW products sums over C only. Measured (float32, 1 thread, 8x8 to 32x32 images):
#: with 1 to 8 channels one product over a column buffer was as fast or up to 1.6x faster; at 16
#: and 32 channels views were 1.35-1.45x faster. 9 to 15 channels were not measured.
VIEWS_MIN_CHANNELS = 16


def _views(C: int, stride: int) -> bool:
    return stride == 1 and C >= VIEWS_MIN_CHANNELS


def _block_buffers(x_shape, W_shape, stride, padding, T, OH, OW):
    """What each of T blocks allocates (one set; backward has two): with views, the padded
    sample and the output over the padded width; otherwise the column buffer."""
    _, C, H, Wd = x_shape
    F, _, KH, KW = W_shape
    if _views(C, stride):
        Wp = Wd + 2 * padding
        return "padded", (T, C * ((H + 2 * padding) * Wp + Wp) + F * OH * Wp)
    return "column", (T, C * KH * KW, OH * (Wd + 2 * padding if stride == 1 else OW))


def _blocks(N: int) -> int:
    """Claim the cores for Numba's pool (BLAS on one thread, set once: see fastnn.threads), and
    return the sample blocks for the parallel loops: one per thread, at most one per sample."""
    use_numba_pool()
    return max(1, min(N, numba.get_num_threads()))


def conv2d_forward(x: np.ndarray, W: np.ndarray, b: np.ndarray, stride: int = 1,
                   padding: int = 0) -> np.ndarray:
    """x (N, C, H, W), W (F, C, KH, KW), b (F,) -> (N, F, OH, OW): GEMMs per sample."""
    OH, OW = check_conv2d("conv2d_forward", x, W, b, stride, padding)
    N, C, H, Wd = x.shape
    F, _, KH, KW = W.shape
    T = _blocks(N)
    check_buffer_fits("conv2d_forward", *_block_buffers(x.shape, W.shape, stride, padding, T,
                                                       OH, OW), x.dtype)
    check_buffer_fits("conv2d_forward", "output", (N, F, OH, OW), x.dtype)
    out = np.empty((N, F, OH * OW), dtype=x.dtype)
    x = np.ascontiguousarray(x)
    if _views(C, stride):
        _conv_forward_s1(x, _by_offset(W), b, KH, KW, int(padding), OH, OW, T, out)
        return out.reshape(N, F, OH, OW)
    Wm = np.ascontiguousarray(W).reshape(F, -1)
    if stride == 1:
        _conv_forward_s1_cols(x, Wm, b, KH, KW, int(padding), OH, OW, T, out)
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
    what, shape = _block_buffers(x.shape, W.shape, stride, padding, T, OH, OW)
    check_buffer_fits("conv2d_backward", what, (2, *shape), x.dtype)
    dx = np.empty((N, C, H, Wd), dtype=x.dtype)
    dbs = np.empty((T, F), dtype=x.dtype)
    x, dout = np.ascontiguousarray(x), np.ascontiguousarray(dout).reshape(N, F, OH * OW)
    if _views(C, stride):
        dW9s = np.empty((T, KH * KW, F, C), dtype=x.dtype)
        _conv_backward_s1(x, _by_offset(W), dout, KH, KW, int(padding), OH, OW, T, dx, dW9s,
                          dbs)
        dW = dW9s.sum(axis=0).reshape(KH, KW, F, C).transpose(2, 3, 0, 1)
        return dx, np.ascontiguousarray(dW), dbs.sum(axis=0)
    Wm = np.ascontiguousarray(W).reshape(F, K)
    dWs = np.empty((T, K, F), dtype=x.dtype)  # transposed: cols @ dout.T ran faster (float32)
    if stride == 1:
        _conv_backward_s1_cols(x, Wm, np.ascontiguousarray(Wm.T), dout, KH, KW, int(padding), OH,
                               OW, T, dx, dWs, dbs)
    else:
        _conv_backward(x, Wm, np.ascontiguousarray(Wm.T), dout, KH, KW, int(stride),
                       int(padding), OH, OW, T, dx, dWs, dbs)
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
