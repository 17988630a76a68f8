"""``fastnn report lab1``: the lab's discussion and extra experiments, reproduced.

Every experiment varies one setting of the lab's default run (2-4-4-1, sigmoid, SGD, lr 1,
normal init, seed 2, 20,000 epochs, full batch) on both data sets, and the report records the
final loss, accuracy and first epoch at 100 % accuracy of each run, with learning curves
overlaid per experiment and the predictions of every run. Everything in ``REPORT.md`` comes
from this module: rerun it to regenerate the folder.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from ..backends import available_backends
from ..io import datasets as data
from ..nn.model import MLP
from ..training import Trainer
from . import plots


@dataclass(frozen=True)
class Run:
    """One training run's settings (the lab's defaults unless changed)."""

    label: str
    lr: float = 1.0
    hidden: tuple[int, ...] = (4, 4)
    activation: str = "sigmoid"
    output_activation: str = "sigmoid"
    optimizer: str = "sgd"
    fresh_data: bool = False


@dataclass
class Experiment:
    """A question from the lab and the runs that answer it."""

    key: str
    title: str
    question: str
    runs: list[Run] = field(default_factory=list)


BASE = Run("default")

EXPERIMENTS = [
    Experiment("learning_rate", "Learning rates",
               "How do learning rates 1, 0.1 and 0.01 change convergence?",
               [replace(BASE, label=f"lr={lr:g}", lr=lr) for lr in (1.0, 0.1, 0.01)]),
    Experiment("hidden_units", "Hidden units",
               "Two hidden layers of 2, 4, 8 or 16 units each.",
               [replace(BASE, label=f"{h}-{h} units", hidden=(h, h)) for h in (2, 4, 8, 16)]),
    Experiment("activation_or_not", "With and without activation",
               "Sigmoid everywhere against no activation at all (identity in every layer, "
               "the output included); lr 0.01 without activation, since identity layers "
               "diverge at lr 1.",
               [replace(BASE, label="sigmoid"),
                replace(BASE, label="no activation", activation="identity",
                        output_activation="identity", lr=0.01)]),
    Experiment("optimizers", "Optimizers",
               "SGD, momentum, Adagrad, RMSprop and Adam (adaptive ones at lr 0.01).",
               [replace(BASE, label=name, optimizer=name,
                        lr=1.0 if name in ("sgd", "momentum") else 0.01)
                for name in ("sgd", "momentum", "adagrad", "rmsprop", "adam")]),
    Experiment("activations", "Hidden activations",
               "Sigmoid, tanh, relu, leaky relu and identity in the hidden layers (sigmoid "
               "output; lr 0.1 for the unbounded ones).",
               [replace(BASE, label=a, activation=a,
                        lr=1.0 if a in ("sigmoid", "tanh") else 0.1)
                for a in ("sigmoid", "tanh", "relu", "leaky_relu", "identity")]),
    Experiment("fresh_data", "Fresh data every epoch",
               "The lab's 'data reproduction': new linear points each epoch (linear only; "
               "XOR-easy is fixed).",
               [replace(BASE, label="same data"),
                replace(BASE, label="fresh data", fresh_data=True)]),
]

DATASETS = ("linear", "xor")


def _data(name: str, seed: int):
    return data.generate_linear(100, seed=seed) if name == "linear" else data.generate_xor_easy()


def run_one(run: Run, dataset: str, backend: str, epochs: int, seed: int = 2) -> dict:
    """Train one run; its curves, final loss/accuracy, first epoch at 100 %, predictions."""
    X, y = _data(dataset, seed)
    model = MLP([2, *run.hidden, 1], activation=run.activation,
                output_activation=run.output_activation, seed=seed)
    trainer = Trainer(model, optimizer=run.optimizer, lr=run.lr, backend=backend, seed=seed)
    fresh = None
    if run.fresh_data:
        def fresh(epoch):
            return data.generate_linear(100, seed=[seed, epoch])
    start = time.perf_counter()
    history = trainer.fit(X, y, epochs=epochs, fresh_data=fresh, progress=False)
    seconds = time.perf_counter() - start
    loss, acc = trainer.evaluate(X, y)
    hits = np.flatnonzero(np.array(history.accuracy) == 1.0)
    return {"run": run, "dataset": dataset, "loss_curve": history.loss, "final_loss": loss,
            "accuracy": acc, "first_100": int(hits[0]) + 1 if len(hits) else None,
            "X": X, "y": y, "pred": trainer.predict(X), "seconds": seconds}


def lab1(out: str | Path = "reports/lab1", backend: str | None = None, epochs: int = 20_000,
         log=None) -> Path:
    """Run every experiment and write ``REPORT.md`` and its figures into ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    backend = backend or ("numba" if "numba" in available_backends() else "numpy")
    md = ["# Lab 1 reproduced: back-propagation on the linear and XOR data sets", "",
          "Generated by `fastnn report lab1` (rerun it to regenerate this folder). Every run "
          f"is the lab's network — 2-4-4-1, sigmoid, SGD, lr 1, N(0, 1) init, seed 2, full "
          f"batch, MSE — for {epochs:,} epochs with one setting changed, on the `{backend}` "
          "backend. Loss and accuracy are measured on the training set after training; "
          "\"first 100 %\" is the first epoch whose forward pass classified every point "
          "right (— if none did).", ""]
    for exp in EXPERIMENTS:
        datasets = ("linear",) if exp.key == "fresh_data" else DATASETS
        results = {}
        for r in exp.runs:
            for d in datasets:
                run_one(r, d, backend, 2)  # compile (numba) outside the timed run
                results[(r.label, d)] = run_one(r, d, backend, epochs)
        if log:
            log(f"{exp.title}: {len(results)} runs")
        md += [f"## {exp.title}", "", exp.question, "",
               "| setting | data | final loss | accuracy | first 100 % | time |",
               "|---|---|---:|---:|---:|---:|"]
        for (label, d), r in results.items():
            first = f"{r['first_100']:,}" if r["first_100"] else "—"
            md.append(f"| {label} | {d} | {r['final_loss']:.3g} | {r['accuracy']:.0%} | "
                      f"{first} | {r['seconds']:.2f} s |")
        for d in datasets:
            reached = [(r["first_100"], label) for (label, dd), r in results.items()
                       if dd == d and r["first_100"]]
            missed = [label for (label, dd), r in results.items()
                      if dd == d and r["accuracy"] < 1.0]
            md += ["", f"- {d}: " + (f"first to 100 % was {min(reached)[1]} (epoch "
                                     f"{min(reached)[0]:,})" if reached else
                                     "no run reached 100 %")
                   + (f"; below 100 % at the end: {', '.join(missed)}" if missed else "") + "."]
        for d in datasets:
            curves = {label: results[(label, d)]["loss_curve"] for label, dd in results
                      if dd == d}
            curve_png = f"{exp.key}-{d}-curves.png"
            plots.learning_curve(curves, out / curve_png, title=f"{exp.title} — {d}")
            grid_png = f"{exp.key}-{d}-predictions.png"
            plots.prediction_grid([(label, results[(label, d)]) for label, dd in results
                                   if dd == d], out / grid_png, title=f"{exp.title} — {d}")
            md += ["", f"![{exp.title}, {d}: learning curves]({curve_png})",
                   f"![{exp.title}, {d}: predictions]({grid_png})"]
        md.append("")
    (out / "REPORT.md").write_text("\n".join(md))
    return out / "REPORT.md"
