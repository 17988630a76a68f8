"""The ``numba`` backend's dense and activation kernels, and the scalar helpers the fused step
shares with them.

Kernels of the contract (same names and shapes as the sibling backends) run compiled; dense
products go to BLAS through ``np.dot`` (Numba binds it via SciPy). Everything elementwise
(activations, their derivatives, the bias, ``db``) is one serial loop that LLVM vectorizes: no
``prange`` for elementwise work, since on two shared cores a parallel region waits for a
descheduled worker far more often than it gains (the measurements are in docs/ARCHITECTURE.md).

Compiler flags: ``error_model="numpy"`` everywhere (a float division by zero gives inf/nan as
in NumPy instead of raising). Full ``fastmath`` is never used: it would contract multiply-adds
into FMAs (rounding unlike the reference's separate multiply and add) and assume no NaN or inf
(breaking sigmoid's exp overflow and NaN propagation). The one flag used is ``reassoc``, on the
two sums over samples (:func:`_dot_rows`, :func:`_sum_row`) so that they vectorize. Runs stay
bitwise reproducible on one machine; on a CPU with another SIMD width those sums may round
differently in the last bit, well inside the 1e-10 the tests hold every backend to. Every kernel
is compiled through :func:`.cache.jit`, whose on-disk cache is keyed on the sources it depends
on.

In float32, scalar arithmetic inside the kernels is carried out in float64 and rounded when
stored (NumPy rounds after every float32 operation), so float32 results agree with the other
backends to float32 precision, not bitwise.
"""

from __future__ import annotations

import functools
import types

import numpy as np
from llvmlite import ir
from numba import config
from numba import types as nbtypes
from numba.extending import intrinsic

from ...nn import activations
from ..base import (
    check_activation_backward,
    check_arrays,
    check_dense_backward,
    check_dense_forward,
    check_same_float_dtype,
)
from .cache import global_names, jit

# -- scalar helpers -------------------------------------------------------------------------------
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

        return nbtypes.float64(nbtypes.int64), codegen


@jit(error_model="numpy", inline="always")
def _exp(x):
    """e**x to 1 ulp, vectorizable; inf above 709.78, 0 below -745.13, NaN kept."""
    xc = x if x == x else 0.0
    xc = 710.0 if xc > 710.0 else (-746.0 if xc < -746.0 else xc)
    kf = np.floor(xc * _INV_LN2 + 0.5)
    r = (xc - kf * _LN2_HI) - kf * _LN2_LO
    # the Taylor polynomial: terms r**4.. in Estrin's scheme (a shorter dependency chain than
    # Horner's), the last four by Horner
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


@jit(error_model="numpy", inline="always")
def _where(condition, x, y):
    """np.where on single numbers: x if condition else y."""
    return x if condition else y


# -- the activations of fastnn.nn.activations, compiled ------------------------------------------
_compiling: set = set()


@functools.cache
def compile_definition(func: types.FunctionType):
    """``func``, a definition from :mod:`fastnn.nn` written for arrays and numbers alike,
    compiled to be inlined: every plain Python function it calls by a global name is compiled
    the same way (so definitions may call each other, as AdamW's rule calls Adam's), a global
    ``exp`` is this module's vectorizable :func:`_exp` and a global ``where`` the select
    :func:`_where`."""
    if func in _compiling:
        raise ValueError(f"{func.__qualname__} calls itself: a definition cannot be recursive")
    _compiling.add(func)
    try:
        namespace = dict(func.__globals__)
        for name in global_names(func.__code__):
            if isinstance(namespace.get(name), types.FunctionType):
                namespace[name] = compile_definition(namespace[name])
        if "exp" in namespace:
            namespace["exp"] = _exp
        if "where" in namespace:  # on numbers: a select (np.where compiles array machinery)
            namespace["where"] = _where
    finally:
        _compiling.discard(func)
    copy = types.FunctionType(func.__code__, namespace, func.__name__, func.__defaults__,
                              func.__closure__)
    copy.__qualname__, copy.__module__ = func.__qualname__, func.__module__
    return jit(inline="always", error_model="numpy")(copy)


def _forward_link(f, rest):
    @jit(error_model="numpy", inline="always")
    def act_row(code, z, j, b):
        if code == 0:
            for n in range(z.shape[1]):
                z[j, n] = f(z[j, n] + b)
        else:
            rest(code - 1, z, j, b)
    return act_row


def _backward_link(g, rest):
    @jit(error_model="numpy", inline="always")
    def dact_row(code, y, d, j):
        if code == 0:
            for n in range(y.shape[1]):
                d[j, n] = g(y[j, n], d[j, n])
        else:
            rest(code - 1, y, d, j)
    return dact_row


