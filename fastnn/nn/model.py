"""Models: a Sequential stack of layers over one flat parameter buffer, and the MLP builder."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .._checks import check_dtype, check_positive
from ..backends.base import Backend
from ..memory import check_fits
from .activations import check_activation
from .init import check_generator, generator, get_initializer
from .layers import Activation, Dense, Layer


@dataclass(frozen=True)
class Footprint:
    """What sets a model's memory use, in elements (Python ints: they never overflow).

    ``params`` counts the parameters; ``per_sample`` the numbers one sample keeps during a
    forward pass (its input, every layer's output, a convolution's unfolded columns);
    ``itemsize`` the bytes of one number.
    """

    params: int
    per_sample: int
    itemsize: int

    def nbytes(self, batch: int = 0, slots: int = 0, training: bool = True,
               model: bool = True) -> int:
        """Bytes for the parameters and their gradients (unless not ``model``: they exist
        already), ``slots`` optimizer state arrays, and the activations of ``batch`` samples
        (twice as many when training: the backward pass holds a gradient per activation)."""
        buffers = self.params * (2 * int(model) + slots)
        return self.itemsize * (buffers + self.per_sample * batch * (2 if training else 1))


def plan(layers: Sequence[Layer], input_shape: tuple[int, ...],
         dtype="float64") -> tuple[tuple[int, ...], Footprint]:
    """The output shape and :class:`Footprint` of ``layers`` on per-sample ``input_shape``,
    from shapes alone: nothing is allocated. ValueError when the shapes do not chain."""
    itemsize = check_dtype(dtype).itemsize
    input_shape = tuple(input_shape)
    for d in input_shape:
        check_positive("input size", d, integer=True)
    shape, params, per_sample = input_shape, 0, math.prod(input_shape)
    for i, layer in enumerate(layers):
        try:
            scratch = layer.scratch_size(shape)
            shape = layer.output_shape(shape)
        except ValueError as e:
            raise ValueError(f"layer {i} ({layer!r}) does not fit: {e}") from None
        params += sum(math.prod(s) for s in layer.param_shapes.values())
        per_sample += scratch + math.prod(shape)
    return shape, Footprint(params, per_sample, itemsize)


class Sequential:
    """Layers applied in order; all parameters live in ``params`` (flat), gradients in ``grads``.

    Parameters
    ----------
    layers : sequence of Layer
        The stack, first layer first. Shapes must chain: each layer takes what the last gives.
    input_shape : tuple of int, optional
        Per-sample input shape; taken from the first Dense layer when omitted.
    init : str
        Weight initializer name (``normal``, ``small``, ``xavier``, ``he``); biases start at 0.
    seed : int, optional
        Seed of the initializer's generator; the same seed gives the same weights.
    dtype : str or dtype
        ``float64`` (default) or ``float32``.
    rng : str
        The generator the seed makes (:data:`fastnn.nn.init.GENERATORS`): ``default``,
        NumPy's ``default_rng``; or ``legacy``, ``np.random.RandomState`` (what the lab's
        ``np.random.seed`` seeds; seed in [0, 2**32 - 1]). Either way the layers draw their
        weight matrices from it in layer order, (Din, Dout) each, and biases are zeros, not
        drawn.
    """

    def __init__(self, layers: Sequence[Layer], input_shape: tuple[int, ...] | None = None,
                 init: str = "normal", seed: int | None = None, dtype="float64",
                 rng: str = "default") -> None:
        self.layers = list(layers)
        if not self.layers:
            raise ValueError("a model needs at least one layer")
        self.dtype = check_dtype(dtype)
        self.init, self.rng = init, check_generator(rng, seed)
        initializer = get_initializer(init)
        if input_shape is None:
            first = self.layers[0]
            if not isinstance(first, Dense):
                raise ValueError("input_shape is required when the first layer is not Dense")
            input_shape = (first.din,)
        self.input_shape = tuple(input_shape)
        self.output_shape, self.footprint = plan(self.layers, self.input_shape, self.dtype)
        check_fits(self.footprint.nbytes(), f"a model of {self.footprint.params:,} parameters "
                   "(with their gradients)")
        self.params = np.zeros(self.footprint.params, dtype=self.dtype)
        self.grads = np.zeros_like(self.params)
        self._bind()
        self._first_with_params = next(
            (i for i, layer in enumerate(self.layers) if layer.param_shapes), 0)
        source = generator(rng, seed)
        for layer in self.layers:
            layer.initialize(initializer, source)

    def _bind(self) -> None:
        """Hand every layer its views of ``params`` and ``grads``, in layer order."""
        offset = 0
        for layer in self.layers:
            p, g = {}, {}
            for name, s in layer.param_shapes.items():
                n = math.prod(s)
                p[name] = self.params[offset:offset + n].reshape(s)
                g[name] = self.grads[offset:offset + n].reshape(s)
                offset += n
            layer.bind(p, g)

    def __setstate__(self, state: dict) -> None:
        # pickle copies each view on its own: bind the layers to the model's buffers again
        self.__dict__.update(state)
        self._bind()

    def weights(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """(W, dW) views of every layer's weight array (not biases), in layer order."""
        return [(layer.params["W"], layer.grads["W"]) for layer in self.layers
                if "W" in layer.param_shapes]

    def forward(self, be: Backend, x: np.ndarray) -> np.ndarray:
        """Run every layer's forward kernel on backend ``be``; x (N, *input_shape)."""
        for layer in self.layers:
            x = layer.forward(be, x)
        return x

    def backward(self, be: Backend, dout: np.ndarray, need_dx: bool = True):
        """Back-propagate ``dout`` (N, *output_shape), filling ``grads``; returns dx.

        With ``need_dx=False`` (training) the work below the first layer that has parameters
        is skipped, and None is returned.
        """
        first = 0 if need_dx else self._first_with_params
        for i in range(len(self.layers) - 1, first - 1, -1):
            dout = self.layers[i].backward(be, dout, need_dx or i > first)
        return dout if need_dx else None

    def named_parameters(self) -> list[tuple[str, np.ndarray]]:
        """(``"<layer index>.<name>"``, view) for every parameter, in buffer order."""
        return [(f"{i}.{k}", v) for i, layer in enumerate(self.layers)
                for k, v in layer.params.items() if layer.param_shapes]

    def config(self) -> dict:
        """Everything needed to rebuild this architecture (JSON-serializable)."""
        return {"layers": [layer.config() for layer in self.layers],
                "input_shape": list(self.input_shape), "dtype": self.dtype.name}

    def __repr__(self) -> str:
        inner = ", ".join(repr(layer) for layer in self.layers)
        return f"Sequential([{inner}], dtype={self.dtype.name})"


