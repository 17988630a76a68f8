"""Issue 15's claims, each checked where it is a behaviour: what the README, ``--help`` and the
docstrings say is what the code does (reports/DOCS_CLAIMS.md lists them)."""

import dataclasses
import inspect
import json
import logging
import re
from pathlib import Path

import numpy as np
import pytest

import fastnn
from fastnn.app.cli import build_parser, main
from fastnn.app.runspec import RunSpec
from fastnn.app.train import RESUME_MAY_CHANGE
from fastnn.io import datasets
from fastnn.nn.losses import LOSSES

README = (Path(__file__).parent.parent / "README.md").read_text()


def run(args, capsys):
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def flat(text: str) -> str:
    """``text`` with its line breaks and indents as single spaces (help and README wrap)."""
    return " ".join(text.split())


@pytest.fixture
def blobs_csv(tmp_path):
    """Three classes, labelled 3, 5, 7, in a CSV whose label is the FIRST column."""
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 60)
    X = np.array([[0, 0], [4, 0], [0, 4]])[labels] + rng.standard_normal((60, 2)) * 0.5
    lines = ["label,a,b"] + [f"{[3, 5, 7][k]},{x0!r},{x1!r}" for k, (x0, x1) in
                             zip(labels, X.tolist(), strict=True)]
    path = tmp_path / "blobs.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_quiet_prints_the_final_line_only(tmp_path, capsys):
    code, out, err = run(["train", "--epochs", "50", "--out", str(tmp_path / "r"), "--quiet"],
                         capsys)
    assert code == 0 and err == ""
    assert re.fullmatch(r"loss=\S+ accuracy=\S+% epochs=50 time=\S+s backend=numpy\n", out), out


def test_config_json_holds_every_setting_and_no_size_for_xor(tmp_path, capsys):
    assert run(["train", "--epochs", "5", "--out", str(tmp_path / "r"), "--quiet"],
               capsys)[0] == 0
    config = json.loads((tmp_path / "r" / "config.json").read_text())
    settings = {f.name for f in dataclasses.fields(RunSpec)}
    assert settings <= set(config)  # the unset ones too, as null
    assert config["n"] is None and config["batch_size"] is None and config["clip"] is None
    assert RunSpec(data="linear").n == 100
    code, out, err = run(["train", "--n", "50", "--out", str(tmp_path / "x")], capsys)
    assert (code, out) == (2, "")
    assert err == "fastnn: error: --n does not apply to 'xor', a fixed grid of 21 points\n"


def test_output_txt_lists_the_validation_samples(tmp_path, blobs_csv, capsys):
    out = tmp_path / "r"
    assert run(["train", "--data", str(blobs_csv), "--label-col", "label", "--val-split",
                "0.25", "--epochs", "20", "--out", str(out), "--quiet"], capsys)[0] == 0
    config = json.loads((out / "config.json").read_text())
    lines = (out / "output.txt").read_text().splitlines()
    assert (config["n_train"], config["n_val"]) == (45, 15)
    assert len(lines) == 15 + 1 and lines[-1].startswith("loss=")
    assert "with `--val-split`, per validation sample" in README


def test_resume_refuses_every_option_but_the_documented_ones(tmp_path, capsys):
    a, b = tmp_path / "a", tmp_path / "b"
    assert run(["train", "--epochs", "10", "--out", str(a), "--quiet"], capsys)[0] == 0
    code, out, err = run(["train", "--resume", str(a), "--lr", "0.5"], capsys)
    assert (code, out) == (2, "")
    assert err == ("fastnn: error: --lr 0.5 differs from the resumed run's 1.0; a resumed run "
                   "keeps its settings\n")
    code, out, err = run(["train", "--resume", str(a), "--clip", "1"], capsys)
    assert (code, err) == (2, "fastnn: error: --clip [1.0] differs from the resumed run, "
                              "which has none; a resumed run keeps its settings\n")
    assert RESUME_MAY_CHANGE == {"epochs", "log_every", "checkpoint_every", "quiet", "threads",
                                 "resume", "out"}
    assert ("Only `--epochs`, `--log-every`, `--checkpoint-every`, `--quiet`, `--threads` and "
            "`--out` may be given") in flat(README)
    before = (a / "model.npz").read_bytes()
    assert run(["train", "--resume", str(a), "--epochs", "20", "--out", str(b), "--quiet"],
               capsys)[0] == 0
    assert (a / "model.npz").read_bytes() == before
    assert fastnn.checkpoint.load(b / "model.npz").epoch == 20