@jit(error_model="numpy", inline="always")
def _no_code(code, a, b, c):
    """The end of a chain of links: no activation has this code (never reached)."""


def _chain(link, functions):
    """A compiled ``call(code, ...)`` running ``link``'s loop with ``functions[code]``: one
    branch per function, so each loop is specialized and vectorizes."""
    call = _no_code
    for f in reversed(functions):
        call = link(compile_definition(f), call)
    return call


#: activation name -> its code: its index in fastnn.nn.activations.ACTIVATIONS.
ACTIVATION_CODES = {name: i for i, name in enumerate(activations.ACTIVATIONS)}
# Helpers of the fused step take a 2-D block and a row index: making an array view costs ~20 ns,
# as much as the arithmetic of a whole row of the lab network.
# NOTE: compiled once. The two row helpers below are not inlined into their callers: each is
# compiled once per dtype and machine (on-disk cache) and every fused step and kernel calls it,
# one call per row (a few ns against a row's arithmetic), so that a new loss or optimizer
# compiles its own code only; inlined, every fused step re-compiled the loops of all
# activations (most of its cold compile).
_act_chain = _chain(_forward_link, [activations.FORWARD[a] for a in activations.ACTIVATIONS])
_dact_chain = _chain(_backward_link, [activations.BACKWARD[a] for a in activations.ACTIVATIONS])


@jit(error_model="numpy")
def _act_row(code, z, j, b):
    """z[j] <- f(z[j] + b), z (D, M), f the activation numbered ``code``."""
    _act_chain(code, z, j, b)


@jit(error_model="numpy")
def _dact_row(code, y, d, j):
    """d[j] <- backward(y[j], d[j]), y the activation's output (D, M)."""
    _dact_chain(code, y, d, j)


# NOTE: reductions. _dot_rows and _sum_row are the only code compiled with a fastmath flag, and
# only "reassoc": it lets LLVM vectorize the sum over samples (a vector of partial sums, added
# up at the end), which it may not do for a strict left-to-right sum. The order of the additions
# then follows the vector width LLVM picks for this CPU: runs are bitwise reproducible on one
# machine, and may differ between CPUs with different SIMD widths by an ulp or so per sum, well
# inside the 1e-10 the tests hold the backends to. No "contract" (no FMAs) and no NaN/inf
# assumptions. They are not inline="always": Numba would inline their IR into a caller compiled
# without the flag; LLVM inlines them after the flag is set on their instructions.
@jit(error_model="numpy", fastmath={"reassoc"})
def _dot_rows(x, k, y, j, N):
    """sum(x[k, :N] * y[j, :N]), x (Dx, M), y (Dy, M), M >= N; accumulated in float64."""
    s = 0.0
    for n in range(N):
        s += x[k, n] * y[j, n]
    return s


@jit(error_model="numpy", fastmath={"reassoc"})
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
@jit(error_model="numpy")
def _dense_forward(x, W, b):
    """x (N, Din), W (Din, Dout), b (Dout,) -> x @ W + b (N, Dout)."""
    out = np.dot(x, W)  # (N, Dout)
    for n in range(out.shape[0]):
        row = out[n]
        for j in range(row.shape[0]):
            row[j] += b[j]
    return out


@jit(error_model="numpy")
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


@jit(error_model="numpy")
def _activation_forward(code, z):
    """y = f(z) elementwise over z (1, M)."""
    y = z.copy()
    _act_row(code, y, 0, -0.0)  # x + (-0.0) is x for every x, signed zeros included
    return y


@jit(error_model="numpy")
def _activation_backward(code, y, dy):
    """dz = dy * f'(y) elementwise over y, dy (1, M)."""
    dz = dy.copy()
    _dact_row(code, y, dz, 0)
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
    return ACTIVATION_CODES[activations.check_activation(name)]


def activation_forward(name: str, z: np.ndarray) -> np.ndarray:
    """y = f(z), elementwise, any shape."""
    code = _code(name)
    check_arrays("activation_forward", z=z)
    check_same_float_dtype("activation_forward", z)
    z = np.ascontiguousarray(z)
    return _activation_forward(code, z.reshape(1, -1)).reshape(z.shape)


def activation_backward(name: str, y: np.ndarray, dy: np.ndarray) -> np.ndarray:
    """dz = dy * f'(y), the derivative written from the output."""
    code = _code(name)
    check_activation_backward(y, dy)
    y, dy = np.ascontiguousarray(y), np.ascontiguousarray(dy)
    return _activation_backward(code, y.reshape(1, -1), dy.reshape(1, -1)).reshape(y.shape)
