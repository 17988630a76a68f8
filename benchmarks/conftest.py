"""``pytest benchmarks/`` in a checkout: the packaged suite's ``--quick`` option and fixtures.

The benchmarks live in ``fastnn/app/bench_suite/`` (so ``fastnn bench`` runs them from an
install); each file here re-exports one of them.
"""

from fastnn.app.bench_suite.conftest import pytest_addoption, quick, rounds  # noqa: F401
