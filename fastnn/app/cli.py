"""The ``fastnn`` command line: ``train``, ``predict``, ``verify``, ``bench``, ``report``.

Library code never prints; this module does. Bad input ends in one line ``fastnn: error: ...``
on stderr and exit code 2, before anything is written; a run that diverges ends with exit code
1; Ctrl-C during training finishes the epoch, writes the checkpoint and exits 130.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import __version__
from .._checks import check_choice, check_dtype, check_positive
from ..backends import BACKENDS, available_backends
from ..io import checkpoint, datafiles
from ..io import datasets as data
from ..nn.activations import ACTIVATIONS
from ..nn.init import INITIALIZERS
from ..nn.losses import LOSSES
from ..nn.model import MLP
from ..nn.optim import OPTIMIZERS
from ..nn.zoo import digits_cnn
from ..training import DivergenceError, History, Trainer


class UsageError(Exception):
    """Bad command-line input: reported in one line with exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, no usage dump, exit 2
        raise UsageError(message)


#: ``--model`` choices of ``fastnn train``.
MODELS = ("mlp", "cnn")
#: Suffixes that make ``--data`` a file.
FILE_SUFFIXES = (".csv", ".npz", ".npy")

#: Defaults by kind of data: the lab's toy sets, the digits, a user's file.
DEFAULTS = {
    "toy": {"n": 100, "hidden": [4, 4], "activation": "sigmoid", "output_activation": "sigmoid",
            "optimizer": "sgd", "lr": 1.0, "epochs": 20_000, "loss": "mse", "init": "normal",
            "batch_size": None},
    "digits": {"n": None, "hidden": [64], "activation": "relu", "output_activation": "identity",
               "optimizer": "adam", "lr": 0.01, "epochs": 30, "loss": "softmax_cross_entropy",
               "init": "he", "batch_size": 64},
    "file": {"n": None, "hidden": [16, 16], "activation": "tanh", "output_activation": None,
             "optimizer": "adam", "lr": 0.01, "epochs": 500, "loss": None, "init": "xavier",
             "batch_size": None},
}
COMMON_DEFAULTS = {"data": "xor", "model": "mlp", "backend": "numpy", "seed": 2,
                   "dtype": "float64", "val_split": None, "label_col": None}
#: Options a resumed run may change; every other one is taken from the checkpoint.
RESUME_MAY_CHANGE = {"epochs", "log_every", "checkpoint_every", "quiet", "threads", "resume",
                     "out"}


