"""Shared benchmark plumbing: quick mode, and one way to label every benchmark.

``pytest benchmarks/ --benchmark-only`` runs everything at full length; ``--quick`` (what
``fastnn bench`` uses by default) cuts rounds and skips the longest cases.
"""

from __future__ import annotations

from contextlib import contextmanager

import pytest


def pytest_addoption(parser):
    parser.addoption("--quick", action="store_true", default=False,
                     help="fastnn: fewer rounds and no long reference-backend cases")


@pytest.fixture
def quick(request) -> bool:
    """True under ``--quick``."""
    return request.config.getoption("--quick")


@pytest.fixture
def rounds(quick):
    """``rounds(n)``: n rounds normally, a fifth of them (at least 3) under --quick."""
    return lambda n: max(3, n // 5) if quick else n


@contextmanager
def torch_threads(n: int):
    """PyTorch's intra-op pool on ``n`` threads inside, its previous setting restored after."""
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def record(benchmark, *, workload: str, backend: str, dtype: str, flops: float | None = None,
           threads: int | None = None, **extra) -> None:
    """Group the benchmark by workload and store what the reports need in ``extra_info``."""
    benchmark.group = workload
    benchmark.extra_info.update(workload=workload, backend=backend, dtype=dtype, flops=flops,
                                threads=threads, **extra)
