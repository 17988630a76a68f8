"""The numba backend's fused mini-batch epochs train exactly what the per-layer path trains.

A whole epoch of shuffled mini-batches runs in one compiled call; its batches are the ones the
per-layer path (:class:`fastnn.training.strategies.MiniBatch`) draws from the same generator, so
losses, accuracies, weights, gradients, optimizer state and the generator's state equal the
numpy backend's: to 1e-10 relative in float64 (sums are added in another order), float32 to a
few float32 ulps per product.

Every optimizer x activation x loss is covered: the network below has one hidden layer of each
activation, so one compiled step per loss and optimizer covers every activation (each compile
takes seconds; a step per activation would multiply them by five).
"""

from __future__ import annotations

import numba
import numpy as np
import pytest
from conftest import assert_rel_close

import fastnn
from fastnn.backends.numba import fused as F
from fastnn.nn import Activation, Dense, Sequential
from fastnn.training import strategies

JIT = not numba.config.DISABLE_JIT
EPOCHS = 6 if JIT else 2
OPTIMIZERS = list(fastnn.optim.OPTIMIZERS)
LOSSES = list(fastnn.losses.LOSSES)
HIDDEN = ("sigmoid", "tanh", "relu", "leaky_relu", "identity")
LR = {"sgd": 0.1, "momentum": 0.05, "nesterov": 0.05, "adagrad": 0.05, "rmsprop": 0.003,
      "adam": 0.01, "adamw": 0.01}


def _data(n=103, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 5))
    labels = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0.5).astype(int)
    Y = np.eye(classes)[np.minimum(labels, classes - 1)]
    return X, Y


def _model(loss, outputs, dtype="float64", seed=2):
    """5 -> one Dense + activation per HIDDEN entry -> outputs, with the output activation
    the loss needs (sigmoid for bce, none for softmax cross-entropy and mse)."""
    layers, width = [], 5
    for i, act in enumerate(HIDDEN):
        layers += [Dense(width, 6, bias=i != 2), Activation(act)]  # one layer without a bias
        width = 6
    layers.append(Dense(width, outputs))
    if loss == "bce":
        layers.append(Activation("sigmoid"))
    return Sequential(layers, seed=seed, dtype=dtype, init="xavier")


def _trainer(backend, loss, optimizer, outputs=3, dtype="float64", clip=None, seed=5):
    return fastnn.Trainer(_model(loss, outputs, dtype), loss=loss, optimizer=optimizer,
                          lr=LR[optimizer], backend=backend, clip=clip, seed=seed)


def _fit(trainer, X, Y, **kw):
    kw.setdefault("epochs", EPOCHS)
    kw.setdefault("batch_size", 16)
    return trainer.fit(X, Y, **kw)


def assert_same(a, b, ha, hb, rtol=1e-10):
    assert ha.epochs == hb.epochs and ha.stopped_early == hb.stopped_early
    assert_rel_close(ha.loss, hb.loss, rtol, "losses")
    assert ha.accuracy == hb.accuracy
    assert_rel_close(a.model.params, b.model.params, rtol, "weights")
    assert_rel_close(a.model.grads, b.model.grads, rtol, "gradients")
    assert a.optimizer.t == b.optimizer.t
    for k in a.optimizer.state:
        assert_rel_close(a.optimizer.state[k], b.optimizer.state[k], rtol, k)
    assert a._rng.bit_generator.state == b._rng.bit_generator.state


@pytest.fixture
def calls(monkeypatch):
    """The epochs of each compiled call (stretches uncapped)."""
    monkeypatch.setattr(strategies, "STRETCH_SECONDS", float("inf"))
    seen = []
    real = F.FusedStep.run

    def spy(self, X, y, epochs, *args, **kw):
        seen.append((epochs, kw.get("batch_size", args[7] if len(args) > 7 else None)))
        return real(self, X, y, epochs, *args, **kw)

    monkeypatch.setattr(F.FusedStep, "run", spy)
    return seen


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_every_optimizer_activation_and_loss_equals_numpy(optimizer, loss, calls):
    X, Y = _data()
    outputs = 1 if loss == "bce" else 3
    if outputs == 1:
        Y = Y[:, :1]
    runs = [_trainer(be, loss, optimizer, outputs) for be in ("numba", "numpy")]
    hists = [_fit(t, X, Y) for t in runs]
    assert calls == [(EPOCHS, 16)]  # the whole run in one compiled call
    assert runs[0].optimizer.t == EPOCHS * 7  # 103 samples in batches of 16: 7 updates
    assert_same(*runs, *hists)
    assert hists[1].loss[-1] != hists[1].loss[0]  # it moved


