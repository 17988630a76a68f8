"""The numba backend computes what the reference backend computes; its fused step trains the same.

Tolerances: float64 to 1e-10 relative (conftest.assert_rel_close: elementwise, with a floor of
1e-10 * max|expected| for entries near zero); float32 to F32_RTOL, a few float32 ulps per summed
product (the numba kernels round once per expression, NumPy once per operation).

Long trajectory grids: the fused run is compared with the numpy backend for every optimizer x
activation on both lab data sets (numpy = reference is tested in test_equivalence.py), and
directly with the reference backend for a subset here and for the whole grid under
``pytest -m slow``.

Under ``NUMBA_DISABLE_JIT=1`` the kernels run as plain Python, ~1000x slower: the trajectories are
then shortened (EPOCHS) and the grid thinned, and the compile-cache test skips.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numba
import numpy as np
import pytest
from conftest import arrays, assert_dense_matches_reference, assert_rel_close
from hypothesis import given, settings
from hypothesis import strategies as st

import fastnn
from fastnn import activations
from fastnn.backends import reference as R
from fastnn.backends.numba import fused as F
from fastnn.backends.numba import kernels as K
from fastnn.threads import limit_threads
from fastnn.training import strategies

J = fastnn.get_backend("numba")

JIT = not numba.config.DISABLE_JIT
EPOCHS = 500 if JIT else 12
F32_RTOL = 1e-5
OPTIMIZERS = list(fastnn.optim.OPTIMIZERS)
ACTS = list(activations.ACTIVATIONS)
DATASETS = {"linear": fastnn.data.generate_linear(100, seed=11),
            "xor": fastnn.data.generate_xor_easy()}
dims = st.integers(min_value=1, max_value=17)



# -- kernels -------------------------------------------------------------------------------------
@settings(max_examples=80 if JIT else 10, deadline=None)
@given(N=dims, Din=dims, Dout=dims, seed=st.integers(0, 2**32 - 1))
def test_dense_float64(N, Din, Dout, seed):
    assert_dense_matches_reference(J, seed, np.float64, N, Din, Dout)


@settings(max_examples=40 if JIT else 5, deadline=None)
@given(N=dims, Din=dims, Dout=dims, seed=st.integers(0, 2**32 - 1))
def test_dense_float32(N, Din, Dout, seed):
    assert_dense_matches_reference(J, seed, np.float32, N, Din, Dout, F32_RTOL)


def test_dense_takes_views():
    x, W, b, dout = arrays(1, np.float64, (9, 6), (6, 5), (5,), (9, 5))
    xv, Wv = x[::2, 1:], W[1:].T.copy().T  # strided and Fortran-ordered inputs
    assert_rel_close(J.dense_forward(xv, Wv, b), R.dense_forward(xv, Wv, b), 1e-10)
    for a, e in zip(J.dense_backward(xv, Wv, dout[::2]), R.dense_backward(xv, Wv, dout[::2]),
                    strict=True):
        assert_rel_close(a, e, 1e-10)


def test_dense_shape_and_dtype_errors():
    x, W, b = arrays(0, np.float64, (3, 2), (2, 4), (4,))
    with pytest.raises(ValueError, match="do not fit"):
        J.dense_forward(x, W.T, b)
    with pytest.raises(ValueError, match="one dtype"):
        J.dense_forward(x, W.astype(np.float32), b)
    with pytest.raises(ValueError, match="unknown activation 'softmax'"):
        J.activation_forward("softmax", x)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", ACTS)
def test_activations(name, dtype):
    rtol = 1e-10 if dtype == np.float64 else F32_RTOL
    for seed, shape in enumerate([(1, 1), (7, 3), (100, 4), (3, 2, 5), (0, 4)]):
        z, dy = arrays(seed, dtype, shape, shape)
        z *= 5
        y_ref, y = R.activation_forward(name, z), J.activation_forward(name, z)
        assert y.dtype == dtype and y.shape == shape
        assert_rel_close(y, y_ref, rtol, f"{name} forward {shape}")
        dz = J.activation_backward(name, y_ref, dy)
        assert dz.dtype == dtype and dz.shape == shape
        assert_rel_close(dz, R.activation_backward(name, y_ref, dy), rtol, f"{name} backward")


def test_activation_edge_values():
    z = np.array([[-1000.0, -745.2, -709.9, -40.0, -0.0, 0.0, 1e-300, 40.0, 709.9, 1000.0]])
    with np.errstate(all="ignore"):  # the reference's (and plain Python's) exp overflows
        for name in ACTS:
            assert_rel_close(J.activation_forward(name, z), R.activation_forward(name, z), 1e-10,
                             name)
        y = J.activation_forward("sigmoid", z)
        nan = J.activation_forward("sigmoid", np.array([np.nan]))
    assert np.isfinite(y).all() and y[0, 0] == 0.0 and y[0, -1] == 1.0 and y[0, 5] == 0.5
    assert np.isnan(nan).all()
    zero = np.zeros((1, 1))
    assert J.activation_backward("relu", J.activation_forward("relu", zero), zero + 1)[0, 0] == 0
    assert J.activation_backward("leaky_relu", zero, zero + 1)[0, 0] == activations.LEAKY_SLOPE


def test_exp_is_within_one_ulp_of_numpy():
    """The kernels' own exp (see the NOTE in backends/numba/kernels.py) against NumPy's,
    specials exactly."""
    rng = np.random.default_rng(0)
    n = 3000 if JIT else 300
    x = np.concatenate([rng.uniform(-1, 1, n), rng.uniform(-40, 40, n),
                        rng.uniform(-745, 709.7, n), -np.logspace(-300, 2, n)])
    got = np.array([K._exp(v) for v in x])
    want = np.exp(x)
    ulps = np.abs(got - want) / np.spacing(want)
    assert ulps.max() <= 1.0 and np.mean(got == want) > 0.8
    special = np.array([0.0, -0.0, 709.78, 709.79, 1000.0, -745.13, -745.14, -1000.0, np.inf,
                        -np.inf])
    with np.errstate(over="ignore"):
        np.testing.assert_array_equal([K._exp(v) for v in special], np.exp(special))
    assert np.isnan(K._exp(np.nan))


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs 2 threads")
def test_kernels_give_the_same_numbers_on_any_thread_count():
    """The elementwise loops are serial: 1 and 2 threads give the same numbers (dx and dW, BLAS
    products summing over the batch, may split that sum by thread)."""
    x, W, b, dout = arrays(3, np.float64, (600, 37), (37, 60), (60,), (600, 60))
    z, y = x @ W, np.tanh(dout)
    runs = []
    for threads in (2, 1):
        with limit_threads(threads):
            run = [J.dense_forward(x, W, b), J.dense_backward(x, W, dout)[2]]
            for name in K.ACTIVATION_CODES:
                run += [J.activation_forward(name, z), J.activation_backward(name, y, z)]
            runs.append(run)
    for two, one in zip(*runs, strict=True):
        np.testing.assert_array_equal(two, one)
    assert_rel_close(runs[0][0], R.dense_forward(x, W, b), 1e-10)
    assert_rel_close(runs[0][1], R.dense_backward(x, W, dout)[2], 1e-10)
    db = np.zeros(dout.shape[1])
    for row in dout:  # db adds the samples in order, one after the other
        db += row
    np.testing.assert_array_equal(runs[0][1], db)


# -- the fused training step ---------------------------------------------------------------------
LR = {"sgd": 0.5, "momentum": 0.1, "nesterov": 0.1, "adagrad": 0.05, "rmsprop": 0.003,
      "adam": 0.005, "adamw": 0.005}
#: eps of the adaptive optimizers in the long runs. With the default eps (1e-8, 1e-10) they divide
#: gradients that cross zero by a decayed root-mean-square and bounce around the minimum: those
#: runs are chaotic, and two exact implementations that round differently part after a few
#: hundred epochs (numpy and reference do too, by up to 1e-3). eps = 0.01 keeps 500-epoch runs
#: well-conditioned; the optimizer state, compared below, still checks the s / m / v formulas,
#: and test_default_eps_short_runs covers the default eps.
EPS = 0.01


def make_trainer(backend, optimizer="sgd", act="sigmoid", out_act="sigmoid", loss="mse",
                 clip=None, seed=7, dtype="float64", sizes=(2, 4, 4, 1), init="normal", lr=None,
                 **kw):
    model = fastnn.MLP(list(sizes), activation=act, output_activation=out_act, seed=seed,
                       dtype=dtype, init=init)
    if optimizer not in ("sgd", "momentum", "nesterov"):
        kw.setdefault("eps", EPS)
    return fastnn.Trainer(model, loss=loss, optimizer=optimizer, lr=lr or LR[optimizer],
                          backend=backend, clip=clip, seed=3, **kw)


def run(backend, data, epochs=EPOCHS, fit_kw=None, **kw):
    trainer = make_trainer(backend, **kw)
    history = trainer.fit(*DATASETS[data], epochs=epochs, **(fit_kw or {}))
    return trainer, history


def assert_same_run(a, b, rtol=1e-10):
    (ta, ha), (tb, hb) = a, b
    assert ha.epochs == hb.epochs and ha.stopped_early == hb.stopped_early
    assert_rel_close(ha.loss, hb.loss, rtol, "losses")
    assert ha.accuracy == hb.accuracy
    assert_rel_close(ta.model.params, tb.model.params, rtol, "weights")
    assert_rel_close(ta.model.grads, tb.model.grads, rtol, "gradients")
    oa, ob = ta.optimizer, tb.optimizer
    assert oa.t == ob.t and sorted(oa.state) == sorted(ob.state)
    for k in oa.state:
        assert oa.state[k].dtype == ob.state[k].dtype
        assert_rel_close(oa.state[k], ob.state[k], rtol, k)


def fused(trainer):
    return trainer._fused() is not None


GRID = [(o, a, d) for d in DATASETS for o in OPTIMIZERS for a in ACTS]
if not JIT:
    GRID = [(o, ACTS[i % len(ACTS)], d) for d in DATASETS for i, o in enumerate(OPTIMIZERS)]


@pytest.mark.parametrize("optimizer, act, data", GRID)
def test_fused_trajectory_vs_numpy(optimizer, act, data):
    ours = run("numba", data, optimizer=optimizer, act=act)
    assert fused(ours[0])
    theirs = run("numpy", data, optimizer=optimizer, act=act)
    assert ours[1].epochs == EPOCHS
    assert_same_run(ours, theirs)


REF_SUBSET = [(o, ACTS[i % len(ACTS)], "xor") for i, o in enumerate(OPTIMIZERS)] + \
    [("sgd", "sigmoid", "linear"), ("adam", "relu", "linear")]


@pytest.mark.parametrize("optimizer, act, data", REF_SUBSET)
def test_fused_trajectory_vs_reference(optimizer, act, data):
    ours = run("numba", data, optimizer=optimizer, act=act)
    ref = run("reference", data, optimizer=optimizer, act=act)
    assert ref[1].loss[-1] < ref[1].loss[0]  # it trained
    assert_same_run(ours, ref)


@pytest.mark.slow
@pytest.mark.parametrize("optimizer, act, data", GRID)
def test_fused_trajectory_vs_reference_full_grid(optimizer, act, data):
    assert_same_run(run("numba", data, optimizer=optimizer, act=act),
                    run("reference", data, optimizer=optimizer, act=act))


@pytest.mark.parametrize("optimizer", ["adagrad", "rmsprop", "adam", "adamw"])
@pytest.mark.parametrize("data", list(DATASETS))
def test_default_eps_short_runs(optimizer, data):
    kw = dict(optimizer=optimizer, eps=fastnn.optim.OPTIMIZERS[optimizer](0.1).eps, act="tanh")
    ours = run("numba", data, epochs=100 if JIT else 5, **kw)
    assert ours[0].optimizer.eps < 1e-7
    assert_same_run(ours, run("numpy", data, epochs=100 if JIT else 5, **kw))


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
@pytest.mark.parametrize("clip", [None, (-0.05, 0.04)])
def test_fused_bce_and_clipping(optimizer, clip):
    kw = dict(optimizer=optimizer, loss="bce", clip=clip, act="tanh", lr=LR[optimizer] / 5)
    ours = run("numba", "linear", **kw)
    assert fused(ours[0])
    assert_same_run(ours, run("numpy", "linear", **kw))
    if optimizer in ("adam", "adamw", "nesterov"):
        assert_same_run(ours, run("reference", "linear", **kw))


@pytest.mark.parametrize("out_act", ["identity", "relu", "leaky_relu", "tanh"])
def test_fused_output_activations(out_act):
    kw = dict(optimizer="momentum", act="leaky_relu", out_act=out_act)
    assert_same_run(run("numba", "xor", **kw), run("numpy", "xor", **kw))


def test_fused_multi_output_and_blas_layers():
    """Layers big enough for the BLAS branch (N*Din*Dout >= BLAS_MIN_WORK), argmax accuracy."""
    rng = np.random.default_rng(4)
    X = rng.standard_normal((64, 40))
    y = np.eye(3)[rng.integers(0, 3, 64)]
    assert 64 * 40 * 48 >= F.BLAS_MIN_WORK and 64 * 48 * 3 < F.BLAS_MIN_WORK
    hist = {}
    for be in ("numba", "numpy"):
        t = make_trainer(be, optimizer="adam", act="relu", sizes=(40, 48, 48, 3), init="xavier")
        hist[be] = (t, t.fit(X, y, epochs=60 if JIT else 3))
    assert fused(hist["numba"][0])
    assert_same_run(hist["numba"], hist["numpy"])
    assert hist["numpy"][1].accuracy[-1] > hist["numpy"][1].accuracy[0]


def test_row_length_pads_small_layers_only():
    assert [F._row_length(n, [2, 4, 4, 1]) for n in (1, 7, 8, 9, 100)] == [8, 8, 8, 16, 104]
    assert F._row_length(61, [40, 48, 48, 3]) == 61  # a BLAS layer: no padding
    assert 61 * 40 * 48 >= F.BLAS_MIN_WORK


@pytest.mark.parametrize("n", [1, 5, 8, 13, 61])
def test_padding_columns_never_reach_the_sums(n):
    """The fused step pads rows to ROW_MULTIPLE samples: sample counts off and on that multiple,
    both losses, a multi-output net, then the same trainer on another N (its buffers remade)
    give the numpy backend's numbers. (The padding is kept zero where it could reach a sum, so
    it would show here only if that broke too: a nonzero padded loss gradient fails this test.)"""
    rng = np.random.default_rng(n)
    X = rng.standard_normal((n, 3))
    y = np.eye(2)[rng.integers(0, 2, n)]
    for loss in ("mse", "bce"):
        runs = []
        for be in ("numba", "numpy"):
            t = make_trainer(be, optimizer="adam", act="tanh", sizes=(3, 5, 2), loss=loss)
            h1 = t.fit(X, y, epochs=40 if JIT else 3)
            h2 = t.fit(X[: max(1, n // 2)], y[: max(1, n // 2)], epochs=40 if JIT else 3)
            runs.append((t, h1, h2))
        (a, a1, a2), (b, b1, b2) = runs
        assert fused(a)
        assert_same_run((a, a1), (b, b1))
        assert_same_run((a, a2), (b, b2))


def test_fused_float32():
    kw = dict(optimizer="adam", act="tanh", dtype="float32")
    ours = run("numba", "linear", epochs=100 if JIT else 5, **kw)
    ref = run("reference", "linear", epochs=100 if JIT else 5, **kw)
    assert ours[0].model.params.dtype == np.float32
    assert ours[0].optimizer.state["m"].dtype == np.float32
    assert_rel_close(ours[1].loss, ref[1].loss, 1e-4, "losses")
    assert_rel_close(ours[0].model.params, ref[0].model.params, 1e-4, "weights")


def test_fused_runs_are_bitwise_deterministic():
    a = run("numba", "linear", optimizer="rmsprop", act="sigmoid")
    b = run("numba", "linear", optimizer="rmsprop", act="sigmoid")
    np.testing.assert_array_equal(a[1].loss, b[1].loss)
    np.testing.assert_array_equal(a[0].model.params, b[0].model.params)
    np.testing.assert_array_equal(a[0].optimizer.state["square_avg"],
                                  b[0].optimizer.state["square_avg"])


def test_fit_twice_continues_like_one_long_fit():
    one = make_trainer("numba", optimizer="adam")
    one.fit(*DATASETS["linear"], epochs=2 * EPOCHS)
    two = make_trainer("numba", optimizer="adam")
    two.fit(*DATASETS["linear"], epochs=EPOCHS)
    two.optimizer.lr *= 1.0  # hyper-parameters are read at each run
    two.fit(*DATASETS["linear"], epochs=EPOCHS)
    np.testing.assert_array_equal(one.model.params, two.model.params)
    assert one.optimizer.t == two.optimizer.t == 2 * EPOCHS


def test_changed_lr_between_fits_is_used():
    a, b = make_trainer("numba"), make_trainer("numpy")
    for t in (a, b):
        t.fit(*DATASETS["xor"], epochs=EPOCHS // 2)
        t.optimizer.lr = 0.05
        t.fit(*DATASETS["xor"], epochs=EPOCHS // 2)
    assert_rel_close(a.model.params, b.model.params, 1e-10)


# -- how the trainer drives it: stretches of epochs, and the options that observe epochs ---------
@pytest.fixture
def calls(monkeypatch):
    """Epochs of each compiled call; the stretches' time cap is off unless a test sets it."""
    monkeypatch.setattr(strategies, "STRETCH_SECONDS", float("inf"))
    seen = []
    real = F.FusedStep.run

    def spy(self, X, y, epochs, *args):
        seen.append(epochs)
        return real(self, X, y, epochs, *args)

    monkeypatch.setattr(F.FusedStep, "run", spy)
    return seen


