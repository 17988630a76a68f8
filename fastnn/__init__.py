"""fastnn: a small, fast, trustworthy CPU neural-network engine with interchangeable backends.

Layers, dependencies pointing down: ``app`` (command line, reports) > ``training`` (the common
trainer) > ``io`` (checkpoints, data) > ``nn`` (layers and models over ``backends``' kernels;
its formula tables sit below the backends) > ``_checks``, ``threads``.
"""

from . import threads
from .backends import BACKENDS, available_backends, get_backend
from .io import checkpoint, datafiles, load_model, save_model
from .io import datasets as data
from .nn import (
    MLP,
    Activation,
    Conv2d,
    Dense,
    Flatten,
    MaxPool2d,
    Sequential,
    activations,
    digits_cnn,
    init,
    lab_cnn,
    losses,
    optim,
)
from .training import DivergenceError, History, Trainer

__version__ = "0.1.0"

__all__ = [
    "BACKENDS",
    "MLP",
    "Activation",
    "Conv2d",
    "Dense",
    "DivergenceError",
    "Flatten",
    "History",
    "MaxPool2d",
    "Sequential",
    "Trainer",
    "activations",
    "available_backends",
    "checkpoint",
    "data",
    "datafiles",
    "digits_cnn",
    "get_backend",
    "init",
    "lab_cnn",
    "load_model",
    "losses",
    "optim",
    "save_model",
    "threads",
]
