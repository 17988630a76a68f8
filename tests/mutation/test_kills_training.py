"""Value checks of the trainer and its strategies (issue 16): mutmut survivors of
fastnn/training/trainer.py and fastnn/training/strategies.py.

Numbers are checked against a hand-written loop on a one-layer linear model (pred = X W + b,
mse, plain SGD), whose every step is a line of NumPy here; messages are checked word for word.
The fused strategy's plumbing (stretch lengths, shuffled orders, the generator's draws, the
optimizer's step count, the fallback) is checked with a scripted stand-in for a backend's
compiled step, so no Numba compile is needed.
"""

from __future__ import annotations

import logging
import math
import os
import pickle
import re
import signal
import sys

import numpy as np
import pytest

import fastnn
from fastnn.backends.base import FusedSpec, FusedUnsupported
from fastnn.io.checkpoint import Checkpoint, CheckpointError
from fastnn.nn.layers import Activation, Conv2d, Dense, Flatten
from fastnn.nn.losses import LOSSES, POINTWISE, SOFTMAX, same_side
from fastnn.nn.model import MLP, Sequential
from fastnn.nn.optim import SGD, clip, get_optimizer
from fastnn.training import strategies
from fastnn.training import trainer as T
from fastnn.training.trainer import DivergenceError, Trainer

W0 = np.array([[0.3], [-0.2]])
B0 = np.array([0.1])


def _data(n=7, seed=3):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 2))
    y = (X[:, :1] - 0.5 * X[:, 1:] > 0).astype(np.float64)
    return X, y


def _linear(w=W0, b=B0, dtype="float64"):
    model = Sequential([Dense(2, 1)], dtype=dtype)
    model.params[...] = np.concatenate([np.ravel(w), np.ravel(b)])
    return model


def _trainer(backend="reference", lr=0.1, **kw):
    return Trainer(_linear(), loss="mse", optimizer="sgd", lr=lr, backend=backend, **kw)


def _hand_step(W, b, X, y, lr, l2=0.0, clip_=None):
    """One SGD step of the linear model on (X, y): (loss, correct, new W, new b)."""
    N = len(X)
    pred = X @ W + b
    d = pred - y
    loss = float(np.sum(d * d) / N)
    correct = int(np.count_nonzero((pred > 0.5) == (y > 0.5)))
    g = 2.0 * d / N
    dW, db = X.T @ g, g.sum(axis=0)
    if l2:
        dW = dW + l2 / N * W
        loss += 0.5 * l2 / N * float(np.sum(W * W))
    if clip_ is not None:
        dW, db = np.clip(dW, *clip_), np.clip(db, *clip_)
    return loss, correct, W - lr * dW, b - lr * db


def _hand_fit(X, y, epochs, lr=0.1, batch=None, seed=None, shuffle=True, l2=0.0, clip_=None):
    """Per-epoch losses and accuracies, and the final (W, b), of the hand loop."""
    W, b = W0.copy(), B0.copy()
    rng = np.random.default_rng(seed)
    N = len(X)
    losses, accs = [], []
    for _ in range(epochs):
        if batch is None or batch >= N:
            loss, correct, W, b = _hand_step(W, b, X, y, lr, l2, clip_)
            losses.append(loss)
            accs.append(correct / N)
            continue
        order = rng.permutation(N) if shuffle else np.arange(N)
        total, hits = 0.0, 0
        for first in range(0, N, batch):
            idx = order[first:first + batch]
            loss, correct, W, b = _hand_step(W, b, X[idx], y[idx], lr, l2, clip_)
            total += loss * len(idx)
            hits += correct
        losses.append(total / N)
        accs.append(hits / N)
    return losses, accs, W, b


def _params(W, b):
    return np.concatenate([np.ravel(W), np.ravel(b)])


# -- numbers: full batch, mini-batches, l2, clip ------------------------------------------------

