"""``fastnn train``: train a network (or continue a checkpointed run) and write its results.

Every setting is checked when the :class:`~fastnn.app.runspec.RunSpec` is built, before the data
is read or anything is written; a run that fails before its first checkpoint leaves no folder.
"""

from __future__ import annotations

import argparse
import itertools
import math
import os
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from .. import __version__
from ..io import checkpoint, datafiles
from ..io import datasets as data
from ..io.atomic import write_json, write_text
from ..nn.model import MLP
from ..nn.zoo import digits_cnn
from ..training import DivergenceError, History, Trainer
from .common import OutFolder, Terminated, UsageError, class_labels
from .runspec import RunSpec, data_path, flag, given, unknown_data

#: Options a resumed run may change; every other one is taken from the checkpoint.
RESUME_MAY_CHANGE = {"epochs", "log_every", "checkpoint_every", "quiet", "threads", "resume",
                     "out"}
#: Per-sample lines printed to the terminal at most (output.txt always has them all).
SHOW_LINES = 200


def spec_from_args(args: argparse.Namespace) -> RunSpec:
    """The run ``fastnn train`` options describe (not a resumed one)."""
    spec = RunSpec.from_args(args)
    if spec.kind == "lab":  # verify's synthetic CNN batch: nothing to learn from it
        raise unknown_data(spec.data)
    return spec


def resume_spec(args: argparse.Namespace) -> tuple[RunSpec, checkpoint.Checkpoint]:
    """The settings stored in ``--resume OUT``'s checkpoint, with the options a resumed run may
    change; UsageError when another option differs from the stored run's."""
    folder = Path(args.resume)
    path = folder / "model.npz"
    if not os.path.lexists(path):  # anything else there (a loop, a folder): load says what
        raise UsageError(f"cannot resume: no checkpoint {str(path)!r}")
    ckpt = checkpoint.load(path)
    raw = ckpt.meta.get("spec") or {}
    if not raw:
        raise UsageError(f"cannot resume from {str(path)!r}: it holds no run settings (written "
                         "by Sequential.save, not fastnn train)")
    stored = RunSpec.from_dict(raw, what=f"the run settings in {str(path)!r}")
    theirs = stored.to_dict()
    options = given(args)
    for key, value in options.items():
        if key in RESUME_MAY_CHANGE:
            continue
        if key == "data" and stored.kind == "file":
            value = data_path(value)
        if value != theirs[key]:
            if theirs[key] is None:  # unset there (XOR's n, no --clip, ...)
                raise UsageError(f"{flag(key)} {value!r} differs from the resumed run, which "
                                 "has none; a resumed run keeps its settings")
            raise UsageError(f"{flag(key)} {value!r} differs from the resumed run's "
                             f"{theirs[key]!r}; a resumed run keeps its settings")
    changes = {k: v for k, v in options.items() if k in RESUME_MAY_CHANGE}
    return replace(stored, **{"out": str(folder), **changes}), ckpt


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


def load_task(spec: RunSpec, typed: str | None = None) -> Task:
    """Read or generate the data of ``spec``: split, standardized as it says. ``typed`` is
    ``--data`` as the user wrote it: messages about the file name it that way."""
    if spec.kind == "digits":
        try:
            X, y = data.load_digits(spec.n)
        except ImportError as e:
            raise UsageError(str(e)) from None
        X_train, X_test, y_train, y_test = data.train_test_split(X, y, 0.2, seed=spec.seed)
        if spec.model == "mlp":
            X_train, X_test = X_train.reshape(len(X_train), 64), X_test.reshape(len(X_test), 64)
        return Task(X_train, y_train, X_test=X_test, y_test=y_test)
    if spec.kind == "toy":
        if spec.data == "linear":  # with a held-out draw of the same size, its own seed
            X, y = data.generate_linear(spec.n, seed=spec.seed, rng=spec.rng)
            X_test, y_test = data.generate_linear(spec.n, seed=spec.test_seed, rng=spec.rng)
            task = Task(X, y, X_test=X_test, y_test=y_test)
        else:  # XOR-easy is a fixed grid of 21 points: nothing to hold out
            task = Task(*data.generate_xor_easy())
    else:
        same = typed is not None and data_path(typed) == spec.data
        ds = datafiles.load_dataset(typed if same else spec.data, label_col=spec.label_col)
        task = Task(ds.X, ds.y, classes=ds.classes)
    if spec.val_split is not None:
        train, val = datafiles.split(len(task.X), spec.val_split, spec.seed)
        task.X, task.X_val = task.X[train], task.X[val]
        task.y, task.y_val = task.y[train], task.y[val]
    if spec.standardize:
        task.norm = datafiles.Standardizer.fit(task.X)
        task.X = task.norm(task.X)
        if task.X_val is not None:
            task.X_val = task.norm(task.X_val)
    return task