def _add_train(sub) -> None:
    p = sub.add_parser(
        "train", help="train a network and write predictions, figures and a checkpoint",
        description="Train a network and write output.txt, learning_curve.png, history.csv, "
                    "config.json and model.npz (a checkpoint) to --out, plus comparison.png "
                    "(toy data) or confusion_matrix.png and misclassified.png (digits). With no "
                    "options: the lab's 2-4-4-1 sigmoid network on XOR-easy. Defaults in "
                    "brackets are (toy sets; digits; your file).")
    p.add_argument("--data", help="xor (default), linear, digits, or a data file "
                   "(.csv, .npz with arrays X and y, or a features .npy with its labels .npy)")
    p.add_argument("--label-col", help="CSV label column, by header name or 0-based index "
                   "(default: the last)")
    p.add_argument("--val-split", type=float, metavar="F",
                   help="hold out this fraction (seeded) for validation, e.g. 0.2")
    p.add_argument("--no-standardize", dest="standardize", action="store_false", default=None,
                   help="do not standardize the features of a data file (on by default; the "
                   "statistics are saved with the model)")
    p.add_argument("--model", help=f"{' or '.join(MODELS)} (cnn: for --data digits)")
    p.add_argument("--n", type=int, help="points of the linear set (100), or the first N digits")
    p.add_argument("--backend", help=f"one of: {', '.join(BACKENDS)} (numpy)")
    p.add_argument("--threads", type=int, help="threads for numba and BLAS (all)")
    p.add_argument("--hidden", type=int, nargs="+", metavar="UNITS",
                   help="hidden layer sizes, any count (4 4; 64; 16 16)")
    p.add_argument("--activation", help=f"hidden: {', '.join(ACTIVATIONS)} "
                   "(sigmoid; relu; tanh)")
    p.add_argument("--output-activation",
                   help="(sigmoid; identity; sigmoid for two classes, else identity)")
    p.add_argument("--optimizer", help=f"{', '.join(OPTIMIZERS)} (sgd; adam; adam)")
    p.add_argument("--lr", type=float, help="learning rate (1.0; 0.01; 0.01)")
    p.add_argument("--epochs", type=int, help="epochs, in all (20000; 30; 500)")
    p.add_argument("--init", help=f"{', '.join(INITIALIZERS)} (normal; he; xavier)")
    p.add_argument("--loss", help=f"{', '.join(LOSSES)} (mse; softmax_cross_entropy; bce for "
                   "two classes, else softmax_cross_entropy)")
    p.add_argument("--seed", type=int, help="seed of weights, data, splits and shuffling (2)")
    p.add_argument("--batch-size", type=int, help="mini-batch size (full; 64; full)")
    p.add_argument("--clip", type=float, nargs="+", metavar="C",
                   help="clip weight gradients: C for [-C, C], or LO HI (the lab: -1024 1023)")
    p.add_argument("--target-acc", type=float, help="stop at an epoch with this accuracy")
    p.add_argument("--fresh-data", action="store_true", default=None,
                   help="new linear points every epoch (the lab's data reproduction)")
    p.add_argument("--dtype", help="float64 (default) or float32")
    p.add_argument("--log-every", type=int, metavar="K", help="print metrics every K epochs")
    p.add_argument("--checkpoint-every", type=int, metavar="N",
                   help="write the checkpoint every N epochs (and always at the end)")
    p.add_argument("--resume", metavar="OUT", help="continue the run whose output folder is OUT "
                   "(its settings; --epochs is the new total)")
    p.add_argument("--out", help="output folder (runs/<data>)")
    p.add_argument("--quiet", action="store_true", default=None,
                   help="print only the final line (no progress bar, no per-sample lines)")


def _add_predict(sub) -> None:
    p = sub.add_parser("predict", help="predict with a trained model",
                       description="Predict with a checkpoint written by fastnn train; prints "
                       "accuracy when the data has labels.")
    p.add_argument("--model", required=True, help="a model.npz written by fastnn train")
    p.add_argument("--data", required=True, help="a data file (.csv, .npz, .npy), or "
                   "xor / linear")
    p.add_argument("--label-col", help="CSV label column (name or index), if the file has one")
    p.add_argument("--backend", default="numpy", help=f"one of: {', '.join(BACKENDS)}")
    p.add_argument("--out", help="write predictions to this CSV file")


def _add_verify(sub) -> None:
    from .verify import CONFIGS
    p = sub.add_parser("verify", help="check every backend against the reference",
                       description="Run every available backend on a configuration and print "
                       "the largest differences from the reference backend (kernels, then a "
                       "training trajectory); exit 0 within tolerance, 1 otherwise.")
    p.add_argument("--config", default="xor-sigmoid-sgd",
                   help=f"a name ({', '.join(CONFIGS)}), 'all', or a JSON file")
    p.add_argument("--dtype", default="float64", help="float64 (1e-10) or float32 (1e-4)")
    p.add_argument("--backends", nargs="+", help="which backends (default: all available)")


def _add_bench(sub) -> None:
    p = sub.add_parser("bench", help="run the benchmark suite and write reports",
                       description="Run benchmarks/ (pytest-benchmark) and write "
                       "benchmarks.json, BENCHMARKS.md and benchmarks.png. Quick mode (about two "
                       "minutes) unless --full.")
    p.add_argument("--full", action="store_true", help="every round of every benchmark")
    p.add_argument("--filter", help="pytest -k expression over benchmark names, e.g. 'numba'")
    p.add_argument("--compare", metavar="BASELINE.json",
                   help="judge this run against a baseline; exit 1 past the threshold")
    p.add_argument("--threshold", type=float, default=0.25,
                   help="regression threshold, as a fraction (0.25)")
    p.add_argument("--out", default="reports", help="output folder (reports)")


