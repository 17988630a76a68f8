"""Entry point for ``pytest benchmarks/test_conv_chain.py``: the benchmarks are defined in
``fastnn/app/bench_suite/test_conv_chain.py``."""

from fastnn.app.bench_suite.test_conv_chain import *  # noqa: F403
