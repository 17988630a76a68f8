"""The lab's own network: Dense layers without biases, weights drawn by NumPy's legacy seeding,
the activation at the output too, gradients clipped to [-1024, 1023]; on every backend, the
fused step, checkpoints and resume included. Float64 runs agree to 1e-10 relative."""

# ruff: noqa: NPY002  (the lab's program drew from NumPy's global legacy generator: so do these)

from __future__ import annotations

import numba
import numpy as np
import pytest
from conftest import assert_rel_close

import fastnn
from fastnn.io import checkpoint
from fastnn.training import strategies

JIT = not numba.config.DISABLE_JIT
EPOCHS = 300 if JIT else 10
LAB_CLIP = (-1024, 1023)
DATASETS = {"linear": fastnn.data.generate_linear(100, seed=11),
            "xor": fastnn.data.generate_xor_easy()}


def lab_model(act="sigmoid", init="normal", seed=2, dtype="float64", **kw):
    return fastnn.MLP([2, 4, 4, 1], activation=act, output_activation=act, init=init,
                      seed=seed, dtype=dtype, bias=kw.pop("bias", False),
                      rng=kw.pop("rng", "legacy"), **kw)


def lab_draws(init: str, seed: int = 2) -> list[np.ndarray]:
    """w1, w2, w3 exactly as the lab's program draws them (two_layer_network.__init__)."""
    np.random.seed(seed)
    if init == "normal":
        return [np.random.normal(0, 1, (2, 4)), np.random.normal(0, 1, (4, 4)),
                np.random.normal(0, 1, (4, 1))]
    return [np.random.randn(2, 4) * 0.01, np.random.randn(4, 4) * 0.01,
            np.random.randn(4, 1) * 0.01]


# -- the lab's weights ----------------------------------------------------------------------------
@pytest.mark.parametrize("init", ["normal", "small"])
def test_legacy_weights_are_the_labs_bit_for_bit(init):
    state = np.random.get_state()
    try:
        expected = lab_draws(init)
    finally:
        np.random.set_state(state)
    model = lab_model(init=init)
    assert model.footprint.params == model.params.size == 28
    dense = [layer for layer in model.layers if isinstance(layer, fastnn.Dense)]
    for layer, w in zip(dense, expected, strict=True):
        assert layer.W.tobytes() == w.tobytes()  # to the bit, in the (Din, Dout) layout
        assert layer.b is None and set(layer.params) == {"W"}
    # the flat buffer is w1, w2, w3 row-major, one after the other
    assert model.params.tobytes() == np.concatenate([w.ravel() for w in expected]).tobytes()


def test_legacy_weights_of_the_lab_seed():
    """The lab's starting weights, written out (np.random.seed(2); np.random.normal(0, 1, ...))."""
    w1 = lab_model().layers[0].W
    np.testing.assert_array_equal(w1, [
        [-0.4167578474054706, -0.056266827226329474, -2.136196095668454, 1.6402708084049886],
        [-1.7934355851948631, -0.841747365656204, 0.5028814171580428, -1.2452880866072316]])
    assert lab_model().layers[4].W[3, 0] == -1.1876122863852843


def test_legacy_does_not_touch_the_global_generator():
    np.random.seed(123)
    before = np.random.random()
    np.random.seed(123)
    lab_model()
    assert np.random.random() == before


def test_default_generator_is_still_the_modern_one():
    model = fastnn.MLP([2, 4, 4, 1], seed=2)
    rng = np.random.default_rng(2)
    expected = [rng.standard_normal(s) for s in ((2, 4), (4, 4), (4, 1))]
    for layer, w in zip(model.layers[::2], expected, strict=True):
        np.testing.assert_array_equal(layer.W, w)
    assert model.rng == "default" and model.footprint.params == 37
    assert not np.array_equal(model.layers[0].W, lab_model().layers[0].W)


def test_legacy_with_biases_draws_the_same_weights_and_zero_biases():
    with_b, without = lab_model(bias=True), lab_model()
    assert with_b.footprint.params == 37
    for a, b in zip(with_b.layers[::2], without.layers[::2], strict=True):
        np.testing.assert_array_equal(a.W, b.W)
        assert np.all(a.b == 0)


