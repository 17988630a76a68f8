"""Machine yardsticks measured in the same run as everything else.

- ``gemm-peak``: NumPy's BLAS matmul (2048 x 2048, float64 and float32): this machine's
  measured GEMM rate, against which reports put every workload's GFLOP/s.
- ``yardstick``: a fixed mix of pure-Python loops and small NumPy calls that uses no fastnn
  code. ``fastnn bench --compare`` judges each benchmark by its time relative to this one, so
  a slower or busier machine does not read as a regression.
"""

import numpy as np
import pytest

from fastnn.app.bench_suite import record


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_gemm_peak(benchmark, dtype, rounds):
    n = 2048
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n)).astype(dtype)
    b = rng.standard_normal((n, n)).astype(dtype)
    out = np.empty((n, n), dtype=dtype)
    record(benchmark, workload="gemm-peak", backend="numpy-blas", dtype=dtype,
           flops=2.0 * n**3)
    benchmark.pedantic(np.matmul, args=(a, b), kwargs={"out": out}, rounds=rounds(10),
                       warmup_rounds=1)


def _mix():
    total = 0
    for i in range(60_000):
        total += i * i % 7
    x = np.arange(64.0)
    for _ in range(900):
        x = np.tanh(x * 0.5) + 1.0
    return total, float(x.sum())


def test_yardstick(benchmark, rounds):
    """About 5 ms a round; at least 20 rounds even under --quick, as every verdict hangs on it."""
    record(benchmark, workload="yardstick", backend="python", dtype="float64")
    benchmark.pedantic(_mix, rounds=max(20, rounds(60)), warmup_rounds=2)
