"""Training: the common trainer (one epoch loop for every backend), its history and callbacks."""

from .history import History
from .trainer import DivergenceError, Trainer, count_correct

__all__ = ["DivergenceError", "History", "Trainer", "count_correct"]