def resolve(spec: RunSpec, task: Task) -> RunSpec:
    """``spec`` with what a data file's labels choose: output activation and loss."""
    if spec.kind != "file":
        return spec
    two = task.y.shape[1] == 1
    return replace(spec, output_activation=spec.output_activation or (
                       "sigmoid" if two or spec.loss == "bce" else "identity"),
                   loss=spec.loss or ("bce" if two else "softmax_cross_entropy"))


def layer_sizes(spec: RunSpec, task: Task) -> list[int] | None:
    """Units per layer of an MLP run, input first (None for the CNN)."""
    if spec.model != "mlp":
        return None
    return [task.X.shape[1], *spec.hidden, task.y.shape[1]]


def build(spec: RunSpec, task: Task) -> Trainer:
    """The seeded model and its trainer for a resolved ``spec``."""
    if spec.model == "cnn":
        model = digits_cnn(seed=spec.seed, dtype=spec.dtype, init=spec.init)
    else:
        model = MLP(layer_sizes(spec, task), activation=spec.activation,
                    output_activation=spec.output_activation, init=spec.init, seed=spec.seed,
                    dtype=spec.dtype, bias=spec.bias, rng=spec.rng)
    return Trainer(model, loss=spec.loss, optimizer=spec.optimizer, lr=spec.lr,
                   backend=spec.backend, clip=spec.clip_bounds, seed=spec.seed,
                   threads=spec.threads)


#: The files a finished run leaves in its folder (figures depend on the data).
RUN_FILES = ("model.npz", "history.csv", "output.txt", "config.json", "learning_curve.png",
             "comparison.png", "confusion_matrix.png", "misclassified.png")


class RunFolder(OutFolder):
    """A run's output folder: locked (see :class:`OutFolder`); the first checkpoint of a new run
    removes the files of a previous run there, so the folder never mixes two runs."""

    def __init__(self, path: Path, spec: RunSpec, task: Task, continuing: bool) -> None:
        super().__init__(path)
        self.spec, self.task = spec, task
        self.replaced = continuing  # a run continued in its own folder replaces nothing
        # only a folder holding a previous run has files of it to remove (not any folder)
        self.previous = not continuing and (path / "model.npz").exists()

    def checkpoint(self, trainer: Trainer, history: History) -> None:
        """Write ``model.npz`` and ``history.csv`` (each atomically); the first time, then
        remove the previous run's other files (only once the new checkpoint is whole)."""
        self._write_checkpoint(trainer, history)
        if not self.replaced:
            self.replaced = True
            if self.previous:
                for name in RUN_FILES[2:]:
                    (self.path / name).unlink(missing_ok=True)

    def _write_checkpoint(self, trainer: Trainer, history: History) -> None:
        norm, out = self.task.norm, self.path
        checkpoint.save(out / "model.npz", trainer.model, trainer=trainer, epoch=trainer.epoch,
                        history=history, norm_mean=None if norm is None else norm.mean,
                        norm_std=None if norm is None else norm.std, classes=self.task.classes,
                        meta={"spec": self.spec.to_dict(), "fastnn": __version__})
        history.to_csv(out / "history.csv")

    def last_checkpoint(self) -> str:
        """Where the run's last checkpoint is, for a message."""
        path = self.path / "model.npz"
        if self.replaced and path.exists():
            return f"its last checkpoint is kept in {path}"
        return "nothing was written"


