"""Layers: each owns views into its model's flat parameter and gradient buffers and calls the
backend it is handed for every numerical kernel."""

from __future__ import annotations

import inspect
import math
from typing import Any

import numpy as np

from .._checks import check_positive, conv_output_size
from ..backends.base import Backend
from .activations import check_activation


class Layer:
    """Base class. ``param_shapes`` names the parameters; the model binds views to them."""

    param_shapes: dict[str, tuple[int, ...]] = {}

    def bind(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray]) -> None:
        """Attach this layer's parameter and gradient views (names as in ``param_shapes``)."""
        self.params, self.grads = params, grads

    def initialize(self, init, rng) -> None:
        """Fill parameters in place from ``init(din, dout, rng)`` (``rng`` a NumPy Generator or
        RandomState); parameter-free layers skip."""

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        """Per-sample output shape for per-sample ``input_shape``; ValueError if it does not fit."""
        return input_shape

    def scratch_size(self, input_shape: tuple[int, ...]) -> int:
        """Numbers per sample the forward pass needs beyond the output (0 unless overridden)."""
        return 0

    def forward(self, be: Backend, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def backward(self, be: Backend, dout: np.ndarray, need_dx: bool = True):
        """Fill this layer's gradients from ``dout``; return dx (None allowed if not need_dx)."""
        raise NotImplementedError

    def config(self) -> dict[str, Any]:
        raise NotImplementedError


class Dense(Layer):
    """Fully connected layer: out = x @ W + b, x (N, Din), W (Din, Dout), b (Dout,).

    Parameters
    ----------
    din, dout : int
        Input and output units.
    bias : bool
        With ``bias=False`` the layer is out = x @ W and has no ``b`` at all: its only
        parameter is W (``b`` and ``db`` are None), as in the lab's network.
    """

    def __init__(self, din: int, dout: int, bias: bool = True) -> None:
        self.din = int(check_positive("layer size", din, integer=True))
        self.dout = int(check_positive("layer size", dout, integer=True))
        if not isinstance(bias, (bool, np.bool_)):
            raise ValueError(f"bias must be true or false, got {bias!r}")
        self.bias = bool(bias)
        self.param_shapes = {"W": (self.din, self.dout)}
        if self.bias:
            self.param_shapes["b"] = (self.dout,)

    def initialize(self, init, rng):
        self.W[...] = init(self.din, self.dout, rng)
        if self.bias:
            self.b[...] = 0.0

    def output_shape(self, input_shape):
        if input_shape != (self.din,):
            raise ValueError(
                f"{self!r} takes inputs of shape ({self.din},), got {input_shape}"
            )
        return (self.dout,)

    def bind(self, params, grads):
        super().bind(params, grads)
        self.W, self.dW = params["W"], grads["W"]
        self.b, self.db = params.get("b"), grads.get("b")
        # Without a bias the kernels (whose contract takes one) are handed -0.0s: z + (-0.0) is
        # z for every z, signed zeros included, so the output is x @ W to the bit.
        self._b = self.b if self.bias else np.full(self.dout, -0.0, dtype=self.W.dtype)

    def forward(self, be, x):
        self._x = x
        return be.dense_forward(x, self.W, self._b)

    def backward(self, be, dout, need_dx=True):
        dx, dW, db = be.dense_backward(self._x, self.W, dout, need_dx)
        self.dW[...] = dW
        if self.bias:
            self.db[...] = db
        return dx

    def config(self):
        # bias is named only when off, so a layer with one is described as before (and older
        # fastnn reads the checkpoint); a config without it means bias=True.
        cfg = {"type": "Dense", "din": self.din, "dout": self.dout}
        if not self.bias:
            cfg["bias"] = False
        return cfg

    def __repr__(self) -> str:
        return f"Dense({self.din}, {self.dout}{'' if self.bias else ', bias=False'})"


class Activation(Layer):
    """Elementwise activation by name (see :mod:`fastnn.nn.activations`)."""

    def __init__(self, name: str) -> None:
        self.name = check_activation(name)

    def forward(self, be, x):
        self._y = be.activation_forward(self.name, x)
        return self._y

    def backward(self, be, dout, need_dx=True):
        return be.activation_backward(self.name, self._y, dout)

    def config(self):
        return {"type": "Activation", "name": self.name}

    def __repr__(self) -> str:
        return f"Activation({self.name!r})"


def _pair(kind: str, value: object) -> tuple[int, int]:
    pair = tuple(value) if isinstance(value, (tuple, list)) else (value, value)
    if len(pair) != 2:
        raise ValueError(f"{kind} must be an integer or a pair of integers, got {value!r}")
    return (int(check_positive(kind, pair[0], integer=True)),
            int(check_positive(kind, pair[1], integer=True)))


class Conv2d(Layer):
    """2-D convolution (cross-correlation, as in PyTorch), NCHW, zero padding.

    Parameters
    ----------
    cin, cout : int
        Input and output channels.
    kernel_size : int or (int, int)
        KH, KW; an int means a square kernel.
    stride : int
        Step of the window (>= 1).
    padding : int
        Zeros added on every side (>= 0).

    ``W`` is (cout, cin, KH, KW), ``b`` is (cout,). Initialization draws the (cin*KH*KW, cout)
    matrix a Dense layer with those fan-in and fan-out would get, and reshapes it.
    """

    def __init__(self, cin: int, cout: int, kernel_size=3, stride: int = 1,
                 padding: int = 0) -> None:
        self.cin = int(check_positive("channels", cin, integer=True))
        self.cout = int(check_positive("channels", cout, integer=True))
        self.kernel_size = _pair("kernel size", kernel_size)
        self.stride = int(check_positive("stride", stride, integer=True))
        if isinstance(padding, bool) or not isinstance(padding, (int, np.integer)) or padding < 0:
            raise ValueError(f"padding must be an integer >= 0, got {padding!r}")
        self.padding = int(padding)
        self.param_shapes = {"W": (self.cout, self.cin, *self.kernel_size), "b": (self.cout,)}

    def initialize(self, init, rng):
        KH, KW = self.kernel_size
        fan_in = self.cin * KH * KW
        self.W[...] = init(fan_in, self.cout, rng).T.reshape(self.W.shape)  # (F, C, KH, KW)
        self.b[...] = 0.0

    def output_shape(self, input_shape):
        if len(input_shape) != 3 or input_shape[0] != self.cin:
            raise ValueError(f"{self!r} takes inputs of shape ({self.cin}, H, W), "
                             f"got {input_shape}")
        _, H, Wd = input_shape
        KH, KW = self.kernel_size
        return (self.cout, conv_output_size(H, KH, self.stride, self.padding),
                conv_output_size(Wd, KW, self.stride, self.padding))

    def scratch_size(self, input_shape):
        """The unfolded (im2col) columns: C*KH*KW numbers for every output position."""
        _, OH, OW = self.output_shape(input_shape)
        return self.cin * math.prod(self.kernel_size) * OH * OW

    def bind(self, params, grads):
        super().bind(params, grads)
        self.W, self.b, self.dW, self.db = params["W"], params["b"], grads["W"], grads["b"]

    def forward(self, be, x):
        self._x = x
        return be.conv2d_forward(x, self.W, self.b, stride=self.stride, padding=self.padding)

    def backward(self, be, dout, need_dx=True):
        dx, dW, db = be.conv2d_backward(self._x, self.W, dout, stride=self.stride,
                                        padding=self.padding)
        self.dW[...] = dW
        self.db[...] = db
        return dx

    def config(self):
        return {"type": "Conv2d", "cin": self.cin, "cout": self.cout,
                "kernel_size": list(self.kernel_size), "stride": self.stride,
                "padding": self.padding}

    def __repr__(self) -> str:
        KH, KW = self.kernel_size
        k = KH if KH == KW else (KH, KW)
        return (f"Conv2d({self.cin}, {self.cout}, {k}, stride={self.stride}, "
                f"padding={self.padding})")


class MaxPool2d(Layer):
    """Max pooling over ``size`` windows moved by ``stride`` (default: the size), NCHW.

    The gradient of a window goes to its first maximum in row-major order (see
    :data:`fastnn.backends.base.POOL_TIES`).
    """

    def __init__(self, size=2, stride: int | None = None) -> None:
        self.size = _pair("pool size", size)
        self.stride = (self.size[0] if stride is None
                       else int(check_positive("stride", stride, integer=True)))

    def output_shape(self, input_shape):
        if len(input_shape) != 3:
            raise ValueError(f"{self!r} takes inputs of shape (C, H, W), got {input_shape}")
        C, H, Wd = input_shape
        return (C, conv_output_size(H, self.size[0], self.stride, 0),
                conv_output_size(Wd, self.size[1], self.stride, 0))

    def forward(self, be, x):
        self._x = x
        return be.max_pool2d_forward(x, self.size, self.stride)

    def backward(self, be, dout, need_dx=True):
        return be.max_pool2d_backward(self._x, dout, self.size, self.stride)

    def config(self):
        return {"type": "MaxPool2d", "size": list(self.size), "stride": self.stride}

    def __repr__(self) -> str:
        KH, KW = self.size
        k = KH if KH == KW else (KH, KW)
        return f"MaxPool2d({k}, stride={self.stride})"


class Flatten(Layer):
    """(N, d1, d2, ...) -> (N, d1*d2*...), and back in the backward pass."""

    def output_shape(self, input_shape):
        return (math.prod(input_shape),)

    def forward(self, be, x):
        self._shape = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, be, dout, need_dx=True):
        return dout.reshape(self._shape)

    def config(self):
        return {"type": "Flatten"}

    def __repr__(self) -> str:
        return "Flatten()"


LAYERS: dict[str, type[Layer]] = {"Dense": Dense, "Activation": Activation, "Conv2d": Conv2d,
                                  "MaxPool2d": MaxPool2d, "Flatten": Flatten}


def layer_from_config(cfg: dict[str, Any]) -> Layer:
    """Rebuild a layer from its :meth:`Layer.config`; ValueError for anything else."""
    if not isinstance(cfg, dict):
        raise ValueError(f"a layer is described by an object with a 'type', got {cfg!r}")
    cfg = dict(cfg)
    kind = cfg.pop("type", None)
    if not isinstance(kind, str) or kind not in LAYERS:
        raise ValueError(f"unknown layer type {kind!r}; choose from: {', '.join(LAYERS)}")
    try:
        inspect.signature(LAYERS[kind]).bind(**cfg)
    except TypeError as e:
        raise ValueError(f"{kind} layer {cfg}: {e}") from None
    return LAYERS[kind](**cfg)
