"""Convolution: gradient checks of the reference, every backend against it, bad input, layers."""

import numpy as np
import pytest
from conftest import arrays, assert_float32_close, assert_rel_close, numeric_grad
from conv_backends import F32_RTOL, conv_backends
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import fastnn
from fastnn import lab_cnn, load_model
from fastnn._checks import conv_output_size
from fastnn.backends import numpy_backend as V
from fastnn.backends import reference as R
from fastnn.nn.layers import Conv2d, Flatten, MaxPool2d

BACKENDS = conv_backends()




@pytest.mark.parametrize("shape", [
    # N, C, H, W, F, KH, KW, stride, padding
    (2, 2, 5, 4, 3, 3, 2, 1, 1),
    (1, 3, 7, 6, 2, 3, 3, 2, 0),
    (2, 1, 6, 5, 2, 2, 3, 3, 2),  # stride > kernel, padding
    (1, 2, 4, 4, 2, 1, 1, 1, 0),  # 1x1
])
def test_reference_gradients_match_central_differences(shape):
    N, C, H, Wd, F, KH, KW, s, p = shape
    x, W, b = arrays(0, np.float64, (N, C, H, Wd), (F, C, KH, KW), (F,))
    OH, OW = conv_output_size(H, KH, s, p), conv_output_size(Wd, KW, s, p)
    (G,) = arrays(1, np.float64, (N, F, OH, OW))

    def loss():
        return float(np.sum(R.conv2d_forward(x, W, b, s, p) * G))

    dx, dW, db = R.conv2d_backward(x, W, G, s, p)
    assert_rel_close(dx, numeric_grad(loss, x), 1e-6, "dx")
    assert_rel_close(dW, numeric_grad(loss, W), 1e-6, "dW")
    assert_rel_close(db, numeric_grad(loss, b), 1e-6, "db")


def test_reference_matches_a_hand_computed_example():
    x = np.arange(16, dtype=np.float64).reshape(1, 1, 4, 4)
    W = np.array([[[[1.0, 0.0], [0.0, -1.0]]]])
    out = R.conv2d_forward(x, W, np.array([0.5]), stride=2)
    np.testing.assert_array_equal(out, [[[[-4.5, -4.5], [-4.5, -4.5]]]])  # x[i,j] - x[i+1,j+1]


conv_shapes = st.fixed_dictionaries({
    "N": st.integers(1, 3), "C": st.integers(1, 3), "H": st.integers(1, 9),
    "W": st.integers(1, 9), "F": st.integers(1, 4), "KH": st.integers(1, 4),
    "KW": st.integers(1, 4), "stride": st.integers(1, 4), "padding": st.integers(0, 2),
    "seed": st.integers(0, 2**32 - 1),
})


def _case(d, dtype):
    assume(d["KH"] <= d["H"] + 2 * d["padding"] and d["KW"] <= d["W"] + 2 * d["padding"])
    OH = conv_output_size(d["H"], d["KH"], d["stride"], d["padding"])
    OW = conv_output_size(d["W"], d["KW"], d["stride"], d["padding"])
    return arrays(d["seed"], dtype, (d["N"], d["C"], d["H"], d["W"]),
                  (d["F"], d["C"], d["KH"], d["KW"]), (d["F"],), (d["N"], d["F"], OH, OW))


@settings(max_examples=50, deadline=None)
@given(d=conv_shapes)
def test_backends_match_reference_float64(d):
    x, W, b, dout = _case(d, np.float64)
    s, p = d["stride"], d["padding"]
    out_ref = R.conv2d_forward(x, W, b, s, p)
    grads_ref = R.conv2d_backward(x, W, dout, s, p)
    for name, be in BACKENDS.items():
        out = be.conv2d_forward(x, W, b, stride=s, padding=p)
        assert out.dtype == np.float64
        assert_rel_close(out, out_ref, 1e-10, f"{name} forward")
        for g, a, e in zip(("dx", "dW", "db"), be.conv2d_backward(x, W, dout, stride=s,
                                                                  padding=p), grads_ref,
                           strict=True):
            assert a.dtype == np.float64
            assert_rel_close(a, e, 1e-10, f"{name} {g}")