def _add_report(sub) -> None:
    p = sub.add_parser("report", help="reproduce the lab report",
                       description="fastnn report lab1: the lab's experiments (learning "
                       "rates, hidden units, activations, optimizers, fresh data) with tables "
                       "and figures in OUT/REPORT.md.")
    p.add_argument("name", help="lab1")
    p.add_argument("--out", default="reports/lab1", help="output folder (reports/lab1)")
    p.add_argument("--backend", help="backend (numba when available, else numpy)")
    p.add_argument("--epochs", type=int, default=20_000, help="epochs per run (20000)")


def build_parser() -> argparse.ArgumentParser:
    """The ``fastnn`` argument parser."""
    parser = _Parser(prog="fastnn", description="fastnn: a small, fast CPU neural-network "
                     "engine with interchangeable backends.")
    parser.add_argument("--version", action="version", version=f"fastnn {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for add in (_add_train, _add_predict, _add_verify, _add_bench, _add_report):
        add(sub)
    return parser


# -- output folders ---------------------------------------------------------------------------

def _prepare_out_dir(out: Path) -> list[Path]:
    """Create ``out`` and prove a file can be written there, or raise UsageError.

    Returns the folders this call created (deepest last), so a failed run can remove them.
    """
    created = [p for p in (out, *out.parents) if not p.exists()][::-1]
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out, prefix=".fastnn-write-test-"):
            pass
    except OSError as e:
        _remove_empty(created)
        reason = "it is not a folder" if isinstance(e, FileExistsError) else e.strerror or e
        raise UsageError(f"cannot write to --out {str(out)!r}: {reason}") from None
    return created


def _remove_empty(folders: list[Path]) -> None:
    for p in reversed(folders):
        try:
            p.rmdir()
        except OSError:
            return


# -- train ------------------------------------------------------------------------------------

def _kind(data_arg: str) -> str:
    if data_arg in ("linear", "xor"):
        return "toy"
    if data_arg == "digits":
        return "digits"
    if Path(data_arg).suffix.lower() in FILE_SUFFIXES or os.sep in data_arg:
        return "file"
    raise ValueError(f"unknown data set {data_arg!r}; choose from: {', '.join(data.DATASETS)}, "
                     "or a .csv/.npz/.npy file")


def _spec_from_args(args: argparse.Namespace) -> dict:
    """Every setting of the run, defaults filled in (what config.json and checkpoints keep)."""
    given = {k: v for k, v in vars(args).items() if v is not None and k != "command"}
    spec = {**COMMON_DEFAULTS, **given}
    kind = _kind(spec["data"])
    spec = {**DEFAULTS[kind], **spec, "kind": kind}
    spec.setdefault("standardize", kind == "file")
    for flag in ("fresh_data", "quiet"):
        spec.setdefault(flag, False)
    if kind == "file":
        spec["data"] = str(Path(spec["data"]).resolve())
    return spec


def _resume_spec(args: argparse.Namespace) -> tuple[dict, checkpoint.Checkpoint]:
    folder = Path(args.resume)
    path = folder / "model.npz"
    if not path.exists():
        raise UsageError(f"cannot resume: no checkpoint {str(path)!r}")
    ckpt = checkpoint.load(path)
    spec = dict(ckpt.meta.get("spec") or {})
    if not spec:
        raise UsageError(f"cannot resume from {str(path)!r}: it holds no run settings (written "
                         "by Sequential.save, not fastnn train)")
    for key, value in vars(args).items():
        if value is None or key in RESUME_MAY_CHANGE or key == "command":
            continue
        theirs = spec.get(key)
        if key == "data" and spec.get("kind") == "file":
            value = str(Path(value).resolve())
        if value != theirs:
            raise UsageError(f"--{key.replace('_', '-')} {value!r} differs from the resumed "
                             f"run's {theirs!r}; a resumed run keeps its settings")
    for key in RESUME_MAY_CHANGE - {"resume", "out"}:
        if getattr(args, key) is not None:
            spec[key] = getattr(args, key)
    spec["out"] = str(folder)
    return spec, ckpt


