"""Entry point for ``pytest benchmarks/test_elementwise.py``: the benchmarks are defined in
``fastnn/app/bench_suite/test_elementwise.py``."""

from fastnn.app.bench_suite.test_elementwise import *  # noqa: F403
