"""Class 9: bounded growth. A history keeps every epoch up to a limit, then every k-th (k
doubling), so memory, history.csv and model.npz stay bounded however long a run is, and a
checkpointed, resumed run keeps exactly the epochs (and metrics) an uninterrupted one keeps."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fastnn
from fastnn.io import checkpoint
from fastnn.training import History, history

from .conftest import cli


def _feed(h: History, first: int, n: int) -> None:
    epochs = np.arange(first, first + n)
    h.record(first, list(epochs * 0.5), list(epochs * 0.25))


@settings(max_examples=80, deadline=None)
@given(limit=st.integers(2, 40), cuts=st.lists(st.integers(1, 200), min_size=1, max_size=8))
def test_thinning_is_bounded_even_and_independent_of_the_pieces(limit, cuts):
    whole, pieces = History(limit=limit), History(limit=limit)
    total = sum(cuts)
    _feed(whole, 1, total)
    first = 1
    for n in cuts:  # as a run checkpointed after each piece, and resumed from the arrays
        _feed(pieces, first, n)
        pieces = History.from_arrays({"epoch": np.array(pieces.epoch),
                                      "loss": np.array(pieces.loss),
                                      "accuracy": np.array(pieces.accuracy)}, pieces.stride)
        pieces.limit = limit
        first += n
    assert pieces.epoch == whole.epoch and pieces.loss == whole.loss
    assert pieces.stride == whole.stride
    assert len(whole.epoch) <= limit
    assert whole.epoch == list(range(whole.stride, total + 1, whole.stride))  # evenly spaced
    if total >= limit:
        assert len(whole.epoch) > limit // 2 - 1
    assert whole.loss == [e * 0.5 for e in whole.epoch]  # each kept epoch keeps its own metrics


def test_a_long_cli_run_stays_bounded_and_resumes_exactly(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(history, "HISTORY_LIMIT", 64)
    base = ["train", "--data", "xor", "--backend", "numba", "--quiet"]
    straight, pieces = tmp_path / "straight", tmp_path / "pieces"
    assert cli([*base, "--epochs", 30_000, "--out", straight], capsys).code == 0
    assert cli([*base, "--epochs", 7_001, "--out", pieces], capsys).code == 0
    assert cli(["train", "--resume", pieces, "--epochs", 19_999, "--quiet"], capsys).code == 0
    assert cli(["train", "--resume", pieces, "--epochs", 30_000, "--quiet"], capsys).code == 0
    for name in ("history.csv", ):
        assert (pieces / name).read_text() == (straight / name).read_text()
    rows = (straight / "history.csv").read_text().splitlines()
    assert 32 < len(rows) - 1 <= 64 and rows[-1].startswith("29696,")  # stride 512
    got, want = checkpoint.load(pieces / "model.npz"), checkpoint.load(straight / "model.npz")
    np.testing.assert_array_equal(got.model.params, want.model.params)
    assert len(got.history["loss"]) == len(rows) - 1


@pytest.mark.slow
def test_a_million_epochs_keep_history_and_checkpoint_small(tmp_path, capsys):
    """The real limit: 2,000,000 numba epochs of the lab (seconds)."""
    out = tmp_path / "run"
    assert cli(["train", "--backend", "numba", "--epochs", 2_000_000, "--quiet", "--out", out],
               capsys).code == 0
    rows = (out / "history.csv").read_text().splitlines()
    assert history.HISTORY_LIMIT // 2 < len(rows) - 1 <= history.HISTORY_LIMIT
    assert (out / "model.npz").stat().st_size < 4 * 8 * history.HISTORY_LIMIT
    assert (out / "history.csv").stat().st_size < 80 * history.HISTORY_LIMIT


def test_fit_returns_a_bounded_history(monkeypatch):
    monkeypatch.setattr(history, "HISTORY_LIMIT", 100)
    X, y = fastnn.data.generate_xor_easy()
    trainer = fastnn.Trainer(fastnn.MLP([2, 4, 4, 1], seed=2), lr=1.0)
    h = trainer.fit(X, y, epochs=1000)
    assert len(h.loss) == len(h.epoch) <= 100 and h.epochs == 1000
    assert h.epoch[-1] == 992 and h.stride == 16  # the multiples of 16
