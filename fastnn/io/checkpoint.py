"""Checkpoints: everything needed to use a trained model or to continue its training.

A checkpoint is one ``.npz`` file holding (no object is ever unpickled; every entry is checked
for its type, shape and range when it is read, and every array's size, from the zip directory
and its ``.npy`` header, before it is read):

- ``format_version`` (int), ``config`` (JSON: the architecture, input shape and dtype), ``params``
  (the flat weight buffer, backend-free);
- ``optimizer`` (JSON: name, hyper-parameters, step count ``t``) and ``opt.<slot>`` state arrays;
- ``trainer`` (JSON: loss, clip, seed, the shuffling generator's state, and ``l2`` when it
  is not 0), ``epoch``;
- optional ``norm.mean``/``norm.std`` (feature standardisation), ``classes`` (label values),
  ``history.<name>`` arrays (``history.epoch`` numbers them) with ``history_stride`` (see
  :mod:`fastnn.training.history`), and ``meta`` (JSON: the run's settings).

Writes are atomic (:func:`fastnn.io.atomic.atomic_write`), so a crash at any moment leaves the
previous checkpoint whole; JSON members are strict JSON.
"""

from __future__ import annotations

import json
import math
import os
import stat
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.lib import format as npformat

from ..memory import MemoryLimitError, check_fits, human_bytes
from ..nn.layers import layer_from_config
from ..nn.model import Sequential, plan
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
        state = {"loss": trainer.loss, "clip": trainer.clip, "seed": trainer.seed,
                 "rng": trainer._rng.bit_generator.state}
        if trainer.l2:  # written only when set: files without it read as l2 = 0
            state["l2"] = trainer.l2
        arrays["trainer"] = _json(state)
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


#: Entries a checkpoint may hold besides the ``opt.<slot>`` arrays.
ENTRIES = frozenset({"format_version", "config", "params", "epoch", "meta", "optimizer",
                     "trainer", "norm.mean", "norm.std", "classes", "history_stride",
                     *(f"history.{name}" for name in ("loss", "accuracy", "val_loss",
                                                      "val_accuracy", "epoch"))})
_MAX_INT = 2**63 - 1


@dataclass
class _Member:
    """One ``.npy`` member of the archive, known from its header alone."""

    info: zipfile.ZipInfo
    shape: tuple[int, ...]
    dtype: np.dtype
    nbytes: int


def _describe(a: np.ndarray | _Member) -> str:
    return f"a {a.dtype} array of shape {tuple(a.shape)}"


def _no_constants(token: str):
    raise ValueError(f"{token} is not JSON")


class _Archive:
    """The members of an ``.npz`` file, checked from their headers before any array is read.

    A member's declared size (the zip directory's, and its ``.npy`` header's) bounds what
    reading it can allocate: a zip bomb or a forged header is refused, not read.
    """

    def __init__(self, path: Path, fh) -> None:
        self.path = path
        self.zip = zipfile.ZipFile(fh)
        infos = self.zip.infolist()
        check_fits(sum(i.file_size for i in infos), f"{path}: reading its arrays")
        self.members: dict[str, _Member] = {}
        for info in infos:
            if not info.filename.endswith(".npy") or info.is_dir():
                raise self.bad(f"entry {info.filename!r} is not a NumPy array")
            name = info.filename[:-4]
            with self.zip.open(info) as fp:
                version = npformat.read_magic(fp)
                if version == (1, 0):
                    shape, fortran, dtype = npformat.read_array_header_1_0(fp)
                elif version == (2, 0):
                    shape, fortran, dtype = npformat.read_array_header_2_0(fp)
                else:
                    raise self.bad(f"entry {name!r} has .npy format version {version}")
                offset = fp.tell()
            if dtype.hasobject:
                raise self.bad(f"entry {name!r} holds Python objects, which fastnn never reads")
            nbytes = math.prod(shape) * dtype.itemsize
            if nbytes > info.file_size - offset:
                raise self.bad(f"entry {name!r} declares {shape} {dtype} ({human_bytes(nbytes)}) "
                               f"but holds {info.file_size - offset} bytes")
            self.members[name] = _Member(info, shape, dtype, nbytes)

    def bad(self, detail: str) -> CheckpointError:
        return CheckpointError(f"{self.path}: not a valid fastnn checkpoint: {detail}")

    def read(self, name: str) -> np.ndarray:
        with self.zip.open(self.members[name].info) as fp:
            a = npformat.read_array(fp, allow_pickle=False)
            if fp.read(1):  # reading to the end also checks the member's CRC-32
                raise self.bad(f"{name} has data after its array")
        return a

    def integer(self, name: str, lo: int = 0, hi: int = _MAX_INT) -> int:
        a = self.read(name)
        if a.shape != () or a.dtype.kind not in "iu" or not lo <= int(a) <= hi:
            what = f"{int(a)}" if a.shape == () and a.dtype.kind in "iu" else _describe(a)
            raise self.bad(f"{name} must be an integer in [{lo}, {hi}], got {what}")
        return int(a)

    def json_object(self, name: str) -> dict:
        a = self.read(name)
        if a.shape != () or a.dtype.kind != "U":
            raise self.bad(f"{name} must be JSON text, got {_describe(a)}")
        try:
            value = json.loads(str(a), parse_constant=_no_constants)
        except (ValueError, RecursionError) as e:
            raise self.bad(f"{name} is not valid JSON ({e})") from None
        if not isinstance(value, dict):
            raise self.bad(f"{name} must be a JSON object, got {type(value).__name__} "
                           f"{_short(value)}")
        return value

    def floats(self, name: str, shape: tuple[int, ...], dtype=None) -> np.ndarray:
        """A finite float array of ``shape`` (any length where ``shape`` holds -1)."""
        member = self.members[name]
        fits = len(member.shape) == len(shape) and all(
            w in (-1, d) for w, d in zip(shape, member.shape, strict=True))
        if member.dtype.kind != "f" or not fits or (dtype is not None and member.dtype != dtype):
            want = "float" if dtype is None else str(np.dtype(dtype))
            dims = ", ".join("N" if d == -1 else str(d) for d in shape)
            raise self.bad(f"{name} must be a {want} array of shape ({dims}"
                           f"{',' if len(shape) == 1 else ''}), got {_describe(member)}")
        a = self.read(name)
        if not np.isfinite(a).all():
            index = tuple(int(i) for i in np.argwhere(~np.isfinite(a))[0])
            raise self.bad(f"{name} holds NaN or inf (first at index {index})")
        return a


