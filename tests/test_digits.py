"""Digits: loader, softmax cross-entropy, CNN training identical across backends, the CLI path."""

import json
import sys

import numpy as np
import pytest
from conftest import assert_rel_close
from conv_backends import conv_backends
from test_conv import numeric_grad

import fastnn
from fastnn import data, digits_cnn
from fastnn.app.cli import main
from fastnn.backends import reference as R
from fastnn.nn.losses import get_loss

sklearn = pytest.importorskip("sklearn", reason="the digits data set needs scikit-learn")


def test_load_digits_shapes_and_scale():
    X, y = data.load_digits()
    assert X.shape == (1797, 1, 8, 8) and y.shape == (1797, 10)
    assert X.min() == 0.0 and X.max() == 1.0
    np.testing.assert_array_equal(y.sum(axis=1), 1.0)
    X5, y5 = data.load_digits(5)
    np.testing.assert_array_equal(X5, X[:5])


def test_missing_scikit_learn_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(ImportError, match=r"needs scikit-learn: pip install 'fastnn\[data\]'"):
        data.load_digits()


def test_split_is_seeded_80_20():
    X, y = np.arange(100).reshape(100, 1), np.arange(100)
    a = data.train_test_split(X, y, 0.2, seed=3)
    b = data.train_test_split(X, y, 0.2, seed=3)
    assert [len(p) for p in a] == [80, 20, 80, 20]
    for p, q in zip(a, b, strict=True):
        np.testing.assert_array_equal(p, q)
    assert sorted(np.concatenate([a[1][:, 0], a[0][:, 0]])) == list(range(100))


def test_softmax_cross_entropy_gradient_and_stability():
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((4, 5))
    y = np.eye(5)[[0, 3, 3, 1]]
    loss_fn = get_loss("softmax_cross_entropy")
    loss, grad = loss_fn(logits, y)
    assert_rel_close(grad, numeric_grad(lambda: loss_fn(logits, y)[0], logits), 1e-6, "grad")
    big, _ = loss_fn(np.array([[1000.0, 0.0]]), np.array([[0.0, 1.0]]))
    assert big == pytest.approx(1000.0)  # no overflow: log-sum-exp shifted by the max


def _train(be, X, y, epochs=2):
    model = digits_cnn(seed=0, channels=(3, 4))
    trainer = fastnn.Trainer(model, loss="softmax_cross_entropy", optimizer="adam", lr=0.01,
                             backend="numpy", seed=0)
    trainer.backend = be  # the one trainer, driving the conv implementation under test
    history = trainer.fit(X, y, epochs=epochs, batch_size=12)
    return model.params.copy(), history.loss


@pytest.mark.parametrize("name", list(conv_backends()))
def test_short_cnn_training_is_identical_across_backends(name):
    X, y = data.load_digits(24)
    params_ref, loss_ref = _train(R, X, y)
    params, loss = _train(conv_backends()[name], X, y)
    assert_rel_close(params, params_ref, 1e-10, f"{name} parameters")
    assert_rel_close(loss, loss_ref, 1e-10, f"{name} losses")


def test_cli_digits_cnn_smoke(tmp_path, capsys):
    out = tmp_path / "run"
    rc = main(["train", "--data", "digits", "--model", "cnn", "--epochs", "2", "--n", "300",
               "--out", str(out), "--quiet"])
    assert rc == 0
    final = capsys.readouterr().out.strip().splitlines()[-1]
    assert "test_accuracy=" in final and "backend=numpy" in final
    for f in ("output.txt", "learning_curve.png", "confusion_matrix.png", "misclassified.png",
              "history.csv", "config.json", "model.npz"):
        assert (out / f).stat().st_size > 0, f
    config = json.loads((out / "config.json").read_text())
    assert (config["n_train"], config["n_test"], config["model"]) == (240, 60, "cnn")
    model = fastnn.load_model(out / "model.npz")
    assert model.input_shape == (1, 8, 8) and model.output_shape == (10,)


@pytest.mark.parametrize("argv, match", [
    (["--data", "xor", "--model", "cnn"], "--model cnn needs image data"),
    (["--data", "digits", "--model", "rnn"], "unknown model 'rnn'"),
    (["--data", "digits", "--n", "0"], "--n must be an integer in [1, 10000000], got 0"),
])
def test_cli_digits_bad_input_writes_nothing(tmp_path, capsys, argv, match):
    out = tmp_path / "run"
    assert main(["train", *argv, "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("fastnn: error: ") and match in err and err.count("\n") == 1
    assert not out.exists()


def test_cli_digits_without_scikit_learn(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    out = tmp_path / "run"
    assert main(["train", "--data", "digits", "--out", str(out)]) == 2
    assert "needs scikit-learn" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_cli_digits_cnn_reaches_97_percent(tmp_path, capsys, backend):
    rc = main(["train", "--data", "digits", "--model", "cnn", "--backend", backend,
               "--out", str(tmp_path), "--quiet"])
    assert rc == 0
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["test_accuracy"] >= 0.97, config


@pytest.mark.slow
def test_digits_cnn_with_numba_conv_kernels_reaches_97_percent():
    """Whatever the numba backend's registry state, its conv/pool kernels learn the digits."""
    conv = conv_backends()
    X, y = data.load_digits()
    X_train, X_test, y_train, y_test = data.train_test_split(X, y, 0.2, seed=2)
    model = digits_cnn(seed=2)
    trainer = fastnn.Trainer(model, loss="softmax_cross_entropy", optimizer="adam", lr=0.01,
                             backend="numpy", seed=2)
    trainer.backend = conv["numba-conv"]
    trainer.fit(X_train, y_train, epochs=30, batch_size=64)
    trainer.backend = conv["numba-conv"]
    assert trainer.evaluate(X_test, y_test)[1] >= 0.97