@pytest.mark.parametrize("kwargs, match", [
    ({"rng": "mt19937"}, "unknown rng 'mt19937'; choose from: default, legacy"),
    ({"seed": 2**32}, r"seed must be an integer in \[0, 4294967295\] for the legacy"),
    ({"seed": -1}, r"seed must be an integer in \[0, 4294967295\] for the legacy"),
    ({"bias": "no"}, "bias must be true or false, got 'no'"),
])
def test_bad_rng_seed_or_bias(kwargs, match):
    with pytest.raises(ValueError, match=match):
        lab_model(**kwargs)


# -- every backend trains it alike ----------------------------------------------------------------
#: The lab's seed 2 draws a w3 with no positive entry: behind relu's non-negative hidden
#: outputs the relu network's output is relu(<= 0) = 0 for every input, its gradient 0, and it
#: never trains. Seed 1 trains, so the relu comparisons below compare something.
SEED = {"sigmoid": 2, "tanh": 2, "relu": 1}


def train(backend, data="linear", act="sigmoid", epochs=EPOCHS, batch_size=None, model=None,
          lr=0.1, dtype="float64"):
    model = model or lab_model(act, seed=SEED[act], dtype=dtype)
    trainer = fastnn.Trainer(model, lr=lr, backend=backend, clip=LAB_CLIP, seed=3)
    history = trainer.fit(*DATASETS[data], epochs=epochs, batch_size=batch_size)
    return trainer, history


def assert_same(a, b, rtol=1e-10):
    (ta, ha), (tb, hb) = a, b
    assert_rel_close(ha.loss, hb.loss, rtol, "losses")
    assert ha.accuracy == hb.accuracy
    assert_rel_close(ta.model.params, tb.model.params, rtol, "weights")


@pytest.mark.parametrize("act", ["sigmoid", "tanh", "relu"])
@pytest.mark.parametrize("data", list(DATASETS))
def test_every_backend_and_the_fused_step_agree(act, data):
    ref = train("reference", data, act, epochs=min(EPOCHS, 100))
    assert ref[1].loss[-1] < ref[1].loss[0]  # it trained
    assert ref[0].model.params.size == 28
    for backend in ("numpy", "numba"):
        ours = train(backend, data, act, epochs=min(EPOCHS, 100))
        assert (ours[0]._fused() is not None) == (backend == "numba")
        assert_same(ours, ref)


@pytest.mark.parametrize("act", ["sigmoid", "tanh", "relu"])
def test_fused_step_matches_the_per_layer_kernels(act):
    """The numba fused step against numba's own per-layer kernels (the fallback strategy)."""
    fused = train("numba", "xor", act)
    assert fused[0]._fused() is not None
    per_layer_trainer = fastnn.Trainer(lab_model(act, seed=SEED[act]), lr=0.1, backend="numba",
                                       clip=LAB_CLIP, seed=3)
    per_layer = strategies.PerLayer(per_layer_trainer._step)
    per_layer_trainer._strategy = lambda *a: per_layer
    history = per_layer_trainer.fit(*DATASETS["xor"], epochs=EPOCHS)
    assert_same(fused, (per_layer_trainer, history))


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_minibatches_agree(backend):
    ref = train("reference", batch_size=16, epochs=min(EPOCHS, 20))
    assert_same(train(backend, batch_size=16, epochs=min(EPOCHS, 20)), ref)


def test_fused_layers_with_and_without_bias_mixed():
    """The fused step's parameter offsets with a bias on some layers only."""
    def model():
        return fastnn.Sequential([fastnn.Dense(2, 5), fastnn.Activation("tanh"),
                                  fastnn.Dense(5, 3, bias=False), fastnn.Activation("sigmoid"),
                                  fastnn.Dense(3, 1)], seed=4)

    assert model().footprint.params == 2 * 5 + 5 + 5 * 3 + 3 + 1
    fused, per_layer = (train(be, "xor", model=model(), lr=0.5) for be in ("numba", "numpy"))
    spec = strategies.fused_spec(fused[0].model, "mse", fused[0].loss_fn, fused[0].optimizer)
    assert spec.biases == (True, False, True)
    assert fused[0]._fused() is not None
    assert_same(fused, per_layer)


