"""One training epoch of the digits MLP (64-128-64-10, relu, softmax cross-entropy, Adam at lr
1e-3, shuffled mini-batches of 32 over the 1,438 training images of the seeded 80/20 split that
``test_digits_epoch.py`` uses, flattened to 64 pixels) through ``Trainer.fit(X, y, 1,
batch_size=32)``, and the same network in PyTorch and in scikit-learn.

scikit-learn's row is ``MLPClassifier(hidden_layer_sizes=(128, 64), solver="adam",
batch_size=32, learning_rate_init=1e-3, alpha=0, shuffle=True)`` (alpha 0: scikit-learn adds an
L2 penalty alpha * ||W||^2 / 2 to its loss by default, which the other rows do not), timed one
``partial_fit(X, labels)`` per epoch, the classes given at the warm-up call. ``partial_fit``
runs ``_fit_stochastic`` with ``incremental=True``: it shuffles once, makes one pass over the
mini-batches, updates ``loss_curve_`` and the no-improvement counter (no validation scoring:
``partial_fit`` refuses ``early_stopping``), and breaks out of its epoch loop after that first
pass. ``fit`` with ``max_iter=1, warm_start=True`` does the same pass but then warns
(ConvergenceWarning) on every call, so it was not chosen. The generator is a ``RandomState``
instance rather than a seed: an integer ``random_state`` would reseed it on every call and
shuffle every epoch alike.
"""

import numpy as np
import pytest

import fastnn
from fastnn.app.bench_suite import record, torch_epoch, torch_threads

WORKLOAD = "digits-mlp-epoch"
SIZES = [64, 128, 64, 10]
BATCH = 32
LR = 1e-3


def _data(dtype):
    pytest.importorskip("sklearn", reason="scikit-learn not installed (pip install 'fastnn[data]')")
    X, y = fastnn.data.load_digits()
    Xtr, _, ytr, _ = fastnn.data.train_test_split(X, y, 0.2, seed=0)
    return Xtr.reshape(len(Xtr), -1).astype(dtype), ytr.astype(dtype)


def _flops(n):
    # multiply-adds of the three dense layers, x2 for FLOPs, x3 for forward and backward
    per_sample = sum(a * b for a, b in zip(SIZES[:-1], SIZES[1:], strict=True))
    return 3 * 2 * per_sample * n


def _rounds(rounds):
    return rounds(30)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("backend", [b for b in fastnn.available_backends() if b != "reference"])
def test_fastnn(benchmark, backend, dtype, rounds):
    X, y = _data(dtype)
    model = fastnn.MLP(SIZES, activation="relu", output_activation="identity", init="he",
                       seed=0, dtype=dtype)
    trainer = fastnn.Trainer(model, loss="softmax_cross_entropy", optimizer="adam", lr=LR,
                             backend=backend, seed=0)
    trainer.fit(X[:128], y[:128], epochs=1, batch_size=BATCH)  # warm-up / JIT compile
    record(benchmark, workload=WORKLOAD, backend=backend, dtype=dtype, flops=_flops(len(X)))
    benchmark.pedantic(trainer.fit, args=(X, y, 1), kwargs={"batch_size": BATCH},
                       rounds=_rounds(rounds), warmup_rounds=1)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("threads", [1, 2])
def test_pytorch(benchmark, dtype, threads, rounds):
    torch = pytest.importorskip("torch",
                                reason="PyTorch not installed (pip install 'fastnn[compare]')")
    X, y = _data(dtype)
    Xt, labels = torch.from_numpy(X), torch.from_numpy(y.argmax(axis=1))
    torch.manual_seed(0)
    nn = torch.nn
    net = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU(),
                        nn.Linear(64, 10)).to(getattr(torch, dtype))
    epoch = torch_epoch(net, Xt, labels, BATCH, LR)

    with torch_threads(threads):
        epoch()
        record(benchmark, workload=WORKLOAD, backend=f"pytorch-{torch.__version__}",
               dtype=dtype, flops=_flops(len(X)), threads=threads)
        benchmark.pedantic(epoch, rounds=_rounds(rounds), warmup_rounds=1)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_sklearn(benchmark, dtype, rounds):
    sklearn = pytest.importorskip("sklearn", reason="scikit-learn not installed "
                                                    "(pip install 'fastnn[bench]')")
    from sklearn.neural_network import MLPClassifier

    X, y = _data(dtype)
    labels = y.argmax(axis=1)
    classes = np.arange(SIZES[-1])
    clf = MLPClassifier(hidden_layer_sizes=tuple(SIZES[1:-1]), activation="relu", solver="adam",
                        alpha=0.0, batch_size=BATCH, learning_rate_init=LR, shuffle=True,
                        random_state=np.random.RandomState(0))
    clf.partial_fit(X, labels, classes=classes)  # initializes the weights; a warm-up epoch
    assert clf.coefs_[0].dtype == np.dtype(dtype)  # scikit-learn trains in X's dtype
    record(benchmark, workload=WORKLOAD, backend=f"sklearn-{sklearn.__version__}", dtype=dtype,
           flops=_flops(len(X)))
    benchmark.pedantic(clf.partial_fit, args=(X, labels), rounds=_rounds(rounds),
                       warmup_rounds=1)
