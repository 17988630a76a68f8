"""The ``numba`` backend: ``@njit(cache=True)`` kernels, and a fused training step for MLPs.

Kernels of the contract (same names and shapes as the sibling backends) run compiled; dense
products go to BLAS through ``np.dot`` (Numba binds it via SciPy; on 128x784x256 float32 the
per-layer dense_forward / dense_backward run within 5% of the numpy backend's on 1 and 2 threads,
measured). Everything elementwise (activations, their derivatives, the bias, ``db``) is one
serial loop that LLVM vectorizes.

NOTE: no ``prange`` for elementwise work. Measured on this 2-core shared machine (medians of
serial vs 2-thread prange kernels, 4K..4M elements, float32/float64; relu, sigmoid, tanh forward,
relu backward, bias add), once with the machine otherwise idle and once with two busy-loop
processes on both cores:

* memory-bound work (relu, leaky_relu, identity, every derivative, bias, db) gains at most
  1.2-1.7x from a second thread at 64K-1M elements when idle, 5-50 us on the lab's CNN shapes
  (62K-125K elements), where the serial relu already runs 2-4x faster than NumPy's;
* a parallel region waits for every thread: whenever the other core is busy (another process,
  another tenant, BLAS threads spinning) a worker is not scheduled for a time slice and the call
  takes ~8 ms (sometimes 16 ms) instead of 0.01-0.1 ms. This was the median, not a rare tail,
  for many sizes under load (128x256 relu: 9 ms vs 0.014 ms in NumPy), and even without our own
  load (other tenants); at 1M float64 elements relu forward/backward took 0.8-8 ms in parallel vs
  0.2-0.7 ms serially;
* compute-bound tanh/sigmoid forward gain 1.3-2x when idle, but lost under load below ~1M
  elements (65K tanh: 8 ms parallel vs 1 ms serial), and even at 1-2M elements sigmoid only
  broke even.

No threshold pays reliably on 2 cores, so the elementwise kernels are serial. Also measured: the
former span loops (``for i in range(lo, hi)``) did not vectorize, Numba's negative-index
wraparound check staying in the body for an index not known to be >= 0 (5x slower than a loop
from 0 over a view); that is why the old prange kernels were 3-6x slower than NumPy even idle.

:func:`fused_trainer` compiles a whole training run of an MLP (Dense layers, each optionally
followed by one Activation; loss ``mse`` or ``bce``; any optimizer of :mod:`fastnn.optim`;
gradient clipping on or off): one call runs a stretch of epochs, each doing forward, loss,
backward, clipping and the optimizer update, in place in the model's flat parameter and gradient
buffers and the optimizer's state arrays, with no allocation per epoch for small layers.

NOTE: compiler flags. Every kernel is ``cache=True`` (the compile, ~10 s for the float64 fused
step, is paid once per machine, not per process) and ``error_model="numpy"`` (a float division
by zero gives inf/nan as in NumPy instead of raising). Full ``fastmath`` is never used: it would
contract multiply-adds into FMAs (rounding unlike the reference's separate multiply and add) and
assume no NaN or inf (breaking sigmoid's exp overflow to inf and NaN propagation). The one flag
used is ``reassoc``, on the fused step's two sums over samples only (_dot_rows, _sum_row: see
the NOTE there), so that they vectorize; everything else keeps its written order and rounding.
Runs stay bitwise reproducible on one machine (the order LLVM picks is fixed in the compiled
code); on a CPU with another SIMD width those sums may round differently in the last bit, still
well inside the 1e-10 the tests hold every backend to. No kernel here is ``parallel=True`` (see
the NOTE above); the fused step is serial too (its per-epoch work is microseconds, below a
thread launch) apart from the BLAS calls of big layers.

In float32, scalar arithmetic inside the kernels is carried out in float64 and rounded when
stored (NumPy rounds after every float32 operation), so float32 results agree with the other
backends to float32 precision, not bitwise.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import config, njit, types
from numba.extending import intrinsic

from ...nn import activations
from ...nn.layers import Activation, Dense
from ...nn.optim import SGD, Adagrad, Adam, Momentum, RMSprop
from ..base import (
    check_activation_backward,
    check_dense_backward,
    check_dense_forward,
    check_same_float_dtype,
)

#: activation name -> the integer code the kernels branch on.
ACTIVATION_CODES = {"identity": 0, "sigmoid": 1, "tanh": 2, "relu": 3, "leaky_relu": 4}
LOSS_CODES = {"mse": 0, "bce": 1}
#: optimizer class -> code; exact types only (a subclass may change the update).
OPTIMIZER_CODES = {SGD: 0, Momentum: 0, Adagrad: 2, RMSprop: 3, Adam: 4}
_MOMENTUM = 1
#: In the fused step, a layer whose product has at least this many multiply-adds (N*Din*Dout)
#: goes to BLAS; smaller ones are plain loops (a BLAS call costs more than the whole product).
BLAS_MIN_WORK = 1 << 16

_LEAKY = activations.LEAKY_SLOPE


# -- scalar helpers (same module as their callers: see the cache note in ARCHITECTURE.md) -------
# NOTE: exp. Numba's np.exp calls the C library's scalar exp (~20 cycles, not vectorizable); the
# lab network spends most of its time in it. _exp is exp by Cody-Waite reduction
# (x = k ln2 + r, |r| <= ln2 / 2), a degree-13 Taylor polynomial and 2**k built from its bits:
# pure arithmetic that LLVM inlines and vectorizes (2-3x faster). It is within 1 ulp of NumPy's
# exp (equal to it for ~89% of inputs), overflows to inf above 709.78 and underflows to 0 below
# -745.13 as exp does, and keeps NaN.
_LN2_HI = 6.93147180369123816490e-01  # ln 2 to 32 bits: k * _LN2_HI is exact for |k| < 2**11
_LN2_LO = 1.90821492927058770002e-10  # ln 2 - _LN2_HI
_INV_LN2 = 1.44269504088896338700e00


if config.DISABLE_JIT:
    def _pow2(k):
        """2.0**k for integer -1022 <= k <= 1023, from the float's bits."""
        return np.int64((k + 1023) << 52).view(np.float64)
