"""Convolution and max pooling of every backend against sums written out in this file.

Fixed cases, no Hypothesis and no other backend as the oracle: the expectation is a direct
summation over each window (forward) and its adjoint scattered entry by entry (backward), for
stride 2 with padding 1 (and the stride-1 and stride-3 paths) on non-square sizes, with N = 7
samples: more samples than the numba backend has thread blocks, so a block index taken for a
sample index changes the numbers. PyTorch, when installed, checks the same cases once more.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import arrays, assert_rel_close
from conv_backends import conv_backends

from fastnn.backends import reference as R

BACKENDS = {"reference": R, **conv_backends()}

N, C, H, Wd, F, KH, KW = 7, 3, 9, 8, 4, 3, 2


def direct_conv(x, W, b, stride, padding):
    """out[n, f, oh, ow] = b[f] + sum over c, i, j of W[f, c, i, j] * xpad[n, c, oh*s+i, ow*s+j]."""
    n_, c_, h_, w_ = x.shape
    f_, _, kh, kw = W.shape
    xp = np.zeros((n_, c_, h_ + 2 * padding, w_ + 2 * padding))
    xp[:, :, padding:padding + h_, padding:padding + w_] = x
    OH = (h_ + 2 * padding - kh) // stride + 1
    OW = (w_ + 2 * padding - kw) // stride + 1
    out = np.zeros((n_, f_, OH, OW))
    for n in range(n_):
        for f in range(f_):
            for oh in range(OH):
                for ow in range(OW):
                    win = xp[n, :, oh * stride:oh * stride + kh, ow * stride:ow * stride + kw]
                    out[n, f, oh, ow] = b[f] + float(np.sum(win * W[f]))
    return out


def direct_conv_backward(x, W, dout, stride, padding):
    """The adjoint of direct_conv, entry by entry: dx, dW, db."""
    n_, c_, h_, w_ = x.shape
    f_, _, kh, kw = W.shape
    xp = np.zeros((n_, c_, h_ + 2 * padding, w_ + 2 * padding))
    xp[:, :, padding:padding + h_, padding:padding + w_] = x
    dxp = np.zeros_like(xp)
    dW = np.zeros(W.shape)
    OH, OW = dout.shape[2:]
    for n in range(n_):
        for f in range(f_):
            for oh in range(OH):
                for ow in range(OW):
                    g = dout[n, f, oh, ow]
                    rows = slice(oh * stride, oh * stride + kh)
                    cols = slice(ow * stride, ow * stride + kw)
                    dxp[n, :, rows, cols] += g * W[f]
                    dW[f] += g * xp[n, :, rows, cols]
    dx = dxp[:, :, padding:padding + h_, padding:padding + w_]
    return dx, dW, dout.sum(axis=(0, 2, 3))


def direct_max_pool(x, size, stride):
    """(out, dx for dout) by looping over windows; a window's gradient goes to its first
    maximum in row-major order."""
    n_, c_, h_, w_ = x.shape
    OH, OW = (h_ - size) // stride + 1, (w_ - size) // stride + 1
    out = np.empty((n_, c_, OH, OW))
    where = {}
    for n in range(n_):
        for c in range(c_):
            for oh in range(OH):
                for ow in range(OW):
                    best, at = -np.inf, None
                    for i in range(size):
                        for j in range(size):
                            v = x[n, c, oh * stride + i, ow * stride + j]
                            if v > best:
                                best, at = v, (oh * stride + i, ow * stride + j)
                    out[n, c, oh, ow] = best
                    where[n, c, oh, ow] = at

    def backward(dout):
        dx = np.zeros_like(x)
        for (n, c, oh, ow), (h, w) in where.items():
            dx[n, c, h, w] += dout[n, c, oh, ow]
        return dx

    return out, backward


CASES = [(2, 1), (1, 1), (3, 2), (2, 0)]


def _case(stride, padding, seed=0):
    x, W, b = arrays(seed, np.float64, (N, C, H, Wd), (F, C, KH, KW), (F,))
    OH = (H + 2 * padding - KH) // stride + 1
    OW = (Wd + 2 * padding - KW) // stride + 1
    (dout,) = arrays(seed + 1, np.float64, (N, F, OH, OW))
    return x, W, b, dout


def test_direct_sums_match_a_hand_computed_example():
    """The oracle itself, on numbers small enough to check by eye: stride 2, padding 1."""
    x = np.arange(9, dtype=np.float64).reshape(1, 1, 3, 3)
    W = np.array([[[[1.0, 2.0], [3.0, 4.0]]]])
    out = direct_conv(x, W, np.array([0.5]), stride=2, padding=1)
    # windows of the zero-padded 5x5 at (0,0), (0,2), (2,0), (2,2)
    np.testing.assert_array_equal(out, [[[[4 * 0 + 0.5, 3 * 1 + 4 * 2 + 0.5],
                                          [2 * 3 + 4 * 6 + 0.5,
                                           1 * 4 + 2 * 5 + 3 * 7 + 4 * 8 + 0.5]]]])
    dx, dW, db = direct_conv_backward(x, W, np.ones((1, 1, 2, 2)), 2, 1)
    np.testing.assert_array_equal(dx[0, 0], [[4, 3, 4], [2, 1, 2], [4, 3, 4]])
    # dW[i, j]: the sum of xpad[2*oh + i, 2*ow + j] over the four windows
    np.testing.assert_array_equal(dW[0, 0], [[4, 3 + 5], [1 + 7, 0 + 2 + 6 + 8]])
    np.testing.assert_array_equal(db, [4])


@pytest.mark.parametrize("stride, padding", CASES)
@pytest.mark.parametrize("name", list(BACKENDS))
def test_conv_forward_and_backward_equal_direct_sums(name, stride, padding):
    be = BACKENDS[name]
    x, W, b, dout = _case(stride, padding)
    assert_rel_close(be.conv2d_forward(x, W, b, stride=stride, padding=padding),
                     direct_conv(x, W, b, stride, padding), 1e-12, f"{name} forward")
    got = be.conv2d_backward(x, W, dout, stride=stride, padding=padding)
    want = direct_conv_backward(x, W, dout, stride, padding)
    for part, a, e in zip(("dx", "dW", "db"), got, want, strict=True):
        assert_rel_close(a, e, 1e-12, f"{name} {part}")


@pytest.mark.parametrize("size, stride", [(2, 2), (3, 2), (2, 1)])
@pytest.mark.parametrize("name", list(BACKENDS))
def test_max_pool_forward_and_backward_equal_direct_loops(name, size, stride):
    be = BACKENDS[name]
    (x,) = arrays(3, np.float64, (N, C, H, Wd))
    x[0, 0, :2, :2] = 1.5  # a tie: the first maximum in row-major order takes the gradient
    out, backward = direct_max_pool(x, size, stride)
    np.testing.assert_array_equal(be.max_pool2d_forward(x, size, stride), out)
    (dout,) = arrays(4, np.float64, out.shape)
    # overlapping windows add into one entry in another order: equal to rounding
    assert_rel_close(be.max_pool2d_backward(x, dout, size, stride), backward(dout), 1e-14)


@pytest.mark.parametrize("stride, padding", CASES)
def test_direct_sums_agree_with_pytorch(stride, padding):
    torch = pytest.importorskip("torch")
    x, W, b, dout = _case(stride, padding)
    xt = torch.tensor(x, requires_grad=True)
    Wt = torch.tensor(W, requires_grad=True)
    bt = torch.tensor(b, requires_grad=True)
    out = torch.nn.functional.conv2d(xt, Wt, bt, stride=stride, padding=padding)
    out.backward(torch.tensor(dout))
    assert_rel_close(direct_conv(x, W, b, stride, padding), out.detach().numpy(), 1e-12)
    for a, e in zip(direct_conv_backward(x, W, dout, stride, padding),
                    (xt.grad, Wt.grad, bt.grad), strict=True):
        assert_rel_close(a, e.numpy(), 1e-12)
