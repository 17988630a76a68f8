"""Class 10, the small ones: library messages never mention CLI flags; NumPy scalars work
wherever Python numbers do; kernels given a list or a number raise ValueError naming the
argument, on every backend; one clip rule for the trainer and the CLI."""

from __future__ import annotations

import ast
import re
import tempfile
from pathlib import Path

import numpy as np
import pytest

import fastnn
from fastnn import MLP, Trainer
from fastnn.app.runspec import RunSpec, SpecError
from fastnn.io import checkpoint
from fastnn.io.datafiles import DataFileError, load_dataset, split
from fastnn.nn.layers import Conv2d, MaxPool2d

PACKAGE = Path(fastnn.__file__).parent
FLAG = re.compile(r"(?<![\w-])--[a-z][a-z-]+")


def _library_strings():
    """Every string literal (f-string parts included, docstrings and comments not) of fastnn
    outside the app layer: (file:line, text)."""
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE)
        if rel.parts[0] == "app":
            continue
        tree = ast.parse(path.read_text())
        docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                      if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef,
                                           ast.AsyncFunctionDef))
                      and node.body and isinstance(node.body[0], ast.Expr)
                      and isinstance(node.body[0].value, ast.Constant)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                    and id(node) not in docstrings:
                yield f"{rel}:{node.lineno}", node.value


def test_library_strings_mention_no_cli_flag():
    found = [(where, text) for where, text in _library_strings() if FLAG.search(text)]
    assert found == []


@pytest.mark.parametrize("text, label_col, needle", [
    ("1,0\n2,1\n", "label", "the label column 'label' is a name"),
    ("1,0\n2,1\n", 5, "label column 5 is out of range"),
    ("1,0\n2,1\n", -3, "label column -3 is out of range"),
])
def test_label_column_messages_say_label_column(tmp_path, text, label_col, needle):
    path = tmp_path / "d.csv"
    path.write_text(text)
    with pytest.raises(DataFileError, match=needle) as info:
        load_dataset(path, label_col=label_col)
    assert "--" not in str(info.value)


def test_a_label_column_on_an_npz_says_label_column(tmp_path):
    np.savez(tmp_path / "d.npz", X=np.zeros((2, 1)), y=np.arange(2))
    with pytest.raises(DataFileError, match="a label column applies to CSV files only") as info:
        load_dataset(tmp_path / "d.npz", label_col="y")
    assert "--" not in str(info.value)


# -- NumPy scalars wherever Python numbers are accepted -----------------------------------------

X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], float)
Y = np.array([[0], [1], [1], [0]], float)


def _save(trainer):
    trainer.fit(X, Y, epochs=2)
    with tempfile.TemporaryDirectory() as d:
        checkpoint.save(Path(d) / "m.npz", trainer.model, trainer=trainer, epoch=trainer.epoch)
        return checkpoint.load(Path(d) / "m.npz")


NUMPY_SCALARS = {
    "MLP sizes": lambda: MLP([2, np.int64(4), np.int32(1)], seed=np.int64(2)),
    "clip float32": lambda: Trainer(MLP([2, 3, 1]), clip=np.float32(1.0)),
    "clip float64": lambda: Trainer(MLP([2, 3, 1]), clip=np.float64(1.0)),
    "clip int64": lambda: Trainer(MLP([2, 3, 1]), clip=np.int64(2)),
    "clip pair": lambda: Trainer(MLP([2, 3, 1]), clip=(np.float64(-1), np.float32(1))),
    "clip array": lambda: Trainer(MLP([2, 3, 1]), clip=np.array([-1.0, 1.0])),
    "lr float32": lambda: Trainer(MLP([2, 3, 1]), lr=np.float32(0.1)),
    "lr float64": lambda: Trainer(MLP([2, 3, 1]), lr=np.float64(0.1)),
    "momentum": lambda: Trainer(MLP([2, 3, 1]), optimizer="momentum",
                                momentum=np.float32(0.9)),
    "adam": lambda: Trainer(MLP([2, 3, 1]), optimizer="adam", beta1=np.float32(0.9),
                            eps=np.float32(1e-8)),
    "seed": lambda: Trainer(MLP([2, 3, 1]), seed=np.int64(2)),
    "threads": lambda: Trainer(MLP([2, 3, 1]), threads=np.int64(1)),
    "fit epochs": lambda: Trainer(MLP([2, 3, 1])).fit(X, Y, epochs=np.int64(3)),
    "fit batch size": lambda: Trainer(MLP([2, 3, 1])).fit(X, Y, epochs=3,
                                                          batch_size=np.int32(2)),
    "fit target accuracy": lambda: Trainer(MLP([2, 3, 1])).fit(
        X, Y, epochs=3, target_accuracy=np.float32(0.9)),
    "fit log every": lambda: Trainer(MLP([2, 3, 1])).fit(X, Y, epochs=3, log_every=np.int64(1),
                                                         log=lambda line: None),
    "fit checkpoint every": lambda: Trainer(MLP([2, 3, 1])).fit(
        X, Y, epochs=3, checkpoint_every=np.int64(1), on_checkpoint=lambda t, h: None),
    "checkpoint of numpy seed and clip": lambda: _save(
        Trainer(MLP([2, 3, 1]), seed=np.int64(2), clip=np.float32(2))),
    "numba clip and lr": lambda: Trainer(MLP([2, 3, 1]), backend="numba", clip=np.float32(1),
                                         lr=np.float32(0.5)).fit(X, Y, epochs=np.int64(3)),
    "conv layer": lambda: Conv2d(np.int64(1), np.int64(2), kernel_size=np.int64(3),
                                 stride=np.int64(1), padding=np.int64(1)),
    "pool layer": lambda: MaxPool2d(np.int64(2)),
    "split": lambda: split(np.int64(10), np.float32(0.2), np.int64(1)),
    "linear data": lambda: fastnn.data.generate_linear(np.int64(10), seed=np.int64(1)),
    "RunSpec": lambda: RunSpec(clip=np.float32(1.0), lr=np.float64(0.5), epochs=np.int64(3),
                               seed=np.int64(1), hidden=[np.int64(3)]),
}


