"""The ``numba`` backend's dense and activation kernels, and the scalar helpers the fused step
shares with them.

Kernels of the contract (same names and shapes as the sibling backends) run compiled; dense
products go to BLAS through ``np.dot`` (Numba binds it via SciPy), a big forward product split
into row blocks over Numba's threads once Numba's pool owns the cores (see
:mod:`fastnn.threads`). Everything elementwise
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

In float32, scalar arithmetic inside the kernels is mostly carried out in float64 and rounded
when stored (NumPy rounds after every float32 operation); exp and tanh in the activation kernels
run in float32 arithmetic, to 2 float32 ulp (see the NOTE on them). Float32 results agree with
the other backends to float32 precision, not bitwise.
"""

from __future__ import annotations

import functools
import types

import numpy as np
from llvmlite import ir
from numba import config, prange
from numba import types as nbtypes
from numba.extending import intrinsic

from ...nn import activations
from ...threads import numba_pool_threads
from ..base import (
    check_activation_backward,
    check_arrays,
    check_dense_backward,
    check_dense_forward,
    check_same_float_dtype,
)
from .cache import INTERNAL, global_names, jit

# -- scalar helpers -------------------------------------------------------------------------------
# NOTE: exp and tanh. Numba's np.exp and np.tanh call the C library's scalar functions (not
# vectorizable; a float32 tanh ran at 1/40 of NumPy's speed); the lab network spends most of its
# time in them. The versions here are pure arithmetic that LLVM inlines and vectorizes, built on
# one reduction: for t = k ln2 + r (Cody-Waite, |r| <= ln2 / 2),
# e**t - 1 = 2**k expm1(r) + (2**k - 1), expm1(r) a polynomial and 2**k made from its bits.
# - _exp (e**x) is within 1 ulp of NumPy's exp (equal to it for ~89% of inputs), overflows to
#   inf above 709.78 and underflows to 0 below -745.13 as exp does, and keeps NaN.
# - _tanh(x) = sign(x) em / (em + 2), em = e**(2|x|) - 1 computed as itself (no cancellation
#   near 0, where tanh x = x to the last bit): within 3 ulp of the exact tanh and of NumPy's
#   (mean 0.04 ulp; equal to NumPy's for 84% of inputs), measured on 4M evenly spaced points
#   of [-20, 20], 2M spaced logarithmically from 1e-300 to 20 and 1M normal ones, both signs;
#   exactly +-1 past |x| = 20 (NumPy's from 19.06), signed zeros, subnormals and NaN kept.
# - Kernels on float32 arrays use _exp32 and _tanh32: the same method in float32 arithmetic,
#   with Cephes' degree-7 expf polynomial (16 lanes a vector instead of 8, and half the terms:
#   in float64 arithmetic, a float32 tanh took 3.5x NumPy's float32 tanh, itself SIMD float32).
#   Against the exact value rounded to float32, on every 5e-6th float of [-20, 20] and a
#   logarithmic grid down to 1e-45: _tanh32 within 2 float32 ulp (3 of NumPy's; equal for 96%),
#   _exp32 within 1. The rest of a definition keeps Numba's types (a Python float makes
#   float64), so float32 results agree with the other backends to float32 precision (tests:
#   1e-5 relative), not bitwise.
_LN2_HI = 6.93147180369123816490e-01  # ln 2 to 32 bits: k * _LN2_HI is exact for |k| < 2**11
_LN2_LO = 1.90821492927058770002e-10  # ln 2 - _LN2_HI
_INV_LN2 = 1.44269504088896338700e00
_F = np.float32
_LN2_HI32 = _F(0.693359375)  # ln 2 to 9 bits: k * _LN2_HI32 is exact for |k| < 2**15
_LN2_LO32 = _F(-2.12194440e-4)  # ln 2 - _LN2_HI32
_INV_LN2_32 = _F(1.44269504088896341)
_EXPF_P = tuple(_F(c) for c in (1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3,
                                4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1))
_ZERO32, _HALF32, _ONE32, _TWO32 = _F(0.0), _F(0.5), _F(1.0), _F(2.0)


