"""The common trainer: convergence, reproducibility, options and bad input."""

import numpy as np
import pytest

import fastnn
from fastnn import DivergenceError

XOR = fastnn.data.generate_xor_easy()
LINEAR = fastnn.data.generate_linear(100, seed=2)


def lab_trainer(backend="numpy", seed=2, **kw):
    model = fastnn.MLP([2, 4, 4, 1], seed=seed, dtype=kw.pop("dtype", "float64"))
    kw.setdefault("lr", 1.0)
    return fastnn.Trainer(model, backend=backend, seed=seed, **kw)


@pytest.mark.parametrize("X, y", [XOR, LINEAR], ids=["xor", "linear"])
def test_defaults_reach_100_percent(X, y):
    """The CLI defaults (lab network, sgd, lr 1, 20000 epochs, seed 2) learn both data sets."""
    trainer = lab_trainer()
    history = trainer.fit(X, y, epochs=20_000)
    loss, acc = trainer.evaluate(X, y)
    assert acc == 1.0
    assert loss < 0.01 < history.loss[0]
    pred = trainer.predict(X)
    np.testing.assert_array_equal(pred > 0.5, y > 0.5)


def test_history_shapes_and_monotone_trend():
    history = lab_trainer().fit(*XOR, epochs=500)
    assert history.epochs == 500 == len(history.accuracy)
    assert not history.stopped_early
    assert all(0 <= a <= 1 for a in history.accuracy)
    assert np.mean(history.loss[-50:]) < np.mean(history.loss[:50])


@pytest.mark.parametrize("backend", ["reference", "numpy"])
def test_same_seed_same_numbers(backend):
    runs = []
    for _ in range(2):
        t = lab_trainer(backend, optimizer="adam", lr=0.05)
        h = t.fit(*LINEAR, epochs=30, batch_size=32)
        runs.append((h.loss, t.model.params.copy()))
    assert runs[0][0] == runs[1][0]
    np.testing.assert_array_equal(runs[0][1], runs[1][1])
    other = lab_trainer(backend, seed=3, optimizer="adam", lr=0.05).fit(*LINEAR, epochs=30)
    assert other.loss != runs[0][0]


def test_minibatches_change_the_path_and_shuffle_is_seeded():
    full = lab_trainer().fit(*LINEAR, epochs=5).loss
    mini = lab_trainer().fit(*LINEAR, epochs=5, batch_size=10).loss
    ordered = lab_trainer().fit(*LINEAR, epochs=5, batch_size=10, shuffle=False).loss
    assert full != mini != ordered
    assert lab_trainer().fit(*LINEAR, epochs=5, batch_size=100).loss == full


def test_target_accuracy_stops_early():
    history = lab_trainer().fit(*XOR, epochs=20_000, target_accuracy=1.0)
    assert history.stopped_early
    assert history.accuracy[-1] == 1.0
    assert all(a < 1.0 for a in history.accuracy[:-1])
    assert history.epochs < 20_000


def test_fresh_data_is_called_per_epoch():
    seen = []

    def fresh(epoch):
        seen.append(epoch)
        return fastnn.data.generate_linear(50, seed=epoch)

    history = lab_trainer().fit(*LINEAR, epochs=4, fresh_data=fresh)
    assert seen == [2, 3, 4] and history.epochs == 4


def test_clip_bounds_the_gradients():
    trainer = lab_trainer(clip=1e-3, lr=0.1)
    before = trainer.model.params.copy()
    trainer.fit(*XOR, epochs=1)
    assert np.max(np.abs(trainer.model.params - before)) <= 0.1 * 1e-3 + 1e-15
    assert np.max(np.abs(trainer.model.grads)) <= 1e-3


def test_asymmetric_clip_like_the_lab():
    trainer = lab_trainer(clip=(-1024, 1023))
    assert trainer.clip == (-1024.0, 1023.0)


@pytest.mark.parametrize("clip", [-1, 0, (1, -1), (1, 2, 3), float("nan")])
def test_bad_clip(clip):
    with pytest.raises(ValueError, match="clip must be"):
        lab_trainer(clip=clip)


def test_log_lines():
    lines = []
    lab_trainer().fit(*XOR, epochs=30, log_every=10, log=lines.append)
    assert len(lines) == 3 and lines[0].startswith("epoch 10/30 loss=")
    assert "accuracy=" in lines[-1]


def test_float32_end_to_end():
    trainer = lab_trainer(dtype="float32")
    trainer.fit(*XOR, epochs=20_000)
    assert trainer.model.params.dtype == np.float32
    assert trainer.predict(XOR[0]).dtype == np.float32
    assert trainer.evaluate(*XOR)[1] == 1.0


def test_divergence_names_the_epoch():
    model = fastnn.MLP([2, 4, 1], activation="identity", output_activation="identity", seed=0)
    trainer = fastnn.Trainer(model, lr=1e6)
    with pytest.raises(DivergenceError, match=r"at epoch \d+; try a lower learning rate"):
        trainer.fit(*LINEAR, epochs=100)


