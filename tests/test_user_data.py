"""A user's own data through the CLI: training, validation, predict, checkpoints, resume,
interrupt, determinism, and a clear error for every bad file or checkpoint."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import fastnn
from fastnn import checkpoint
from fastnn.app.cli import main

BACKENDS = fastnn.available_backends()


def write_csv(path, X, y, header=True):
    lines = [",".join([f"f{i}" for i in range(X.shape[1])] + ["label"])] if header else []
    lines += [",".join([*(repr(float(v)) for v in row), f"{lab:g}"])
              for row, lab in zip(X, y, strict=True)]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def binary_csv(tmp_path):
    X, y = fastnn.data.generate_linear(120, seed=4)
    return write_csv(tmp_path / "lin.csv", X * 10 + 3, y[:, 0])


@pytest.fixture
def multi_csv(tmp_path):
    rng = np.random.default_rng(0)
    centers = np.array([[0, 0], [4, 0], [0, 4]])
    labels = rng.integers(0, 3, 150)
    X = centers[labels] + rng.standard_normal((150, 2)) * 0.5
    return write_csv(tmp_path / "blobs.csv", X, np.array([3, 5, 7])[labels])


def run(args, capsys):
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_train_csv_with_validation_and_predict(tmp_path, binary_csv, capsys):
    out = tmp_path / "run"
    code, stdout, _ = run(["train", "--data", str(binary_csv), "--val-split", "0.25",
                           "--epochs", "300", "--out", str(out), "--quiet"], capsys)
    assert code == 0
    assert "val_accuracy=" in stdout
    header = (out / "history.csv").read_text().splitlines()[0]
    assert header == "epoch,loss,accuracy,val_loss,val_accuracy"
    config = json.loads((out / "config.json").read_text())
    assert config["n_train"] == 90 and config["n_val"] == 30 and config["standardize"]
    assert config["final_accuracy"] > 0.9
    ckpt = checkpoint.load(out / "model.npz")
    assert ckpt.epoch == 300 and list(ckpt.classes) == [0, 1]
    X = np.loadtxt(binary_csv, delimiter=",", skiprows=1)[:, :2]
    np.testing.assert_allclose(ckpt.norm_mean, X[np.sort(
        np.random.default_rng(2).permutation(120)[30:])].mean(axis=0))
    preds = tmp_path / "p.csv"
    code, stdout, _ = run(["predict", "--model", str(out / "model.npz"), "--data",
                           str(binary_csv), "--out", str(preds)], capsys)
    assert code == 0 and "120 predictions; accuracy=" in stdout
    rows = preds.read_text().splitlines()
    assert rows[0] == "row,prediction,p0" and len(rows) == 121
    # the same file without its label column: predictions, no accuracy
    write_csv(tmp_path / "nolabels.csv", X, np.zeros(120))
    unlabelled = tmp_path / "u.csv"
    unlabelled.write_text("\n".join(",".join(line.split(",")[:2]) for line in
                                    (tmp_path / "nolabels.csv").read_text().splitlines()))
    code, stdout, err = run(["predict", "--model", str(out / "model.npz"), "--data",
                             str(unlabelled)], capsys)
    assert code == 0 and "accuracy" not in err and stdout.splitlines()[1:] == rows[1:]


def test_multiclass_keeps_label_values(tmp_path, multi_csv, capsys):
    out = tmp_path / "run"
    assert run(["train", "--data", str(multi_csv), "--epochs", "200", "--out", str(out),
                "--quiet"], capsys)[0] == 0
    config = json.loads((out / "config.json").read_text())
    assert config["loss"] == "softmax_cross_entropy" and config["sizes"][-1] == 3
    assert config["final_accuracy"] > 0.95
    code, stdout, err = run(["predict", "--model", str(out / "model.npz"), "--data",
                             str(multi_csv)], capsys)
    labels = {line.split(",")[1] for line in stdout.splitlines()[1:]}
    assert labels == {"3", "5", "7"} and "accuracy=" in err


def test_npz_and_npy_data(tmp_path, capsys):
    X, y = fastnn.data.generate_linear(80, seed=1)
    np.savez(tmp_path / "d.npz", X=X, y=y[:, 0])
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", y)
    for f in ("d.npz", "X.npy"):
        out = tmp_path / f"run-{f}"
        assert run(["train", "--data", str(tmp_path / f), "--epochs", "50", "--out", str(out),
                    "--quiet"], capsys)[0] == 0
    a = (tmp_path / "run-d.npz" / "history.csv").read_text()
    assert a == (tmp_path / "run-X.npy" / "history.csv").read_text()
    np.savez(tmp_path / "unlabelled.npz", X=X)  # predict needs no labels
    code, stdout, err = run(["predict", "--model", str(tmp_path / "run-d.npz" / "model.npz"),
                             "--data", str(tmp_path / "unlabelled.npz")], capsys)
    assert code == 0 and len(stdout.splitlines()) == 81 and "accuracy" not in err


BAD_FILES = [
    ("empty.csv", "", "the file is empty"),
    ("ragged.csv", "a,b,y\n1,2,0\n3,4\n", "ragged row at line 3: 2 fields, expected 3"),
    ("text.csv", "a,b,y\n1,2,0\n3,oops,1\n", "non-numeric cell 'oops' at line 3, column 2"),
    ("nan.csv", "a,b,y\n1,2,0\n3,nan,1\n", "at line 3, column 2"),
    ("one.csv", "a,b,y\n1,2,1\n3,4,1\n", "a single class cannot be learned"),
    ("missing.csv", None, "no such file"),
    ("data.txt", "1,2,3\n", "unknown data format '.txt'; choose from: .csv, .npz, .npy"),
]


@pytest.mark.parametrize("name, text, message", BAD_FILES, ids=[b[0] for b in BAD_FILES])
def test_bad_data_files(tmp_path, capsys, name, text, message):
    path = tmp_path / name
    if text is not None:
        path.write_text(text)
    out = tmp_path / "never"
    code, stdout, err = run(["train", "--data", str(path), "--out", str(out)], capsys)
    assert code == 2 and stdout == "" and err.count("\n") == 1
    assert err.startswith("fastnn: error: ") and message in err and "Traceback" not in err
    assert not out.exists()


def test_labels_that_do_not_fit_the_model(tmp_path, binary_csv, multi_csv, capsys):
    out = tmp_path / "run"
    assert run(["train", "--data", str(binary_csv), "--epochs", "5", "--out", str(out),
                "--quiet"], capsys)[0] == 0
    code, _, err = run(["predict", "--model", str(out / "model.npz"), "--data",
                        str(multi_csv)], capsys)
    assert code == 2 and "are not among the model's classes 0, 1" in err


@pytest.mark.parametrize("damage, message", [
    (lambda p: p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2]),
     "not a readable fastnn checkpoint"),
    (lambda p: p.write_bytes(b"garbage" * 100), "not a readable fastnn checkpoint"),
    (lambda p: p.unlink(), "no such checkpoint file"),
])
def test_broken_checkpoints_are_refused(tmp_path, capsys, damage, message):
    out = tmp_path / "run"
    assert run(["train", "--epochs", "5", "--out", str(out), "--quiet"], capsys)[0] == 0
    damage(out / "model.npz")
    code, _, err = run(["predict", "--model", str(out / "model.npz"), "--data", "xor"], capsys)
    assert code == 2 and message in err and err.count("\n") == 1


def test_wrong_version_and_architecture(tmp_path, capsys):
    out = tmp_path / "run"
    assert run(["train", "--epochs", "5", "--out", str(out), "--quiet"], capsys)[0] == 0
    with np.load(out / "model.npz") as f:
        arrays = dict(f)
    arrays["format_version"] = np.array(99)
    np.savez(tmp_path / "v99.npz", **arrays)
    with pytest.raises(checkpoint.CheckpointError, match="format version 99"):
        checkpoint.load(tmp_path / "v99.npz")
    ckpt = checkpoint.load(out / "model.npz")
    other = fastnn.Trainer(fastnn.MLP([2, 8, 1]), lr=1.0)
    with pytest.raises(checkpoint.CheckpointError, match="architecture differs"):
        other.restore(ckpt)
    code, _, err = run(["train", "--resume", str(out), "--hidden", "8", "--epochs", "9"], capsys)
    assert code == 2 and "--hidden [8] differs from the resumed run's [4, 4]" in err


def test_atomic_write_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    model = fastnn.MLP([2, 4, 1], seed=0)
    path = tmp_path / "m.npz"
    checkpoint.save(path, model)
    before = path.read_bytes()

    def crash(f, **arrays):  # the writer dies part-way through the new file
        f.write(b"PK\x03\x04 half a zip")
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", crash)
    model.params[...] = 1.0
    with pytest.raises(KeyboardInterrupt):
        checkpoint.save(path, model)
    assert path.read_bytes() == before
    assert not list(tmp_path.glob(".m.npz.tmp-*"))
    monkeypatch.undo()
    np.testing.assert_array_equal(checkpoint.load(path).model.params,
                                  fastnn.MLP([2, 4, 1], seed=0).params)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("extra", [[], ["--optimizer", "adam", "--lr", "0.01", "--batch-size",
                                        "16"], ["--optimizer", "adamw", "--lr", "0.01"],
                                   ["--optimizer", "nesterov", "--lr", "0.2"]],
                         ids=["sgd-full", "adam-minibatch", "adamw-full", "nesterov-full"])
def test_resume_equals_uninterrupted(tmp_path, capsys, backend, extra):
    N = 20 if backend == "reference" else 60
    common = ["--data", "linear", "--backend", backend, "--quiet", *extra]
    assert run(["train", *common, "--epochs", str(2 * N), "--out", str(tmp_path / "a")],
               capsys)[0] == 0
    assert run(["train", *common, "--epochs", str(N), "--out", str(tmp_path / "b")],
               capsys)[0] == 0
    assert run(["train", "--resume", str(tmp_path / "b"), "--epochs", str(2 * N)],
               capsys)[0] == 0
    a, b = (checkpoint.load(tmp_path / r / "model.npz") for r in "ab")
    assert a.epoch == b.epoch == 2 * N
    np.testing.assert_array_equal(a.model.params, b.model.params)
    np.testing.assert_array_equal(a.history["loss"], b.history["loss"])
    for k in a.optimizer_state:
        np.testing.assert_array_equal(a.optimizer_state[k], b.optimizer_state[k])
    assert (tmp_path / "a" / "history.csv").read_text() == \
        (tmp_path / "b" / "history.csv").read_text()


def test_resume_of_a_finished_run_needs_more_epochs(tmp_path, capsys):
    out = tmp_path / "run"
    assert run(["train", "--epochs", "10", "--out", str(out), "--quiet"], capsys)[0] == 0
    code, _, err = run(["train", "--resume", str(out)], capsys)
    assert code == 2 and "already has 10 epochs" in err


@pytest.mark.parametrize("backend", [b for b in BACKENDS if b != "reference"])
def test_same_seed_bitwise_identical(tmp_path, capsys, backend):
    for name in ("a", "b"):
        args = ["train", "--data", "digits", "--model", "cnn", "--n", "200", "--epochs", "2",
                "--backend", backend, "--threads", "2", "--quiet", "--out", str(tmp_path / name)]
        if name == "a":
            pytest.importorskip("sklearn")
        assert run(args, capsys)[0] == 0
    a, b = (checkpoint.load(tmp_path / r / "model.npz") for r in "ab")
    np.testing.assert_array_equal(a.model.params, b.model.params)
    assert (tmp_path / "a" / "history.csv").read_text() == \
        (tmp_path / "b" / "history.csv").read_text()


@pytest.mark.parametrize("backend", BACKENDS[1:])
def test_checkpoint_every_writes_during_training(tmp_path, backend):
    seen = []
    model = fastnn.MLP([2, 4, 4, 1], seed=2)
    trainer = fastnn.Trainer(model, lr=1.0, backend=backend)
    X, y = fastnn.data.generate_xor_easy()

    def save(t, h):
        checkpoint.save(tmp_path / "m.npz", t.model, trainer=t, epoch=t.epoch, history=h)
        seen.append((t.epoch, len(h.loss)))

    trainer.fit(X, y, epochs=1000, checkpoint_every=300, on_checkpoint=save)
    assert seen == [(300, 300), (600, 600), (900, 900)]
    assert checkpoint.load(tmp_path / "m.npz").epoch == 900


@pytest.mark.subprocess
def test_ctrl_c_finishes_the_epoch_and_resumes(tmp_path):
    """A real SIGINT to a running `fastnn train`: exit 130, checkpoint whole, resume finishes."""
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "fastnn.app.cli", "train", "--data", "linear", "--epochs",
           "10000000", "--checkpoint-every", "200", "--quiet", "--out", str(out)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not (out / "model.npz").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert (out / "model.npz").exists(), proc.communicate(timeout=5)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "interrupted after epoch" in stderr and "fastnn train --resume" in stderr
    assert "Traceback" not in stderr
    ckpt = checkpoint.load(out / "model.npz")
    assert 0 < ckpt.epoch < 10_000_000 and len(ckpt.history["loss"]) == ckpt.epoch
    rows = (out / "history.csv").read_text().splitlines()
    assert len(rows) == ckpt.epoch + 1
    done = subprocess.run([sys.executable, "-m", "fastnn.app.cli", "train", "--resume", str(out),
                           "--epochs", str(ckpt.epoch + 50), "--quiet"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert checkpoint.load(out / "model.npz").epoch == ckpt.epoch + 50


@pytest.mark.subprocess
@pytest.mark.slow  # compiles the numba backend from scratch twice (~20 s)
def test_corrupt_numba_cache_recompiles(tmp_path):
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "cache")}
    code = ("import fastnn; X, y = fastnn.data.generate_xor_easy(); "
            "t = fastnn.Trainer(fastnn.MLP([2, 4, 4, 1], seed=2), backend='numba', lr=1.0); "
            "print(t.fit(X, y, epochs=20).loss[-1])")
    first = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                           text=True, timeout=600)
    assert first.returncode == 0, first.stderr
    files = list(Path(tmp_path / "cache").rglob("*.nb*"))
    assert files
    for f in files:
        f.write_bytes(b"\x80\x04garbage" if f.suffix == ".nbc" else b"not an index")
    again = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                           text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    assert again.stdout == first.stdout and "recompiling" in again.stderr
