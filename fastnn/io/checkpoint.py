"""Checkpoints: everything needed to use a trained model or to continue its training.

A checkpoint is one ``.npz`` file (read with ``allow_pickle=False``; no object is ever
unpickled) holding:

- ``format_version`` (int), ``config`` (JSON: the architecture, input shape and dtype), ``params``
  (the flat weight buffer, backend-free);
- ``optimizer`` (JSON: name, hyper-parameters, step count ``t``) and ``opt.<slot>`` state arrays;
- ``trainer`` (JSON: loss, clip, seed, the shuffling generator's state), ``epoch``;
- optional ``norm.mean``/``norm.std`` (feature standardisation), ``classes`` (label values),
  ``history.<name>`` arrays (``history.epoch`` numbers them) with ``history_stride`` (see
  :mod:`fastnn.training.history`), and ``meta`` (JSON: the run's settings).

Writes are atomic (:func:`fastnn.io.atomic.atomic_write`), so a crash at any moment leaves the
previous checkpoint whole; JSON members are strict JSON.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..nn.layers import layer_from_config
from ..nn.model import Sequential
from .atomic import atomic_write, strict_json

FORMAT_VERSION = 2


class CheckpointError(ValueError):
    """A checkpoint that cannot be read or does not fit what it is loaded into."""


@dataclass
class Checkpoint:
    """What :func:`load` returns; ``model`` is rebuilt from the architecture."""

    model: Any
    optimizer: dict | None = None
    optimizer_state: dict[str, np.ndarray] = field(default_factory=dict)
    trainer: dict | None = None
    epoch: int = 0
    history: dict[str, np.ndarray] = field(default_factory=dict)
    history_stride: int = 1
    norm_mean: np.ndarray | None = None
    norm_std: np.ndarray | None = None
    classes: np.ndarray | None = None
    meta: dict = field(default_factory=dict)


def _json(obj) -> np.ndarray:
    return np.array(strict_json(obj))


def save(path: str | Path, model, trainer=None, epoch: int = 0, history=None,
         norm_mean: np.ndarray | None = None, norm_std: np.ndarray | None = None,
         classes: np.ndarray | None = None, meta: dict | None = None) -> None:
    """Write a checkpoint of ``model`` (and ``trainer``'s optimizer and generator) atomically."""
    arrays: dict[str, np.ndarray] = {
        "format_version": np.array(FORMAT_VERSION),
        "config": _json(model.config()),
        "params": model.params,
        "epoch": np.array(int(epoch)),
        "meta": _json(meta or {}),
    }
    if trainer is not None:
        opt = trainer.optimizer
        arrays["optimizer"] = _json({"name": opt.name, "hyperparams": opt.hyperparams(),
                                     "t": opt.t})
        arrays.update({f"opt.{k}": v for k, v in opt.state.items()})
        arrays["trainer"] = _json({"loss": trainer.loss, "clip": trainer.clip,
                                   "seed": trainer.seed,
                                   "rng": trainer._rng.bit_generator.state})
    if history is not None and history.epoch:
        arrays["history.epoch"] = np.asarray(history.epoch, dtype=np.int64)
        arrays["history_stride"] = np.array(int(history.stride))
        for name in ("loss", "accuracy", "val_loss", "val_accuracy"):
            values = getattr(history, name)
            if values:
                arrays[f"history.{name}"] = np.asarray(values, dtype=np.float64)
    for name, value in (("norm.mean", norm_mean), ("norm.std", norm_std), ("classes", classes)):
        if value is not None:
            arrays[name] = np.asarray(value, dtype=np.float64)
    atomic_write(path, lambda f: np.savez(f, **arrays))


def load(path: str | Path) -> Checkpoint:
    """Read a checkpoint; CheckpointError for a missing, truncated, corrupt or foreign file."""

    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as f:
            files = {k: f[k] for k in f.files}
    except FileNotFoundError:
        raise CheckpointError(f"{path}: no such checkpoint file") from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib_error()) as e:
        raise CheckpointError(f"{path}: not a readable fastnn checkpoint ({e})") from None
    try:
        version = int(files["format_version"])
        if version != FORMAT_VERSION:
            raise CheckpointError(f"{path}: checkpoint format version {version}; this fastnn "
                                  f"reads version {FORMAT_VERSION}")
        cfg = json.loads(str(files["config"]))
        layers = [layer_from_config(c) for c in cfg["layers"]]
        model = Sequential(layers, input_shape=tuple(cfg["input_shape"]), dtype=cfg["dtype"])
        params = files["params"]
        if params.shape != model.params.shape or params.dtype != model.params.dtype:
            raise CheckpointError(f"{path}: {params.shape[0]} {params.dtype} parameters stored; "
                                  f"its architecture has {model.params.shape[0]} "
                                  f"{model.params.dtype}")
        model.params[...] = params
        ckpt = Checkpoint(model=model, epoch=int(files["epoch"]),
                          meta=json.loads(str(files["meta"])))
        if "optimizer" in files:
            ckpt.optimizer = json.loads(str(files["optimizer"]))
            ckpt.optimizer_state = {k[4:]: v for k, v in files.items() if k.startswith("opt.")}
            ckpt.trainer = json.loads(str(files["trainer"]))
        ckpt.history = {k[8:]: v for k, v in files.items() if k.startswith("history.")}
        if "history_stride" in files:
            ckpt.history_stride = int(files["history_stride"])
        ckpt.norm_mean, ckpt.norm_std = files.get("norm.mean"), files.get("norm.std")
        ckpt.classes = files.get("classes")
    except CheckpointError:
        raise
    except (KeyError, ValueError, TypeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{path}: not a valid fastnn checkpoint ({type(e).__name__}: "
                              f"{e})") from None
    return ckpt


def save_model(model: Sequential, path: str | Path) -> None:
    """Write ``model``'s architecture and weights to a checkpoint file (no training state)."""
    save(path, model)


def load_model(path: str | Path) -> Sequential:
    """Read the model of a checkpoint written by :func:`save_model` or a training run.

    Raises :class:`CheckpointError` (a ValueError) for a missing, truncated, corrupt or
    wrong-version file.
    """
    return load(path).model


def zlib_error() -> type[Exception]:
    import zlib

    return zlib.error
