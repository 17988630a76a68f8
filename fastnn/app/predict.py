"""``fastnn predict``: a trained model's outputs for a data set, with accuracy when labelled."""

from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path

import numpy as np

from ..io import checkpoint, datafiles
from ..io import datasets as data
from ..io.atomic import remove_stale_temps, write_text
from ..nn.losses import softmax
from ..training import Trainer
from .common import UsageError, class_labels
from .runspec import RunSpec


def input_text(shape: tuple[int, ...]) -> str:
    """How a message names a model's input: ``2 features``, or, for an image model, which
    takes each row's C*H*W features in that order, ``inputs of shape (1, 8, 8), 64 features
    per row``."""
    n = math.prod(shape)
    return f"{n} features" if len(shape) == 1 else \
        f"inputs of shape {shape}, {n} features per row"


def _same_file(a: Path, b: Path) -> bool:
    """Whether ``a`` and ``b`` name one file: by inode when both exist (symlinks, hard links,
    relative paths), else by their resolved paths."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return a.resolve() == b.resolve()


def _inputs(args: argparse.Namespace, spec: RunSpec) -> list[tuple[str, Path]]:
    """The files predict reads: (flag, path)."""
    files = [("--model", Path(args.model))]
    if spec.kind == "file":
        files.append(("--data", Path(args.data)))
        if Path(args.data).suffix.lower() == ".npy" and datafiles.labels_path_exists(args.data):
            files.append(("--data's labels", datafiles.labels_path_for(Path(args.data))))
    return files


def check_out(out: str, inputs: list[tuple[str, Path]]) -> Path:
    """``--out`` as a path predict may write its CSV to, or UsageError: never a folder, never
    one of its own input files, and in a folder that exists."""
    path = Path(out)
    if path.is_dir() or out.endswith(("/", os.sep)):
        raise UsageError(f"--out {out!r} is a folder; predict writes one CSV file: give its "
                         f"name, e.g. {str(path / 'predictions.csv')!r}")
    for flag, other in inputs:
        if _same_file(path, other):
            raise UsageError(f"--out {out!r} is the {flag} file {str(other)!r}; predict never "
                             "writes over its input")
    if not path.parent.is_dir():
        raise UsageError(f"cannot write to --out {out!r}: no folder {str(path.parent)!r}")
    return path


def cmd_predict(args: argparse.Namespace) -> int:
    """``fastnn predict``: a trained model's outputs for a data file, with accuracy if labelled."""
    # the data, label column and backend are settings of a run like train's, checked the same
    # way (and a toy set is generated with the same defaults: 100 linear points, seed 2)
    spec = RunSpec(data=args.data, label_col=args.label_col, backend=args.backend)
    if spec.kind not in ("toy", "file"):
        raise UsageError(f"--data {args.data}: predict takes a data file, xor or linear")
    out = None if args.out is None else check_out(args.out, _inputs(args, spec))
    ckpt = checkpoint.load(args.model)
    model = ckpt.model
    if len(model.output_shape) != 1:
        raise UsageError(f"{args.model}: the model gives outputs of shape {model.output_shape} "
                         "per sample; predict needs one vector of class scores")
    shape, n_in = model.input_shape, math.prod(model.input_shape)
    # a model trained without class values (the toy sets, the digits) predicts class indices
    k = model.output_shape[0]
    classes = ckpt.classes if ckpt.classes is not None else np.arange(2 if k == 1 else k,
                                                                      dtype=float)
    if spec.kind == "toy":
        X, y = (data.generate_linear(spec.n, seed=spec.seed) if spec.data == "linear"
                else data.generate_xor_easy())
    else:
        path = Path(args.data)  # as the user wrote it, so messages name the file their way
        # read once (a pipe cannot be read twice); a CSV is labelled when it has one column
        # more than the model's inputs
        ds = datafiles.load_dataset(path, spec.label_col, has_labels=None, n_features=n_in,
                                    classes=classes)
        X, y = ds.X, ds.y
    if X.shape[1:] != (n_in,):
        raise ValueError(f"the data has {X.shape[1]} features per row; the model takes "
                         f"{input_text(shape)}")
    if y is not None and y.shape[1] != k:
        raise ValueError(f"the labels have {y.shape[1]} classes' columns; the model's output "
                         f"has {k}")
    if ckpt.norm_mean is not None:
        with np.errstate(over="ignore", invalid="ignore"):
            X = datafiles.Standardizer(ckpt.norm_mean, ckpt.norm_std)(X)
        if not np.isfinite(X).all():
            column = int(np.argwhere(~np.isfinite(X))[0][1])
            raise ValueError(f"feature {column} of the data, standardized with the model's "
                             "statistics, is beyond the range of floating point numbers")
    X = X.reshape(len(X), *shape)  # an image model's rows hold C*H*W features, in that order
    trainer = Trainer(model, loss=(ckpt.trainer or {}).get("loss", "mse"), backend=spec.backend)
    pred = trainer.predict(X)
    if not np.isfinite(pred).all():
        row = int(np.argwhere(~np.isfinite(pred))[0][0])
        raise ValueError(f"the model's output for row {row} of the data is not finite (the "
                         "features are far outside what it was trained on)")
    labels = class_labels(pred, classes)
    if trainer.loss == "softmax_cross_entropy":  # the model outputs logits: show probabilities
        pred = softmax(pred)
    rows = ["row,prediction," + ",".join(f"p{i}" for i in range(pred.shape[1]))]
    rows += [f"{i},{label:g}," + ",".join(f"{v:.6g}" for v in p)
             for i, (label, p) in enumerate(zip(labels, pred, strict=True))]
    text = "\n".join(rows) + "\n"
    summary = f"{len(X)} predictions"
    if y is not None:
        _, acc = trainer.evaluate(X, y)
        summary += f"; accuracy={acc:.2%}"
    if out is not None:
        remove_stale_temps(out.parent)  # a killed predict's, into this folder
        write_text(out, text)
        summary += f"; written to {args.out}"
    else:
        print(text, end="")
    # with the CSV on stdout the summary goes to stderr, so `> preds.csv` stays one CSV
    print(summary, file=sys.stderr if out is None else sys.stdout)
    return 0
