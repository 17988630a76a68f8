"""The ``fastnn`` command line: ``train``, ``predict``, ``sweep``, ``verify``, ``bench``,
``report``.

This module holds the parser and turns errors into exit codes; each command is a function in
its own module (:mod:`.train`, :mod:`.predict`, :mod:`.cmd_sweep`, :mod:`.cmd_verify`,
:mod:`.cmd_bench`, :mod:`.cmd_report`), and every run setting is checked once, by
:class:`.runspec.RunSpec`. Library code never prints; the commands do. Bad input ends in one
line ``fastnn: error: ...`` on stderr and exit code 2, before anything is written; a run that
diverges ends with exit code 1 and writes nothing more; Ctrl-C (SIGTERM) during training
finishes the epoch, writes the checkpoint and exits 130 (143); at any other moment they end the
command at once, with the same codes, leaving every file whole (see :mod:`fastnn.io.atomic`).
"""

from __future__ import annotations

import argparse
import sys

from .. import __version__
from ..backends import BACKENDS
from ..nn.activations import ACTIVATIONS
from ..nn.init import INITIALIZERS
from ..nn.losses import LOSSES
from ..nn.optim import OPTIMIZERS
from ..training import DivergenceError
from .cmd_bench import cmd_bench
from .cmd_report import cmd_report
from .cmd_sweep import cmd_sweep
from .cmd_verify import cmd_verify
from .common import Terminated, UsageError, terminate_cleanly
from .predict import cmd_predict
from .runspec import MODELS
from .train import cmd_train


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, no usage dump, exit 2
        raise UsageError(message)


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
    p.add_argument("--backend", help=f"one of: {', '.join(BACKENDS)} (numpy; numba's first "
                   "run on a machine compiles for a few seconds, later runs load its cache)")
    p.add_argument("--threads", type=int, help="threads for numba and BLAS (all)")
    p.add_argument("--hidden", type=int, nargs="+", metavar="UNITS",
                   help="hidden layer sizes, any count (4 4; 64; 16 16)")
    p.add_argument("--activation", help=f"hidden: {', '.join(ACTIVATIONS)} "
                   "(sigmoid; relu; tanh)")
    p.add_argument("--output-activation",
                   help="(sigmoid; identity; sigmoid for two classes, else identity)")
    p.add_argument("--optimizer", help=f"{', '.join(OPTIMIZERS)} (sgd; adam; adam)")
    p.add_argument("--lr", type=float, help="learning rate (1.0, the lab's best; 0.01; 0.01)")
    p.add_argument("--epochs", type=int, help="epochs, in all (20000; 30; 500)")
    p.add_argument("--init", help=f"{', '.join(INITIALIZERS)} (normal; he; xavier)")
    p.add_argument("--loss", help=f"{', '.join(LOSSES)} (mse; softmax_cross_entropy; bce for "
                   "two classes, else softmax_cross_entropy)")
    p.add_argument("--seed", type=int, help="seed of weights, data, splits and shuffling (2)")
    p.add_argument("--test-seed", type=int, metavar="SEED",
                   help="seed of the linear data's held-out test set (--seed + 1)")
    p.add_argument("--no-bias", dest="bias", action="store_false", default=None,
                   help="Dense layers without biases (the lab's network)")
    p.add_argument("--rng", help="weight draws: default (NumPy's Generator) or legacy "
                   "(np.random.seed + normal/randn, as the lab's code)")
    p.add_argument("--lab", action="store_true", default=None,
                   help="the lab's own network and output: no biases, legacy draws from seed "
                   "2, the activation at the output too, MSE, SGD lr 0.1, gradients clipped to "
                   "[-1024, 1023]; lines 'Iter i | ground truth = t | prediction = p' and "
                   "'Acc = a'. Other flags still override")
    p.add_argument("--batch-size", type=int, help="mini-batch size (full; 64; full)")
    p.add_argument("--clip", type=float, nargs="+", metavar="C",
                   help="clip every gradient, biases' too: C for [-C, C], or LO HI (the lab: -1024 "
                   "1023)")
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
                       description="Predict with a checkpoint written by fastnn train: a CSV "
                       "row,prediction,p0[,p1...] (p: the model's outputs: probabilities "
                       "for a sigmoid output or a softmax cross-entropy model) on stdout or to "
                       "--out, then a line with the count and, when the data has labels, the "
                       "accuracy (on stderr while the CSV is on stdout).")
    p.add_argument("--model", required=True, help="a model.npz written by fastnn train")
    p.add_argument("--data", required=True, help="a data file (.csv, .npz, .npy), or "
                   "xor / linear")
    p.add_argument("--label-col", help="CSV label column (name or index), if the file has one")
    p.add_argument("--backend", default="numpy", help=f"one of: {', '.join(BACKENDS)}")
    p.add_argument("--out", help="write predictions to this CSV file")