else:
    @intrinsic
    def _pow2(typingctx, k):
        """2.0**k for integer -1022 <= k <= 1023, from the float's bits."""
        def codegen(context, builder, signature, args):
            bits = builder.shl(builder.add(args[0], ir.Constant(ir.IntType(64), 1023)),
                               ir.Constant(ir.IntType(64), 52))
            return builder.bitcast(bits, ir.DoubleType())

        return types.float64(types.int64), codegen


@njit(cache=True, error_model="numpy", inline="always")
def _exp(x):
    """e**x to 1 ulp, vectorizable; inf above 709.78, 0 below -745.13, NaN kept."""
    xc = x if x == x else 0.0
    xc = 710.0 if xc > 710.0 else (-746.0 if xc < -746.0 else xc)
    kf = np.floor(xc * _INV_LN2 + 0.5)
    r = (xc - kf * _LN2_HI) - kf * _LN2_LO
    # the Taylor polynomial, its terms r**4.. in Estrin's scheme (a shorter dependency chain
    # than Horner's: the loop runs ~10% faster), the last four by Horner (as accurate as all
    # Horner, measured on 3.1M inputs: 1 ulp at most, 89% equal to NumPy's)
    r2 = r * r
    r4 = r2 * r2
    p = (((1.0 / 24.0 + r * (1.0 / 120.0)) + r2 * (1.0 / 720.0 + r * (1.0 / 5040.0)))
         + r4 * (((1.0 / 40320.0 + r * (1.0 / 362880.0))
                  + r2 * (1.0 / 3628800.0 + r * (1.0 / 39916800.0)))
                 + r4 * (1.0 / 479001600.0 + r * (1.0 / 6227020800.0))))
    p = p * r + 1.0 / 6.0
    p = p * r + 0.5
    p = p * r + 1.0
    p = p * r + 1.0
    k = np.int64(kf)
    k1 = k >> 1  # 2**k as two factors, so that k = 1024 and k = -1076 stay in range
    res = p * _pow2(k1) * _pow2(k - k1)
    return res if x == x else x


@njit(cache=True, error_model="numpy", inline="always")
def _act(code, z):
    """f(z) for activation ``code``, with the formulas of fastnn.activations."""
    if code == 1:
        return 1.0 / (1.0 + _exp(-z))
    if code == 2:
        return np.tanh(z)
    if code == 3:
        return 0.0 if z <= 0.0 else z  # keeps NaN, like np.maximum
    if code == 4:
        return z if z > 0.0 else _LEAKY * z
    return z


