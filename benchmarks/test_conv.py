"""Entry point for ``pytest benchmarks/test_conv.py``: the benchmarks are defined in
``fastnn/app/bench_suite/test_conv.py``."""

from fastnn.app.bench_suite.test_conv import *  # noqa: F403
