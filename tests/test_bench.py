"""Benchmark reports: tables, ratios and the yardstick-relative regression check; the suite
shipped in the package, and ``fastnn bench`` from an installed wheel."""

import importlib.metadata
import json
import os
import re
import shutil
import site
import subprocess
import sys
from pathlib import Path

import pytest

from fastnn.app import bench

ROOT = Path(__file__).resolve().parents[1]


def result(name, workload, backend, median, dtype="float64", flops=None, threads=None):
    return {"name": name, "fullname": f"benchmarks/x.py::{name}", "group": workload,
            "stats": {"median": median},
            "extra_info": {"workload": workload, "backend": backend, "dtype": dtype,
                           "flops": flops, "threads": threads}}


def run(scale=1.0, slow_numpy=1.0):
    return {"datetime": "2026-11-27", "benchmarks": [
        result("yard", "yardstick", "python", 1e-3 * scale),
        result("peak", "gemm-peak", "numpy-blas", 1.0 * scale, flops=40e9),
        result("ref", "w", "reference", 100e-3 * scale, flops=1e6),
        result("np", "w", "numpy", 2e-3 * scale * slow_numpy, flops=1e6),
        result("torch1", "w", "pytorch-2.13", 8e-3 * scale, threads=1),
        result("torch2", "w", "pytorch-2.13", 10e-3 * scale, threads=2),
    ]}


def test_markdown_ratios():
    text = bench.markdown(run())
    row = next(line for line in text.splitlines() if line.startswith("| numpy |"))
    cells = [c.strip() for c in row.split("|")[1:-1]]
    assert cells[2] == "2 ms"        # median
    assert cells[3] == "50.0×"       # reference 100 ms / 2 ms
    assert cells[4] == "4.00×"       # the faster PyTorch row, 8 ms / 2 ms
    assert cells[5] == "0.50"        # 1e6 flops / 2 ms = 0.5 GFLOP/s
    assert cells[6] == "1.2"         # of the 40 GFLOP/s peak
    assert "GEMM peak measured in this run" in text


def test_markdown_scikit_learn_column_only_where_it_has_a_row():
    results = run()
    results["benchmarks"] += [result("sk", "d", "sklearn-1.9", 30e-3),
                              result("nb", "d", "numba", 6e-3),
                              result("t1", "d", "pytorch-2.13", 20e-3, threads=1)]
    text = bench.markdown(results)
    row = next(line for line in text.splitlines() if line.startswith("| numba |"))
    cells = [c.strip() for c in row.split("|")[1:-1]]
    assert cells[4:6] == ["3.33×", "5.00×"]  # vs PyTorch 20/6, vs scikit-learn 30/6
    w = text.split("## w")[1].split("## ")[0]
    assert "scikit-learn" not in w and "| backend | dtype | median | vs reference | vs PyTorch" \
        " | GFLOP/s | % peak |" in w


def test_markdown_cold_start_table():
    results = run()
    cold = result("cs", "numba-cold-start", "numba", 0.5)
    cold["extra_info"].update(cold_s=7.95, warm_s=0.52, import_s=0.37, first_epoch_s=0.142)
    results["benchmarks"].append(cold)
    text = bench.markdown(results)
    assert "| numba | 7.95 s | 0.52 s | 0.37 s | 0.142 s |" in text


def test_markdown_sweep_table():
    results = run()
    for name, kind, processes, median, speedup in [("s1", "1 process", 1, 12.0, None),
                                                   ("s2", "2 processes", 2, 6.4, None),
                                                   ("s3", "LocalCluster", 2, 8.0, 1.7)]:
        row = result(name, "sweep-lab1", "numba", median)
        row["extra_info"].update(executor=kind, processes=processes, runs=32, epochs=20_000,
                                 variant=kind, speedup=speedup)
        results["benchmarks"].append(row)
    text = bench.markdown(results).split("## sweep-lab1")[1].split("## ")[0]
    assert "32 runs of 20,000 epochs" in text
    assert "| 1 process | 1 | 12 s | 375 ms | 1.00× |" in text
    assert "| 2 processes | 2 | 6.4 s | 200 ms | 1.88× † |" in text  # of the medians
    assert "| LocalCluster | 2 | 8 s | 250 ms | 1.70× |" in text  # of its alternating pairs


def test_slower_machine_is_not_a_regression():
    table, regressed = bench.compare(run(), run(scale=2.0))
    assert not regressed and "machine speed factor 2.00" in table


def test_regression_is_caught():
    table, regressed = bench.compare(run(), run(scale=2.0, slow_numpy=1.3))
    assert regressed
    line = next(line for line in table.splitlines() if "::np " in line)
    assert "REGRESSION" in line and "+30.0%" in line
    _, regressed = bench.compare(run(), run(slow_numpy=1.2))
    assert not regressed  # within the default 25 %
    _, regressed = bench.compare(run(), run(slow_numpy=1.2), threshold=0.1)
    assert regressed


def test_compare_needs_a_yardstick():
    no_yard = run()
    no_yard["benchmarks"] = no_yard["benchmarks"][1:]
    with pytest.raises(ValueError, match="no 'yardstick' benchmark"):
        bench.compare(no_yard, run())


def test_load_results_errors(tmp_path):
    with pytest.raises(ValueError, match="cannot read"):
        bench.load_results(tmp_path / "missing.json")
    (tmp_path / "a.json").write_text("{")
    with pytest.raises(ValueError, match="is not valid JSON"):
        bench.load_results(tmp_path / "a.json")
    (tmp_path / "b.json").write_text(json.dumps({"x": 1}))
    with pytest.raises(ValueError, match="not a pytest-benchmark results file"):
        bench.load_results(tmp_path / "b.json")


