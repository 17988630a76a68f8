"""Entry point for ``pytest benchmarks/test_digits_epoch.py``: the benchmarks are defined in
``fastnn/app/bench_suite/test_digits_epoch.py``."""

from fastnn.app.bench_suite.test_digits_epoch import *  # noqa: F403
