"""Convolution speed: every fastnn backend beside PyTorch's ``F.conv2d`` + autograd, in one run.

Run: ``fastnn bench --filter test_conv`` (in a checkout also ``pytest benchmarks/test_conv.py
--benchmark-columns=median,iqr,rounds``; ``--quick``: fewer rounds).

Workloads (forward + backward: dx, dW, db):

* ``lab``: the lab's CNN on a 10x3x28x28 batch: conv 3->8 3x3 pad 1, relu, conv 8->16 3x3 pad 1,
  relu;
* ``big``: one conv 16->32 3x3 pad 1 on 64x16x32x32;

each in float32 and float64, on 1 and 2 threads, plus ``lab-forward`` (float64), where the
reference loops run too. Every row's ``extra_info`` holds GFLOP/s (2 FLOPs per multiply-add;
forward, dx and dW each count once) and its time divided by PyTorch's on as many threads
(``vs_torch``; every PyTorch row runs first).
The last group gives the peak extra memory of one forward + backward of ``big``
(``peak_extra_MiB``: resident-set high-water mark above what was resident before, so outputs and
gradients count, inputs do not).
"""

from __future__ import annotations

import ctypes
import gc
import importlib.util
import subprocess
import sys
import time
from types import SimpleNamespace

import numpy as np
import pytest

from fastnn.app.bench_suite import record, threads_for
from fastnn.backends import get_backend
from fastnn.backends import numpy_backend as V
from fastnn.backends import reference as R

HAS_TORCH = importlib.util.find_spec("torch") is not None
TORCH_MEDIAN: dict[tuple, float] = {}

WORKLOADS = {
    # name: (x shape, [(F, C, KH, KW, padding), ...], relu after each conv)
    "lab": ((10, 3, 28, 28), [(8, 3, 3, 3, 1), (16, 8, 3, 3, 1)], True),
    "big": ((64, 16, 32, 32), [(32, 16, 3, 3, 1)], False),
}


def _variant(fwd, bwd):
    ns = SimpleNamespace(**{k: getattr(V, k) for k in dir(V) if not k.startswith("__")})
    ns.conv2d_forward, ns.conv2d_backward = fwd, bwd
    return ns


def fastnn_impls() -> dict[str, object]:
    impls = {"numpy-im2col": _variant(V.conv2d_forward_im2col, V.conv2d_backward_im2col),
             "numpy-einsum": _variant(V.conv2d_forward_einsum, V.conv2d_backward_einsum)}
    impls["numba"] = get_backend("numba")
    return impls


IMPLS = fastnn_impls()


def flops(name: str, backward: bool = True) -> float:
    """Multiply-add FLOPs of the workload: 2 per weight use, x3 with dx and dW."""
    (N, _, H, Wd), convs, _ = WORKLOADS[name]
    total = 0
    for F, C, KH, KW, _p in convs:
        total += 2 * N * F * H * Wd * C * KH * KW  # stride 1, "same" padding: OH, OW = H, W
    return total * (3 if backward else 1)


def make_inputs(name: str, dtype, seed: int = 0):
    shape, convs, _ = WORKLOADS[name]
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(dtype)
    params = [((rng.standard_normal((F, C, KH, KW)) * np.sqrt(2 / (C * KH * KW))).astype(dtype),
               np.zeros(F, dtype), p) for F, C, KH, KW, p in convs]
    N, _, H, Wd = shape
    dout = rng.standard_normal((N, convs[-1][0], H, Wd)).astype(dtype)
    return x, params, dout


def fastnn_step(be, name: str, x, params, dout, backward: bool = True):
    """Forward (and backward) of the workload through backend ``be``'s kernels."""
    relu = WORKLOADS[name][2]
    inputs, outs = [], []
    h = x
    for W, b, p in params:
        inputs.append(h)
        h = be.conv2d_forward(h, W, b, stride=1, padding=p)
        if relu:
            h = be.activation_forward("relu", h)
        outs.append(h)
    if not backward:
        return h
    d = dout
    for (W, _b, p), hin, hout in zip(reversed(params), reversed(inputs), reversed(outs),
                                     strict=True):
        if relu:
            d = be.activation_backward("relu", hout, d)
        d, dW, db = be.conv2d_backward(hin, W, d, stride=1, padding=p)
    return d


def torch_step(name: str, x, params, dout, backward: bool = True):
    import torch.nn.functional as F

    relu = WORKLOADS[name][2]
    h = x
    for W, b, p in params:
        h = F.conv2d(h, W, b, padding=p)
        if relu:
            h = F.relu(h)
    if backward:
        h.backward(dout)
    return h


def to_torch(x, params, dout):
    import torch

    def t(a, grad=True):
        return torch.from_numpy(a).requires_grad_(grad)

    return t(x), [(t(W), t(b), p) for W, b, p in params], t(dout, False)


# -- peak memory --------------------------------------------------------------------------------

