"""Optimizers: each update rule written once, as an elementwise function of plain numbers.

A model keeps all its parameters in one flat array (and its gradients in another), so an
optimizer step is one elementwise map over those arrays. Each optimizer class names that map:

``coefficients(h, t) -> c``
    the per-step scalars (bias corrections, step sizes) from the hyper-parameters ``h`` (a tuple
    or array, in the order of ``hyper``) and the step count ``t`` (1 on the first step);
``rule(p, g, s1, s2, h, c) -> (p, s1, s2)``
    one parameter ``p``, its gradient ``g`` and its two state slots ``s1``, ``s2`` (0.0 for a slot
    the optimizer does not use) mapped to their new values.

Both are written with arithmetic, ``math`` on scalars and NumPy ufuncs only, so the very same
functions run on whole arrays here (:meth:`Optimizer.step`, used by every backend's per-layer
path) and on single numbers inside a compiled loop (the numba backend's fused step, which is
handed them). A new optimizer is a subclass with these two functions: nothing else changes.
Formulas follow ``torch.optim`` so that PyTorch can serve as a test oracle.
"""

from __future__ import annotations

import inspect
import math

import numpy as np

from .._checks import check_choice, check_in_range, check_positive


def check_fraction(kind: str, value: object) -> float:
    """Return ``value`` as a float if it is a number in [0, 1), else raise ValueError."""
    return float(check_in_range(kind, value, 0, 1, hi_open=True))


def clip(g, lo: float, hi: float):
    """Gradient clipping by value: ``g`` limited to [lo, hi] (NaN stays NaN)."""
    return np.minimum(np.maximum(g, lo), hi)


def _lr_only(h, t: float) -> tuple[float, float, float, float]:
    return h[0], 0.0, 0.0, 0.0


def _sgd(p, g, s1, s2, h, c):
    return p - c[0] * g, s1, s2


def _heavy_ball(p, g, s1, s2, h, c):
    v = s1 * h[1] + g
    return p - c[0] * v, v, s2


def _nesterov(p, g, s1, s2, h, c):
    v = s1 * h[1] + g
    return p - c[0] * (g + h[1] * v), v, s2


def _adagrad(p, g, s1, s2, h, c):
    s = s1 + g * g
    return p - c[0] * g / (np.sqrt(s) + h[1]), s, s2


def _rmsprop(p, g, s1, s2, h, c):
    s = s1 * h[1] + (1.0 - h[1]) * (g * g)
    return p - c[0] * g / (np.sqrt(s) + h[2]), s, s2


def _adam_coefficients(h, t: float) -> tuple[float, float, float, float]:
    """(step size lr / (1 - beta1^t), bias correction sqrt(1 - beta2^t), 1, 0)."""
    return h[0] / (1.0 - h[1] ** t), math.sqrt(1.0 - h[2] ** t), 1.0, 0.0


def _adamw_coefficients(h, t: float) -> tuple[float, float, float, float]:
    """Adam's, with the decay factor 1 - lr * weight_decay third."""
    step_size, correction, _, _ = _adam_coefficients(h, t)
    return step_size, correction, 1.0 - h[0] * h[4], 0.0


def _adam(p, g, s1, s2, h, c):
    m = s1 * h[1] + (1.0 - h[1]) * g
    v = s2 * h[2] + (1.0 - h[2]) * (g * g)
    return p - c[0] * m / (np.sqrt(v) / c[1] + h[3]), m, v


def _adamw(p, g, s1, s2, h, c):
    return _adam(p * c[2], g, s1, s2, h, c)  # decay first, then Adam's step, as torch does


class Optimizer:
    """Base class: hyper-parameters named by ``hyper``, state arrays in ``state``, steps in ``t``.

    Subclasses set ``name``, ``hyper`` (``lr`` first), ``slots`` (at most two state arrays, each
    shaped like the parameters) and the elementwise ``rule`` and ``coefficients`` (see the module
    docstring); their ``__init__`` validates and stores each hyper-parameter as an attribute.
    """

    name = "optimizer"
    hyper: tuple[str, ...] = ("lr",)
    slots: tuple[str, ...] = ()
    coefficients = staticmethod(_lr_only)
    rule = staticmethod(_sgd)

    def __init__(self, lr: float) -> None:
        self.lr = float(check_positive("lr", lr))
        self.t = 0
        self.state: dict[str, np.ndarray] = {}

    def reset(self, params: np.ndarray) -> None:
        """Forget all state; size it for ``params``."""
        self.t = 0
        self.state = {k: np.zeros_like(params) for k in self.slots}

    def ensure_state(self, params: np.ndarray) -> None:
        """Reset the state unless it already fits ``params`` (shape and dtype)."""
        if self.slots and (len(self.state) != len(self.slots)
                           or self.state[self.slots[0]].shape != params.shape
                           or self.state[self.slots[0]].dtype != params.dtype):
            self.reset(params)

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        if "_update" in vars(cls):  # the extension point before rules: it would be ignored
            raise TypeError(f"{cls.__name__} defines _update, which fastnn no longer calls: "
                            "define the update as a rule (see fastnn.nn.optim)")

    def hyper_values(self) -> tuple[float, ...]:
        """The hyper-parameters in ``hyper`` order, as Python floats (NumPy's weak scalars, so
        a float32 model stays float32)."""
        return tuple([float(getattr(self, k)) for k in self.hyper])

    def step(self, params: np.ndarray, grads: np.ndarray) -> None:
        """Update ``params`` (and the state) in place from ``grads`` (both flat, one shape)."""
        self.ensure_state(params)
        self.t += 1
        h = self.hyper_values()
        c = self.coefficients(h, float(self.t))
        slots, state = self.slots, self.state
        if not slots:
            np.copyto(params, self.rule(params, grads, 0.0, 0.0, h, c)[0])
            return
        s1 = state[slots[0]]
        s2 = state[slots[1]] if len(slots) > 1 else 0.0
        new_p, s1, s2 = self.rule(params, grads, s1, s2, h, c)
        np.copyto(params, new_p)
        for k, value in zip(slots, (s1, s2), strict=False):
            # a new array becomes the state; one the rule handed back (g, say) is copied
            state[k] = value.copy() if value is grads or value is params else value

    def hyperparams(self) -> dict[str, float]:
        """The settings that define this optimizer (for config files and checkpoints)."""
        return {k: getattr(self, k) for k in self.hyper}


