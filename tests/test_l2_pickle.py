"""The trainer's L2 penalty (scikit-learn's alpha) against finite differences of its loss and
through checkpoints; trainers and models through pickle (joblib, Dask, scikit-learn clones)."""

import pickle

import numpy as np
import pytest

import fastnn
from fastnn.io import checkpoint
from fastnn.io.checkpoint import CheckpointError


def _data(n=40, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 3))
    return X, (X[:, :1] * X[:, 1:2] > 0).astype(float)


def _trainer(l2=0.3, backend="numpy", **kw):
    model = fastnn.MLP([3, 5, 4, 1], activation="tanh", seed=1)
    return fastnn.Trainer(model, loss="bce", optimizer="sgd", lr=0.1, backend=backend, l2=l2,
                          seed=7, **kw)


@pytest.mark.parametrize("backend", ["reference", "numpy", "numba"])
def test_l2_gradient_is_the_derivative_of_the_penalized_loss(backend):
    """One SGD step moves every parameter by -lr times the finite-difference derivative of the
    penalized loss l(p) + l2 / (2 N) sum(W^2): biases unpenalized, weights penalized."""
    X, y = _data()
    t = _trainer(backend=backend)
    p0 = t.model.params.copy()

    def penalized(p):
        t.model.params[...] = p
        loss, _ = t.evaluate(X, y)
        return loss + 0.3 / (2 * len(X)) * sum(float((W ** 2).sum()) for W, _ in
                                                 t.model.weights())

    h, num = 1e-6, np.empty_like(p0)
    for i in range(p0.size):
        e = np.zeros_like(p0)
        e[i] = h
        num[i] = (penalized(p0 + e) - penalized(p0 - e)) / (2 * h)
    t.model.params[...] = p0
    hist = t.fit(X, y, epochs=1)
    np.testing.assert_allclose((p0 - t.model.params) / 0.1, num, rtol=1e-6, atol=1e-8)
    assert hist.loss[0] == pytest.approx(penalized(p0), rel=1e-12)
    assert len(t.model.weights()) == 3  # three weight matrices; their biases are not penalized


def test_no_penalty_is_the_plain_run_and_numba_fuses_only_without_one():
    X, y = _data()
    t = _trainer(l2=0.0)  # one SGD step is p - lr * (the loss's own gradient), to the bit
    be, model = t.backend, t.model
    p0 = model.params.copy()
    _, dout = t.loss_fn(model.forward(be, X), y)
    model.backward(be, dout, need_dx=False)
    grads = model.grads.copy()
    t.fit(X, y, epochs=1)
    np.testing.assert_array_equal(model.params, p0 - 0.1 * grads)
    assert _trainer(l2=0.0, backend="numba")._fused() is not None
    assert _trainer(l2=0.1, backend="numba")._fused() is None
    with pytest.raises(ValueError, match="l2 penalty"):
        _trainer(l2=-1.0)


def test_l2_checkpoint_round_trip_and_refusal(tmp_path):
    X, y = _data()
    t = _trainer()
    t.fit(X, y, epochs=2)
    checkpoint.save(tmp_path / "m.npz", t.model, t, epoch=t.epoch)
    ckpt = checkpoint.load(tmp_path / "m.npz")
    assert ckpt.trainer["l2"] == 0.3
    again = _trainer()
    again.restore(ckpt)
    t.fit(X, y, epochs=2)
    again.fit(X, y, epochs=2)
    np.testing.assert_array_equal(t.model.params, again.model.params)
    with pytest.raises(CheckpointError, match="l2 penalty 0.3; this trainer has 0.0"):
        _trainer(l2=0.0).restore(ckpt)
    plain = _trainer(l2=0.0)
    checkpoint.save(tmp_path / "p.npz", plain.model, plain)
    assert "l2" not in checkpoint.load(tmp_path / "p.npz").trainer  # files as before


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_pickled_trainer_continues_the_same_run(backend):
    X, y = _data()
    t = _trainer(l2=0.0, backend=backend, clip=2.0)
    t.fit(X, y, epochs=3, batch_size=8)
    u = pickle.loads(pickle.dumps(t))
    assert u.backend is t.backend and u.epoch == 3
    for layer in u.model.layers:  # the layers' views are the new model's buffers again
        for v in layer.params.values():
            assert np.shares_memory(v, u.model.params)
    ht, hu = t.fit(X, y, epochs=4, batch_size=8), u.fit(X, y, epochs=4, batch_size=8)
    assert ht.loss == hu.loss
    np.testing.assert_array_equal(t.model.params, u.model.params)
    np.testing.assert_array_equal(t.optimizer.state.get("velocity", 0),
                                  u.optimizer.state.get("velocity", 0))