@settings(max_examples=25, deadline=None)
@given(d=conv_shapes)
def test_backends_match_reference_float32(d):
    x, W, b, dout = _case(d, np.float32)
    s, p = d["stride"], d["padding"]
    as64 = [a.astype(np.float64) for a in (x, W, b, dout)]
    out_ref = R.conv2d_forward(*as64[:3], s, p)
    grads_ref = R.conv2d_backward(as64[0], as64[1], as64[3], s, p)
    # every output is linear in each input with fixed signs, so the same kernels on |inputs|
    # give each entry's sum of |terms|: the scale of its float32 rounding error
    mags = [np.abs(a) for a in as64]
    out_mag = R.conv2d_forward(*mags[:3], s, p)
    grads_mag = R.conv2d_backward(mags[0], mags[1], mags[3], s, p)
    for name, be in BACKENDS.items():
        out = be.conv2d_forward(x, W, b, stride=s, padding=p)
        assert out.dtype == np.float32
        assert_float32_close(out, out_ref, out_mag, F32_RTOL, f"{name} forward")
        for g, a, e, m in zip(("dx", "dW", "db"),
                              be.conv2d_backward(x, W, dout, stride=s, padding=p), grads_ref,
                              grads_mag, strict=True):
            assert a.dtype == np.float32
            assert_float32_close(a, e, m, F32_RTOL, f"{name} {g}")


@pytest.mark.parametrize("C", [15, 16, 17])  # the numba backend's stride-1 paths switch at 16
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("KH, KW, padding", [(3, 3, 1), (2, 3, 0), (3, 2, 2)])
def test_backends_match_reference_with_many_channels(C, dtype, KH, KW, padding):
    x, W, b, _ = arrays(C, np.float64, (3, C, 7, 6), (5, C, KH, KW), (5,), (1,))
    OH, OW = conv_output_size(7, KH, 1, padding), conv_output_size(6, KW, 1, padding)
    (dout,) = arrays(C + 1, np.float64, (3, 5, OH, OW))
    out_ref = R.conv2d_forward(x, W, b, 1, padding)
    grads_ref = R.conv2d_backward(x, W, dout, 1, padding)
    out_mag = R.conv2d_forward(np.abs(x), np.abs(W), np.abs(b), 1, padding)
    grads_mag = R.conv2d_backward(np.abs(x), np.abs(W), np.abs(dout), 1, padding)
    xs, Ws, bs, douts = (a.astype(dtype) for a in (x, W, b, dout))
    for name, be in BACKENDS.items():
        got = [be.conv2d_forward(xs, Ws, bs, stride=1, padding=padding),
               *be.conv2d_backward(xs, Ws, douts, stride=1, padding=padding)]
        for g, a, e, m in zip(("out", "dx", "dW", "db"), got, (out_ref, *grads_ref),
                              (out_mag, *grads_mag), strict=True):
            assert a.dtype == dtype and a.shape == e.shape
            if dtype == np.float64:
                assert_rel_close(a, e, 1e-10, f"{name} {g}")
            else:
                assert_float32_close(a, e, m, F32_RTOL, f"{name} {g}")


def test_numba_stride1_path_switches_at_16_channels(monkeypatch):
    """16 input channels or more take the view kernels, fewer the column-buffer kernels (both
    are tested against the reference above; this checks which one runs)."""
    from fastnn.backends.numba import conv as J

    calls = []
    for name in ("_conv_forward_s1", "_conv_backward_s1", "_conv_forward_s1_cols",
                 "_conv_backward_s1_cols", "_conv_forward", "_conv_backward"):
        kernel = getattr(J, name)
        monkeypatch.setattr(J, name, lambda *a, _k=kernel, _n=name: (calls.append(_n), _k(*a)))
    for C, stride, expected in ((16, 1, "_s1"), (15, 1, "_s1_cols"), (16, 2, "")):
        calls.clear()
        x, W, b = arrays(C, np.float64, (2, C, 6, 6), (3, C, 3, 3), (3,))
        out = J.conv2d_forward(x, W, b, stride=stride, padding=1)
        J.conv2d_backward(x, W, np.ones(out.shape), stride=stride, padding=1)
        assert calls == [f"_conv_forward{expected}", f"_conv_backward{expected}"], (C, stride)


@pytest.mark.parametrize("name", list(BACKENDS))
def test_lab_cnn_shapes_and_non_contiguous_input(name):
    be = BACKENDS[name]
    x, W, b = arrays(3, np.float64, (10, 3, 28, 28), (8, 3, 3, 3), (8,))
    xt = np.asfortranarray(x)  # same values, another memory layout
    out = be.conv2d_forward(xt, W, b, stride=1, padding=1)
    assert out.shape == (10, 8, 28, 28)
    assert_rel_close(out, V.conv2d_forward_im2col(x, W, b, 1, 1), 1e-12, name)


