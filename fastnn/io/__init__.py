"""Files and data: checkpoints, user data files, the lab's data sets."""

from . import checkpoint, datafiles, datasets
from .checkpoint import load_model, save_model

__all__ = ["checkpoint", "datafiles", "datasets", "load_model", "save_model"]