def _validate(spec: dict) -> None:
    check_choice("model", spec["model"], MODELS)
    check_choice("backend", spec["backend"], available_backends())
    check_positive("epochs", spec["epochs"], integer=True)
    check_positive("lr", spec["lr"])
    check_dtype(spec["dtype"])
    for units in spec["hidden"]:
        check_positive("layer size", units, integer=True)
    for name in ("n", "batch_size", "log_every", "checkpoint_every", "threads"):
        if spec.get(name) is not None:
            check_positive(name.replace("_", " "), spec[name], integer=True)
    if spec.get("target_acc") is not None and not 0 < spec["target_acc"] <= 1:
        raise ValueError(f"target accuracy must be in (0, 1], got {spec['target_acc']!r}")
    if spec.get("clip") is not None and len(spec["clip"]) not in (1, 2):
        raise ValueError(f"--clip takes C or LO HI, got {len(spec['clip'])} numbers")
    if spec["fresh_data"] and spec["data"] != "linear":
        raise ValueError(f"--fresh-data needs a random data set (linear); {spec['data']!r} is "
                         "fixed")
    if spec["model"] == "cnn" and spec["kind"] != "digits":
        raise ValueError(f"--model cnn needs image data (--data digits), not {spec['data']!r}")
    if spec["val_split"] is not None and spec["kind"] == "digits":
        raise ValueError("--val-split does not apply to digits, which keep a 20% test split")
    if spec["label_col"] is not None and spec["kind"] != "file":
        raise ValueError("--label-col applies to data files only")


@dataclass
class Task:
    """The data of a run: training part, optional validation part, and how to report it."""

    X: np.ndarray
    y: np.ndarray
    X_val: np.ndarray | None = None
    y_val: np.ndarray | None = None
    classes: np.ndarray | None = None
    norm: datafiles.Standardizer | None = None
    X_test: np.ndarray | None = None
    y_test: np.ndarray | None = None


def _load_task(spec: dict) -> Task:
    seed = spec["seed"]
    if spec["kind"] == "digits":
        try:
            X, y = data.load_digits(spec["n"])
        except ImportError as e:
            raise UsageError(str(e)) from None
        X_train, X_test, y_train, y_test = data.train_test_split(X, y, 0.2, seed=seed)
        if spec["model"] == "mlp":
            X_train, X_test = X_train.reshape(len(X_train), 64), X_test.reshape(len(X_test), 64)
        return Task(X_train, y_train, X_test=X_test, y_test=y_test)
    if spec["kind"] == "toy":
        if spec["data"] == "linear":
            X, y = data.generate_linear(spec["n"], seed=seed)
        else:
            X, y = data.generate_xor_easy()
        task = Task(X, y)
    else:
        ds = datafiles.load_dataset(spec["data"], label_col=spec["label_col"])
        task = Task(ds.X, ds.y, classes=ds.classes)
    if spec["val_split"] is not None:
        train, val = datafiles.split(len(task.X), spec["val_split"], seed)
        task.X, task.X_val = task.X[train], task.X[val]
        task.y, task.y_val = task.y[train], task.y[val]
    if spec["standardize"]:
        task.norm = datafiles.Standardizer.fit(task.X)
        task.X = task.norm(task.X)
        if task.X_val is not None:
            task.X_val = task.norm(task.X_val)
    return task


def _build(spec: dict, task: Task) -> Trainer:
    n_out = task.y.shape[1]
    if spec["kind"] == "file":
        spec["output_activation"] = spec["output_activation"] or (
            "sigmoid" if n_out == 1 else "identity")
        spec["loss"] = spec["loss"] or ("bce" if n_out == 1 else "softmax_cross_entropy")
    if spec["model"] == "cnn":
        model = digits_cnn(seed=spec["seed"], dtype=spec["dtype"], init=spec["init"])
    else:
        sizes = [task.X.shape[1], *spec["hidden"], n_out]
        spec["sizes"] = sizes
        model = MLP(sizes, activation=spec["activation"],
                    output_activation=spec["output_activation"], init=spec["init"],
                    seed=spec["seed"], dtype=spec["dtype"])
    clip = spec.get("clip")
    if clip is not None:
        clip = clip[0] if len(clip) == 1 else tuple(clip)
    return Trainer(model, loss=spec["loss"], optimizer=spec["optimizer"], lr=spec["lr"],
                   backend=spec["backend"], clip=clip, seed=spec["seed"],
                   threads=spec.get("threads"))


