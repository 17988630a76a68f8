"""fastnn: a small, fast, trustworthy CPU neural-network engine with interchangeable backends."""

from . import activations, checkpoint, data, datafiles, init, losses, optim, threads
from .backends import BACKENDS, available_backends, get_backend
from .layers import Activation, Conv2d, Dense, Flatten, MaxPool2d
from .model import MLP, Sequential, digits_cnn, lab_cnn, load_model
from .trainer import DivergenceError, History, Trainer

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
    "threads",
]
