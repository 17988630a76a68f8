"""`fastnn sweep`: a grid of runs, each in its own folder with the files `fastnn train` writes,
one row per run in sweep.csv; the same numbers, bit for bit, in one process, in two (joblib) or
on a Dask cluster; resume, failing runs as rows, Ctrl-C, a TOML grid, one-line errors; and
`fastnn report lab1` through the same executors."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from fastnn.app import report
from fastnn.app import sweep as sw
from fastnn.app.cli import main
from fastnn.app.runspec import RunSpec

RUN_FILES = {"output.txt", "comparison.png", "learning_curve.png", "history.csv",
             "config.json", "model.npz"}
#: A small grid: 2 x 2 x 2 runs of the lab network on XOR, 300 epochs each (numpy backend).
GRID = ["--data", "xor", "--lr", "1", "0.1", "--hidden", "4,4", "3,5", "--activation",
        "sigmoid", "tanh", "--epochs", "300"]
#: Columns that say when and where a run went, not what it computed.
WHERE = {"seconds", "worker"}


def _rows(folder: Path) -> list[dict]:
    with open(folder / "sweep.csv", newline="") as f:
        return list(csv.DictReader(f))


def _numbers(folder: Path) -> list[dict]:
    return [{k: v for k, v in r.items() if k not in WHERE} for r in _rows(folder)]


def _weights(folder: Path, run: str) -> dict:
    with np.load(folder / run / "model.npz", allow_pickle=False) as z:
        return {k: z[k] for k in z.files if k != "meta"}  # meta holds the run's own folder


def assert_same_sweep(a: Path, b: Path) -> None:
    """Two sweeps of one grid computed the same: every number of sweep.csv, every array of
    every model.npz and every history.csv, bit for bit."""
    rows = _numbers(a)
    assert rows == _numbers(b)
    for row in rows:
        assert row["status"] == "ok"
        wa, wb = _weights(a, row["run"]), _weights(b, row["run"])
        assert wa.keys() == wb.keys()
        for k in wa:
            np.testing.assert_array_equal(wa[k], wb[k], err_msg=f"{row['run']}: {k}")
        assert (a / row["run"] / "history.csv").read_bytes() == \
            (b / row["run"] / "history.csv").read_bytes()


# -- the grid --------------------------------------------------------------------------------------

def test_expand_gives_every_combination_once_named_for_its_settings(tmp_path):
    specs = sw.expand({"lr": [1.0, 0.1], "hidden": [(4, 4), (8, 8)], "activation": ["tanh"],
                       "epochs": [50]}, tmp_path)
    assert [(s.hidden, s.lr) for s in specs] == [((4, 4), 1.0), ((4, 4), 0.1), ((8, 8), 1.0),
                                                ((8, 8), 0.1)]
    assert all(s.activation == "tanh" and s.epochs == 50 and s.quiet for s in specs)
    assert specs[1].name == f"hidden=4x4_lr=0.1-{sw.run_id(specs[1])}"
    assert specs[1].out == str(tmp_path.absolute() / specs[1].name)
    assert len({s.name for s in specs}) == 4
    # the id is the settings' digest: where the run goes and what it prints do not change it
    again = sw.expand({"lr": [0.1], "hidden": [[4, 4]], "activation": ["tanh"],
                       "epochs": [50]}, tmp_path / "elsewhere")
    assert sw.run_id(again[0]) == sw.run_id(specs[1]) and again[0].name.startswith("run-")


@pytest.mark.parametrize("grid, message", [
    ({"lr": [1.0, 0.0]}, "--lr must be a number in (0, 1e+06], got 0.0"),
    ({"lr": [1.0, 1.0]}, "--lr lists 1 twice"),
    ({"lr": []}, "--lr has no value"),
    ({"activation": ["tanh", "swish"]}, "--activation: unknown activation 'swish'"),
    ({"data": ["xor", "nowhere"]}, "--data: unknown data set 'nowhere'"),
    ({"out": ["x"]}, "out: not a setting a sweep can vary"),
    ({"data": ["xor", "linear"], "fresh_data": [True]},
     "the run data=xor: --fresh-data needs a random data set (linear); 'xor' is fixed"),
    # XOR is a fixed grid: its runs would differ in name only
    ({"data": ["xor"], "n": [50, 100]},
     "the run n=50: --n does not apply to 'xor', a fixed grid of 21 points"),
    ({"n": [50]}, "--n does not apply to 'xor', a fixed grid of 21 points"),
    ({"data": ["xor", "linear"], "n": [50, 60]},
     "the run data=xor_n=50: --n does not apply to 'xor'"),
])
def test_expand_checks_every_value_and_combination(tmp_path, grid, message):
    with pytest.raises(ValueError) as e:
        sw.expand(grid, tmp_path)
    assert message in str(e.value)


def test_one_n_in_a_grid_with_a_random_data_set_is_that_data_sets(tmp_path):
    specs = sw.expand({"data": ["xor", "linear"], "n": [50]}, tmp_path)
    assert [(s.data, s.n) for s in specs] == [("xor", None), ("linear", 50)]


@pytest.mark.parametrize("args, message", [
    (["--lr", "1", "0"], "--lr must be a number in (0, 1e+06], got 0.0"),
    (["--hidden", "4,a"], "--hidden: '4,a' is not a list of sizes such as 4,4"),
    (["--hidden", "4,0"], "--hidden layer size must be an integer in [1, 65536], got 0"),
    (["--backend", "numpy", "gpu"], "--backend: unknown backend 'gpu'"),
    (["--epochs", "0"], "--epochs must be an integer in [1, 100000000], got 0"),
    (["--lr", "1", "--jobs", "0"], "--jobs must be an integer in [1, 1024], got 0"),
    (["--lr", "1", "--threads", "0"], "--threads: threads must be a positive integer"),
    (["--lr", "1", "--jobs", "2", "--scheduler", "tcp://127.0.0.1:1"],
     "--jobs is for local runs"),
    (["--out", "x"], "nothing to sweep"),
])
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, capsys, args, message):
    out = tmp_path / "sweep"
    assert main(["sweep", *args, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and err.startswith("fastnn: error: ")
    assert not out.exists()


def test_grid_file_and_flags(tmp_path, capsys):
    grid = tmp_path / "grid.toml"
    grid.write_text('data = "xor"\nepochs = 40\nlr = [1, 0.5]\nhidden = [[4, 4], [2, 3]]\n'
                    'clip = [-1024, 1023]\nbackend = "numpy"\n')
    out = tmp_path / "sweep"
    assert main(["sweep", "--grid", str(grid), "--lr", "0.3", "--out", str(out),
                 "--jobs", "1", "--quiet"]) == 0  # a flag replaces the file's values
    rows = _rows(out)
    assert [(r["hidden"], r["lr"]) for r in rows] == [("4,4", "0.3"), ("2,3", "0.3")]
    config = json.loads((out / rows[0]["run"] / "config.json").read_text())
    assert config["clip"] == [-1024.0, 1023.0] and config["epochs_run"] == 40
    assert "wrote" in capsys.readouterr().out
    bad = tmp_path / "bad.toml"
    for text, message in [('lr = [1, -2]\n', "bad.toml: lr must be a number in (0, 1e+06]"),
                          ('speed = 3\n', "speed: not a setting a sweep can vary"),
                          ('lr = [1,\n', "bad.toml: not valid TOML"),
                          ('[lr]\nx = 1\n', "bad.toml: lr: tables are not settings")]:
        bad.write_text(text)
        assert main(["sweep", "--grid", str(bad), "--out", str(tmp_path / "no")]) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err
    assert main(["sweep", "--grid", str(tmp_path / "missing.toml"), "--out", "x"]) == 2
    assert "missing.toml: No such file" in capsys.readouterr().err
    assert not (tmp_path / "no").exists()


# -- running it ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def serial(tmp_path_factory):
    """GRID swept in this process."""
    out = tmp_path_factory.mktemp("serial") / "sweep"
    assert main(["sweep", *GRID, "--out", str(out), "--jobs", "1", "--quiet"]) == 0
    return out


def test_every_run_has_its_folder_and_its_row(serial):
    rows = _rows(serial)
    assert len(rows) == 8 and (serial / "sweep.png").read_bytes()[:4] == b"\x89PNG"
    assert list(rows[0])[:3] == ["run", "id", "data"]
    assert {"final_loss", "final_accuracy", "test_loss", "test_accuracy", "epochs_run",
            "seconds", "status", "error", "worker"} <= set(rows[0])
    for row in rows:
        assert RUN_FILES <= {p.name for p in (serial / row["run"]).iterdir()}
        config = json.loads((serial / row["run"] / "config.json").read_text())
        # the row holds the run's own numbers, in full
        assert float(row["final_loss"]) == config["final_loss"]
        assert float(row["lr"]) == config["lr"] and row["activation"] == config["activation"]
        assert row["hidden"] == ",".join(map(str, config["hidden"]))
        assert row["status"] == "ok" and row["worker"] == f"local:{os.getpid()}"
        assert row["epochs_run"] == "300" and row["test_loss"] == ""  # XOR has no test set


def test_a_run_is_the_train_command(serial, tmp_path):
    """Each folder is what `fastnn train` writes for the same settings."""
    row = _rows(serial)[3]
    out = tmp_path / "train"
    assert main(["train", "--data", "xor", "--lr", row["lr"], "--hidden",
                 *row["hidden"].split(","), "--activation", row["activation"], "--epochs",
                 "300", "--out", str(out), "--quiet"]) == 0
    assert (out / "history.csv").read_bytes() == \
        (serial / row["run"] / "history.csv").read_bytes()
    assert (out / "output.txt").read_text() .splitlines()[:-1] == \
        (serial / row["run"] / "output.txt").read_text().splitlines()[:-1]


def test_two_processes_compute_what_one_does(serial, tmp_path):
    out = tmp_path / "sweep"
    assert main(["sweep", *GRID, "--out", str(out), "--jobs", "2", "--quiet"]) == 0
    assert_same_sweep(serial, out)
    workers = {r["worker"] for r in _rows(out)}
    assert all(w.startswith("local:") for w in workers) and f"local:{os.getpid()}" not in workers


def test_rerun_skips_finished_runs_and_retries_the_rest(serial, tmp_path, capsys):
    out = tmp_path / "sweep"
    args = ["sweep", "--data", "xor", "--lr", "1", "0.5", "--epochs", "50", "--out", str(out),
            "--jobs", "1"]
    assert main(args) == 0
    rows = _rows(out)
    model = out / rows[0]["run"] / "model.npz"
    stamp = model.stat().st_mtime_ns
    (out / rows[1]["run"] / "config.json").unlink()  # as if it had not finished
    capsys.readouterr()
    assert main([*args[:6], "0.25", *args[6:]]) == 0  # one more learning rate
    err = capsys.readouterr().err
    assert "3 runs, 1 finished earlier (skipped); 2 to run on this process" in err
    again = _rows(out)
    assert [r["lr"] for r in again] == ["1.0", "0.5", "0.25"]
    assert again[0] == rows[0] and model.stat().st_mtime_ns == stamp
    assert again[1]["final_loss"] == rows[1]["final_loss"]  # rerun: the same numbers
    assert all(r["status"] == "ok" for r in again)


def test_a_failing_run_is_a_row(tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b,label\n1,2,0\n3,oops,1\n")
    good = tmp_path / "good.csv"
    good.write_text("a,b,label\n" + "".join(f"{i % 3},{i % 5},{i % 2}\n" for i in range(20)))
    out = tmp_path / "sweep"
    code = main(["sweep", "--data", "xor", str(bad), str(good), "--lr", "0.05", "2000",
                 "--activation", "identity", "--output-activation", "identity", "--loss", "mse",
                 "--epochs", "200", "--out", str(out), "--jobs", "1"])
    err = capsys.readouterr().err
    assert code == 1 and "2 runs failed: see the error column" in err
    rows = {(Path(r["data"]).name, r["lr"]): r for r in _rows(out)}
    assert len(rows) == 6
    assert rows[("xor", "2000.0")]["status"] == "diverged"
    assert "training diverged: the loss became" in rows[("xor", "2000.0")]["error"]
    for lr in ("0.05", "2000.0"):
        assert rows[("bad.csv", lr)]["status"] == "error"
        assert "non-numeric cell 'oops' at line 3, column 2" in rows[("bad.csv", lr)]["error"]
    assert rows[("xor", "0.05")]["status"] == rows[("good.csv", "0.05")]["status"] == "ok"
    assert (out / "sweep.png").exists()
    assert not (out / rows[("bad.csv", "0.05")]["run"]).exists()  # nothing written for it
    assert main(["sweep", "--data", "xor", str(bad), str(good), "--lr", "0.05", "2000",
                 "--activation", "identity", "--output-activation", "identity", "--loss",
                 "mse", "--epochs", "200", "--out", str(out), "--jobs", "1"]) == 1
    ok = sum(r["status"] == "ok" for r in rows.values())
    assert f"6 runs, {ok} finished earlier (skipped); {6 - ok} to run" in \
        capsys.readouterr().err


def test_ctrl_c_stops_with_the_rows_so_far(tmp_path, monkeypatch, capsys):
    from fastnn.app import train

    real, calls = train.train_new, []

    def interrupted_third(spec):
        calls.append(spec.name)
        if len(calls) == 3:
            raise KeyboardInterrupt  # what train_new raises after Ctrl-C's epoch
        return real(spec)

    monkeypatch.setattr(train, "train_new", interrupted_third)
    out = tmp_path / "sweep"
    args = ["sweep", "--data", "xor", "--lr", "1", "0.5", "0.25", "0.1", "--epochs", "30",
            "--out", str(out), "--jobs", "1"]
    assert main(args) == 130
    assert "sweep interrupted (SIGINT): 3 of 4 runs in" in capsys.readouterr().err
    rows = _rows(out)
    assert [r["status"] for r in rows] == ["ok", "ok", "interrupted"]
    assert not list(out.glob(".*.tmp-*")) and not (out / ".fastnn.lock").exists()
    monkeypatch.setattr(train, "train_new", real)
    assert main(args) == 0
    assert [r["status"] for r in _rows(out)] == ["ok"] * 4
    assert _rows(out)[:2] == rows[:2]


def test_a_second_sweep_into_a_busy_folder_is_refused(tmp_path, capsys):
    from fastnn.app.common import OutFolder

    out = tmp_path / "sweep"
    with OutFolder(out):
        assert main(["sweep", "--lr", "1", "--epochs", "5", "--out", str(out)]) == 2
    assert "is in use by another fastnn run" in capsys.readouterr().err


def test_tasks_come_back_in_order_whatever_runs_them():
    for executor in (sw.Executor(jobs=1), sw.Executor(jobs=2)):
        seen: list[int] = []
        got = sw.run_tasks(abs, [-3, 1, -2, 5], executor, lambda i, r, seen=seen: seen.append(i))
        assert got == [3, 1, 2, 5] and sorted(seen) == [0, 1, 2, 3]


# -- report lab1 through the same executors --------------------------------------------------------

def test_report_runs_are_the_same_in_two_processes():
    parallel = sw.Pool(sw.Executor(jobs=2))
    a = report.run_lab_part(40, "numpy", seeds=(0, 2))
    b = report.run_lab_part(40, "numpy", seeds=(0, 2), pool=parallel)
    assert a.keys() == b.keys()
    for key in a:
        for field in ("loss_curve", "test_curve", "pred", "test_loss", "train_loss",
                      "diverged"):
            np.testing.assert_array_equal(np.asarray(a[key][field], dtype=object),
                                          np.asarray(b[key][field], dtype=object),
                                          err_msg=f"{key}: {field}")
    tasks = [report.OurTask(RunSpec(data=d, epochs=30, lr=lr)) for d in ("xor", "linear")
             for lr in (1.0, 0.1)]
    one = [report.run_one_task(t) for t in tasks]
    two = parallel.map(report.run_one_task, tasks)
    for x, y in zip(one, two, strict=True):
        assert x["loss_curve"] == y["loss_curve"] and x["test_loss"] == y["test_loss"]


def test_report_command_takes_jobs(tmp_path, capsys):
    """The same report, figures included, from two processes as from one."""
    for jobs in ("1", "2"):
        assert main(["report", "lab1", "--out", str(tmp_path / jobs), "--backend", "numpy",
                     "--epochs", "20", "--jobs", jobs]) == 0
    assert "runs on 2 processes" in capsys.readouterr().err
    one, two = ((tmp_path / j / "REPORT.md").read_text().splitlines() for j in ("1", "2"))
    assert one[3:] == two[3:]  # below the line that says how long it took
    for png in (tmp_path / "1").glob("*.png"):
        assert png.read_bytes() == (tmp_path / "2" / png.name).read_bytes(), png.name
    assert main(["report", "lab1", "--jobs", "0", "--out", str(tmp_path / "x")]) == 2
    assert "--jobs must be an integer" in capsys.readouterr().err


# -- on a Dask cluster -----------------------------------------------------------------------------

@pytest.mark.slow
def test_a_dask_local_cluster_computes_what_one_process_does(serial, tmp_path):
    """A real LocalCluster: two worker processes, one thread each; the same numbers, bit for
    bit, and the workers' addresses in the worker column."""
    distributed = pytest.importorskip("distributed")
    out = tmp_path / "sweep"
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        assert main(["sweep", *GRID, "--out", str(out), "--scheduler",
                     cluster.scheduler_address, "--quiet"]) == 0
        addresses = set(cluster.workers[name].worker_address for name in cluster.workers)
    assert_same_sweep(serial, out)
    workers = {r["worker"] for r in _rows(out)}
    assert workers <= addresses and all(w.startswith("tcp://") for w in workers)