@njit(cache=True, error_model="numpy", inline="always")
def _dact(code, y):
    """f'(z) written from the output y = f(z)."""
    if code == 1:
        return y * (1.0 - y)
    if code == 2:
        return 1.0 - y * y
    if code == 3:
        return 1.0 if y > 0.0 else 0.0
    if code == 4:
        return 1.0 if y > 0.0 else _LEAKY
    return 1.0


# Helpers of the fused step take a 2-D block and a row index: making an array view costs ~20 ns,
# as much as the arithmetic of a whole row of the lab network.
@njit(cache=True, error_model="numpy", inline="always")
def _act_row(code, z, j, b):
    """z[j] <- f(z[j] + b), z (D, N); one branch per call so the loop vectorizes."""
    N = z.shape[1]
    if code == 1:
        for n in range(N):
            z[j, n] = 1.0 / (1.0 + _exp(-(z[j, n] + b)))
    elif code == 2:
        for n in range(N):
            z[j, n] = np.tanh(z[j, n] + b)
    elif code == 3:
        for n in range(N):
            v = z[j, n] + b
            z[j, n] = 0.0 if v <= 0.0 else v
    elif code == 4:
        for n in range(N):
            v = z[j, n] + b
            z[j, n] = v if v > 0.0 else _LEAKY * v
    else:
        for n in range(N):
            z[j, n] = z[j, n] + b


@njit(cache=True, error_model="numpy", inline="always")
def _dact_row(code, y, d, j):
    """d[j] <- d[j] * f'(y[j]), y, d (D, N), y the activation's output."""
    N = y.shape[1]
    if code == 1:
        for n in range(N):
            d[j, n] = d[j, n] * (y[j, n] * (1.0 - y[j, n]))
    elif code == 2:
        for n in range(N):
            d[j, n] = d[j, n] * (1.0 - y[j, n] * y[j, n])
    elif code == 3:
        for n in range(N):
            d[j, n] = d[j, n] * (1.0 if y[j, n] > 0.0 else 0.0)
    elif code == 4:
        for n in range(N):
            d[j, n] = d[j, n] * (1.0 if y[j, n] > 0.0 else _LEAKY)


# NOTE: reductions. _dot_rows and _sum_row are the only code compiled with a fastmath flag, and
# only "reassoc": it lets LLVM vectorize the sum over samples (a vector of partial sums, added
# up at the end), which it may not do for a strict left-to-right sum. The order of the additions
# then follows the vector width LLVM picks for this CPU: runs are bitwise reproducible on one
# machine, and may differ between CPUs with different SIMD widths by an ulp or so per sum, well
# inside the 1e-10 the tests hold the backends to. No "contract" (no FMAs) and no NaN/inf
# assumptions. They are not inline="always": Numba would inline their IR into a caller compiled
# without the flag; LLVM inlines them after the flag is set on their instructions.
@njit(cache=True, error_model="numpy", fastmath={"reassoc"})
def _dot_rows(x, k, y, j, N):
    """sum(x[k, :N] * y[j, :N]), x (Dx, M), y (Dy, M), M >= N; accumulated in float64."""
    s = 0.0
    for n in range(N):
        s += x[k, n] * y[j, n]
    return s


@njit(cache=True, error_model="numpy", fastmath={"reassoc"})
def _sum_row(x, j, N):
    """sum(x[j, :N]), x (D, M), M >= N; accumulated in float64."""
    s = 0.0
    for n in range(N):
        s += x[j, n]
    return s


# -- kernels of the contract --------------------------------------------------------------------
# NOTE: serial, and vectorizable. Elementwise work runs on one thread (the module docstring gives
# the measurements). Every inner loop counts from 0 over a 1-D array or row view: Numba wraps a
# negative index around, and an index from range(lo, hi) with lo not known to be >= 0 keeps that
# check in the loop body, which then does not vectorize (5x slower, measured).
@njit(cache=True, error_model="numpy")
def _dense_forward(x, W, b):
    """x (N, Din), W (Din, Dout), b (Dout,) -> x @ W + b (N, Dout)."""
    out = np.dot(x, W)  # (N, Dout)
    for n in range(out.shape[0]):
        row = out[n]
        for j in range(row.shape[0]):
            row[j] += b[j]
    return out


