"""The benchmark suite ``fastnn bench`` runs: pytest-benchmark files shipped inside the package,
so an installed fastnn can measure itself with no source checkout.

This module holds the helpers every benchmark file imports; the pytest plumbing (``--quick``,
the ``rounds`` fixture) is in ``conftest.py`` and the pytest settings in ``pytest.ini``. The
repository's ``benchmarks/`` folder re-exports these files, so ``pytest benchmarks/`` runs the
same definitions.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

#: The folder holding the suite: what pytest is pointed at.
SUITE_DIR = Path(__file__).resolve().parent


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """PyTorch's intra-op pool on ``n`` threads inside, its previous setting restored after.

    Parameters
    ----------
    n : int
        Threads for PyTorch's intra-op pool inside the ``with`` block.
    """
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


@contextmanager
def threads_for(impl: str, n: int) -> Iterator[None]:
    """PyTorch's intra-op pool (``impl`` "torch"), or fastnn's thread policy, on ``n``
    threads inside."""
    if impl == "torch":
        with torch_threads(n):
            yield
    else:
        from fastnn.threads import limit_threads

        with limit_threads(n):
            yield


def torch_epoch(net, X, labels, batch: int, lr: float, seed: int = 0):
    """One epoch of the usual PyTorch loop, as a function: Adam on cross-entropy over
    mini-batches of ``batch`` rows of X (a tensor), shuffled by a NumPy generator seeded
    ``seed`` (a fresh order each call)."""
    import numpy as np
    import torch

    opt = torch.optim.Adam(net.parameters(), lr=lr)
    loss_fn = torch.nn.CrossEntropyLoss()
    gen = np.random.default_rng(seed)

    def epoch():
        order = torch.from_numpy(gen.permutation(len(X)))
        for start in range(0, len(X), batch):
            idx = order[start:start + batch]
            opt.zero_grad()
            loss_fn(net(X[idx]), labels[idx]).backward()
            opt.step()

    return epoch


def record(benchmark, *, workload: str, backend: str, dtype: str, flops: float | None = None,
           threads: int | None = None, **extra) -> None:
    """Group the benchmark by workload and store what the reports need in ``extra_info``.

    Parameters
    ----------
    benchmark : pytest_benchmark.fixture.BenchmarkFixture
        The test's ``benchmark`` fixture.
    workload : str
        The report section (and pytest-benchmark group) the row belongs to.
    backend : str
        The row's label: a fastnn backend, ``pytorch-<version>``, ``numpy-blas``, ...
    dtype : str
        ``"float64"`` or ``"float32"`` (rows are compared within one dtype).
    flops : float, optional
        Floating-point operations of one timed call, for GFLOP/s and share of peak.
    threads : int, optional
        Threads the row ran on, when it pins them.
    **extra
        Further ``extra_info`` fields shown in the JSON report.
    """
    benchmark.group = workload
    benchmark.extra_info.update(workload=workload, backend=backend, dtype=dtype, flops=flops,
                                threads=threads, **extra)
