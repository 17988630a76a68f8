"""Value checks written against planted bugs (issue 16) that the rest of the suite let live.

Each test here asserts numbers computed independently of the code under test (the generator's
own draws, a hand-written loop of single steps, the CSV's columns as written), so that a run
compared with an identical run is never the only witness:

- mini-batch shuffling: every epoch's order is the trainer generator's next permutation, on the
  per-layer path and on the numba backend's fused path (a generator re-seeded every epoch gives
  every epoch one order, which a run compared with an identical run never notices);
- a negative label column picks the column it names (values of X and y, not their shapes);
- gradient clipping: symmetric C and asymmetric (lo, hi) bounds that bind, fused and per-layer,
  against one SGD step computed by hand;
- resume: every optimizer's state and step count ``t`` survive a checkpoint bit for bit.
"""

from __future__ import annotations

import numpy as np
import pytest

import fastnn
from fastnn.backends.numba import fused as F
from fastnn.io import checkpoint
from fastnn.io.datafiles import load_dataset, read_csv
from fastnn.nn.optim import OPTIMIZERS, clip
from fastnn.training import strategies

N, BATCH, EPOCHS, SEED = 23, 5, 4, 11


def _data(n=N, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 3))
    y = (X[:, :1] + 0.5 * X[:, 1:2] > 0).astype(np.float64)
    return X, y


def _trainer(backend="numpy", optimizer="sgd", lr=0.05, clip_=None, seed=SEED, **kw):
    model = fastnn.MLP([3, 4, 1], activation="tanh", output_activation="sigmoid",
                       init="xavier", seed=1)
    return fastnn.Trainer(model, loss="mse", optimizer=optimizer, lr=lr, backend=backend,
                          clip=clip_, seed=seed, **kw)


def _draws(rng, epochs, n=N):
    """The next ``epochs`` permutations of range(n) from ``rng``."""
    return [rng.permutation(n) for _ in range(epochs)]


def _expected_orders(seed, epochs, n=N):
    return _draws(np.random.default_rng(seed), epochs, n)


# -- shuffling ------------------------------------------------------------------------------------

