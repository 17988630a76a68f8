"""The toy data sets match the course's definitions exactly."""

import numpy as np
import pytest

from fastnn import data


def test_linear_definition():
    X, y = data.generate_linear(500, seed=7)
    assert X.shape == (500, 2) and y.shape == (500, 1)
    assert X.dtype == np.float64 and y.dtype == np.float64
    assert X.min() >= 0.0 and X.max() < 1.0
    expected = np.where(X[:, 0] > X[:, 1], 0.0, 1.0)
    np.testing.assert_array_equal(y[:, 0], expected)
    assert 100 < y.sum() < 400  # both classes present in a uniform sample


def test_linear_is_seeded():
    a, _ = data.generate_linear(50, seed=3)
    b, _ = data.generate_linear(50, seed=3)
    c, _ = data.generate_linear(50, seed=4)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_linear_uses_the_uniform_distribution():
    X, _ = data.generate_linear(20000, seed=0)
    np.testing.assert_allclose(X.mean(axis=0), 0.5, atol=0.01)
    np.testing.assert_allclose(X.var(axis=0), 1 / 12, atol=0.005)


def test_xor_easy_definition():
    X, y = data.generate_xor_easy()
    assert X.shape == (21, 2) and y.shape == (21, 1)
    expected_X, expected_y = [], []
    for i in range(11):
        expected_X.append((0.1 * i, 0.1 * i))
        expected_y.append(0)
        if i != 5:
            expected_X.append((0.1 * i, 1 - 0.1 * i))
            expected_y.append(1)
    np.testing.assert_array_equal(X, np.array(expected_X))
    np.testing.assert_array_equal(y[:, 0], expected_y)
    # the course's order: (0, 0) -> 0, (0, 1) -> 1, (0.1, 0.1) -> 0, ...
    np.testing.assert_array_equal(X[:4], [[0, 0], [0, 1], [0.1, 0.1], [0.1, 0.9]])
    assert y[10, 0] == 0 and y[11, 0] == 0  # (0.5, 0.5) has no partner


@pytest.mark.parametrize("n", [0, -1, 2.5])
def test_linear_rejects_bad_n(n):
    with pytest.raises(ValueError, match="n must be a positive integer"):
        data.generate_linear(n)