def test_one_compiled_call_per_stretch(calls):
    t = make_trainer("numba")
    t.fit(*DATASETS["linear"], epochs=300)
    assert calls == [300]
    calls.clear()
    t.fit(*DATASETS["linear"], epochs=300, log_every=100, log=lambda line: None)
    assert calls == [100, 100, 100]
    calls.clear()
    t.fit(*DATASETS["linear"], epochs=250, log_every=100, log=lambda line: None)
    assert calls == [100, 100, 50]


def test_time_capped_stretches_change_no_number(calls, monkeypatch):
    """Stretches are cut to ~STRETCH_SECONDS so Ctrl-C is noticed; the numbers do not move."""
    whole = make_trainer("numba")
    h1 = whole.fit(*DATASETS["linear"], epochs=300)
    assert calls == [300]
    calls.clear()
    monkeypatch.setattr(strategies, "STRETCH_SECONDS", 1e-9)
    cut = make_trainer("numba")
    h2 = cut.fit(*DATASETS["linear"], epochs=300)
    assert calls[0] == strategies.PROBE_EPOCHS and sum(calls) == 300 and len(calls) > 2
    assert h1.loss == h2.loss and h1.accuracy == h2.accuracy
    np.testing.assert_array_equal(whole.model.params, cut.model.params)


