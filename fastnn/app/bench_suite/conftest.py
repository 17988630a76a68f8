"""Shared benchmark plumbing: quick mode and its round counts.

``pytest benchmarks/ --benchmark-only`` (in a checkout) runs everything at full length;
``--quick`` (what ``fastnn bench`` uses by default) cuts rounds and skips the longest cases.
"""

from __future__ import annotations

import pytest


def pytest_addoption(parser):
    parser.addoption("--quick", action="store_true", default=False,
                     help="fastnn: fewer rounds and no long reference-backend cases")


@pytest.fixture
def quick(request) -> bool:
    """True under ``--quick``."""
    return request.config.getoption("--quick")


@pytest.fixture
def rounds(quick):
    """``rounds(n)``: n rounds normally, a fifth of them (at least 3) under --quick."""
    return lambda n: max(3, n // 5) if quick else n