if config.DISABLE_JIT:
    def _pow2(k):
        """2.0**k for integer -1022 <= k <= 1023, from the float's bits."""
        return np.int64((k + 1023) << 52).view(np.float64)

    def _pow2_32(k):
        """float32 2**k for integer -126 <= k <= 127, from the float's bits."""
        return np.int32((k + 127) << 23).view(np.float32)
else:
    @intrinsic
    def _pow2(typingctx, k):
        """2.0**k for integer -1022 <= k <= 1023, from the float's bits."""
        def codegen(context, builder, signature, args):
            bits = builder.shl(builder.add(args[0], ir.Constant(ir.IntType(64), 1023)),
                               ir.Constant(ir.IntType(64), 52))
            return builder.bitcast(bits, ir.DoubleType())

        return nbtypes.float64(nbtypes.int64), codegen

    @intrinsic
    def _pow2_32(typingctx, k):
        """float32 2**k for integer -126 <= k <= 127, from the float's bits."""
        def codegen(context, builder, signature, args):
            bits = builder.shl(builder.add(args[0], ir.Constant(ir.IntType(32), 127)),
                               ir.Constant(ir.IntType(32), 23))
            return builder.bitcast(bits, ir.FloatType())

        return nbtypes.float32(nbtypes.int32), codegen


@jit(error_model="numpy", inline="always")
def _expm1_reduced(r):
    """e**r - 1 for |r| <= ln2 / 2, float64, to the last bit near 0 too."""
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
    return p * r


@jit(error_model="numpy", inline="always")
def _exp(x):
    """e**x to 1 ulp, vectorizable; inf above 709.78, 0 below -745.13, NaN kept."""
    xc = x if x == x else 0.0
    xc = 710.0 if xc > 710.0 else (-746.0 if xc < -746.0 else xc)
    kf = np.floor(xc * _INV_LN2 + 0.5)
    r = (xc - kf * _LN2_HI) - kf * _LN2_LO
    p = _expm1_reduced(r) + 1.0
    k = np.int64(kf)
    k1 = k >> 1  # 2**k as two factors, so that k = 1024 and k = -1076 stay in range
    res = p * _pow2(k1) * _pow2(k - k1)
    return res if x == x else x


@jit(error_model="numpy", inline="always")
def _tanh(x):
    """tanh(x) to 2 ulp, vectorizable; +-1 past |x| = 20, signed zeros and NaN kept."""
    a = -x if x < 0.0 else x
    a = a if a < 20.0 else 20.0  # NaN too (restored below): tanh(20) rounds to 1
    t = a + a
    kf = np.floor(t * _INV_LN2 + 0.5)
    r = (t - kf * _LN2_HI) - kf * _LN2_LO
    s = _pow2(np.int64(kf))
    em = s * _expm1_reduced(r) + (s - 1.0)  # e**t - 1
    res = np.copysign(em / (em + 2.0), x)
    return res if x == x else x


@jit(error_model="numpy", inline="always")
def _expm1_reduced32(r):
    """e**r - 1 for float32 |r| <= ln2 / 2, in float32 (Cephes' expf polynomial)."""
    c0, c1, c2, c3, c4, c5 = _EXPF_P
    p = ((((c0 * r + c1) * r + c2) * r + c3) * r + c4) * r + c5
    return r + (r * r) * p


@jit(error_model="numpy", inline="always")
def _exp32(x):
    """e**x in float32 arithmetic to 1 float32 ulp; inf above 88.73, 0 below -103.98, NaN kept."""
    x = np.float32(x)
    xc = x if x == x else _ZERO32
    xc = _F(89.0) if xc > _F(89.0) else (_F(-104.0) if xc < _F(-104.0) else xc)
    kf = np.floor(xc * _INV_LN2_32 + _HALF32)
    r = (xc - kf * _LN2_HI32) - kf * _LN2_LO32
    p = _expm1_reduced32(r) + _ONE32
    k = np.int32(kf)
    k1 = k >> 1  # 2**k as two factors, so that k = 129 and k = -150 stay in range
    res = p * _pow2_32(k1) * _pow2_32(k - k1)
    return res if x == x else x