def test_target_accuracy_stops_at_the_same_epoch(calls):
    runs = [run(be, "linear", epochs=5000, fit_kw={"target_accuracy": 0.97}) for be in
            ("numba", "numpy")]
    assert runs[0][1].stopped_early and runs[0][1].accuracy[-1] >= 0.97
    assert_same_run(*runs)
    assert len(calls) == 1


def test_target_accuracy_reached_on_the_last_epoch_is_not_early():
    full = run("numpy", "linear", epochs=5000, fit_kw={"target_accuracy": 0.97})[1]
    n = full.epochs
    for be in ("numba", "numpy"):
        h = run(be, "linear", epochs=n, fit_kw={"target_accuracy": 0.97})[1]
        assert h.epochs == n and not h.stopped_early


def test_fresh_data_is_called_per_epoch_and_gives_the_same_numbers(calls):
    def fresh(epoch):
        asked.append(epoch)
        return fastnn.data.generate_linear(50 + epoch, seed=epoch)

    results = {}
    for be in ("numba", "numpy"):
        asked = []
        results[be] = run(be, "linear", epochs=6, fit_kw={"fresh_data": fresh})
        assert asked == [2, 3, 4, 5, 6]
    assert calls == [1] * 6
    assert_same_run(results["numba"], results["numpy"])