@pytest.mark.parametrize("stride, padding", [(1, 1), (2, 0), (3, 2)])
def test_numba_parallel_blocks_match_one_serial_block(stride, padding):
    """prange over sample blocks gives what one block on one thread gives (and plain Python)."""
    from fastnn.backends.numba import conv as J

    x, W, b = arrays(4, np.float64, (5, 2, 7, 6), (4, 2, 3, 2), (4,))
    OH, OW = conv_output_size(7, 3, stride, padding), conv_output_size(6, 2, stride, padding)
    (dout,) = arrays(5, np.float64, (5, 4, OH * OW))
    Wm = W.reshape(4, -1)
    args = (3, 2, stride, padding, OH, OW)
    outs = []
    for kernel, T in ((J._conv_forward, 3), (J._conv_forward, 1),
                      (getattr(J._conv_forward, "py_func", J._conv_forward), 2)):
        out = np.empty((5, 4, OH * OW))
        kernel(x, Wm, b, *args, T, out)
        outs.append(out)
    np.testing.assert_array_equal(outs[0], outs[1])
    assert_rel_close(outs[2], outs[1], 1e-14)
    grads = []
    for kernel, T in ((J._conv_backward, 3), (J._conv_backward, 1)):
        dx, dWs, dbs = np.empty_like(x), np.empty((T, 12, 4)), np.empty((T, 4))
        kernel(x, Wm, np.ascontiguousarray(Wm.T), dout, *args, T, dx, dWs, dbs)
        grads.append((dx, dWs.sum(0), dbs.sum(0)))
    np.testing.assert_array_equal(grads[0][0], grads[1][0])  # dx: no reduction across blocks
    assert_rel_close(grads[0][1], grads[1][1], 1e-13)
    assert_rel_close(grads[0][2], grads[1][2], 1e-13)
    if stride == 1:  # the stride-1 kernels: columns over the padded width, and views of it
        for T in (3, 1):
            out = np.empty((5, 4, OH * OW))
            J._conv_forward_s1_cols(x, Wm, b, 3, 2, padding, OH, OW, T, out)
            assert_rel_close(out, outs[1], 1e-13)
            dx, dWs, dbs = np.empty_like(x), np.empty((T, 12, 4)), np.empty((T, 4))
            J._conv_backward_s1_cols(x, Wm, np.ascontiguousarray(Wm.T), dout, 3, 2, padding, OH,
                                     OW, T, dx, dWs, dbs)
            for a, e in zip((dx, dWs.sum(0), dbs.sum(0)), grads[1], strict=True):
                assert_rel_close(a, e, 1e-13)
        W9 = J._by_offset(W)
        for T in (3, 1):
            out = np.empty((5, 4, OH * OW))
            J._conv_forward_s1(x, W9, b, 3, 2, padding, OH, OW, T, out)
            assert_rel_close(out, outs[1], 1e-13)
            dx, dW9s, dbs = np.empty_like(x), np.empty((T, 6, 4, 2)), np.empty((T, 4))
            J._conv_backward_s1(x, W9, dout, 3, 2, padding, OH, OW, T, dx, dW9s, dbs)
            dW = dW9s.sum(0).reshape(3, 2, 4, 2).transpose(2, 3, 0, 1).reshape(4, 12).T
            for a, e in zip((dx, dW, dbs.sum(0)), grads[1], strict=True):
                assert_rel_close(a, e, 1e-13)


# -- bad input ----------------------------------------------------------------------------------

ALL = {"reference": R, **BACKENDS}


