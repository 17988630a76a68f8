"""Entry point for ``pytest benchmarks/test_digits_mlp.py``: the benchmarks are defined in
``fastnn/app/bench_suite/test_digits_mlp.py``."""

from fastnn.app.bench_suite.test_digits_mlp import *  # noqa: F403