def test_log_lines_are_the_same():
    lines = {}
    for be in ("numba", "numpy"):
        lines[be] = []
        run(be, "xor", epochs=30, fit_kw={"log_every": 7, "log": lines[be].append})
    assert len(lines["numba"]) == 4 and lines["numba"][0].startswith("epoch 7/30 loss=")
    assert lines["numba"] == lines["numpy"]


def test_default_log_goes_to_the_fastnn_logger(caplog):
    with caplog.at_level(logging.INFO, logger="fastnn"):
        run("numba", "xor", epochs=20, fit_kw={"log_every": 10})
    assert [r.getMessage().split()[1] for r in caplog.records] == ["10/20", "20/20"]


def test_progress_bar_path_gives_the_same_numbers(calls):
    a = run("numba", "xor", epochs=400, fit_kw={"progress": True})
    assert calls == [2] * 200  # the bar ticks every epochs // 200 epochs
    assert_same_run(a, run("numpy", "xor", epochs=400))


def test_divergence_is_reported_at_the_same_epoch():
    msgs, params = [], []
    for be in ("numba", "numpy"):
        t = make_trainer(be, act="identity", out_act="identity")
        t.optimizer.lr = 50.0
        with pytest.raises(fastnn.DivergenceError) as e:
            t.fit(*DATASETS["linear"], epochs=1000)
        msgs.append(str(e.value))
        params.append(t.model.params.copy())
        assert t.optimizer.t == int(str(e.value).split("epoch ")[1].split(";")[0])
    assert msgs[0] == msgs[1]
    np.testing.assert_array_equal(np.isfinite(params[0]), np.isfinite(params[1]))


