"""Entry point for ``pytest benchmarks/test_sweep.py``: the benchmarks are defined in
``fastnn/app/bench_suite/test_sweep.py``."""

from fastnn.app.bench_suite.test_sweep import *  # noqa: F403
