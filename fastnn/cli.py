"""The ``fastnn`` command line. Library code never prints; this module does.

Bad input ends in one line ``fastnn: error: ...`` on stderr and exit code 2, before anything is
written; a run that diverges ends with exit code 1.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from . import __version__, data
from ._checks import check_choice, check_dtype, check_positive
from .activations import ACTIVATIONS
from .backends import BACKENDS, available_backends
from .init import INITIALIZERS
from .losses import LOSSES
from .model import MLP, digits_cnn
from .optim import OPTIMIZERS
from .trainer import DivergenceError, Trainer


class UsageError(Exception):
    """Bad command-line input: reported in one line with exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, no usage dump, exit 2
        raise UsageError(message)


def _add_train(sub) -> None:
    p = sub.add_parser(
        "train", help="train a network on a data set and write predictions and figures",
        description="Train an MLP (default: the lab's 2-4-4-1 sigmoid network on XOR-easy) and "
                    "write output.txt, comparison.png, learning_curve.png, history.csv, "
                    "config.json and model.npz to --out. With --data digits (scikit-learn's "
                    "8x8 handwritten digits, seeded 80/20 split) the defaults become: softmax "
                    "cross-entropy, adam, lr 0.01, 30 epochs, batches of 64; confusion_matrix.png "
                    "and misclassified.png replace comparison.png, and the final line gives the "
                    "test accuracy.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--data", default="xor", help=f"data set: {', '.join(data.DATASETS)}")
    p.add_argument("--model", default="mlp", help=f"one of: {', '.join(MODELS)} "
                   "(cnn: a small convolutional network, for --data digits)")
    p.add_argument("--n", type=int, default=None,
                   help="points in the linear data set (100), or the first N digits (all)")
    p.add_argument("--backend", default="numpy", help=f"one of: {', '.join(BACKENDS)}")
    p.add_argument("--hidden", type=int, nargs="+", default=None, metavar="UNITS",
                   help="hidden layer sizes of the MLP, any count (4 4; digits: 64)")
    p.add_argument("--activation", default="sigmoid", help=f"hidden: {', '.join(ACTIVATIONS)}")
    p.add_argument("--output-activation", default=None,
                   help="activation of the MLP output (sigmoid; digits: identity)")
    p.add_argument("--optimizer", default=None,
                   help=f"one of: {', '.join(OPTIMIZERS)} (sgd; digits: adam)")
    p.add_argument("--lr", type=float, default=None, help="learning rate (1.0; digits: 0.01)")
    p.add_argument("--epochs", type=int, default=None,
                   help="epochs, upper bound (20000; digits: 30)")
    p.add_argument("--init", default=None,
                   help=f"one of: {', '.join(INITIALIZERS)} (normal; digits: he)")
    p.add_argument("--loss", default=None,
                   help=f"one of: {', '.join(LOSSES)} (mse; digits: softmax_cross_entropy)")
    p.add_argument("--seed", type=int, default=2, help="seed of weights, data and shuffling")
    p.add_argument("--batch-size", type=int, default=None,
                   help="mini-batch size (full batch; digits: 64)")
    p.add_argument("--clip", type=float, nargs="+", default=None, metavar="C",
                   help="clip weight gradients: C for [-C, C], or LO HI (the lab: -1024 1023)")
    p.add_argument("--target-acc", type=float, default=None,
                   help="stop once an epoch reaches this accuracy, in (0, 1]")
    p.add_argument("--fresh-data", action="store_true",
                   help="new linear points every epoch (the lab's data reproduction)")
    p.add_argument("--dtype", default="float64", help="float64 or float32")
    p.add_argument("--log-every", type=int, default=None, metavar="K",
                   help="print loss and accuracy every K epochs")
    p.add_argument("--out", default=None, help="output folder (default: runs/<data>)")
    p.add_argument("--quiet", action="store_true",
                   help="print only the final line (no progress bar, no per-sample lines)")


