"""Class 3: a network, a batch or a checkpoint that cannot fit in memory is refused with its
size, before it is allocated; a checkpoint whose architecture disagrees with its stored
parameters is refused before the model is built.

Refusals use sizes no machine has (a petabyte and more), or a memory limit set by the test;
accepted cases are small: nothing here depends on this machine's memory.
"""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

import fastnn
from fastnn import memory
from fastnn.io import checkpoint
from fastnn.nn.model import plan

from ._ckpt import forged_npy, js, npy_bytes, read, write, zip64
from .conftest import assert_error, cli

PETA = 10**15


@pytest.fixture
def small_memory(monkeypatch):
    """Pretend 10 MB of memory is available."""
    monkeypatch.setattr(memory, "available_bytes", lambda: 10**7)


def _peak(fn):
    """(exception raised by fn, peak bytes NumPy and Python allocated meanwhile)."""
    tracemalloc.start()
    try:
        fn()
    except ValueError as e:
        error = e
    else:
        error = None
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return error, peak


@pytest.mark.parametrize("build, size", [
    (lambda: fastnn.MLP([10**8, 10**8, 1]), "160 PB"),
    (lambda: fastnn.Sequential([fastnn.Dense(10**10, 10**10)]), "1.6 ZB"),
    (lambda: fastnn.MLP([2, 10**8, 10**8, 1]), "160 PB"),
    (lambda: fastnn.Sequential([fastnn.Conv2d(10**5, 10**5, 1000)], input_shape=(10**5, 10**3,
                                                                                  10**3)),
     "160 PB"),
    (lambda: fastnn.MLP([10**12, 10**12], dtype="float32"), "8 YB"),
])
def test_a_network_that_cannot_fit_is_refused_before_allocating(build, size):
    error, peak = _peak(build)
    assert isinstance(error, memory.MemoryLimitError), error
    assert "needs" in str(error) and size in str(error) and "available" in str(error)
    assert peak < 10**7


def test_the_estimate_counts_every_parameter_without_allocating():
    for model in (fastnn.MLP([3, 7, 5, 2]), fastnn.digits_cnn(seed=0), fastnn.lab_cnn(seed=0)):
        shape, fp = plan(model.layers, model.input_shape, model.dtype)
        assert shape == model.output_shape and fp.params == model.params.size
        assert fp.nbytes() == 2 * model.params.nbytes
    # Python ints: a size past int64 is exact, where np.prod would wrap around
    _, fp = plan([fastnn.Dense(10**10, 10**10)], (10**10,))
    assert fp.params == 10**20 + 10**10


@pytest.mark.parametrize("rows, batch_size, needle", [
    (10**14, None, "training on batches of 100,000,000,000,000 rows"),
    (10**14, 64, "training on batches of 64 rows"),  # the copy of X in float64 alone: 1.6 PB
    (10**16, 10**15, "needs"),
])
def test_a_batch_that_cannot_fit_is_refused_before_copying(rows, batch_size, needle):
    X = np.broadcast_to(np.zeros((1, 2), dtype=np.float32), (rows, 2))  # no memory behind it
    y = np.broadcast_to(np.zeros((1, 1)), (rows, 1))
    trainer = fastnn.Trainer(fastnn.MLP([2, 4, 1], seed=0), lr=0.1)
    error, peak = _peak(lambda: trainer.fit(X, y, epochs=1, batch_size=batch_size))
    assert isinstance(error, memory.MemoryLimitError) and needle in str(error), error
    assert peak < 10**7
    error, _ = _peak(lambda: trainer.predict(X))
    assert isinstance(error, memory.MemoryLimitError) and "running the model on" in str(error)


def test_small_work_is_accepted_under_a_small_limit(small_memory):
    X, y = fastnn.data.generate_xor_easy()
    trainer = fastnn.Trainer(fastnn.MLP([2, 4, 4, 1], seed=2), lr=1.0)
    assert len(trainer.fit(X, y, epochs=3).loss) == 3
    assert trainer.predict(X).shape == (len(X), 1)


