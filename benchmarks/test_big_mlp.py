"""Entry point for ``pytest benchmarks/test_big_mlp.py``: the benchmarks are defined in
``fastnn/app/bench_suite/test_big_mlp.py``."""

from fastnn.app.bench_suite.test_big_mlp import *  # noqa: F403