@njit(cache=True, error_model="numpy")
def _dense_backward(x, W, dout, need_dx):
    """x (N, Din), W (Din, Dout), dout (N, Dout) -> dx (N, Din; (0, Din) unless need_dx),
    dW (Din, Dout), db (Dout,)."""
    N, Dout = dout.shape
    acc = np.zeros(Dout)  # float64 column sums, samples in order as the reference adds them
    for n in range(N):
        row = dout[n]
        for j in range(Dout):
            acc[j] += row[j]
    db = np.empty(Dout, dtype=dout.dtype)
    for j in range(Dout):
        db[j] = acc[j]
    dx = np.dot(dout, W.T) if need_dx else np.empty((0, W.shape[0]), dtype=dout.dtype)
    return dx, np.dot(x.T, dout), db


@njit(cache=True, error_model="numpy")
def _activation_forward(code, z):
    """y = f(z) elementwise over flat z (M,)."""
    y = np.empty_like(z)
    for i in range(z.shape[0]):
        y[i] = _act(code, z[i])
    return y


@njit(cache=True, error_model="numpy")
def _activation_backward(code, y, dy):
    """dz = dy * f'(y) elementwise over flat y, dy (M,)."""
    dz = np.empty_like(y)
    for i in range(y.shape[0]):
        dz[i] = dy[i] * _dact(code, y[i])
    return dz


def dense_forward(x: np.ndarray, W: np.ndarray, b: np.ndarray) -> np.ndarray:
    """x (N, Din), W (Din, Dout), b (Dout,) -> (N, Dout)."""
    check_dense_forward(x, W, b)
    return _dense_forward(np.ascontiguousarray(x), np.ascontiguousarray(W),
                          np.ascontiguousarray(b))


def dense_backward(x: np.ndarray, W: np.ndarray, dout: np.ndarray, need_dx: bool = True):
    """x (N, Din), W (Din, Dout), dout (N, Dout) -> dx (N, Din) or None, dW (Din, Dout), db."""
    check_dense_backward(x, W, dout)
    dx, dW, db = _dense_backward(np.ascontiguousarray(x), np.ascontiguousarray(W),
                                 np.ascontiguousarray(dout), bool(need_dx))
    return dx if need_dx else None, dW, db


def _code(name: str) -> int:
    if name not in ACTIVATION_CODES:
        activations.check_activation(name)
        raise ValueError(f"the numba backend has no kernel for activation {name!r} yet")
    return ACTIVATION_CODES[name]


def activation_forward(name: str, z: np.ndarray) -> np.ndarray:
    """y = f(z), elementwise, any shape."""
    code = _code(name)
    check_same_float_dtype("activation_forward", z)
    z = np.ascontiguousarray(z)
    return _activation_forward(code, z.reshape(-1)).reshape(z.shape)


def activation_backward(name: str, y: np.ndarray, dy: np.ndarray) -> np.ndarray:
    """dz = dy * f'(y), the derivative written from the output."""
    code = _code(name)
    check_activation_backward(y, dy)
    y, dy = np.ascontiguousarray(y), np.ascontiguousarray(dy)
    return _activation_backward(code, y.reshape(-1), dy.reshape(-1)).reshape(y.shape)


# -- the fused training step --------------------------------------------------------------------
#: Rows of the fused step's blocks are padded to a multiple of this many samples, so that the
#: elementwise loops run whole SIMD vectors (8 float64 in AVX-512) with no scalar remainder: on
#: the lab network (N = 100) the remainder loops took a fifth of the sigmoid time (measured).
ROW_MULTIPLE = 8


