"""Data sets: the course's toy sets and real handwritten digits.

Toy inputs are float64 (n, 2) with 0/1 labels shaped (n, 1); the digits are images (n, 1, 8, 8)
with one-hot labels (n, 10).
"""

from __future__ import annotations

import numpy as np

from .._checks import check_positive
from ..nn.init import generator


def generate_linear(n: int = 100, seed=None, rng: str = "default") -> tuple[np.ndarray,
                                                                             np.ndarray]:
    """``n`` points uniform in [0, 1]^2, labelled 0 if x0 > x1 else 1.

    ``seed`` is anything :func:`numpy.random.default_rng` takes; the same seed, the same points.
    ``rng="legacy"`` draws them as the lab's program does (``np.random.seed(seed)`` then
    ``uniform(0, 1, (n, 2))``; ``seed`` an integer in [0, 2**32 - 1]).
    """
    check_positive("n", n, integer=True)
    X = generator(rng, seed).uniform(0.0, 1.0, (n, 2))
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


def load_digits(n: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The 1,797 handwritten 8x8 digits that scikit-learn ships, as images and one-hot labels.

    Parameters
    ----------
    n : int, optional
        Keep only the first ``n`` images (all when None).

    Returns
    -------
    X : float64 array (n, 1, 8, 8)
        Pixel intensities scaled from 0..16 to [0, 1].
    y : float64 array (n, 10)
        One-hot labels (``y.argmax(axis=1)`` is the digit).

    Raises
    ------
    ImportError
        If scikit-learn is missing, saying how to install it (``pip install 'fastnn[data]'``).
    """
    try:
        from sklearn.datasets import load_digits as sk_load_digits
    except ImportError:
        raise ImportError("the digits data set needs scikit-learn: pip install 'fastnn[data]' "
                          "(or pip install scikit-learn)") from None
    if n is not None:
        check_positive("n", n, integer=True)
    digits = sk_load_digits()
    images, labels = digits.images, digits.target
    if n is not None:
        images, labels = images[:n], labels[:n]
    X = (np.asarray(images, dtype=np.float64) / 16.0).reshape(-1, 1, 8, 8)
    y = np.eye(10)[labels]
    return X, y


def train_test_split(X: np.ndarray, y: np.ndarray, test_fraction: float = 0.2,
                     seed=None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Shuffle (seeded) and split into (X_train, X_test, y_train, y_test).

    The test part has ``round(test_fraction * N)`` rows (at least 1); the same seed, the same
    split.
    """
    if not 0 < test_fraction < 1:
        raise ValueError(f"test fraction must be in (0, 1), got {test_fraction!r}")
    N = X.shape[0]
    n_test = max(1, int(round(test_fraction * N)))
    if n_test >= N:
        raise ValueError(f"{N} samples are too few to split off a test set")
    order = np.random.default_rng(seed).permutation(N)
    test, train = order[:n_test], order[n_test:]
    return X[train], X[test], y[train], y[test]


DATASETS = ("linear", "xor", "digits")
