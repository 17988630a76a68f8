"""Numerics regression: golden trajectories and a backend-vs-reference report.

Golden files (``tests/golden/*.npz``) hold, for each configuration in :data:`CONFIGS`, the loss
of every epoch and the final weights, computed by the ``reference`` backend in float64. The
tests compare every backend against them; they never rewrite them. Regenerating them is one
deliberate command::

    python -m fastnn.app.verify --write-golden tests/golden

:func:`verify` runs every available backend on one configuration and measures its largest
absolute and relative differences from the reference: kernels forward and backward, then a
training trajectory. ``fastnn verify`` prints that table and exits 1 past tolerance.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from .._checks import read_json_object
from ..backends import available_backends, get_backend
from ..io import datasets as data
from ..io.atomic import strict_json
from ..nn.model import MLP, Sequential
from .runspec import RunSpec

#: float64 tolerance (relative) between a backend and the reference.
RTOL = {"float64": 1e-10, "float32": 1e-4}


#: The settings a configuration file (and a golden file) holds, in the golden files' order;
#: verify reads no others.
CONFIG_KEYS = ("name", "data", "activation", "optimizer", "lr", "epochs", "hidden", "loss", "seed",
               "model", "output_activation", "init", "clip", "bias", "rng")
#: What a configuration file leaves out and verify sets unlike ``fastnn train``: fewer epochs.
CONFIG_DEFAULTS = {"epochs": 300}


def config_from_json(path: str | Path) -> RunSpec:
    """Read a configuration from a JSON object with keys among :data:`CONFIG_KEYS`; its name
    defaults to the file's stem. ValueError naming the key for an unknown or invalid one."""
    raw = read_json_object(path, "config")
    raw.setdefault("name", Path(path).stem)
    return RunSpec.from_dict(raw, what=f"config {str(path)!r}", keys=CONFIG_KEYS,
                                  defaults=CONFIG_DEFAULTS)


def golden_config(cfg: RunSpec) -> dict:
    """The settings a golden file stores for ``cfg`` (:data:`CONFIG_KEYS`, as JSON values)."""
    settings = cfg.to_dict()
    return {k: settings[k] for k in CONFIG_KEYS}


#: The lab's gradient clip (its ``gradient_cal`` clips every weight gradient to this range).
LAB_CLIP = (-1024.0, 1023.0)


def _lab_configs() -> list[RunSpec]:
    out = []
    for d in ("linear", "xor"):
        for act in ("sigmoid", "tanh", "relu"):
            for opt, lr in (("sgd", 0.5), ("adam", 0.02)):
                out.append(RunSpec(name=f"{d}-{act}-{opt}", data=d, activation=act,
                                        optimizer=opt, lr=lr, epochs=300 if d == "xor" else 150))
    out.append(RunSpec(name="lab-cnn-sgd", data="lab-cnn", activation="relu",
                            optimizer="sgd", lr=0.01, epochs=4, model="cnn"))
    # The lab's own network: no biases, its legacy N(0, 1) draws from seed 2, its activation at
    # the output too, its clip, SGD at its default lr 0.1. relu runs from seed 1: seed 2 draws a
    # w3 without a positive entry, so the relu network's output is 0 everywhere and never trains.
    for d, act in (("linear", "sigmoid"), ("xor", "sigmoid"), ("xor", "tanh"), ("xor", "relu")):
        out.append(RunSpec(name=f"lab-net-{d}-{act}-sgd", data=d, activation=act,
                                output_activation=act, optimizer="sgd", lr=0.1,
                                epochs=300 if d == "xor" else 150, init="normal", clip=LAB_CLIP,
                                seed=1 if act == "relu" else 2, bias=False, rng="legacy"))
    return out


#: The golden configurations: the lab's data sets x activations x {sgd, adam}, the lab CNN, and
#: the lab's own network (``lab-net-*``: no biases, legacy draws).
CONFIGS: dict[str, RunSpec] = {c.name: c for c in _lab_configs()}


