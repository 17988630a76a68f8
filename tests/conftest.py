"""Shared test helpers."""

from __future__ import annotations

import numpy as np


def assert_rel_close(actual, expected, rtol: float, what: str = "") -> None:
    """Elementwise |a - e| <= rtol * |e|, with a floor of rtol * max|e| for entries near zero."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    scale = float(np.max(np.abs(expected))) if expected.size else 0.0
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * max(scale, 1e-300),
                               err_msg=what)