@pytest.mark.parametrize("name", list(NUMPY_SCALARS))
def test_numpy_scalars_are_numbers(name):
    NUMPY_SCALARS[name]()


def clip_of_cli(clip) -> bool:
    """Whether RunSpec must refuse ``clip`` too (its (C,) is a valid C)."""
    return not (isinstance(clip, tuple) and len(clip) == 1)


@pytest.mark.parametrize("clip", [(1, 2), (-2, -1), (0, 1), (-1, 0), 0, -1, np.float32(-1),
                                  np.nan, (np.inf, 1), (1,), (1, 2, 3), "1", True, 10**400,
                                  (-(10**400), 1), np.array([[-1, 1]])])
def test_one_clip_rule_for_trainer_and_cli(clip):
    with pytest.raises(ValueError) as lib:
        Trainer(MLP([2, 3, 1]), clip=clip)
    assert "LO < 0 < HI" in str(lib.value) and "--" not in str(lib.value)
    from fastnn._checks import check_clip  # one rule, in _checks
    with pytest.raises(ValueError, match="LO < 0 < HI"):
        check_clip(clip)
    if clip_of_cli(clip) and isinstance(clip, (tuple, int, float, np.floating)) \
            and not isinstance(clip, bool) and len(np.atleast_1d(clip)) <= 2:
        with pytest.raises(SpecError, match="--clip"):  # (C,) is the CLI's C
            RunSpec(clip=clip)


# -- kernels given a list or a number: ValueError naming the argument ---------------------------

x2, W2, b2, d2 = np.ones((2, 3)), np.ones((3, 4)), np.ones(4), np.ones((2, 4))
x4, W4, b4 = np.ones((1, 1, 4, 4)), np.ones((2, 1, 3, 3)), np.ones(2)
dconv, dpool = np.ones((1, 2, 2, 2)), np.ones((1, 1, 2, 2))

#: kernel -> (its arguments by name, how to call it with them)
KERNELS = {
    "dense_forward": (dict(x=x2, W=W2, b=b2), lambda be, a: be.dense_forward(**a)),
    "dense_backward": (dict(x=x2, W=W2, dout=d2), lambda be, a: be.dense_backward(**a)),
    "activation_forward": (dict(z=x2), lambda be, a: be.activation_forward("relu", **a)),
    "activation_backward": (dict(y=x2, dy=x2),
                            lambda be, a: be.activation_backward("tanh", **a)),
    "conv2d_forward": (dict(x=np.ones((1, 1, 4, 4)), W=W4, b=b4),
                       lambda be, a: be.conv2d_forward(a["x"], a["W"], a["b"], padding=0)),
    "conv2d_backward": (dict(x=np.ones((1, 1, 4, 4)), W=W4, dout=dconv),
                        lambda be, a: be.conv2d_backward(a["x"], a["W"], a["dout"])),
    "max_pool2d_forward": (dict(x=x4), lambda be, a: be.max_pool2d_forward(a["x"], 2)),
    "max_pool2d_backward": (dict(x=x4, dout=dpool),
                            lambda be, a: be.max_pool2d_backward(a["x"], a["dout"], 2)),
}
BAD_ARGUMENTS = {"list": [[1.0, 2.0]], "int": 3, "float": 2.5, "None": None,
                 "tuple": ((1.0,),)}
KERNEL_CASES = [(backend, kernel, arg, bad) for backend in fastnn.available_backends()
                for kernel, (args, _) in KERNELS.items() for arg in args
                for bad in BAD_ARGUMENTS]


@pytest.mark.parametrize("backend, kernel, arg, bad", KERNEL_CASES,
                         ids=["-".join(c) for c in KERNEL_CASES])
def test_a_kernel_given_a_list_or_number_names_the_argument(backend, kernel, arg, bad):
    be = fastnn.get_backend(backend)
    args, call = KERNELS[kernel]
    call(be, args)  # the good call works
    with pytest.raises(ValueError, match=rf"{kernel}: {arg} must be a NumPy array"):
        call(be, {**args, arg: BAD_ARGUMENTS[bad]})
