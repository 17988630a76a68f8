"""fastnn: a small, fast, trustworthy CPU neural-network engine with interchangeable backends."""

from . import activations, data, init, losses, optim
from .backends import BACKENDS, available_backends, get_backend
from .layers import Activation, Dense
from .model import MLP, Sequential, load_model
from .trainer import DivergenceError, History, Trainer

__version__ = "0.1.0"

__all__ = [
    "BACKENDS",
    "MLP",
    "Activation",
    "Dense",
    "DivergenceError",
    "History",
    "Sequential",
    "Trainer",
    "activations",
    "available_backends",
    "data",
    "get_backend",
    "init",
    "load_model",
    "losses",
    "optim",
]
