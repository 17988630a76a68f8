"""Losses by name: each maps (pred, y) to (loss as a Python float, dloss/dpred); and accuracy.

NOTE: losses are means over samples and sums over output units, so the MSE gradient is the lab's
``2 * (pred - y) / N``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from numpy import exp, log

from .._checks import check_choice
from .optim import clip


def mse_point(pred, y, N: int, eps: float):
    """Squared error of one output entry and its share of the gradient: ((pred - y)^2,
    2 (pred - y) / N)."""
    d = pred - y
    return d * d, d * (2.0 / N)


def bce_point(pred, y, N: int, eps: float):
    """Binary cross-entropy of one probability ``pred`` against a 0/1 label, and its gradient.

    ``pred`` is clipped to [eps, 1 - eps] (eps of its dtype) so the logarithms stay finite; in
    the clipped region the gradient is the one at the clip point rather than zero, so a
    saturated wrong prediction still gets pushed back.
    """
    p = clip(pred, eps, 1.0 - eps)
    return -(y * log(p) + (1.0 - y) * np.log1p(-p)), (p - y) / (p * (1.0 - p) * N)


#: Losses that are a sum of one term per output entry, divided by N: name -> that term's
#: function ``point(pred, y, N, eps) -> (term, dterm/dpred)``. Written with arithmetic and
#: NumPy ufuncs only, so it runs on whole arrays and on single numbers in compiled loops alike.
POINTWISE: dict[str, Callable] = {"mse": mse_point, "bce": bce_point}


def l2_penalty(pairs, l2: float, N: int) -> float:
    """Add the L2 penalty ``l2 / (2 N) * sum(W^2)`` of the weights to their gradients (each
    ``dW += l2 / N * W``) and return the penalty, for ``pairs`` of (W, dW) arrays and a batch of
    N samples: scikit-learn's ``alpha``, on weights and not on biases."""
    scale, total = l2 / N, 0.0
    for W, dW in pairs:
        dW += scale * W
        total += float(np.vdot(W, W))
    return 0.5 * scale * total


#: machine epsilon by dtype (np.finfo costs a microsecond a call)
_EPS = {np.dtype(t): np.finfo(t).eps for t in (np.float64, np.float32)}


def _mean_of(point, pred: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    N = pred.shape[0]
    eps = _EPS.get(pred.dtype)
    term, grad = point(pred, y, N, np.finfo(pred.dtype).eps if eps is None else eps)
    return float(term.sum()) / N, grad


def mse(pred: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean over samples of the summed squared error; gradient 2 (pred - y) / N."""
    return _mean_of(mse_point, pred, y)


def bce(pred: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """Binary cross-entropy of probabilities ``pred`` and 0/1 labels (see :func:`bce_point`)."""
    return _mean_of(bce_point, pred, y)


def softmax_cross_entropy_point(zs, y, s, ysum, N: int):
    """Softmax cross-entropy of one entry of a row of logits, and its gradient, given the row's
    shifted logit ``zs = z - max(row)``, ``s = sum(exp(zs))`` over the row (>= 1) and ``ysum``
    the sum of the row's targets: (-y log softmax(z), (softmax(z) * ysum - y) / N)."""
    return -(y * (zs - log(s))), (exp(zs) / s * ysum - y) / N


def _shifted(pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A row of logits' statistics: ``zs = pred - max(row)`` (N, K), max 0 per row, so no
    exponential overflows, and ``s = sum(exp(zs))`` (N, 1), >= 1."""
    zs = pred - pred.max(axis=1, keepdims=True)
    return zs, exp(zs).sum(axis=1, keepdims=True)


def softmax(pred: np.ndarray) -> np.ndarray:
    """The probabilities (N, K) of logits ``pred`` (N, K) that :func:`softmax_cross_entropy`
    scores: exp(zs) / s of each row's statistics."""
    zs, s = _shifted(pred)
    return exp(zs) / s


def softmax_cross_entropy(pred: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """Cross-entropy of softmax(``pred``) against one-hot (or probability) rows ``y``.

    ``pred`` are logits (N, K), no activation before; the mean over samples is returned, with
    gradient (softmax(pred) * sum_k y - y) / N, which is (softmax(pred) - y) / N for one-hot rows.
    Log-sum-exp is shifted by the row maximum, so no logit overflows. Each entry is
    :func:`softmax_cross_entropy_point` of its row's statistics.
    """
    zs, s = _shifted(pred)
    term, grad = softmax_cross_entropy_point(zs, y, s, y.sum(axis=1, keepdims=True),
                                             pred.shape[0])
    return float(term.sum()) / pred.shape[0], grad


#: Losses of the softmax of a row of logits: name -> the term of one entry given its row's
#: statistics, ``point(zs, y, s, ysum, N) -> (term, dterm/dz)`` (see
#: :func:`softmax_cross_entropy_point`); written for whole arrays and single numbers alike.
SOFTMAX: dict[str, Callable] = {"softmax_cross_entropy": softmax_cross_entropy_point}


LOSSES: dict[str, Callable[[np.ndarray, np.ndarray], tuple[float, np.ndarray]]] = {
    "mse": mse,
    "bce": bce,
    "softmax_cross_entropy": softmax_cross_entropy,
}


#: Output activations whose values lie in (0, 1), as ``bce`` needs.
PROBABILITY_OUTPUTS = frozenset({"sigmoid"})


def unlearnable(loss: str, output_activation: str | None,
                outputs: int | None) -> tuple[str, dict[str, str]] | None:
    """Why ``loss`` cannot train a network whose last activation is ``output_activation``
    ("identity" when none) with ``outputs`` output units, and settings that can; None when it
    can (or when what it depends on is not known yet: None).

    Returns ``(reason, fix)``, ``fix`` mapping ``loss`` / ``output_activation`` to a value.
    """
    if loss == "softmax_cross_entropy" and outputs == 1:
        return ("softmax_cross_entropy over one output unit cannot learn: the softmax of one "
                "number is always 1, so its gradient is always 0",
                {"loss": "bce", "output_activation": "sigmoid"})
    if loss == "bce" and output_activation is not None \
            and output_activation not in PROBABILITY_OUTPUTS:
        return (f"bce needs outputs in (0, 1), probabilities, and the {output_activation} output "
                "activation does not give them: the loss is clipped and its gradient misleads",
                {"output_activation": "sigmoid"})
    return None


#: A single output counts as class 1 above this value (labels too).
THRESHOLD = 0.5


def same_side(pred, y):
    """Whether a one-output prediction and its label fall on the same side of THRESHOLD."""
    return (pred > THRESHOLD) == (y > THRESHOLD)


def count_correct(pred: np.ndarray, y: np.ndarray) -> float:
    """Correct predictions: :func:`same_side` for one output unit, argmax over axis 1 for
    several.

    For outputs with more axes (an image-shaped output, say) each sample counts the fraction of
    its positions that are right, so the count stays between 0 and N.
    """
    if pred.shape[1] == 1:
        hits = np.count_nonzero(same_side(pred, y))
    else:
        hits = np.count_nonzero(pred.argmax(axis=1) == y.argmax(axis=1))
    if pred.ndim > 2:
        return hits / math.prod(pred.shape[2:])
    return int(hits)


def get_loss(name: str) -> Callable[[np.ndarray, np.ndarray], tuple[float, np.ndarray]]:
    """Return the loss function called ``name``; ValueError listing the choices otherwise."""
    return LOSSES[check_choice("loss", name, LOSSES)]