def MLP(sizes: Sequence[int], activation: str = "sigmoid", output_activation: str = "sigmoid",
        init: str = "normal", seed: int | None = None, dtype="float64", bias: bool = True,
        rng: str = "default") -> Sequential:
    """A multi-layer perceptron: Dense layers, ``activation`` between them.

    The lab's own network, its 28 weights exactly as its program draws them::

        MLP([2, 4, 4, 1], activation=act, output_activation=act, init="normal", seed=2,
            bias=False, rng="legacy")

    Parameters
    ----------
    sizes : sequence of int
        Units per layer, input first: ``[2, 4, 4, 1]`` is the lab's network (two hidden layers
        of 4 units).
    activation : str
        Hidden-layer activation: ``sigmoid``, ``tanh``, ``relu``, ``leaky_relu``, ``identity``.
    output_activation : str
        Activation after the last Dense layer (``sigmoid`` for 0/1 labels; the lab used its
        hidden activation there too).
    init, seed, dtype, rng
        As for :class:`Sequential`.
    bias : bool
        False: Dense layers without biases (out = x @ W), as in the lab.
    """
    sizes = list(sizes)
    if len(sizes) < 2:
        raise ValueError(f"an MLP needs at least an input and an output size, got {sizes}")
    for s in sizes:
        check_positive("layer size", s, integer=True)
    check_activation(activation)
    check_activation(output_activation)
    layers: list[Layer] = []
    for i, (din, dout) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(Dense(din, dout, bias=bias))
        layers.append(Activation(output_activation if i == len(sizes) - 2 else activation))
    return Sequential(layers, init=init, seed=seed, dtype=dtype, rng=rng)
