"""The README's Benchmarks block and reports/BENCHMARKS.md are what the committed
reports/benchmarks.json generates (``fastnn bench --report-only reports/benchmarks.json
--readme README.md`` rewrites both): a hand edit or a stale number fails here."""

import json
from pathlib import Path

import pytest

from fastnn.app import bench
from fastnn.app.cli import main

ROOT = Path(__file__).resolve().parent.parent
RESULTS = json.loads((ROOT / "reports" / "benchmarks.json").read_text())
REGEN = "fastnn bench --report-only reports/benchmarks.json --readme README.md"


def _readme_block(text: str) -> str:
    start = text.index(bench.README_BEGIN) + len(bench.README_BEGIN) + 1
    return text[start:text.index(bench.README_END)]


def test_readme_benchmarks_block_is_generated_from_the_committed_json():
    assert _readme_block((ROOT / "README.md").read_text()) == bench.readme_block(RESULTS), \
        f"README's Benchmarks block is stale: run {REGEN}"


def test_benchmarks_md_is_generated_from_the_committed_json():
    assert (ROOT / "reports" / "BENCHMARKS.md").read_text() == bench.markdown(RESULTS), \
        f"reports/BENCHMARKS.md is stale: run {REGEN}"


def _one_run() -> dict:
    def row(name, workload, backend, median, **info):
        return {"name": name, "group": workload, "stats": {"median": median},
                "extra_info": {"workload": workload, "backend": backend, "dtype": "float64",
                               **info}}
    return {"datetime": "2026-01-02T03:04:05", "benchmarks": [
        row("a", "lab-mlp-epoch", "numba", 4e-4, epochs_per_round=100),
        row("b", "lab-mlp-epoch", "numpy", 6e-3, epochs_per_round=100),
        row("c", "lab-mlp-epoch", "reference", 0.2, epochs_per_round=100),
        row("d", "lab-mlp-epoch", "pytorch-9.9", 2e-2, threads=1, epochs_per_round=100),
        row("e", "lab-mlp-epoch", "pytorch-9.9", 3e-2, threads=2, epochs_per_round=100)]}


def test_readme_block_numbers_come_from_the_results():
    block = bench.readme_block(_one_run())
    # per epoch: 4 µs numba, 60 µs numpy against PyTorch's faster row, 200 µs
    assert "| lab MLP epoch (2-4-4-1, 100 points, SGD, float64) | numba 4 µs | 200 µs | " \
           "**1/50** |" in block
    assert "| ″ numpy backend | numpy 60 µs | 200 µs | 0.30 |" in block
    assert "15× faster on numba than on numpy and 500×\nfaster than on `reference`." in block
    assert "(2026-01-02)" in block
    assert "digits" not in block  # a workload absent from the run leaves its row out


def test_replace_readme_block_keeps_the_rest_and_refuses_a_readme_without_markers():
    text = f"# t\n\n{bench.README_BEGIN}\nold\n{bench.README_END}\n\nafter\n"
    assert bench.replace_readme_block(text, "new\n") == \
        f"# t\n\n{bench.README_BEGIN}\nnew\n{bench.README_END}\n\nafter\n"
    with pytest.raises(ValueError) as e:
        bench.replace_readme_block("# t\n", "new\n")
    assert str(e.value) == (f"the README has no {bench.README_BEGIN!r} ... "
                            f"{bench.README_END!r} block")


def test_report_only_rewrites_the_reports_and_readme_from_a_json(tmp_path, monkeypatch, capsys):
    (tmp_path / "r.json").write_text(json.dumps(_one_run()))
    readme = tmp_path / "README.md"
    readme.write_text(f"top\n{bench.README_BEGIN}\nstale\n{bench.README_END}\nend\n")
    monkeypatch.chdir(tmp_path)
    code = main(["bench", "--report-only", "r.json", "--readme", "README.md", "--out", "out"])
    out, err = capsys.readouterr()
    assert (code, err) == (0, "")
    assert out == "wrote out/BENCHMARKS.md, benchmarks.png\n" \
                       "wrote the Benchmarks block of README.md\n"
    assert readme.read_text() == (f"top\n{bench.README_BEGIN}\n{bench.readme_block(_one_run())}"
                                  f"{bench.README_END}\nend\n")
    assert (tmp_path / "out" / "BENCHMARKS.md").read_text() == bench.markdown(_one_run())


@pytest.mark.parametrize("args, message", [
    (["--report-only", "r.json", "--full"], "--report-only writes reports from a finished run's "
     "json; it runs nothing, so --full, --filter and --compare do not apply"),
    (["--report-only", "r.json", "--filter", "lab"], "so --full, --filter and --compare"),
    (["--readme", "README.md"], "--readme needs a whole run: the README's block states a --full "
     "run of every workload; add --full and drop --filter"),
    (["--readme", "README.md", "--full", "--filter", "lab"], "--readme needs a whole run"),
])
def test_bench_refuses_a_readme_from_a_partial_run(tmp_path, monkeypatch, capsys, args, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "r.json").write_text(json.dumps(_one_run()))
    (tmp_path / "README.md").write_text(f"{bench.README_BEGIN}\n{bench.README_END}\n")
    assert main(["bench", *args, "--out", "out"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("fastnn: error: ") and message in err
    assert (tmp_path / "README.md").read_text() == f"{bench.README_BEGIN}\n{bench.README_END}\n"
