"""Ready-made networks: the lab's convolution extra and a small CNN for the 8x8 digits."""

from __future__ import annotations

from .._checks import check_positive
from .layers import Activation, Conv2d, Dense, Flatten, MaxPool2d
from .model import Sequential


def lab_cnn(seed: int | None = None, dtype="float64", init: str = "he") -> Sequential:
    """The lab's convolution extra, made trainable: input (3, 28, 28), output (16, 28, 28).

    conv 3->8 3x3 pad 1, relu, conv 8->16 3x3 pad 1, relu. The lab ran it on a 10x3x28x28
    batch; it is the convolution benchmark workload.
    """
    layers = [Conv2d(3, 8, 3, padding=1), Activation("relu"),
              Conv2d(8, 16, 3, padding=1), Activation("relu")]
    return Sequential(layers, input_shape=(3, 28, 28), init=init, seed=seed, dtype=dtype)


def digits_cnn(seed: int | None = None, dtype="float64", init: str = "he",
               channels: tuple[int, int] = (16, 32)) -> Sequential:
    """A small CNN for 8x8 digit images (1, 8, 8) -> 10 logits (use ``softmax_cross_entropy``).

    conv 1->c1 3x3 pad 1, relu, max-pool 2 -> (c1, 4, 4); conv c1->c2 3x3 pad 1, relu,
    max-pool 2 -> (c2, 2, 2); flatten; dense 4*c2 -> 10.
    """
    c1, c2 = (int(check_positive("channels", c, integer=True)) for c in channels)
    layers = [Conv2d(1, c1, 3, padding=1), Activation("relu"), MaxPool2d(2),
              Conv2d(c1, c2, 3, padding=1), Activation("relu"), MaxPool2d(2),
              Flatten(), Dense(4 * c2, 10)]
    return Sequential(layers, input_shape=(1, 8, 8), init=init, seed=seed, dtype=dtype)