@pytest.mark.parametrize("command", ["train", "predict"])
def test_file_errors_name_the_path_as_typed(tmp_path, capsys, monkeypatch, command):
    monkeypatch.chdir(tmp_path)
    Path("data.csv").write_text("a,b,y\n1,2,0\n3,oops,1\n")
    if command == "predict":
        assert run(["train", "--epochs", "2", "--out", "m", "--quiet"], capsys)[0] == 0
    args = ["--model", "m/model.npz"] if command == "predict" else ["--out", "never"]
    code, out, err = run([command, "--data", "data.csv", *args], capsys)
    assert (code, out) == (2, "")
    assert err == "fastnn: error: data.csv: non-numeric cell 'oops' at line 3, column 2\n"


def test_predict_label_col_probabilities_and_where_the_summary_goes(tmp_path, blobs_csv,
                                                                     capsys):
    out = tmp_path / "r"
    assert run(["train", "--data", str(blobs_csv), "--label-col", "label", "--epochs", "100",
                "--out", str(out), "--quiet"], capsys)[0] == 0
    model = str(out / "model.npz")
    code, csv, err = run(["predict", "--model", model, "--data", str(blobs_csv),
                          "--label-col", "label"], capsys)
    assert code == 0 and re.fullmatch(r"60 predictions; accuracy=\d+\.\d\d%\n", err), err
    rows = csv.splitlines()
    assert rows[0] == "row,prediction,p0,p1,p2" and len(rows) == 61
    p = np.array([[float(v) for v in row.split(",")[2:]] for row in rows[1:]])
    assert (p >= 0).all() and np.allclose(p.sum(axis=1), 1, atol=3e-6)  # printed to 6 digits
    ckpt = fastnn.checkpoint.load(model)
    data = np.loadtxt(blobs_csv, delimiter=",", skiprows=1)
    logits = fastnn.Trainer(ckpt.model, loss="softmax_cross_entropy").predict(
        (data[:, 1:] - ckpt.norm_mean) / ckpt.norm_std)
    np.testing.assert_allclose(p, fastnn.nn.losses.softmax(logits), rtol=1e-5, atol=1e-6)
    labels = np.array([float(row.split(",")[1]) for row in rows[1:]])
    np.testing.assert_array_equal(labels, np.array([3, 5, 7])[logits.argmax(axis=1)])
    code, stdout, err = run(["predict", "--model", model, "--data", str(blobs_csv),
                             "--label-col", "label", "--out", str(tmp_path / "p.csv")], capsys)
    assert code == 0 and err == ""
    assert re.fullmatch(rf"60 predictions; accuracy=\d+\.\d\d%; written to "
                        rf"{re.escape(str(tmp_path / 'p.csv'))}\n", stdout), stdout


def test_unknown_optimizer_keywords_name_the_valid_ones():
    model = fastnn.MLP([2, 3, 1])
    with pytest.raises(ValueError) as e:
        fastnn.Trainer(model, optimizer="adam", momentum=0.9)
    assert str(e.value) == ("optimizer 'adam' takes no keyword 'momentum'; its keywords: "
                            "beta1, beta2, eps")
    with pytest.raises(ValueError) as e:
        fastnn.Trainer(model, optimizer="sgd", betas=1, nu=2)
    assert str(e.value) == "optimizer 'sgd' takes no keywords 'betas', 'nu'; its keywords: momentum"
    assert "optimizer 'adam' takes no keyword 'momentum'; its keywords: beta1, beta2, eps" in \
        flat(README)