@pytest.mark.parametrize("backend", ["reference", "numpy"])
@pytest.mark.parametrize("case", [
    dict(),
    dict(batch=3, seed=5),
    dict(batch=3, seed=5, shuffle=False),
    dict(batch=2, seed=9, l2=0.3),
    dict(clip_=(-0.05, 0.02)),
    dict(batch=4, seed=1, clip_=(-0.03, 0.04), l2=0.1),
], ids=["full", "mini", "mini-noshuffle", "mini-l2", "clip", "mini-clip-l2"])
def test_fit_matches_a_hand_loop(backend, case):
    X, y = _data()
    epochs = 4
    kw = {}
    if "clip_" in case:
        kw["clip"] = case["clip_"]
    tr = _trainer(backend, lr=0.2, seed=case.get("seed"), l2=case.get("l2", 0.0), **kw)
    more = {"shuffle": case["shuffle"]} if "shuffle" in case else {}  # default: shuffled
    h = tr.fit(X, y, epochs, batch_size=case.get("batch"), **more)
    losses, accs, W, b = _hand_fit(X, y, epochs, lr=0.2, **case)
    np.testing.assert_allclose(h.loss, losses, rtol=1e-12, atol=0)
    assert h.accuracy == accs
    assert h.epoch == [1, 2, 3, 4] and h.epochs == 4 and tr.epoch == 4
    assert not h.stopped_early and h.interrupted is None
    np.testing.assert_allclose(tr.model.params, _params(W, b), rtol=1e-12, atol=1e-15)
    batches = -(-len(X) // case["batch"]) if case.get("batch") else 1
    assert tr.optimizer.t == epochs * batches
    if case.get("batch"):
        rng = np.random.default_rng(case.get("seed"))
        if case.get("shuffle", True):
            for _ in range(epochs):
                rng.permutation(len(X))
        assert tr._rng.bit_generator.state == rng.bit_generator.state


def test_a_batch_size_at_least_n_is_full_batch():
    X, y = _data()
    tr = _trainer(seed=4)
    state = tr._rng.bit_generator.state
    h = tr.fit(X, y, 3, batch_size=len(X))
    losses, accs, W, b = _hand_fit(X, y, 3, lr=0.1)
    np.testing.assert_allclose(h.loss, losses, rtol=1e-12)
    assert tr.optimizer.t == 3
    assert tr._rng.bit_generator.state == state  # nothing drawn


def test_a_one_dimensional_y_is_a_column_and_fit_resumes_the_count():
    X, y = _data()
    tr = _trainer()
    tr.fit(X, y[:, 0], 2)
    h = tr.fit(X, y[:, 0], 2)
    losses, accs, W, b = _hand_fit(X, y, 4, lr=0.1)
    np.testing.assert_allclose(h.loss, losses[2:], rtol=1e-12)
    assert h.epoch == [3, 4] and tr.epoch == 4


def test_fit_appends_to_a_given_history():
    X, y = _data()
    tr = _trainer()
    h = tr.fit(X, y, 2)
    same = tr.fit(X, y, 1, history=h)
    assert same is h
    assert h.epoch == [1, 2, 3]
    np.testing.assert_allclose(h.loss, _hand_fit(X, y, 3)[0], rtol=1e-12)


def test_step_returns_loss_and_correct_and_updates():
    X, y = _data()
    tr = _trainer(l2=0.5, clip=0.04)
    loss, correct = tr._step(X, y)
    want_loss, want_correct, W, b = _hand_step(W0, B0, X, y, 0.1, 0.5, (-0.04, 0.04))
    assert loss == pytest.approx(want_loss, rel=1e-13)
    assert correct == want_correct
    np.testing.assert_allclose(tr.model.params, _params(W, b), rtol=1e-13)


class _Spy:
    """The reference backend, recording what ``dense_backward`` is asked for."""

    NAME = "reference"

    def __init__(self):
        self.be, self.need_dx = fastnn.backends.get_backend("reference"), []

    def dense_backward(self, x, W, dout, need_dx):
        self.need_dx.append(need_dx)
        return self.be.dense_backward(x, W, dout, need_dx)

    def __getattr__(self, name):
        return getattr(self.be, name)


def test_step_skips_the_input_gradient():
    X, y = _data()
    tr = _trainer()
    tr.backend = spy = _Spy()
    tr.fit(X, y, 2, batch_size=4)
    assert spy.need_dx == [False] * 4


def test_check_data_casts_to_the_model_dtype():
    X, y = _data()
    tr = Trainer(_linear(dtype="float32"), backend="reference")
    Xc, yc = tr._check_data(X, y.astype(np.int64)[:, 0])
    assert Xc.dtype == np.float32 and yc.dtype == np.float32 and yc.shape == (7, 1)
    np.testing.assert_array_equal(yc, y.astype(np.float32))
    assert yc.flags.c_contiguous and Xc.flags.c_contiguous
    Xc, yc = _trainer()._check_data(X[::-1], np.asfortranarray(np.c_[y, y])[:, :1])
    assert yc.dtype == np.float64 and yc.flags.c_contiguous and Xc.flags.c_contiguous


# -- strategies: PerLayer, MiniBatch, epoch_order ---------------------------------------------

def test_per_layer_run_is_one_step():
    calls = []

    def step(X, y):
        calls.append((X, y))
        return 2.5, 3

    X, y = np.zeros((4, 2)), np.zeros((4, 1))
    assert strategies.PerLayer(step).run(X, y, 7, 0.5) == ([2.5], [0.75])
    assert len(calls) == 1 and calls[0][0] is X and calls[0][1] is y


@pytest.mark.parametrize("shuffle", [True, False])
def test_minibatch_run_weights_batches_by_size(shuffle):
    X = np.arange(7.0).reshape(7, 1)
    y = X * 10
    seen = []

    def step(Xb, yb):
        seen.append((Xb[:, 0].tolist(), yb[:, 0].tolist()))
        return float(len(Xb)) + 0.5, 1

    rng = np.random.default_rng(12)
    mb = strategies.MiniBatch(step, 3, shuffle, rng)
    assert (mb.step, mb.batch_size, mb.shuffle, mb.rng) == (step, 3, shuffle, rng)
    losses, accs = mb.run(X, y, 5, None)
    order = np.random.default_rng(12).permutation(7) if shuffle else np.arange(7)
    want = [order[0:3], order[3:6], order[6:7]]
    assert seen == [([float(i) for i in w], [10.0 * i for i in w]) for w in want]
    assert losses == [(3.5 * 3 + 3.5 * 3 + 1.5 * 1) / 7]
    assert accs == [3 / 7]


def test_epoch_order():
    rng = np.random.default_rng(2)
    np.testing.assert_array_equal(strategies.epoch_order(rng, 6, True),
                                  np.random.default_rng(2).permutation(6))
    state = rng.bit_generator.state
    np.testing.assert_array_equal(strategies.epoch_order(rng, 4, False), [0, 1, 2, 3])
    assert rng.bit_generator.state == state


# -- fused_spec and fused ---------------------------------------------------------------------

def test_onecall_spec_of_an_mlp():
    model = MLP([2, 3, 4, 1], activation="tanh", output_activation="sigmoid", seed=0)
    opt = get_optimizer("adam", 0.01)
    spec = strategies.fused_spec(model, "mse", LOSSES["mse"], opt)
    assert spec == FusedSpec(dims=(2, 3, 4, 1), activations=("tanh", "tanh", "sigmoid"),
                             biases=(True, True, True), dtype="float64", slots=2,
                             loss_point=POINTWISE["mse"], coefficients=opt.coefficients,
                             rule=opt.rule, clip=clip, same_side=same_side, softmax=False)


def test_onecall_spec_without_activations_bias_and_softmax():
    model = Sequential([Dense(3, 2, bias=False), Dense(2, 4), Activation("relu"),
                        Dense(4, 3, bias=False)], dtype="float32")
    opt = get_optimizer("sgd", 0.1)
    spec = strategies.fused_spec(model, "softmax_cross_entropy",
                                 LOSSES["softmax_cross_entropy"], opt)
    assert spec.dims == (3, 2, 4, 3)
    assert spec.activations == ("identity", "relu", "identity")
    assert spec.biases == (False, True, False)
    assert spec.dtype == "float32" and spec.slots == 0 and spec.softmax is True
    assert spec.loss_point is SOFTMAX["softmax_cross_entropy"]
    spec = strategies.fused_spec(MLP([2, 1], output_activation="sigmoid"), "bce",
                                 LOSSES["bce"], opt)
    assert spec.loss_point is POINTWISE["bce"] and spec.softmax is False
    assert spec.activations == ("sigmoid",) and spec.dims == (2, 1)


class _OwnStep(SGD):
    def step(self, params, grads):
        super().step(params, grads)


class _Dense2(Dense):
    pass


@pytest.mark.parametrize("what", ["loss_fn", "step", "conv", "activation-first",
                                  "two-activations", "dense-subclass", "flatten"])
def test_onecall_spec_refuses(what):
    model = MLP([2, 3, 1], seed=0)
    loss, loss_fn, opt = "mse", LOSSES["mse"], get_optimizer("sgd", 0.1)
    if what == "loss_fn":
        loss_fn = lambda p, y: LOSSES["mse"](p, y)  # noqa: E731
    elif what == "step":
        opt = _OwnStep(0.1)
    elif what == "conv":
        model = Sequential([Conv2d(1, 1, 1), Flatten(), Dense(4, 1)], input_shape=(1, 2, 2))
    elif what == "activation-first":
        model = Sequential([Activation("tanh"), Dense(2, 1)], input_shape=(2,))
    elif what == "two-activations":
        model = Sequential([Dense(2, 2), Activation("tanh"), Activation("tanh"), Dense(2, 1)])
    elif what == "dense-subclass":
        model = Sequential([_Dense2(2, 1)])
    elif what == "flatten":
        model = Sequential([Dense(2, 2), Flatten(), Dense(2, 1)])
    assert strategies.fused_spec(model, loss, loss_fn, opt) is None


class _Compiled:
    """A scripted stand-in for a backend's compiled step: records each call, returns losses
    ``base + e`` and correct counts ``e % (N + 1)`` for the epochs it runs, stops after
    ``stop`` epochs (when set), or raises ``error``."""

    def __init__(self, stop=None, error=None):
        self.calls, self.stop, self.error = [], stop, error

    def run(self, X, y, epochs, params, grads, state, hyper, t, clip=None,
            target_accuracy=None, batch_size=None, order=None):
        self.calls.append(dict(X=X, y=y, epochs=epochs, params=params, grads=grads,
                               state=state, hyper=hyper, t=t, clip=clip,
                               target=target_accuracy, batch_size=batch_size,
                               order=None if order is None else order.copy()))
        if self.error is not None:
            raise self.error
        ran = epochs if self.stop is None else min(epochs, self.stop)
        return (np.arange(ran, dtype=np.float64) + 0.5,
                np.arange(ran, dtype=np.int64) % (len(X) + 1))


class _Backend:
    NAME = "fake"

    def __init__(self, compiled):
        self.compiled, self.specs = compiled, []

    def fused_trainer(self, spec):
        self.specs.append(spec)
        return self.compiled

    def __getattr__(self, name):  # the per-layer kernels: the reference backend's
        return getattr(fastnn.backends.get_backend("reference"), name)


class _Clock:
    def __init__(self, *times):
        self.times = list(times)

    def __call__(self):
        return self.times.pop(0)


class _Fallback:
    def __init__(self):
        self.calls = []

    def run(self, X, y, epochs, target_accuracy=None):
        self.calls.append((X, y, epochs, target_accuracy))
        return [9.0], [1.0]


def _fused(compiled=None, optimizer="sgd", clip_=None, **opt):
    model = _linear()
    optimizer = get_optimizer(optimizer, 0.1, **opt)
    fb = _Fallback()
    return strategies.Fused(compiled or _Compiled(), model, optimizer, clip_, fb), fb


def test_onecall_init_and_batches():
    compiled = _Compiled()
    f, fb = _fused(compiled, clip_=(-1.0, 2.0))
    assert f.compiled is compiled and f.clip == (-1.0, 2.0) and f.fallback is fb
    assert f.unsupported is False and f.per_epoch == {} and f.batch_size is None
    assert f.shuffle is False and f.rng is None
    rng, other = np.random.default_rng(0), _Fallback()
    assert f.batches(3, True, rng, other) is f
    assert (f.batch_size, f.shuffle, f.rng, f.fallback) == (3, True, rng, other)
    f.batches(None)
    assert (f.batch_size, f.shuffle, f.rng, f.fallback) == (None, False, None, other)


def test_onecall_stretch(monkeypatch):
    f, _ = _fused()
    assert f.stretch(5) == strategies.PROBE_EPOCHS == 10
    f.per_epoch[(5, None)] = 0.01
    assert f.stretch(5) == 25
    assert f.stretch(6) == 10
    f.per_epoch[(5, None)] = 0.1
    assert f.stretch(5) == 2
    f.per_epoch[(5, None)] = 1.0
    assert f.stretch(5) == 1
    f.per_epoch[(5, None)] = 1e-30
    assert f.stretch(5) == 2**62
    f.batch_size = 2
    assert f.stretch(5) == 10
    monkeypatch.setattr(strategies, "STRETCH_SECONDS", math.inf)
    assert f.stretch(5) == 2**62


def test_onecall_full_batch_run(monkeypatch):
    monkeypatch.setattr(strategies.time, "perf_counter", _Clock(1.0, 1.5))
    compiled = _Compiled()
    f, fb = _fused(compiled, "momentum", clip_=(-2.0, 3.0), momentum=0.5)
    f.optimizer.ensure_state(f.model.params)  # (a reset sets t to 0)
    f.optimizer.t = 7
    X, y = _data(6)
    losses, accs = f.run(X, y, 40, 0.75)
    assert losses == [0.5 + e for e in range(10)]
    assert accs == [(e % 7) / 6 for e in range(10)]
    (call,) = compiled.calls
    assert call["epochs"] == 10 and call["batch_size"] is None and call["order"] is None
    assert call["X"] is X and call["y"] is y
    assert call["params"] is f.model.params and call["grads"] is f.model.grads
    assert len(call["state"]) == 1 and call["state"][0] is f.optimizer.state["velocity"]
    assert call["hyper"] == (0.1, 0.5) and call["t"] == 7
    assert call["clip"] == (-2.0, 3.0) and call["target"] == 0.75
    assert f.optimizer.t == 17
    assert f.per_epoch == {(6, None): 0.05}
    assert fb.calls == []


def test_onecall_stretches_follow_the_measured_speed(monkeypatch):
    monkeypatch.setattr(strategies.time, "perf_counter", _Clock(0.0, 0.5, 1.0, 1.5, 2.0, 2.0))
    compiled = _Compiled()
    f, _ = _fused(compiled)
    X, y = _data(6)
    f.run(X, y, 40)
    f.run(X, y, 40)
    assert f.per_epoch == {(6, None): 0.1}
    f.run(X, y, 40)
    assert [c["epochs"] for c in compiled.calls] == [10, 5, 2]


def test_onecall_full_batch_early_stop():
    compiled = _Compiled(stop=2)
    f, _ = _fused(compiled)
    X, y = _data(6)
    losses, accs = f.run(X, y, 5)
    assert losses == [0.5, 1.5] and accs == [0.0, 1 / 6]
    assert f.optimizer.t == 2 and f.rng is None


def test_onecall_run_makes_the_state_contiguous():
    compiled = _Compiled()
    f, _ = _fused(compiled, "adam")
    f.optimizer.ensure_state(f.model.params)
    wide = np.arange(6.0)
    f.optimizer.state["m"] = wide[::2]
    X, y = _data(5)
    f.run(X, y, 1)
    state = compiled.calls[0]["state"]
    assert state[0] is f.optimizer.state["m"] and state[1] is f.optimizer.state["v"]
    assert f.optimizer.state["m"].flags.c_contiguous
    np.testing.assert_array_equal(f.optimizer.state["m"], [0.0, 2.0, 4.0])


def test_onecall_run_times_one_epoch_at_least_a_nanosecond(monkeypatch):
    monkeypatch.setattr(strategies.time, "perf_counter", _Clock(2.0, 2.0))
    f, _ = _fused()
    X, y = _data(5)
    f.run(X, y, 3)
    assert f.per_epoch == {(5, None): 1e-9}


@pytest.mark.parametrize("shuffle", [True, False])
def test_onecall_minibatch_run(monkeypatch, shuffle):
    monkeypatch.setattr(strategies.time, "perf_counter", _Clock(0.0, 0.8))
    monkeypatch.setattr(strategies, "MAX_ORDER_ENTRIES", 7 * 4 + 3)
    compiled = _Compiled()
    f, _ = _fused(compiled)
    rng = np.random.default_rng(21)
    fb = _Fallback()
    f.batches(3, shuffle, rng, fb)
    X, y = _data(7)
    losses, accs = f.run(X, y, 40, None)
    assert losses == [0.5, 1.5, 2.5, 3.5]
    (call,) = compiled.calls
    assert call["epochs"] == 4 and call["batch_size"] == 3
    mirror = np.random.default_rng(21)
    if shuffle:
        want = np.stack([mirror.permutation(7) for _ in range(4)])
    else:
        want = np.arange(7)[None, :]
    np.testing.assert_array_equal(call["order"], want)
    assert call["order"].shape == want.shape
    assert rng.bit_generator.state == mirror.bit_generator.state
    assert f.optimizer.t == 4 * 3
    assert f.per_epoch == {(7, 3): 0.2}


def test_onecall_minibatch_run_draws_at_least_one_epoch(monkeypatch):
    monkeypatch.setattr(strategies, "MAX_ORDER_ENTRIES", 5)
    compiled = _Compiled()
    f, _ = _fused(compiled)
    f.batches(2, True, np.random.default_rng(0), _Fallback())
    X, y = _data(7)
    f.run(X, y, 9)
    assert compiled.calls[0]["epochs"] == 1
    assert compiled.calls[0]["order"].shape == (1, 7)
    assert f.optimizer.t == 4


def test_onecall_batch_of_n_or_more_is_full_batch():
    compiled = _Compiled(stop=2)  # stopped early: still nothing drawn
    f, _ = _fused(compiled)
    rng = np.random.default_rng(0)
    state = rng.bit_generator.state
    f.batches(7, True, rng, _Fallback())
    X, y = _data(7)
    f.run(X, y, 3)
    call = compiled.calls[0]
    assert call["batch_size"] is None and call["order"] is None and call["epochs"] == 3
    assert f.optimizer.t == 2
    assert rng.bit_generator.state == state
    assert f._orders(7, 2) is None
    f.batch_size = None
    assert f._orders(7, 2) is None


def test_onecall_early_stop_undraws_the_epochs_not_run():
    compiled = _Compiled(stop=2)
    f, _ = _fused(compiled)
    rng = np.random.default_rng(8)
    f.batches(3, True, rng, _Fallback())
    X, y = _data(7)
    losses, _ = f.run(X, y, 5)
    assert losses == [0.5, 1.5]
    mirror = np.random.default_rng(8)
    orders = [mirror.permutation(7) for _ in range(2)]
    assert rng.bit_generator.state == mirror.bit_generator.state
    np.testing.assert_array_equal(compiled.calls[0]["order"][:2], orders)
    assert f.optimizer.t == 2 * 3


def test_onecall_unsupported_falls_back_and_undraws(caplog):
    compiled = _Compiled(error=FusedUnsupported("no can do"))
    f, _ = _fused(compiled)
    rng = np.random.default_rng(8)
    state = rng.bit_generator.state
    fb = _Fallback()
    f.batches(3, True, rng, fb)
    X, y = _data(7)
    with caplog.at_level(logging.WARNING, logger="fastnn"):
        assert f.run(X, y, 5, 0.5) == ([9.0], [1.0])
    assert [r.getMessage() for r in caplog.records] == [
        "no can do; training with the per-layer kernels instead"]
    assert caplog.records[0].levelno == logging.WARNING
    assert f.unsupported is True
    assert rng.bit_generator.state == state
    assert fb.calls == [(X, y, 5, 0.5)]
    assert f.optimizer.t == 0
    f.run(X, y, 2, 0.25)  # from now on straight to the fallback
    assert len(compiled.calls) == 1 and fb.calls[-1] == (X, y, 2, 0.25)


def test_onecall_other_errors_are_raised_after_undrawing():
    f, fb = _fused(_Compiled(error=KeyError("boom")))
    rng = np.random.default_rng(8)
    state = rng.bit_generator.state
    f.batches(3, True, rng)
    assert f.fallback is fb
    X, y = _data(7)
    with pytest.raises(KeyError, match="boom"):
        f.run(X, y, 5)
    assert rng.bit_generator.state == state and f.unsupported is False and fb.calls == []


def test_onecall_hook_builds_from_the_spec():
    compiled = _Compiled()
    be = _Backend(compiled)
    model = MLP([2, 3, 1], seed=0)
    opt, fb = get_optimizer("sgd", 0.1), _Fallback()
    f = strategies.fused(be, model, "mse", LOSSES["mse"], opt, (-1.0, 1.0), fb)
    assert isinstance(f, strategies.Fused)
    assert f.compiled is compiled and f.model is model and f.optimizer is opt
    assert f.clip == (-1.0, 1.0) and f.fallback is fb
    assert be.specs == [strategies.fused_spec(model, "mse", LOSSES["mse"], opt)]
    assert strategies.fused(_Backend(None), model, "mse", LOSSES["mse"], opt, None, fb) is None
    assert strategies.fused(fastnn.backends.get_backend("numpy"), model, "mse", LOSSES["mse"],
                            opt, None, fb) is None
    nobe = _Backend(compiled)
    assert strategies.fused(nobe, model, "mse", LOSSES["mse"], _OwnStep(0.1), None, fb) is None
    assert nobe.specs == []


# -- the trainer's choice of strategy ---------------------------------------------------------

def test_trainer_builds_the_onecall_strategy_once_per_setting():
    tr = _trainer()
    compiled = _Compiled()
    tr.backend = be = _Backend(compiled)
    f = tr._fused()
    assert isinstance(f, strategies.Fused) and f.compiled is compiled
    assert f.fallback is tr._per_layer and f.model is tr.model and f.optimizer is tr.optimizer
    assert tr._fused() is f and len(be.specs) == 1
    tr.optimizer = get_optimizer("sgd", 0.2)
    g = tr._fused()
    assert g is not f and len(be.specs) == 2 and g.optimizer is tr.optimizer
    tr.l2 = 0.5
    assert tr._fused() is None
    tr.l2 = 0.0
    g.unsupported = True
    assert tr._fused() is None
    assert len(be.specs) == 2


@pytest.mark.parametrize("what", ["backend", "model", "loss", "loss_fn", "clip"])
def test_trainer_rebuilds_the_onecall_strategy_when_a_setting_changes(what):
    tr = _trainer()
    tr.backend = be = _Backend(_Compiled())
    f = tr._fused()
    if what == "backend":
        tr.backend = be = _Backend(_Compiled())
    elif what == "model":
        tr.model = _linear()
    elif what == "loss":
        tr.loss = "bce"
    elif what == "loss_fn":
        tr.loss_fn = lambda p, y: LOSSES["mse"](p, y)  # noqa: E731
    else:
        tr.clip = (-1.0, 1.0)
    g = tr._fused()
    # a new backend builds its own; a loss the step cannot fuse builds none
    assert len(be.specs) == (2 if what in ("model", "clip") else 1)
    assert g is not f
    assert (g is None) is (what in ("loss", "loss_fn"))


def test_trainer_strategy_choice():
    tr = _trainer(seed=3)
    s = tr._strategy(7, 3, False)
    assert isinstance(s, strategies.MiniBatch)
    assert (s.batch_size, s.shuffle, s.rng) == (3, False, tr._rng)
    assert s.step == tr._step
    assert tr._strategy(7, 7, True) is tr._per_layer
    assert tr._strategy(7, None, True) is tr._per_layer
    tr.backend = _Backend(_Compiled())
    f = tr._strategy(7, 3, True)
    assert isinstance(f, strategies.Fused)
    assert (f.batch_size, f.shuffle, f.rng) == (3, True, tr._rng)
    assert isinstance(f.fallback, strategies.MiniBatch)
    assert (f.fallback.batch_size, f.fallback.shuffle, f.fallback.rng) == (3, True, tr._rng)
    assert tr._strategy(7, 8, True) is f
    assert (f.batch_size, f.shuffle, f.rng, f.fallback) == (None, False, None, tr._per_layer)


def test_fit_with_a_onecall_backend_counts_and_records(monkeypatch):
    monkeypatch.setattr(strategies.time, "perf_counter", _Clock(0.0, 0.05, 1.0, 1.1))
    tr = _trainer()
    compiled = _Compiled()
    tr.backend = _Backend(compiled)
    X, y = _data(6)
    h = tr.fit(X, y, 12, target_accuracy=1.0)
    assert [c["epochs"] for c in compiled.calls] == [10, 2]
    assert [c["target"] for c in compiled.calls] == [1.0, 1.0]
    assert h.epoch == list(range(1, 13)) and tr.epoch == 12
    assert h.loss == [0.5 + e for e in range(10)] + [0.5, 1.5]


def test_fit_with_a_onecall_backend_stops_stretches_at_observed_epochs():
    tr = _trainer()
    compiled = _Compiled()
    tr.backend = _Backend(compiled)
    X, y = _data(6)
    lines = []
    tr.fit(X, y, 9, log_every=4, log=lines.append)
    assert [c["epochs"] for c in compiled.calls] == [4, 4, 1]
    assert lines == ["epoch 4/9 loss=3.5 accuracy=50.00%", "epoch 8/9 loss=3.5 accuracy=50.00%"]


# -- fit's plumbing: logs, checkpoints, fresh data, validation, target, progress, signals -------

def test_fit_logs_every_k_epochs_with_validation():
    X, y = _data()
    Xv, yv = _data(5, seed=8)
    tr = _trainer()
    lines = []
    h = tr.fit(X, y, 5, log_every=2, log=lines.append, val_data=(Xv, yv))
    losses, accs, _, _ = _hand_fit(X, y, 5)
    W, b = W0.copy(), B0.copy()
    vals = []
    for _ in range(5):
        _, _, W, b = _hand_step(W, b, X, y, 0.1)
        pred = Xv @ W + b
        vals.append((float(np.mean((pred - yv) ** 2)),
                     np.count_nonzero((pred > 0.5) == (yv > 0.5)) / 5))
    np.testing.assert_allclose(h.val_loss, [v[0] for v in vals], rtol=1e-12)
    assert h.val_accuracy == [v[1] for v in vals]
    want = [f"epoch {e}/5 loss={losses[e - 1]:.6g} accuracy={accs[e - 1]:.2%} "
            f"val_loss={vals[e - 1][0]:.6g} val_accuracy={vals[e - 1][1]:.2%}" for e in (2, 4)]
    assert lines == want


def test_fit_logs_to_the_fastnn_logger_by_default(caplog):
    X, y = _data()
    tr = _trainer()
    with caplog.at_level(logging.INFO, logger="fastnn"):
        tr.fit(X, y, 3, log_every=3)
    losses, accs, _, _ = _hand_fit(X, y, 3)
    assert [r.getMessage() for r in caplog.records] == [
        f"epoch 3/3 loss={losses[2]:.6g} accuracy={accs[2]:.2%}"]
    assert caplog.records[0].levelno == logging.INFO


def test_fit_without_log_every_logs_nothing(caplog):
    X, y = _data()
    lines = []
    with caplog.at_level(logging.DEBUG, logger="fastnn"):
        _trainer().fit(X, y, 3, log=lines.append)
    assert lines == [] and caplog.records == []


def test_fit_calls_on_checkpoint_every_k_epochs():
    X, y = _data()
    tr = _trainer()
    seen = []
    tr.fit(X, y, 2)

    def on_checkpoint(t, h):
        seen.append((t, t.epoch, list(h.epoch)))

    h = tr.fit(X, y, 7, checkpoint_every=3, on_checkpoint=on_checkpoint)
    assert [s[1:] for s in seen] == [(3, [3]), (6, [3, 4, 5, 6]), (9, list(range(3, 10)))]
    assert all(s[0] is tr for s in seen)
    assert h.epoch == list(range(3, 10))
    tr.fit(X, y, 3, checkpoint_every=1)  # no callback: nothing to call


def test_fit_draws_fresh_data_every_epoch_after_the_first():
    X, y = _data()
    X2, y2 = _data(9, seed=4)
    asked = []

    def fresh(epoch):
        asked.append(epoch)
        return (X2, y2[:, 0]) if epoch % 2 else (X, y)

    tr = _trainer()
    h = tr.fit(X, y, 4, batch_size=4, shuffle=False, fresh_data=fresh)
    assert asked == [2, 3, 4]
    # hand loop over the data of each epoch
    W, b = W0.copy(), B0.copy()
    losses = []
    for Xe, ye in ((X, y), (X, y), (X2, y2), (X, y)):
        total = 0.0
        for first in range(0, len(Xe), 4):
            loss, _, W, b = _hand_step(W, b, Xe[first:first + 4], ye[first:first + 4], 0.1)
            total += loss * len(Xe[first:first + 4])
        losses.append(total / len(Xe))
    np.testing.assert_allclose(h.loss, losses, rtol=1e-12)
    h = tr.fit(X, y, 1, fresh_data=fresh)
    assert asked[-1] == 5


@pytest.mark.parametrize("target, epochs, ran, early", [
    (0.5, 6, 1, True), (0.85, 6, 3, True), (0.85, 3, 3, False), (1, 6, 3, True),
    (4 / 7, 6, 1, True)])
def test_fit_stops_at_the_target_accuracy(target, epochs, ran, early):
    X, y = _data()
    accs = _hand_fit(X, y, 6, lr=0.5)[1]
    assert accs[:3] == [4 / 7, 4 / 7, 1.0]  # the data the table is for
    tr = _trainer(lr=0.5)
    h = tr.fit(X, y, epochs, target_accuracy=target)
    assert h.epochs == ran and tr.epoch == ran and h.stopped_early is early


def test_fit_target_accuracy_one_is_allowed():
    X, y = _data()
    h = _trainer().fit(X, y, 2, target_accuracy=1)
    assert h.epochs == 2 and not h.stopped_early


class _Bar:
    made = []

    def __init__(self, total):
        self.total, self.updates, self.tick = total, [], 3
        self.entered = self.exited = False
        _Bar.made.append(self)

    def update(self, n):
        self.updates.append(n)

    def __enter__(self):
        self.entered = True
        return self

    def __exit__(self, *exc):
        self.exited = True


def test_fit_progress_bar(monkeypatch):
    monkeypatch.setattr(T, "Progress", _Bar)
    _Bar.made = []
    X, y = _data()
    tr = _trainer()
    tr.backend = _Backend(_Compiled())
    tr.fit(X, y, 7, progress=True)
    (bar,) = _Bar.made
    assert bar.total == 7 and bar.updates == [3, 3, 1] and bar.entered and bar.exited
    tr.fit(X, y, 3, progress=False)
    assert len(_Bar.made) == 1


class _Tty:
    def __init__(self, tty):
        self.tty = tty

    def isatty(self):
        return self.tty

    def write(self, s):
        return len(s)

    def flush(self):
        pass


@pytest.mark.parametrize("epochs, tty, bar", [(2000, True, True), (1999, True, False),
                                              (2000, False, False)])
def test_fit_progress_default(monkeypatch, epochs, tty, bar):
    monkeypatch.setattr(T, "Progress", _Bar)
    monkeypatch.setattr(sys, "stderr", _Tty(tty))
    _Bar.made = []
    tr = _trainer()
    tr.backend = _Backend(_Compiled())
    X, y = _data()
    tr.fit(X, y, epochs)
    assert len(_Bar.made) == int(bar)
    assert T.PROGRESS_MIN_EPOCHS == 2000


def test_fit_stops_after_the_epoch_a_signal_came_in():
    X, y = _data()
    tr = _trainer()

    def log(line):
        if line.startswith("epoch 2/"):
            os.kill(os.getpid(), signal.SIGINT)

    h = tr.fit(X, y, 6, log_every=1, log=log)
    assert h.interrupted == "SIGINT" and h.epochs == 2 and tr.epoch == 2
    np.testing.assert_allclose(h.loss, _hand_fit(X, y, 2)[0], rtol=1e-12)


def test_fit_without_observers_runs_onecall_stretches_to_the_end(monkeypatch):
    monkeypatch.setattr(strategies, "STRETCH_SECONDS", math.inf)
    tr = _trainer()
    compiled = _Compiled()
    tr.backend = _Backend(compiled)
    X, y = _data()
    tr.fit(X, y, 30)
    assert [c["epochs"] for c in compiled.calls] == [30]
    tr.fit(X, y, 5, fresh_data=lambda e: (X, y))
    assert [c["epochs"] for c in compiled.calls][1:] == [1] * 5
    h = tr.fit(X, y, 4, val_data=(X, y))
    assert [c["epochs"] for c in compiled.calls][6:] == [1] * 4
    assert len(h.val_loss) == 4 and h.epoch == [36, 37, 38, 39]


# -- divergence -------------------------------------------------------------------------------

def test_check_diverged_names_the_first_bad_loss():
    tr = _trainer()
    tr.epoch = 9
    with pytest.raises(DivergenceError) as e:
        tr._check_diverged([0.5, 1.0, math.inf, math.nan])
    assert str(e.value) == ("training diverged: the loss became inf at epoch 8; try a lower "
                            "learning rate (now 0.1) or clipping the gradients")
    assert e.value.epoch == 8
    assert isinstance(e.value, FloatingPointError)
    tr.epoch = 3
    with pytest.raises(DivergenceError) as e:
        tr._check_diverged([math.nan])
    assert str(e.value).startswith("training diverged: the loss became nan at epoch 3;")
    tr._check_diverged([0.0, 1e300, 1e300])  # an overflowing sum of finite losses is fine


def test_check_diverged_checks_the_weights():
    tr = _trainer(clip=1.0, lr=0.25)
    tr.epoch = 4
    tr.model.params[1] = math.inf
    with pytest.raises(DivergenceError) as e:
        tr._check_diverged([1.0])
    assert str(e.value) == ("training diverged: the weights became non-finite in the update "
                            "of epoch 4; try a lower learning rate (now 0.25)")
    assert e.value.epoch == 4
    tr.model.params[1] = 1e200  # a finite weight whose square overflows
    with np.errstate(over="ignore"):
        tr._check_diverged([1.0])


def test_check_state_and_the_end_of_fit():
    X, y = _data()
    tr = Trainer(_linear(), optimizer="adam", lr=0.5, backend="reference")
    tr.fit(X, y, 2)
    tr.optimizer.state["v"][2] = math.nan
    with pytest.raises(DivergenceError) as e:
        tr._check_state()
    assert str(e.value) == ("training diverged: the optimizer's v became non-finite by epoch "
                            "2; try a lower learning rate (now 0.5) or clipping the gradients")
    assert e.value.epoch == 2


def test_fit_raises_on_a_loss_that_overflows():
    X, y = _data()
    X = X * 1e120
    tr = _trainer(lr=1.0)
    with pytest.raises(DivergenceError) as e:
        tr.fit(X, y, 5)
    assert e.value.epoch == 2
    assert str(e.value) == ("training diverged: the loss became inf at epoch 2; try a lower "
                            "learning rate (now 1) or clipping the gradients")


def test_fit_raises_on_a_non_finite_validation_loss():
    X, y = _data()
    tr = _trainer(lr=1.0)
    Xv = X * 1e200
    with pytest.raises(DivergenceError) as e:
        tr.fit(X, y, 3, val_data=(Xv, y))
    assert e.value.epoch == 1
    assert str(e.value) == ("training diverged: the validation loss became inf after epoch 1; "
                            "try a lower learning rate (now 1) or clipping the gradients")


def test_fit_checks_the_optimizer_state_before_a_checkpoint():
    # Adam's v at inf leaves the weights finite (m / sqrt(inf) = 0): only the state check sees it
    X, y = _data()
    tr = Trainer(_linear(), optimizer="adam", lr=0.1, backend="reference")
    called = []

    def on_checkpoint(t, h):
        called.append(t.epoch)
        t.optimizer.state["v"][0] = math.inf

    with pytest.raises(DivergenceError) as e:
        tr.fit(X, y, 6, checkpoint_every=2, on_checkpoint=on_checkpoint)
    assert called == [2] and e.value.epoch == 4 and tr.epoch == 4
    assert str(e.value) == ("training diverged: the optimizer's v became non-finite by epoch "
                            "4; try a lower learning rate (now 0.1) or clipping the gradients")
    assert np.isfinite(tr.model.params).all()


def test_fit_checks_the_optimizer_state_at_the_end():
    X, y = _data()
    tr = Trainer(_linear(), optimizer="adam", lr=0.1, backend="reference")

    def log(line):
        tr.optimizer.state["v"][1] = math.inf

    with pytest.raises(DivergenceError) as e:
        tr.fit(X, y, 3, log_every=3, log=log)
    assert e.value.epoch == 3 and "the optimizer's v became non-finite by epoch 3" in str(e.value)


def test_divergence_error_init():
    e = DivergenceError("msg", 5)
    assert str(e) == "msg" and e.epoch == 5 and e.args == ("msg",)


# -- validation messages ----------------------------------------------------------------------

@pytest.mark.parametrize("kw, message", [
    (dict(epochs=0), "epochs must be a positive integer, got 0"),
    (dict(epochs=2.0), "epochs must be a positive integer, got 2.0"),
    (dict(batch_size=0), "batch size must be a positive integer, got 0"),
    (dict(batch_size=1.5), "batch size must be a positive integer, got 1.5"),
    (dict(target_accuracy=0), "target accuracy must be a number in (0, 1], got 0"),
    (dict(target_accuracy=1.5), "target accuracy must be a number in (0, 1], got 1.5"),
    (dict(log_every=0), "log_every must be a positive integer, got 0"),
    (dict(checkpoint_every=-1), "checkpoint_every must be a positive integer, got -1"),
    (dict(X=np.zeros((3, 3))), "X has shape (3, 3); the model takes (N, 2)"),
    (dict(X=np.zeros(3)), "X has shape (3,); the model takes (N, 2)"),
    (dict(X=np.zeros((3, 2, 1))), "X has shape (3, 2, 1); the model takes (N, 2)"),
    (dict(X=np.zeros((0, 2))), "X has no rows"),
    (dict(y=np.zeros((7, 2))), "y has shape (7, 2), but X has 7 rows and the model gives "
                               "(1,): y must be (7, 1)"),
    (dict(y=np.zeros(6)), "y has shape (6, 1), but X has 7 rows and the model gives (1,): "
                          "y must be (7, 1)"),
    (dict(val_data=(np.zeros((2, 2)), np.zeros(3))),
     "y has shape (3, 1), but X has 2 rows and the model gives (1,): y must be (2, 1)"),
    (dict(X="nan"), "X has shape (); the model takes (N, 2)"),
])
def test_fit_messages(kw, message):
    X, y = _data()
    args = dict(X=X, y=y, epochs=2)
    args.update(kw)
    with pytest.raises(ValueError, match="^" + re.escape(message) + "$"):
        _trainer().fit(args.pop("X"), args.pop("y"), **args)


def test_fit_refuses_non_finite_data():
    X, y = _data()
    X[2, 1] = math.nan
    with pytest.raises(ValueError, match="^X "):
        _trainer().fit(X, y, 1)
    X, y = _data()
    y[1, 0] = math.inf
    with pytest.raises(ValueError, match="^y "):
        _trainer().fit(X, y, 1)


def test_conv_model_shape_message():
    model = Sequential([Conv2d(1, 1, 1), Flatten(), Dense(4, 1)], input_shape=(1, 2, 2))
    tr = Trainer(model, backend="reference")
    with pytest.raises(ValueError, match=re.escape("X has shape (3, 4); the model takes "
                                                   "(N, 1, 2, 2)") + "$"):
        tr.predict(np.zeros((3, 4)))
    with pytest.raises(ValueError, match=re.escape("X has shape (3, 1, 2, 3); the model takes "
                                                   "(N, 1, 2, 2)") + "$"):
        tr.predict(np.zeros((3, 1, 2, 3)))


@pytest.mark.parametrize("loss, out, message", [
    ("softmax_cross_entropy", "sigmoid",
     "softmax_cross_entropy over one output unit cannot learn: the softmax of one number is "
     "always 1, so its gradient is always 0; use the bce loss with a sigmoid output activation"),
    ("bce", "tanh",
     "bce needs outputs in (0, 1), probabilities, and the tanh output activation does not give "
     "them: the loss is clipped and its gradient misleads; use a sigmoid output activation"),
    ("bce", None,
     "bce needs outputs in (0, 1), probabilities, and the identity output activation does not "
     "give them: the loss is clipped and its gradient misleads; use a sigmoid output "
     "activation"),
])
def test_unlearnable_messages(loss, out, message):
    layers = [Dense(2, 1)] + ([Activation(out)] if out else [])
    with pytest.raises(ValueError, match="^" + re.escape(message) + "$"):
        Trainer(Sequential(layers), loss=loss)


def test_output_activation():
    oa = T._output_activation
    assert oa(Sequential([Dense(2, 2), Activation("relu")])) == "relu"
    assert oa(Sequential([Dense(2, 2), Activation("relu"), Dense(2, 1)])) == "identity"
    assert oa(Sequential([Dense(2, 2), Activation("tanh"), Flatten()])) == "tanh"
    assert oa(Sequential([Flatten()], input_shape=(2,))) == "identity"
    assert oa(Sequential([Activation("relu"), Dense(2, 2), Flatten()], input_shape=(2,))) \
        == "identity"


# -- the trainer's settings ---------------------------------------------------------------------

def test_trainer_settings():
    model = _linear()
    tr = Trainer(model, loss="bce" if False else "mse", optimizer="momentum", lr=0.3,
                 backend="reference", clip=2, l2=1, seed=np.int64(5), threads=1, momentum=0.7)
    assert tr.model is model and tr.backend is fastnn.backends.get_backend("reference")
    assert tr.loss == "mse" and tr.loss_fn is LOSSES["mse"]
    assert tr.optimizer.name == "momentum" and tr.optimizer.hyperparams() == {
        "lr": 0.3, "momentum": 0.7}
    assert tr.clip == (-2.0, 2.0)
    assert tr.l2 == 1.0 and type(tr.l2) is float
    assert tr.seed == 5 and type(tr.seed) is int
    assert tr.threads == 1
    assert tr._rng.bit_generator.state == np.random.default_rng(5).bit_generator.state
    assert tr._fused_for is None and tr._fused_strategy is None and tr.epoch == 0
    assert isinstance(tr._per_layer, strategies.PerLayer)
    opt = SGD(0.5)
    tr = Trainer(_linear(), optimizer=opt)
    assert tr.optimizer is opt and tr.backend is fastnn.backends.get_backend("numpy")
    assert tr.seed is None and tr.threads is None and tr.clip is None and tr.l2 == 0.0
    assert tr.loss == "mse" and tr.optimizer.lr == 0.5
    assert Trainer(_linear()).optimizer.name == "sgd" and Trainer(_linear()).optimizer.lr == 0.1
    assert Trainer(_linear(), seed=7).seed == 7


@pytest.mark.parametrize("kw, message", [
    (dict(l2=-0.5), "l2 penalty must be a number in [0, inf), got -0.5"),
    (dict(l2=math.inf), "l2 penalty must be a number in [0, inf), got inf"),
    (dict(loss="mae"), "unknown loss 'mae'; choose from: mse, bce, softmax_cross_entropy"),
])
def test_trainer_messages(kw, message):
    with pytest.raises(ValueError, match="^" + re.escape(message) + "$"):
        Trainer(_linear(), **kw)


def test_per_layer_strategy_calls_the_current_step():
    tr = _trainer()
    calls = []
    tr._step = lambda X, y: calls.append(len(X)) or (1.0, 2)
    assert tr._per_layer.run(np.zeros((4, 2)), np.zeros((4, 1)), 1) == ([1.0], [0.5])
    assert calls == [4]


def test_pickle_keeps_settings_and_trains_the_same():
    X, y = _data()
    tr = _trainer(seed=3)
    tr.fit(X, y, 2, batch_size=3)
    tr.backend = _Backend(_Compiled())
    built = tr._fused()
    state = tr.__getstate__()
    assert state["backend"] == "fake"
    assert "_per_layer" not in state
    assert state["_fused_for"] is None and state["_fused_strategy"] is None
    assert tr._fused_strategy is built and tr._fused_for is not None  # the trainer keeps its own
    assert isinstance(tr._per_layer, strategies.PerLayer)
    tr.backend = fastnn.backends.get_backend("numpy")
    tr._fused()
    copy = pickle.loads(pickle.dumps(tr))
    assert copy.backend is fastnn.backends.get_backend("numpy")
    assert copy._fused_for is None and copy._fused_strategy is None
    assert copy.epoch == 2 and copy.seed == 3
    h1, h2 = tr.fit(X, y, 2, batch_size=3), copy.fit(X, y, 2, batch_size=3)
    assert h1.loss == h2.loss
    want = _hand_fit(X, y, 4, batch=3, seed=3)[0][2:]
    np.testing.assert_allclose(h2.loss, want, rtol=1e-12)
    loss, _ = copy._per_layer.run(X, y, 1)
    assert copy.epoch == 4 and loss != h2.loss  # the per-layer step trains the copy


# -- predict, evaluate, memory ----------------------------------------------------------------

def test_predict_and_evaluate_in_chunks(monkeypatch):
    X, y = _data(8)
    tr = _trainer()
    pred = X @ W0 + B0
    np.testing.assert_allclose(tr.predict(X), pred, rtol=1e-14)
    monkeypatch.setattr(T, "PREDICT_CHUNK", 3)
    calls = []
    real = tr.model.forward
    tr.model.forward = lambda be, x: calls.append(len(x)) or real(be, x)
    np.testing.assert_allclose(tr.predict(X), pred, rtol=1e-14)
    assert calls == [3, 3, 2]
    calls.clear()
    np.testing.assert_allclose(tr.predict(X[:3]), pred[:3], rtol=1e-14)
    assert calls == [3]
    calls.clear()
    loss, acc = tr.evaluate(X, y)
    assert calls == [3, 3, 2]
    assert loss == pytest.approx(float(np.mean((pred - y) ** 2)), rel=1e-13)
    assert acc == np.count_nonzero((pred > 0.5) == (y > 0.5)) / 8


def test_evaluate_of_a_diverged_model_is_not_finite():
    X, y = _data()
    tr = _trainer()
    tr.model.params[0] = 1e200
    loss, acc = tr.evaluate(X * 1e200, y)
    assert math.isinf(loss)
    tr.model.params[0] = math.inf
    loss, acc = tr.evaluate(X, y)
    assert math.isnan(loss) or math.isinf(loss)


def test_predict_and_evaluate_say_nothing_of_overflows(monkeypatch):
    X, y = _data()
    tr = _trainer()
    tr.model.params[0] = 1e300
    with np.errstate(all="raise"):
        pred = tr.predict(X * 1e10)
        assert np.isinf(pred).any()
        monkeypatch.setattr(T, "PREDICT_CHUNK", 2)
        np.testing.assert_array_equal(tr.predict(X * 1e10), pred)
        monkeypatch.setattr(T, "PREDICT_CHUNK", 65536)
        tr.model.params[0] = 1e200
        loss, acc = tr.evaluate(X, y)  # (pred - y)^2 overflows in the loss
        assert loss == math.inf
    model = Sequential([Dense(2, 2)])
    model.params[...] = [math.inf, 0.0, 0.0, 0.0, 0.0, 0.0]
    sm = Trainer(model, loss="softmax_cross_entropy", backend="reference")
    with np.errstate(all="raise"):
        loss, acc = sm.evaluate(np.ones((3, 2)), np.eye(2)[[0, 1, 0]])  # inf - inf in the loss
    assert math.isnan(loss)


def test_predict_refuses_non_finite_x():
    X, _ = _data()
    X[0, 0] = math.inf
    with pytest.raises(ValueError, match="^X "):
        _trainer().predict(X)


@pytest.mark.parametrize("how", ["train", "train-batch", "train-float32", "predict",
                                 "predict-strided", "predict-big", "evaluate"])
def test_memory_checks(monkeypatch, how):
    seen = []
    monkeypatch.setattr(T, "check_fits", lambda need, what: seen.append((need, what)))
    X, y = _data(10)
    tr = Trainer(_linear(), optimizer="adam", backend="reference")
    fp = tr.model.footprint
    assert (fp.params, fp.itemsize) == (3, 8)
    per = fp.per_sample
    if how == "train":
        tr.fit(X, y, 1)
        want = (8 * (3 * 2 + per * 10 * 2), "training on batches of 10 rows (a model of 3 "
                "parameters)")
    elif how == "train-batch":
        tr.fit(X, y, 1, batch_size=4)
        want = (8 * (3 * 2 + per * 4 * 2), "training on batches of 4 rows (a model of 3 "
                "parameters)")
    elif how == "train-float32":
        tr.fit(X.astype(np.float32), y, 1, batch_size=40)
        want = (8 * (3 * 2 + per * 10 * 2) + 8 * 20, "training on batches of 10 rows (a "
                "model of 3 parameters)")
    elif how == "predict":
        tr.predict(X)
        want = (8 * (per * 10) + 8 * 10, "running the model on 10 rows (a model of 3 "
                "parameters)")
    elif how == "predict-strided":
        tr.predict(np.zeros((10, 4))[:, ::2])
        want = (8 * (per * 10) + 8 * 20 + 8 * 10, "running the model on 10 rows (a model of 3 "
                "parameters)")
    elif how == "evaluate":
        tr.evaluate(X, y)
        want = (8 * (per * 10) + 8 * 10, "running the model on 10 rows (a model of 3 "
                "parameters)")
    else:
        monkeypatch.setattr(T, "PREDICT_CHUNK", 4)
        Xb = np.zeros((1234, 2))
        tr.predict(Xb)
        want = (8 * (per * 4) + 8 * 1234, "running the model on 1,234 rows (a model of 3 "
                "parameters)")
    assert seen[0] == want


def test_memory_check_of_wide_outputs(monkeypatch):
    seen = []
    monkeypatch.setattr(T, "check_fits", lambda need, what: seen.append(need))
    tr = Trainer(Sequential([Dense(2, 3)]), backend="reference")
    fp = tr.model.footprint
    assert (fp.params, fp.per_sample, fp.itemsize) == (9, 5, 8)
    tr.predict(np.zeros((4, 2)))
    assert seen == [8 * (5 * 4) + 4 * 3 * 8]


def test_memory_message_with_thousands(monkeypatch):
    seen = []
    monkeypatch.setattr(T, "check_fits", lambda need, what: seen.append(what))
    tr = Trainer(Sequential([Dense(2, 1000), Dense(1000, 1)]), backend="reference")
    tr._check_memory(np.zeros((2000, 2)), 1500, True)
    assert seen == ["training on batches of 1,500 rows (a model of 4,001 parameters)"]


# -- restore ----------------------------------------------------------------------------------

def _ckpt(tr, **change):
    """A Checkpoint of trainer ``tr`` as :func:`fastnn.io.checkpoint.load` gives it."""
    model = Sequential([Dense(2, 1)])
    model.params[...] = tr.model.params
    opt = tr.optimizer
    ck = Checkpoint(model=model,
                    optimizer={"name": opt.name, "hyperparams": opt.hyperparams(), "t": opt.t},
                    optimizer_state={k: v.copy() for k, v in opt.state.items()},
                    trainer={"loss": tr.loss, "clip": None if tr.clip is None else
                             list(tr.clip), "seed": tr.seed,
                             "rng": tr._rng.bit_generator.state, "l2": tr.l2},
                    epoch=tr.epoch)
    for k, v in change.items():
        setattr(ck, k, v)
    return ck


def test_restore_continues_the_run_exactly():
    X, y = _data()
    tr = Trainer(_linear(), optimizer="momentum", lr=0.1, momentum=0.5, backend="reference",
                 seed=4, clip=(-1, 2), l2=0.25)
    tr.fit(X, y, 3, batch_size=3)
    ck = _ckpt(tr)
    h1 = tr.fit(X, y, 2, batch_size=3)
    other = Trainer(Sequential([Dense(2, 1)]), optimizer="momentum", lr=0.1, momentum=0.5,
                    backend="reference", seed=99, clip=(-1, 2), l2=0.25)
    other.restore(ck)
    assert other.epoch == 3 and other.optimizer.t == 9
    np.testing.assert_array_equal(other.optimizer.state["velocity"],
                                  ck.optimizer_state["velocity"])
    assert other.optimizer.state["velocity"] is not ck.optimizer_state["velocity"]
    assert other._rng.bit_generator.state == ck.trainer["rng"]
    h2 = other.fit(X, y, 2, batch_size=3)
    assert h1.loss == h2.loss and h2.epoch == [4, 5]
    np.testing.assert_array_equal(other.model.params, tr.model.params)
    assert type(other.epoch) is int and type(other.optimizer.t) is int


def test_restore_of_a_run_without_l2_entry():
    X, y = _data()
    tr = _trainer(seed=1)
    tr.fit(X, y, 2)
    ck = _ckpt(tr)
    del ck.trainer["l2"]
    ck.epoch, ck.optimizer["t"] = np.int64(2), np.int64(2)
    other = _trainer(seed=1)
    other.restore(ck)
    assert other.epoch == 2 and type(other.epoch) is int and type(other.optimizer.t) is int


def _restore_error(change):
    X, y = _data()
    tr = Trainer(_linear(), optimizer="adam", lr=0.1, backend="reference", clip=1.5, seed=2)
    tr.fit(X, y, 2)
    ck = _ckpt(tr)
    change(ck, tr)
    before = (tr.model.params.copy(), {k: v.copy() for k, v in tr.optimizer.state.items()},
              tr.optimizer.t, tr._rng.bit_generator.state, tr.epoch)
    with pytest.raises(CheckpointError) as e:
        tr.restore(ck)
    np.testing.assert_array_equal(tr.model.params, before[0])
    assert tr.optimizer.t == before[2] and tr._rng.bit_generator.state == before[3]
    assert tr.epoch == before[4]
    for k, v in before[1].items():
        np.testing.assert_array_equal(tr.optimizer.state[k], v)
    return str(e.value)


def _set(**kw):
    def change(ck, tr):
        for path, value in kw.items():
            obj, *keys = path.split("__")
            target = getattr(ck, obj)
            for k in keys[:-1]:
                target = target[k]
            if keys:
                target[keys[-1]] = value
            else:
                setattr(ck, obj, value)
    return change


def _arch(ck, tr):
    ck.model = Sequential([Dense(2, 1), Activation("tanh")])


def _bad_state(ck, tr):
    ck.optimizer_state["v"] = ck.optimizer_state["v"].astype(np.float32)


def _short_state(ck, tr):
    ck.optimizer_state["m"] = np.zeros(2)


def _slots(ck, tr):
    del ck.optimizer_state["m"]


def _rng_of(value):
    def change(ck, tr):
        ck.trainer["rng"] = value
    return change


@pytest.mark.parametrize("change, message", [
    (_arch, "the checkpoint's architecture differs from this model's: "
            "[{'type': 'Dense', 'din': 2, 'dout': 1}, {'type': 'Activation', "
            "'name': 'tanh'}] vs [{'type': 'Dense', 'din': 2, 'dout': 1}]"),
    (_set(trainer=None), "the checkpoint holds weights only, no training state"),
    (_set(optimizer=None), "the checkpoint holds weights only, no training state"),
    (_set(optimizer__name="adamw"),
     "the checkpoint was trained with mse and adamw {'lr': 0.1, 'beta1': 0.9, 'beta2': 0.999, "
     "'eps': 1e-08}; this trainer has mse and adam {'lr': 0.1, 'beta1': 0.9, "
     "'beta2': 0.999, 'eps': 1e-08}"),
    (_set(optimizer__hyperparams__lr=0.2),
     "the checkpoint was trained with mse and adam {'lr': 0.2, 'beta1': 0.9, 'beta2': 0.999, "
     "'eps': 1e-08}; this trainer has mse and adam {'lr': 0.1, 'beta1': 0.9, "
     "'beta2': 0.999, 'eps': 1e-08}"),
    (_set(trainer__loss="bce"),
     "the checkpoint was trained with bce and adam {'lr': 0.1, 'beta1': 0.9, 'beta2': 0.999, "
     "'eps': 1e-08}; this trainer has mse and adam {'lr': 0.1, 'beta1': 0.9, "
     "'beta2': 0.999, 'eps': 1e-08}"),
    (_set(trainer__l2=0.5),
     "the checkpoint was trained with l2 penalty 0.5; this trainer has 0.0"),
    (_set(trainer__clip=[-1.5, 2.0]),
     "the checkpoint was trained with gradient clip [-1.5, 2.0]; this trainer has (-1.5, 1.5)"),
    (_set(trainer__clip=None),
     "the checkpoint was trained with gradient clip None; this trainer has (-1.5, 1.5)"),
    (_slots, "the checkpoint's optimizer state has ['v'], adam needs ['m', 'v']"),
    (_bad_state, "the checkpoint's optimizer state v is float32 (3,); the parameters are "
                 "float64 (3,)"),
    (_short_state, "the checkpoint's optimizer state m is float64 (2,); the parameters are "
                   "float64 (3,)"),
    (_rng_of({"bit_generator": "MT19937", "state": {"key": [1], "pos": 0}}),
     "the checkpoint's shuffling generator state is not PCG64's"),
    (_rng_of("PCG64"), "the checkpoint's shuffling generator state is not PCG64's"),
    (_rng_of({"bit_generator": "PCG64"}), "the checkpoint's shuffling generator state is not "
                                          "PCG64's"),
    (_rng_of({"bit_generator": "PCG64", "state": {"state": -1, "inc": 1}, "has_uint32": 0,
              "uinteger": 0}), "the checkpoint's shuffling generator state is not PCG64's"),
], ids=["arch", "no-trainer", "no-optimizer", "optimizer", "hyper", "loss", "l2", "clip",
        "no-clip", "slots", "dtype", "shape", "rng-type", "rng-str", "rng-keys", "rng-range"])
def test_restore_messages(change, message):
    assert _restore_error(change) == message


def test_restore_l2_message_the_other_way():
    X, y = _data()
    tr = _trainer(l2=0.5)
    ck = _ckpt(tr)
    del ck.trainer["l2"]
    with pytest.raises(CheckpointError, match="^" + re.escape(
            "the checkpoint was trained with l2 penalty 0.0; this trainer has 0.5") + "$"):
        tr.restore(ck)


def test_fit_on_one_row():
    X, y = _data(1)
    h = _trainer().fit(X, y, 2)
    np.testing.assert_allclose(h.loss, _hand_fit(X, y, 2)[0], rtol=1e-12)


def test_fit_runs_under_the_thread_setting():
    import numba

    X, y = _data()
    outside = numba.get_num_threads()
    inside = []
    Trainer(_linear(), backend="reference", threads=1).fit(
        X, y, 2, log_every=1, log=lambda line: inside.append(numba.get_num_threads()))
    assert inside == [1, 1] and numba.get_num_threads() == outside


def test_fit_stretches_after_a_short_one_stop_at_the_next_observed_epoch():
    tr = _trainer()
    compiled = _Compiled(stop=3)  # every call runs 3 epochs at most
    tr.backend = _Backend(compiled)
    X, y = _data(6)
    lines = []
    h = tr.fit(X, y, 8, log_every=4, log=lines.append)
    assert [c["epochs"] for c in compiled.calls] == [4, 1, 4, 1]
    assert all(type(c["epochs"]) is int for c in compiled.calls)
    assert [line.split()[1] for line in lines] == ["4/8", "8/8"]
    assert h.epochs == 8