# -- models and settings the fused step does not take: per-layer kernels, same numbers ----------
def test_unfusable_model_falls_back_and_matches():
    def model():
        return fastnn.Sequential([fastnn.Dense(2, 4), fastnn.Activation("tanh"),
                                  fastnn.Activation("sigmoid"), fastnn.Dense(4, 1),
                                  fastnn.Activation("sigmoid")], seed=5)

    results = []
    for be in ("numba", "reference"):
        t = fastnn.Trainer(model(), optimizer="momentum", lr=0.1, backend=be)
        results.append((t, t.fit(*DATASETS["xor"], epochs=100 if JIT else 5)))
    assert not fused(results[0][0])
    assert_same_run(*results)


def test_dense_without_activation_is_fused():
    def model():
        return fastnn.Sequential([fastnn.Dense(2, 3), fastnn.Dense(3, 4),
                                  fastnn.Activation("relu"), fastnn.Dense(4, 1)], seed=5)

    results = []
    for be in ("numba", "numpy"):
        t = fastnn.Trainer(model(), optimizer="sgd", lr=0.05, backend=be)
        results.append((t, t.fit(*DATASETS["linear"], epochs=EPOCHS)))
    assert fused(results[0][0])
    assert_same_run(*results)


def _gradient_echo(p, g, s1, s2, h, c):
    """Writes its unused second slot: Optimizer.step hands it 0.0 every step, and so must the
    fused step (a leftover value would leak into the next epoch through s2)."""
    return p - c[0] * (g + s2), s1 + g, g


