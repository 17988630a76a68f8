"""`fastnn train --lab`, `--no-bias`, `--rng legacy` and the linear data's held-out test set."""

import json
import re
from argparse import Namespace

import numpy as np
import pytest

from fastnn.app import train
from fastnn.app.cli import build_parser, main
from fastnn.io import checkpoint

LINE = re.compile(r"^Iter (\d+) \| ground truth = ([01]) \| prediction = (\S+)$")


def _spec(argv):
    return train.spec_from_args(build_parser().parse_args(["train", *argv]))


def test_lab_prints_the_lab_s_lines_and_holds_its_network(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--lab", "--epochs", "3000", "--out", str(out)]) == 0
    stdout = capsys.readouterr().out
    lines = (out / "output.txt").read_text().splitlines()
    assert len(lines) == 23  # 21 samples, Acc, the final line
    for i, line in enumerate(lines[:21]):
        m = LINE.match(line)
        assert m and int(m.group(1)) == i, line
        assert float(m.group(3)) == float(repr(float(m.group(3))))  # the full repr
        assert len(m.group(3)) > 8  # not rounded to 5 places
    acc = re.fullmatch(r"Acc = (\S+)", lines[21])
    assert acc and 0 <= float(acc.group(1)) <= 1
    assert lines[0] in stdout and lines[21] in stdout
    config = json.loads((out / "config.json").read_text())
    assert (config["bias"], config["rng"], config["clip"], config["lr"], config["loss"],
            config["optimizer"], config["output_activation"], config["seed"]) == \
        (False, "legacy", [-1024.0, 1023.0], 0.1, "mse", "sgd", "sigmoid", 2)
    assert checkpoint.load(out / "model.npz").model.params.size == 28


def test_lab_starts_from_the_lab_s_own_weights():
    for act in ("sigmoid", "tanh"):
        spec = _spec(["--lab", "--activation", act])
        task = train.load_task(spec)
        trainer = train.build(train.resolve(spec, task), task)
        np.random.seed(2)  # noqa: NPY002 -- the lab's own calls, on purpose
        want = [np.random.normal(0, 1, s) for s in ((2, 4), (4, 4), (4, 1))]  # noqa: NPY002
        got = [layer.W for layer in trainer.model.layers if hasattr(layer, "W")]
        for g, w in zip(got, want, strict=True):
            assert np.array_equal(g, w)
        assert trainer.model.layers[-1].name == act  # the activation at the output too
        assert trainer.clip == (-1024.0, 1023.0)


@pytest.mark.parametrize("argv, field, value", [
    (["--lab", "--lr", "1"], "lr", 1.0),
    (["--lab", "--activation", "relu"], "output_activation", "relu"),
    (["--lab", "--activation", "tanh", "--output-activation", "sigmoid"],
     "output_activation", "sigmoid"),
    (["--lab", "--seed", "7"], "seed", 7),
    (["--lab", "--optimizer", "adam"], "optimizer", "adam"),
    (["--lab", "--clip", "5"], "clip", (5.0,)),
    (["--no-bias"], "bias", False),
    (["--rng", "legacy"], "rng", "legacy"),
    ([], "bias", True),
    ([], "lr", 1.0),  # without --lab, the toy defaults stay
])
def test_other_flags_override_the_lab(argv, field, value):
    assert getattr(_spec(argv), field) == value


@pytest.mark.parametrize("argv, needle", [
    (["--lab", "--data", "digits"], "--lab is the lab's network on its data"),
    (["--rng", "legacy", "--seed", str(2**40)], "--seed must be an integer in [0, 4294967295]"),
    (["--rng", "mt19937"], "--rng: unknown rng"),
    (["--no-bias", "--data", "digits", "--model", "cnn"], "--no-bias applies to MLPs"),
    (["--test-seed", "3"], "--test-seed: 'xor' is a fixed grid"),
    (["--test-seed", "-1", "--data", "linear"], "--test-seed must be an integer"),
])
def test_bad_lab_settings_are_one_line(capsys, tmp_path, argv, needle):
    out = tmp_path / "run"
    assert main(["train", *argv, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and needle in err, err
    assert not out.exists()


def test_linear_reports_a_held_out_test_set(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--data", "linear", "--n", "60", "--seed", "5", "--epochs", "300",
                 "--quiet", "--out", str(out)]) == 0
    final = capsys.readouterr().out
    config = json.loads((out / "config.json").read_text())
    assert config["test_seed"] == 6 and config["n_test"] == 60
    assert f"test_accuracy={config['test_accuracy']:.2%}" in final
    task = train.load_task(train.spec_from_args(Namespace(
        **{**vars(build_parser().parse_args(["train"])), "data": "linear", "n": 60,
           "seed": 5})))
    assert not np.array_equal(task.X, task.X_test)  # a different draw
    model = checkpoint.load(out / "model.npz").model
    from fastnn import Trainer
    _, acc = Trainer(model).evaluate(task.X_test, task.y_test)
    assert acc == config["test_accuracy"]
    # a resumed run keeps its test set
    assert main(["train", "--resume", str(out), "--epochs", "400", "--quiet"]) == 0
    assert json.loads((out / "config.json").read_text())["test_seed"] == 6


def test_xor_says_it_has_no_held_out_set(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--epochs", "50", "--quiet", "--out", str(out)]) == 0
    config = json.loads((out / "config.json").read_text())
    assert "fixed grid" in config["test_set"] and "test_accuracy" not in config


def test_a_lab_run_resumes_exactly(tmp_path, capsys):
    a, b = tmp_path / "a", tmp_path / "b"
    assert main(["train", "--lab", "--data", "linear", "--epochs", "400", "--quiet", "--out",
                 str(a)]) == 0
    assert main(["train", "--lab", "--data", "linear", "--epochs", "150", "--quiet", "--out",
                 str(b)]) == 0
    assert main(["train", "--resume", str(b), "--epochs", "400", "--quiet"]) == 0
    np.testing.assert_array_equal(checkpoint.load(b / "model.npz").model.params,
                                  checkpoint.load(a / "model.npz").model.params)


def test_lab_on_linear_prints_the_lab_s_own_line(tmp_path, capsys):
    """The lab's data (legacy draws: train seed 2, test seed 1) and network: its printed line
    `Iter 80 | ground truth = 1 | prediction = 0.9992845109069186`, to the last digit."""
    out = tmp_path / "run"
    assert main(["train", "--lab", "--data", "linear", "--quiet", "--out", str(out)]) == 0
    lines = (out / "output.txt").read_text().splitlines()
    assert lines[80] == "Iter 80 | ground truth = 1 | prediction = 0.9992845109069186"
    assert lines[100] == "Acc = 1.0"
    assert json.loads((out / "config.json").read_text())["test_seed"] == 1
