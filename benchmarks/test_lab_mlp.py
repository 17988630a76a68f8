"""One epoch of the lab network (2-4-4-1, sigmoid, MSE, full batch of 100 linear points, SGD,
float64) through ``Trainer.fit`` on every backend, and the same in PyTorch when installed.

Each round trains EPOCHS epochs (one ``fit`` call, so per-call set-up is amortized exactly as
a user's run amortizes it); ``extra_info["us_per_epoch"]`` gives the per-epoch median.
Run: ``pytest benchmarks/test_lab_mlp.py --benchmark-only``.
"""

import pytest

import fastnn

EPOCHS = 100
ROUNDS = {"reference": 10}
GROUP = "lab-mlp-epoch"


def _record(benchmark, **info):
    benchmark.extra_info.update(info, epochs_per_round=EPOCHS)


def _per_epoch(benchmark):
    if benchmark.stats is not None:  # None under --benchmark-disable (a smoke run)
        _per_epoch(benchmark)


@pytest.mark.parametrize("backend", fastnn.available_backends())
def test_fastnn(benchmark, backend):
    X, y = fastnn.data.generate_linear(100, seed=0)
    trainer = fastnn.Trainer(fastnn.MLP([2, 4, 4, 1], seed=2), lr=0.1, backend=backend)
    trainer.fit(X, y, epochs=2)  # warm-up (JIT compile, caches) outside the timed region
    benchmark.group = GROUP
    _record(benchmark, backend=backend, dtype="float64")
    benchmark.pedantic(trainer.fit, args=(X, y, EPOCHS), rounds=ROUNDS.get(backend, 200),
                       warmup_rounds=1)
    _per_epoch(benchmark)


@pytest.mark.parametrize("threads", [1, 2])
def test_pytorch(benchmark, threads):
    torch = pytest.importorskip("torch", reason="PyTorch not installed (pip install '.[compare]')")
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

    old = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        fit()
        benchmark.group = GROUP
        _record(benchmark, backend=f"pytorch-{torch.__version__}", dtype="float64",
                threads=threads)
        benchmark.pedantic(fit, rounds=100, warmup_rounds=1)
        _per_epoch(benchmark)
    finally:
        torch.set_num_threads(old)
