"""`fastnn report lab1`: the lab's network reproduces the lab's printed numbers; the comparison
table quotes every number of the lab's text and its verdicts follow from the measurements; our
own experiments still run and land in REPORT.md."""

# ruff: noqa: RUF001  (the lab's words are quoted in Chinese)

from __future__ import annotations

import re
from dataclasses import fields, replace

import numpy as np
import pytest

import fastnn
from fastnn.app import report

#: Every number in the lab's text (its findings and the setup they depend on), as it writes it.
SEED_NUMBERS = ["0.246", "0.25", "0.52", "15000", "1.0", "2 個百分比", "2 units", "100%",
                "0.9992845109069186", "Iter 80", "-1024", "1023", "seed(2)", "0.01", "0.1"]


@pytest.fixture(scope="module")
def short(tmp_path_factory):
    """A short report: 60 epochs, weight seeds 0 and 2, numpy backend, a small seed scan."""
    out = tmp_path_factory.mktemp("lab1")
    path = report.lab1(out, backend="numpy", epochs=60, seeds=(0, 2), scan_limit=50)
    return out, path.read_text()


def test_short_report_has_both_parts_and_its_figures(short):
    out, text = short
    assert "## Part 1 — the lab's experiments on the lab's network" in text
    assert "## Part 2 — our experiments (fastnn's network, not the lab's)" in text
    for exp in report.LAB_EXPERIMENTS:
        assert f"### {exp.title}" in text
        for label, key in exp.runs:
            ep = max(1, round(60 * report.LAB_RUNS[key].fraction))
            mark = report.CHAOTIC_MARK if key in report.CHAOTIC else ""
            assert f"| {label}{mark} ({ep:,} ep.) | linear |" in text
    for exp in report.EXPERIMENTS:
        assert f"### {exp.title}" in text
        for run in exp.runs:
            assert f"| {run.name} | linear |" in text
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert len(images) == len(report.LAB_EXPERIMENTS) + 2  # + test predictions, + ours
    for name in images:
        assert (out / name).read_bytes()[:4] == b"\x89PNG"
    assert "on the `numpy` backend" in text and "60 epochs" in text
    assert "weight seeds 0, 2 (" in text and "from seed 1 only" in text


def _table(text: str) -> list[list[str]]:
    start = text.index("### The lab reports → fastnn measures → agrees?")
    rows = []
    for line in text[start:].splitlines()[4:]:
        if not line.startswith("|"):
            break
        if not line.startswith("|---"):
            rows.append([c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]])
    return rows[1:]


def test_the_table_quotes_every_number_of_the_lab(short):
    rows = _table(short[1])
    assert len(rows) == len(report.CLAIMS)
    quoted = " ".join(r[1] + " " + r[2] for r in rows).replace("\\|", "|")
    for number in SEED_NUMBERS:
        assert number in quoted, number
    for c in report.CLAIMS:
        for number in c.numbers:
            assert number.replace(",", "") in c.quote.replace(",", "") + c.lab


def test_each_verdict_is_the_rule_applied_to_the_measurement(short):
    rows = _table(short[1])
    for row, c, r in zip(rows, report.CLAIMS, _rows_again(), strict=True):
        assert row[0] == c.where and row[3] == r["measured"]
        assert row[4] == f"**{r['agrees']}**"
        assert r["agrees"] in ("yes", "partly", "no")


def _rows_again():
    results = report.run_lab_part(60, "numpy", seeds=(2,))
    return report.claim_rows(report._getter(results, 2, report._weights_gap()))


def _fake(values: dict):
    """A getter whose results hold ``values[(key, data)]`` (dicts), defaults elsewhere."""
    X, y = report.lab_linear(report.LAB_TEST_SEED)
    base = {"train_loss": 0.01, "train_acc": 1.0, "test_loss": 0.01, "test_acc": 1.0,
            "loss_curve": [1.0, 0.5], "epochs": 20_000, "X": X, "y": y,
            "pred": np.full((100, 1), 0.5), "diverged": None}

    def get(key, dataset):
        return {**base, **values.get((key, dataset), {})}
    return get


def _verdict(where_lab: str, get) -> str:
    claim = next(c for c in report.CLAIMS if where_lab in c.lab)
    return claim.judge(claim.measure(get))


@pytest.mark.parametrize("loss, verdict", [(0.2464, "yes"), (0.2401, "partly"), (0.30, "no")])
def test_the_0246_verdict_follows_the_loss(loss, verdict):
    get = _fake({("lr 0.01", "xor"): {"train_loss": loss}})
    assert _verdict("final loss 0.246", get) == verdict