class SGD(Optimizer):
    """p -= lr * v with v = momentum * v + g (torch.optim.SGD); momentum 0 is plain SGD."""

    name = "sgd"
    hyper = ("lr", "momentum")

    def __init__(self, lr: float, momentum: float = 0.0) -> None:
        super().__init__(lr)
        self.momentum = check_fraction("momentum", momentum)
        if self.momentum:
            self.slots, self.rule = ("velocity",), _heavy_ball


class Momentum(SGD):
    """SGD with momentum, 0.9 by default."""

    name = "momentum"

    def __init__(self, lr: float, momentum: float = 0.9) -> None:
        super().__init__(lr, momentum)


class Nesterov(Optimizer):
    """Momentum with Nesterov's correction: v = m v + g; p -= lr (g + m v), exactly
    ``torch.optim.SGD(momentum=m, nesterov=True)``; m 0.9 by default."""

    name = "nesterov"
    hyper = ("lr", "momentum")
    slots = ("velocity",)
    rule = staticmethod(_nesterov)

    def __init__(self, lr: float, momentum: float = 0.9) -> None:
        super().__init__(lr)
        self.momentum = check_fraction("momentum", momentum)
        if not self.momentum:
            raise ValueError("nesterov needs a momentum in (0, 1), got 0")


class Adagrad(Optimizer):
    """s += g**2; p -= lr * g / (sqrt(s) + eps) (torch.optim.Adagrad, eps 1e-10)."""

    name = "adagrad"
    hyper = ("lr", "eps")
    slots = ("sum_sq",)
    rule = staticmethod(_adagrad)

    def __init__(self, lr: float, eps: float = 1e-10) -> None:
        super().__init__(lr)
        self.eps = float(check_positive("eps", eps))


class RMSprop(Optimizer):
    """s = alpha s + (1 - alpha) g**2; p -= lr * g / (sqrt(s) + eps) (torch.optim.RMSprop)."""

    name = "rmsprop"
    hyper = ("lr", "alpha", "eps")
    slots = ("square_avg",)
    rule = staticmethod(_rmsprop)

    def __init__(self, lr: float, alpha: float = 0.99, eps: float = 1e-8) -> None:
        super().__init__(lr)
        self.alpha = check_fraction("alpha", alpha)
        self.eps = float(check_positive("eps", eps))


class Adam(Optimizer):
    """Adam with bias correction, as torch.optim.Adam computes it (betas 0.9, 0.999; eps 1e-8)."""

    name = "adam"
    hyper = ("lr", "beta1", "beta2", "eps")
    slots = ("m", "v")
    coefficients = staticmethod(_adam_coefficients)
    rule = staticmethod(_adam)

    def __init__(self, lr: float, beta1: float = 0.9, beta2: float = 0.999,
                 eps: float = 1e-8) -> None:
        super().__init__(lr)
        self.beta1 = check_fraction("beta1", beta1)
        self.beta2 = check_fraction("beta2", beta2)
        self.eps = float(check_positive("eps", eps))


class AdamW(Adam):
    """Adam with decoupled weight decay: p *= 1 - lr * weight_decay before Adam's step, exactly
    ``torch.optim.AdamW`` (weight_decay 0.01 by default)."""

    name = "adamw"
    hyper = ("lr", "beta1", "beta2", "eps", "weight_decay")
    coefficients = staticmethod(_adamw_coefficients)
    rule = staticmethod(_adamw)

    def __init__(self, lr: float, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8,
                 weight_decay: float = 0.01) -> None:
        super().__init__(lr, beta1, beta2, eps)
        if isinstance(weight_decay, bool) or not isinstance(weight_decay, (int, float)) \
                or not 0 <= weight_decay < math.inf:
            raise ValueError(f"weight_decay must be a finite number >= 0, got {weight_decay!r}")
        self.weight_decay = float(weight_decay)


OPTIMIZERS: dict[str, type[Optimizer]] = {
    cls.name: cls for cls in (SGD, Momentum, Adagrad, RMSprop, Adam, AdamW, Nesterov)
}


def get_optimizer(name: str, lr: float, **hyperparams: float) -> Optimizer:
    """Build the optimizer called ``name``; ValueError listing the choices otherwise."""
    cls = OPTIMIZERS[check_choice("optimizer", name, OPTIMIZERS)]
    params = inspect.signature(cls).parameters.values()
    known = [p.name for p in params if p.name != "lr" and p.kind in (
        p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    takes_any = any(p.kind is p.VAR_KEYWORD for p in params)  # a user's class may take **kw
    unknown = [] if takes_any else sorted(set(hyperparams) - set(known))
    if unknown:  # Python's own TypeError would name __init__, not the choices
        s = "s" if len(unknown) > 1 else ""
        raise ValueError(f"optimizer {name!r} takes no keyword{s} "
                         f"{', '.join(map(repr, unknown))}; its keywords: "
                         f"{', '.join(known) or 'none but lr'}")
    return cls(lr, **hyperparams)
