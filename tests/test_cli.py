"""`fastnn train` end to end: files, output format, exit codes, one-line errors."""

import json
import subprocess
import sys

import numpy as np
import pytest

import fastnn
from fastnn.app.cli import main

FILES = {"output.txt", "comparison.png", "learning_curve.png", "history.csv", "config.json",
         "model.npz"}


def test_default_run_writes_everything(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--out", str(out)]) == 0
    stdout = capsys.readouterr().out
    assert FILES <= {p.name for p in out.iterdir()}
    lines = (out / "output.txt").read_text().splitlines()
    assert len(lines) == 22  # 21 XOR points and the final line
    assert lines[3].startswith("Iter 3 | ground truth: 1 | prediction: 0.9")
    assert lines[-1].startswith("loss=") and "accuracy=100.00%" in lines[-1]
    assert lines[-1] in stdout and lines[0] in stdout
    config = json.loads((out / "config.json").read_text())
    assert config["sizes"] == [2, 4, 4, 1] and config["backend"] == "numpy"
    assert config["final_accuracy"] == 1.0 and config["epochs_run"] == 20_000
    history = (out / "history.csv").read_text().splitlines()
    assert history[0] == "epoch,loss,accuracy" and len(history) == 20_001
    model = fastnn.load_model(out / "model.npz")
    pred = fastnn.Trainer(model).predict(fastnn.data.generate_xor_easy()[0])
    assert f"prediction: {pred[3, 0]:.5f}" in lines[3]
    for png in ("comparison.png", "learning_curve.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_options_reach_the_run(tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["train", "--data", "linear", "--n", "60", "--backend", "reference", "--hidden",
            "3", "5", "2", "--activation", "tanh", "--optimizer", "adam", "--lr", "0.05",
            "--epochs", "40", "--init", "xavier", "--loss", "bce", "--seed", "9",
            "--batch-size", "16", "--clip", "-1024", "1023", "--dtype", "float32",
            "--out", str(out), "--quiet"]
    assert main(argv) == 0
    stdout = capsys.readouterr().out
    assert stdout.count("\n") == 1 and stdout.startswith("loss=")  # --quiet: the final line
    config = json.loads((out / "config.json").read_text())
    assert config["sizes"] == [2, 3, 5, 2, 1] and config["dtype"] == "float32"
    assert config["clip"] == [-1024.0, 1023.0] and config["optimizer"] == "adam"
    assert config["n"] == 60 and config["batch_size"] == 16
    assert len((out / "output.txt").read_text().splitlines()) == 61
    assert fastnn.load_model(out / "model.npz").params.dtype == np.float32


def test_target_acc_and_fresh_data(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--data", "linear", "--fresh-data", "--target-acc", "0.9",
                 "--log-every", "1", "--out", str(out)]) == 0
    stdout = capsys.readouterr().out
    config = json.loads((out / "config.json").read_text())
    assert config["stopped_early"] and config["epochs_run"] < 20_000
    assert "epoch 1/20000 loss=" in stdout


def test_same_seed_same_output(tmp_path):
    for name in ("a", "b"):
        assert main(["train", "--epochs", "300", "--quiet", "--out", str(tmp_path / name)]) == 0
    a, b = ((tmp_path / n / "history.csv").read_text() for n in ("a", "b"))
    assert a == b


BAD = [
    (["--backend", "gpu"], "unknown backend 'gpu'; choose from: reference, numpy"),
    (["--activation", "swish"], "unknown activation 'swish'; choose from: sigmoid, tanh"),
    (["--output-activation", "soft"], "unknown activation 'soft'"),
    (["--optimizer", "lbfgs"], "unknown optimizer 'lbfgs'; choose from: sgd, momentum, adagrad"),
    (["--init", "zeros"], "unknown init 'zeros'; choose from: normal, small, xavier, he"),
    (["--loss", "hinge"], "unknown loss 'hinge'; choose from: mse, bce"),
    (["--data", "mnist"], "unknown data set 'mnist'; choose from: linear, xor"),
    (["--dtype", "float16"], "unknown dtype 'float16'; choose from: float64, float32"),
    (["--lr", "0"], "--lr must be a number in (0, 1e+06], got 0.0"),
    (["--lr", "-0.1"], "--lr must be a number in (0, 1e+06], got -0.1"),
    (["--lr", "nan"], "--lr must be a number in (0, 1e+06], got nan"),
    (["--epochs", "0"], "--epochs must be an integer in [1, 100000000], got 0"),
    (["--hidden", "4", "0"], "--hidden layer size must be an integer in [1, 65536], got 0"),
    (["--hidden", "-3"], "--hidden layer size must be an integer in [1, 65536], got -3"),
    (["--batch-size", "0"], "--batch-size must be an integer in [1, 1000000000], got 0"),
    (["--target-acc", "2"], "--target-acc must be a number in (0, 1], got 2.0"),
    (["--clip", "1", "2", "3"], "--clip takes C or LO HI, got 3 numbers"),
    (["--clip", "5", "-5"], "--clip must be a positive number C"),
    (["--fresh-data"], "--fresh-data needs a random data set (linear); 'xor' is fixed"),
    (["--lr", "fast"], "argument --lr: invalid float value: 'fast'"),
    (["--epochs", "1e3"], "argument --epochs: invalid int value: '1e3'"),
    (["--no-such-flag"], "unrecognized arguments: --no-such-flag"),
]


@pytest.mark.parametrize("args, message", BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_input_one_line_exit_2_nothing_written(tmp_path, capsys, args, message):
    out = tmp_path / "new" / "run"
    assert main(["train", *args, "--out", str(out)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and captured.err.startswith("fastnn: error: ")
    assert message in captured.err
    assert not (tmp_path / "new").exists()


def test_unwritable_out_is_refused_before_training(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["train", "--out", str(blocker / "run")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("fastnn: error: cannot write to --out") and err.count("\n") == 1
    assert main(["train", "--out", str(blocker)]) == 2
    assert "it is not a folder" in capsys.readouterr().err


def test_divergence_exits_1_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["train", "--data", "linear", "--activation", "identity",
                 "--output-activation", "identity", "--lr", "1e6", "--out", str(out)])
    assert code == 1
    err = capsys.readouterr().err
    assert "at epoch" in err and "try a lower learning rate" in err and err.count("\n") == 1
    assert not out.exists()


def test_unknown_command_and_no_command(capsys):
    assert main(["fly"]) == 2
    assert "invalid choice: 'fly'" in capsys.readouterr().err
    assert main([]) == 2


@pytest.mark.subprocess
def test_console_script_no_traceback(tmp_path):
    """The installed entry point, as a user runs it: bad input, no traceback, exit 2."""
    proc = subprocess.run([sys.executable, "-m", "fastnn.app.cli", "train", "--backend", "gpu",
                           "--out", str(tmp_path / "x")], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and "unknown backend 'gpu'" in proc.stderr
