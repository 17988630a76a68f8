"""``fastnn predict``: a trained model's outputs for a data set, with accuracy when labelled."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..io import checkpoint, datafiles
from ..io import datasets as data
from ..training import Trainer
from .common import UsageError, class_labels
from .runspec import RunSpec


def cmd_predict(args: argparse.Namespace) -> int:
    """``fastnn predict``: a trained model's outputs for a data file, with accuracy if labelled."""
    # the data, label column and backend are settings of a run like train's, checked the same
    # way (and a toy set is generated with the same defaults: 100 linear points, seed 2)
    spec = RunSpec(data=args.data, label_col=args.label_col, backend=args.backend)
    if spec.kind not in ("toy", "file"):
        raise UsageError(f"--data {args.data}: predict takes a data file, xor or linear")
    ckpt = checkpoint.load(args.model)
    model = ckpt.model
    n_in = model.input_shape[0] if len(model.input_shape) == 1 else None
    if spec.kind == "toy":
        X, y = (data.generate_linear(spec.n, seed=spec.seed) if spec.data == "linear"
                else data.generate_xor_easy())
    else:
        path = Path(args.data)  # as the user wrote it, so messages name the file their way
        # read once (a pipe cannot be read twice); a CSV is labelled when it has one column
        # more than the model's inputs
        ds = datafiles.load_dataset(path, spec.label_col, has_labels=None, n_features=n_in,
                                    classes=ckpt.classes)
        X, y = ds.X, ds.y
    if ckpt.norm_mean is not None:
        X = datafiles.Standardizer(ckpt.norm_mean, ckpt.norm_std)(X)
    if X.shape[1:] != model.input_shape:
        raise ValueError(f"the data has {X.shape[1]} features; the model takes "
                         f"{model.input_shape[0]}")
    if y is not None and y.shape[1] != model.output_shape[0]:
        raise ValueError(f"the labels have {y.shape[1]} classes' columns; the model's output "
                         f"has {model.output_shape[0]}")
    trainer = Trainer(model, loss=(ckpt.trainer or {}).get("loss", "mse"), backend=spec.backend)
    pred = trainer.predict(X)
    labels = class_labels(pred, ckpt.classes)
    rows = ["row,prediction," + ",".join(f"p{i}" for i in range(pred.shape[1]))]
    rows += [f"{i},{label:g}," + ",".join(f"{v:.6g}" for v in p)
             for i, (label, p) in enumerate(zip(labels, pred, strict=True))]
    if args.out:
        Path(args.out).write_text("\n".join(rows) + "\n")
    else:
        print("\n".join(rows))
    summary = f"{len(X)} predictions"
    if y is not None:
        _, acc = trainer.evaluate(X, y)
        summary += f"; accuracy={acc:.2%}"
    if args.out:
        summary += f"; written to {args.out}"
    print(summary, file=sys.stderr if not args.out else sys.stdout)
    return 0
