"""`fastnn verify`, `fastnn bench` and `fastnn report`, end to end."""

import json
import sys

import numpy as np
import pytest

import fastnn
from fastnn.app.cli import main
from fastnn.backends import numpy_backend as vectorized


def test_verify_passes_and_prints_a_table(capsys):
    assert main(["verify", "--backends", "numpy"]) == 0
    out = capsys.readouterr().out
    assert "dense_backward dW" in out and "trajectory xor-sigmoid-sgd" in out
    assert "checks within tolerance (float64)" in out and " NO" not in out


def test_verify_fails_on_a_wrong_kernel(capsys, monkeypatch):
    right = vectorized.dense_forward
    monkeypatch.setattr(vectorized, "dense_forward",
                        lambda x, W, b: right(x, W, b) * (1 + 1e-8))
    assert main(["verify", "--backends", "numpy"]) == 1
    out = capsys.readouterr().out
    assert any(line.startswith("numpy") and "dense_forward" in line and line.endswith("NO")
               for line in out.splitlines())


@pytest.mark.parametrize("name, key, wrong", [("adam", "beta2", 0.99), ("rmsprop", "alpha", 0.9),
                                              ("adagrad", "eps", 1e-8)])
def test_verify_fails_on_a_wrong_optimizer_default(monkeypatch, name, key, wrong):
    """verify's textbook runs with torch.optim's documented defaults, written out in verify: a
    wrong default in fastnn's optimizer fails its row as a wrong rule does."""
    import inspect

    from fastnn.app import verify
    from fastnn.nn import optim

    assert all(row["ok"] for row in verify._optimizer_rows())
    cls = type(optim.get_optimizer(name, 0.1))
    defaults = list(cls.__init__.__defaults__)
    params = [p for p in inspect.signature(cls.__init__).parameters.values()
              if p.default is not inspect.Parameter.empty]
    defaults[[p.name for p in params].index(key)] = wrong
    monkeypatch.setattr(cls.__init__, "__defaults__", tuple(defaults))
    failed = [row["check"] for row in verify._optimizer_rows() if not row["ok"]]
    assert any(check.startswith(f"optimizer {name}:") for check in failed), failed


def test_verify_config_file_and_errors(tmp_path, capsys):
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps({"data": "linear", "activation": "tanh", "epochs": 20,
                               "lr": 0.3, "hidden": [3]}))
    assert main(["verify", "--config", str(cfg), "--backends", "numpy"]) == 0
    assert "trajectory c: 20 epochs" in capsys.readouterr().out
    cfg.write_text(json.dumps({"epochz": 3}))
    assert main(["verify", "--config", str(cfg)]) == 2
    assert "unknown keys epochz" in capsys.readouterr().err
    assert main(["verify", "--config", "nope"]) == 2
    assert "unknown config 'nope'" in capsys.readouterr().err


def test_verify_the_labs_network(tmp_path, capsys):
    assert main(["verify", "--config", "lab-net-xor-sigmoid-sgd"]) == 0
    out = capsys.readouterr().out
    assert "numba" in out and "trajectory lab-net-xor-sigmoid-sgd: 300 epochs" in out
    assert " NO" not in out
    cfg = tmp_path / "lab.json"
    cfg.write_text(json.dumps({"data": "linear", "epochs": 20, "lr": 0.1, "bias": False,
                               "rng": "legacy", "init": "small", "output_activation": "tanh",
                               "activation": "tanh", "clip": [-1024, 1023]}))
    assert main(["verify", "--config", str(cfg), "--backends", "numpy"]) == 0
    assert "trajectory lab: 20 epochs" in capsys.readouterr().out


def test_bench_writes_reports_and_compares(tmp_path, capsys):
    out = tmp_path / "reports"
    assert main(["bench", "--filter", "yardstick", "--out", str(out)]) == 0
    for name in ("benchmarks.json", "BENCHMARKS.md", "benchmarks.png"):
        assert (out / name).stat().st_size > 0
    results = json.loads((out / "benchmarks.json").read_text())
    assert results["fastnn_machine"]["cores"] >= 1
    assert "## yardstick" in (out / "BENCHMARKS.md").read_text()
    # a baseline where one benchmark was 10x faster relative to the yardstick: regression
    base = json.loads((out / "benchmarks.json").read_text())
    for b in base["benchmarks"]:
        if b["extra_info"]["workload"] == "gemm-peak":
            b["stats"]["median"] /= 10
    (tmp_path / "base.json").write_text(json.dumps(base))
    capsys.readouterr()
    assert main(["bench", "--filter", "yardstick", "--out", str(out), "--compare",
                 str(tmp_path / "base.json")]) == 1
    assert "REGRESSION" in capsys.readouterr().out
    assert main(["bench", "--compare", str(tmp_path / "missing.json")]) == 2


def test_bench_ignores_the_callers_pytest_setup(tmp_path, monkeypatch):
    """Run in a folder whose pytest.ini, conftest.py and fastnn/ would break the suite, with
    PYTEST_ADDOPTS set: the packaged suite still runs, and the reports land in ./reports."""
    (tmp_path / "pytest.ini").write_text("[pytest]\naddopts = --no-such-option\n")
    (tmp_path / "conftest.py").write_text("raise RuntimeError('the caller conftest ran')\n")
    (tmp_path / "fastnn").mkdir()
    (tmp_path / "fastnn" / "__init__.py").write_text("raise ImportError('a shadow fastnn')\n")
    monkeypatch.setenv("PYTEST_ADDOPTS", "--no-such-option")
    monkeypatch.chdir(tmp_path)
    assert main(["bench", "--filter", "test_yardstick and not gemm"]) == 0
    assert "## yardstick" in (tmp_path / "reports" / "BENCHMARKS.md").read_text()


def test_bench_without_the_bench_extra_says_how_to_install(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "pytest_benchmark", None)  # what an import would find
    assert main(["bench", "--out", str(tmp_path / "reports")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pip install 'fastnn[bench]'" in err
    assert not (tmp_path / "reports").exists()


def test_report_command(tmp_path, capsys):
    assert main(["report", "lab1", "--out", str(tmp_path), "--backend", "numpy",
                 "--epochs", "20"]) == 0
    assert (tmp_path / "REPORT.md").exists()
    assert main(["report", "lab9"]) == 2
    assert "unknown report 'lab9'" in capsys.readouterr().err


@pytest.mark.parametrize("args, message", [
    (["predict", "--model", "nowhere.npz", "--data", "xor"], "no such checkpoint file"),
    (["train", "--threads", "0"], "--threads: threads must be a positive integer"),
    (["train", "--val-split", "1.5", "--data", "linear"], "--val-split must be a number in (0, 1)"),
    (["train", "--label-col", "y"], "--label-col applies to data files only"),
    (["train", "--resume", "/nonexistent/run"], "cannot resume: no checkpoint"),
])
def test_more_bad_input(args, message, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_kernels_are_public():
    assert {"Conv2d", "MaxPool2d", "Flatten", "lab_cnn", "digits_cnn"} <= set(fastnn.__all__)
    assert np.isfinite(fastnn.lab_cnn(seed=0).params).all()