def test_chart_is_written(tmp_path):
    from fastnn.app.plots import benchmark_chart

    benchmark_chart(bench.rows(run()), tmp_path / "b.png")
    assert (tmp_path / "b.png").read_bytes()[:4] == b"\x89PNG"


def test_machine_info_names_the_blas():
    info = bench.machine_info()
    assert info["cores"] >= 1 and info["versions"]["numpy"]
    assert any(lib["internal_api"] for lib in info["blas"])


def test_compare_matches_benchmarks_across_folders():
    """A baseline from a checkout's ``benchmarks/`` judges a run of the installed suite."""
    installed = run(slow_numpy=1.3)
    for b in installed["benchmarks"]:
        b["fullname"] = b["fullname"].replace("benchmarks/", "")
    table, regressed = bench.compare(run(), installed)
    assert regressed and "| x.py::np |" in table and "not in this run" not in table


def test_every_packaged_benchmark_has_its_checkout_entry_point():
    """``pytest benchmarks/`` must run the whole packaged suite, one re-export per file."""
    suite = sorted(p.name for p in bench.benchmarks_dir().glob("test_*.py"))
    assert suite == sorted(p.name for p in (ROOT / "benchmarks").glob("test_*.py"))
    for name in suite:
        text = (ROOT / "benchmarks" / name).read_text()
        assert f"from fastnn.app.bench_suite.{name[:-3]} import *" in text, name


# -- fastnn bench from a wheel ----------------------------------------------------------------

def _run(cmd, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kwargs)


def _pip(venv_python, *args) -> subprocess.CompletedProcess:
    """pip of this environment working on another interpreter (the new venv has no pip); skip
    the test when it had to reach a package index that is unreachable."""
    done = _run([sys.executable, "-m", "pip", "--disable-pip-version-check",
                 *(["--python", venv_python] if venv_python else []), *args])
    offline = ("NewConnectionError", "Failed to establish a new connection",
               "Temporary failure in name resolution", "Could not fetch URL", "ConnectTimeout")
    if done.returncode and any(s in done.stdout + done.stderr for s in offline):
        pytest.skip(f"the package index is unreachable (pip {args[0]})")
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def _is_pytest(name: str) -> bool:
    return re.match(r"(_?pytest(_benchmark)?|py)([-.]|$)", name) is not None


def _link_dependencies(folder: Path, pytest_too: bool) -> None:
    """Links to this environment's installed packages except fastnn itself (and pytest with
    pytest-benchmark unless ``pytest_too``): the dependencies pip resolved already."""
    folder.mkdir(exist_ok=True)
    for sp in site.getsitepackages():
        for entry in Path(sp).iterdir() if Path(sp).is_dir() else ():
            name = entry.name
            if (name.startswith(("fastnn", "__editable__")) or (folder / name).exists()
                    or (_is_pytest(name) and not pytest_too)):
                continue
            (folder / name).symlink_to(entry)


def _fastnn_bench(venv: Path, cwd: Path, *args) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    return _run([venv / "bin" / "fastnn", "bench", *args], cwd=cwd, env=env)


@pytest.mark.slow
def test_bench_from_an_installed_wheel(tmp_path):
    """A wheel of this tree in a fresh venv: ``fastnn bench`` without the bench extra says how
    to install it; with it, it runs the packaged suite in an empty folder, no checkout around.

    The venv reaches the dependencies this environment already has through a ``.pth`` to a
    folder of links (fastnn's own files left out), so pip resolves the extra against them
    instead of downloading.
    """
    src = tmp_path / "src"
    shutil.copytree(ROOT / "fastnn", src / "fastnn",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    try:
        # the build needs setuptools>=77; this environment's, when it has one, avoids a download
        new_setuptools = int(importlib.metadata.version("setuptools").split(".")[0]) >= 77
    except importlib.metadata.PackageNotFoundError:
        new_setuptools = False
    _pip(None, "wheel", "--no-deps", "-q", "-w", tmp_path / "dist", src,
         *(["--no-build-isolation"] if new_setuptools else []))
    wheel = next((tmp_path / "dist").glob("fastnn-*.whl"))

    venv = tmp_path / "venv"
    assert _run([sys.executable, "-m", "venv", "--without-pip", venv]).returncode == 0
    python = venv / "bin" / "python"
    purelib = _run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"])
    deps = tmp_path / "deps"
    _link_dependencies(deps, pytest_too=False)
    (Path(purelib.stdout.strip()) / "_fastnn_test_deps.pth").write_text(f"{deps}\n")
    _pip(python, "install", "-q", wheel)
    empty = tmp_path / "empty"
    empty.mkdir()
    where = _run([python, "-c", "import fastnn; print(fastnn.__file__)"], cwd=empty).stdout
    assert where.startswith(str(venv)), where  # the wheel, not this checkout
    done = _fastnn_bench(venv, empty, "--filter", "yardstick")
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.count("\n") == 1 and "pip install 'fastnn[bench]'" in done.stderr
    assert not any(empty.iterdir())

    _link_dependencies(deps, pytest_too=True)
    _pip(python, "install", "-q", f"{wheel}[bench]")
    done = _fastnn_bench(venv, empty, "--filter", "yardstick")
    assert done.returncode == 0, done.stdout + done.stderr
    reports = empty / "reports"
    results = json.loads((reports / "benchmarks.json").read_text())
    assert [b["name"] for b in results["benchmarks"]
            if b["extra_info"]["workload"] == "yardstick"] == ["test_yardstick"]
    assert "## yardstick" in (reports / "BENCHMARKS.md").read_text()
    assert (reports / "benchmarks.png").stat().st_size > 0
