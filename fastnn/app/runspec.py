"""The run description every command shares: :class:`RunSpec`, typed and validated once.

A RunSpec holds every setting of a training run. It is built from the command line
(:meth:`RunSpec.from_args`), from stored settings — a checkpoint's ``meta["spec"]``, a JSON
configuration, a golden file (:meth:`RunSpec.from_dict`) — or in code (``RunSpec(data="digits")``),
and it checks itself in ``__post_init__``: a RunSpec that exists is valid, so no command checks a
setting again. Settings left out take the defaults of the kind of data (:data:`DEFAULTS`).

Every problem is one :class:`SpecError` (a ValueError) whose message names the setting by its
command-line flag (``--epochs must be an integer in [1, 100000000], got 0``); readers of stored
settings name the key instead. Flags belong to this application layer: the library below never
mentions them.

Upper bounds (every number has one, so a typo such as ``--epochs 100000000000000000000000`` is
refused up front instead of failing deep in a run):

- epochs, ``--log-every``, ``--checkpoint-every``: :data:`MAX_EPOCHS` (10**8). Memory does not
  set it (the history is bounded: :mod:`fastnn.training.history`); time does: 10**8 epochs of
  the lab's network take several minutes on the numba backend and days per-layer, so a larger
  count is a typo. A run meant to go on longer continues with ``--resume``.
- ``--n``: :data:`MAX_N` (10**7) generated points or digits (the digits have 1,797 anyway).
- ``--batch-size``: :data:`MAX_BATCH_SIZE` (10**9): a batch of at least the data's rows is the
  full batch, so the bound only catches typos.
- ``--hidden``: at most :data:`MAX_LAYERS` layers of at most :data:`MAX_UNITS` units, and at most
  :data:`MAX_HIDDEN_PARAMS` weights between hidden layers (800 MB in float64 before gradients
  and optimizer state). The layers next to the data depend on the data's width and are not
  bounded here.
- ``--seed``: 0 <= seed < 2**63. NumPy's generators take any non-negative int, but the seed is
  stored in JSON (checkpoints, config.json) and must read back as an int64 anywhere.
- ``--lr``: in (0, 1e6]. An update of a million times the gradient already diverges the lab's
  network in one step; larger values (1e308) only overflow the first update to inf.
- ``--threads``: what :func:`fastnn.threads.check_threads` allows on this machine.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path

from .._checks import check_choice, check_clip, check_dtype, check_in_range
from ..backends import available_backends
from ..io.datasets import DATASETS
from ..nn.activations import ACTIVATIONS
from ..nn.init import GENERATORS, INITIALIZERS, MAX_LEGACY_SEED
from ..nn.losses import LOSSES, unlearnable
from ..nn.optim import OPTIMIZERS
from ..threads import check_threads

MAX_EPOCHS = 10**8
MAX_N = 10**7
MAX_BATCH_SIZE = 10**9
MAX_LAYERS = 100
MAX_UNITS = 2**16
MAX_HIDDEN_PARAMS = 10**8
MAX_SEED = 2**63 - 1
MAX_LR = 1e6

#: ``--model`` choices.
MODELS = ("mlp", "cnn")
#: Suffixes that make ``--data`` a file.
FILE_SUFFIXES = (".csv", ".npz", ".npy")
#: Named data sets and their kind; ``lab-cnn`` is the lab's random CNN batch, which only
#: ``fastnn verify`` runs.
DATA_KINDS = {"linear": "toy", "xor": "toy", "digits": "digits", "lab-cnn": "lab"}

_TOY = {"n": 100, "hidden": (4, 4), "activation": "sigmoid", "output_activation": "sigmoid",
        "optimizer": "sgd", "lr": 1.0, "epochs": 20_000, "loss": "mse", "init": "normal",
        "batch_size": None, "standardize": False}
#: Defaults by kind of data: the lab's toy sets, the digits, a user's file (whose output
#: activation and loss come from its labels: None until the data is read), the lab CNN.
DEFAULTS: dict[str, dict] = {
    "toy": _TOY,
    "digits": {"n": None, "hidden": (64,), "activation": "relu", "output_activation": "identity",
               "optimizer": "adam", "lr": 0.01, "epochs": 30, "loss": "softmax_cross_entropy",
               "init": "he", "batch_size": 64, "standardize": False},
    "file": {"n": None, "hidden": (16, 16), "activation": "tanh", "output_activation": None,
             "optimizer": "adam", "lr": 0.01, "epochs": 500, "loss": None, "init": "xavier",
             "batch_size": None, "standardize": True},
    "lab": {**_TOY, "init": "he"},
}
for _defaults in DEFAULTS.values():  # settings every kind defaults alike (--lab changes them)
    _defaults.update(bias=True, rng="default", clip=None, test_seed=None)
#: What ``--lab`` sets, unless a flag says otherwise: the lab's own network and training (no
#: biases, NumPy's legacy draws from seed 2, MSE and SGD at its lr 0.1, gradients clipped to
#: [-1024, 1023]); its output activation is the hidden one (:data:`LAB_SAME_AS_HIDDEN`).
LAB = {"hidden": (4, 4), "activation": "sigmoid", "optimizer": "sgd", "lr": 0.1, "loss": "mse",
       "init": "normal", "bias": False, "rng": "legacy", "clip": (-1024.0, 1023.0),
       "batch_size": None}
LAB_SAME_AS_HIDDEN = "output_activation"
#: Keys of stored settings that are derived, not set: read back, they are ignored.
DERIVED = frozenset({"kind", "sizes"})

#: Stands for the setting's name in a message until the reader knows it: the flag on the
#: command line, the key in a JSON file. (A NUL cannot occur in a command-line argument.)
_NAME = "\0"


class _KindDefault:
    """The default of a setting that depends on the kind of data."""

    def __repr__(self) -> str:
        return "<default of the kind of data>"


KIND_DEFAULT: object = _KindDefault()


#: Settings whose flag turns them off.
_NEGATED = {"standardize": "--no-standardize", "bias": "--no-bias"}


def flag(field: str) -> str:
    """The command-line flag of a setting: ``batch_size`` -> ``--batch-size``."""
    return _NEGATED.get(field) or "--" + field.replace("_", "-")


class SpecError(ValueError):
    """One invalid setting: ``field``, and a message naming it by its flag (or by :meth:`named`)."""

    def __init__(self, field: str, template: str) -> None:
        self.field, self.template = field, template
        super().__init__(self.named(flag(field)))

    def named(self, name: str) -> str:
        """The message with the setting called ``name``."""
        return self.template.replace(_NAME, name)


# -- one check per setting: value -> normalized value, or ValueError naming _NAME --------------

def _choice(noun: str, choices) -> Callable:
    def check(value):
        try:
            return check_choice(noun, value, choices() if callable(choices) else choices)
        except ValueError as e:
            raise ValueError(f"{_NAME}: {e}") from None
    return check


def _int(lo: int, hi: int) -> Callable:
    return lambda value: check_in_range(_NAME, value, lo, hi, integer=True)


def _number(lo: float, hi: float, hi_open: bool = False) -> Callable:
    return lambda value: float(check_in_range(_NAME, value, lo, hi, lo_open=True,
                                              hi_open=hi_open))


def _bool(value):
    if not isinstance(value, bool):
        raise ValueError(f"{_NAME} must be true or false, got {value!r}")
    return value


def _str(value):
    if not isinstance(value, str):
        raise ValueError(f"{_NAME} must be a string, got {value!r}")
    return value


def _dtype(value):
    try:
        return check_dtype(value).name
    except ValueError as e:
        raise ValueError(f"{_NAME}: {e}") from None


def _hidden(value):
    if not isinstance(value, (list, tuple)):
        raise ValueError(f"{_NAME} must be a list of layer sizes, got {value!r}")
    if len(value) > MAX_LAYERS:
        raise ValueError(f"{_NAME} must have at most {MAX_LAYERS} layers, got {len(value)}")
    sizes = tuple(int(check_in_range(f"{_NAME} layer size", units, 1, MAX_UNITS, integer=True))
                  for units in value)
    weights = sum((a + 1) * b for a, b in zip(sizes[:-1], sizes[1:], strict=True))
    if weights > MAX_HIDDEN_PARAMS:
        raise ValueError(f"{_NAME} {' '.join(map(str, sizes))} needs {weights} weights between "
                         f"hidden layers; at most {MAX_HIDDEN_PARAMS}")
    return sizes


def _clip(value):
    values = tuple(value) if isinstance(value, (list, tuple)) else (value,)
    if len(values) not in (1, 2):
        raise ValueError(f"{_NAME} takes C or LO HI, got {len(values)} numbers")
    check_clip(values[0] if len(values) == 1 else values, kind=_NAME)  # the trainer's rule
    return tuple(float(v) for v in values)


def _threads(value):
    try:  # the machine's limit (Numba's thread pool) is defined once, in fastnn.threads
        return check_threads(value)
    except ValueError as e:
        raise ValueError(f"{_NAME}: {e}") from None


#: Every setting's check, in field order. None is allowed where :data:`_MAY_BE_NONE` says so.
_CHECKS: dict[str, Callable] = {
    "data": _str,
    "model": _choice("model", MODELS),
    "n": _int(1, MAX_N),
    "hidden": _hidden,
    "activation": _choice("activation", ACTIVATIONS),
    "output_activation": _choice("activation", ACTIVATIONS),
    "optimizer": _choice("optimizer", OPTIMIZERS),
    "lr": _number(0, MAX_LR),
    "epochs": _int(1, MAX_EPOCHS),
    "loss": _choice("loss", LOSSES),
    "init": _choice("init", INITIALIZERS),
    "bias": _bool,
    "rng": _choice("rng", GENERATORS),
    "batch_size": _int(1, MAX_BATCH_SIZE),
    "standardize": _bool,
    "seed": _int(0, MAX_SEED),
    "test_seed": _int(0, MAX_SEED),
    "backend": _choice("backend", available_backends),
    "dtype": _dtype,
    "threads": _threads,
    "clip": _clip,
    "target_acc": _number(0, 1),
    "fresh_data": _bool,
    "lab": _bool,
    "val_split": _number(0, 1, hi_open=True),
    "label_col": _str,
    "log_every": _int(1, MAX_EPOCHS),
    "checkpoint_every": _int(1, MAX_EPOCHS),
    "quiet": _bool,
    "out": _str,
    "name": _str,
}
_MAY_BE_NONE = frozenset({"n", "output_activation", "loss", "batch_size", "threads", "clip",
                          "test_seed",
                          "target_acc", "val_split", "label_col", "log_every",
                          "checkpoint_every", "out", "name"})


def check_field(field: str, value, name: str | None = None):
    """Check one setting the way a RunSpec does; returns it normalized.

    For commands whose options are settings but not a whole run (``predict --backend``,
    ``verify --dtype``, ``report --epochs``). Raises SpecError naming ``name`` (default: the
    setting's flag).
    """
    try:
        return _CHECKS[field](value)
    except ValueError as e:
        error = SpecError(field, str(e))
    if name is None:
        raise error
    raise ValueError(error.named(name))


def kind_of(data: object) -> str:
    """``toy``, ``digits``, ``lab`` or ``file``: the kind of data ``data`` names."""
    _check("data", data)
    if data in DATA_KINDS:
        return DATA_KINDS[data]
    if Path(data).suffix.lower() in FILE_SUFFIXES or os.sep in data:
        return "file"
    raise unknown_data(data)


def unknown_data(data: str) -> SpecError:
    """The error for a ``data`` that names no data set a user can train on."""
    return SpecError("data", f"{_NAME}: unknown data set {data!r}; choose from: "
                     f"{', '.join(DATASETS)}, or a .csv/.npz/.npy file")


def data_path(data: str) -> str:
    """A data file's absolute path, its symlinks kept: messages name the file the user named,
    and whether it exists, loops or can be read is the reader's to say when it opens it (a
    path resolved here would fail on a symlink loop before the reader could say so)."""
    return os.path.abspath(data)


def _check(field: str, value):
    if value is None and field in _MAY_BE_NONE:
        return None
    try:
        return _CHECKS[field](value)
    except ValueError as e:
        raise SpecError(field, str(e)) from None


@dataclass(frozen=True)
class RunSpec:
    """Every setting of one training run, checked on construction.

    Settings whose default is :data:`KIND_DEFAULT` take the value :data:`DEFAULTS` gives the
    kind of ``data``. ``data`` names a data set (``xor``, ``linear``, ``digits``, ``lab-cnn``)
    or a file, stored as an absolute path. ``clip`` is ``(C,)`` or ``(LO, HI)``; ``name``
    labels a configuration of ``fastnn verify`` or a run of ``fastnn report``.

    Raises
    ------
    SpecError
        For the first invalid setting, naming its flag.
    """

    data: str = "xor"
    model: str = "mlp"
    n: int | None = KIND_DEFAULT
    hidden: tuple[int, ...] = KIND_DEFAULT
    activation: str = KIND_DEFAULT
    output_activation: str | None = KIND_DEFAULT
    optimizer: str = KIND_DEFAULT
    lr: float = KIND_DEFAULT
    epochs: int = KIND_DEFAULT
    loss: str | None = KIND_DEFAULT
    init: str = KIND_DEFAULT
    bias: bool = KIND_DEFAULT
    rng: str = KIND_DEFAULT
    batch_size: int | None = KIND_DEFAULT
    standardize: bool = KIND_DEFAULT
    seed: int = 2
    backend: str = "numpy"
    dtype: str = "float64"
    threads: int | None = None
    clip: tuple[float, ...] | None = KIND_DEFAULT
    target_acc: float | None = None
    fresh_data: bool = False
    test_seed: int | None = KIND_DEFAULT
    lab: bool = False
    val_split: float | None = None
    label_col: str | None = None
    log_every: int | None = None
    checkpoint_every: int | None = None
    quiet: bool = False
    out: str | None = None
    name: str | None = None

    def __post_init__(self) -> None:
        kind = kind_of(self.data)
        if self.lab is True:  # checked with the rest below; the preset comes first
            if self.output_activation is KIND_DEFAULT:
                object.__setattr__(self, LAB_SAME_AS_HIDDEN, self.activation
                                   if self.activation is not KIND_DEFAULT else LAB["activation"])
            for field, value in LAB.items():
                if getattr(self, field) is KIND_DEFAULT:
                    object.__setattr__(self, field, value)
        if self.data == "xor":  # a fixed grid: no size (a spec copied from linear's has one)
            object.__setattr__(self, "n", None)
        elif self.data == "linear" and self.n is None:  # one copied from xor's, or unset
            object.__setattr__(self, "n", KIND_DEFAULT)
        for field, value in DEFAULTS[kind].items():
            if getattr(self, field) is KIND_DEFAULT:
                object.__setattr__(self, field, value)
        if self.data == "linear" and self.test_seed is None and isinstance(self.seed, int):
            # the held-out linear set: its own draw (stored, so explicit), from the next seed;
            # the lab's program drew its test points from the seed before (train 2, test 1)
            before = self.lab is True and self.seed > 0 or self.seed == MAX_SEED
            object.__setattr__(self, "test_seed", self.seed - 1 if before else self.seed + 1)
        for field in _CHECKS:
            object.__setattr__(self, field, _check(field, getattr(self, field)))
        if kind == "file":
            object.__setattr__(self, "data", data_path(self.data))
        self._check_combination(kind)

    def _check_combination(self, kind: str) -> None:
        if self.lab and kind != "toy":
            raise SpecError("lab", f"{_NAME} is the lab's network on its data (xor or linear), "
                            f"not {self.data!r}")
        if self.rng == "legacy" and max(self.seed, self.test_seed or 0) + (
                self.epochs if self.fresh_data else 0) > MAX_LEGACY_SEED:
            raise SpecError("seed", f"{_NAME} must be an integer in [0, {MAX_LEGACY_SEED}] with "
                            f"--rng legacy (NumPy's RandomState), got {self.seed}")
        if self.model != "mlp" and (not self.bias or self.rng != "default"):
            field = "bias" if not self.bias else "rng"
            raise SpecError(field, f"{_NAME} applies to MLPs; the {self.model} keeps its "
                            "biases and the default generator")
        if self.test_seed is not None and self.data != "linear":
            why = ("is a fixed grid of 21 points: there is nothing to hold out"
                   if self.data == "xor" else "has its own held-out part (--val-split; the "
                   "digits keep 20% for testing)")
            raise SpecError("test_seed", f"{_NAME}: {self.data!r} {why}")
        for field in ("output_activation", "loss"):
            if getattr(self, field) is None and kind != "file":  # files: chosen from the labels
                raise SpecError(field, f"{_NAME} is needed for {self.data!r}; only a data "
                                "file's labels can choose it")
        if self.fresh_data and self.data != "linear":
            raise SpecError("fresh_data", f"{_NAME} needs a random data set (linear); "
                            f"{self.data!r} is fixed")
        if self.model == "cnn" and kind not in ("digits", "lab"):
            raise SpecError("model", f"--model cnn needs image data (--data digits), not "
                            f"{self.data!r}")
        if kind == "lab" and self.model != "cnn":
            raise SpecError("data", f"{_NAME} {self.data} is the lab's CNN batch: it needs "
                            "--model cnn")
        if self.val_split is not None and kind == "digits":
            raise SpecError("val_split", f"{_NAME} does not apply to digits, which keep a 20% "
                            "test split")
        # what the data's kind fixes up front (a file's classes are known once it is read:
        # the trainer refuses the same combinations then)
        outputs = {"toy": 1, "digits": 10}.get(kind)
        problem = None if self.loss is None else \
            unlearnable(self.loss, self.output_activation, outputs)
        if problem is not None:
            reason, fix = problem
            raise SpecError("loss", f"{_NAME} {self.loss} with --output-activation "
                            f"{self.output_activation} on {self.data!r}: {reason}; use "
                            + " ".join(f"{flag(k)} {v}" for k, v in fix.items()))
        if self.label_col is not None and kind != "file":
            raise SpecError("label_col", f"{_NAME} applies to data files only")

    @property
    def kind(self) -> str:
        """The kind of data: ``toy``, ``digits``, ``lab`` or ``file``."""
        return kind_of(self.data)

    @property
    def clip_bounds(self) -> float | tuple[float, float] | None:
        """``clip`` as the trainer takes it: C, or (LO, HI)."""
        if self.clip is None:
            return None
        return self.clip[0] if len(self.clip) == 1 else (self.clip[0], self.clip[1])

    def to_dict(self) -> dict:
        """The settings as JSON values (lists for tuples), with the derived ``kind``."""
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = list(value) if isinstance(value, tuple) else value
        out["kind"] = self.kind
        return out

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> RunSpec:
        """The run a command line asks for: its given options, the kind's defaults elsewhere."""
        options = given(args)
        if options.get("n") is not None and options.get("data", "xor") == "xor":
            raise SpecError("n", f"{_NAME} does not apply to 'xor', a fixed grid of 21 points")
        return cls(**options)

    @classmethod
    def from_dict(cls, raw: Mapping, what: str = "settings", keys=None,
                  defaults: Mapping | None = None) -> RunSpec:
        """A RunSpec from stored settings (JSON values); every problem names the key.

        Parameters
        ----------
        raw : mapping
            Setting name -> value, as :meth:`to_dict` writes (derived keys are ignored).
        what : str
            Where the settings come from, to start each message (``config 'c.json'``).
        keys : iterable of str, optional
            The keys allowed (default: every setting, and the derived ones).
        defaults : mapping, optional
            Values for keys ``raw`` leaves out, before the kind's defaults.

        Raises
        ------
        ValueError
            For an unknown key or an invalid value, naming the key.
        """
        allowed = set(keys) if keys is not None else set(_CHECKS)
        ignored = DERIVED if keys is None else frozenset()
        unknown = set(raw) - allowed - ignored
        if unknown:
            raise ValueError(f"{what}: unknown keys {', '.join(sorted(unknown))}; known: "
                             f"{', '.join(sorted(allowed))}")
        settings = {**(defaults or {}), **{k: v for k, v in raw.items() if k not in ignored}}
        try:
            return cls(**settings)
        except SpecError as e:
            raise ValueError(f"{what}: {e.named(e.field)}") from None


def given(args: argparse.Namespace) -> dict:
    """The settings an argparse namespace holds a value for (options left out are None)."""
    return {k: v for k, v in vars(args).items() if k in _CHECKS and v is not None}
