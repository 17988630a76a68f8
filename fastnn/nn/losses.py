"""Losses by name: each maps (pred, y) to (loss as a Python float, dloss/dpred).

NOTE: losses are means over samples and sums over output units, so the MSE gradient is the lab's
``2 * (pred - y) / N``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .._checks import check_choice


def mse(pred: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean over samples of the summed squared error; gradient 2 (pred - y) / N."""
    N = pred.shape[0]
    diff = pred - y
    loss = float(np.vdot(diff, diff)) / N
    diff *= 2.0 / N
    return loss, diff


def bce(pred: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """Binary cross-entropy of probabilities ``pred`` and 0/1 labels.

    ``pred`` is clipped to [eps, 1 - eps] (eps of its dtype) so the logarithms stay finite; in
    the clipped region the gradient is the one at the clip point rather than zero, so a
    saturated wrong prediction still gets pushed back.
    """
    N = pred.shape[0]
    eps = np.finfo(pred.dtype).eps
    p = np.clip(pred, eps, 1.0 - eps)
    loss = -float(np.sum(y * np.log(p) + (1.0 - y) * np.log1p(-p))) / N
    grad = (p - y) / (p * (1.0 - p) * N)
    return loss, grad


def softmax_cross_entropy(pred: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """Cross-entropy of softmax(``pred``) against one-hot (or probability) rows ``y``.

    ``pred`` are logits (N, K), no activation before; the mean over samples is returned, with
    gradient (softmax(pred) * sum_k y - y) / N, which is (softmax(pred) - y) / N for one-hot rows.
    Log-sum-exp is shifted by the row maximum, so no logit overflows.
    """
    N = pred.shape[0]
    z = pred - pred.max(axis=1, keepdims=True)  # (N, K), max 0 per row
    e = np.exp(z)
    s = e.sum(axis=1, keepdims=True)  # (N, 1), >= 1
    log_p = z - np.log(s)
    loss = -float(np.sum(y * log_p)) / N
    grad = e / s
    grad *= y.sum(axis=1, keepdims=True)
    grad -= y
    grad /= N
    return loss, grad


LOSSES: dict[str, Callable[[np.ndarray, np.ndarray], tuple[float, np.ndarray]]] = {
    "mse": mse,
    "bce": bce,
    "softmax_cross_entropy": softmax_cross_entropy,
}


def get_loss(name: str) -> Callable[[np.ndarray, np.ndarray], tuple[float, np.ndarray]]:
    """Return the loss function called ``name``; ValueError listing the choices otherwise."""
    return LOSSES[check_choice("loss", name, LOSSES)]
