"""Value checks of the reference and numpy backends' kernels, written against mutmut's survivors
(issue 16).

The reference backend's loops are the definition, so nothing here uses one backend as the other's
oracle: each expectation is either hand-worked numbers or a scalar loop over the definition
written in this file (every output entry is a sum over kernel offsets of input entries that lie
inside the image, zero padding being "outside"; its adjoint scatters entry by entry; a pooling
window's gradient goes to its first maximum in row-major order). Inputs are small integers, so
every sum is exact in float64 and float32 alike and the comparisons are exact.

Shapes are chosen so that a swapped axis or size changes the result: N > 1, C != F, KH != KW,
H != W, strides 1, 2 and 3, padding 0, 1 and 2, kernels taller than the image plus its padding,
and pooling inputs full of ties. float32 inputs must give float32 outputs.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from fastnn.backends import base
from fastnn.backends import numpy_backend as NP
from fastnn.backends import reference as R

CONV = {
    "reference": (R.conv2d_forward, R.conv2d_backward),
    "im2col": (NP.conv2d_forward_im2col, NP.conv2d_backward_im2col),
    "einsum": (NP.conv2d_forward_einsum, NP.conv2d_backward_einsum),
}
POOL = {
    "reference": (R.max_pool2d_forward, R.max_pool2d_backward),
    "numpy": (NP.max_pool2d_forward, NP.max_pool2d_backward),
}
DENSE = {"reference": R, "numpy": NP}
DTYPES = [np.float64, np.float32]


def ints(rng, shape, lo=-3, hi=4, dtype=np.float64):
    return rng.integers(lo, hi, size=shape).astype(dtype)


# -- oracles: scalar loops over the definitions ---------------------------------------------------

def conv_direct(x, W, b, s, p):
    N, C, H, Wd = x.shape
    F, _, KH, KW = W.shape
    OH, OW = (H + 2 * p - KH) // s + 1, (Wd + 2 * p - KW) // s + 1
    out = np.zeros((N, F, OH, OW))
    for n in range(N):
        for f in range(F):
            for oh in range(OH):
                for ow in range(OW):
                    acc = float(b[f])
                    for c in range(C):
                        for i in range(KH):
                            for j in range(KW):
                                r, q = oh * s + i - p, ow * s + j - p
                                if 0 <= r < H and 0 <= q < Wd:
                                    acc += float(W[f, c, i, j]) * float(x[n, c, r, q])
                    out[n, f, oh, ow] = acc
    return out


def conv_direct_backward(x, W, dout, s, p):
    N, C, H, Wd = x.shape
    F, _, KH, KW = W.shape
    OH, OW = dout.shape[2:]
    dx, dW, db = np.zeros(x.shape), np.zeros(W.shape), np.zeros(F)
    for n in range(N):
        for f in range(F):
            for oh in range(OH):
                for ow in range(OW):
                    g = float(dout[n, f, oh, ow])
                    db[f] += g
                    for c in range(C):
                        for i in range(KH):
                            for j in range(KW):
                                r, q = oh * s + i - p, ow * s + j - p
                                if 0 <= r < H and 0 <= q < Wd:
                                    dx[n, c, r, q] += g * float(W[f, c, i, j])
                                    dW[f, c, i, j] += g * float(x[n, c, r, q])
    return dx, dW, db


def pool_direct(x, dout, KH, KW, s):
    N, C, H, Wd = x.shape
    OH, OW = (H - KH) // s + 1, (Wd - KW) // s + 1
    out = np.zeros((N, C, OH, OW))
    dx = np.zeros(x.shape)
    for n in range(N):
        for c in range(C):
            for oh in range(OH):
                for ow in range(OW):
                    best, at = None, None
                    for i in range(KH):          # row-major; strict > keeps the first maximum
                        for j in range(KW):
                            v = float(x[n, c, oh * s + i, ow * s + j])
                            if best is None or v > best:
                                best, at = v, (oh * s + i, ow * s + j)
                    out[n, c, oh, ow] = best
                    if dout is not None:
                        dx[n, c, at[0], at[1]] += float(dout[n, c, oh, ow])
    return out, dx


def test_the_conv_oracle_matches_a_hand_worked_case():
    # 2x2 image, 2x2 kernel [[1, 0], [0, -1]], bias 0.5, padding 1: out[i, j] is
    # xpad[i, j] - xpad[i + 1, j + 1] + 0.5 over the 4x4 zero-padded image
    x = np.array([[[[1.0, 2.0], [3.0, 4.0]]]])
    W = np.array([[[[1.0, 0.0], [0.0, -1.0]]]])
    want = np.array([[-0.5, -1.5, 0.5], [-2.5, -2.5, 2.5], [0.5, 3.5, 4.5]])
    np.testing.assert_array_equal(conv_direct(x, W, np.array([0.5]), 1, 1)[0, 0], want)
    # dout all ones: db 9; dW[i, j] = sum of the 3x3 block of xpad at (i, j) = 10 each;
    # dx = sum of W over the offsets each input pixel meets = 1 - 1 = 0
    dx, dW, db = conv_direct_backward(x, W, np.ones((1, 1, 3, 3)), 1, 1)
    np.testing.assert_array_equal(dx, np.zeros((1, 1, 2, 2)))
    np.testing.assert_array_equal(dW, np.full((1, 1, 2, 2), 10.0))
    np.testing.assert_array_equal(db, [9.0])
    for impl in CONV.values():
        np.testing.assert_array_equal(impl[0](x, W, np.array([0.5]), 1, 1)[0, 0], want)


def test_the_pool_oracle_matches_a_hand_worked_case():
    # 3x4 image, 2x2 windows at stride 1: ties go to the first maximum in row-major order
    x = np.array([[[[1.0, 5.0, 5.0, 0.0],
                    [5.0, 2.0, 5.0, 7.0],
                    [0.0, 5.0, 1.0, 7.0]]]])
    out, dx = pool_direct(x, np.array([[[[1.0, 10.0, 100.0], [1000.0, 1e4, 1e5]]]]), 2, 2, 1)
    np.testing.assert_array_equal(out[0, 0], [[5.0, 5.0, 7.0], [5.0, 5.0, 7.0]])
    np.testing.assert_array_equal(dx[0, 0], [[0.0, 11.0, 0.0, 0.0],
                                             [1000.0, 0.0, 10000.0, 100100.0],
                                             [0.0, 0.0, 0.0, 0.0]])
    for fwd, bwd in POOL.values():
        np.testing.assert_array_equal(fwd(x, 2, 1)[0, 0], out[0, 0])
        np.testing.assert_array_equal(
            bwd(x, np.array([[[[1.0, 10.0, 100.0], [1000.0, 1e4, 1e5]]]]), 2, 1)[0, 0], dx[0, 0])


# -- convolution -----------------------------------------------------------------------------------

# (N, C, F, H, W, KH, KW, stride, padding)
CONV_CASES = [
    (2, 3, 2, 5, 7, 3, 2, 1, 0),     # called with the default stride and padding
    (2, 3, 2, 6, 5, 2, 3, 2, 1),
    (2, 2, 3, 7, 8, 3, 3, 3, 2),
    (2, 1, 2, 2, 3, 5, 4, 1, 2),     # kernel taller than image + padding: offsets with no output
    (1, 2, 3, 3, 4, 4, 2, 2, 1),     # one output row
    (2, 2, 2, 8, 6, 2, 3, 3, 1),
    (2, 3, 2, 5, 6, 4, 3, 2, 2),
    (3, 2, 1, 4, 3, 1, 1, 1, 0),     # 1x1 kernel, F = 1
    (2, 2, 3, 4, 5, 2, 2, 1, 1),
    (2, 1, 2, 3, 2, 3, 4, 1, 1),
    # stride 2, one output: kernel row/column 0 meets only padding, and the empty range's
    # slice bounds, were it taken, would wrap round to rows/columns 0 and 2 of the image
    (2, 2, 3, 4, 5, 7, 8, 2, 2),
]


def _conv_case(case, dtype, seed):
    N, C, F, H, Wd, KH, KW, s, p = case
    rng = np.random.default_rng(seed)
    x = ints(rng, (N, C, H, Wd), dtype=dtype)
    W = ints(rng, (F, C, KH, KW), dtype=dtype)
    b = ints(rng, (F,), dtype=dtype)
    OH, OW = (H + 2 * p - KH) // s + 1, (Wd + 2 * p - KW) // s + 1
    dout = ints(rng, (N, F, OH, OW), dtype=dtype)
    return x, W, b, dout, s, p


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("impl", list(CONV))
@pytest.mark.parametrize("k", range(len(CONV_CASES)))
def test_conv2d_forward_and_backward_are_the_direct_sums(impl, k, dtype):
    x, W, b, dout, s, p = _conv_case(CONV_CASES[k], dtype, seed=k)
    fwd, bwd = CONV[impl]
    if s == 1 and p == 0:
        out = fwd(x, W, b)
        dx, dW, db = bwd(x, W, dout)
    else:
        out = fwd(x, W, b, stride=s, padding=p)
        dx, dW, db = bwd(x, W, dout, stride=s, padding=p)
    want_dx, want_dW, want_db = conv_direct_backward(x, W, dout, s, p)
    for got, want in ((out, conv_direct(x, W, b, s, p)), (dx, want_dx), (dW, want_dW),
                      (db, want_db)):
        assert got.dtype == dtype
        assert got.shape == want.shape
        np.testing.assert_array_equal(got, want)
    assert out.flags.c_contiguous and dW.flags.c_contiguous


# -- max pooling -----------------------------------------------------------------------------------

# (N, C, H, W, size, stride); stride None: the window height
POOL_CASES = [
    (2, 2, 5, 7, (2, 3), 1),     # overlapping, non-square
    (2, 3, 6, 6, 2, None),       # called with the default size and stride
    (2, 1, 7, 8, 3, 2),          # overlapping
    (1, 2, 7, 9, (3, 2), 3),
    (2, 2, 4, 5, (1, 2), None),
    (2, 2, 5, 6, (2, 3), 2),
    (3, 1, 6, 4, (3, 1), 1),
]


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("impl", list(POOL))
@pytest.mark.parametrize("k", range(len(POOL_CASES)))
def test_max_pool2d_is_the_first_maximum_of_each_window(impl, k, dtype):
    N, C, H, Wd, size, stride = POOL_CASES[k]
    KH, KW = size if isinstance(size, tuple) else (size, size)
    s = KH if stride is None else stride
    rng = np.random.default_rng(100 + k)
    x = ints(rng, (N, C, H, Wd), 0, 3, dtype=dtype)   # values 0..2: ties in most windows
    OH, OW = (H - KH) // s + 1, (Wd - KW) // s + 1
    dout = ints(rng, (N, C, OH, OW), 1, 9, dtype=dtype)
    fwd, bwd = POOL[impl]
    if size == 2 and stride is None:
        out, dx = fwd(x), bwd(x, dout)
    else:
        out, dx = fwd(x, size, stride), bwd(x, dout, size, stride)
    want_out, want_dx = pool_direct(x, dout, KH, KW, s)
    for got, want in ((out, want_out), (dx, want_dx)):
        assert got.dtype == dtype
        assert got.shape == want.shape
        np.testing.assert_array_equal(got, want)


def test_max_pool2d_finds_a_maximum_at_each_offset_of_the_window():
    # one 2x3 window per image, its only maximum at each of the 6 offsets in turn
    x = np.zeros((6, 1, 2, 3))
    for n in range(6):
        x[n, 0, n // 3, n % 3] = 1.0
    dout = np.arange(1.0, 7.0).reshape(6, 1, 1, 1)
    for fwd, bwd in POOL.values():
        np.testing.assert_array_equal(fwd(x, (2, 3)), np.ones((6, 1, 1, 1)))
        np.testing.assert_array_equal(bwd(x, dout, (2, 3)), x * dout)


# -- dense -----------------------------------------------------------------------------------------

X = np.array([[1.0, 2.0, -1.0], [0.0, 3.0, 2.0]])           # (N=2, Din=3)
WD = np.array([[1.0, 0.0, 2.0, -1.0], [2.0, 1.0, 0.0, 1.0], [-1.0, 3.0, 1.0, 0.0]])  # (3, 4)
BD = np.array([0.5, -1.0, 2.0, 3.0])
DOUT = np.array([[1.0, -2.0, 0.0, 3.0], [2.0, 1.0, -1.0, 0.0]])


def test_dense_hand_worked_numbers():
    # rows of x @ W + b worked by hand
    want = np.array([[1 + 4 + 1 + 0.5, 0 + 2 - 3 - 1, 2 + 0 - 1 + 2, -1 + 2 + 0 + 3],
                     [0 + 6 - 2 + 0.5, 0 + 3 + 6 - 1, 0 + 0 + 2 + 2, 0 + 3 + 0 + 3]])
    dx_want = np.array([[1 + 0 - 3, 2 - 2 + 3, -1 - 6 + 0], [2 + 0 - 2, 4 + 1 + 0, -2 + 3 - 1]])
    dW_want = np.array([[1.0, -2.0, 0.0, 3.0], [2 + 6, -4 + 3, -3, 6], [-1 + 4, 2 + 2, -2, -3]])
    db_want = np.array([3.0, -1.0, -1.0, 3.0])
    for name, be in DENSE.items():
        for dt in DTYPES:
            x, W, b, dout = (a.astype(dt) for a in (X, WD, BD, DOUT))
            out = be.dense_forward(x, W, b)
            dx, dW, db = be.dense_backward(x, W, dout)          # need_dx defaults to True
            for got, w in ((out, want), (dx, dx_want), (dW, dW_want), (db, db_want)):
                assert got.dtype == dt, name
                np.testing.assert_array_equal(got, w)
            none, dW2, db2 = be.dense_backward(x, W, dout, need_dx=False)
            assert none is None
            np.testing.assert_array_equal(dW2, dW_want)
            np.testing.assert_array_equal(db2, db_want)


# -- activations -----------------------------------------------------------------------------------

@pytest.mark.parametrize("be", [R, NP], ids=["reference", "numpy"])
def test_activation_wrappers_pass_their_arguments(be):
    z = np.array([-2.0, 0.0, 3.0])
    np.testing.assert_array_equal(be.activation_forward("relu", z), [0.0, 0.0, 3.0])
    np.testing.assert_allclose(be.activation_forward("leaky_relu", z), [-0.02, 0.0, 3.0],
                               rtol=1e-15)
    assert be.activation_forward("sigmoid", np.array([0.0], np.float32)).dtype == np.float32
    np.testing.assert_array_equal(be.activation_forward("sigmoid", np.array([0.0])), [0.5])
    y, dy = np.array([0.0, 2.0, 0.5]), np.array([5.0, 7.0, 4.0])
    np.testing.assert_array_equal(be.activation_backward("relu", y, dy), [0.0, 7.0, 4.0])
    # sigmoid: dy * y * (1 - y) = 0, 7 * 2 * -1, 4 * 0.25
    np.testing.assert_array_equal(be.activation_backward("sigmoid", y, dy), [0.0, -14.0, 1.0])


# -- error messages: the kernel each one names -----------------------------------------------------

CHOICES = "sigmoid, tanh, relu, leaky_relu, identity"
Z2 = np.zeros(2)


def _errors():
    x = np.zeros((1, 1, 4, 4))
    W = np.zeros((1, 1, 2, 2))
    b = np.zeros(1)
    dout = np.zeros((1, 1, 3, 3))
    pdout = np.zeros((1, 1, 2, 2))
    cases = []
    for name, be in DENSE.items():
        cases += [
            (f"{name}-act-fwd-name", lambda be=be: be.activation_forward("bogus", Z2),
             f"unknown activation 'bogus'; choose from: {CHOICES}"),
            (f"{name}-act-bwd-name", lambda be=be: be.activation_backward("bogus", Z2, Z2),
             f"unknown activation 'bogus'; choose from: {CHOICES}"),
            (f"{name}-act-fwd-list", lambda be=be: be.activation_forward("relu", [1.0]),
             "activation_forward: z must be a NumPy array, got list [1.0]"),
            (f"{name}-act-fwd-int", lambda be=be: be.activation_forward("relu", np.array([1, 2])),
             "activation_forward: arrays must share one dtype, float64 or float32; got int64"),
            (f"{name}-act-bwd-shape",
             lambda be=be: be.activation_backward("relu", Z2, np.zeros(3)),
             "activation_backward: y (2,) and dy (3,) differ in shape"),
            (f"{name}-dense-fwd",
             lambda be=be: be.dense_forward(np.zeros((2, 3)), np.zeros((2, 4)), np.zeros(4)),
             "dense_forward: shapes x (2, 3), W (2, 4), b (4,) do not fit; "
             "want x (N, Din), W (Din, Dout), b (Dout,)"),
            (f"{name}-dense-bwd",
             lambda be=be: be.dense_backward(np.zeros((2, 3)), np.zeros((3, 4)), np.zeros((2, 3))),
             "dense_backward: shapes x (2, 3), W (3, 4), dout (2, 3) do not fit; "
             "want x (N, Din), W (Din, Dout), dout (N, Dout)"),
        ]
    for name, (fwd, bwd) in CONV.items():
        cases += [
            (f"{name}-conv-fwd", lambda fwd=fwd: fwd(x, W, b, stride=0),
             "conv2d_forward: stride must be an integer >= 1, got 0"),
            (f"{name}-conv-bwd", lambda bwd=bwd: bwd(x, W, dout, padding=-1),
             "conv2d_backward: padding must be an integer >= 0, got -1"),
            (f"{name}-conv-bwd-dout", lambda bwd=bwd: bwd(x, W, pdout),
             "conv2d_backward: dout (1, 1, 2, 2) does not fit x (1, 1, 4, 4) and "
             "W (1, 1, 2, 2) (stride 1, padding 0); want (1, 1, 3, 3)"),
        ]
    for name, (fwd, bwd) in POOL.items():
        cases += [
            (f"{name}-pool-fwd", lambda fwd=fwd: fwd(x, 0),
             "max_pool2d_forward: size must be an integer >= 1, got 0"),
            (f"{name}-pool-bwd", lambda bwd=bwd: bwd(x, pdout, 2, 0),
             "max_pool2d_backward: stride must be an integer >= 1, got 0"),
            (f"{name}-pool-bwd-dout", lambda bwd=bwd: bwd(x, dout),
             "max_pool2d_backward: dout (1, 1, 3, 3) does not fit x (1, 1, 4, 4) "
             "(size (2, 2), stride 2); want (1, 1, 2, 2)"),
            (f"{name}-pool-bwd-list", lambda bwd=bwd: bwd(x, [1.0]),
             "max_pool2d_backward: dout must be a NumPy array, got list [1.0]"),
        ]
    return cases


ERRORS = _errors()


@pytest.mark.parametrize("call,message", [c[1:] for c in ERRORS], ids=[c[0] for c in ERRORS])
def test_kernel_errors_name_the_kernel(call, message):
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        call()


def _too_big(kernel, what, shape, dtype):
    return (f"{kernel}: the {what} buffer {shape} {np.dtype(dtype).name} needs 0.0 GiB, more than "
            "this machine's memory (0.0 GiB); use smaller batches")


@pytest.mark.parametrize("padding", [0, 1, 2])
def test_buffer_errors_name_the_kernel_buffer_and_shape(monkeypatch, padding):
    monkeypatch.setattr(base, "_physical_memory", lambda: 1)   # every buffer is too big
    rng = np.random.default_rng(7)
    x = ints(rng, (2, 3, 5, 4), dtype=np.float32)               # N 2, C 3, H 5, W 4
    W = ints(rng, (2, 3, 2, 3), dtype=np.float32)               # F 2, KH 2, KW 3
    b = np.zeros(2, np.float32)
    p = padding
    OH, OW = 5 + 2 * p - 2 + 1, 4 + 2 * p - 3 + 1
    dout = np.zeros((2, 2, OH, OW), np.float32)
    col = _too_big("conv2d_forward", "column", (3, 2, 3, 2, OH, OW), np.float32)
    with pytest.raises(ValueError, match=f"^{re.escape(col)}$"):
        NP.conv2d_forward_im2col(x, W, b, 1, p)
    with pytest.raises(ValueError, match=f"^{re.escape(col.replace('forward', 'backward'))}$"):
        NP.conv2d_backward_im2col(x, W, dout, 1, p)
    if p:
        padded = (2, 3, 5 + 2 * p, 4 + 2 * p)
        for kernel, call in (("conv2d_forward", lambda: NP.conv2d_forward_einsum(x, W, b, 1, p)),
                             ("conv2d_backward",
                              lambda: NP.conv2d_backward_einsum(x, W, dout, 1, p))):
            msg = _too_big(kernel, "padded input", padded, np.float32)
            with pytest.raises(ValueError, match=f"^{re.escape(msg)}$"):
                call()
    else:
        # no padded copy; the backward einsum's column buffer: (C*KH*KW, N*F*OH*OW)
        np.testing.assert_array_equal(NP.conv2d_forward_einsum(x, W, b),
                                      conv_direct(x, W, b, 1, 0))
        msg = _too_big("conv2d_backward", "column", (3 * 2 * 3, 2 * 2 * OH * OW), np.float32)
        with pytest.raises(ValueError, match=f"^{re.escape(msg)}$"):
            NP.conv2d_backward_einsum(x, W, dout)
