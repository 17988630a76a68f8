"""Class 1: a non-finite loss in any epoch (the last one, and the last update, included) is exit
1 with the epoch and a hint; nothing finished-looking is written from non-finite weights; the
last good checkpoint stays; every JSON fastnn writes is strict."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest

import fastnn
from fastnn.io import checkpoint
from fastnn.io.atomic import strict_json, write_json
from fastnn.training import DivergenceError

from .conftest import assert_error, assert_no_temp, cli

# identity network, lr 10, linear data: epochs 1-3 have finite losses; the update of epoch 3
# leaves finite weights whose loss overflows; epoch 4's loss is inf (found by training it)
DIVERGES = ["train", "--data", "linear", "--activation", "identity", "--output-activation",
            "identity", "--lr", "10", "--quiet"]
RESULTS = {"output.txt", "config.json", "learning_curve.png", "comparison.png"}


def _strict(text: str):
    def refuse(token):
        raise AssertionError(f"non-JSON token {token}")
    return json.loads(text, parse_constant=refuse)


@pytest.mark.parametrize("backend", ["reference", "numpy", "numba"])
@pytest.mark.parametrize("epochs, where", [
    (3, "after the update of epoch 3"),   # the last update: finite weights, infinite loss
    (4, "at epoch 4"),                    # the last epoch's own loss
    (9, "at epoch 4"),                    # mid-run
])
def test_divergence_is_exit_1_and_writes_nothing(tmp_path, capsys, backend, epochs, where):
    out = tmp_path / "run"
    line = assert_error(cli([*DIVERGES, "--epochs", epochs, "--backend", backend, "--out", out],
                            capsys), 1, "diverged", where, "learning rate", "nothing was written")
    assert "nan" in line or "inf" in line
    assert not out.exists()  # the folder the run created is gone again


@pytest.mark.parametrize("extra", [[], ["--batch-size", "50", "--lr", "1"],
                                   pytest.param(["--backend", "numba"], id="numba")])
def test_the_last_good_checkpoint_stays(tmp_path, capsys, extra):
    out = tmp_path / "run"
    line = assert_error(cli([*DIVERGES, "--epochs", "9", "--checkpoint-every", "2", *extra,
                             "--out", out], capsys), 1, "diverged", f"kept in {out / 'model.npz'}")
    epoch = re.search(r"at epoch (\d+)", line).group(1)
    assert int(epoch) in (3, 4)
    ckpt = checkpoint.load(out / "model.npz")
    assert ckpt.epoch == 2 and np.isfinite(ckpt.model.params).all()
    assert {p.name for p in out.iterdir()} == {"model.npz", "history.csv"}
    assert_no_temp(out)
    # resuming it diverges again, and the checkpoint is still the epoch-2 one, byte for byte
    before = (out / "model.npz").read_bytes()
    assert_error(cli(["train", "--resume", out, "--epochs", "9", "--quiet"], capsys), 1,
                 "diverged", f"at epoch {epoch}")
    assert (out / "model.npz").read_bytes() == before


def test_a_diverged_run_leaves_a_previous_run_whole(tmp_path, capsys):
    out = tmp_path / "run"
    assert cli(["train", "--epochs", "50", "--quiet", "--out", out], capsys).code == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert_error(cli([*DIVERGES, "--epochs", "9", "--out", out], capsys), 1, "diverged")
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    # with a checkpoint of its own, the new run replaces the old one's files: never a mix
    assert_error(cli([*DIVERGES, "--epochs", "9", "--checkpoint-every", "2", "--out", out],
                     capsys), 1, "diverged")
    assert {p.name for p in out.iterdir()} == {"model.npz", "history.csv"}
    assert checkpoint.load(out / "model.npz").meta["spec"]["lr"] == 10


@pytest.mark.parametrize("backend", ["reference", "numpy", "numba"])
def test_fit_raises_when_the_last_update_overflows_the_weights(backend):
    # loss (1e154)^2 = 1e308 is finite; the update 1e154 * 2e154 is not
    model = fastnn.MLP([1, 1], activation="identity", output_activation="identity", seed=2)
    model.params[:] = [1e154, 0.0]
    trainer = fastnn.Trainer(model, lr=1e154, backend=backend)
    with pytest.raises(DivergenceError, match="weights became non-finite in the update of "
                       "epoch 1") as e:
        trainer.fit(np.ones((1, 1)), np.zeros((1, 1)), epochs=1)
    assert e.value.epoch == 1


def test_config_json_and_checkpoints_are_strict_json(tmp_path, capsys):
    out = tmp_path / "run"
    assert cli(["train", "--epochs", "30", "--quiet", "--out", out], capsys).code == 0
    _strict((out / "config.json").read_text())
    with np.load(out / "model.npz") as f:
        for name in ("config", "optimizer", "trainer", "meta"):
            _strict(str(f[name]))


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, [1.0, math.nan],
                                 {"a": {"b": [0, math.inf]}}])
def test_non_finite_numbers_are_never_written_as_json(tmp_path, bad):
    with pytest.raises(ValueError, match="non-finite"):
        strict_json({"x": bad})
    with pytest.raises(ValueError, match="non-finite"):
        write_json(tmp_path / "c.json", {"x": bad})
    assert list(tmp_path.iterdir()) == []


def test_predict_refuses_a_diverged_checkpoint(tmp_path, capsys, trained):
    ckpt = checkpoint.load(trained / "model.npz")
    ckpt.model.params[3] = np.nan
    bad = tmp_path / "bad.npz"
    checkpoint.save(bad, ckpt.model)
    assert_error(cli(["predict", "--model", bad, "--data", "xor"], capsys), 2, "NaN or inf")