def _status(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise KeyError(field)


def peak_extra_bytes(fn) -> int | None:
    """Resident-set high-water mark of one ``fn()`` above the resident set before it (Linux)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 1 << 16)  # M_MMAP_THRESHOLD: big blocks mapped, and unmapped when freed
        gc.collect()
        libc.malloc_trim(0)  # give freed heap pages back, so reusing them counts again
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # reset the high-water mark to the current resident set
        before = _status("VmRSS")
        fn()
        return _status("VmHWM") - before
    except (OSError, KeyError):
        return None


# -- benchmarks ---------------------------------------------------------------------------------

CASES = [(w, dt) for w in WORKLOADS for dt in ("float32", "float64")]
ROWS = ["torch", *IMPLS]
ROUNDS = {"lab": 100, "big": 15}


def _runner(impl: str, workload: str, x, params, dout):
    if impl == "torch":
        tx, tparams, tdout = to_torch(x, params, dout)

        def run():
            for a in (tx, *[w for W, b, _ in tparams for w in (W, b)]):
                a.grad = None
            return torch_step(workload, tx, tparams, tdout)

        return run
    be = IMPLS[impl]
    return lambda: fastnn_step(be, workload, x, params, dout)


LAB_FORWARD_ROWS = ["reference", *IMPLS]
REFERENCE_MEDIAN: dict[str, float] = {}


# first in the file: no other library's threads are still spinning when NumPy's BLAS runs
@pytest.mark.parametrize("impl", LAB_FORWARD_ROWS)
def test_lab_forward_vs_reference(benchmark, rounds, impl):
    """The lab CNN's forward pass, float64: the reference loops beside the fast backends."""
    x, params, dout = make_inputs("lab", np.float64)
    be = R if impl == "reference" else IMPLS[impl]

    def run():
        return fastnn_step(be, "lab", x, params, dout, backward=False)

    run()
    record(benchmark, workload="conv-lab-forward-float64", backend=impl, dtype="float64",
           flops=flops("lab", backward=False))
    benchmark.pedantic(run, rounds=3 if impl == "reference" else rounds(100), warmup_rounds=0)
    if benchmark.stats is None:  # --benchmark-disable: a smoke run, nothing timed
        return
    median = benchmark.stats.stats.median
    benchmark.extra_info["GFLOP/s"] = round(flops("lab", backward=False) / median / 1e9, 3)
    if impl == "reference":
        REFERENCE_MEDIAN["lab"] = median
    elif "lab" in REFERENCE_MEDIAN:
        benchmark.extra_info["speedup_vs_reference"] = round(REFERENCE_MEDIAN["lab"] / median)


# impl varies slowest: every PyTorch row first, then NumPy's, then Numba's, so no row runs right
# after another library's threads were busy (their spinning threads would be timed)
@pytest.mark.parametrize("workload, dtype", CASES, ids=[f"{w}-{d}" for w, d in CASES])
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("impl", ROWS)
def test_conv_forward_backward(benchmark, rounds, workload, dtype, threads, impl):
    if impl == "torch" and not HAS_TORCH:
        pytest.skip("torch is not installed: no PyTorch comparison row")
    x, params, dout = make_inputs(workload, np.dtype(dtype))
    run = _runner(impl, workload, x, params, dout)
    name = impl
    if impl == "torch":
        import torch

        name = f"pytorch-{torch.__version__}"
    with threads_for(impl, threads):
        start = time.perf_counter()
        run()  # warm up (JIT compilation or cache load, allocator) outside the timed rounds
        first_call_s = time.perf_counter() - start
        record(benchmark, workload=f"conv-{workload}-{dtype}", backend=name, dtype=dtype,
               threads=threads, flops=flops(workload), first_call_s=round(first_call_s, 3))
        benchmark.pedantic(run, rounds=rounds(ROUNDS[workload]), warmup_rounds=1)
    if benchmark.stats is None:  # --benchmark-disable: a smoke run, nothing timed
        return
    median = benchmark.stats.stats.median
    benchmark.extra_info["GFLOP/s"] = round(flops(workload) / median / 1e9, 2)
    key = (workload, dtype, threads)
    if impl == "torch":
        TORCH_MEDIAN[key] = median
    elif key in TORCH_MEDIAN:
        benchmark.extra_info["vs_torch"] = round(median / TORCH_MEDIAN[key], 3)


@pytest.mark.parametrize("impl", ROWS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_big_peak_extra_memory(benchmark, dtype, impl):
    """Peak extra memory of one forward + backward of ``big``, measured in a fresh process."""
    if impl == "torch" and not HAS_TORCH:
        pytest.skip("torch is not installed: no PyTorch comparison row")
    if not sys.platform.startswith("linux"):
        pytest.skip("peak memory is measured on Linux only (/proc/self/status)")
    # a fresh process: malloc settings changed for the measurement stay out of this one
    done = subprocess.run([sys.executable, __file__, "--peak-memory", impl, dtype],
                          capture_output=True, text=True, timeout=600, check=True)
    peak = int(done.stdout.split()[-1])
    record(benchmark, workload="conv-big-peak-memory", backend=impl, dtype=dtype)
    benchmark.extra_info["peak_extra_MiB"] = round(peak / 2**20, 1)
    x, params, dout = make_inputs("big", np.dtype(dtype))
    inputs = x.nbytes + dout.nbytes + sum(W.nbytes for W, _, _ in params)
    benchmark.extra_info["inputs_MiB"] = round(inputs / 2**20, 1)
    benchmark.pedantic(lambda: None, rounds=1, iterations=1)


if __name__ == "__main__" and sys.argv[1:2] == ["--peak-memory"]:
    impl_, dtype_ = sys.argv[2:4]
    run_ = _runner(impl_, "big", *make_inputs("big", np.dtype(dtype_)))
    run_()  # warm up: compilation, first-touch allocations
    print(peak_extra_bytes(run_))