def _row_length(N: int, dims) -> int:
    """The fused step's row length M for N samples: N rounded up to ROW_MULTIPLE, or N itself
    when a layer goes to BLAS (whose products would run over the padding)."""
    if any(N * dims[i] * dims[i + 1] >= BLAS_MIN_WORK for i in range(len(dims) - 1)):
        return N
    return -(-N // ROW_MULTIPLE) * ROW_MULTIPLE


@njit(cache=True, error_model="numpy")
def _fused_epochs(X, Y, params, grads, s1, s2, dims, codes, loss_code, bce_eps, opt_code, hp,
                  t0, clip, lo, hi, target, M, abuf, dbuf, losses, correct):
    """Train up to len(losses) epochs in place; returns how many ran (stops at target / non-finite).

    X (N, D0), Y (N, DL); params, grads, s1, s2 flat (P,) (s1, s2 the optimizer state or empty);
    dims (L+1,) layer widths; codes (L,) activation after each Dense; hp (4,) optimizer settings;
    abuf, dbuf flat (M * sum(dims),): X transposed, then each layer's output, feature-major
    (D, M) so that every inner loop runs over the samples; dbuf holds their gradients. M >= N is
    the row length (see :func:`_row_length`): columns N..M-1 are padding, zero in the input and in
    the loss gradient, computed along by the elementwise loops (so that those run whole vectors)
    and left out of every sum over samples.
    losses (E,) float64 and correct (E,) int64 are filled per epoch.
    """
    N = X.shape[0]
    L = dims.shape[0] - 1
    DL = dims[L]
    P = params.shape[0]
    aoff = np.zeros(L + 2, dtype=np.int64)  # block i (0 = input): abuf[aoff[i]:aoff[i + 1]]
    poff = np.zeros(L + 1, dtype=np.int64)  # layer i's W then b: params[poff[i]:poff[i + 1]]
    for i_l in range(L + 1):
        aoff[i_l + 1] = aoff[i_l] + M * dims[i_l]
    for i_l in range(L):
        poff[i_l + 1] = poff[i_l] + dims[i_l] * dims[i_l + 1] + dims[i_l + 1]
    # every block's view, made once per call: a view made in the epoch loop costs ~20 ns
    A = [abuf[aoff[i_l]:aoff[i_l + 1]].reshape((dims[i_l], M)) for i_l in range(L + 1)]
    D = [dbuf[aoff[i_l]:aoff[i_l + 1]].reshape((dims[i_l], M)) for i_l in range(L + 1)]
    boff = poff[:L] + dims[:L] * dims[1:]  # layer i's b: params[boff[i]:poff[i + 1]]
    Ws = [params[poff[i]:boff[i]].reshape((dims[i], dims[i + 1])) for i in range(L)]
    Bs = [params[boff[i]:poff[i + 1]] for i in range(L)]
    GWs = [grads[poff[i]:boff[i]].reshape((dims[i], dims[i + 1])) for i in range(L)]
    GBs = [grads[boff[i]:poff[i + 1]] for i in range(L)]
    xT = A[0]
    for n in range(N):
        for k in range(dims[0]):
            xT[k, n] = X[n, k]
    for k in range(dims[0]):
        for n in range(N, M):
            xT[k, n] = 0.0
    dL = D[L]
    for j in range(DL):
        for n in range(N, M):
            dL[j, n] = 0.0
    yT = np.empty((DL, N), dtype=Y.dtype)  # targets, feature-major; one allocation per call
    for n in range(N):
        for j in range(DL):
            yT[j, n] = Y[n, j]
    lr, h1, h2, eps = hp[0], hp[1], hp[2], hp[3]
    E = losses.shape[0]
    ran = 0
    for e in range(E):
        # forward: y_l = f(W_l^T y_{i_l-1} + b_l), blocks (D, M)
        for i_l in range(L):
            din, dout = dims[i_l], dims[i_l + 1]
            a, W, b, z = A[i_l], Ws[i_l], Bs[i_l], A[i_l + 1]
            if N * din * dout >= BLAS_MIN_WORK:
                z[:, :] = np.dot(W.T, a)
            else:
                for j in range(dout):
                    w = W[0, j]
                    for n in range(M):
                        z[j, n] = a[0, n] * w
                    for k in range(1, din):
                        w = W[k, j]
                        for n in range(M):
                            z[j, n] += a[k, n] * w
            for j in range(dout):
                _act_row(codes[i_l], z, j, b[j])

        # loss, its gradient (into dbuf's last block) and the correct count
        out, d = A[L], D[L]
        loss = 0.0
        if loss_code == 0:
            scale = 2.0 / N
            for j in range(DL):
                for n in range(N):
                    d[j, n] = out[j, n] - yT[j, n]
                loss += _dot_rows(d, j, d, j, N)
                for n in range(N):
                    d[j, n] = d[j, n] * scale
            loss = loss / N
        else:
            for j in range(DL):
                for n in range(N):
                    p = min(max(out[j, n], bce_eps), 1.0 - bce_eps)
                    t = yT[j, n]
                    loss += t * np.log(p) + (1.0 - t) * np.log1p(-p)
                    d[j, n] = (p - t) / (p * (1.0 - p) * N)
            loss = -loss / N
        hits = 0
        if DL == 1:
            for n in range(N):
                if (out[0, n] > 0.5) == (yT[0, n] > 0.5):
                    hits += 1
        else:
            for n in range(N):
                bo = 0
                bt = 0
                for j in range(1, DL):
                    if out[j, n] > out[bo, n]:
                        bo = j
                    if yT[j, n] > yT[bt, n]:
                        bt = j
                if bo == bt:
                    hits += 1
        losses[e] = loss
        correct[e] = hits

        # backward: dz_l = dy_l * f'(y_l); dW = y_{i_l-1} dz^T, db = sum dz, dy_{i_l-1} = W dz
        for j in range(DL):
            _dact_row(codes[L - 1], out, d, j)
        for i_l in range(L - 1, -1, -1):
            din, dout = dims[i_l], dims[i_l + 1]
            a, W, dz, gW, gb = A[i_l], Ws[i_l], D[i_l + 1], GWs[i_l], GBs[i_l]
            big = N * din * dout >= BLAS_MIN_WORK
            if big:
                gW[:, :] = np.dot(a, dz.T)
            else:
                for k in range(din):
                    for j in range(dout):
                        gW[k, j] = _dot_rows(a, k, dz, j, N)
            for j in range(dout):
                gb[j] = _sum_row(dz, j, N)
            if i_l > 0:
                dprev = D[i_l]
                if big:
                    dprev[:, :] = np.dot(W, dz)
                else:
                    for k in range(din):
                        w = W[k, 0]
                        for n in range(M):
                            dprev[k, n] = w * dz[0, n]
                        for j in range(1, dout):
                            w = W[k, j]
                            for n in range(M):
                                dprev[k, n] += w * dz[j, n]
                for k in range(din):
                    _dact_row(codes[i_l - 1], a, dprev, k)

        # clipping and the optimizer update, elementwise on the flat buffers
        if clip:
            for i in range(P):
                grads[i] = min(max(grads[i], lo), hi)
        t = float(t0 + e + 1)
        if opt_code == 0:
            for i in range(P):
                params[i] -= lr * grads[i]
        elif opt_code == _MOMENTUM:
            for i in range(P):
                s1[i] = s1[i] * h1 + grads[i]
                params[i] -= lr * s1[i]
        elif opt_code == 2:
            for i in range(P):
                g = grads[i]
                s1[i] += g * g
                params[i] -= lr * g / (np.sqrt(s1[i]) + eps)
        elif opt_code == 3:
            for i in range(P):
                g = grads[i]
                s1[i] = s1[i] * h1
                s1[i] += (1.0 - h1) * (g * g)
                params[i] -= lr * g / (np.sqrt(s1[i]) + eps)
        else:
            step_size = lr / (1.0 - h1 ** t)
            corr2 = np.sqrt(1.0 - h2 ** t)
            for i in range(P):
                g = grads[i]
                s1[i] = s1[i] * h1
                s1[i] += (1.0 - h1) * g
                s2[i] = s2[i] * h2
                s2[i] += (1.0 - h2) * (g * g)
                params[i] -= step_size * s1[i] / (np.sqrt(s2[i]) / corr2 + eps)

        ran = e + 1
        if not np.isfinite(loss):
            break
        if target >= 0.0 and hits / N >= target:
            break
    return ran


class FusedMLP:
    """A compiled training run of one MLP, loss, optimizer and clipping (:func:`fused_trainer`).

    It works in place on ``model.params``, ``model.grads``, ``optimizer.state`` and
    ``optimizer.t``, leaving them as the per-layer path would; hyper-parameters (``lr`` ...) are
    read at every :meth:`run`, so changing them between runs takes effect.
    """

    def __init__(self, model, loss: str, optimizer, clip: tuple[float, float] | None,
                 dims: list[int], codes: list[int]) -> None:
        self.model, self.optimizer, self.clip = model, optimizer, clip
        self.loss_code = LOSS_CODES[loss]
        self.dims = np.array(dims, dtype=np.int64)
        self.codes = np.array(codes, dtype=np.int64)
        self._empty = np.empty(0, dtype=model.dtype)
        self._bce_eps = float(np.finfo(model.dtype).eps)
        self._N = -1

    def _hyperparams(self) -> tuple[int, np.ndarray]:
        opt = self.optimizer
        code = OPTIMIZER_CODES[type(opt)]
        if code == 0:
            return (_MOMENTUM if opt.momentum else 0), np.array([opt.lr, opt.momentum, 0.0, 0.0])
        if code == 2:
            return code, np.array([opt.lr, 0.0, 0.0, opt.eps])
        if code == 3:
            return code, np.array([opt.lr, opt.alpha, 0.0, opt.eps])
        return code, np.array([opt.lr, opt.beta1, opt.beta2, opt.eps])

    def run(self, X: np.ndarray, y: np.ndarray, epochs: int,
            target_accuracy: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Train up to ``epochs`` full-batch epochs on X (N, Din), y (N, Dout).

        Stops after the first epoch whose accuracy reaches ``target_accuracy`` or whose loss is
        not finite (that epoch's update done, as in the per-layer path).

        Returns
        -------
        losses : ndarray (E,) float64
            Per-epoch loss, E <= ``epochs`` the epochs that ran.
        correct : ndarray (E,) int64
            Per-epoch count of correct predictions.
        """
        model, opt = self.model, self.optimizer
        params = model.params
        if opt.slots and (len(opt.state) != len(opt.slots)
                          or opt.state[opt.slots[0]].shape != params.shape
                          or opt.state[opt.slots[0]].dtype != params.dtype):
            opt.reset(params)  # what Optimizer.step does on its first call
        for k in opt.slots:
            if not opt.state[k].flags.c_contiguous:
                opt.state[k] = np.ascontiguousarray(opt.state[k])
        s1 = opt.state[opt.slots[0]] if opt.slots else self._empty
        s2 = opt.state[opt.slots[1]] if len(opt.slots) > 1 else self._empty
        opt_code, hp = self._hyperparams()
        N = X.shape[0]
        if N != self._N:  # per-layer outputs and their gradients, reused while N stays
            self._M = _row_length(N, self.dims.tolist())
            size = self._M * int(self.dims.sum())
            self._abuf = np.zeros(size, dtype=model.dtype)
            self._dbuf = np.zeros(size, dtype=model.dtype)
            self._N = N
        losses = np.empty(epochs, dtype=np.float64)
        correct = np.empty(epochs, dtype=np.int64)
        clip = self.clip is not None
        lo, hi = self.clip if clip else (0.0, 0.0)
        target = -1.0 if target_accuracy is None else float(target_accuracy)
        ran = _fused_epochs(X, y, params, model.grads, s1, s2, self.dims, self.codes,
                            self.loss_code, self._bce_eps, opt_code, hp, opt.t, clip, lo, hi,
                            target, self._M, self._abuf, self._dbuf, losses, correct)
        opt.t += ran
        return losses[:ran], correct[:ran]


def fused_trainer(model, loss: str, optimizer, clip: tuple[float, float] | None):
    """A :class:`FusedMLP` for this run, or None when it cannot be fused.

    Fusable: a model whose layers are exactly ``Dense``, each optionally followed by one
    ``Activation``, on flat float64/float32 inputs; loss ``mse`` or ``bce``; an optimizer of type
    exactly ``SGD``, ``Momentum``, ``Adagrad``, ``RMSprop`` or ``Adam``. Mini-batches are not fused
    (the trainer falls back to the per-layer kernels for them).

    Parameters
    ----------
    model : Sequential
    loss : str
    optimizer : Optimizer
    clip : (float, float) or None
        Gradient clipping bounds, as the trainer normalized them.

    Returns
    -------
    FusedMLP or None
    """
    if loss not in LOSS_CODES or type(optimizer) not in OPTIMIZER_CODES:
        return None
    layers = getattr(model, "layers", None)
    if not layers or len(getattr(model, "input_shape", ())) != 1 \
            or np.dtype(model.dtype) not in (np.float64, np.float32):
        return None
    dims: list[int] = [model.input_shape[0]]
    codes: list[int] = []
    prev = None
    for layer in layers:
        if type(layer) is Dense:
            dims.append(layer.dout)
            codes.append(ACTIVATION_CODES["identity"])
        elif type(layer) is Activation and type(prev) is Dense \
                and layer.name in ACTIVATION_CODES:
            codes[-1] = ACTIVATION_CODES[layer.name]
        else:
            return None
        prev = layer
    return FusedMLP(model, loss, optimizer, clip, dims, codes)