def _save_checkpoint(out: Path, spec: dict, task: Task, trainer: Trainer,
                     history: History) -> None:
    norm = task.norm
    checkpoint.save(out / "model.npz", trainer.model, trainer=trainer, epoch=trainer.epoch,
                    history=history, norm_mean=None if norm is None else norm.mean,
                    norm_std=None if norm is None else norm.std, classes=task.classes,
                    meta={"spec": spec, "fastnn": __version__})
    history.to_csv(out / "history.csv")


def _history_from(ckpt: checkpoint.Checkpoint) -> History:
    h = History()
    for name, values in ckpt.history.items():
        getattr(h, name).extend(values.tolist())
    return h


def cmd_train(args: argparse.Namespace) -> int:
    """``fastnn train``: validate everything, train, then write the results."""
    ckpt = None
    if args.resume is not None:
        spec, ckpt = _resume_spec(args)
    else:
        spec = _spec_from_args(args)
    _validate(spec)
    task = _load_task(spec)
    trainer = _build(spec, task)
    history = History()
    if ckpt is not None:
        trainer.restore(ckpt)
        history = _history_from(ckpt)
        if trainer.epoch >= spec["epochs"]:
            raise UsageError(f"the run in {spec['out']!r} already has {trainer.epoch} epochs; "
                             "give a larger --epochs to continue it")
    out = Path(spec["out"] if spec.get("out") else os.path.join("runs", Path(spec["data"]).stem))
    created = _prepare_out_dir(out)

    def log(line: str) -> None:
        from tqdm.auto import tqdm
        tqdm.write(line)

    fresh = None
    if spec["fresh_data"]:
        def fresh(epoch: int):
            return data.generate_linear(spec["n"], seed=[spec["seed"], epoch])

    start = time.perf_counter()
    try:
        history = trainer.fit(
            task.X, task.y, epochs=spec["epochs"] - trainer.epoch, batch_size=spec["batch_size"],
            fresh_data=fresh, target_accuracy=spec.get("target_acc"),
            log_every=None if spec["quiet"] else spec.get("log_every"), log=log,
            progress=False if spec["quiet"] else None,
            val_data=None if task.X_val is None else (task.X_val, task.y_val),
            checkpoint_every=spec.get("checkpoint_every"),
            on_checkpoint=lambda t, h: _save_checkpoint(out, spec, task, t, h), history=history)
    except BaseException:
        if ckpt is None and not (out / "model.npz").exists():
            _remove_empty(created)
        raise
    seconds = time.perf_counter() - start
    _save_checkpoint(out, spec, task, trainer, history)
    if history.interrupted:
        print(f"fastnn: interrupted after epoch {trainer.epoch}; checkpoint and history in "
              f"{out}/ (model.npz, history.csv); continue with: fastnn train --resume {out}",
              file=sys.stderr)
        return 130
    _write_results(out, spec, task, trainer, history, seconds)
    return 0


#: Per-sample lines printed to the terminal at most (output.txt always has them all).
SHOW_LINES = 200


