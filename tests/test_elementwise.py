"""The numba backend's elementwise kernels: its own tanh and float32 exp against NumPy's, and the
activation kernels against the numpy backend on every layout.

Accuracy is measured in ulps against the exact value (float64: NumPy's tanh in long double;
float32: the float64 value rounded to float32), on dense grids; the bounds are the ones the NOTE
in backends/numba/kernels.py documents. Under ``NUMBA_DISABLE_JIT=1`` (plain Python, one element
at a time) the grids are thinned.
"""

from __future__ import annotations

import numba
import numpy as np
import pytest
from conftest import assert_rel_close

import fastnn
from fastnn import activations
from fastnn.backends.numba import kernels as K

J = fastnn.get_backend("numba")
V = fastnn.get_backend("numpy")
JIT = not numba.config.DISABLE_JIT
ACTS = list(activations.ACTIVATIONS)
F32_RTOL = 1e-5  # as in test_numba_backend.py: float32 precision, a few ulps
SPECIAL = [0.0, -0.0, np.inf, -np.inf, 1e300, -1e300, 25.0, -25.0, 1e-300, -1e-300, 5e-324,
           -5e-324, 2.2250738585072014e-308]


def ulps(got, want, dtype):
    """|got - want| in units of the last place of ``want`` rounded to ``dtype`` (``want`` may
    be wider: the difference is taken in long double)."""
    want = np.asarray(want)
    spacing = np.spacing(np.abs(want.astype(dtype))).astype(np.longdouble)
    diff = np.abs(np.asarray(got, dtype=np.longdouble) - want.astype(np.longdouble))
    return (diff / spacing).astype(np.float64)


def tanh_grid(dtype, n):
    """Evenly spaced points of [-20, 20], logarithmically spaced ones from the smallest normal
    up to 20 and normal random ones, both signs."""
    rng = np.random.default_rng(0)
    tiny = np.log10(np.finfo(dtype).tiny)
    x = np.concatenate([np.linspace(0, 20, n), np.logspace(tiny, np.log10(20), n),
                        rng.standard_normal(n) * 4]).astype(dtype)
    return np.concatenate([x, -x])


def test_tanh_float64_within_three_ulp():
    x = tanh_grid(np.float64, 1_000_000 if JIT else 2000)
    got = J.activation_forward("tanh", x)
    exact = np.tanh(x.astype(np.longdouble))
    if np.finfo(np.longdouble).nmant <= 52:  # no wider type here: NumPy's tanh as the exact value
        exact = np.tanh(x)
    assert ulps(got, exact, np.float64).max() <= 3.0
    same = got == np.tanh(x)
    assert ulps(got, np.tanh(x), np.float64).max() <= 3.0 and same.mean() > 0.75


def test_tanh_float32_within_two_ulp():
    n = 2_000_000 if JIT else 2000
    x = tanh_grid(np.float32, n)
    got = J.activation_forward("tanh", x)
    assert got.dtype == np.float32
    exact = np.tanh(x.astype(np.float64)).astype(np.float32)
    assert ulps(got, exact, np.float32).max() <= 2.0
    assert ulps(got, np.tanh(x), np.float32).max() <= 3.0 and np.mean(got == exact) > 0.9


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_tanh_special_values(dtype):
    with np.errstate(over="ignore"):  # 1e300 and 5e-324 do not fit float32: inf and 0
        x = np.array(SPECIAL, dtype=dtype)
    got = J.activation_forward("tanh", x)
    want = np.tanh(x)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(np.signbit(got), np.signbit(x))  # -0.0 stays -0.0
    assert np.isnan(J.activation_forward("tanh", np.array([np.nan, -np.nan], dtype=dtype))).all()
    scalar = K._tanh32 if dtype == np.float32 else K._tanh
    assert np.isnan(scalar(dtype(np.nan)))
    assert scalar(dtype(-0.0)) == 0.0 and np.signbit(scalar(dtype(-0.0)))
    assert scalar(dtype(1e-30)) == dtype(1e-30)  # tanh x = x to the last bit for tiny x