def cmd_train(args: argparse.Namespace) -> int:
    """``fastnn train``: validate everything, train, then write the results."""
    ckpt = None
    if args.resume is not None:
        spec, ckpt = resume_spec(args)
    else:
        spec = spec_from_args(args)
    task = load_task(spec, typed=args.data)
    spec = resolve(spec, task)
    trainer = build(spec, task)
    history = History()
    if ckpt is not None:
        _check_same_data(ckpt, task, args.resume)
        trainer.restore(ckpt)
        history = History.from_arrays(ckpt.history, ckpt.history_stride, ckpt.epoch)
        if trainer.epoch >= spec.epochs:
            raise UsageError(f"the run in {args.resume!r} already has {trainer.epoch} epochs; "
                             "give a larger --epochs to continue it")
    out = Path(spec.out if spec.out else os.path.join("runs", Path(spec.data).stem))
    continuing = ckpt is not None and _same_folder(out, Path(args.resume))
    with RunFolder(out, spec, task, continuing) as folder:
        history, final, seconds = _train(spec, task, trainer, history, folder)
        if history.interrupted:
            print(f"fastnn: interrupted after epoch {trainer.epoch} ({history.interrupted}); "
                  f"checkpoint and history in {out}/ (model.npz, history.csv); continue with: "
                  f"fastnn train --resume {out}", file=sys.stderr)
            return 143 if history.interrupted == "SIGTERM" else 130
        written = _write_results(out, spec, task, trainer, history, seconds, final)
    if not spec.quiet:
        print("\n".join(written.shown))
    print(written.final)
    if not spec.quiet:  # --quiet: the final line alone
        print(f"wrote {out}/: output.txt learning_curve.png {written.figures} history.csv "
              "config.json model.npz".replace("  ", " "))
    return 0


def train_new(spec: RunSpec) -> dict:
    """Train a new run into ``spec.out`` as ``fastnn train`` does, printing nothing.

    The folder gets the files ``fastnn train`` writes (output.txt, history.csv, config.json,
    model.npz, figures). Returns config.json's content: the settings and the final loss,
    accuracy, epochs and time.

    Raises
    ------
    DivergenceError
        When the run diverges (its folder keeps at most its last good checkpoint).
    KeyboardInterrupt, Terminated
        When Ctrl-C or SIGTERM stopped the run after an epoch (its checkpoint is written).
    """
    task = load_task(spec)
    spec = resolve(spec, task)
    trainer = build(spec, task)
    with RunFolder(Path(spec.out), spec, task, continuing=False) as folder:
        history, final, seconds = _train(spec, task, trainer, History(), folder)
        if history.interrupted == "SIGTERM":
            raise Terminated
        if history.interrupted:
            raise KeyboardInterrupt
        return _write_results(folder.path, spec, task, trainer, history, seconds, final).config


def _check_same_data(ckpt: checkpoint.Checkpoint, task: Task, folder: str) -> None:
    """UsageError when a resumed run's data file changed since the run began: other label
    values, or other standardisation statistics (which would silently change the model)."""
    stored_norm = None if ckpt.norm_mean is None else (ckpt.norm_mean, ckpt.norm_std)
    norm = None if task.norm is None else (task.norm.mean, task.norm.std)
    same_classes = (ckpt.classes is None) == (task.classes is None) and (
        ckpt.classes is None or np.array_equal(ckpt.classes, task.classes))
    same_norm = (stored_norm is None) == (norm is None) and (
        norm is None or all(np.array_equal(a, b) for a, b in zip(stored_norm, norm,
                                                                   strict=True)))
    if not (same_classes and same_norm):
        what = "its label values" if not same_classes else "its feature statistics"
        raise UsageError(f"cannot resume {folder!r}: the data file changed since the run began "
                         f"({what} differ); train a new run on the new data instead")


def _same_folder(a: Path, b: Path) -> bool:
    try:
        return a.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def _train(spec: RunSpec, task: Task, trainer: Trainer, history: History,
           folder: RunFolder) -> tuple[History, tuple[float, float] | None, float]:
    """Fit to ``spec.epochs`` and write the checkpoint; the history, the final (loss,
    accuracy) after the last update (None when a signal stopped the run) and the seconds."""
    def log(line: str) -> None:
        from tqdm.auto import tqdm
        tqdm.write(line)

    fresh = None
    if spec.fresh_data:
        def fresh(epoch: int):  # epoch >= 2; legacy: the lab's seeds, epoch + 2 from seed 2
            if spec.rng == "legacy":
                return data.generate_linear(spec.n, seed=spec.seed + epoch, rng="legacy")
            return data.generate_linear(spec.n, seed=[spec.seed, epoch])

    start = time.perf_counter()
    try:
        history = trainer.fit(
            task.X, task.y, epochs=spec.epochs - trainer.epoch, batch_size=spec.batch_size,
            fresh_data=fresh, target_accuracy=spec.target_acc,
            log_every=None if spec.quiet else spec.log_every, log=log,
            progress=False if spec.quiet else None,
            val_data=None if task.X_val is None else (task.X_val, task.y_val),
            checkpoint_every=spec.checkpoint_every, on_checkpoint=folder.checkpoint,
            history=history)
        if not history.interrupted:  # the last update may leave finite weights, infinite loss
            final = trainer.evaluate(task.X, task.y)
            if not math.isfinite(final[0]):
                raise trainer.divergence(f"the loss after the update of epoch "
                                         f"{trainer.epoch} is {final[0]}", trainer.epoch)
    except DivergenceError as e:  # nothing more is written
        raise DivergenceError(f"{e}; {folder.last_checkpoint()}", e.epoch) from None
    seconds = time.perf_counter() - start
    folder.checkpoint(trainer, history)
    return history, (None if history.interrupted else final), seconds


