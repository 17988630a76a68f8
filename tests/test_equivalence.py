"""The numpy backend computes what the reference backend computes (float64 to 1e-10)."""

import numpy as np
import pytest
from conftest import arrays, assert_dense_matches_reference, assert_rel_close
from hypothesis import given, settings
from hypothesis import strategies as st

import fastnn
from fastnn import activations
from fastnn.backends import numpy_backend as V
from fastnn.backends import reference as R

F32_RTOL = 1e-5  # float32: a few ulps of 1.2e-7 per summed product, documented in the README
dims = st.integers(min_value=1, max_value=17)



@settings(max_examples=60, deadline=None)
@given(N=dims, Din=dims, Dout=dims, seed=st.integers(0, 2**32 - 1))
def test_dense_float64(N, Din, Dout, seed):
    assert_dense_matches_reference(V, seed, np.float64, N, Din, Dout)


@settings(max_examples=30, deadline=None)
@given(N=dims, Din=dims, Dout=dims, seed=st.integers(0, 2**32 - 1))
def test_dense_float32(N, Din, Dout, seed):
    assert_dense_matches_reference(V, seed, np.float32, N, Din, Dout, F32_RTOL)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", activations.ACTIVATIONS)
def test_activations(name, dtype):
    for seed, shape in enumerate([(1, 1), (7, 3), (100, 4), (3, 2, 5)]):
        z, dy = arrays(seed, dtype, shape, shape)
        z *= 5
        y_ref, y = R.activation_forward(name, z), V.activation_forward(name, z)
        assert y.dtype == dtype and y.shape == shape
        np.testing.assert_array_equal(y, y_ref)  # same formulas, same operation order
        dz = V.activation_backward(name, y, dy)
        assert dz.dtype == dtype
        np.testing.assert_array_equal(dz, R.activation_backward(name, y_ref, dy))


@pytest.mark.parametrize("be", [R, V], ids=["reference", "numpy"])
def test_sigmoid_saturates_without_nan(be):
    z = np.array([[-1000.0, -40.0, 0.0, 40.0, 1000.0]])
    with np.errstate(over="ignore"):
        y = be.activation_forward("sigmoid", z)
    np.testing.assert_array_equal(y[0, [0, 2, 4]], [0.0, 0.5, 1.0])
    assert 0 < y[0, 1] < 1e-17 and np.isfinite(y).all()


def test_relu_derivative_at_zero_is_zero_and_leaky_is_slope():
    y = np.zeros((1, 1))
    dy = np.ones((1, 1))
    for be in (R, V):
        assert be.activation_backward("relu", be.activation_forward("relu", y), dy)[0, 0] == 0
        leaky = be.activation_backward("leaky_relu", be.activation_forward("leaky_relu", y), dy)
        assert leaky[0, 0] == activations.LEAKY_SLOPE


def trajectory(backend, optimizer, epochs=200, batch_size=None, dtype="float64"):
    X, y = fastnn.data.generate_linear(100, seed=5)
    model = fastnn.MLP([2, 4, 4, 1], seed=6, dtype=dtype)
    lr = 0.5 if optimizer in ("sgd", "momentum") else 0.05
    trainer = fastnn.Trainer(model, optimizer=optimizer, lr=lr, backend=backend, seed=8,
                             clip=(-1024, 1023))
    history = trainer.fit(X, y, epochs=epochs, batch_size=batch_size)
    return np.array(history.loss), model.params.copy()


@pytest.mark.parametrize("optimizer", list(fastnn.optim.OPTIMIZERS))
def test_training_trajectory(optimizer):
    ref_loss, ref_params = trajectory("reference", optimizer)
    loss, params = trajectory("numpy", optimizer)
    assert len(loss) == 200
    assert ref_loss[-1] < ref_loss[0]  # it trained
    assert_rel_close(loss, ref_loss, 1e-10, "losses")
    assert_rel_close(params, ref_params, 1e-10, "weights")


def test_minibatch_trajectory():
    ref_loss, ref_params = trajectory("reference", "adam", epochs=40, batch_size=16)
    loss, params = trajectory("numpy", "adam", epochs=40, batch_size=16)
    assert_rel_close(loss, ref_loss, 1e-10, "losses")
    assert_rel_close(params, ref_params, 1e-10, "weights")


def test_float32_trajectory():
    ref_loss, _ = trajectory("reference", "sgd", epochs=100, dtype="float32")
    loss, params = trajectory("numpy", "sgd", epochs=100, dtype="float32")
    assert params.dtype == np.float32
    assert_rel_close(loss, ref_loss, 1e-4, "losses")


@pytest.mark.parametrize("backend", fastnn.available_backends())
def test_need_dx_false_skips_only_dx(backend):
    be = fastnn.get_backend(backend)
    x, W, b, dout = arrays(3, np.float64, (9, 5), (5, 3), (3,), (9, 3))
    dx, dW, db = be.dense_backward(x, W, dout)
    none, dW2, db2 = be.dense_backward(x, W, dout, need_dx=False)
    assert none is None and dx.shape == x.shape
    np.testing.assert_array_equal(dW2, dW)
    np.testing.assert_array_equal(db2, db)
    model = fastnn.MLP([5, 4, 3], seed=1)
    model.forward(be, x)
    model.backward(be, dout, need_dx=True)
    grads = model.grads.copy()
    model.grads[...] = 0
    model.forward(be, x)
    assert model.backward(be, dout, need_dx=False) is None
    np.testing.assert_array_equal(model.grads, grads)