def _lab_cnn_data(dtype) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((4, 3, 28, 28)).astype(dtype)  # the lab's batch, 4 images of 10
    y = rng.uniform(0, 1, (4, 16, 28, 28)).astype(dtype)   # a regression target
    return X, y


def build(cfg: RunSpec, dtype="float64") -> tuple[Sequential, np.ndarray, np.ndarray]:
    """The model (seeded weights) and data of ``cfg``: the lab CNN, or an MLP on a toy set."""
    if cfg.data == "lab-cnn":  # (a RunSpec on lab-cnn has model cnn)
        from ..nn.zoo import lab_cnn

        X, y = _lab_cnn_data(dtype)
        return lab_cnn(seed=cfg.seed, dtype=dtype, init=cfg.init), X, y
    if cfg.data == "linear":
        X, y = data.generate_linear(cfg.n, seed=cfg.seed)
    elif cfg.data == "xor":
        X, y = data.generate_xor_easy()
    else:
        raise ValueError(f"unknown data set {cfg.data!r}; choose from: linear, xor, lab-cnn")
    model = MLP([2, *cfg.hidden, 1], activation=cfg.activation,
                output_activation=cfg.output_activation, init=cfg.init, seed=cfg.seed,
                dtype=dtype, bias=cfg.bias, rng=cfg.rng)
    return model, X, y


def run(cfg: RunSpec, backend: str, dtype="float64") -> dict[str, np.ndarray]:
    """Train ``cfg`` on ``backend``: ``{"loss": per-epoch losses, "params": final weights}``."""
    from ..training import Trainer

    model, X, y = build(cfg, dtype)
    trainer = Trainer(model, loss=cfg.loss, optimizer=cfg.optimizer, lr=cfg.lr,
                      backend=backend, seed=cfg.seed, clip=cfg.clip_bounds)
    history = trainer.fit(X, y, epochs=cfg.epochs)
    return {"loss": np.array(history.loss), "params": model.params.astype(np.float64)}


