"""The kernels' input checks (a fast test of the common case, itemized tests behind it) and the
per-epoch divergence check (fast sums, the exact scan behind them): the fast paths must pass
exactly what the full checks pass and refuse what they refuse, with the same messages."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fastnn
from fastnn.backends import numpy_backend as V

BACKENDS = fastnn.available_backends()
#: float64 equal to np.float64 but a distinct dtype object: the fast test (by identity) misses it
#: and the itemized tests must pass it.
F64_COPY = np.dtype(np.float64, metadata={"copy": True})


def _dense(dtype=np.float64, N=5, Din=3, Dout=2):
    rng = np.random.default_rng(0)
    return (rng.normal(size=(N, Din)).astype(dtype), rng.normal(size=(Din, Dout)).astype(dtype),
            rng.normal(size=Dout).astype(dtype), rng.normal(size=(N, Dout)).astype(dtype))


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_equal_dtype_that_is_another_object_is_accepted(backend):
    assert F64_COPY == np.float64 and F64_COPY is not np.dtype(np.float64)
    be = fastnn.get_backend(backend)
    x, W, b, dout = _dense()
    xc, Wc, bc, doutc = (a.astype(F64_COPY) for a in (x, W, b, dout))
    assert xc.dtype is not x.dtype
    np.testing.assert_array_equal(be.dense_forward(xc, Wc, bc), be.dense_forward(x, W, b))
    for got, want in zip(be.dense_backward(xc, Wc, doutc), be.dense_backward(x, W, dout),
                         strict=True):
        np.testing.assert_array_equal(got, want)
    y = be.activation_forward("tanh", xc)
    np.testing.assert_array_equal(y, be.activation_forward("tanh", x))
    np.testing.assert_array_equal(be.activation_backward("tanh", y, xc),
                                  be.activation_backward("tanh", y.astype(np.float64), x))


@pytest.mark.parametrize("backend", BACKENDS)
def test_shapes_that_do_not_fit_are_refused(backend):
    be = fastnn.get_backend(backend)
    x, W, b, dout = _dense()
    with pytest.raises(ValueError, match=r"dense_forward: shapes x \(5, 3\), W \(3, 2\), "
                                         r"b \(3,\) do not fit"):
        be.dense_forward(x, W, np.zeros(3))
    with pytest.raises(ValueError, match=r"dense_forward: shapes x \(5, 2\)"):
        be.dense_forward(x[:, :2], W, b)
    with pytest.raises(ValueError, match=r"dense_backward: shapes x \(5, 3\), W \(3, 2\), "
                                         r"dout \(4, 2\) do not fit"):
        be.dense_backward(x, W, dout[:4])
    with pytest.raises(ValueError, match=r"dense_backward: shapes .* dout \(5, 3\)"):
        be.dense_backward(x, W, np.zeros((5, 3)))
    with pytest.raises(ValueError, match=r"activation_backward: y \(5, 3\) and dy \(5, 2\)"):
        be.activation_backward("relu", x, dout)


@pytest.mark.parametrize("backend", BACKENDS)
def test_mixed_or_non_float_dtypes_are_refused(backend):
    be = fastnn.get_backend(backend)
    x, W, b, dout = _dense()
    with pytest.raises(ValueError, match="dense_forward: arrays must share one dtype, float64 "
                                         "or float32; got float32, float64, float64"):
        be.dense_forward(x.astype(np.float32), W, b)
    with pytest.raises(ValueError, match="dense_backward: .* got float64, float64, float32"):
        be.dense_backward(x, W, dout.astype(np.float32))
    with pytest.raises(ValueError, match="dense_forward: .* got int64, int64, int64"):
        be.dense_forward(*(a.astype(np.int64) for a in (x, W, b)))
    with pytest.raises(ValueError, match="activation_forward: .* got int64"):
        be.activation_forward("relu", x.astype(np.int64))
    with pytest.raises(ValueError, match="activation_backward: .* got float64, float32"):
        be.activation_backward("relu", x, x.astype(np.float32))
    with pytest.raises(ValueError, match="activation_forward: z must be a NumPy array"):
        be.activation_forward("relu", [1.0])


@settings(max_examples=60, deadline=None)
@given(N=st.integers(1, 40), Din=st.integers(1, 12), Dout=st.integers(1, 12),
       f32=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_numpy_dense_kernels_give_the_numbers_of_matmul_and_sum(N, Din, Dout, f32, seed):
    """ndarray.dot and np.add.reduce make the very calls ``@`` and ``.sum(axis=0)`` make on
    the layouts a model hands the kernels: bit for bit the same numbers."""
    x, W, b, dout = _dense(np.float32 if f32 else np.float64, N, Din, Dout)
    rng = np.random.default_rng(seed)
    for a in (x, W, b, dout):
        a[...] = rng.normal(size=a.shape)
    np.testing.assert_array_equal(V.dense_forward(x, W, b), x @ W + b)
    dx, dW, db = V.dense_backward(x, W, dout)
    np.testing.assert_array_equal(dx, dout @ W.T)
    np.testing.assert_array_equal(dW, x.T @ dout)
    np.testing.assert_array_equal(db, dout.sum(axis=0))


def _trainer():
    return fastnn.Trainer(fastnn.MLP([2, 3, 1], seed=0), backend="numpy")


def test_finite_losses_whose_sum_overflows_are_not_divergence():
    trainer = _trainer()
    trainer.epoch = 2
    trainer._check_diverged([1e308, 1e308])  # the sum is inf, every loss is finite


@pytest.mark.parametrize("bad", [np.inf, -np.inf, np.nan])
def test_a_non_finite_loss_is_named_with_its_epoch(bad):
    trainer = _trainer()
    trainer.epoch = 7
    with pytest.raises(fastnn.DivergenceError, match=f"the loss became {bad} at epoch 6") as e:
        trainer._check_diverged([1e308, bad, 1.0])
    assert e.value.epoch == 6


def test_huge_finite_weights_are_not_divergence():
    """params . params overflows to inf; the exact scan behind it finds every weight finite
    (sigmoids saturate, the gradients are 0, the weights stay 1e200)."""
    trainer = _trainer()
    trainer.model.params[:] = 1e200
    X, y = fastnn.data.generate_linear(20, seed=0)
    history = trainer.fit(X, y, 3)
    assert history.epochs == 3 and np.isfinite(history.loss).all()
    assert (trainer.model.params == 1e200).all()


@pytest.mark.parametrize("bad", [np.inf, np.nan])
def test_a_non_finite_weight_is_divergence(bad):
    trainer = _trainer()
    trainer.model.params[3] = bad
    trainer.epoch = 4
    with pytest.raises(fastnn.DivergenceError, match="weights became non-finite in the update "
                                                      "of epoch 4"):
        trainer._check_diverged([0.5])