@pytest.mark.parametrize("X, y, match", [
    (np.zeros(5), np.zeros((5, 1)), r"X has shape \(5,\); the model takes \(N, 2\)"),
    (np.zeros((5, 3)), np.zeros((5, 1)), r"X has shape \(5, 3\)"),
    (np.zeros((5, 2)), np.zeros((4, 1)), r"y has shape \(4, 1\), but X has 5 rows"),
    (np.zeros((5, 2)), np.zeros((5, 2)), r"y must be \(5, 1\)"),
    (np.zeros((0, 2)), np.zeros((0, 1)), "X has no rows"),
    (np.array([[0.0, np.nan]]), np.zeros((1, 1)), r"X contains NaN or inf \(first at index"),
    (np.zeros((2, 2)), np.array([[0.0], [np.inf]]), "y contains NaN or inf"),
])
def test_bad_data(X, y, match):
    with pytest.raises(ValueError, match=match):
        lab_trainer().fit(X, y, epochs=1)


def test_1d_labels_are_accepted_for_one_output():
    X, y = XOR
    a = lab_trainer().fit(X, y[:, 0], epochs=3).loss
    assert a == lab_trainer().fit(X, y, epochs=3).loss


@pytest.mark.parametrize("kwargs, match", [
    ({"backend": "cuda"}, "unknown backend 'cuda'; choose from: reference, numpy"),
    ({"loss": "hinge"}, "unknown loss 'hinge'; choose from: mse, bce"),
    ({"optimizer": "lbfgs"}, "unknown optimizer 'lbfgs'"),
    ({"lr": 0}, "lr must be a positive number"),
])
def test_bad_trainer_settings(kwargs, match):
    with pytest.raises(ValueError, match=match):
        lab_trainer(**kwargs)


@pytest.mark.parametrize("kwargs, match", [
    ({"epochs": 0}, "epochs must be a positive integer"),
    ({"epochs": 2.5}, "epochs must be a positive integer"),
    ({"epochs": 5, "batch_size": 0}, "batch size must be a positive integer"),
    ({"epochs": 5, "target_accuracy": 1.5}, r"target accuracy must be a number in \(0, 1\]"),
])
def test_bad_fit_settings(kwargs, match):
    with pytest.raises(ValueError, match=match):
        lab_trainer().fit(*XOR, **kwargs)


@pytest.mark.parametrize("kwargs, match", [
    ({"sizes": [2, 0, 1]}, "layer size must be a positive integer, got 0"),
    ({"sizes": [2, -4, 1]}, "layer size must be a positive integer, got -4"),
    ({"sizes": [2]}, "at least an input and an output size"),
    ({"sizes": [2, 4, 1], "activation": "swish"}, "unknown activation 'swish'"),
    ({"sizes": [2, 4, 1], "init": "zeros"}, "unknown init 'zeros'; choose from: normal, small"),
    ({"sizes": [2, 4, 1], "dtype": "int32"}, "unknown dtype 'int32'"),
])
def test_bad_model(kwargs, match):
    with pytest.raises(ValueError, match=match):
        fastnn.MLP(**kwargs)


def test_layers_that_do_not_fit():
    with pytest.raises(ValueError, match=r"layer 2 \(Dense\(3, 1\)\) does not fit"):
        fastnn.Sequential([fastnn.Dense(2, 4), fastnn.Activation("tanh"), fastnn.Dense(3, 1)])


@pytest.mark.parametrize("init", list(fastnn.init.INITIALIZERS))
def test_initializers_scale(init):
    model = fastnn.MLP([400, 300, 1], init=init, seed=0)
    W = model.layers[0].W
    expected = {"normal": 1.0, "small": 0.01, "xavier": np.sqrt(2 / 700), "he": np.sqrt(2 / 400)}
    assert W.std() == pytest.approx(expected[init], rel=0.02)
    assert np.all(model.layers[0].b == 0)


def test_save_and_load_round_trip(tmp_path):
    trainer = lab_trainer()
    trainer.fit(*XOR, epochs=10)
    fastnn.save_model(trainer.model, tmp_path / "m.npz")
    loaded = fastnn.load_model(tmp_path / "m.npz")
    np.testing.assert_array_equal(loaded.params, trainer.model.params)
    np.testing.assert_array_equal(fastnn.Trainer(loaded).predict(XOR[0]), trainer.predict(XOR[0]))


def test_load_rejects_garbage(tmp_path):
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a readable fastnn checkpoint"):
        fastnn.load_model(tmp_path / "bad.npz")


@pytest.mark.slow
def test_reference_backend_runs_the_lab_defaults_like_numpy():
    """20,000 epochs on the loop backend: 100 % on XOR, and the numpy run's weights."""
    ref, vec = lab_trainer("reference"), lab_trainer("numpy")
    ref_history = ref.fit(*XOR, epochs=20_000)
    vec_history = vec.fit(*XOR, epochs=20_000)
    assert ref.evaluate(*XOR)[1] == 1.0
    np.testing.assert_allclose(ref_history.loss, vec_history.loss, rtol=1e-9)
    np.testing.assert_allclose(ref.model.params, vec.model.params, rtol=1e-9)


@pytest.mark.parametrize("backend", fastnn.available_backends())
def test_progress_bar_counts_every_epoch_of_a_continued_run(backend, monkeypatch):
    import tqdm.auto

    bars = []

    class Bar:  # records what the trainer tells its bar
        def __init__(self, total, **kwargs):
            self.total, self.n = total, 0
            bars.append(self)

        def update(self, n):
            self.n += n

        def close(self):
            pass

    monkeypatch.setattr(tqdm.auto, "tqdm", Bar)
    trainer = lab_trainer(backend)
    trainer.fit(*XOR, epochs=7)  # the bar of the next call starts at epoch 8
    trainer.fit(*XOR, epochs=3000, progress=True)  # ticks of 15 epochs, offset by 7
    assert [(b.total, b.n) for b in bars] == [(3000, 3000)]
