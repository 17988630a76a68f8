"""One training step of a bigger MLP (784-256-256-10, relu, sigmoid output, MSE, SGD, batch 128,
float32) through ``Trainer.fit(X, y, epochs=1)`` on the numpy and numba backends, with 1 and 2
threads, and the same step in PyTorch (nn.Linear + MSELoss + optim.SGD) when installed.

Here BLAS does almost all the work; the point is that fastnn's per-layer and fused paths add
nothing noticeable around it. The numba rows also store the JIT compile time (paid once, before
the timed rounds) in ``extra_info["compile_s"]``.
Run: ``fastnn bench --filter test_big_mlp`` (in a checkout also
``pytest benchmarks/test_big_mlp.py --benchmark-only``).
"""

import time

import numpy as np
import pytest

import fastnn
from fastnn.app.bench_suite import record, torch_threads

SIZES = [784, 256, 256, 10]
BATCH = 128
WORKLOAD = "big-mlp-step"
# forward 2*N*sum(Din*Dout), backward twice that (dW and dx)
FLOPS_PER_STEP = 3 * 2 * BATCH * sum(a * b for a, b in zip(SIZES[:-1], SIZES[1:], strict=True))
BACKENDS = [b for b in ("numpy", "numba") if b in fastnn.available_backends()]


def _data():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((BATCH, SIZES[0])).astype(np.float32)
    y = np.eye(SIZES[-1], dtype=np.float32)[rng.integers(0, SIZES[-1], BATCH)]
    return X, y


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("backend", BACKENDS)
def test_fastnn(benchmark, backend, threads, rounds):
    X, y = _data()
    model = fastnn.MLP(SIZES, activation="relu", output_activation="sigmoid", init="he", seed=0,
                       dtype="float32")
    trainer = fastnn.Trainer(model, lr=0.01, backend=backend, threads=threads)
    start = time.perf_counter()
    trainer.fit(X, y, epochs=1)  # warm-up: JIT compile (or cache load) outside the timed rounds
    first_call_s = time.perf_counter() - start
    record(benchmark, workload=WORKLOAD, backend=backend, dtype="float32", threads=threads,
           flops=FLOPS_PER_STEP, first_call_s=first_call_s)
    benchmark.pedantic(trainer.fit, args=(X, y, 1), rounds=rounds(200), warmup_rounds=2)


@pytest.mark.parametrize("threads", [1, 2])
def test_pytorch(benchmark, threads, rounds):
    torch = pytest.importorskip("torch",
                                reason="PyTorch not installed (pip install 'fastnn[compare]')")
    X, y = (torch.from_numpy(a) for a in _data())
    torch.manual_seed(0)
    layers = []
    for i, (din, dout) in enumerate(zip(SIZES[:-1], SIZES[1:], strict=True)):
        layers += [torch.nn.Linear(din, dout),
                   torch.nn.ReLU() if i < len(SIZES) - 2 else torch.nn.Sigmoid()]
    net = torch.nn.Sequential(*layers)
    opt = torch.optim.SGD(net.parameters(), lr=0.01)
    loss_fn = torch.nn.MSELoss()

    def step():
        opt.zero_grad()
        loss = loss_fn(net(X), y)
        loss.backward()
        opt.step()
        return loss.item()

    with torch_threads(threads):
        step()
        record(benchmark, workload=WORKLOAD, backend=f"pytorch-{torch.__version__}",
               dtype="float32", threads=threads, flops=FLOPS_PER_STEP)
        benchmark.pedantic(step, rounds=rounds(200), warmup_rounds=2)
