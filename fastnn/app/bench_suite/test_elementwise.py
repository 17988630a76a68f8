"""Elementwise speed: each activation's forward and backward on 2M values, numba beside NumPy and
PyTorch, in one run.

Run: ``fastnn bench --filter test_elementwise`` (in a checkout also ``pytest
benchmarks/test_elementwise.py --benchmark-columns=median,iqr,rounds``; ``--quick``: fewer
rounds).

Workloads ``elementwise-<activation>-<forward|backward>``, each in float32 and float64, every row
on one thread (fastnn's elementwise kernels are serial):

* ``numba``: the numba backend's ``activation_forward`` / ``activation_backward``;
* ``numpy``: the numpy backend's, the formulas of :mod:`fastnn.nn.activations` on whole arrays
  (``np.tanh``, ``1 / (1 + np.exp(-z))``, ...);
* ``pytorch-<version>``: ``torch.tanh``, ``torch.sigmoid``, ``torch.relu``,
  ``F.leaky_relu``, ``clone``; backward from the output as fastnn takes it, by PyTorch's own
  kernels (``tanh_backward``, ``sigmoid_backward``, ``threshold_backward``,
  ``leaky_relu_backward`` with ``self_is_result``).

z is standard normal times 3, y the activation of z, dy standard normal. Every row's
``extra_info`` holds its time divided by the numpy row's (``vs_numpy``; the numpy rows run
first); issue 13 asks numba for at most 1.5.
"""

from __future__ import annotations

import importlib.util
from contextlib import nullcontext

import numpy as np
import pytest

from fastnn import activations
from fastnn.app.bench_suite import record, torch_threads
from fastnn.backends import get_backend

HAS_TORCH = importlib.util.find_spec("torch") is not None
N = 2_000_000
ACTS = list(activations.ACTIVATIONS)
NUMPY_MEDIAN: dict[tuple, float] = {}


def make_inputs(name: str, dtype: str):
    """z (N,), y = f(z) and dy (N,) of ``dtype``."""
    rng = np.random.default_rng(0)
    z = (rng.standard_normal(N) * 3).astype(dtype)
    dy = rng.standard_normal(N).astype(dtype)
    return z, get_backend("numpy").activation_forward(name, z), dy


def torch_ops(name: str):
    """PyTorch's (forward(z), backward(y, dy)) for activation ``name``."""
    import torch
    import torch.nn.functional as F

    aten = torch.ops.aten
    slope = activations.LEAKY_SLOPE
    return {
        "sigmoid": (torch.sigmoid, aten.sigmoid_backward),
        "tanh": (torch.tanh, aten.tanh_backward),
        "relu": (torch.relu, lambda y, dy: aten.threshold_backward(dy, y, 0.0)),
        "leaky_relu": (lambda z: F.leaky_relu(z, slope),
                       lambda y, dy: aten.leaky_relu_backward(dy, y, slope, True)),
        "identity": (torch.clone, lambda y, dy: dy.clone()),
    }[name]


def _runner(impl: str, name: str, direction: str, z, y, dy):
    if impl == "torch":
        import torch

        forward, backward = torch_ops(name)
        tz, ty, tdy = (torch.from_numpy(a) for a in (z, y, dy))
        return (lambda: forward(tz)) if direction == "forward" else (lambda: backward(ty, tdy))
    be = get_backend(impl)
    if direction == "forward":
        return lambda: be.activation_forward(name, z)
    return lambda: be.activation_backward(name, y, dy)


# impl varies slowest: every NumPy row first (vs_numpy needs its median), then Numba's, then
# PyTorch's (its threads, even pinned to one, are kept out of the other rows' timings)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("direction", ["forward", "backward"])
@pytest.mark.parametrize("name", ACTS)
@pytest.mark.parametrize("impl", ["numpy", "numba", "torch"])
def test_activation(benchmark, rounds, impl, name, direction, dtype):
    if impl == "torch" and not HAS_TORCH:
        pytest.skip("torch is not installed: no PyTorch comparison row")
    run = _runner(impl, name, direction, *make_inputs(name, dtype))
    label = impl
    if impl == "torch":
        import torch

        label = f"pytorch-{torch.__version__}"
    with torch_threads(1) if impl == "torch" else nullcontext():
        run()  # warm up (JIT compilation or cache load, page faults) outside the timed rounds
        record(benchmark, workload=f"elementwise-{name}-{direction}", backend=label, dtype=dtype,
               threads=1, values=N)
        benchmark.pedantic(run, rounds=rounds(30), warmup_rounds=1)
    if benchmark.stats is None:  # --benchmark-disable: a smoke run, nothing timed
        return
    median = benchmark.stats.stats.median
    key = (name, direction, dtype)
    if impl == "numpy":
        NUMPY_MEDIAN[key] = median
    elif key in NUMPY_MEDIAN:
        benchmark.extra_info["vs_numpy"] = round(median / NUMPY_MEDIAN[key], 3)

