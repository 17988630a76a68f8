"""A BLAS matrix product on strided views, callable from compiled code: :func:`gemm`.

``np.dot`` in Numba wants contiguous operands and overwrites its output. The stride-1
convolution (:mod:`.conv`) multiplies *views*: the padded sample shifted by each kernel offset
(``xp[:, off:off + L]``: one row per channel, each row a padded plane apart), and it
accumulates the KH*KW products into one output. BLAS's ``gemm`` takes both in its arguments (a
leading dimension per operand, and ``beta``), so :func:`gemm` hands it the views as they are:
no im2col copy. It calls the same BLAS as ``np.dot`` does in Numba (``numba_xxgemm``, SciPy's),
so the thread policy of :mod:`fastnn.threads` holds unchanged; like ``np.dot``'s call, it
compiles into the on-disk cache. What BLAS cannot take (no unit stride, a reversed axis,
mismatched shapes or dtypes, 32-bit overflow) is a ValueError, as in ``np.dot``.

Under ``NUMBA_DISABLE_JIT=1`` :func:`gemm` is the same product in NumPy.
"""

from __future__ import annotations

import numpy as np
from numba import types
from numba.core import cgutils, config
from numba.extending import intrinsic
from numba.np.linalg import ensure_blas

from .cache import INTERNAL, jit

ensure_blas()  # SciPy's BLAS, as np.dot in Numba uses (raises if SciPy is missing)

#: Numba's own BLAS entry (numba/_helperlib.c): column-major ``c = alpha op(a) op(b) + beta c``
#: for kind 's' (float32) or 'd' (float64); every pointer untyped.
_xxgemm = types.ExternalFunction("numba_xxgemm", types.intc(
    types.char, types.char, types.char,                   # kind, transa, transb
    types.intp, types.intp, types.intp,                   # m, n, k
    types.voidptr, types.voidptr, types.intp,             # alpha, a, lda
    types.voidptr, types.intp,                            # b, ldb
    types.voidptr, types.voidptr, types.intp))            # beta, c, ldc


@intrinsic
def _data(typingctx, arr):
    """The address of ``arr``'s first element (a view's, offset included), untyped."""
    def codegen(context, builder, signature, args):
        ary = context.make_array(signature.args[0])(context, builder, args[0])
        return builder.bitcast(ary.data, cgutils.voidptr_t)
    return types.voidptr(arr), codegen


_N, _T, _S, _D = 110, 116, 115, 100  # ord("n"), ord("t"), ord("s"), ord("d")


_INT_MAX = 2**31 - 1  # BLAS's integers (dimensions, leading dimensions) are 32-bit here


@jit(**INTERNAL)
def _operand(a, size):  # pragma: no cover - jitted
    """``a`` (r, q), unit stride along one axis, as BLAS sees ``a.T`` column-major: (trans,
    ld). A size-1 axis's stride means nothing (NumPy may set any): it is not trusted. Any other
    layout (no unit stride, a reversed axis, rows closer than their length) is a ValueError."""
    r, q = a.shape
    if a.strides[1] == size or q == 1:  # each row contiguous: a.T as it is, rows ld apart
        trans, ld, least = _N, a.strides[0] // size if r > 1 else q, q
        ok = r == 1 or a.strides[0] % size == 0
    elif a.strides[0] == size or r == 1:  # each column contiguous
        trans, ld, least = _T, a.strides[1] // size if q > 1 else r, r
        ok = q == 1 or a.strides[1] % size == 0
    else:
        ok = False
        trans, ld, least = _N, 0, 1
    if not ok or ld < least or ld > _INT_MAX:
        raise ValueError("gemm: an operand has no unit stride, a reversed axis, or overlapping "
                         "rows; BLAS cannot take it")
    return np.int8(trans), max(ld, 1)


if config.DISABLE_JIT:
    def gemm(a, b, c, beta):
        """``c[...] = a @ b + beta * c`` (``beta`` 0 or 1), in NumPy."""
        if beta == 0.0:
            c[...] = a @ b
        else:
            c += a @ b
else:
    @jit(**INTERNAL)
    def gemm(a, b, c, beta):  # pragma: no cover - jitted
        """``c[...] = a @ b + beta * c`` for 2-D views of one float dtype, ``a`` (m, k), ``b``
        (k, n), ``c`` (m, n): ``a`` and ``b`` with a unit stride along either axis (a
        transposed view is fine), ``c`` along its rows; ``c`` must not overlap ``a`` or ``b``.
        With ``beta`` 0, ``c``'s old values are not read (NaN in them is fine)."""
        m, k = a.shape
        n = c.shape[1]
        size = c.itemsize
        if b.shape[0] != k or c.shape[0] != m or b.shape[1] != n:
            raise ValueError("gemm: shapes do not fit: want a (m, k), b (k, n), c (m, n)")
        if a.itemsize != size or b.itemsize != size:
            raise ValueError("gemm: a, b and c must have one dtype")
        if max(m, n, k) > _INT_MAX:
            raise ValueError("gemm: a dimension exceeds BLAS's 32-bit integers")
        ta, lda = _operand(a, size)
        tb, ldb = _operand(b, size)
        if c.strides[1] != size and n > 1:
            raise ValueError("gemm: c's rows must be contiguous")
        scalars = np.empty(2, dtype=c.dtype)
        scalars[0] = 1.0
        scalars[1] = beta
        kind = np.int8(_S) if size == 4 else np.int8(_D)
        ldc = max(c.strides[0] // size if m > 1 else n, n, 1)
        if ldc > _INT_MAX or (m > 1 and c.strides[0] < n * size):
            raise ValueError("gemm: c's rows overlap or are too far apart for BLAS")
        # row-major c is column-major c.T, and c.T = b.T @ a.T: BLAS gets (b, a), not (a, b)
        if _xxgemm(kind, tb, ta, n, m, k, _data(scalars[0:1]), _data(b), ldb, _data(a), lda,
                   _data(scalars[1:2]), _data(c), ldc) < 0:
            raise RuntimeError("BLAS gemm was not found (SciPy's cython_blas)")