def write_golden(folder: str | Path, names=None) -> list[Path]:
    """(Re)generate golden files with the reference backend; returns the paths written."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name in names or CONFIGS:
        cfg = CONFIGS[name]
        result = run(cfg, "reference")
        path = folder / f"{name}.npz"
        np.savez(path, config=np.array(strict_json(golden_config(cfg))), **result)
        written.append(path)
    return written


def read_golden(path: str | Path) -> tuple[RunSpec, dict[str, np.ndarray]]:
    """The configuration and arrays of one golden file."""
    with np.load(path, allow_pickle=False) as f:
        raw = json.loads(str(f["config"]))
        cfg = RunSpec.from_dict(raw, what=f"golden file {str(path)!r}", keys=CONFIG_KEYS)
        return cfg, {"loss": f["loss"], "params": f["params"]}


# -- backend vs reference report --------------------------------------------------------------

def max_diffs(actual, expected) -> tuple[float, float]:
    """(max |a - e|, max |a - e| / max(|e|, tiny)) over all entries, in float64."""
    a = np.asarray(actual, dtype=np.float64)
    e = np.asarray(expected, dtype=np.float64)
    if a.shape != e.shape:
        return float("inf"), float("inf")
    if a.size == 0:
        return 0.0, 0.0
    diff = np.abs(a - e)
    floor = max(float(np.max(np.abs(e))) * 1e-3, np.finfo(np.float64).tiny)
    return float(diff.max()), float(np.max(diff / np.maximum(np.abs(e), floor)))


def _kernel_cases(be, ref, dtype, rng):
    """(name, backend result, reference result) for each kernel of the contract."""
    x = rng.standard_normal((13, 7)).astype(dtype)
    W = rng.standard_normal((7, 5)).astype(dtype)
    b = rng.standard_normal(5).astype(dtype)
    dout = rng.standard_normal((13, 5)).astype(dtype)
    yield "dense_forward", be.dense_forward(x, W, b), ref.dense_forward(x, W, b)
    for part, a, e in zip(("dx", "dW", "db"), be.dense_backward(x, W, dout),
                          ref.dense_backward(x, W, dout), strict=True):
        yield f"dense_backward {part}", a, e
    for act in ("sigmoid", "tanh", "relu", "leaky_relu", "identity"):
        ya, ye = be.activation_forward(act, x * 4), ref.activation_forward(act, x * 4)
        yield f"{act} forward", ya, ye
        yield f"{act} backward", be.activation_backward(act, ye, x), \
            ref.activation_backward(act, ye, x)
    if hasattr(be, "conv2d_forward") and hasattr(ref, "conv2d_forward"):
        # N = 7 samples: more than the numba backend's thread blocks, so a block index taken
        # for a sample index shows; strides 1-3 with and without padding, non-square sizes
        xc = rng.standard_normal((7, 3, 9, 8)).astype(dtype)
        Wc = rng.standard_normal((4, 3, 3, 2)).astype(dtype)
        bc = rng.standard_normal(4).astype(dtype)
        for stride, pad in CONV_CASES:
            out = ref.conv2d_forward(xc, Wc, bc, stride=stride, padding=pad)
            yield f"conv2d_forward s{stride} p{pad}", \
                be.conv2d_forward(xc, Wc, bc, stride=stride, padding=pad), out
            d = rng.standard_normal(out.shape).astype(dtype)
            for part, a, e in zip(("dx", "dW", "db"),
                                  be.conv2d_backward(xc, Wc, d, stride=stride, padding=pad),
                                  ref.conv2d_backward(xc, Wc, d, stride=stride, padding=pad),
                                  strict=True):
                yield f"conv2d_backward s{stride} p{pad} {part}", a, e
    if hasattr(be, "max_pool2d_forward") and hasattr(ref, "max_pool2d_forward"):
        xp = rng.standard_normal((7, 3, 9, 8)).astype(dtype)
        xp[:, :, 2:4, 2:4] = 1.5  # ties: the first maximum in row-major order takes it
        for size, stride in POOL_CASES:
            out = ref.max_pool2d_forward(xp, size, stride)
            yield f"max_pool2d_forward k{size} s{stride}", \
                be.max_pool2d_forward(xp, size, stride), out
            d = rng.standard_normal(out.shape).astype(dtype)
            yield f"max_pool2d_backward k{size} s{stride}", \
                be.max_pool2d_backward(xp, d, size, stride), \
                ref.max_pool2d_backward(xp, d, size, stride)


#: (stride, padding) of the convolution kernel checks.
CONV_CASES = ((1, 0), (1, 1), (2, 0), (2, 1), (3, 2))
#: (size, stride) of the max-pool kernel checks (stride < size: overlapping windows).
POOL_CASES = ((2, 2), (3, 2), (2, 1))


def verify(cfg: RunSpec, dtype="float64", backends=None, kernels: bool = True) -> list[dict]:
    """Rows ``{backend, check, max_abs, max_rel, tol, ok}`` for every backend but the reference:
    the kernels (unless ``kernels`` is False), then ``cfg``'s trajectory."""
    ref = get_backend("reference")
    tol = RTOL[np.dtype(dtype).name]
    rows = []
    names = [b for b in (backends or available_backends()) if b != "reference"]
    ref_run = run(cfg, "reference", dtype)
    for name in names:
        be = get_backend(name)
        rng = np.random.default_rng(cfg.seed)
        with np.errstate(over="ignore"):
            for check, a, e in (_kernel_cases(be, ref, dtype, rng) if kernels else ()):
                abs_, rel = max_diffs(a, e)
                rows.append({"backend": name, "check": check, "max_abs": abs_, "max_rel": rel,
                             "tol": tol, "ok": rel <= tol})
        result = run(cfg, name, dtype)
        for part in ("loss", "params"):
            abs_, rel = max_diffs(result[part], ref_run[part])
            check = f"trajectory {cfg.name}: {cfg.epochs} epochs, {part}"
            rows.append({"backend": name, "check": check, "max_abs": abs_, "max_rel": rel,
                         "tol": tol, "ok": rel <= tol})
    return rows


