"""Central-difference gradient checks (float64) on the reference backend."""

import numpy as np
import pytest
from conftest import numeric_grad

import fastnn
from fastnn import activations, losses
from fastnn.backends import reference as R

RTOL = 1e-6


def rel_error(a, b):
    return np.max(np.abs(a - b)) / max(np.max(np.abs(a)), np.max(np.abs(b)), 1e-12)



def test_dense_backward():
    rng = np.random.default_rng(0)
    x, W, b = rng.standard_normal((5, 3)), rng.standard_normal((3, 4)), rng.standard_normal(4)
    dout = rng.standard_normal((5, 4))

    def f():
        return float(np.sum(R.dense_forward(x, W, b) * dout))

    dx, dW, db = R.dense_backward(x, W, dout)
    assert rel_error(dx, numeric_grad(f, x)) < RTOL
    assert rel_error(dW, numeric_grad(f, W)) < RTOL
    assert rel_error(db, numeric_grad(f, b)) < RTOL


@pytest.mark.parametrize("name", activations.ACTIVATIONS)
def test_activation_backward(name):
    rng = np.random.default_rng(1)
    z = rng.standard_normal((6, 5)) * 2
    z[np.abs(z) < 1e-3] = 0.5  # keep away from relu's kink, where no derivative exists
    dy = rng.standard_normal((6, 5))

    def f():
        return float(np.sum(R.activation_forward(name, z) * dy))

    analytic = R.activation_backward(name, R.activation_forward(name, z), dy)
    assert rel_error(analytic, numeric_grad(f, z)) < RTOL


@pytest.mark.parametrize("name", list(losses.LOSSES))
def test_loss_gradient(name):
    rng = np.random.default_rng(2)
    pred = rng.uniform(0.05, 0.95, (7, 2))
    y = (rng.uniform(size=(7, 2)) > 0.5).astype(float)
    _, analytic = losses.LOSSES[name](pred, y)
    numeric = numeric_grad(lambda: losses.LOSSES[name](pred, y)[0], pred)
    assert rel_error(analytic, numeric) < RTOL


def test_mse_is_the_labs():
    pred, y = np.array([[0.2], [0.9], [0.4]]), np.array([[0.0], [1.0], [1.0]])
    loss, grad = losses.mse(pred, y)
    assert loss == pytest.approx((0.04 + 0.01 + 0.36) / 3, rel=1e-15)
    np.testing.assert_allclose(grad, 2 * (pred - y) / 3, rtol=1e-15)


@pytest.mark.parametrize("activation", activations.ACTIVATIONS)
@pytest.mark.parametrize("loss", list(losses.LOSSES))
def test_whole_network(activation, loss):
    """Every parameter of a 3-4-3-2 MLP, through the model's own backward pass."""
    rng = np.random.default_rng(3)
    # xavier keeps the sigmoid output away from bce's clip region (see losses.bce)
    model = fastnn.MLP([3, 4, 3, 2], activation=activation, init="xavier", seed=4)
    X = rng.standard_normal((6, 3))
    y = (rng.uniform(size=(6, 2)) > 0.5).astype(float)
    loss_fn = losses.LOSSES[loss]

    def f():
        return loss_fn(model.forward(R, X), y)[0]

    _, dout = loss_fn(model.forward(R, X), y)
    model.backward(R, dout)
    analytic = model.grads.copy()
    numeric = numeric_grad(f, model.params)
    assert rel_error(analytic, numeric) < RTOL


@pytest.mark.parametrize("backend", fastnn.available_backends())
@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu"])
def test_dense_without_bias(activation, backend):
    """A network of Dense(bias=False) layers (the lab's): its gradient, through the model's own
    backward pass on every backend, holds the weights' entries only and matches the numbers."""
    be = fastnn.get_backend(backend)
    rng = np.random.default_rng(5)
    model = fastnn.MLP([3, 4, 3, 2], activation=activation, output_activation=activation,
                       init="xavier", seed=6, bias=False)
    assert model.params.size == 3 * 4 + 4 * 3 + 3 * 2
    X = rng.standard_normal((6, 3))
    X[np.abs(X) < 1e-2] = 0.5
    y = rng.uniform(size=(6, 2))

    def f():
        return losses.mse(model.forward(R, X), y)[0]

    _, dout = losses.mse(model.forward(be, X), y)
    model.backward(be, dout)
    analytic = model.grads.copy()
    assert rel_error(analytic, numeric_grad(f, model.params)) < RTOL