@jit(error_model="numpy", inline="always")
def _tanh32(x):
    """tanh(x) in float32 arithmetic to 2 float32 ulp; +-1 past |x| = 10, NaN kept."""
    x = np.float32(x)
    a = -x if x < _ZERO32 else x
    a = a if a < _F(10.0) else _F(10.0)  # NaN too (restored below): tanh(10) rounds to 1
    t = a + a
    kf = np.floor(t * _INV_LN2_32 + _HALF32)
    r = (t - kf * _LN2_HI32) - kf * _LN2_LO32
    s = _pow2_32(np.int32(kf))
    em = s * _expm1_reduced32(r) + (s - _ONE32)  # e**t - 1
    res = np.copysign(em / (em + _TWO32), x)
    return res if x == x else x


@jit(error_model="numpy", inline="always")
def _where(condition, a, b):
    """a if condition else b, for numbers: Numba's np.where makes a 0-d array of them (an
    allocation per element)."""
    return a if condition else b


# -- the activations of fastnn.nn.activations, compiled ------------------------------------------
_compiling: set = set()


#: The NumPy functions definitions call by name, bound in compiled definitions to this module's
#: scalar versions: vectorizable exp and tanh (float64, and float32 for float32 kernels), and a
#: where that makes no array.
_SCALAR = {"exp": _exp, "tanh": _tanh, "where": _where}
_SCALAR32 = {**_SCALAR, "exp": _exp32, "tanh": _tanh32}


@functools.cache
def compile_definition(func: types.FunctionType, float32: bool = False):
    """``func``, a definition from :mod:`fastnn.nn` written for arrays and numbers alike,
    compiled to be inlined: every plain Python function it calls by a global name is compiled
    the same way (so definitions may call each other, as AdamW's rule calls Adam's), and a
    global ``exp``, ``tanh`` or ``where`` is this module's :func:`_exp`, :func:`_tanh` or
    :func:`_where` (with ``float32``: :func:`_exp32` and :func:`_tanh32`, float32 arithmetic
    for float32 kernels)."""
    if func in _compiling:
        raise ValueError(f"{func.__qualname__} calls itself: a definition cannot be recursive")
    _compiling.add(func)
    try:
        namespace = dict(func.__globals__)
        for name in global_names(func.__code__):
            if isinstance(namespace.get(name), types.FunctionType):
                namespace[name] = compile_definition(namespace[name], float32)
        for name, scalar in (_SCALAR32 if float32 else _SCALAR).items():
            if name in namespace:
                namespace[name] = scalar
    finally:
        _compiling.discard(func)
    copy = types.FunctionType(func.__code__, namespace, func.__name__, func.__defaults__,
                              func.__closure__)
    copy.__qualname__, copy.__module__ = func.__qualname__, func.__module__
    return jit(inline="always", error_model="numpy")(copy)


#: activation name -> its code: its index in fastnn.nn.activations.ACTIVATIONS.
ACTIVATION_CODES = {name: i for i, name in enumerate(activations.ACTIVATIONS)}


# NOTE: row kernels, compiled per activation as it is first needed. The fused step applies
# layer l's activation through a table of first-class functions, one slot per activation code,
# all of one signature: one compiled step serves every choice of activations, and a run
# compiles the loops of its own activations only (compiling all five, inlined as branches, was a
# third of a cold start). A row kernel takes a 2-D block and a row index, not a row view: making
# an array view costs ~20 ns, as much as the arithmetic of a whole row of the lab network.
@functools.cache
def row_kernels(name: str, dtype: str):
    """``(act_row, dact_row)`` of activation ``name`` for C-ordered blocks (D, M) of ``dtype``:
    ``act_row(z, j, b)``: z[j] <- f(z[j] + b); ``dact_row(y, d, j)``: d[j] <- backward(y[j],
    d[j]), y the activation's output. Arithmetic in float64, rounded when stored."""
    f = compile_definition(activations.FORWARD[name])
    g = compile_definition(activations.BACKWARD[name])

    def act_row(z, j, b):
        for n in range(z.shape[1]):
            z[j, n] = f(z[j, n] + b)

    def dact_row(y, d, j):
        for n in range(y.shape[1]):
            d[j, n] = g(y[j, n], d[j, n])

    # one name per kernel (see _activation_kernels)
    act_row.__qualname__ = f"act_row_{name}_{dtype}"
    dact_row.__qualname__ = f"dact_row_{name}_{dtype}"
    scalar = nbtypes.float32 if dtype == "float32" else nbtypes.float64
    block = nbtypes.Array(scalar, 2, "C")
    options = {"error_model": "numpy", "no_cpython_wrapper": True}  # a C pointer: no Python
    return (jit(nbtypes.void(block, nbtypes.int64, scalar), **options)(act_row),
            jit(nbtypes.void(block, block, nbtypes.int64), **options)(dact_row))


