"""Class 6, settings that cannot learn: refused with a suggestion before training, by the CLI
(naming the flags) where the data's kind fixes them up front, and by the library (without flag
names) once the model is known; combinations that can learn still train."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fastnn import MLP, Trainer
from fastnn.nn.zoo import digits_cnn, lab_cnn

from .conftest import assert_error, cli

TWO = "".join(f"{a},{b},{int(a > b)}\n" for a, b in np.random.default_rng(0).uniform(0, 1, (12, 2)))
THREE = "".join(f"{a},{b},{i % 3}\n"
                for i, (a, b) in enumerate(np.random.default_rng(1).uniform(0, 1, (12, 2))))
NOT_PROBABILITIES = ["identity", "relu", "tanh", "leaky_relu"]

#: (argv after train, what the one line must hold): known before any data is read.
REFUSED_UP_FRONT = [
    (["--loss", "softmax_cross_entropy"], ["--loss softmax_cross_entropy", "--loss bce"]),
    (["--data", "linear", "--loss", "softmax_cross_entropy", "--output-activation", "identity"],
     ["one output unit", "--output-activation sigmoid"]),
    *[(["--loss", "bce", "--output-activation", act], ["(0, 1)", "--output-activation sigmoid"])
      for act in NOT_PROBABILITIES],
    *[(["--data", "digits", "--loss", "bce", "--output-activation", act], ["--loss bce", act])
      for act in NOT_PROBABILITIES],
    (["--data", "digits", "--loss", "bce"], ["identity", "--output-activation sigmoid"]),
    (["--output-activation", "softmax"], ["unknown activation 'softmax'"]),
    (["--loss", "cross_entropy"], ["unknown loss"]),
    (["--clip", "1", "2"], ["--clip", "LO < 0 < HI"]),
    (["--clip", "-2", "-1"], ["--clip", "LO < 0 < HI"]),
    (["--clip", "0", "1"], ["--clip", "LO < 0 < HI"]),
]


@pytest.mark.parametrize("argv, needles", REFUSED_UP_FRONT,
                         ids=[" ".join(a) for a, _ in REFUSED_UP_FRONT])
def test_settings_that_cannot_learn_are_refused_naming_flags(tmp_path, capsys, argv, needles):
    out = tmp_path / "out"
    result = cli(["train", *argv, "--epochs", "2", "--out", out], capsys)
    assert_error(result, 2, *needles)
    assert not out.exists()


def _file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "d.csv"
    path.write_text(text)
    return path


#: (file text, argv, what the line must hold): a file's classes are known once it is read.
REFUSED_FOR_A_FILE = [
    (TWO, ["--loss", "softmax_cross_entropy"], ["one output unit", "bce", "sigmoid"]),
    (TWO, ["--loss", "softmax_cross_entropy", "--output-activation", "identity"],
     ["one output unit"]),
    *[(TWO, ["--loss", "bce", "--output-activation", act], ["--output-activation sigmoid"])
      for act in NOT_PROBABILITIES],
    *[(THREE, ["--loss", "bce", "--output-activation", act], ["(0, 1)"])
      for act in NOT_PROBABILITIES],
]


@pytest.mark.parametrize("text, argv, needles", REFUSED_FOR_A_FILE,
                         ids=[f"{t.count(chr(10))}-{' '.join(a)}-{i}"
                              for i, (t, a, _) in enumerate(REFUSED_FOR_A_FILE)])
def test_a_files_classes_refuse_what_cannot_learn(tmp_path, capsys, text, argv, needles):
    out = tmp_path / "out"
    result = cli(["train", "--data", _file(tmp_path, text), *argv, "--epochs", "2", "--out",
                  out], capsys)
    assert_error(result, 2, *needles)
    assert not out.exists()


#: What can learn still trains.
LEARNABLE = [
    (THREE, ["--loss", "mse", "--output-activation", "identity"]),
    (THREE, ["--loss", "bce", "--output-activation", "sigmoid"]),
    (THREE, ["--loss", "bce"]),  # bce chooses the sigmoid output for any number of classes
    (THREE, ["--loss", "softmax_cross_entropy"]),
    (TWO, ["--loss", "mse", "--output-activation", "tanh"]),
    (TWO, ["--loss", "bce"]),
    (TWO, ["--clip", "-1", "2"]),
]


@pytest.mark.parametrize("text, argv", LEARNABLE, ids=[" ".join(a) for _, a in LEARNABLE])
def test_settings_that_can_learn_still_train(tmp_path, capsys, text, argv):
    result = cli(["train", "--data", _file(tmp_path, text), *argv, "--epochs", "3", "--quiet",
                  "--out", tmp_path / "out"], capsys)
    assert result.code == 0, result.err


@pytest.mark.parametrize("make, loss, needle", [
    *[(lambda a=act: MLP([2, 3, 1], output_activation=a), "bce", "sigmoid")
      for act in NOT_PROBABILITIES],
    *[(lambda a=act: MLP([2, 3, 1], output_activation=a), "softmax_cross_entropy",
       "one output unit") for act in ["sigmoid", "identity", "tanh"]],
    (lambda: digits_cnn(seed=0), "bce", "identity"),
    (lambda: lab_cnn(seed=0), "bce", "relu"),
])
def test_the_library_refuses_a_model_and_loss_that_cannot_learn(make, loss, needle):
    with pytest.raises(ValueError, match="use ") as info:
        Trainer(make(), loss=loss)
    assert needle in str(info.value) and "--" not in str(info.value)


def test_the_library_keeps_what_can_learn():
    Trainer(MLP([2, 3, 1]), loss="bce")
    Trainer(MLP([2, 3, 3], output_activation="identity"), loss="softmax_cross_entropy")
    Trainer(MLP([2, 3, 3], output_activation="sigmoid"), loss="bce")
    Trainer(MLP([2, 3, 1], output_activation="relu"), loss="mse")
    Trainer(digits_cnn(seed=0), loss="softmax_cross_entropy")
    Trainer(lab_cnn(seed=0), loss="mse")