def _short(value, limit: int = 60) -> str:
    text = json.dumps(value)
    return text if len(text) <= limit else text[:limit] + "..."


def _keys(ckpt: _Archive, name: str, obj: dict, required: set[str],
          optional: frozenset[str] = frozenset()) -> None:
    missing, unknown = required - set(obj), set(obj) - required - optional
    if missing or unknown:
        parts = ([f"lacks {', '.join(sorted(missing))}"] if missing else []) + \
                ([f"has unknown {', '.join(sorted(unknown))}"] if unknown else [])
        raise ckpt.bad(f"{name} {' and '.join(parts)}")


def _is_int(v, lo: int = 0, hi: int = _MAX_INT) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _architecture(ckpt: _Archive, cfg: dict):
    """Layers, input shape, dtype, output shape and footprint the config declares; nothing is
    allocated."""
    _keys(ckpt, "config", cfg, {"layers", "input_shape", "dtype"})
    layers, input_shape, dtype = cfg["layers"], cfg["input_shape"], cfg["dtype"]
    if not isinstance(layers, list) or not layers:
        raise ckpt.bad(f"config: layers must be a non-empty list, got {_short(layers)}")
    if not isinstance(input_shape, list) or not input_shape or \
            not all(_is_int(d, 1, 2**62) for d in input_shape):
        raise ckpt.bad(f"config: input_shape must be a list of positive integers, got "
                       f"{_short(input_shape)}")
    if dtype not in ("float64", "float32"):
        raise ckpt.bad(f"config: dtype must be float64 or float32, got {_short(dtype)}")
    built = []
    for i, c in enumerate(layers):
        try:
            built.append(layer_from_config(c))
        except ValueError as e:
            raise ckpt.bad(f"config: layer {i}: {e}") from None
    try:
        output_shape, footprint = plan(built, tuple(input_shape), dtype)
    except ValueError as e:
        raise ckpt.bad(f"config: {e}") from None
    return built, tuple(input_shape), np.dtype(dtype), output_shape, footprint


def _check_rng(ckpt: _Archive, state) -> None:
    """The shuffling generator's state: NumPy's PCG64 state, every field of its type."""
    fine = isinstance(state, dict) and set(state) == {"bit_generator", "state", "has_uint32",
                                                      "uinteger"}
    fine = fine and state["bit_generator"] == "PCG64" and isinstance(state["state"], dict) \
        and set(state["state"]) == {"state", "inc"} \
        and all(_is_int(state["state"][k], 0, 2**128 - 1) for k in ("state", "inc")) \
        and state["has_uint32"] in (0, 1) and _is_int(state["uinteger"], 0, 2**32 - 1)
    if fine:
        try:
            np.random.PCG64().state = state
        except (TypeError, ValueError, KeyError, OverflowError):
            fine = False
    if not fine:
        raise ckpt.bad(f"trainer: rng is not a PCG64 generator state: {_short(state)}")