if config.DISABLE_JIT:
    def first_class(dispatcher, signature=None):
        """The function itself (no compilation)."""
        return dispatcher
else:
    class _FirstClass(nbtypes.WrapperAddressProtocol):
        """A compiled function as a first-class function, its address looked up once: handed
        to compiled code, a dispatcher's address is looked up again on every call (~25 us,
        against ~2 us for this object)."""

        def __init__(self, dispatcher, signature) -> None:
            self.dispatcher = dispatcher
            self._signature = signature
            cres = dispatcher.get_compile_result(signature)
            self._address = cres.library.get_pointer_to_function(
                cres.fndesc.llvm_cfunc_wrapper_name)

        def __wrapper_address__(self) -> int:
            return self._address

        def signature(self):
            return self._signature

    def first_class(dispatcher, signature=None):
        """``dispatcher`` compiled for ``signature`` (by default its one signature, returning
        nothing), as a first-class function that compiled code takes as an argument and calls
        through a pointer; it must keep its C wrapper (no ``no_cfunc_wrapper``)."""
        if signature is None:
            signature = nbtypes.void(*dispatcher.signatures[0])
        else:
            dispatcher.compile(signature.args)
        return _FirstClass(dispatcher, signature)


@functools.cache
def row_kernel_tables(used: frozenset, dtype: str) -> tuple[tuple, tuple]:
    """The fused step's (forward, backward) tables of first-class functions: slot
    ``ACTIVATION_CODES[a]`` holds activation a's row kernels for a in ``used``, the first used
    one's for the others (never called: no kernel is compiled only to fill a slot)."""
    filler = min(used, key=ACTIVATION_CODES.__getitem__)
    kernels = [row_kernels(a if a in used else filler, dtype) for a in activations.ACTIVATIONS]
    return (tuple(first_class(k[0]) for k in kernels),
            tuple(first_class(k[1]) for k in kernels))


# NOTE: reductions. _dot_rows and _sum_row are the only code compiled with a fastmath flag, and
# only "reassoc": it lets LLVM vectorize the sum over samples (a vector of partial sums, added
# up at the end), which it may not do for a strict left-to-right sum. The order of the additions
# then follows the vector width LLVM picks for this CPU: runs are bitwise reproducible on one
# machine, and may differ between CPUs with different SIMD widths by an ulp or so per sum, well
# inside the 1e-10 the tests hold the backends to. No "contract" (no FMAs) and no NaN/inf
# assumptions. They are not inline="always": Numba would inline their IR into a caller compiled
# without the flag; LLVM inlines them after the flag is set on their instructions.
@jit(error_model="numpy", fastmath={"reassoc"}, **INTERNAL)
def _dot_rows(x, k, y, j, N):
    """sum(x[k, :N] * y[j, :N]), x (Dx, M), y (Dy, M), M >= N; accumulated in float64."""
    s = 0.0
    for n in range(N):
        s += x[k, n] * y[j, n]
    return s


@jit(error_model="numpy", fastmath={"reassoc"}, **INTERNAL)
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
def _dense_rows(x, W, b, out):
    """x (n, Din), W (Din, Dout), b (Dout,) -> out (n, Dout) = x @ W + b."""
    np.dot(x, W, out)
    for n in range(out.shape[0]):
        row = out[n]
        for j in range(row.shape[0]):
            row[j] += b[j]


@jit(error_model="numpy")
def _dense_forward(x, W, b):
    """x (N, Din), W (Din, Dout), b (Dout,) -> x @ W + b (N, Dout), one BLAS call."""
    out = np.empty((x.shape[0], W.shape[1]), dtype=x.dtype)
    _dense_rows(x, W, b, out)
    return out