@pytest.mark.parametrize("name", list(ALL))
@pytest.mark.parametrize("x_shape, W_shape, kw, match", [
    ((2, 3, 5, 5), (4, 2, 3, 3), {}, r"x \(2, 3, 5, 5\) has 3 channels but W \(4, 2, 3, 3\)"),
    ((2, 3, 2, 5), (4, 3, 3, 3), {}, r"kernel size 3 is larger than the padded input"),
    ((2, 3, 2, 2), (4, 3, 5, 5), {"padding": 1}, r"x \(2, 3, 2, 2\), W \(4, 3, 5, 5\)"),
    ((2, 3, 5, 5), (4, 3, 3, 3), {"stride": 0}, r"stride must be an integer >= 1, got 0"),
    ((2, 3, 5, 5), (4, 3, 3, 3), {"padding": -1}, r"padding must be an integer >= 0, got -1"),
    ((3, 5, 5), (4, 3, 3, 3), {}, r"x \(3, 5, 5\) and W \(4, 3, 3, 3\) must be 4-D"),
    ((2, 3, 5, 5), (4, 3, 3, 3), {"stride": 1.5}, r"stride must be an integer"),
    ((2, 16, 5, 5), (4, 16, 0, 3), {}, r"W \(4, 16, 0, 3\) has an empty 0x3 kernel"),
    ((2, 3, 5, 5), (4, 3, 2, 0), {}, r"W \(4, 3, 2, 0\) has an empty 2x0 kernel"),
])
def test_bad_conv_input_names_the_shapes(name, x_shape, W_shape, kw, match):
    be = ALL[name]
    x = np.zeros(x_shape)
    W = np.zeros(W_shape)
    with pytest.raises(ValueError, match=match):
        be.conv2d_forward(x, W, np.zeros(W_shape[0]), **kw)
    with pytest.raises(ValueError, match=match):
        be.conv2d_backward(x, W, np.zeros((2, 4, 3, 3)), **kw)


@pytest.mark.parametrize("name", list(ALL))
def test_bad_bias_dout_and_dtype(name):
    be = ALL[name]
    x, W = np.zeros((2, 3, 5, 5)), np.zeros((4, 3, 3, 3))
    with pytest.raises(ValueError, match=r"b \(3,\) does not fit W \(4, 3, 3, 3\)"):
        be.conv2d_forward(x, W, np.zeros(3))
    with pytest.raises(ValueError, match=r"dout \(2, 4, 5, 5\) does not fit .* \(2, 4, 3, 3\)"):
        be.conv2d_backward(x, W, np.zeros((2, 4, 5, 5)))
    with pytest.raises(ValueError, match="float64 or float32; got float32, float64"):
        be.conv2d_forward(x.astype(np.float32), W, np.zeros(4))


@pytest.mark.parametrize("name", list(BACKENDS))
def test_column_buffer_that_cannot_fit_is_refused(name):
    """Shape products are Python ints (no int64 wrap-around); a huge buffer is a ValueError."""
    be = BACKENDS[name]
    # a broadcast view: 2^20 samples x 64 channels x 64 x 64 of zeros takes no memory itself
    x = np.broadcast_to(np.zeros(1), (2**20, 64, 64, 64))
    W, b = np.zeros((8, 64, 3, 3)), np.zeros(8)
    with pytest.raises(ValueError, match=r"buffer .* needs .* GiB, more than this machine"):
        be.conv2d_forward(x, W, b, padding=1)


# -- layers and models --------------------------------------------------------------------------

def test_conv_layers_build_save_and_load(tmp_path):
    model = fastnn.Sequential([Conv2d(1, 4, 3, padding=1), fastnn.Activation("relu"),
                               MaxPool2d(2), Conv2d(4, 6, (2, 3), stride=2), Flatten(),
                               fastnn.Dense(6 * 2 * 1, 3)], input_shape=(1, 8, 8), init="he",
                              seed=1)
    assert model.output_shape == (3,)
    x = arrays(0, np.float64, (5, 1, 8, 8))[0]
    out = model.forward(V, x)
    fastnn.save_model(model, tmp_path / "m.npz")
    again = load_model(tmp_path / "m.npz")
    np.testing.assert_array_equal(again.forward(V, x), out)
    assert repr(again.layers[3]) == "Conv2d(4, 6, (2, 3), stride=2, padding=0)"


def test_conv_layer_shape_mismatch_is_reported():
    with pytest.raises(ValueError, match=r"Conv2d\(2, 4, 3.* takes inputs of shape \(2, H, W\)"):
        fastnn.Sequential([Conv2d(2, 4, 3)], input_shape=(3, 8, 8))
    with pytest.raises(ValueError, match="kernel size 5 is larger"):
        fastnn.Sequential([Conv2d(1, 1, 5)], input_shape=(1, 4, 4))
    with pytest.raises(ValueError, match="padding must be an integer >= 0"):
        Conv2d(1, 1, 3, padding=-1)


def test_lab_cnn_output_shape_and_init_scale():
    model = lab_cnn(seed=0)
    assert model.output_shape == (16, 28, 28)
    W = model.layers[2].W
    assert W.shape == (16, 8, 3, 3)
    assert 0.5 < W.std() * np.sqrt(8 * 9 / 2) < 1.5  # He: std sqrt(2 / fan_in)
