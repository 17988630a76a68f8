"""Entry point for ``pytest benchmarks/test_lab_mlp.py``: the benchmarks are defined in
``fastnn/app/bench_suite/test_lab_mlp.py``."""

from fastnn.app.bench_suite.test_lab_mlp import *  # noqa: F403