#: Multiply-adds from which a dense product is split over Numba's threads once they own the
#: cores (below it, starting the parallel region costs more than the second thread saves).
_SPLIT_MIN = 1 << 21


@jit(parallel=True, error_model="numpy")
def _dense_forward_blocks(x, W, b, T):  # pragma: no cover - jitted
    """x @ W + b as T blocks of rows, one per Numba thread (block t writes its own rows)."""
    N = x.shape[0]
    out = np.empty((N, W.shape[1]), dtype=x.dtype)
    for t in prange(T):
        lo, hi = t * N // T, (t + 1) * N // T
        _dense_rows(x[lo:hi], W, b, out[lo:hi])
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


@functools.cache
def _activation_kernels(name: str, float32: bool):
    """The compiled (forward, backward) loops of activation ``name``, for float32 arrays when
    ``float32``, else float64; compiled at their first call."""
    f = compile_definition(activations.FORWARD[name], float32)
    g = compile_definition(activations.BACKWARD[name], float32)

    # one pass writing a fresh output (a copy, then an in-place pass, read memory twice)
    def forward(z):
        """y = f(z) elementwise, z (M,) contiguous."""
        y = np.empty_like(z)
        for i in range(z.shape[0]):
            y[i] = f(z[i])
        return y

    def backward(y, dy):
        """dz = dy * f'(y) elementwise, y and dy (M,) contiguous."""
        dz = np.empty_like(dy)
        for i in range(y.shape[0]):
            dz[i] = g(y[i], dy[i])
        return dz

    # NOTE: one name per kernel. Numba names a compiled function's environment (the Python
    # objects its boxing uses, such as the dtype of a returned array) after its qualified name
    # and a per-process counter; closures loaded from the on-disk cache, compiled in different
    # processes, can then share a name and one gets the other's environment ("'descr' is NULL").
    suffix = f"{name}_{'float32' if float32 else 'float64'}"
    forward.__qualname__ = f"activation_forward_{suffix}"
    backward.__qualname__ = f"activation_backward_{suffix}"
    return jit(error_model="numpy")(forward), jit(error_model="numpy")(backward)


def dense_forward(x: np.ndarray, W: np.ndarray, b: np.ndarray) -> np.ndarray:
    """x (N, Din), W (Din, Dout), b (Dout,) -> (N, Dout)."""
    check_dense_forward(x, W, b)
    args = np.ascontiguousarray(x), np.ascontiguousarray(W), np.ascontiguousarray(b)
    if x.shape[0] > 1 and x.shape[0] * W.size >= _SPLIT_MIN:
        T = min(x.shape[0], numba_pool_threads())
        if T > 1:
            return _dense_forward_blocks(*args, T)
    return _dense_forward(*args)


def dense_backward(x: np.ndarray, W: np.ndarray, dout: np.ndarray, need_dx: bool = True):
    """x (N, Din), W (Din, Dout), dout (N, Dout) -> dx (N, Din) or None, dW (Din, Dout), db."""
    check_dense_backward(x, W, dout)
    dx, dW, db = _dense_backward(np.ascontiguousarray(x), np.ascontiguousarray(W),
                                 np.ascontiguousarray(dout), bool(need_dx))
    return dx if need_dx else None, dW, db


def activation_forward(name: str, z: np.ndarray) -> np.ndarray:
    """y = f(z), elementwise, any shape."""
    if name not in activations.FORWARD:
        activations.check_activation(name)
    check_arrays("activation_forward", z=z)
    check_same_float_dtype("activation_forward", z)
    forward = _activation_kernels(name, z.dtype == np.float32)[0]
    return forward(np.ascontiguousarray(z).reshape(-1)).reshape(z.shape)


def activation_backward(name: str, y: np.ndarray, dy: np.ndarray) -> np.ndarray:
    """dz = dy * f'(y), the derivative written from the output."""
    if name not in activations.BACKWARD:
        activations.check_activation(name)
    check_activation_backward(y, dy)
    backward = _activation_kernels(name, y.dtype == np.float32)[1]
    return backward(np.ascontiguousarray(y).reshape(-1),
                    np.ascontiguousarray(dy).reshape(-1)).reshape(y.shape)