def _training_state(ckpt: _Archive, out: Checkpoint, params: np.ndarray) -> None:
    names = ckpt.members
    slots = sorted(n for n in names if n.startswith("opt."))
    if ("optimizer" in names) != ("trainer" in names) or (slots and "optimizer" not in names):
        raise ckpt.bad("optimizer, trainer and opt.* entries come together (a training state) "
                       "or not at all (weights only)")
    if "optimizer" not in names:
        return
    opt = ckpt.json_object("optimizer")
    _keys(ckpt, "optimizer", opt, {"name", "hyperparams", "t"})
    if not isinstance(opt["name"], str) or not isinstance(opt["hyperparams"], dict) or \
            not all(_is_number(v) for v in opt["hyperparams"].values()) or \
            not _is_int(opt["t"]):
        raise ckpt.bad(f"optimizer must hold a name, numeric hyperparams and a step count "
                       f"t >= 0, got {_short(opt)}")
    trainer = ckpt.json_object("trainer")
    _keys(ckpt, "trainer", trainer, {"loss", "clip", "seed", "rng"}, {"l2"})
    clip = trainer["clip"]
    if not isinstance(trainer["loss"], str):
        raise ckpt.bad(f"trainer: loss must be a name, got {_short(trainer['loss'])}")
    if clip is not None and not (isinstance(clip, list) and len(clip) == 2 and
                                 all(_is_number(v) for v in clip) and clip[0] < clip[1]):
        raise ckpt.bad(f"trainer: clip must be null or [lo, hi] with lo < hi, got "
                       f"{_short(clip)}")
    if "l2" in trainer and not (_is_number(trainer["l2"]) and trainer["l2"] >= 0):
        raise ckpt.bad(f"trainer: l2 must be a number >= 0, got {_short(trainer['l2'])}")
    if trainer["seed"] is not None and not _is_int(trainer["seed"]):
        raise ckpt.bad(f"trainer: seed must be null or an integer >= 0, got "
                       f"{_short(trainer['seed'])}")
    _check_rng(ckpt, trainer["rng"])
    out.optimizer, out.trainer = opt, trainer
    out.optimizer_state = {k[4:]: ckpt.floats(k, params.shape, params.dtype) for k in slots}


def _history(ckpt: _Archive, epoch: int) -> tuple[dict[str, np.ndarray], int]:
    """The metrics (and ``epoch`` numbers) of the history, and its thinning stride."""
    history = {k[8:]: ckpt.floats(k, (-1,)) for k in ckpt.members
               if k.startswith("history.") and k != "history.epoch"}
    for a, b in (("loss", "accuracy"), ("val_loss", "val_accuracy")):
        if len(history.get(a, ())) != len(history.get(b, ())):
            raise ckpt.bad(f"history.{a} has {len(history.get(a, ()))} epochs but history.{b} "
                           f"{len(history.get(b, ()))}")
    n, n_val = len(history.get("loss", ())), len(history.get("val_loss", ()))
    if n > epoch or n_val not in (0, n):
        raise ckpt.bad(f"the history has {n} epochs (and {n_val} of validation) for a run of "
                       f"{epoch} epochs")
    for name in ("accuracy", "val_accuracy"):
        if name in history and not ((history[name] >= 0) & (history[name] <= 1)).all():
            raise ckpt.bad(f"history.{name} holds values outside [0, 1]")
    stride = ckpt.integer("history_stride", 1, 2**62) if "history_stride" in ckpt.members else 1
    if stride & (stride - 1):
        raise ckpt.bad(f"history_stride must be a power of two, got {stride}")
    if "history.epoch" in ckpt.members:
        member = ckpt.members["history.epoch"]
        if member.dtype.kind not in "iu" or len(member.shape) != 1 or member.shape[0] != n:
            raise ckpt.bad(f"history.epoch must be {n} integers (one per entry), got "
                           f"{_describe(member)}")
        numbers = ckpt.read("history.epoch").astype(np.int64)
        if n and (numbers[0] < 1 or numbers[-1] > epoch or (np.diff(numbers) <= 0).any() or
                  (numbers % stride).any()):
            raise ckpt.bad(f"history.epoch must be increasing multiples of {stride} in "
                           f"[1, {epoch}]")
        history["epoch"] = numbers
    elif stride != 1:
        raise ckpt.bad("history_stride without history.epoch")
    return history, stride