class Echo(fastnn.optim.Optimizer):
    name = "echo"
    slots = ("acc",)
    rule = staticmethod(_gradient_echo)


def _norm_rule(p, g, s1, s2, h, c):  # np.linalg.norm of a number: NumPy yes, Numba no
    return p - c[0] * g / (1.0 + np.linalg.norm(g)), s1, s2


class Normed(fastnn.optim.Optimizer):
    name = "normed"
    rule = staticmethod(_norm_rule)


def test_unused_slots_are_zero_in_the_fused_step():
    results = []
    for be in ("numba", "numpy"):
        t = fastnn.Trainer(fastnn.MLP([2, 4, 4, 1], seed=1), optimizer=Echo(0.05), backend=be)
        results.append((t, t.fit(*DATASETS["linear"], epochs=EPOCHS)))
    assert fused(results[0][0])
    assert_same_run(*results)


@pytest.mark.skipif(not JIT, reason="no compilation under NUMBA_DISABLE_JIT")
def test_a_rule_numba_cannot_compile_falls_back_to_the_per_layer_path(caplog):
    results = []
    for be in ("numba", "numpy"):
        t = fastnn.Trainer(fastnn.MLP([2, 4, 4, 1], seed=1), optimizer=Normed(0.05), backend=be)
        results.append((t, t.fit(*DATASETS["linear"], epochs=30)))
    assert "training with the per-layer kernels instead" in caplog.text
    assert not fused(results[0][0])
    assert_same_run(*results)


