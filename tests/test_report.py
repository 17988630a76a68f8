"""`fastnn report lab1`: every experiment runs and lands in REPORT.md with its figures."""

import re
from dataclasses import fields, replace

import numpy as np

import fastnn
from fastnn.app import report


def test_lab1_report_short(tmp_path):
    path = report.lab1(tmp_path, backend="numpy", epochs=60)
    text = path.read_text()
    for exp in report.EXPERIMENTS:
        assert f"## {exp.title}" in text
        for run in exp.runs:
            assert f"| {run.name} | linear |" in text
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert len(images) == 2 * (2 * len(report.EXPERIMENTS) - 1)  # fresh data: linear only
    for name in images:
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG"
    assert "on the `numpy` backend" in text and "for 60 epochs" in text


def test_experiment_settings_follow_the_lab():
    lrs = [r.lr for r in report.EXPERIMENTS[0].runs]
    assert lrs == [1.0, 0.1, 0.01]
    hidden = [r.hidden for r in report.EXPERIMENTS[1].runs]
    assert hidden == [(2, 2), (4, 4), (8, 8), (16, 16)]
    opts = [r.optimizer for r in report.EXPERIMENTS[3].runs]
    assert opts == ["sgd", "momentum", "adagrad", "rmsprop", "adam"]


def test_every_run_is_the_lab_run_with_the_lab_s_variations():
    base = report.BASE
    assert (base.hidden, base.activation, base.optimizer, base.lr, base.init, base.seed,
            base.loss, base.batch_size, base.n) == ((4, 4), "sigmoid", "sgd", 1.0, "normal", 2,
                                                   "mse", None, 100)
    for exp in report.EXPERIMENTS:
        for run in exp.runs:
            changed = {f.name for f in fields(run)
                       if getattr(run, f.name) != getattr(base, f.name)} - {"name", "data"}
            # what the lab varied, and nothing else (seed, init, loss, epochs stay the lab's)
            assert changed <= {"lr", "hidden", "activation", "output_activation", "optimizer",
                               "fresh_data", "test_seed"}, (run.name, changed)


def test_run_one_trains_the_spec_it_is_given():
    spec = replace(report.BASE, data="linear", activation="tanh", lr=0.5, epochs=30)
    result = report.run_one(spec)
    X, y = fastnn.data.generate_linear(100, seed=2)
    trainer = fastnn.Trainer(fastnn.MLP([2, 4, 4, 1], activation="tanh", seed=2), lr=0.5, seed=2)
    history = trainer.fit(X, y, epochs=30)
    np.testing.assert_array_equal(result["loss_curve"], history.loss)
    assert result["dataset"] == "linear" and result["run"] is spec