# -- the engine around the kernels: gradients, update rules, mini-batches, resume ----------------

def _row(backend: str, check: str, actual, expected, tol: float) -> dict:
    abs_, rel = max_diffs(actual, expected)
    return {"backend": backend, "check": check, "max_abs": abs_, "max_rel": rel, "tol": tol,
            "ok": rel <= tol}


def _exact_row(backend: str, check: str, pairs) -> dict:
    """One row for (actual, expected) pairs that must be equal bit for bit (tolerance 0)."""
    abs_, rel = 0.0, 0.0
    for a, e in pairs:
        if isinstance(e, dict) or np.ndim(e) == 0 and not isinstance(e, float | np.floating):
            bad = a != e  # a step count, a generator state: equal or not
            abs_, rel = (float("inf"),) * 2 if bad else (abs_, rel)
            continue
        da, dr = max_diffs(a, e)
        if da != 0.0 or np.shape(a) != np.shape(e):
            abs_, rel = max(abs_, da), max(rel, dr if da else float("inf"))
    return {"backend": backend, "check": check, "max_abs": abs_, "max_rel": rel, "tol": 0.0,
            "ok": abs_ == 0.0 and rel == 0.0}


#: Step counts and learning rates of the optimizer checks.
OPT_LR = {"sgd": 0.2, "momentum": 0.05, "nesterov": 0.05, "adagrad": 0.05, "rmsprop": 0.01,
          "adam": 0.02, "adamw": 0.02}


#: The default hyper-parameters torch.optim documents, written out here on purpose: the check
#: compares fastnn's optimizers (their own defaults) with the textbook run with these, so a
#: wrong default in :mod:`fastnn.nn.optim` fails it as a wrong rule does.
TEXTBOOK_DEFAULTS: dict[str, dict[str, float]] = {
    "sgd": {"momentum": 0.0}, "momentum": {"momentum": 0.9}, "nesterov": {"momentum": 0.9},
    "adagrad": {"eps": 1e-10}, "rmsprop": {"alpha": 0.99, "eps": 1e-8},
    "adam": {"beta1": 0.9, "beta2": 0.999, "eps": 1e-8},
    "adamw": {"beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weight_decay": 0.01},
}


def _textbook(name: str, p: np.ndarray, grads: list[np.ndarray], h: dict[str, float]
              ) -> np.ndarray:
    """``p`` after one step per gradient, by the algorithms as torch.optim documents them,
    written out here independently of :mod:`fastnn.nn.optim`'s rules. ``h`` holds the
    hyper-parameters by name (``lr``, ``momentum``, ``eps``, ``alpha``, ``beta1``, ...):
    :data:`TEXTBOOK_DEFAULTS` and a learning rate."""
    lr = h["lr"]
    p, buf, acc, m, v = p.copy(), None, np.zeros_like(p), np.zeros_like(p), np.zeros_like(p)
    for t, g in enumerate(grads, start=1):
        if name in ("sgd", "momentum", "nesterov"):
            mu = h["momentum"]
            if mu == 0.0:
                p = p - lr * g
                continue
            buf = g.copy() if buf is None else mu * buf + g
            p = p - lr * (g + mu * buf if name == "nesterov" else buf)
        elif name == "adagrad":
            acc = acc + g * g
            p = p - lr * g / (np.sqrt(acc) + h["eps"])
        elif name == "rmsprop":
            acc = h["alpha"] * acc + (1 - h["alpha"]) * g * g
            p = p - lr * g / (np.sqrt(acc) + h["eps"])
        elif name in ("adam", "adamw"):
            b1, b2 = h["beta1"], h["beta2"]
            if name == "adamw":
                p = p * (1 - lr * h["weight_decay"])
            m = b1 * m + (1 - b1) * g
            v = b2 * v + (1 - b2) * g * g
            p = p - lr * (m / (1 - b1 ** t)) / (np.sqrt(v / (1 - b2 ** t)) + h["eps"])
        else:
            raise ValueError(f"no textbook rule for {name!r}")
    return p