@pytest.mark.parametrize("doubled, verdict", [(0.98, "yes"), (0.99, "partly"), (1.0, "no")])
def test_the_two_point_drop_verdict_follows_the_accuracies(doubled, verdict):
    get = _fake({("8-8", "linear"): {"test_acc": doubled}})
    assert _verdict("2 points lower", get) == verdict


@pytest.mark.parametrize("acc, verdict", [(11 / 21, "yes"), (10 / 21, "partly"), (1.0, "no")])
def test_the_052_verdict_follows_the_accuracy(acc, verdict):
    assert _verdict("accuracy only 0.52", _fake({("lr 0.01", "xor"): {"test_acc": acc}})) \
        == verdict


def test_the_iter_80_verdict_follows_the_prediction():
    pred = np.full((100, 1), 0.5)
    pred[80] = 0.9992845109069186
    assert _verdict("test point 80", _fake({("control", "linear"): {"pred": pred}})) == "yes"
    pred[80] = 0.9
    assert _verdict("test point 80", _fake({("control", "linear"): {"pred": pred}})) == "partly"


# -- the lab's network and data -------------------------------------------------------------------
def test_the_lab_network_reproduces_every_printed_prediction():
    """lr 0.1 for 20,000 epochs, trained on the legacy seed-2 points: the 41 predictions the lab
    printed, to float rounding (the numpy backend: no compile)."""
    for dataset, (first, values) in report.LAB_PRINTED.items():
        r = report.run_lab(report.CONTROL, dataset, 20_000, backend="numpy")
        np.testing.assert_allclose(r["pred"][first:first + len(values), 0], values,
                                   rtol=0, atol=1e-12)
        assert r["test_acc"] == 1.0


def test_run_lab_is_the_lab_program():
    r = report.run_lab(replace(report.CONTROL, lr=0.5), "linear", 40, seed=3, backend="numpy")
    X, y = report.lab_linear(2)
    model = fastnn.MLP([2, 4, 4, 1], activation="sigmoid", output_activation="sigmoid",
                       init="normal", seed=3, bias=False, rng="legacy")
    trainer = fastnn.Trainer(model, lr=0.5, clip=(-1024, 1023))
    np.testing.assert_array_equal(r["loss_curve"], trainer.fit(X, y, epochs=40).loss)
    assert r["test_loss"] == trainer.evaluate(*report.lab_linear(1))[0]


def test_fresh_data_follows_the_lab_s_seeds():
    """Epoch j (from 0) trains on the legacy draw of seed j + 3."""
    run = replace(report.CONTROL, fresh_data=True, datasets=("linear",))
    r = report.run_lab(run, "linear", 3, backend="numpy")
    model = fastnn.MLP([2, 4, 4, 1], activation="sigmoid", output_activation="sigmoid",
                       init="normal", seed=2, bias=False, rng="legacy")
    trainer = fastnn.Trainer(model, lr=0.1, clip=(-1024, 1023))
    losses = [trainer.fit(*report.lab_linear(j + 3), epochs=1).loss[0] for j in range(3)]
    np.testing.assert_array_equal(r["loss_curve"], losses)


def test_the_lab_s_linear_points_and_the_seed_scan():
    X, y = report.lab_linear(1)
    np.testing.assert_array_equal(X, np.random.RandomState(1).uniform(0, 1, (100, 2)))
    assert ((X[:, 0] > X[:, 1]) == (y[:, 0] == 0)).all()
    assert report.lab_seeds_with_printed_labels(30) == [1]


def test_relu_from_seed_2_never_trains():
    """Seed 2's w3 has no positive entry: relu(output) is 0 everywhere and no gradient flows."""
    assert report._weights_gap()["w3"].max() < 0
    r = report.run_lab(report.LAB_RUNS["relu"], "xor", 50, backend="numpy")
    assert np.ptp(r["loss_curve"]) == 0 and (r["pred"] == 0).all()


# -- part 2: our experiments ----------------------------------------------------------------------
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
                                                   "mse", None, None)  # xor: no size
    for exp in report.EXPERIMENTS:
        for run in exp.runs:
            assert run.n == (100 if run.data == "linear" else None), run.name
            changed = {f.name for f in fields(run)
                       if getattr(run, f.name) != getattr(base, f.name)} - {"name", "data", "n"}
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
    assert result["test_loss"] == trainer.evaluate(*fastnn.data.generate_linear(100, seed=3))[0]
