"""Entry point for ``pytest benchmarks/test_yardstick.py``: the benchmarks are defined in
``fastnn/app/bench_suite/test_yardstick.py``."""

from fastnn.app.bench_suite.test_yardstick import *  # noqa: F403
