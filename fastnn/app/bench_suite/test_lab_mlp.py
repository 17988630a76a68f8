"""One epoch of the lab network (2-4-4-1, sigmoid, MSE, full batch of 100 linear points, SGD,
float64) through ``Trainer.fit`` on every backend, and the same in PyTorch when installed.

Each round trains EPOCHS epochs (one ``fit`` call, so per-call set-up is amortized exactly as
a user's run amortizes it); ``extra_info["us_per_epoch"]`` gives the per-epoch median.
Run: ``fastnn bench --filter test_lab_mlp`` (in a checkout also
``pytest benchmarks/test_lab_mlp.py --benchmark-only``).
"""

import pytest

import fastnn
from fastnn.app.bench_suite import record, torch_threads

EPOCHS = 100
WORKLOAD = "lab-mlp-epoch"
# forward 2*N*(2*4 + 4*4 + 4*1) multiply-adds, backward about twice that
FLOPS_PER_EPOCH = 3 * 2 * 100 * (2 * 4 + 4 * 4 + 4 * 1)


def _per_epoch(benchmark):
    if benchmark.stats is not None:  # None under --benchmark-disable (a smoke run)
        benchmark.extra_info["us_per_epoch"] = benchmark.stats.stats.median / EPOCHS * 1e6


@pytest.mark.parametrize("backend", fastnn.available_backends())
def test_fastnn(benchmark, backend, rounds):
    X, y = fastnn.data.generate_linear(100, seed=0)
    trainer = fastnn.Trainer(fastnn.MLP([2, 4, 4, 1], seed=2), lr=0.1, backend=backend)
    trainer.fit(X, y, epochs=2)  # warm-up (JIT compile, caches) outside the timed region
    record(benchmark, workload=WORKLOAD, backend=backend, dtype="float64",
           flops=FLOPS_PER_EPOCH * EPOCHS, epochs_per_round=EPOCHS)
    benchmark.pedantic(trainer.fit, args=(X, y, EPOCHS),
                       rounds=rounds(10 if backend == "reference" else 200), warmup_rounds=1)
    _per_epoch(benchmark)


@pytest.mark.parametrize("optimizer", ["adam", "adamw", "nesterov"])
def test_fused_optimizers(benchmark, optimizer, rounds):
    """The same epoch fused on numba with other update rules (workload lab-mlp-epoch-<name>):
    each rule is compiled into the epoch loop from its one definition in fastnn.nn.optim."""
    X, y = fastnn.data.generate_linear(100, seed=0)
    trainer = fastnn.Trainer(fastnn.MLP([2, 4, 4, 1], seed=2), optimizer=optimizer, lr=0.01,
                             backend="numba")
    trainer.fit(X, y, epochs=2)
    record(benchmark, workload=f"{WORKLOAD}-{optimizer}", backend="numba", dtype="float64",
           flops=FLOPS_PER_EPOCH * EPOCHS, epochs_per_round=EPOCHS)
    benchmark.pedantic(trainer.fit, args=(X, y, EPOCHS), rounds=rounds(200), warmup_rounds=1)
    _per_epoch(benchmark)


@pytest.mark.parametrize("threads", [1, 2])
def test_pytorch(benchmark, threads, rounds):
    torch = pytest.importorskip("torch",
                                reason="PyTorch not installed (pip install 'fastnn[compare]')")
    X, y = (torch.from_numpy(a) for a in fastnn.data.generate_linear(100, seed=0))
    torch.manual_seed(2)
    net = torch.nn.Sequential(torch.nn.Linear(2, 4), torch.nn.Sigmoid(), torch.nn.Linear(4, 4),
                              torch.nn.Sigmoid(), torch.nn.Linear(4, 1), torch.nn.Sigmoid())
    net = net.double()
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    loss_fn = torch.nn.MSELoss()

    def fit():
        for _ in range(EPOCHS):
            opt.zero_grad()
            loss = loss_fn(net(X), y)
            loss.backward()
            opt.step()

    with torch_threads(threads):
        fit()
        record(benchmark, workload=WORKLOAD, backend=f"pytorch-{torch.__version__}",
               dtype="float64", flops=FLOPS_PER_EPOCH * EPOCHS, threads=threads,
               epochs_per_round=EPOCHS)
        benchmark.pedantic(fit, rounds=rounds(100), warmup_rounds=1)
        _per_epoch(benchmark)
