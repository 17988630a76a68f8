"""Networks: formulas written once (activations, losses, initializers, optimizers), the layers
that call a backend's kernels, Sequential/MLP and the model zoo."""

from . import activations, init, losses, optim
from .layers import Activation, Conv2d, Dense, Flatten, Layer, MaxPool2d
from .model import MLP, Sequential
from .zoo import digits_cnn, lab_cnn

__all__ = ["MLP", "Activation", "Conv2d", "Dense", "Flatten", "Layer", "MaxPool2d", "Sequential",
           "activations", "digits_cnn", "init", "lab_cnn", "losses", "optim"]
