"""Class 7: an image model's checkpoint takes rows of C*H*W features (plus a label column)
from CSV, npz and npy in ``fastnn predict``, reshapes them, and every message names the model's
full input shape."""

from __future__ import annotations

import numpy as np
import pytest

import fastnn
from fastnn.app.cli import main
from fastnn.io import checkpoint
from fastnn.nn.losses import softmax

from .conftest import assert_error, cli


@pytest.fixture(scope="module")
def cnn(tmp_path_factory):
    """A digits CNN checkpoint, 40 digits as flat rows, and the model's own answer for them."""
    pytest.importorskip("sklearn")
    root = tmp_path_factory.mktemp("cnn")
    assert main(["train", "--data", "digits", "--model", "cnn", "--n", "300", "--epochs", "1",
                 "--quiet", "--out", str(root / "run")]) == 0
    X, y = fastnn.data.load_digits(40)
    flat, labels = X.reshape(40, 64), y.argmax(axis=1).astype(float)
    ckpt = checkpoint.load(root / "run" / "model.npz")
    pred = fastnn.Trainer(ckpt.model).predict(X)
    return root, flat, labels, pred


def _files(root, flat, labels):
    """Every way to hand predict flat rows: (data file, has labels)."""
    np.savetxt(root / "l.csv", np.c_[flat, labels], delimiter=",", fmt="%.17g")
    np.savetxt(root / "u.csv", flat, delimiter=",", fmt="%.17g")
    header = ",".join([f"px{i}" for i in range(64)] + ["digit"])
    (root / "h.csv").write_text(header + "\n" + (root / "l.csv").read_text())
    np.savez(root / "l.npz", X=flat, y=labels)
    np.savez(root / "u.npz", X=flat)
    (root / "lab").mkdir(exist_ok=True)
    np.save(root / "lab" / "X.npy", flat)
    np.save(root / "lab" / "y.npy", labels)
    (root / "unl").mkdir(exist_ok=True)
    np.save(root / "unl" / "X.npy", flat)
    return [("l.csv", True), ("u.csv", False), ("h.csv", True), ("l.npz", True),
            ("u.npz", False), ("lab/X.npy", True), ("unl/X.npy", False)]


@pytest.mark.parametrize("index", range(7), ids=["csv-labelled", "csv-unlabelled",
                                                 "csv-header", "npz-labelled", "npz-unlabelled",
                                                 "npy-pair", "npy-alone"])
def test_flat_rows_are_reshaped_for_an_image_model(cnn, capsys, index):
    root, flat, labels, pred = cnn
    name, labelled = _files(root, flat, labels)[index]
    result = cli(["predict", "--model", root / "run" / "model.npz", "--data", root / name],
                 capsys)
    assert result.code == 0, result.err
    rows = [r.split(",") for r in result.out.splitlines()[1:]]
    # the p columns are the probabilities of the model's logits
    np.testing.assert_allclose(np.array([r[2:] for r in rows], dtype=float), softmax(pred),
                               rtol=1e-5)
    assert [float(r[1]) for r in rows] == list(pred.argmax(axis=1).astype(float))
    acc = (pred.argmax(axis=1) == labels).mean()
    assert (f"accuracy={acc:.2%}" in result.err) == labelled


@pytest.mark.parametrize("make, needle", [
    (lambda root, X, y: np.savetxt(root / "b.csv", X[:, :63], delimiter=","),
     "63 features per row; the model takes inputs of shape (1, 8, 8), 64 features per row"),
    (lambda root, X, y: np.savetxt(root / "b.csv", np.c_[X, y, y], delimiter=","),
     "66 features per row; the model takes inputs of shape (1, 8, 8)"),
    (lambda root, X, y: np.savez(root / "b.npz", X=X[:, :10], y=y), "(1, 8, 8)"),
    (lambda root, X, y: np.savez(root / "b.npz", X=X[:, 0], y=y), "(1, 8, 8)"),
    (lambda root, X, y: np.save(root / "X.npy", np.c_[X, y]), "65 features per row"),
    (lambda root, X, y: np.savetxt(root / "b.csv", np.c_[X, y + 10], delimiter=","),
     "labels 10, 11, 12, 13, 14 are not among the model's classes 0, 1, 2"),
])
def test_a_wrong_width_names_the_full_input_shape(cnn, tmp_path, capsys, make, needle):
    root, flat, labels, _ = cnn
    make(tmp_path, flat, labels)
    data = next(p for p in tmp_path.iterdir() if p.suffix in (".csv", ".npz", ".npy"))
    assert_error(cli(["predict", "--model", root / "run" / "model.npz", "--data", data],
                     capsys), 2, needle)


@pytest.mark.parametrize("data", ["xor", "linear"])
def test_toy_data_for_an_image_model(cnn, capsys, data):
    assert_error(cli(["predict", "--model", cnn[0] / "run" / "model.npz", "--data", data],
                     capsys), 2, "2 features per row; the model takes inputs of shape (1, 8, 8)")
