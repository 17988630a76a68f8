"""Layers: each owns views into its model's flat parameter and gradient buffers and calls the
backend it is handed for every numerical kernel."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np

from ._checks import check_positive
from .activations import check_activation


class Layer:
    """Base class. ``param_shapes`` names the parameters; the model binds views to them."""

    param_shapes: dict[str, tuple[int, ...]] = {}

    def bind(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray]) -> None:
        """Attach this layer's parameter and gradient views (names as in ``param_shapes``)."""
        self.params, self.grads = params, grads

    def initialize(self, init, rng: np.random.Generator) -> None:
        """Fill parameters in place from ``init(din, dout, rng)``; parameter-free layers skip."""

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        """Per-sample output shape for per-sample ``input_shape``; ValueError if it does not fit."""
        return input_shape

    def forward(self, be: ModuleType, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def backward(self, be: ModuleType, dout: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def config(self) -> dict[str, Any]:
        raise NotImplementedError


class Dense(Layer):
    """Fully connected layer: out = x @ W + b, x (N, Din), W (Din, Dout), b (Dout,)."""

    def __init__(self, din: int, dout: int) -> None:
        self.din = int(check_positive("layer size", din, integer=True))
        self.dout = int(check_positive("layer size", dout, integer=True))
        self.param_shapes = {"W": (self.din, self.dout), "b": (self.dout,)}

    def initialize(self, init, rng):
        self.W[...] = init(self.din, self.dout, rng)
        self.b[...] = 0.0

    def output_shape(self, input_shape):
        if input_shape != (self.din,):
            raise ValueError(
                f"Dense({self.din}, {self.dout}) takes inputs of shape ({self.din},), "
                f"got {input_shape}"
            )
        return (self.dout,)

    def bind(self, params, grads):
        super().bind(params, grads)
        self.W, self.b, self.dW, self.db = params["W"], params["b"], grads["W"], grads["b"]

    def forward(self, be, x):
        self._x = x
        return be.dense_forward(x, self.W, self.b)

    def backward(self, be, dout):
        dx, dW, db = be.dense_backward(self._x, self.W, dout)
        self.dW[...] = dW
        self.db[...] = db
        return dx

    def config(self):
        return {"type": "Dense", "din": self.din, "dout": self.dout}

    def __repr__(self) -> str:
        return f"Dense({self.din}, {self.dout})"


class Activation(Layer):
    """Elementwise activation by name (see :mod:`fastnn.activations`)."""

    def __init__(self, name: str) -> None:
        self.name = check_activation(name)

    def forward(self, be, x):
        self._y = be.activation_forward(self.name, x)
        return self._y

    def backward(self, be, dout):
        return be.activation_backward(self.name, self._y, dout)

    def config(self):
        return {"type": "Activation", "name": self.name}

    def __repr__(self) -> str:
        return f"Activation({self.name!r})"


LAYERS: dict[str, type[Layer]] = {"Dense": Dense, "Activation": Activation}


def layer_from_config(cfg: dict[str, Any]) -> Layer:
    """Rebuild a layer from its :meth:`Layer.config`."""
    cfg = dict(cfg)
    kind = cfg.pop("type", None)
    if kind not in LAYERS:
        raise ValueError(f"unknown layer type {kind!r}; choose from: {', '.join(LAYERS)}")
    return LAYERS[kind](**cfg)
