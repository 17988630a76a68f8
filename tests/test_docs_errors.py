"""Every error message README.md quotes is provoked here and compared word for word.

The quotes are collected from the README at test time: every ``fastnn: error: ...`` line of a
code block and every inline code span that starts with ``fastnn: error:`` (a span may wrap over
lines; its whitespace is joined). Each quote must have a recipe below, keyed by the quote itself:
a quote that changes in the README without a new recipe, or a recipe whose quote left the
README, fails ``test_every_quoted_error_has_a_recipe``. In a quote, ``…`` stands for any text
(the README elides an address), and the PID of the lock holder is the example's 4242.
"""

from __future__ import annotations

import errno
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import fastnn
from fastnn.app.cli import main
from fastnn.io import atomic

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
PREFIX = "fastnn: error: "


def quoted_errors(text: str) -> list[str]:
    """The README's quoted ``fastnn: error:`` messages, without the prefix, in order."""
    found = []
    fenced = False
    for line in text.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif fenced and line.startswith(PREFIX):
            found.append(line[len(PREFIX):].strip())
    prose = re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)
    for span in re.findall(r"`(fastnn: error: [^`]*)`", prose):
        found.append(" ".join(span[len(PREFIX):].split()))
    return found


def _csv(name: str, text: str):
    def setup(tmp):
        (tmp / name).write_text(text)
    return setup


def _npz_with_nan(tmp):
    import numpy as np

    X = np.zeros((4, 2))
    X[0, 1] = np.nan
    np.savez(tmp / "data.npz", X=X, y=np.array([0, 1, 0, 1]))


def _model_of_classes_0_1(tmp):
    (tmp / "train.csv").write_text("a,b,y\n0,0,0\n1,1,1\n0,1,0\n1,0,1\n")
    assert main(["train", "--data", "train.csv", "--epochs", "5", "--quiet",
                 "--out", "runs/m"]) == 0
    (tmp / "other.csv").write_text("0,0,7\n1,1,0\n")


def _xor_run(tmp):
    """runs/xor: a finished XOR run with the CLI's defaults (lr 1.0), to resume."""
    assert main(["train", "--epochs", "5", "--quiet", "--out", "runs/xor"]) == 0


def _enospc(monkeypatch):
    real_fsync = atomic.os.fsync

    def fsync(fd):  # the first atomic write (the first checkpoint) finds the disk full
        if os.path.basename(os.readlink(f"/proc/self/fd/{fd}")).startswith("."):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_fsync(fd)
    monkeypatch.setattr(atomic.os, "fsync", fsync)


TRAIN_CSV = ["train", "--data", "data.csv", "--epochs", "5", "--out", "runs/d"]

#: quote -> (exit code, argv, setup of tmp (files) or None, monkeypatch setup or None)
RECIPES = {
    "data.csv: the file is empty": (2, TRAIN_CSV, _csv("data.csv", ""), None),
    "data.csv: ragged row at line 7: 2 fields, expected 3":
        (2, TRAIN_CSV, _csv("data.csv", "1,2,0\n" * 3 + "2,3,1\n" * 3 + "1,2\n"), None),
    "data.csv: non-numeric cell 'oops' at line 3, column 2":
        (2, TRAIN_CSV, _csv("data.csv", "1,2,0\n2,3,1\n1,oops,0\n"), None),
    "data.csv: nan (NaN or inf) at line 3, column 2":
        (2, TRAIN_CSV, _csv("data.csv", "1,2,0\n2,3,1\n1,nan,0\n"), None),
    "data.csv: every label is 1: a single class cannot be learned":
        (2, TRAIN_CSV, _csv("data.csv", "1,2,1\n2,3,1\n1,4,1\n"), None),
    "data.csv: no such file": (2, TRAIN_CSV, None, None),
    "data.npz: array X holds NaN or inf at index (0, 1)":
        (2, ["train", "--data", "data.npz", "--epochs", "5", "--out", "runs/d"], _npz_with_nan,
         None),
    "other.csv: labels 7 are not among the model's classes 0, 1":
        (2, ["predict", "--model", "runs/m/model.npz", "--data", "other.csv"],
         _model_of_classes_0_1, None),
    "--activation: unknown activation 'swish'; choose from: sigmoid, tanh, relu, leaky_relu, "
    "identity": (2, ["train", "--activation", "swish"], None, None),
    "--lr 0.5 differs from the resumed run's 1.0; a resumed run keeps its settings":
        (2, ["train", "--resume", "runs/xor", "--lr", "0.5"], _xor_run, None),
    "--lr must be a number in (0, 1e+06], got 0.0": (2, ["train", "--lr", "0"], None, None),
    "cannot write to --out '/etc/passwd': it is not a folder":
        (2, ["train", "--out", "/etc/passwd"], None, None),
    "--epochs must be an integer in [1, 100000000], got 0":
        (2, ["train", "--epochs", "0"], None, None),
    "cannot write runs/xor/model.npz: No space left on device":
        (1, ["train", "--epochs", "5", "--quiet", "--out", "runs/xor"], None, _enospc),
    "training diverged: the loss became inf at epoch 4; try a lower learning rate (now 10) or "
    "clipping the gradients; nothing was written":
        (1, ["train", "--data", "linear", "--activation", "identity", "--output-activation",
             "identity", "--lr", "10", "--quiet", "--epochs", "10", "--out", "runs/div"],
         None, None),
    "the run data=xor: --fresh-data needs a random data set (linear); 'xor' is fixed":
        (2, ["sweep", "--data", "xor", "linear", "--fresh-data", "--out", "runs/sweep"], None,
         None),
    "cannot reach the Dask scheduler at 'tcp://…': …":
        (2, ["sweep", "--data", "xor", "--epochs", "5", "--scheduler", "tcp://127.0.0.1:9",
             "--out", "runs/sweep"], None, None),
}


