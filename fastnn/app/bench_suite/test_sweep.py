"""``fastnn sweep`` on the grid of ``fastnn report lab1``'s own experiments (part 2: 40 runs of
fastnn's 2-4-4-1 network, learning rates, hidden units, activations, optimizers, fresh data,
on linear and XOR, numba backend), in one process, in two (joblib) and on a 2-worker Dask
``LocalCluster`` (one thread each): workload ``sweep-lab1``.

Each round is a whole sweep into a new folder (every run trained and its files written:
checkpoint, history, output, figures; ``sweep.csv`` after each row, ``sweep.png``), through
:func:`fastnn.app.sweep.sweep` as the command runs it. Worker processes are started and the
numba kernels compiled by a warm-up round outside the timed ones. A full run sweeps all 40 runs
for the report's 20,000 epochs each; ``--quick`` its first experiment (learning rates 1, 0.1,
0.01 on linear and XOR: 6 runs) for 2,000 epochs; a smoke run under ``--benchmark-disable`` 4
runs of 200 epochs.

The machine is shared, so a parallel row's speed-up is not taken from medians measured minutes
apart: after its own rounds, the row times PAIRS (quick: 2) more sweeps alternating with one
process, and ``extra_info["speedup"]`` is the median of those pairs' ratios (one-process time
over this row's). ``extra_info`` also gives runs, epochs, executor and processes.
Run: ``fastnn bench --filter test_sweep`` (in a checkout also
``pytest benchmarks/test_sweep.py --benchmark-only``).
"""

import itertools
import statistics
import time
from contextlib import contextmanager
from dataclasses import replace

import pytest

from fastnn.app import report
from fastnn.app import sweep as sw
from fastnn.app.bench_suite import record

WORKLOAD = "sweep-lab1"
#: Alternating sweeps (one process, then this row's executor) per parallel row.
PAIRS = 3


def lab1_grid(epochs: int, backend: str = "numba") -> list:
    """The runs of part 2 of ``fastnn report lab1``, as a sweep runs them (no folder yet)."""
    return [replace(r, data=d, backend=backend, epochs=epochs, quiet=True)
            for exp in report.EXPERIMENTS for r in exp.runs
            for d in (("linear",) if exp.key == "fresh_data" else report.DATASETS)]


def placed(specs: list, folder) -> list:
    """``specs`` named and placed in ``folder``, as :func:`fastnn.app.sweep.expand` does."""
    out = []
    for i, spec in enumerate(specs):
        name = f"{i:02d}-{sw.run_id(spec)}"
        out.append(replace(spec, name=name, out=str(folder / name)))
    return out


@contextmanager
def executor(kind: str):
    """The executor of a row: ``1 process``, ``2 processes``, or ``LocalCluster`` (2 workers,
    1 thread each)."""
    if kind != "LocalCluster":
        yield sw.Executor(jobs=int(kind[0]))
        return
    distributed = pytest.importorskip("distributed",
                                      reason="Dask not installed (pip install "
                                      "'fastnn[distributed]')")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        yield sw.Executor(scheduler=cluster.scheduler_address)


def timed_sweep(pool, grid: list, folders) -> float:
    """Seconds for one whole sweep of ``grid`` on ``pool`` into the next of ``folders``."""
    folder = next(folders)
    start = time.perf_counter()
    result = sw.sweep(placed(grid, folder), folder, pool)
    seconds = time.perf_counter() - start
    assert result.count(sw.OK) == len(grid)
    return seconds


@pytest.mark.parametrize("kind", ["1 process", "2 processes", "LocalCluster"])
def test_sweep_lab1(benchmark, kind, quick, rounds, tmp_path):
    smoke = benchmark.disabled
    epochs = 200 if smoke else 2_000 if quick else 20_000
    grid = lab1_grid(epochs)
    grid = grid[:4] if smoke else grid[:6] if quick else grid
    folders = (tmp_path / f"round{i}" for i in itertools.count())

    with executor(kind) as ex, sw.open_pool(ex) as pool:
        record(benchmark, workload=WORKLOAD, backend="numba", dtype="float64", variant=kind,
               runs=len(grid), epochs=epochs, executor=kind,
               processes=1 if kind == "1 process" else 2)
        benchmark.pedantic(timed_sweep, args=(pool, grid, folders), rounds=rounds(5),
                           warmup_rounds=1)
        if kind != "1 process" and not smoke:
            serial = sw.Pool(sw.Executor(jobs=1))
            ratios = [timed_sweep(serial, grid, folders) / timed_sweep(pool, grid, folders)
                      for _ in range(2 if quick else PAIRS)]
            benchmark.extra_info["speedup"] = statistics.median(ratios)
            benchmark.extra_info["speedup_pairs"] = ratios