@pytest.mark.slow
def test_numba_runs_are_the_same_in_one_process_two_and_on_a_cluster(tmp_path):
    """The numba backend's fused step and mini-batches too: serial, two processes and a
    LocalCluster give the same losses and weights."""
    distributed = pytest.importorskip("distributed")
    grid = ["--data", "linear", "xor", "--backend", "numba", "--optimizer", "sgd", "adam",
            "--lr", "0.5", "0.05", "--batch-size", "16", "--epochs", "200", "--quiet"]
    assert main(["sweep", *grid, "--out", str(tmp_path / "one"), "--jobs", "1"]) == 0
    assert main(["sweep", *grid, "--out", str(tmp_path / "two"), "--jobs", "2"]) == 0
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        assert main(["sweep", *grid, "--out", str(tmp_path / "dask"), "--scheduler",
                     cluster.scheduler_address]) == 0
    assert_same_sweep(tmp_path / "one", tmp_path / "two")
    assert_same_sweep(tmp_path / "one", tmp_path / "dask")


def _dask_command() -> list[str]:
    script = Path(sys.executable).with_name("dask")
    return [str(script)] if script.exists() else [sys.executable, "-m", "dask"]


def _wait_for(path: Path, what: str, procs, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        for p in procs:
            if p.poll() is not None:
                raise AssertionError(f"{what}: a dask process ended with {p.returncode}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not ready after {timeout} s")
        time.sleep(0.2)


@pytest.mark.slow
def test_the_dask_command_line_example(serial, tmp_path):
    """The README's example: `dask scheduler`, `dask worker` with two processes of one thread,
    then `fastnn sweep --scheduler-file` (the scheduler file names the port it chose)."""
    pytest.importorskip("distributed")
    sched_file = tmp_path / "scheduler.json"
    dask = _dask_command()
    env = dict(os.environ, DASK_DISTRIBUTED__WORKER__DAEMON="True")
    logs = open(tmp_path / "dask.log", "w")
    procs = [subprocess.Popen([*dask, "scheduler", "--host", "127.0.0.1", "--port", "0",
                               "--no-dashboard", "--scheduler-file", str(sched_file)],
                              stdout=logs, stderr=subprocess.STDOUT, env=env)]
    try:
        _wait_for(sched_file, "dask scheduler", procs)
        procs.append(subprocess.Popen([*dask, "worker", "--scheduler-file", str(sched_file),
                                       "--nworkers", "2", "--nthreads", "1", "--no-dashboard",
                                       "--local-directory", str(tmp_path / "work")],
                                      stdout=logs, stderr=subprocess.STDOUT, env=env))
        from distributed import Client

        with Client(scheduler_file=str(sched_file), timeout=30) as client:
            client.wait_for_workers(2, timeout=60)
            address = client.scheduler.address
        for how in (["--scheduler", address], ["--scheduler-file", str(sched_file)]):
            out = tmp_path / f"sweep{how[0]}"
            result = subprocess.run([sys.executable, "-m", "fastnn.app.cli", "sweep", *GRID,
                                     "--out", str(out), *how],
                                    capture_output=True, text=True, timeout=300)
            assert result.returncode == 0, result.stderr
            assert "[8/8]" in result.stderr and "Dask cluster at tcp://" in result.stderr
            assert_same_sweep(serial, out)
            assert all(r["worker"].startswith("tcp://127.0.0.1:") for r in _rows(out))
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in reversed(procs):
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        logs.close()