def test_compile_definition_follows_global_calls_not_attribute_names():
    """A definition named like the NumPy function it calls (np.maximum inside maximum) is no
    cycle; one that really calls itself is refused (it cannot be inlined)."""
    namespace = {"np": np}
    exec("def maximum(a, b):\n    return np.maximum(a, b)\n"
         "def loop(x):\n    return loop(x)\n", namespace)
    assert K.compile_definition(namespace["maximum"])(5.0, -1.0) == 5.0
    with pytest.raises(ValueError, match="calls itself"):
        K.compile_definition(namespace["loop"])


def test_the_old_update_hook_is_refused():
    with pytest.raises(TypeError, match="defines _update"):
        class Old(fastnn.optim.SGD):
            def _update(self, params, grads):
                params -= self.lr * grads


def test_minibatches_are_fused_and_match(calls):
    kw = dict(optimizer="adam", fit_kw={"batch_size": 16}, epochs=40 if JIT else 3)
    ours = run("numba", "linear", **kw)
    assert calls == [40 if JIT else 3]  # one compiled call for the whole run
    assert ours[0].optimizer.t == (40 if JIT else 3) * 7  # 100 samples: 7 batches an epoch
    assert_same_run(ours, run("numpy", "linear", **kw))
    assert_same_run(ours, run("reference", "linear", **kw))


def test_custom_step_or_loss_is_not_fused():
    class Halved(fastnn.optim.SGD):  # a step of its own: the fused rule would not be it
        def step(self, params, grads):
            params -= 0.5 * self.lr * grads

    model = fastnn.MLP([2, 4, 4, 1], seed=1)
    results = []
    for be in ("numba", "numpy"):
        t = fastnn.Trainer(fastnn.MLP([2, 4, 4, 1], seed=1), optimizer=Halved(0.2), backend=be)
        results.append((t, t.fit(*DATASETS["xor"], epochs=50 if JIT else 3)))
    assert not fused(results[0][0])
    assert_same_run(*results)
    def spec(t):
        return strategies.fused_spec(t.model, t.loss, t.loss_fn, t.optimizer)

    t = fastnn.Trainer(model, backend="numba")
    assert spec(t) is not None
    t.loss_fn = lambda pred, y: fastnn.losses.mse(pred, y)
    assert not fused(t) and spec(t) is None
    logits = fastnn.MLP([2, 4, 2], output_activation="identity", seed=1)
    t = fastnn.Trainer(logits, backend="numba", loss="softmax_cross_entropy")
    assert spec(t).softmax and spec(t).loss_point is fastnn.losses.softmax_cross_entropy_point
    t.loss_fn = lambda pred, y: fastnn.losses.softmax_cross_entropy(pred, y)
    assert spec(t) is None  # a loss of the user's own: not what the fused step would compute


def _signed_rule(p, g, s1, s2, h, c):
    return p - c[0] * np.sign(g), s1, s2


class SignSGD(fastnn.optim.Optimizer):
    """A user's optimizer, defined here only: p -= lr * sign(g)."""

    name = "signsgd"
    rule = staticmethod(_signed_rule)


