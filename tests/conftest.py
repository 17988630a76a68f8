"""Shared test helpers."""

from __future__ import annotations

import numpy as np


def assert_rel_close(actual, expected, rtol: float, what: str = "") -> None:
    """Elementwise |a - e| <= rtol * |e|, with a floor of rtol * max|e| for entries near zero."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    scale = float(np.max(np.abs(expected))) if expected.size else 0.0
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * max(scale, 1e-300),
                               err_msg=what)


def dense_magnitudes(x, W, b, dout):
    """Per-entry sums of |terms| of the dense kernels' outputs (forward, dx, dW, db), in float64:
    the scale float32 rounding error is proportional to, whatever cancels in the sum."""
    x, W, b, dout = (np.abs(np.asarray(a, dtype=np.float64)) for a in (x, W, b, dout))
    return x @ W + b, dout @ W.T, x.T @ dout, dout.sum(axis=0)


def assert_float32_close(actual, expected, magnitude, rtol: float, what: str = "") -> None:
    """|a - e| <= rtol * magnitude elementwise: a float32 result against the reference, with
    the tolerance scaled by the sum of |terms| that produced each entry (see dense_magnitudes)."""
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    bad = np.abs(actual - expected) > rtol * magnitude
    assert not bad.any(), (f"{what}: {int(bad.sum())} entries off by more than {rtol} x their "
                           f"magnitude; worst {np.max(np.abs(actual - expected) / magnitude):.3g}")


def arrays(seed, dtype, *shapes):
    """Standard-normal arrays of the given shapes and dtype, from one seeded generator."""
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s).astype(dtype) for s in shapes]


def assert_dense_matches_reference(B, seed, dtype, N, Din, Dout, f32_rtol=None):
    """Backend module B's dense_forward / dense_backward against the reference backend's on
    seeded (N, Din) x (Din, Dout) arrays: dtype kept; float64 to 1e-10 relative, float32 to
    f32_rtol (required for float32) times each entry's sum of |terms|."""
    from fastnn.backends import reference as R

    x, W, b, dout = arrays(seed, dtype, (N, Din), (Din, Dout), (Dout,), (N, Dout))
    got = [B.dense_forward(x, W, b), *B.dense_backward(x, W, dout)]
    want = [R.dense_forward(x, W, b), *R.dense_backward(x, W, dout)]
    mags = dense_magnitudes(x, W, b, dout)
    for name, a, e, m in zip(("forward", "dx", "dW", "db"), got, want, mags, strict=True):
        assert a.dtype == dtype, f"{name}: dtype {a.dtype}"
        if dtype == np.float64:
            assert_rel_close(a, e, 1e-10, name)
        else:
            assert_float32_close(a, e, m, f32_rtol, name)


def numeric_grad(f, x, h=1e-6):
    """Central differences of scalar f() with respect to every entry of x (changed in place)."""
    g = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        old = x[idx]
        x[idx] = old + h
        fp = f()
        x[idx] = old - h
        fm = f()
        x[idx] = old
        g[idx] = (fp - fm) / (2 * h)
    return g
