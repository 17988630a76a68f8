"""The course's toy data sets. Inputs are float64 (n, 2); labels are float64 0/1, shaped (n, 1)."""

from __future__ import annotations

import numpy as np

from ._checks import check_positive


def generate_linear(n: int = 100, seed=None) -> tuple[np.ndarray, np.ndarray]:
    """``n`` points uniform in [0, 1]^2, labelled 0 if x0 > x1 else 1.

    ``seed`` is anything :func:`numpy.random.default_rng` takes; the same seed, the same points.
    """
    check_positive("n", n, integer=True)
    X = np.random.default_rng(seed).uniform(0.0, 1.0, (n, 2))
    y = np.where(X[:, 0] > X[:, 1], 0.0, 1.0).reshape(n, 1)
    return X, y


def generate_xor_easy() -> tuple[np.ndarray, np.ndarray]:
    """The 21 "XOR-easy" points of the course, in its order.

    For i = 0..10: (0.1 i, 0.1 i) labelled 0, then, unless i = 5, (0.1 i, 1 - 0.1 i) labelled 1.
    """
    inputs, labels = [], []
    for i in range(11):
        inputs.append([0.1 * i, 0.1 * i])
        labels.append(0.0)
        if i == 5:
            continue
        inputs.append([0.1 * i, 1 - 0.1 * i])
        labels.append(1.0)
    return np.array(inputs), np.array(labels).reshape(21, 1)


DATASETS = ("linear", "xor")