#: Quotes the code does not print as written (none today; the 12 found when this file was
#: written were put right in the README or the code): each would be a strict xfail naming the
#: difference, so that once the two agree, the XPASS fails and the entry must go.
DIFFERS: dict[str, str] = {}


def test_every_quoted_error_has_a_recipe():
    quoted = quoted_errors(README)
    assert len(quoted) >= 10, quoted  # the collector still finds the README's quotes
    assert sorted(set(quoted) - set(RECIPES)) == [], "quoted in README.md without a recipe here"
    assert sorted(set(RECIPES) - set(quoted)) == [], "a recipe whose quote left README.md"


def _matches(quote: str, line: str) -> bool:
    pattern = ".+".join(re.escape(part) for part in quote.split("…"))
    return re.fullmatch(pattern, line) is not None


def _param(quote: str):
    marks = []
    if quote in DIFFERS:
        marks.append(pytest.mark.xfail(strict=True, reason=DIFFERS[quote]))
    if "Dask" in quote:  # the connection times out after 10 s
        marks.append(pytest.mark.slow)
    return pytest.param(quote, marks=marks)


@pytest.mark.parametrize("quote", [_param(q) for q in sorted(RECIPES)])
def test_quoted_error_is_what_the_code_prints(quote, tmp_path, monkeypatch, capsys):
    code, argv, setup, patch = RECIPES[quote]
    if "Dask" in quote:
        pytest.importorskip("distributed")
    monkeypatch.chdir(tmp_path)
    if setup is not None:
        setup(tmp_path)
    if patch is not None:
        patch(monkeypatch)
    capsys.readouterr()
    got = main(argv)
    monkeypatch.undo()
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err, err
    assert err.startswith(PREFIX) and "\n" not in err, err
    assert _matches(quote, err[len(PREFIX):]), err
    assert got == code


@pytest.mark.subprocess
def test_the_lock_holders_message_names_its_pid(tmp_path):
    """``--out 'runs/xor' is in use by another fastnn run (PID 4242)``: quoted without the
    ``fastnn: error:`` prefix; the PID is the holder's."""
    quote = ("--out 'runs/xor' is in use by another fastnn run (PID 4242); wait for it or "
             "choose another --out")
    assert f"`{quote}`" in " ".join(README.split()), "the README no longer quotes it"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom pathlib import Path\n"
         "from fastnn.app.common import OutFolder\n"
         "with OutFolder(Path('runs/xor')):\n    print('held', flush=True)\n"
         "    time.sleep(60)\n"], cwd=tmp_path, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "held\n"
        p = subprocess.run([sys.executable, "-m", "fastnn.app.cli", "train", "--epochs", "5",
                            "--out", "runs/xor"], cwd=tmp_path, capture_output=True, text=True)
    finally:
        holder.kill()
        holder.wait()
    assert p.returncode == 2
    assert p.stderr == PREFIX + quote.replace("4242", str(holder.pid)) + "\n"


def _prose_quote(fragment: str) -> str:
    """``fragment`` as the README quotes it in prose (between backticks, line breaks as spaces),
    without a trailing ' …'; AssertionError when the README no longer quotes it."""
    flat = " ".join(README.split())
    assert f"`{fragment}" in flat, f"the README no longer quotes {fragment!r}"
    return fragment.removesuffix(" …")


def test_the_checkpoint_and_shape_errors_quoted_in_prose(tmp_path):
    """The errors the README quotes in prose, not as ``fastnn: error:`` lines: each provoked,
    and the quoted words found verbatim in the message."""
    from fastnn.io import checkpoint

    X, y = fastnn.data.generate_xor_easy()
    trainer = fastnn.Trainer(fastnn.MLP([2, 4, 1], seed=0))
    trainer.fit(X, y, epochs=2)
    path = tmp_path / "model.npz"
    checkpoint.save(path, trainer.model, trainer, epoch=trainer.epoch)
    (tmp_path / "garbage.npz").write_bytes(b"garbage" * 100)
    with np.load(path) as f:
        arrays = dict(f)
    arrays["format_version"] = np.array(99)
    np.savez(tmp_path / "v99.npz", **arrays)
    cases = [
        ("not a readable fastnn checkpoint", lambda: checkpoint.load(tmp_path / "garbage.npz")),
        ("checkpoint format version 99; this fastnn reads version 2",
         lambda: checkpoint.load(tmp_path / "v99.npz")),
        ("the checkpoint's architecture differs …",
         lambda: fastnn.Trainer(fastnn.MLP([2, 8, 1])).restore(checkpoint.load(path))),
        ("X has shape (5, 3); the model takes (N, 2)",
         lambda: trainer.predict(np.zeros((5, 3)))),
    ]
    for fragment, provoke in cases:
        words = _prose_quote(fragment)
        with pytest.raises(ValueError) as e:
            provoke()
        assert words in str(e.value), (fragment, str(e.value))