def _add_executor(p) -> None:
    """Where a command's training runs go: local processes, or a Dask cluster."""
    p.add_argument("--jobs", type=int, help="local worker processes (one per core)")
    p.add_argument("--scheduler", metavar="tcp://HOST:PORT",
                   help="run on this Dask distributed scheduler (dask scheduler; dask worker "
                   "ADDRESS); pip install 'fastnn[distributed]'")
    p.add_argument("--scheduler-file", metavar="FILE",
                   help="the Dask scheduler named by the file 'dask scheduler "
                   "--scheduler-file FILE' wrote")


def _add_sweep(sub) -> None:
    p = sub.add_parser(
        "sweep", help="a grid of training runs, in parallel processes or on a Dask cluster",
        description="Train every combination of the values given (flags that take several "
                    "values, and/or a --grid TOML file with the same settings as keys), each "
                    "into its own folder under --out with the files fastnn train writes, and "
                    "write OUT/sweep.csv (one row per run: settings, final and test "
                    "loss/accuracy, epochs, time, status, worker) and OUT/sweep.png. Runs go "
                    "to --jobs local processes, or to a Dask cluster with --scheduler. "
                    "Rerunning the same sweep skips the runs that finished.")
    p.add_argument("--grid", metavar="FILE.toml",
                   help="settings from a TOML file: 'lr = [1, 0.1]', 'hidden = [[4, 4], "
                   "[8, 8]]', 'epochs = 2000'; flags given too replace the file's values")
    several = {"nargs": "+", "default": None}
    p.add_argument("--data", **several, help="data sets or files (xor)")
    p.add_argument("--model", **several, help=f"{', '.join(MODELS)}")
    p.add_argument("--n", type=int, **several, help="points of the linear set")
    p.add_argument("--hidden", **several, metavar="SIZES",
                   help="hidden layer sizes per run, comma-separated: 4,4 8,8 16")
    p.add_argument("--activation", **several, help=f"{', '.join(ACTIVATIONS)}")
    p.add_argument("--output-activation", **several)
    p.add_argument("--optimizer", **several, help=f"{', '.join(OPTIMIZERS)}")
    p.add_argument("--lr", type=float, **several, help="learning rates: 1 0.1 0.01")
    p.add_argument("--epochs", type=int, **several)
    p.add_argument("--init", **several, help=f"{', '.join(INITIALIZERS)}")
    p.add_argument("--loss", **several, help=f"{', '.join(LOSSES)}")
    p.add_argument("--seed", type=int, **several, help="seeds of each run (2)")
    p.add_argument("--test-seed", type=int, **several, metavar="SEED")
    p.add_argument("--batch-size", type=int, **several)
    p.add_argument("--backend", **several, help=f"{', '.join(BACKENDS)} (numpy)")
    p.add_argument("--dtype", **several, help="float64, float32")
    p.add_argument("--clip", **several, metavar="C|LO,HI",
                   help="gradient clips per run: 5 or LO,HI (write --clip=-1024,1023)")
    p.add_argument("--target-acc", type=float, **several)
    p.add_argument("--val-split", type=float, **several, metavar="F")
    p.add_argument("--rng", **several, help="default, legacy")
    p.add_argument("--label-col", help="CSV label column (name or index)")
    p.add_argument("--no-standardize", dest="standardize", action="store_false", default=None)
    p.add_argument("--no-bias", dest="bias", action="store_false", default=None)
    p.add_argument("--lab", action="store_true", default=None,
                   help="the lab's own network (see fastnn train --help)")
    p.add_argument("--fresh-data", action="store_true", default=None)
    p.add_argument("--out", default="runs/sweep", help="the sweep's folder (runs/sweep)")
    _add_executor(p)
    p.add_argument("--threads", type=int,
                   help="threads per run (1 when runs go in parallel, else all)")
    p.add_argument("--quiet", action="store_true", default=None,
                   help="print only the closing line (no line per run)")


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
                       description="Run the benchmark suite that ships with fastnn "
                       "(pytest-benchmark; pip install 'fastnn[bench]') and write "
                       "benchmarks.json, BENCHMARKS.md and benchmarks.png to --out. Quick mode "
                       "(about two minutes) unless --full.")
    p.add_argument("--full", action="store_true", help="every round of every benchmark")
    p.add_argument("--filter", help="pytest -k expression over benchmark names, e.g. 'numba'")
    p.add_argument("--compare", metavar="BASELINE.json",
                   help="judge this run against a baseline; exit 1 past the threshold")
    p.add_argument("--threshold", type=float, default=0.25,
                   help="regression threshold, as a fraction (0.25)")
    p.add_argument("--out", default="reports", help="output folder (reports)")
    p.add_argument("--readme", metavar="README.md",
                   help="also rewrite this README's Benchmarks block (between its "
                   "<!-- bench:begin --> and <!-- bench:end --> lines) from the results")
    p.add_argument("--report-only", metavar="RESULTS.json",
                   help="run nothing: write BENCHMARKS.md, benchmarks.png (and --readme's "
                   "block) from an existing benchmarks.json")


