"""Planted bugs: small plausible mistakes in the numerical core, applied one at a time.

Issue 16 measured which of a fixed set of hand-planted bugs the tests and ``fastnn verify``
catch. This file is that set, written down so the numbers can be reproduced: each bug is one
exact text replacement in one file. For each bug the tree (a git revision, or the working
tree) is copied to a fixed scratch folder, the bug is applied, and a command runs there with
the copy first on ``PYTHONPATH``; a non-zero exit code means the bug was caught.

    python tools/planted_bugs.py --list
    python tools/planted_bugs.py --rev main -- fastnn verify --config all     # verify before
    python tools/planted_bugs.py -- fastnn verify --config all                # verify now
    python tools/planted_bugs.py -- python -m pytest -q -x -p no:cacheprovider  # the suite
    python tools/planted_bugs.py --only shuffle-reseeded -- python -m pytest -q -x \
        tests/mutation/test_kills_planted.py
    python tools/planted_bugs.py --set mutants -- python -m pytest -q -x \
        tests/mutation/test_kills_losses.py                                   # CI's mutants

``--set mutants`` plants instead a fixed sample of mutmut's own mutants (its mutation of one
line, copied verbatim) that once survived and are now killed by a value test: CI replays them
in seconds, where a mutmut run needs minutes of generation and stats first.

A leading ``fastnn`` or ``python`` in the command is this interpreter (``python -m
fastnn.app.cli``). The pristine copy runs first and must pass.

Numba's cache (``NUMBA_CACHE_DIR``, default ``/tmp/numba-cache-planted``) drops a file's kernels
when the file's stamp (mtime and size) changes. The pristine run warms that folder; each bug
then runs with its own copy of it (removed after), and the pristine file is put back with its
own mtime, so every bug starts from the warm pristine cache and pays only for its own
recompiles (a bug in a file the kernels are keyed on, see ``fastnn/backends/numba/cache.py``,
still recompiles them all). A planted file gets the pristine mtime plus 2 s per bug: never the
pristine stamp (numba would load the pristine kernels and hide the bug), and no two bugs share
one (Python's ``.pyc`` in the tree is keyed on mtime and size too, and two bugs in one file can
have one size).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: (id, file, exact text, replacement, what it breaks). Each text occurs exactly once.
BUGS: list[tuple[str, str, str, str, str]] = [
    # -- kernels
    ("numpy-im2col-stride", "fastnn/backends/numpy_backend.py",
     "lo = max(0, -(-(padding - k) // stride))", "lo = max(0, (padding - k) // stride)",
     "numpy im2col/col2im: first inside output rounded down (wrong for stride >= 2, padding)"),
    ("numba-conv-dW-block", "fastnn/backends/numba/conv.py",
     "            _im2col_one(x, n, KH, KW, stride, padding, OH, OW, cols)\n"
     "            np.dot(cols, dout[n].T, part)",
     "            _im2col_one(x, t, KH, KW, stride, padding, OH, OW, cols)\n"
     "            np.dot(cols, dout[n].T, part)",
     "numba general-stride conv dW: block index taken for the sample index"),
    ("numba-pool-last-max", "fastnn/backends/numba/conv.py",
     "                        if v > m:\n                            m = v\n"
     "                            bi = oh * s + i",
     "                        if v >= m:\n                            m = v\n"
     "                            bi = oh * s + i",
     "numba max-pool backward: ties send the gradient to the last maximum"),
    ("numba-dense-db-first", "fastnn/backends/numba/kernels.py",
     "    for n in range(N):\n        row = dout[n]",
     "    for n in range(1, N):\n        row = dout[n]",
     "numba dense backward: db skips the first sample"),
    ("sigmoid-derivative", "fastnn/nn/activations.py",
     "return dy * (y * (1.0 - y))", "return dy * (1.0 - y)",
     "sigmoid's derivative from its output missing a factor y"),
    # -- losses
    ("mse-gradient-scale", "fastnn/nn/losses.py",
     "return d * d, d * (2.0 / N)", "return d * d, d * (1.0 / N)",
     "mse gradient without its factor 2"),
    ("bce-gradient-mean", "fastnn/nn/losses.py",
     "(p - y) / (p * (1.0 - p) * N)", "(p - y) / (p * (1.0 - p))",
     "bce gradient not divided by N"),
    ("softmax-ce-ysum", "fastnn/nn/losses.py",
     "(exp(zs) / s * ysum - y) / N", "(exp(zs) / s - y) / N",
     "softmax cross-entropy gradient assumes rows of y sum to 1"),
    # -- optimizers
    ("adam-bias-correction", "fastnn/nn/optim.py",
     "math.sqrt(1.0 - h[2] ** t)", "math.sqrt(1.0 - h[1] ** t)",
     "adam's second-moment correction uses beta1"),
    ("rmsprop-alpha", "fastnn/nn/optim.py",
     "s = s1 * h[1] + (1.0 - h[1]) * (g * g)", "s = s1 * h[1] + (1.0 - h[2]) * (g * g)",
     "rmsprop's running average weights g^2 by 1 - eps"),
    ("adamw-decay", "fastnn/nn/optim.py",
     "1.0 - h[0] * h[4]", "1.0 - h[4]", "adamw's decoupled decay not scaled by lr"),
    ("nesterov-old-velocity", "fastnn/nn/optim.py",
     "p - c[0] * (g + h[1] * v)", "p - c[0] * (g + h[1] * s1)",
     "nesterov's correction uses the previous velocity"),
    # -- fused step
    ("fused-clip-bound", "fastnn/backends/numba/fused.py",
     "grads[i] = clip_(grads[i], lo, hi)", "grads[i] = clip_(grads[i], lo, -lo)",
     "fused clip: the upper bound taken as -lo (right only for symmetric bounds)"),
    ("fused-step-count", "fastnn/backends/numba/fused.py",
     "t += 1\n                apply_update(params, grads, s1, s2, h, t, do_clip, lo, hi)",
     "t += 1\n                apply_update(params, grads, s1, s2, h, max(t - 1, 1), do_clip, lo,"
     " hi)",
     "fused step: the optimizer sees step t - 1 from the second step on"),
    # -- trainer
    ("shuffle-reseeded", "fastnn/training/strategies.py",
     "return rng.permutation(N) if shuffle else np.arange(N)",
     "return np.random.default_rng(N).permutation(N) if shuffle else np.arange(N)",
     "mini-batch shuffling re-seeded every epoch: every epoch sees one order"),
    ("minibatch-loss-weight", "fastnn/training/strategies.py",
     "loss += batch_loss * len(idx)", "loss += batch_loss * self.batch_size",
     "mini-batch epoch loss weights the last, smaller batch as a full one"),
    # -- checkpoints and resume
    ("resume-step-count", "fastnn/training/trainer.py",
     'opt.t = int(ckpt.optimizer["t"])', "opt.t = 0",
     "resume forgets the optimizer's step count"),
    ("resume-generator", "fastnn/training/trainer.py",
     "self._rng.bit_generator.state = rng.bit_generator.state",
     "self._rng = np.random.default_rng(self.seed)",
     "resume re-seeds the shuffling generator instead of restoring it"),
    ("resume-state-lost", "fastnn/training/trainer.py",
     "        opt.reset(self.model.params)\n        for k, v in ckpt.optimizer_state.items():\n"
     "            opt.state[k][...] = v",
     "        opt.reset(self.model.params)\n        for k, v in ckpt.optimizer_state.items():\n"
     "            opt.state[k][...] = 0.0 * v",
     "resume zeroes the optimizer state instead of loading it"),
    # -- data readers
    ("label-col-negative", "fastnn/io/datafiles.py",
     "    return index % ncols\n",
     "    return index % ncols if index >= 0 else ncols + index - 1\n",
     "a negative label column off by one"),
    ("standardize-scale", "fastnn/io/datafiles.py",
     "Z = (X - self.mean) / self.std", "Z = (X - self.mean) / (self.std * self.std)",
     "standardization divides by the variance"),
]


#: A fixed sample of mutmut's mutants of the core (``mutmut show NAME``), in the form of BUGS;
#: each survived mutmut's scoped run of losses.py; tests/mutation/test_kills_losses.py kills it.
MUTANTS: list[tuple[str, str, str, str, str]] = [
    ("x_bce_point__mutmut_8", "fastnn/nn/losses.py",
     "p = clip(pred, eps, 1.0 - eps)", "p = clip(pred, eps, 1.0 + eps)",
     "bce's upper clip bound above 1: a prediction of 1.0 gives log of a negative number"),
    ("x__shifted__mutmut_2", "fastnn/nn/losses.py",
     "zs = pred - pred.max(axis=1, keepdims=True)", "zs = pred + pred.max(axis=1, keepdims=True)",
     "softmax shift of the wrong sign: exp overflows for logits near 800"),
    ("x__shifted__mutmut_3", "fastnn/nn/losses.py",
     "zs = pred - pred.max(axis=1, keepdims=True)",
     "zs = pred - pred.max(axis=None, keepdims=True)",
     "softmax shifted by the whole batch's maximum: rows near -800 underflow to 0 / 0"),
    ("x_same_side__mutmut_1", "fastnn/nn/losses.py",
     "return (pred > THRESHOLD) == (y > THRESHOLD)",
     "return (pred >= THRESHOLD) == (y > THRESHOLD)",
     "a prediction of exactly 0.5 counted as class 1"),
    ("x_count_correct__mutmut_17", "fastnn/nn/losses.py",
     "if pred.ndim > 2:", "if pred.ndim >= 2:",
     "accuracy of (N, K) outputs returned as a float"),
    ("x_count_correct__mutmut_19", "fastnn/nn/losses.py",
     "return hits / math.prod(pred.shape[2:])", "return hits * math.prod(pred.shape[2:])",
     "image-shaped accuracy multiplied by the positions, not divided"),
    ("x_unlearnable__mutmut_24", "fastnn/nn/losses.py",
     'if loss == "bce" and output_activation is not None',
     'if loss == "bce" and output_activation is None',
     "bce's advice given when the activation is not known, and not when it is wrong"),
]


def _copy_tree(rev: str | None, dest: Path) -> None:
    """The files of ``rev`` (git archive), or of the working tree (tracked and untracked,
    not ignored), into ``dest``."""
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    if rev is not None:
        with tempfile.TemporaryFile() as f:
            subprocess.run(["git", "archive", rev], cwd=ROOT, stdout=f, check=True)
            f.seek(0)
            with tarfile.open(fileobj=f) as tar:
                tar.extractall(dest, filter="data")
        return
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT,
                           check=True, capture_output=True, text=True).stdout.split("\n")
    for name in filter(None, files):
        src = ROOT / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)


def _command(cmd: list[str]) -> list[str]:
    if cmd and cmd[0] == "fastnn":
        return [sys.executable, "-m", "fastnn.app.cli", *cmd[1:]]
    if cmd and cmd[0] == "python":
        return [sys.executable, *cmd[1:]]
    return cmd


#: The warm cache: the pristine run fills it, each bug runs on a copy (module docstring).
NUMBA_CACHE = Path(os.environ.get("NUMBA_CACHE_DIR", "/tmp/numba-cache-planted"))


def _run(cmd: list[str], tree: Path, timeout: float,
         cache: Path = NUMBA_CACHE) -> tuple[int, float, str]:
    env = dict(os.environ, PYTHONPATH=str(tree), NUMBA_CACHE_DIR=str(cache))
    t0 = time.perf_counter()
    try:
        p = subprocess.run(cmd, cwd=tree, env=env, capture_output=True, text=True,
                           timeout=timeout)
        code, tail = p.returncode, (p.stdout + p.stderr).strip().splitlines()[-1:]
    except subprocess.TimeoutExpired:
        code, tail = -1, ["timeout"]
    return code, time.perf_counter() - t0, " ".join(tail)[:100]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rev", help="git revision to plant into (default: the working tree)")
    parser.add_argument("--only", nargs="*", help="bug ids (default: all)")
    parser.add_argument("--set", choices=("bugs", "mutants"), default="bugs",
                        help="plant the hand-written bugs (default) or mutmut's mutant sample")
    parser.add_argument("--list", action="store_true", help="list the bugs and exit")
    parser.add_argument("--scratch", default=None, help="scratch folder, replaced (default: a "
                        "new temporary folder, removed after)")
    parser.add_argument("--timeout", type=float, default=900)
    parser.add_argument("--require-caught", action="store_true",
                        help="exit 1 when a bug lives (CI: the sample must stay caught)")
    parser.add_argument("cmd", nargs="*")
    args = parser.parse_args(argv)
    pool = MUTANTS if args.set == "mutants" else BUGS
    if args.list:
        for bug_id, path, _, _, what in pool:
            print(f"{bug_id:<24} {path:<40} {what}")
        return 0
    if not args.cmd:
        parser.error("give the command to run after --")
    bugs = [b for b in pool if not args.only or b[0] in args.only]
    unknown = set(args.only or ()) - {b[0] for b in pool}
    if unknown:
        parser.error(f"unknown bug ids: {', '.join(sorted(unknown))}")
    if args.scratch:
        return _plant(args, bugs, Path(args.scratch))
    with tempfile.TemporaryDirectory(prefix="planted-") as scratch:  # runs at once stay apart
        return _plant(args, bugs, Path(scratch) / "tree")


def _plant(args, bugs, tree: Path) -> int:
    """Copy the tree, check every bug's text is there once, then plant each of ``bugs``."""
    _copy_tree(args.rev, tree)
    for _, path, old, _, _ in BUGS + MUTANTS:
        n = (tree / path).read_text().count(old)
        if n != 1:
            raise SystemExit(f"{path}: the planted text occurs {n} times, not once: {old!r}")
    cmd = _command(args.cmd)
    code, secs, tail = _run(cmd, tree, args.timeout)
    print(f"{'(pristine)':<24} {'passes' if code == 0 else 'FAILS':<7} {secs:6.1f}s  {tail}",
          flush=True)
    if code != 0:
        return 2
    caught = 0
    for i, (bug_id, path, old, new, _) in enumerate(bugs):
        target = tree / path
        pristine, st = target.read_text(), target.stat()
        try:
            target.write_text(pristine.replace(old, new))
            # a stamp of its own: never the pristine one, nor another bug's (module docstring)
            os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns + (i + 1) * 2_000_000_000))
            with tempfile.TemporaryDirectory(prefix="planted-cache-") as scratch:
                cache = Path(scratch) / "numba"  # this bug's copy of the warm cache
                if NUMBA_CACHE.is_dir():
                    shutil.copytree(NUMBA_CACHE, cache)
                code, secs, tail = _run(cmd, tree, args.timeout, cache)
        finally:  # the pristine text and stamp (the tree the warm cache knows), whatever failed
            target.write_text(pristine)
            os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))
        caught += code != 0
        print(f"{bug_id:<24} {'caught' if code != 0 else 'LIVED':<7} {secs:6.1f}s  {tail}",
              flush=True)
    print(f"caught {caught} of {len(bugs)} ({100 * caught / len(bugs):.1f} %)")
    return 1 if args.require_caught and caught < len(bugs) else 0


if __name__ == "__main__":
    raise SystemExit(main())