def _write_results(out: Path, spec: dict, task: Task, trainer: Trainer, history: History,
                   seconds: float) -> None:
    from . import plots

    kind, quiet = spec["kind"], spec["quiet"]
    loss, acc = trainer.evaluate(task.X, task.y)
    final = f"loss={loss:.6g} accuracy={acc:.2%}"
    results = {"n_train": len(task.X), "epochs_run": trainer.epoch,
               "stopped_early": history.stopped_early, "final_loss": loss,
               "final_accuracy": acc, "seconds": seconds}
    if task.X_val is not None:
        val_loss, val_acc = trainer.evaluate(task.X_val, task.y_val)
        final += f" val_loss={val_loss:.6g} val_accuracy={val_acc:.2%}"
        results.update(n_val=len(task.X_val), val_loss=val_loss, val_accuracy=val_acc)
    if kind == "digits":
        test_loss, test_acc = trainer.evaluate(task.X_test, task.y_test)
        final += f" test_loss={test_loss:.6g} test_accuracy={test_acc:.2%}"
        results.update(n_test=len(task.X_test), test_loss=test_loss, test_accuracy=test_acc)
    final += f" epochs={trainer.epoch} time={seconds:.2f}s backend={spec['backend']}"
    arch = " ".join(f"{layer!r}" for layer in trainer.model.layers if layer.param_shapes)
    title = (f"{Path(spec['data']).name}: {spec['model']}, {trainer.optimizer.name} "
             f"lr={spec['lr']:g}, {trainer.epoch} epochs")

    if kind == "digits":
        true = task.y_test.argmax(axis=1)
        pred = trainer.predict(task.X_test).argmax(axis=1)
        lines = [f"Test {i} | ground truth: {t} | prediction: {p}"
                 for i, (t, p) in enumerate(zip(true, pred, strict=True))]
        wrong = [line for line, t, p in zip(lines, true, pred, strict=True) if t != p]
        shown = [f"misclassified test digits: {len(wrong)}", *wrong]
        plots.confusion_matrix(true, pred, out / "confusion_matrix.png",
                               title=f"digits test set: {results['test_accuracy']:.2%} correct")
        plots.misclassified_grid(task.X_test.reshape(-1, 8, 8), true, pred,
                                 out / "misclassified.png")
        figures = "confusion_matrix.png misclassified.png"
    else:
        X, y = (task.X_val, task.y_val) if task.X_val is not None else (task.X, task.y)
        pred = trainer.predict(X)
        truth = _labels(y, task.classes)
        shown_pred = pred[:, 0] if y.shape[1] == 1 else _labels(pred, task.classes)
        fmt = "{:.5f}" if y.shape[1] == 1 else "{:g}"

        def lines():  # a generator: a million samples need not sit in memory as text
            for i, (t, p) in enumerate(zip(truth, shown_pred, strict=True)):
                yield f"Iter {i} | ground truth: {t:g} | prediction: {fmt.format(p)}"

        shown = [line for line, _ in zip(lines(), range(SHOW_LINES), strict=False)]
        if len(X) > SHOW_LINES:
            shown.append(f"... {len(X) - SHOW_LINES} more lines in {out}/output.txt")
        lines = lines()
        figures = ""
        if X.shape[1] == 2 and y.shape[1] == 1:
            raw = X if task.norm is None else X * task.norm.std + task.norm.mean
            plots.comparison(raw, y, pred, out / "comparison.png", title=title)
            figures = "comparison.png"
    curves = {"train": history.loss}
    if history.val_loss:
        curves["validation"] = history.val_loss
    plots.learning_curve(curves, out / "learning_curve.png", title=title)
    with open(out / "output.txt", "w") as f:
        for line in lines:
            f.write(line + "\n")
        f.write(final + "\n")
    config = {**spec, "architecture": arch, "optimizer_hyperparams":
              trainer.optimizer.hyperparams(), "fastnn": __version__, **results}
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    if not quiet:
        print("\n".join(shown))
    print(final)
    print(f"wrote {out}/: output.txt learning_curve.png {figures} history.csv config.json "
          "model.npz".replace("  ", " "), file=sys.stderr if quiet else sys.stdout)


def _labels(outputs: np.ndarray, classes: np.ndarray | None) -> np.ndarray:
    """Class values from (N, 1) probabilities or (N, K) scores/one-hot rows."""
    index = (outputs[:, 0] > 0.5).astype(int) if outputs.shape[1] == 1 \
        else outputs.argmax(axis=1)
    return index.astype(float) if classes is None else classes[index]