def _add_report(sub) -> None:
    p = sub.add_parser("report", help="reproduce the lab report",
                       description="fastnn report lab1: the lab's experiments (learning "
                       "rates, hidden units, activations, optimizers, fresh data) with tables "
                       "and figures in OUT/REPORT.md. Its runs go to --jobs local processes "
                       "or a Dask cluster, as fastnn sweep's do; the report is the same.")
    p.add_argument("name", help="lab1")
    p.add_argument("--out", default="reports/lab1", help="output folder (reports/lab1)")
    p.add_argument("--backend", help="backend (numba)")
    p.add_argument("--epochs", type=int, default=20_000, help="epochs per run (20000)")
    _add_executor(p)


def build_parser() -> argparse.ArgumentParser:
    """The ``fastnn`` argument parser."""
    parser = _Parser(prog="fastnn", description="fastnn: a small, fast CPU neural-network "
                     "engine with interchangeable backends.")
    parser.add_argument("--version", action="version", version=f"fastnn {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for add in (_add_train, _add_predict, _add_sweep, _add_verify, _add_bench,
                _add_report):
        add(sub)
    return parser


COMMANDS = {"train": cmd_train, "predict": cmd_predict, "sweep": cmd_sweep,
            "verify": cmd_verify, "bench": cmd_bench, "report": cmd_report}


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``fastnn`` console script; returns the exit code."""
    try:
        with terminate_cleanly():
            args = build_parser().parse_args(argv)
            return COMMANDS[args.command](args)
    except (UsageError, ValueError) as e:
        print(f"fastnn: error: {e}", file=sys.stderr)
        return 2
    except DivergenceError as e:
        print(f"fastnn: error: {e}", file=sys.stderr)
        return 1
    except MemoryError:  # beyond what fastnn's own estimates foresaw
        print("fastnn: error: out of memory; try a smaller network, batch or data set",
              file=sys.stderr)
        return 1
    except OSError as e:  # without the "[Errno 28]" prefix
        message = e.strerror or str(e)
        if e.filename is not None:
            message = f"{e.filename}: {message}"
        print(f"fastnn: error: {message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("fastnn: interrupted", file=sys.stderr)
        return 130
    except Terminated:
        print("fastnn: terminated (SIGTERM)", file=sys.stderr)
        return 143


if __name__ == "__main__":
    sys.exit(main())