def _data_transform(ckpt: _Archive, out: Checkpoint, input_shape, output_shape) -> None:
    names = ckpt.members
    if ("norm.mean" in names) != ("norm.std" in names):
        raise ckpt.bad("norm.mean and norm.std come together or not at all")
    if "norm.mean" in names:
        features = (math.prod(input_shape),)
        out.norm_mean = ckpt.floats("norm.mean", features)
        out.norm_std = ckpt.floats("norm.std", features)
        if not (out.norm_std > 0).all():
            raise ckpt.bad("norm.std holds a value <= 0")
    if "classes" in names:
        n = (2 if output_shape == (1,) else output_shape[0]) if len(output_shape) == 1 else 0
        if not n:
            raise ckpt.bad(f"classes given for a model whose output has shape {output_shape}")
        classes = ckpt.floats("classes", (n,))
        if not (np.diff(classes) > 0).all():
            raise ckpt.bad("classes must be distinct and in increasing order")
        out.classes = classes


def load(path: str | Path) -> Checkpoint:
    """Read a checkpoint, checking every entry before it is used.

    Raises
    ------
    CheckpointError
        For a missing, truncated, corrupt or foreign file, and for any entry of the wrong type,
        shape or range: the architecture is compared with the size of the stored parameters
        before the model is built, and weights, optimizer state, normalisation and history
        must be finite.
    MemoryLimitError
        When the file's arrays or its model cannot fit in the memory available (both are
        ValueErrors).
    """
    path = Path(path)
    try:
        mode = os.stat(path).st_mode
        if stat.S_ISDIR(mode):
            raise CheckpointError(f"{path}: is a folder, not a checkpoint file")
        if not stat.S_ISREG(mode):
            raise CheckpointError(f"{path}: not a regular file")
        with open(path, "rb") as fh:
            if not zipfile.is_zipfile(fh):
                raise CheckpointError(f"{path}: not a readable fastnn checkpoint (not a NumPy "
                                      ".npz archive)")
            fh.seek(0)
            return _load(_Archive(path, fh))
    except FileNotFoundError:
        raise CheckpointError(f"{path}: no such checkpoint file") from None
    except (CheckpointError, MemoryLimitError):
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error, RuntimeError,
            NotImplementedError) as e:
        reason = e.strerror if isinstance(e, OSError) and e.strerror else e
        raise CheckpointError(f"{path}: not a readable fastnn checkpoint ({reason})") from None


def _load(ckpt: _Archive) -> Checkpoint:
    names = ckpt.members
    for name in names:
        if name not in ENTRIES and not name.startswith("opt."):
            raise ckpt.bad(f"unknown entry {name!r}")
    missing = [n for n in ("format_version", "config", "params", "epoch", "meta")
               if n not in names]
    if missing:
        raise ckpt.bad(f"it lacks {', '.join(missing)}")
    version = ckpt.integer("format_version")
    if version != FORMAT_VERSION:
        raise CheckpointError(f"{ckpt.path}: checkpoint format version {version}; this fastnn "
                              f"reads version {FORMAT_VERSION}")
    layers, input_shape, dtype, output_shape, footprint = _architecture(
        ckpt, ckpt.json_object("config"))
    stored = names["params"]
    if stored.shape != (footprint.params,) or stored.dtype != dtype:
        raise ckpt.bad(f"its architecture has {footprint.params:,} {dtype} parameters, but "
                       f"params is {_describe(stored)}")
    check_fits(footprint.nbytes() + sum(m.nbytes for m in names.values()),
               f"{ckpt.path}: loading its model of {footprint.params:,} parameters")
    params = ckpt.floats("params", (footprint.params,), dtype)
    epoch = ckpt.integer("epoch")
    meta = ckpt.json_object("meta")
    if not isinstance(meta.get("spec", {}), dict):
        raise ckpt.bad(f"meta: spec must be a JSON object, got {_short(meta['spec'])}")
    out = Checkpoint(model=None, epoch=epoch, meta=meta)
    _training_state(ckpt, out, params)
    out.history, out.history_stride = _history(ckpt, epoch)
    _data_transform(ckpt, out, input_shape, output_shape)
    out.model = Sequential(layers, input_shape=input_shape, dtype=dtype)
    out.model.params[...] = params
    return out


def save_model(model: Sequential, path: str | Path) -> None:
    """Write ``model``'s architecture and weights to a checkpoint file (no training state)."""
    save(path, model)


def load_model(path: str | Path) -> Sequential:
    """Read the model of a checkpoint written by :func:`save_model` or a training run.

    Raises :class:`CheckpointError` (a ValueError) for a missing, truncated, corrupt or
    wrong-version file.
    """
    return load(path).model