def test_log_every_goes_to_the_logger_or_to_log(capsys, caplog):
    X, y = fastnn.data.generate_xor_easy()
    trainer = fastnn.Trainer(fastnn.MLP([2, 4, 1], seed=0))
    trainer.fit(X, y, epochs=10, log_every=5)  # logging not configured: nothing shows
    out, err = capsys.readouterr()
    assert out == "" and err == ""
    with caplog.at_level(logging.INFO, logger="fastnn"):  # configured: the lines are records
        trainer.fit(X, y, epochs=10, log_every=5)
    assert [r.getMessage().split(" loss=")[0] for r in caplog.records
            if r.name == "fastnn"] == ["epoch 15/20", "epoch 20/20"]
    lines = []
    trainer.fit(X, y, epochs=10, log_every=5, log=lines.append)
    assert [line.split(" loss=")[0] for line in lines] == ["epoch 25/30", "epoch 30/30"]
    assert "``log=print`` to print the lines" in fastnn.Trainer.fit.__doc__
    assert "pass `log=print`" in flat(README)


def test_digits_alone_is_an_mlp_as_documented():
    spec = RunSpec(data="digits")
    assert (spec.model, spec.hidden, spec.activation, spec.optimizer, spec.lr, spec.batch_size,
            spec.epochs) == ("mlp", (64,), "relu", "adam", 0.01, 64, 30)
    assert ("`fastnn train --data digits` alone trains an MLP (64 → 64 → 10, relu, softmax "
            "cross-entropy, Adam, lr 0.01, batches of 64, 30 epochs: 97.2 % test "
            "accuracy)") in flat(README)


def test_trainer_docstring_names_every_loss():
    doc = flat(fastnn.Trainer.__doc__)
    assert all(f"``{name}``" in doc for name in LOSSES)


def test_the_digits_split_is_1438_training_images():
    X = np.zeros((1797, 1))
    X_train, X_test, _, _ = datasets.train_test_split(X, X, 0.2, seed=2)
    assert (len(X_train), len(X_test)) == (1438, 359)
    assert "1,437" not in README
    suite = Path(fastnn.__file__).parent / "app" / "bench_suite"
    for name in ("test_digits_epoch.py", "test_digits_mlp.py"):
        assert "1,438 training images" in flat((suite / name).read_text())


def train_help() -> str:
    return flat(build_parser()._subparsers._group_actions[0].choices["train"].format_help())


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_clip_clips_biases_too(backend):
    X, y = fastnn.data.generate_xor_easy()
    model = fastnn.MLP([2, 4, 1], seed=0)  # biases start at zero
    params = model.params.copy()
    fastnn.Trainer(model, lr=1.0, clip=1e-3, backend=backend).fit(X, y * 100, epochs=1)
    assert np.abs(model.params - params).max() <= 1e-3 * (1 + 1e-12)
    biases = np.concatenate([layer.b for layer in model.layers if getattr(layer, "b", None)
                             is not None])
    np.testing.assert_allclose(np.abs(biases), 1e-3)  # each moved by lr * the clip, exactly
    assert "clip every gradient, biases' too" in train_help()
    assert "`--clip C` clips every gradient, the biases' too" in README


def test_default_backend_and_lr_defaults_are_documented():
    text = train_help()
    assert RunSpec().backend == "numpy"
    assert inspect.signature(fastnn.Trainer).parameters["backend"].default == "numpy"
    assert "(numpy; numba's first run on a machine compiles for a few seconds" in text
    assert inspect.signature(fastnn.Trainer).parameters["lr"].default == 0.1
    assert (RunSpec().lr, RunSpec(data="digits").lr) == (1.0, 0.01)
    assert "`fastnn.Trainer`'s own default is 0.1" in flat(README)
    assert "learning rate (1.0, the lab's best; 0.01; 0.01)" in text


def test_the_readme_divergence_message_word_for_word(tmp_path, capsys):
    code, out, err = run(["train", "--data", "linear", "--activation", "identity",
                          "--output-activation", "identity", "--lr", "10", "--out",
                          str(tmp_path / "r"), "--quiet"], capsys)
    assert (code, out) == (1, "")
    message = ("training diverged: the loss became inf at epoch 4; try a lower learning rate "
               "(now 10) or clipping the gradients; nothing was written")
    assert err == f"fastnn: error: {message}\n"
    assert f"`fastnn: error: {message}`" in flat(README)
    assert not (tmp_path / "r").exists()
