"""Optimizers: one implementation for every backend, updating flat parameter buffers in place.

A model keeps all its parameters in one contiguous array (and its gradients in another), so an
optimizer step is a handful of whole-array operations whatever the network. Formulas follow
PyTorch's (``torch.optim``) so that PyTorch can serve as a test oracle; plain SGD is SGD with
momentum 0.
"""

from __future__ import annotations

import math

import numpy as np

from .._checks import check_choice, check_positive


def _check_fraction(kind: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise ValueError(f"{kind} must be a number in [0, 1), got {value!r}")
    return float(value)


class Optimizer:
    """Base class: per-parameter state arrays in ``state``, step count in ``t``."""

    name = "optimizer"
    slots: tuple[str, ...] = ()

    def __init__(self, lr: float) -> None:
        self.lr = float(check_positive("lr", lr))
        self.t = 0
        self.state: dict[str, np.ndarray] = {}

    def reset(self, params: np.ndarray) -> None:
        """Forget all state; size it for ``params``."""
        self.t = 0
        self.state = {k: np.zeros_like(params) for k in self.slots}

    def step(self, params: np.ndarray, grads: np.ndarray) -> None:
        """Update ``params`` in place from ``grads`` (both flat, of one shape)."""
        if self.slots and (len(self.state) != len(self.slots)
                           or self.state[self.slots[0]].shape != params.shape
                           or self.state[self.slots[0]].dtype != params.dtype):
            self.reset(params)
        self.t += 1
        self._update(params, grads)

    def _update(self, params: np.ndarray, grads: np.ndarray) -> None:
        raise NotImplementedError

    def hyperparams(self) -> dict[str, float]:
        """The settings that define this optimizer (for config files and reports)."""
        return {"lr": self.lr}


class SGD(Optimizer):
    """p -= lr * v with v = momentum * v + g (torch.optim.SGD); momentum 0 is plain SGD."""

    name = "sgd"

    def __init__(self, lr: float, momentum: float = 0.0) -> None:
        super().__init__(lr)
        self.momentum = _check_fraction("momentum", momentum)
        self.slots = ("velocity",) if self.momentum else ()

    def _update(self, params, grads):
        if self.momentum:
            v = self.state["velocity"]
            v *= self.momentum
            v += grads
            grads = v
        params -= self.lr * grads

    def hyperparams(self):
        return {"lr": self.lr, "momentum": self.momentum}


class Momentum(SGD):
    """SGD with momentum, 0.9 by default."""

    name = "momentum"

    def __init__(self, lr: float, momentum: float = 0.9) -> None:
        super().__init__(lr, momentum)


class Adagrad(Optimizer):
    """s += g**2; p -= lr * g / (sqrt(s) + eps) (torch.optim.Adagrad, eps 1e-10)."""

    name = "adagrad"
    slots = ("sum_sq",)

    def __init__(self, lr: float, eps: float = 1e-10) -> None:
        super().__init__(lr)
        self.eps = float(check_positive("eps", eps))

    def _update(self, params, grads):
        s = self.state["sum_sq"]
        s += grads * grads
        denom = np.sqrt(s)
        denom += self.eps
        params -= self.lr * grads / denom

    def hyperparams(self):
        return {"lr": self.lr, "eps": self.eps}


class RMSprop(Optimizer):
    """s = alpha s + (1 - alpha) g**2; p -= lr * g / (sqrt(s) + eps) (torch.optim.RMSprop)."""

    name = "rmsprop"
    slots = ("square_avg",)

    def __init__(self, lr: float, alpha: float = 0.99, eps: float = 1e-8) -> None:
        super().__init__(lr)
        self.alpha = _check_fraction("alpha", alpha)
        self.eps = float(check_positive("eps", eps))

    def _update(self, params, grads):
        s = self.state["square_avg"]
        s *= self.alpha
        s += (1.0 - self.alpha) * (grads * grads)
        denom = np.sqrt(s)
        denom += self.eps
        params -= self.lr * grads / denom

    def hyperparams(self):
        return {"lr": self.lr, "alpha": self.alpha, "eps": self.eps}


class Adam(Optimizer):
    """Adam with bias correction, as torch.optim.Adam computes it (betas 0.9, 0.999; eps 1e-8)."""

    name = "adam"
    slots = ("m", "v")

    def __init__(self, lr: float, beta1: float = 0.9, beta2: float = 0.999,
                 eps: float = 1e-8) -> None:
        super().__init__(lr)
        self.beta1 = _check_fraction("beta1", beta1)
        self.beta2 = _check_fraction("beta2", beta2)
        self.eps = float(check_positive("eps", eps))

    def _update(self, params, grads):
        m, v = self.state["m"], self.state["v"]
        m *= self.beta1
        m += (1.0 - self.beta1) * grads
        v *= self.beta2
        v += (1.0 - self.beta2) * (grads * grads)
        step_size = self.lr / (1.0 - self.beta1**self.t)
        denom = np.sqrt(v)
        denom /= math.sqrt(1.0 - self.beta2**self.t)
        denom += self.eps
        params -= step_size * m / denom

    def hyperparams(self):
        return {"lr": self.lr, "beta1": self.beta1, "beta2": self.beta2, "eps": self.eps}


OPTIMIZERS: dict[str, type[Optimizer]] = {
    "sgd": SGD,
    "momentum": Momentum,
    "adagrad": Adagrad,
    "rmsprop": RMSprop,
    "adam": Adam,
}


def get_optimizer(name: str, lr: float, **hyperparams: float) -> Optimizer:
    """Build the optimizer called ``name``; ValueError listing the choices otherwise."""
    cls = OPTIMIZERS[check_choice("optimizer", name, OPTIMIZERS)]
    try:
        return cls(lr, **hyperparams)
    except TypeError as e:
        raise ValueError(f"optimizer {name!r}: {e}") from None