def test_fused_float32_without_bias():
    fused, per_layer = (train(be, "xor", dtype="float32") for be in ("numba", "numpy"))
    assert fused[0].model.params.dtype == np.float32
    assert_rel_close(fused[1].loss, per_layer[1].loss, 1e-4, "float32 losses")


def test_no_bias_output_is_x_at_W_to_the_bit():
    X = DATASETS["linear"][0]
    model = fastnn.Sequential([fastnn.Dense(2, 3, bias=False)], seed=0)
    for backend in fastnn.available_backends():
        be = fastnn.get_backend(backend)
        np.testing.assert_array_equal(model.forward(be, X), X @ model.layers[0].W)


# -- checkpoints, resume, predict -----------------------------------------------------------------
@pytest.mark.parametrize("backend", fastnn.available_backends())
def test_checkpoint_round_trip(tmp_path, backend):
    trainer, _ = train("numpy", epochs=20)
    fastnn.save_model(trainer.model, tmp_path / "m.npz")
    loaded = fastnn.load_model(tmp_path / "m.npz")
    assert loaded.config() == trainer.model.config()
    assert [c.get("bias") for c in loaded.config()["layers"][::2]] == [False] * 3
    assert loaded.params.size == 28
    np.testing.assert_array_equal(loaded.params, trainer.model.params)
    X = DATASETS["linear"][0]
    np.testing.assert_array_equal(fastnn.Trainer(loaded, backend=backend).predict(X),
                                  fastnn.Trainer(trainer.model, backend=backend).predict(X))


def test_a_config_without_bias_means_bias(tmp_path):
    """Checkpoints written before ``bias`` existed name no bias: they load with biases."""
    model = fastnn.MLP([2, 4, 1], seed=0)
    assert all("bias" not in c for c in model.config()["layers"])
    fastnn.save_model(model, tmp_path / "old.npz")
    loaded = fastnn.load_model(tmp_path / "old.npz")
    assert all(layer.bias for layer in loaded.layers if isinstance(layer, fastnn.Dense))
    np.testing.assert_array_equal(loaded.params, model.params)


def test_a_bad_bias_in_a_checkpoint_is_refused(tmp_path):
    fastnn.save_model(lab_model(), tmp_path / "m.npz")
    with np.load(tmp_path / "m.npz") as f:
        arrays = dict(f)
    arrays["config"] = np.array(str(arrays["config"]).replace('"bias": false', '"bias": 0'))
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(checkpoint.CheckpointError, match="bias must be true or false, got 0"):
        checkpoint.load(tmp_path / "bad.npz")


@pytest.mark.parametrize("backend, batch_size", [("numba", None), ("numpy", 16),
                                                 ("reference", None)])
def test_resume_is_exact(tmp_path, backend, batch_size):
    n = 40 if backend == "reference" else 150
    X, y = DATASETS["linear"]

    def trainer():
        return fastnn.Trainer(lab_model(), lr=0.1, backend=backend, clip=LAB_CLIP, seed=3)

    whole = trainer()
    whole_history = whole.fit(X, y, epochs=2 * n, batch_size=batch_size)
    first = trainer()
    first_history = first.fit(X, y, epochs=n, batch_size=batch_size)
    checkpoint.save(tmp_path / "c.npz", first.model, first, epoch=first.epoch,
                    history=first_history)
    ckpt = checkpoint.load(tmp_path / "c.npz")
    resumed = trainer()
    resumed.model.params[...] = 0.5  # restore must bring the weights back
    resumed.restore(ckpt)
    rest = resumed.fit(X, y, epochs=n, batch_size=batch_size)
    np.testing.assert_array_equal(resumed.model.params, whole.model.params)
    np.testing.assert_array_equal(first_history.loss + rest.loss, whole_history.loss)


def test_restore_refuses_a_different_bias(tmp_path):
    first, _ = train("numpy", epochs=5)
    checkpoint.save(tmp_path / "c.npz", first.model, first, epoch=first.epoch)
    other = fastnn.Trainer(lab_model(bias=True), lr=0.1, clip=LAB_CLIP, seed=3)
    with pytest.raises(checkpoint.CheckpointError, match="architecture differs"):
        other.restore(checkpoint.load(tmp_path / "c.npz"))
