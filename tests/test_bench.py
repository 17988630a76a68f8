"""Benchmark reports: tables, ratios and the yardstick-relative regression check."""

import json

import pytest

from fastnn.app import bench


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