# -- predict ----------------------------------------------------------------------------------

def cmd_predict(args: argparse.Namespace) -> int:
    """``fastnn predict``: a trained model's outputs for a data file, with accuracy if labelled."""
    check_choice("backend", args.backend, available_backends())
    ckpt = checkpoint.load(args.model)
    model = ckpt.model
    n_in = model.input_shape[0] if len(model.input_shape) == 1 else None
    if args.data in ("linear", "xor"):
        X, y = (data.generate_linear(100, seed=2) if args.data == "linear"
                else data.generate_xor_easy())
    else:
        path = Path(args.data)
        suffix = path.suffix.lower()
        if suffix == ".csv":  # labelled when it has one column more than the model's inputs
            ncols = datafiles.read_csv(path, has_labels=False)[0].shape[1]
            has_labels = args.label_col is not None or (n_in is not None and ncols == n_in + 1)
        elif suffix == ".npy":
            has_labels = datafiles.labels_path_exists(path)
        else:
            has_labels = datafiles.npz_has_labels(path)
        ds = datafiles.load_dataset(path, args.label_col, has_labels=has_labels,
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
    trainer = Trainer(model, loss=(ckpt.trainer or {}).get("loss", "mse"), backend=args.backend)
    pred = trainer.predict(X)
    labels = _labels(pred, ckpt.classes)
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


# -- verify, bench, report --------------------------------------------------------------------

def cmd_verify(args: argparse.Namespace) -> int:
    """``fastnn verify``: backend-vs-reference differences; exit 1 past tolerance."""
    from . import verify

    dtype = check_dtype(args.dtype).name
    if args.config == "all":
        configs = list(verify.CONFIGS.values())
    elif args.config in verify.CONFIGS:
        configs = [verify.CONFIGS[args.config]]
    elif args.config.endswith(".json"):
        configs = [verify.config_from_json(args.config)]
    else:
        check_choice("config", args.config, [*verify.CONFIGS, "all", "FILE.json"])
    backends = args.backends
    for name in backends or []:
        check_choice("backend", name, available_backends())
    rows = []
    for cfg in configs:
        rows += verify.verify(cfg, dtype=dtype, backends=backends)
    print(verify.format_table(rows))
    bad = [r for r in rows if not r["ok"]]
    print(f"{len(rows) - len(bad)} of {len(rows)} checks within tolerance ({dtype})")
    return 1 if bad else 0


def cmd_bench(args: argparse.Namespace) -> int:
    """``fastnn bench``: run the suite, write reports, optionally compare with a baseline."""
    from . import bench

    if not 0 < args.threshold < 10:
        raise ValueError(f"--threshold must be a fraction like 0.25, got {args.threshold!r}")
    bench.benchmarks_dir()
    if args.compare is not None:
        bench.load_results(args.compare)
    _prepare_out_dir(Path(args.out))
    return bench.bench(args.out, full=args.full, filter=args.filter, baseline=args.compare,
                       threshold=args.threshold, log=print)


def cmd_report(args: argparse.Namespace) -> int:
    """``fastnn report lab1``: the lab's experiments, reproduced into OUT/REPORT.md."""
    from . import report

    check_choice("report", args.name, ["lab1"])
    if args.backend is not None:
        check_choice("backend", args.backend, available_backends())
    check_positive("epochs", args.epochs, integer=True)
    _prepare_out_dir(Path(args.out))
    path = report.lab1(args.out, backend=args.backend, epochs=args.epochs,
                       log=lambda line: print(line, file=sys.stderr))
    print(f"wrote {path}")
    return 0


COMMANDS = {"train": cmd_train, "predict": cmd_predict, "verify": cmd_verify,
            "bench": cmd_bench, "report": cmd_report}


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``fastnn`` console script; returns the exit code."""
    try:
        args = build_parser().parse_args(argv)
        return COMMANDS[args.command](args)
    except (UsageError, ValueError) as e:
        print(f"fastnn: error: {e}", file=sys.stderr)
        return 2
    except (DivergenceError, OSError) as e:
        print(f"fastnn: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("fastnn: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