def _optimizer_rows() -> list[dict]:
    from ..nn.optim import OPTIMIZERS, get_optimizer

    rng = np.random.default_rng(16)
    p0 = rng.standard_normal(12)
    grads = [rng.standard_normal(12) * scale for scale in (1.0, 0.1, 3.0, 0.5, 1e-3, 2.0)]
    rows = []
    for name in OPTIMIZERS:
        opt, p = get_optimizer(name, OPT_LR[name]), p0.copy()
        for g in grads:
            opt.step(p, g.copy())
        rows.append(_row("formulas", f"optimizer {name}: {len(grads)} steps vs textbook", p,
                         _textbook(name, p0, grads,
                                   {"lr": OPT_LR[name], **TEXTBOOK_DEFAULTS[name]}), 1e-12))
    return rows


def _gradcheck_rows() -> list[dict]:
    """Back-propagation on the reference backend against central differences of the loss,
    through every activation, for every loss."""
    from ..nn.layers import Activation, Dense
    from ..nn.losses import LOSSES

    ref = get_backend("reference")
    rng = np.random.default_rng(7)
    X = rng.standard_normal((6, 4))
    rows = []
    for loss, outputs in (("mse", 2), ("bce", 1), ("softmax_cross_entropy", 3)):
        layers, width = [], 4
        for act in ("sigmoid", "tanh", "relu", "leaky_relu", "identity"):
            layers += [Dense(width, 5), Activation(act)]
            width = 5
        layers.append(Dense(width, outputs))
        if loss == "bce":
            layers.append(Activation("sigmoid"))
            y = rng.integers(0, 2, (6, 1)).astype(np.float64)
        elif loss == "softmax_cross_entropy":  # soft targets: rows need not sum to 1
            y = rng.uniform(0, 1, (6, 3))
        else:
            y = rng.standard_normal((6, 2))
        model = Sequential(layers, input_shape=(4,), seed=3, init="xavier")
        fn = LOSSES[loss]
        _, dout = fn(model.forward(ref, X), y)
        model.backward(ref, dout)
        analytic, numeric, p = model.grads.copy(), np.empty_like(model.params), model.params
        for i in range(p.size):
            keep = p[i]
            p[i] = keep + 1e-5
            up = fn(model.forward(ref, X), y)[0]
            p[i] = keep - 1e-5
            down = fn(model.forward(ref, X), y)[0]
            p[i] = keep
            numeric[i] = (up - down) / 2e-5
        rows.append(_row("reference", f"gradient check {loss}: backprop vs differences",
                         analytic, numeric, 1e-5))
    return rows


def _small_run(backend: str, optimizer: str, dtype, seed: int = 11):
    """A trainer of the mini-batch and resume checks: 3-4-1 tanh/sigmoid, mse, a clip whose
    bounds (asymmetric) both bind, shuffling seeded by ``seed``."""
    from ..training import Trainer

    model = MLP([3, 4, 1], activation="tanh", output_activation="sigmoid", init="xavier",
                seed=1, dtype=dtype)
    return Trainer(model, loss="mse", optimizer=optimizer, lr=OPT_LR[optimizer],
                   backend=backend, clip=(-0.05, 0.02), seed=seed)


def _small_data(dtype):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((23, 3)).astype(dtype)
    return X, (X[:, :1] + 0.5 * X[:, 1:2] > 0).astype(dtype)