@pytest.mark.parametrize("clip", [(-0.05, 0.04), (-1.0, 1e-3), (-0.3, 0.01)])
def test_clip_bounds(clip, calls):
    X, Y = _data()
    runs = [_trainer(be, "softmax_cross_entropy", "adam", clip=clip) for be in ("numba", "numpy")]
    assert_same(*runs, *[_fit(t, X, Y) for t in runs])
    assert calls == [(EPOCHS, 16)]
    unclipped = _trainer("numba", "softmax_cross_entropy", "adam")
    _fit(unclipped, X, Y)
    assert not np.allclose(unclipped.model.params, runs[0].model.params)


@pytest.mark.parametrize("batch_size", [1, 7, 16, 51, 102, 103, 500])
def test_batch_sizes_and_the_last_smaller_batch(batch_size, calls):
    X, Y = _data()
    runs = [_trainer(be, "mse", "momentum") for be in ("numba", "numpy")]
    assert_same(*runs, *[_fit(t, X, Y, batch_size=batch_size) for t in runs])
    assert calls == [(EPOCHS, batch_size if batch_size < 103 else None)]
    assert runs[0].optimizer.t == EPOCHS * -(-103 // min(batch_size, 103))


def test_without_shuffle_every_epoch_takes_the_samples_in_order():
    X, Y = _data()
    runs = [_trainer(be, "softmax_cross_entropy", "sgd") for be in ("numba", "numpy")]
    assert_same(*runs, *[_fit(t, X, Y, shuffle=False) for t in runs])


def test_shuffling_follows_the_trainers_generator():
    """Each epoch's order is a fresh draw: another seed trains to other weights, the same seed
    to the same ones, and an epoch differs from the same epoch reseeded (a generator re-seeded
    every epoch would give every epoch the same order)."""
    X, Y = _data()
    a, b, c = (_trainer("numba", "mse", "sgd", seed=s) for s in (5, 5, 6))
    for t in (a, b, c):
        _fit(t, X, Y)
    np.testing.assert_array_equal(a.model.params, b.model.params)
    assert not np.allclose(a.model.params, c.model.params)
    # epoch by epoch, in separate calls, equals the whole run in one call
    d = _trainer("numba", "mse", "sgd", seed=5)
    for _ in range(EPOCHS):
        _fit(d, X, Y, epochs=1)
    assert_rel_close(d.model.params, a.model.params, 1e-12)
    # the orders drawn are the ones MiniBatch would draw: EPOCHS permutations of the seed's
    rng = np.random.default_rng(5)
    for _ in range(EPOCHS):
        strategies.epoch_order(rng, len(X), True)
    assert a._rng.bit_generator.state == rng.bit_generator.state


def test_target_accuracy_stop_leaves_the_generator_as_the_per_layer_path(calls):
    X, Y = _data()
    runs = [_trainer(be, "softmax_cross_entropy", "adam") for be in ("numba", "numpy")]
    hists = [_fit(t, X, Y, epochs=200, target_accuracy=0.8) for t in runs]
    assert hists[0].stopped_early and hists[0].epochs < 200
    assert_same(*runs, *hists)
    assert calls[0][0] == 200  # drawn for 200 epochs, the unused draws undone


def test_long_data_gets_shorter_stretches(monkeypatch, calls):
    monkeypatch.setattr(strategies, "MAX_ORDER_ENTRIES", 250)
    X, Y = _data()
    runs = [_trainer(be, "mse", "adam") for be in ("numba", "numpy")]
    assert_same(*runs, *[_fit(t, X, Y) for t in runs])
    assert [e for e, _ in calls] == [2] * (EPOCHS // 2) + [1] * (EPOCHS % 2)  # 250 // 103


def test_float32_minibatches(calls):
    X, Y = _data()
    runs = [_trainer(be, "softmax_cross_entropy", "adam", dtype="float32")
            for be in ("numba", "numpy")]
    ha, hb = [_fit(t, X, Y) for t in runs]
    assert runs[0].model.params.dtype == np.float32 and calls == [(EPOCHS, 16)]
    assert_rel_close(ha.loss, hb.loss, 1e-4, "losses")
    np.testing.assert_allclose(runs[0].model.params, runs[1].model.params, rtol=1e-3,
                               atol=1e-5)


def test_softmax_point_gives_the_per_layer_loss():
    """The per-entry softmax definition the fused step runs is the one the numpy loss uses."""
    rng = np.random.default_rng(1)
    z = rng.standard_normal((9, 4)) * 30
    y = np.eye(4)[rng.integers(0, 4, 9)]
    zs = z - z.max(axis=1, keepdims=True)
    s = np.exp(zs).sum(axis=1, keepdims=True)
    term, grad = fastnn.losses.softmax_cross_entropy_point(zs, y, s, y.sum(axis=1, keepdims=True),
                                                           9)
    loss, g = fastnn.losses.softmax_cross_entropy(z, y)
    assert float(term.sum()) / 9 == loss
    np.testing.assert_array_equal(grad, g)
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    assert_rel_close(g, (p - y) / 9, 1e-12)


@pytest.mark.skipif(not JIT, reason="compiled row kernels only")
def test_a_run_compiles_the_row_kernels_of_its_activations_only():
    """The fused step takes its activations as tables of first-class functions, one slot per
    activation: a run fills the slots of its own activations, the first one's kernels the
    others."""
    X, Y = _data()
    model = fastnn.MLP([5, 6, 6, 3], activation="tanh", output_activation="identity", seed=0)
    t = fastnn.Trainer(model, loss="softmax_cross_entropy", backend="numba", seed=0)
    t.fit(X, Y, epochs=2, batch_size=16)
    fwd, bwd = t._fused().compiled._tables
    names = [k.dispatcher.py_func.__qualname__ for k in fwd + bwd]
    used = {"tanh", "identity"}
    want = [f"{d}act_row_{a if a in used else 'tanh'}_float64" for d in ("", "d")
            for a in fastnn.activations.ACTIVATIONS]
    assert names == want


def test_the_fused_step_refuses_arrays_its_compiled_code_does_not_take():
    X, Y = _data()
    t = _trainer("numba", "mse", "sgd")
    _fit(t, X, Y, epochs=1)
    step = t._fused().compiled
    args = (t.model.params, t.model.grads, [], (0.1, 0.0), 0)
    with pytest.raises(ValueError, match="C-contiguous float64 arrays; X is float64"):
        step.run(np.asfortranarray(X), Y, 1, *args)
    with pytest.raises(ValueError, match="y is float32"):
        step.run(X, Y.astype(np.float32), 1, *args)


def _normed_rule(p, g, s1, s2, h, c):
    return p - c[0] * g / np.linalg.norm(g), s1, s2  # Numba types no norm of a scalar g


class Normed(fastnn.optim.Optimizer):
    """An optimizer whose rule Numba cannot compile: the fused step falls back."""

    name = "normed"
    rule = staticmethod(_normed_rule)


@pytest.mark.skipif(not JIT, reason="no compilation under NUMBA_DISABLE_JIT")
def test_a_step_that_cannot_compile_falls_back_to_minibatches_with_the_same_draws(caplog):
    X, Y = _data()
    runs = [fastnn.Trainer(_model("mse", 3), loss="mse", optimizer=Normed(0.05), backend=be,
                           seed=5) for be in ("numba", "numpy")]
    hists = [_fit(t, X, Y) for t in runs]
    assert "training with the per-layer kernels instead" in caplog.text
    assert runs[0]._fused() is None  # fell back, for good
    # the fused call's draws were undone before the per-layer path drew its own
    assert_same(*runs, *hists)


@pytest.mark.parametrize("bad", ["order", "state", "y"])
def test_the_fused_step_checks_what_its_compiled_code_would_trust(bad):
    X, Y = _data()
    t = _trainer("numba", "mse", "momentum")
    _fit(t, X, Y, epochs=1)
    step, opt = t._fused().compiled, t.optimizer
    kw = dict(params=t.model.params, grads=t.model.grads, state=[opt.state["velocity"]],
              hyper=opt.hyper_values(), t=opt.t, batch_size=16,
              order=np.arange(len(X))[None, :])
    y = Y
    if bad == "order":
        kw["order"] = kw["order"] + 1
    elif bad == "state":
        kw["state"] = []
    else:
        y = Y[:, :2].copy()
    with pytest.raises(ValueError):
        step.run(X, y, 1, **kw)


def test_divergence_is_reported_at_the_epoch_the_per_layer_path_reports():
    """An update that leaves a weight non-finite ends both paths at the same epoch, with the
    same message and step count. Sixteen zero samples with zero targets (no bias: no gradient)
    fill the first batch; the last batch is one sample whose target, 1e150, keeps its loss
    finite while its update (lr 1e160) makes the weights infinite. The fused loop must stop
    after that epoch, as the per-layer path checks after each epoch."""
    X, Y = np.zeros((17, 5)), np.zeros((17, 3))
    X[16], Y[16] = 1.0, 1e150
    seen = []
    for be in ("numba", "numpy"):
        model = fastnn.MLP([5, 6, 3], activation="relu", output_activation="identity",
                           bias=False, seed=3)
        t = fastnn.Trainer(model, loss="mse", optimizer="sgd", lr=1e160, backend=be, seed=5)
        with pytest.raises(fastnn.DivergenceError) as e:
            t.fit(X, Y, epochs=5, batch_size=16, shuffle=False)
        seen.append((str(e.value), e.value.epoch, t.optimizer.t, t.epoch))
    assert seen[0] == seen[1]
    assert "weights became non-finite in the update of epoch 1" in seen[0][0]
