"""One training epoch of the digits CNN (fastnn.digits_cnn: conv 1->16, pool, conv 16->32,
pool, dense -> 10; softmax cross-entropy; Adam; mini-batches of 64 over the 1,438 training
images of the seeded 80/20 split) through ``Trainer.fit``, and the same network in PyTorch."""

import pytest

import fastnn
from fastnn import digits_cnn
from fastnn.app.bench_suite import record, torch_epoch, torch_threads

WORKLOAD = "digits-cnn-epoch"
BATCH = 64


def _data(dtype):
    pytest.importorskip("sklearn", reason="scikit-learn not installed (pip install 'fastnn[data]')")
    X, y = fastnn.data.load_digits()
    Xtr, _, ytr, _ = fastnn.data.train_test_split(X, y, 0.2, seed=0)
    return Xtr.astype(dtype), ytr.astype(dtype)


def _flops(n):
    # multiply-adds of the two convolutions and the dense layer, x2 for FLOPs, x3 for backward
    per_image = 16 * 1 * 9 * 64 + 32 * 16 * 9 * 16 + 128 * 10
    return 3 * 2 * per_image * n


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("backend", [b for b in fastnn.available_backends() if b != "reference"])
def test_fastnn(benchmark, backend, dtype, rounds):
    X, y = _data(dtype)
    model = digits_cnn(seed=0, dtype=dtype)
    trainer = fastnn.Trainer(model, loss="softmax_cross_entropy", optimizer="adam", lr=1e-3,
                             backend=backend, seed=0)
    trainer.fit(X[:128], y[:128], epochs=1, batch_size=BATCH)  # warm-up / JIT compile
    record(benchmark, workload=WORKLOAD, backend=backend, dtype=dtype, flops=_flops(len(X)))
    benchmark.pedantic(trainer.fit, args=(X, y, 1), kwargs={"batch_size": BATCH},
                       rounds=rounds(10), warmup_rounds=1)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("threads", [1, 2])
def test_pytorch(benchmark, dtype, threads, rounds):
    torch = pytest.importorskip("torch",
                                reason="PyTorch not installed (pip install 'fastnn[compare]')")
    X, y = _data(dtype)
    Xt, labels = torch.from_numpy(X), torch.from_numpy(y.argmax(axis=1))
    torch.manual_seed(0)
    nn = torch.nn
    net = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Flatten(), nn.Linear(128, 10)).to(getattr(torch, dtype))
    epoch = torch_epoch(net, Xt, labels, BATCH, 1e-3)

    with torch_threads(threads):
        epoch()
        record(benchmark, workload=WORKLOAD, backend=f"pytorch-{torch.__version__}",
               dtype=dtype, flops=_flops(len(X)), threads=threads)
        benchmark.pedantic(epoch, rounds=rounds(10), warmup_rounds=1)