def test_per_layer_minibatches_follow_the_generators_draws_epoch_after_epoch():
    X, y = _data()
    row = {float(v): i for i, v in enumerate(X[:, 0])}  # the first column is unique per row
    trainer = _trainer("numpy")
    seen = []
    real = trainer._step

    def spy(Xb, yb):
        seen.append([row[float(v)] for v in Xb[:, 0]])
        return real(Xb, yb)

    trainer._step = spy
    trainer.fit(X, y, epochs=EPOCHS, batch_size=BATCH)
    per_epoch = -(-N // BATCH)
    assert len(seen) == EPOCHS * per_epoch
    orders = [sum(seen[e * per_epoch:(e + 1) * per_epoch], []) for e in range(EPOCHS)]
    want = _expected_orders(SEED, EPOCHS)
    for e in range(EPOCHS):
        np.testing.assert_array_equal(orders[e], want[e], err_msg=f"epoch {e}")
    assert len({tuple(o) for o in orders}) == EPOCHS  # every epoch its own order
    # the trainer's generator has moved on by exactly those draws
    rng = np.random.default_rng(SEED)
    _draws(rng, EPOCHS)
    assert trainer._rng.bit_generator.state == rng.bit_generator.state


def test_fused_minibatch_orders_are_the_generators_draws(monkeypatch):
    monkeypatch.setattr(strategies, "STRETCH_SECONDS", float("inf"))
    orders = []
    real = F.FusedStep.run

    def spy(self, *args, **kw):
        orders.append(np.array(kw["order"] if "order" in kw else args[11]))
        return real(self, *args, **kw)

    monkeypatch.setattr(F.FusedStep, "run", spy)
    X, y = _data()
    trainer = _trainer("numba")
    trainer.fit(X, y, epochs=EPOCHS, batch_size=BATCH)
    assert len(orders) == 1 and orders[0].shape == (EPOCHS, N)
    np.testing.assert_array_equal(orders[0], np.stack(_expected_orders(SEED, EPOCHS)))
    assert len({tuple(o) for o in orders[0]}) == EPOCHS


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_minibatch_training_equals_a_hand_written_loop_of_single_steps(backend):
    """Epoch e trains on the batches of the generator's e-th permutation, one step each: the
    same weights as full-batch steps on those batches, taken one at a time by hand."""
    X, y = _data()
    trainer = _trainer(backend, optimizer="adam", lr=0.05)
    hist = trainer.fit(X, y, epochs=EPOCHS, batch_size=BATCH)
    by_hand = _trainer("numpy", optimizer="adam", lr=0.05)
    losses = []
    for order in _expected_orders(SEED, EPOCHS):
        total = 0.0
        for first in range(0, N, BATCH):
            idx = order[first:first + BATCH]
            total += by_hand.fit(X[idx], y[idx], epochs=1).loss[0] * len(idx)
        losses.append(total / N)
    np.testing.assert_allclose(trainer.model.params, by_hand.model.params, rtol=1e-10,
                               atol=1e-12)
    np.testing.assert_allclose(hist.loss, losses, rtol=1e-10)
    assert trainer.optimizer.t == by_hand.optimizer.t == EPOCHS * -(-N // BATCH)


# -- a negative label column ----------------------------------------------------------------------

CSV = "a,b,c,d\n1,10,0,100\n2,20,1,200\n3,30,0,300\n4,40,1,400\n"


@pytest.mark.parametrize("label_col, label, features", [
    (-1, [100, 200, 300, 400], ["a", "b", "c"]),
    (-2, [0, 1, 0, 1], ["a", "b", "d"]),
    ("-2", [0, 1, 0, 1], ["a", "b", "d"]),  # as the command line hands it over
    (-3, [10, 20, 30, 40], ["a", "c", "d"]),
    ("-4", [1, 2, 3, 4], ["b", "c", "d"]),
    (2, [0, 1, 0, 1], ["a", "b", "d"]),
])
def test_a_negative_label_column_picks_the_column_it_names(tmp_path, label_col, label, features):
    path = tmp_path / "d.csv"
    path.write_text(CSV)
    table = np.array([[1, 10, 0, 100], [2, 20, 1, 200], [3, 30, 0, 300], [4, 40, 1, 400]],
                     dtype=np.float64)
    cols = [["a", "b", "c", "d"].index(f) for f in features]
    X, raw, names = read_csv(path, label_col)
    np.testing.assert_array_equal(raw, label)
    np.testing.assert_array_equal(X, table[:, cols])
    assert names == features
    d = load_dataset(path, label_col=label_col)
    np.testing.assert_array_equal(d.X, table[:, cols])
    np.testing.assert_array_equal(d.classes, sorted(set(label)))
    np.testing.assert_array_equal(np.asarray(d.classes)[d.y.argmax(axis=1)] if d.y.shape[1] > 1
                                  else np.asarray(d.classes)[d.y[:, 0].astype(int)], label)


# -- clipping -------------------------------------------------------------------------------------

def test_clip_limits_each_entry_to_its_bounds():
    g = np.array([-3.0, -0.5, 0.0, 0.25, 2.0, np.nan])
    np.testing.assert_array_equal(clip(g, -1.0, 0.5), [-1.0, -0.5, 0.0, 0.25, 0.5, np.nan])
    np.testing.assert_array_equal(clip(g, -0.1, 3.0), [-0.1, -0.1, 0.0, 0.25, 2.0, np.nan])


CLIPS = [0.02, 0.07, (-0.05, 0.01), (-0.001, 0.1), (-1e-4, 1e-4)]


@pytest.mark.parametrize("backend", ["numpy", "numba", "reference"])
@pytest.mark.parametrize("clip_", CLIPS)
def test_clipped_sgd_step_equals_one_step_by_hand(backend, clip_):
    """One full-batch SGD step: p - lr * clip(g): the gradient from an unclipped trainer's
    backward pass (numpy), clipped here by the bounds themselves."""
    X, y = _data()
    lo, hi = (-clip_, clip_) if np.isscalar(clip_) else clip_
    probe = _trainer("numpy", lr=0.5)
    p0 = probe.model.params.copy()
    probe.fit(X, y, epochs=1)
    g = probe.model.grads.copy()
    assert (g < lo).any() and (g > hi).any()  # both bounds bind
    trainer = _trainer(backend, lr=0.5, clip_=clip_)
    trainer.fit(X, y, epochs=1)
    want = p0 - 0.5 * np.minimum(np.maximum(g, lo), hi)
    np.testing.assert_allclose(trainer.model.params, want, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("clip_", CLIPS)
@pytest.mark.parametrize("batch_size", [None, BATCH])
def test_fused_clip_equals_per_layer_clip(clip_, batch_size, monkeypatch):
    monkeypatch.setattr(strategies, "STRETCH_SECONDS", float("inf"))
    X, y = _data()
    runs = [_trainer(be, optimizer="rmsprop", lr=0.01, clip_=clip_) for be in ("numba", "numpy")]
    hists = [t.fit(X, y, epochs=EPOCHS, batch_size=batch_size) for t in runs]
    np.testing.assert_allclose(hists[0].loss, hists[1].loss, rtol=1e-10)
    np.testing.assert_allclose(runs[0].model.params, runs[1].model.params, rtol=1e-10,
                               atol=1e-13)
    np.testing.assert_allclose(runs[0].optimizer.state["square_avg"],
                               runs[1].optimizer.state["square_avg"], rtol=1e-10, atol=1e-16)
    free = _trainer("numba", optimizer="rmsprop", lr=0.01)
    free.fit(X, y, epochs=EPOCHS, batch_size=batch_size)
    assert not np.allclose(free.model.params, runs[0].model.params, rtol=1e-6)


# -- resume ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("backend", ["numpy", "numba"])
@pytest.mark.parametrize("optimizer", list(OPTIMIZERS))
def test_resume_continues_every_optimizer_bit_for_bit(tmp_path, backend, optimizer,
                                                      monkeypatch):
    """k epochs, a checkpoint, a new trainer restored from it, k more: the uninterrupted run's
    weights, optimizer state, step count, generator and losses, exactly."""
    monkeypatch.setattr(strategies, "STRETCH_SECONDS", float("inf"))
    X, y = _data()
    k = 3
    whole = _trainer(backend, optimizer, lr=0.02, clip_=(-0.5, 0.4))
    whole_hist = whole.fit(X, y, epochs=2 * k, batch_size=BATCH)
    first = _trainer(backend, optimizer, lr=0.02, clip_=(-0.5, 0.4))
    first_hist = first.fit(X, y, epochs=k, batch_size=BATCH)
    checkpoint.save(tmp_path / "c.npz", first.model, first, epoch=first.epoch,
                    history=first_hist)
    resumed = _trainer(backend, optimizer, lr=0.02, clip_=(-0.5, 0.4), seed=999)
    resumed.model.params[...] = 0.25  # restore must bring everything back
    resumed.restore(checkpoint.load(tmp_path / "c.npz"))
    assert resumed.optimizer.t == first.optimizer.t == k * -(-N // BATCH)
    assert resumed.epoch == k
    rest = resumed.fit(X, y, epochs=k, batch_size=BATCH)
    assert resumed.optimizer.t == whole.optimizer.t == 2 * k * -(-N // BATCH)
    np.testing.assert_array_equal(resumed.model.params, whole.model.params)
    assert set(resumed.optimizer.state) == set(whole.optimizer.state)
    for name, slot in whole.optimizer.state.items():
        np.testing.assert_array_equal(resumed.optimizer.state[name], slot, err_msg=name)
    assert resumed._rng.bit_generator.state == whole._rng.bit_generator.state
    np.testing.assert_array_equal(first_hist.loss + rest.loss, whole_hist.loss)
    assert resumed.epoch == whole.epoch == 2 * k