@dataclass
class Written:
    """What :func:`_write_results` wrote: config.json's content, the per-sample lines to show,
    the final line and the figures' names."""

    config: dict
    shown: list[str]
    final: str
    figures: str


def _write_results(out: Path, spec: RunSpec, task: Task, trainer: Trainer, history: History,
                   seconds: float, final: tuple[float, float]) -> Written:
    from . import plots

    kind = spec.kind
    loss, acc = final
    final = f"loss={loss:.6g} accuracy={acc:.2%}"
    results = {"n_train": len(task.X), "epochs_run": trainer.epoch,
               "stopped_early": history.stopped_early, "final_loss": loss,
               "final_accuracy": acc, "seconds": seconds}
    if task.X_val is not None:
        val_loss, val_acc = trainer.evaluate(task.X_val, task.y_val)
        final += f" val_loss={val_loss:.6g} val_accuracy={val_acc:.2%}"
        results.update(n_val=len(task.X_val), val_loss=val_loss, val_accuracy=val_acc)
    if task.X_test is not None:
        test_loss, test_acc = trainer.evaluate(task.X_test, task.y_test)
        final += f" test_loss={test_loss:.6g} test_accuracy={test_acc:.2%}"
        results.update(n_test=len(task.X_test), test_loss=test_loss, test_accuracy=test_acc)
    if spec.data == "xor":
        results["test_set"] = "none: XOR-easy is a fixed grid of 21 points, nothing is held out"
    final += f" epochs={trainer.epoch} time={seconds:.2f}s backend={spec.backend}"
    arch = " ".join(f"{layer!r}" for layer in trainer.model.layers if layer.param_shapes)
    title = (f"{Path(spec.data).name}: {spec.model}, {trainer.optimizer.name} "
             f"lr={spec.lr:g}, {trainer.epoch} epochs")

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
        if spec.lab and task.X_test is not None:  # the lab printed its linear test points
            X, y = task.X_test, task.y_test
        pred = trainer.predict(X)
        truth = class_labels(y, task.classes)
        shown_pred = pred[:, 0] if y.shape[1] == 1 else class_labels(pred, task.classes)
        fmt = "{!r}" if spec.lab else "{:.5f}" if y.shape[1] == 1 else "{:g}"
        sep = " =" if spec.lab else ":"  # the lab's program prints "ground truth = 1"

        def lines():  # a generator: a million samples need not sit in memory as text
            for i, (t, p) in enumerate(zip(truth, shown_pred, strict=True)):
                yield (f"Iter {i} | ground truth{sep} {t:g} | prediction{sep} "
                       f"{fmt.format(float(p))}")

        shown = [line for line, _ in zip(lines(), range(SHOW_LINES), strict=False)]
        if len(X) > SHOW_LINES:
            shown.append(f"... {len(X) - SHOW_LINES} more lines in {out}/output.txt")
        lines = lines()
        if spec.lab:  # the lab's closing line: the accuracy over the lines above, as a float
            lab_acc = f"Acc = {float(trainer.evaluate(X, y)[1])!r}"
            shown.append(lab_acc)
            lines = itertools.chain(lines, [lab_acc])
        figures = ""
        if X.shape[1] == 2 and y.shape[1] == 1:
            raw = X if task.norm is None else X * task.norm.std + task.norm.mean
            plots.comparison(raw, y, pred, out / "comparison.png", title=title)
            figures = "comparison.png"
    curves = {"train": history.loss}
    if history.val_loss:
        curves["validation"] = history.val_loss
    plots.learning_curve(curves, out / "learning_curve.png", title=title, epochs=history.epoch)
    write_text(out / "output.txt", itertools.chain(lines, [final]))
    sizes = layer_sizes(spec, task)
    config = {**spec.to_dict(), **({} if sizes is None else {"sizes": sizes}),
              "architecture": arch, "optimizer_hyperparams": trainer.optimizer.hyperparams(),
              "fastnn": __version__, **results}
    write_json(out / "config.json", config)
    return Written(config, shown, final, figures)
