"""Kernels the way a program runs them, one after another: the ``conv-chain`` workload.

One round is [a 512x512 by 512x512 dense product; conv forward; relu forward; relu backward;
conv backward] on the big convolution shapes (conv 16->32 3x3 pad 1 on 64x16x32x32), through
each fastnn backend's kernels (``dense_forward``, ``conv2d_*``, ``activation_*``) and through
PyTorch (``F.linear``, ``F.conv2d``, ``F.relu``, autograd), in float32 and float64, on 1 and 2
threads. Alone each kernel can be fast and still lose in a chain, when one library's idle
threads spin on the cores the next one needs (see :mod:`fastnn.threads`). Every fastnn row runs
inside :func:`fastnn.threads.limit_threads`, the scope ``Trainer.fit`` opens.

``conv-chain-busy-float32`` runs the float32 chain again while a process of ours spins on one
core, as another program would: 2 threads should be no slower than 1 there.

Every row's ``extra_info`` holds ``vs_torch``: its time over PyTorch's on as many threads, in
the same group (every PyTorch row runs first).
Run: ``fastnn bench --filter test_conv_chain`` (in a checkout also ``pytest
benchmarks/test_conv_chain.py --benchmark-only``; ``--quick``: fewer rounds).
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import time
from contextlib import contextmanager

import numpy as np
import pytest

import fastnn
from fastnn.app.bench_suite import record, threads_for

HAS_TORCH = importlib.util.find_spec("torch") is not None
N, C, H, Wd, F, K, PAD = 64, 16, 32, 32, 32, 3, 1
M = 512  # the dense product: (M, M) @ (M, M)
FLOPS = 2 * M ** 3 + 3 * 2 * N * F * H * Wd * C * K * K  # dense; conv forward, dx, dW
BACKENDS = [b for b in ("numpy", "numba") if b in fastnn.available_backends()]
ROWS = ["torch", *BACKENDS]  # PyTorch first: its medians are the vs_torch denominators
TORCH_MEDIAN: dict[tuple, float] = {}


def make_inputs(dtype, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, C, H, Wd)).astype(dtype)
    W = (rng.standard_normal((F, C, K, K)) * np.sqrt(2 / (C * K * K))).astype(dtype)
    b = np.zeros(F, dtype)
    dy = rng.standard_normal((N, F, H, Wd)).astype(dtype)
    A = rng.standard_normal((M, M)).astype(dtype)
    B = (rng.standard_normal((M, M)) / np.sqrt(M)).astype(dtype)
    return x, W, b, dy, A, B, np.zeros(M, dtype)


def fastnn_chain(be, x, W, b, dy, A, B, c):
    """One round of the chain through backend ``be``'s kernels; returns dx."""
    be.dense_forward(A, B, c)
    y = be.conv2d_forward(x, W, b, stride=1, padding=PAD)
    r = be.activation_forward("relu", y)
    d = be.activation_backward("relu", r, dy)
    dx, _dW, _db = be.conv2d_backward(x, W, d, stride=1, padding=PAD)
    return dx


def torch_runner(x, W, b, dy, A, B, c):
    import torch
    import torch.nn.functional as tf

    def t(a, grad=True):
        return torch.from_numpy(a).requires_grad_(grad)

    tx, tW, tb = t(x), t(W), t(b)
    tdy, tA, tc = t(dy, False), t(A, False), t(c, False)
    tB = t(np.ascontiguousarray(B.T), False)  # F.linear(a, w) is a @ w.T

    def run():
        for p in (tx, tW, tb):
            p.grad = None
        with torch.no_grad():
            tf.linear(tA, tB, tc)
        y = tf.relu(tf.conv2d(tx, tW, tb, padding=PAD))
        y.backward(tdy)
        return tx.grad

    return run


@contextmanager
def other_core_busy():
    """A process of ours spinning on a core inside (stopped, by its own id, after)."""
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.2)  # let it start spinning
        yield
    finally:
        spinner.kill()
        spinner.wait()


def _runner(impl, inputs):
    if impl == "torch":
        return torch_runner(*inputs)
    be = fastnn.get_backend(impl)
    return lambda: fastnn_chain(be, *inputs)


def _name(impl):
    if impl == "torch":
        import torch

        return f"pytorch-{torch.__version__}"
    return impl


def _bench(benchmark, rounds, impl, dtype, threads, workload, n_rounds):
    if impl == "torch" and not HAS_TORCH:
        pytest.skip("torch is not installed: no PyTorch comparison row")
    run = _runner(impl, make_inputs(np.dtype(dtype)))
    with threads_for(impl, threads):
        start = time.perf_counter()
        run()  # warm up (JIT compile or cache load, allocator, the thread policy's one claim)
        first_call_s = time.perf_counter() - start
        time.sleep(0.2)  # BLAS workers woken by the warm-up go back to sleep (~0.1 s), once
        record(benchmark, workload=workload, backend=_name(impl), dtype=dtype, threads=threads,
               flops=FLOPS, first_call_s=round(first_call_s, 3))
        benchmark.pedantic(run, rounds=rounds(n_rounds), warmup_rounds=1)
    if benchmark.stats is None:  # --benchmark-disable: a smoke run, nothing timed
        return
    median = benchmark.stats.stats.median
    benchmark.extra_info["GFLOP/s"] = round(FLOPS / median / 1e9, 2)
    key = (workload, threads)
    if impl == "torch":
        TORCH_MEDIAN[key] = median
    elif key in TORCH_MEDIAN:
        benchmark.extra_info["vs_torch"] = round(median / TORCH_MEDIAN[key], 3)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("impl", ROWS)
def test_conv_chain(benchmark, rounds, impl, threads, dtype):
    _bench(benchmark, rounds, impl, dtype, threads, f"conv-chain-{dtype}", 15)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("impl", ["torch", "numba"])
def test_conv_chain_other_core_busy(benchmark, rounds, impl, threads):
    if impl not in ROWS:
        pytest.skip(f"{impl} is not available here")
    with other_core_busy():
        _bench(benchmark, rounds, impl, "float32", threads, "conv-chain-busy-float32", 15)
