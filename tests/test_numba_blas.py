"""``fastnn.backends.numba.blas.gemm``: BLAS's product on strided views, from compiled code.

Every case is checked against NumPy's ``a @ b (+ c)`` on the same views: row-major and
transposed operands, views into larger arrays (a leading dimension above the row length),
size-1 axes (whose strides NumPy may set to anything), an output view inside a larger array
that must be left alone outside it, ``beta`` 0 over NaN (old values unread) and 1. Under
``NUMBA_DISABLE_JIT=1`` the NumPy version of ``gemm`` is checked the same way.
"""

from __future__ import annotations

import numba
import numpy as np
import pytest

from fastnn.backends.numba.blas import gemm


@numba.njit
def _gemm(a, b, c, beta):  # gemm is compiled without a Python wrapper: call it from here
    gemm(a, b, c, beta)


def _views(rng, rows, cols, dtype):
    """(name, array) pairs, all (rows, cols), with different memory layouts."""
    big = rng.standard_normal((rows + 5, cols + 7)).astype(dtype)
    bigT = rng.standard_normal((cols + 4, rows + 3)).astype(dtype)
    plain = rng.standard_normal((rows, cols)).astype(dtype)
    # one (cols, rows) slab of a 3-D array, transposed (as the conv's W9[ij].T): with one row,
    # both its strides are the item size
    slabT = np.stack([plain.T, plain.T])[1].T
    return [("contiguous", plain), ("slab transposed", slabT),
            ("fortran", np.asfortranarray(plain)), ("view", big[2:2 + rows, 3:3 + cols]),
            ("transposed view", bigT[1:1 + cols, 2:2 + rows].T)]


@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-13), (np.float32, 1e-5)])
@pytest.mark.parametrize("m, k, n", [(7, 9, 5), (1, 6, 4), (5, 1, 3), (4, 6, 1), (1, 1, 1)])
def test_gemm_equals_numpy_on_views(dtype, rtol, m, k, n):
    rng = np.random.default_rng(m * 100 + k * 10 + n)
    for a_name, a in _views(rng, m, k, dtype):
        for b_name, b in _views(rng, k, n, dtype):
            for beta in (0.0, 1.0):
                outer = rng.standard_normal((m + 4, n + 6)).astype(dtype)
                if beta == 0.0:
                    outer[2:2 + m, 1:1 + n] = np.nan  # must not be read
                before = outer.copy()
                c = outer[2:2 + m, 1:1 + n]
                _gemm(a, b, c, beta)
                expected = a.astype(np.float64) @ b.astype(np.float64)
                if beta == 1.0:
                    expected += before[2:2 + m, 1:1 + n]
                np.testing.assert_allclose(c, expected, rtol=rtol,
                                           atol=rtol * np.abs(expected).max(),
                                           err_msg=f"a {a_name}, b {b_name}, beta {beta}")
                outside = np.ones(outer.shape, bool)
                outside[2:2 + m, 1:1 + n] = False
                np.testing.assert_array_equal(outer[outside], before[outside])
                assert c.dtype == dtype


def test_gemm_accumulates_overlapping_output_views_in_order():
    """The stride-1 conv adds products into overlapping views of one buffer, one after another:
    each call must see the sums of the calls before it."""
    rng = np.random.default_rng(3)
    a = rng.standard_normal((3, 4))
    bs = [rng.standard_normal((4, 10)) for _ in range(3)]
    buf = np.zeros((3, 14))
    expected = np.zeros((3, 14))
    for off, b in enumerate(bs):
        _gemm(a, b, buf[:, off:off + 10], 1.0)
        expected[:, off:off + 10] += a @ b
    np.testing.assert_allclose(buf, expected, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("case", ["reversed rows", "reversed columns", "every other column",
                                  "shapes", "dtypes", "c columns"])
def test_gemm_refuses_what_blas_cannot_take(case):
    """Layouts BLAS cannot describe, shapes that do not fit, mixed dtypes: a ValueError, never a
    silently wrong product (under NUMBA_DISABLE_JIT NumPy's product takes any layout)."""
    rng = np.random.default_rng(5)
    a, b, c = rng.standard_normal((4, 6)), rng.standard_normal((6, 3)), np.zeros((4, 3))
    if case == "reversed rows":
        a = a[::-1]
    elif case == "reversed columns":
        a = a[:, ::-1]
    elif case == "every other column":
        a = rng.standard_normal((4, 12))[:, ::2]
    elif case == "shapes":
        b = rng.standard_normal((5, 3))
    elif case == "dtypes":
        b = b.astype(np.float32)
    else:
        c = np.zeros((4, 6))[:, ::2]
    if numba.config.DISABLE_JIT:
        if case in ("shapes",):
            with pytest.raises(ValueError):
                _gemm(a, b, c, 0.0)
        else:
            _gemm(a, b, c, 0.0)
            np.testing.assert_allclose(c, a @ b.astype(np.float64), rtol=1e-6)
        return
    with pytest.raises(ValueError, match="gemm: "):
        _gemm(a, b, c, 0.0)
