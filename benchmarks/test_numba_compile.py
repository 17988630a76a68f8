"""Entry point for ``pytest benchmarks/test_numba_compile.py``: the benchmarks are defined in
``fastnn/app/bench_suite/test_numba_compile.py``."""

from fastnn.app.bench_suite.test_numba_compile import *  # noqa: F403
