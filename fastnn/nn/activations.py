"""Activation functions by name: each written once, its backward pass taken from the OUTPUT.

``FORWARD[name](z) -> y`` and ``BACKWARD[name](y, dy) -> dz = dy * f'(z)``, with f' written
from the activation's output ``y`` (as in the lab and in scikit-learn), never from its input.
At z = 0, relu's output is 0, which is not > 0, so its derivative there is 0; leaky_relu's is
its slope 0.01. PyTorch makes the same choice for both.

Every formula uses arithmetic and the NumPy functions imported below by name only, so it runs
on whole arrays (the ``reference`` and ``numpy`` backends apply these very functions) and on
single numbers in compiled loops (the ``numba`` backend compiles them, with its own vectorizable
``exp`` and ``tanh`` bound to those names, and a select bound to ``where``). Python floats in
them are NumPy's weak scalars: a float32 array stays float32.
"""

from __future__ import annotations

from collections.abc import Callable

from numpy import exp, maximum, tanh, where

from .._checks import check_choice

LEAKY_SLOPE = 0.01


def sigmoid(z):
    """Logistic function 1 / (1 + exp(-z)); exp overflow for z < -709 correctly gives 0."""
    return 1.0 / (1.0 + exp(-z))


def sigmoid_backward(y, dy):
    """dy * y (1 - y)."""
    return dy * (y * (1.0 - y))


def tanh_forward(z):
    """tanh(z)."""
    return tanh(z)


def tanh_backward(y, dy):
    """dy * (1 - y^2)."""
    return dy * (1.0 - y * y)


def relu(z):
    """max(z, 0) (NaN stays NaN)."""
    return maximum(z, 0.0)


def relu_backward(y, dy):
    """dy where y > 0, else 0 (dy times a 0/1 mask, so NaN in dy stays NaN)."""
    return dy * (y > 0.0)


def leaky_relu(z):
    """z for z > 0, else LEAKY_SLOPE * z: max(z, slope z), since 0 < slope < 1."""
    return maximum(z, LEAKY_SLOPE * z)


def leaky_relu_backward(y, dy):
    """dy where y > 0, else LEAKY_SLOPE * dy."""
    return where(y > 0.0, dy, dy * LEAKY_SLOPE)


def identity(z):
    """z itself (the lab's "without activation"); a new array for an array."""
    return +z


def identity_backward(y, dy):
    """dy itself; a new array for an array."""
    return +dy


FORWARD: dict[str, Callable] = {
    "sigmoid": sigmoid,
    "tanh": tanh_forward,
    "relu": relu,
    "leaky_relu": leaky_relu,
    "identity": identity,
}

BACKWARD: dict[str, Callable] = {
    "sigmoid": sigmoid_backward,
    "tanh": tanh_backward,
    "relu": relu_backward,
    "leaky_relu": leaky_relu_backward,
    "identity": identity_backward,
}

ACTIVATIONS: tuple[str, ...] = tuple(FORWARD)


def check_activation(name: object) -> str:
    """Return ``name`` if it is a known activation, else raise ValueError listing the choices."""
    return check_choice("activation", name, ACTIVATIONS)
