"""The kernel contract every backend implements, and the shape checks they share.

A backend is a module exposing the functions of :class:`Backend`. Arrays are NumPy arrays of one
float dtype (float64 or float32); each kernel returns arrays of its inputs' dtype.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from .._checks import FLOAT_DTYPES


class Backend(Protocol):
    """The functions (and their shapes) a backend module must define."""

    NAME: str

    def dense_forward(self, x: np.ndarray, W: np.ndarray, b: np.ndarray) -> np.ndarray:
        """x (N, Din), W (Din, Dout), b (Dout,) -> out (N, Dout) = x @ W + b."""

    def dense_backward(
        self, x: np.ndarray, W: np.ndarray, dout: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """x (N, Din), W (Din, Dout), dout (N, Dout) -> dx (N, Din), dW (Din, Dout), db (Dout,)."""

    def activation_forward(self, name: str, z: np.ndarray) -> np.ndarray:
        """y = f(z), elementwise, any shape."""

    def activation_backward(self, name: str, y: np.ndarray, dy: np.ndarray) -> np.ndarray:
        """dz = dy * f'(z), with f' written from the output y; y and dy of one shape."""


def check_same_float_dtype(kernel: str, *arrays: np.ndarray) -> None:
    """Raise ValueError unless all arrays share one dtype, float64 or float32."""
    dt = arrays[0].dtype
    if dt not in FLOAT_DTYPES or any(a.dtype != dt for a in arrays[1:]):
        got = ", ".join(str(a.dtype) for a in arrays)
        raise ValueError(f"{kernel}: arrays must share one dtype, float64 or float32; got {got}")


def check_dense_forward(x: np.ndarray, W: np.ndarray, b: np.ndarray) -> None:
    """Raise ValueError unless x (N, Din), W (Din, Dout), b (Dout,) fit together."""
    if x.ndim != 2 or W.ndim != 2 or b.ndim != 1 or x.shape[1] != W.shape[0] \
            or b.shape[0] != W.shape[1]:
        raise ValueError(
            f"dense_forward: shapes x {x.shape}, W {W.shape}, b {b.shape} do not fit; "
            "want x (N, Din), W (Din, Dout), b (Dout,)"
        )
    check_same_float_dtype("dense_forward", x, W, b)


def check_dense_backward(x: np.ndarray, W: np.ndarray, dout: np.ndarray) -> None:
    """Raise ValueError unless x (N, Din), W (Din, Dout), dout (N, Dout) fit together."""
    if x.ndim != 2 or W.ndim != 2 or dout.ndim != 2 or x.shape[1] != W.shape[0] \
            or dout.shape != (x.shape[0], W.shape[1]):
        raise ValueError(
            f"dense_backward: shapes x {x.shape}, W {W.shape}, dout {dout.shape} do not fit; "
            "want x (N, Din), W (Din, Dout), dout (N, Dout)"
        )
    check_same_float_dtype("dense_backward", x, W, dout)


def check_activation_backward(y: np.ndarray, dy: np.ndarray) -> None:
    """Raise ValueError unless y and dy have one shape and one float dtype."""
    if y.shape != dy.shape:
        raise ValueError(f"activation_backward: y {y.shape} and dy {dy.shape} differ in shape")
    check_same_float_dtype("activation_backward", y, dy)