def test_a_users_optimizer_is_fused_from_its_rule():
    """An optimizer written once, outside the package, runs fused on numba with no edit under
    backends/, and matches the per-layer path of numpy."""
    results = []
    for be in ("numba", "numpy"):
        t = fastnn.Trainer(fastnn.MLP([2, 4, 4, 1], seed=1), optimizer=SignSGD(0.01), backend=be)
        results.append((t, t.fit(*DATASETS["linear"], epochs=EPOCHS)))
    assert fused(results[0][0])
    assert_same_run(*results)


def test_state_from_an_unfused_run_is_continued():
    """The fused step picks up optimizer state and t left by the per-layer path (and back)."""
    a, b = make_trainer("numba", optimizer="adam"), make_trainer("numpy", optimizer="adam")
    X, y = DATASETS["linear"]
    for t in (a, b):
        t.fit(X, y, epochs=10, batch_size=30)  # per-layer kernels
        t.fit(X, y, epochs=EPOCHS)  # numba: fused
        t.fit(X, y, epochs=10, batch_size=30)
    assert_same_run((a, fastnn.History()), (b, fastnn.History()))


# -- threads, the compile cache ------------------------------------------------------------------
def test_threads_option_gives_the_same_numbers_and_restores_settings(monkeypatch):
    from threadpoolctl import threadpool_info

    before = (numba.get_num_threads(), [p["num_threads"] for p in threadpool_info()])
    seen = []
    t = make_trainer("numba", threads=1)
    real = F.FusedStep.run

    def spy(*args, **kw):
        seen.append((numba.get_num_threads(), {p["num_threads"] for p in threadpool_info()}))
        return real(*args, **kw)

    monkeypatch.setattr(F.FusedStep, "run", spy)
    a = (t, t.fit(*DATASETS["linear"], epochs=EPOCHS // 2, batch_size=50))
    assert seen and all(s == (1, {1}) for s in seen)
    assert (numba.get_num_threads(), [p["num_threads"] for p in threadpool_info()]) == before
    b = run("numba", "linear", epochs=EPOCHS // 2, fit_kw={"batch_size": 50})
    assert_same_run(a, b)


@pytest.mark.parametrize("bad", [0, -1, 1.5, 10_000])
def test_bad_threads(bad):
    with pytest.raises(ValueError, match="threads must be"), limit_threads(bad):
        pass
    with pytest.raises(ValueError, match="threads must be"):
        make_trainer("numba", threads=bad)


@pytest.mark.skipif(not JIT, reason="no compilation under NUMBA_DISABLE_JIT")
def test_compiled_code_is_cached_between_processes():
    script = textwrap.dedent("""
        import json, warnings
        import numpy as np
        import fastnn
        from numba.core.registry import CPUDispatcher
        from fastnn.backends.numba import kernels as jit
        warnings.simplefilter("error")  # a kernel that cannot be cached warns: fail instead
        X, y = fastnn.data.generate_xor_easy()
        fused = {}
        for dtype in ("float64", "float32"):
            t = fastnn.Trainer(fastnn.MLP([2, 4, 4, 1], dtype=dtype), backend="numba",
                               optimizer="adam")
            t.fit(X, y, epochs=3)
            fused["fused_epochs"] = t._fused().compiled._epochs
            for n in (3, 300):  # tiny and BLAS-sized products
                x, W = np.ones((n, 200), dtype=dtype), np.ones((200, 200), dtype=dtype)
                jit.dense_backward(x, W, jit.dense_forward(x, W, x[0]))
                jit.activation_backward("tanh", jit.activation_forward("tanh", x), x)
        stats = {name: (len(f.stats.cache_hits), len(f.stats.cache_misses))
                 for name, f in {**vars(jit), **fused}.items()
                 if isinstance(f, CPUDispatcher) and f.signatures}
        print(json.dumps(stats))
    """)
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_DISABLE_JIT"}
    outs = []
    for _ in range(2):
        proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                              env=env, cwd=Path(__file__).parent)
        assert proc.returncode == 0, proc.stderr
        outs.append(proc.stdout)
    stats = json.loads(outs[1].strip().splitlines()[-1])
    assert stats["fused_epochs"] == [2, 0] and "_dense_forward" in stats
    assert all(hits >= 1 and misses == 0 for hits, misses in stats.values()), stats