def test_exp32_within_one_ulp():
    """The float32 kernels' exp (sigmoid's) against the exact value rounded to float32; the
    limits of float32's range exactly."""
    rng = np.random.default_rng(1)
    n = 3000 if JIT else 300
    x = np.concatenate([rng.uniform(-1, 1, n), rng.uniform(-20, 20, n),
                        rng.uniform(-87, 88.7, n), rng.uniform(-103.9, -87.4, n)])
    x = x.astype(np.float32)
    got = np.array([K._exp32(v) for v in x])  # (float32 numbers, boxed as Python floats)
    np.testing.assert_array_equal(got.astype(np.float32), got)
    exact = np.exp(x.astype(np.float64)).astype(np.float32)
    assert ulps(got, exact, np.float32).max() <= 1.0 and np.mean(got == exact) > 0.8
    special = np.array([0.0, -0.0, 88.72, 88.73, 1000.0, -103.97, -103.98, -1000.0, np.inf,
                        -np.inf], dtype=np.float32)
    with np.errstate(over="ignore", under="ignore"):
        want = np.exp(special.astype(np.float64)).astype(np.float32)
        np.testing.assert_array_equal([K._exp32(v) for v in special], want)
    assert np.isnan(K._exp32(np.float32(np.nan)))


def test_compiled_definitions_bind_the_vectorizable_scalars():
    """Definitions written with NumPy's exp, tanh and where run, compiled, this module's
    versions (Numba's call the C library one number at a time, and its where makes an array)."""
    for func in (*activations.FORWARD.values(), *activations.BACKWARD.values()):
        for float32 in (False, True):
            compiled = K.compile_definition(func, float32)
            namespace = getattr(compiled, "py_func", compiled).__globals__
            for name, want in (("exp", K._exp32 if float32 else K._exp),
                               ("tanh", K._tanh32 if float32 else K._tanh),
                               ("where", K._where)):
                if name in func.__globals__:
                    assert namespace[name] is want, (func.__name__, name, float32)


def test_each_kernel_has_its_own_name():
    """Compiled closures of one qualified name, loaded from the on-disk cache, share Numba's
    environment: each activation kernel is named apart."""
    names = [k.__qualname__ if not hasattr(k, "py_func") else k.py_func.__qualname__
             for a in ACTS for f32 in (False, True) for k in K._activation_kernels(a, f32)]
    assert len(set(names)) == len(names) == 4 * len(ACTS)


def layouts(dtype):
    """(what, z, dy): odd lengths, several dimensions, empty, and non-contiguous views."""
    rng = np.random.default_rng(2)
    base = (rng.standard_normal((31, 23)) * 5).astype(dtype)
    d = rng.standard_normal((31, 23)).astype(dtype)
    yield "one", base[:1, :1], d[:1, :1]
    yield "odd 1-D", base.ravel()[:601], d.ravel()[:601]
    yield "3-D", base.ravel()[:693].reshape(7, 9, 11), d.ravel()[:693].reshape(7, 9, 11)
    yield "empty", base[:0], d[:0]
    yield "strided", base[::3, 1::2], d[::3, :21:2]
    yield "transposed", base.T, d.T
    yield "Fortran", np.asfortranarray(base), np.asfortranarray(d)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", ACTS)
def test_kernels_match_numpy_backend(name, dtype):
    rtol = 1e-10 if dtype == np.float64 else F32_RTOL
    for what, z, dy in layouts(dtype):
        y = J.activation_forward(name, z)
        assert y.dtype == dtype and y.shape == z.shape, what
        assert not np.shares_memory(y, z), what
        y_ref = V.activation_forward(name, z)
        assert_rel_close(y, y_ref, rtol, f"{name} forward, {what}")
        dz = J.activation_backward(name, y_ref, dy)
        assert dz.dtype == dtype and dz.shape == z.shape, what
        assert not np.shares_memory(dz, dy), what
        assert_rel_close(dz, V.activation_backward(name, y_ref, dy), rtol,
                         f"{name} backward, {what}")


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_nan_passes_through(dtype):
    z = np.array([np.nan, 1.0, -1.0], dtype=dtype)
    for name in ACTS:
        assert np.isnan(J.activation_forward(name, z)[0]), name
        assert np.isnan(J.activation_backward(name, z[1:2].repeat(3), z)[0]), name