def build_parser() -> argparse.ArgumentParser:
    """The ``fastnn`` argument parser."""
    parser = _Parser(prog="fastnn", description="fastnn: a small, fast CPU neural-network "
                     "engine with interchangeable backends.")
    parser.add_argument("--version", action="version", version=f"fastnn {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    _add_train(sub)
    return parser


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


#: ``--model`` choices of ``fastnn train``.
MODELS = ("mlp", "cnn")

#: Defaults that depend on the data set: (toy sets, digits).
_DEFAULTS = {
    "n": (100, None), "hidden": ([4, 4], [64]), "output_activation": ("sigmoid", "identity"),
    "optimizer": ("sgd", "adam"), "lr": (1.0, 0.01), "epochs": (20_000, 30),
    "loss": ("mse", "softmax_cross_entropy"), "batch_size": (None, 64), "init": ("normal", "he"),
}


def cmd_train(args: argparse.Namespace) -> int:
    """``fastnn train``: validate everything, train, then write the results."""
    check_choice("data set", args.data, data.DATASETS)
    check_choice("model", args.model, MODELS)
    digits = args.data == "digits"
    for name, pair in _DEFAULTS.items():
        if getattr(args, name) is None:
            setattr(args, name, pair[digits])
    if args.model == "cnn" and not digits:
        raise ValueError(f"--model cnn needs image data (--data digits), not {args.data!r}")
    check_choice("backend", args.backend, available_backends())
    check_positive("epochs", args.epochs, integer=True)
    check_positive("lr", args.lr)
    if args.n is not None:
        check_positive("n", args.n, integer=True)
    if args.batch_size is not None:
        check_positive("batch size", args.batch_size, integer=True)
    if args.log_every is not None:
        check_positive("--log-every", args.log_every, integer=True)
    if args.target_acc is not None and not 0 < args.target_acc <= 1:
        raise ValueError(f"target accuracy must be in (0, 1], got {args.target_acc!r}")
    clip = None
    if args.clip is not None:
        if len(args.clip) not in (1, 2):
            raise ValueError(f"--clip takes C or LO HI, got {len(args.clip)} numbers")
        clip = args.clip[0] if len(args.clip) == 1 else tuple(args.clip)
    if args.fresh_data and args.data != "linear":
        raise ValueError(f"--fresh-data needs a random data set (linear); {args.data!r} is fixed")
    dtype = check_dtype(args.dtype)
    if digits:
        return _train_digits(args, clip, dtype)

    sizes = [2, *args.hidden, 1]
    model = MLP(sizes, activation=args.activation, output_activation=args.output_activation,
                init=args.init, seed=args.seed, dtype=dtype)
    trainer = Trainer(model, loss=args.loss, optimizer=args.optimizer, lr=args.lr,
                      backend=args.backend, clip=clip, seed=args.seed)
    if args.data == "linear":
        X, y = data.generate_linear(args.n, seed=args.seed)
    else:
        X, y = data.generate_xor_easy()
    fresh = None
    if args.fresh_data:
        def fresh(epoch: int):
            return data.generate_linear(args.n, seed=[args.seed, epoch])

    out = Path(args.out if args.out is not None else os.path.join("runs", args.data))
    created = _prepare_out_dir(out)

    config = {"data": args.data, "n": len(X), "backend": args.backend, "sizes": sizes,
              "activation": args.activation, "output_activation": args.output_activation,
              "optimizer": trainer.optimizer.name, **trainer.optimizer.hyperparams(),
              "epochs": args.epochs, "init": args.init, "loss": args.loss, "seed": args.seed,
              "batch_size": args.batch_size, "clip": trainer.clip,
              "target_acc": args.target_acc, "fresh_data": args.fresh_data,
              "dtype": dtype.name, "fastnn": __version__}

    def log(line: str) -> None:
        from tqdm.auto import tqdm
        tqdm.write(line)

    start = time.perf_counter()
    try:
        history = trainer.fit(X, y, epochs=args.epochs, batch_size=args.batch_size,
                              fresh_data=fresh, target_accuracy=args.target_acc,
                              log_every=None if args.quiet else args.log_every, log=log,
                              progress=False if args.quiet else None)
    except BaseException:
        _remove_empty(created)
        raise
    seconds = time.perf_counter() - start
    pred = trainer.predict(X)
    loss, acc = trainer.evaluate(X, y)

    lines = [f"Iter {i} | ground truth: {int(t)} | prediction: {p:.5f}"
             for i, (t, p) in enumerate(zip(y[:, 0], pred[:, 0], strict=True))]
    final = (f"loss={loss:.6g} accuracy={acc:.2%} epochs={history.epochs} "
             f"time={seconds:.2f}s backend={args.backend}")
    (out / "output.txt").write_text("\n".join([*lines, final]) + "\n")
    history.to_csv(out / "history.csv")
    config.update(epochs_run=history.epochs, stopped_early=history.stopped_early,
                  final_loss=loss, final_accuracy=acc, seconds=seconds)
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    model.save(out / "model.npz")
    from . import plots
    title = f"{args.data}: {'-'.join(map(str, sizes))} {args.activation}, {args.optimizer} " \
            f"lr={args.lr:g}, {history.epochs} epochs"
    plots.comparison(X, y, pred, out / "comparison.png", title=title)
    plots.learning_curve({"train": history.loss}, out / "learning_curve.png", title=title)

    if not args.quiet:
        print("\n".join(lines))
    print(final)
    print(f"wrote {out}/: output.txt comparison.png learning_curve.png history.csv "
          "config.json model.npz", file=sys.stderr if args.quiet else sys.stdout)
    return 0


def _train_digits(args: argparse.Namespace, clip, dtype) -> int:
    """The digits flow of ``fastnn train``: seeded 80/20 split, train, test, figures."""
    for units in (args.hidden if args.model == "mlp" else []):
        check_positive("layer size", units, integer=True)
    try:
        X, y = data.load_digits(args.n)
    except ImportError as e:
        raise UsageError(str(e)) from None
    X_train, X_test, y_train, y_test = data.train_test_split(X, y, 0.2, seed=args.seed)
    if args.model == "cnn":
        model = digits_cnn(seed=args.seed, dtype=dtype, init=args.init)
        arch = "cnn conv16-pool-conv32-pool-dense10"
    else:
        sizes = [64, *args.hidden, 10]
        model = MLP(sizes, activation=args.activation,
                    output_activation=args.output_activation, init=args.init, seed=args.seed,
                    dtype=dtype)
        X_train, X_test = X_train.reshape(len(X_train), 64), X_test.reshape(len(X_test), 64)
        arch = f"mlp {'-'.join(map(str, sizes))} {args.activation}"
    trainer = Trainer(model, loss=args.loss, optimizer=args.optimizer, lr=args.lr,
                      backend=args.backend, clip=clip, seed=args.seed)

    out = Path(args.out if args.out is not None else os.path.join("runs", args.data))
    created = _prepare_out_dir(out)

    def log(line: str) -> None:
        from tqdm.auto import tqdm
        tqdm.write(line)

    start = time.perf_counter()
    try:
        history = trainer.fit(X_train, y_train, epochs=args.epochs, batch_size=args.batch_size,
                              target_accuracy=args.target_acc,
                              log_every=None if args.quiet else args.log_every, log=log,
                              progress=False if args.quiet else None)
    except BaseException:
        _remove_empty(created)
        raise
    seconds = time.perf_counter() - start
    loss, acc = trainer.evaluate(X_train, y_train)
    test_loss, test_acc = trainer.evaluate(X_test, y_test)
    true = y_test.argmax(axis=1)
    pred = trainer.predict(X_test).argmax(axis=1)

    lines = [f"Test {i} | ground truth: {t} | prediction: {p}"
             for i, (t, p) in enumerate(zip(true, pred, strict=True))]
    final = (f"loss={loss:.6g} accuracy={acc:.2%} test_loss={test_loss:.6g} "
             f"test_accuracy={test_acc:.2%} epochs={history.epochs} time={seconds:.2f}s "
             f"backend={args.backend}")
    (out / "output.txt").write_text("\n".join([*lines, final]) + "\n")
    history.to_csv(out / "history.csv")
    config = {"data": args.data, "n": len(X), "n_train": len(X_train), "n_test": len(X_test),
              "model": args.model, "architecture": arch, "backend": args.backend,
              "optimizer": trainer.optimizer.name, **trainer.optimizer.hyperparams(),
              "epochs": args.epochs, "init": model.init, "loss": args.loss, "seed": args.seed,
              "batch_size": args.batch_size, "clip": trainer.clip, "target_acc": args.target_acc,
              "dtype": dtype.name, "fastnn": __version__, "epochs_run": history.epochs,
              "stopped_early": history.stopped_early, "final_loss": loss, "final_accuracy": acc,
              "test_loss": test_loss, "test_accuracy": test_acc, "seconds": seconds}
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    model.save(out / "model.npz")
    from . import plots
    title = f"digits: {arch}, {trainer.optimizer.name} lr={args.lr:g}, {history.epochs} epochs"
    plots.learning_curve({"train": history.loss}, out / "learning_curve.png", title=title)
    plots.confusion_matrix(true, pred, out / "confusion_matrix.png",
                           title=f"digits test set: {test_acc:.2%} correct")
    plots.misclassified_grid(X_test.reshape(-1, 8, 8), true, pred, out / "misclassified.png")

    if not args.quiet:
        wrong = [line for line, t, p in zip(lines, true, pred, strict=True) if t != p]
        print("\n".join([f"misclassified test digits: {len(wrong)}", *wrong]))
    print(final)
    print(f"wrote {out}/: output.txt learning_curve.png confusion_matrix.png misclassified.png "
          "history.csv config.json model.npz", file=sys.stderr if args.quiet else sys.stdout)
    return 0


COMMANDS = {"train": cmd_train}


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