def _minibatch_rows(backend: str, optimizer: str, dtype, tol: float) -> list[dict]:
    """Shuffled mini-batches against steps taken by hand on the reference backend, one
    full-batch step per batch, the batches cut from the generator's own permutations."""
    X, y = _small_data(dtype)
    N, B, E, seed = len(X), 5, 4, 11
    trainer = _small_run(backend, optimizer, dtype, seed)
    hist = trainer.fit(X, y, epochs=E, batch_size=B)
    by_hand = _small_run("reference", optimizer, dtype)
    rng, losses = np.random.default_rng(seed), []
    for _ in range(E):
        order, total = rng.permutation(N), 0.0
        for first in range(0, N, B):
            idx = order[first:first + B]
            total += by_hand.fit(X[idx], y[idx], epochs=1).loss[0] * len(idx)
        losses.append(total / N)
    check = f"mini-batch {optimizer} (clip, shuffle) vs steps by hand"
    return [_row(backend, f"{check}: loss", hist.loss, losses, tol),
            _row(backend, f"{check}: params", trainer.model.params, by_hand.model.params, tol),
            _exact_row(backend, f"{check}: steps, generator",
                       [(trainer.optimizer.t, by_hand.optimizer.t),
                        (trainer._rng.bit_generator.state, rng.bit_generator.state)])]


def _resume_row(backend: str, optimizer: str, dtype, folder: Path) -> dict:
    """k epochs, a checkpoint, a new trainer restored from it, k more: the uninterrupted run."""
    from ..io import checkpoint

    X, y = _small_data(dtype)
    whole = _small_run(backend, optimizer, dtype)
    whole_hist = whole.fit(X, y, epochs=6, batch_size=5)
    first = _small_run(backend, optimizer, dtype)
    first_hist = first.fit(X, y, epochs=3, batch_size=5)
    path = folder / f"{backend}-{optimizer}.npz"
    checkpoint.save(path, first.model, first, epoch=first.epoch, history=first_hist)
    resumed = _small_run(backend, optimizer, dtype, seed=999)
    resumed.restore(checkpoint.load(path))
    rest = resumed.fit(X, y, epochs=3, batch_size=5)
    pairs = [(resumed.model.params, whole.model.params),
             (np.array(first_hist.loss + rest.loss), np.array(whole_hist.loss)),
             (resumed.optimizer.t, whole.optimizer.t),
             (resumed._rng.bit_generator.state, whole._rng.bit_generator.state)]
    pairs += [(resumed.optimizer.state.get(k), v) for k, v in whole.optimizer.state.items()]
    return _exact_row(backend, f"resume {optimizer}: 3 + 3 epochs vs 6, bit for bit", pairs)


def engine(dtype="float64", backends=None) -> list[dict]:
    """Rows for what surrounds the kernels: back-propagation against central differences and
    every optimizer against its textbook algorithm (float64, backend-independent), then per
    backend every optimizer on shuffled, clipped mini-batches against steps by hand, and
    every optimizer's resume from a checkpoint against the uninterrupted run."""
    import tempfile

    from ..nn.optim import OPTIMIZERS

    tol = RTOL[np.dtype(dtype).name]
    rows = _gradcheck_rows() + _optimizer_rows()
    names = [b for b in (backends or available_backends()) if b != "reference"]
    with tempfile.TemporaryDirectory(prefix="fastnn-verify-") as folder, \
            np.errstate(over="ignore"):
        for name in names:
            for opt in OPTIMIZERS:
                rows += _minibatch_rows(name, opt, dtype, tol)
                rows.append(_resume_row(name, opt, dtype, Path(folder)))
    return rows


def format_table(rows: list[dict]) -> str:
    """A plain-text table of :func:`verify`'s rows."""
    head = f"{'backend':<10} {'check':<60} {'max abs diff':>13} {'max rel diff':>13} {'tol':>7}  ok"
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(f"{r['backend']:<10} {r['check']:<60} {r['max_abs']:>13.3e} "
                     f"{r['max_rel']:>13.3e} {r['tol']:>7.0e}  {'yes' if r['ok'] else 'NO'}")
    return "\n".join(lines)


def _main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fastnn.app.verify",
                                     description="Regenerate the golden files (reference "
                                     "backend, float64). Deliberate: review the diff.")
    parser.add_argument("--write-golden", metavar="DIR", required=True)
    parser.add_argument("names", nargs="*", help=f"configurations (default all): "
                        f"{', '.join(CONFIGS)}")
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in CONFIGS]
    if unknown:
        parser.error(f"unknown configuration(s) {', '.join(unknown)}")
    for path in write_golden(args.write_golden, args.names or None):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())