def test_activations_count_under_a_limit(small_memory):
    """A model that fits, on a batch whose activations do not (10 MB pretended)."""
    X = np.zeros((20_000, 2))
    y = np.zeros((20_000, 1))
    trainer = fastnn.Trainer(fastnn.MLP([2, 100, 1], seed=0), lr=0.1)
    with pytest.raises(memory.MemoryLimitError, match=r"batches of 20,000 rows .* needs 65.3 MB"):
        trainer.fit(X, y, epochs=1)
    assert len(trainer.fit(X, y, epochs=1, batch_size=1000).loss) == 1


@pytest.mark.parametrize("argv, needle", [
    (["train", "--hidden", "1000", "1000"], "a model of 1,005,001 parameters (with their "
     "gradients) needs 16.1 MB; about 10 MB of memory is available"),
    (["train", "--data", "linear", "--n", "100000", "--hidden", "16"], "batches of 100,000"),
    (["train", "--data", "digits", "--model", "cnn", "--epochs", "1"], "training on batches"),
])
def test_the_cli_refuses_what_cannot_fit(small_memory, tmp_path, capsys, argv, needle):
    if "digits" in argv:
        pytest.importorskip("sklearn")
        argv = [*argv, "--batch-size", "1000"]
    result = cli([*argv, "--quiet", "--out", tmp_path / "run"], capsys)
    assert_error(result, 2, needle)
    assert not (tmp_path / "run").exists()


@pytest.fixture
def saved(tmp_path):
    path = tmp_path / "m.npz"
    checkpoint.save(path, fastnn.MLP([2, 4, 1], seed=0))
    return path


def _huge_config(a):
    a["config"] = js({"layers": [{"type": "Dense", "din": 10**6, "dout": 10**6}],
                      "input_shape": [10**6], "dtype": "float64"})


@pytest.mark.parametrize("forge, needle", [
    # the architecture says 8 TB, the stored params 17 numbers: refused before building
    (lambda p, a: (_huge_config(a), write(p, a)), "its architecture has 1,000,001,000,000"),
    # the architecture and the params header agree on 8 TB, but the bytes are not there
    (lambda p, a: (_huge_config(a), zip64(p, {**{f"{k}.npy": npy_bytes(v) for k, v in a.items()
                                                 if k != "params"},
                                              "params.npy": forged_npy((10**12 + 10**6,))})),
     "declares (1000001000000,) float64 (8 TB) but holds 16 bytes"),
    # a zip bomb: a member claims a petabyte
    (lambda p, a: zip64(p, {f"{k}.npy": npy_bytes(v) for k, v in a.items()},
                        {"params.npy": PETA}), "reading its arrays needs 1 PB"),
    (lambda p, a: zip64(p, {f"{k}.npy": npy_bytes(v) for k, v in a.items()},
                        {"config.npy": 10**18}), "needs 1 EB"),
])
def test_a_checkpoint_is_sized_before_it_is_read(saved, capsys, forge, needle):
    forge(saved, read(saved))
    error, peak = _peak(lambda: checkpoint.load(saved))
    assert isinstance(error, ValueError) and needle in str(error), error
    assert peak < 10**7
    assert_error(cli(["predict", "--model", saved, "--data", "xor"], capsys), 2, needle)


def test_a_checkpoint_larger_than_memory_is_refused(monkeypatch, tmp_path):
    path = tmp_path / "big.npz"
    checkpoint.save(path, fastnn.MLP([1000, 1000, 1], seed=0))  # 8 MB of weights: 24 to load
    monkeypatch.setattr(memory, "available_bytes", lambda: 2 * 10**7)
    with pytest.raises(memory.MemoryLimitError, match="loading its model of 1,002,001 "
                                                      "parameters needs 24"):
        checkpoint.load(path)


def test_the_limit_reads_meminfo_and_sizes_read_well():
    assert memory.available_bytes() is None or memory.available_bytes() > 0
    assert memory.human_bytes(3_200_000_000_000) == "3.2 TB"
    assert memory.human_bytes(999) == "999 bytes"
    memory.check_fits(1000, "a kilobyte")  # accepted: any machine has a kB
    with pytest.raises(memory.MemoryLimitError, match="a yottabyte needs 1 YB"):
        memory.check_fits(10**24, "a yottabyte")
