"""Activation functions by name: the forward map and its derivative taken from the OUTPUT.

NOTE: every derivative is written from the activation's output ``y`` (as in the lab and in
scikit-learn), never from its input. At z = 0, relu's output is 0, which is not > 0, so its
derivative there is 0; leaky_relu's is its slope 0.01. PyTorch makes the same choice for both.

These formulas are the ground truth: the ``reference`` backend applies them as written and every
other backend is tested against it.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .._checks import check_choice

LEAKY_SLOPE = 0.01


def sigmoid(z: np.ndarray) -> np.ndarray:
    """Logistic function 1 / (1 + exp(-z)); exp overflow for z < -709 correctly gives 0."""
    return 1.0 / (1.0 + np.exp(-z))


def relu(z: np.ndarray) -> np.ndarray:
    """max(z, 0)."""
    return np.maximum(z, 0.0)


def leaky_relu(z: np.ndarray) -> np.ndarray:
    """z for z > 0, else LEAKY_SLOPE * z."""
    return np.where(z > 0, z, LEAKY_SLOPE * z)


def identity(z: np.ndarray) -> np.ndarray:
    """z itself (the lab's "without activation")."""
    return z.copy()


FORWARD: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "sigmoid": sigmoid,
    "tanh": np.tanh,
    "relu": relu,
    "leaky_relu": leaky_relu,
    "identity": identity,
}

DERIVATIVE: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "sigmoid": lambda y: y * (1.0 - y),
    "tanh": lambda y: 1.0 - y * y,
    "relu": lambda y: (y > 0).astype(y.dtype),
    "leaky_relu": lambda y: np.where(y > 0, 1.0, LEAKY_SLOPE).astype(y.dtype),
    "identity": lambda y: np.ones_like(y),
}

ACTIVATIONS: tuple[str, ...] = tuple(FORWARD)


def check_activation(name: object) -> str:
    """Return ``name`` if it is a known activation, else raise ValueError listing the choices."""
    return check_choice("activation", name, ACTIVATIONS)
