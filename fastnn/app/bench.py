"""``fastnn bench``: run the benchmark suite and turn its results into reports.

The suite is the pytest-benchmark files shipped in ``fastnn.app.bench_suite`` (installed with
the package; pytest and pytest-benchmark come with the ``bench`` extra), run in a fresh
interpreter. From its JSON this module writes ``benchmarks.json`` (the raw results plus
machine information), ``BENCHMARKS.md`` (per workload: median, speed-up over the reference
backend, speed relative to PyTorch, GFLOP/s and share of this machine's GEMM peak measured in
the same run) and ``benchmarks.png``; and, given a baseline, judges regressions on times
relative to the ``yardstick`` benchmark of each run, so a slower machine is not a regression.
"""

from __future__ import annotations

import importlib.util
import json
import os
import platform
import subprocess
import sys
import tempfile
import textwrap
from collections import defaultdict
from pathlib import Path

from .._checks import read_json_object
from ..io.atomic import finite_or_null, write_json, write_text

#: A benchmark regresses when its yardstick-relative time grows by more than this fraction.
DEFAULT_THRESHOLD = 0.25


#: What the suite needs beyond fastnn's own dependencies (module name: distribution name).
_SUITE_REQUIREMENTS = {"pytest": "pytest", "pytest_benchmark": "pytest-benchmark"}

#: Environment variables through which a user's pytest set-up would reach the suite's run.
_PYTEST_ENV = ("PYTEST_ADDOPTS", "PYTEST_PLUGINS")


def benchmarks_dir() -> Path:
    """The folder of the benchmark suite shipped with fastnn.

    Returns
    -------
    pathlib.Path
        The installed ``fastnn/app/bench_suite`` folder, with its ``conftest.py`` and
        ``pytest.ini``.

    Raises
    ------
    ValueError
        When pytest or pytest-benchmark is not importable (the ``bench`` extra is not
        installed), or the suite's files are missing from this install.
    """
    missing = [dist for module, dist in _SUITE_REQUIREMENTS.items()
               if importlib.util.find_spec(module) is None]
    if missing:
        raise ValueError(f"the benchmark suite needs {' and '.join(missing)}: "
                         "pip install 'fastnn[bench]'")
    from .bench_suite import SUITE_DIR

    if not all((SUITE_DIR / name).is_file() for name in ("conftest.py", "pytest.ini")):
        raise ValueError(f"the benchmark suite is incomplete in {SUITE_DIR}: reinstall fastnn")
    return SUITE_DIR


def machine_info() -> dict:
    """CPU model, cores, BLAS libraries and their kernels, and package versions."""
    import numpy as np
    from threadpoolctl import threadpool_info

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = {"python": platform.python_version(), "numpy": np.__version__}
    for name in ("numba", "torch", "fastnn"):
        try:
            versions[name] = __import__(name).__version__
        except ImportError:
            versions[name] = None
    blas = [{k: lib.get(k) for k in ("internal_api", "version", "architecture",
                                     "num_threads", "threading_layer")}
            for lib in threadpool_info()]
    return {"cpu": cpu, "cores": os.cpu_count(), "platform": platform.platform(),
            "blas": blas, "versions": versions,
            "env": {k: os.environ[k] for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE",
                                                "NUMBA_NUM_THREADS", "OMP_NUM_THREADS")
                    if k in os.environ}}


def run_suite(json_path: Path, full: bool = False, filter: str | None = None) -> int:
    """Run the packaged suite under pytest-benchmark in a subprocess.

    The run is isolated from the caller's pytest set-up: the suite's own ``pytest.ini`` is the
    only configuration (no ini file of the current folder or above the install applies),
    plugins other than pytest-benchmark are not loaded (a user's pytest-randomly or xdist
    would change what is measured), ``PYTEST_ADDOPTS`` is dropped, and the subprocess works in
    the folder of ``json_path`` (``bench`` uses a scratch folder), as its working folder lands
    on ``sys.path`` where a ``fastnn/`` in the caller's folder would shadow the installed one.

    Parameters
    ----------
    json_path : pathlib.Path
        Where pytest-benchmark writes its JSON results.
    full : bool
        Every round of every benchmark; otherwise ``--quick``.
    filter : str, optional
        A pytest ``-k`` expression selecting benchmarks.

    Returns
    -------
    int
        pytest's exit code.
    """
    suite = benchmarks_dir()
    json_path = Path(json_path).resolve()
    cmd = [sys.executable, "-m", "pytest", str(suite), "-c", str(suite / "pytest.ini"),
           "--rootdir", str(suite), "-p", "pytest_benchmark.plugin", "-p", "no:cacheprovider",
           "--benchmark-only", f"--benchmark-json={json_path}", "-q",
           "--benchmark-columns=median,iqr,rounds"]
    if not full:
        cmd.append("--quick")
    if filter:
        cmd += ["-k", filter]
    env = {k: v for k, v in os.environ.items() if k not in _PYTEST_ENV}
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    return subprocess.call(cmd, env=env, cwd=json_path.parent)


# -- reading results --------------------------------------------------------------------------

def rows(results: dict) -> list[dict]:
    """One flat dict per benchmark: name, workload, backend, dtype, threads, median, flops,
    and a display label."""
    out = []
    for b in results.get("benchmarks", []):
        info = b.get("extra_info", {})
        out.append({"name": b["name"], "fullname": b.get("fullname", b["name"]),
                    "workload": info.get("workload", b.get("group") or "other"),
                    "backend": info.get("backend", "?"), "dtype": info.get("dtype", ""),
                    "threads": info.get("threads"), "flops": info.get("flops"),
                    "median": b["stats"]["median"], "info": info})
        out[-1]["label"] = _label(out[-1])
    return out


def _label(r: dict) -> str:
    label = r["backend"]
    if r["info"].get("variant"):
        label += f" ({r['info']['variant']})"
    if r["threads"]:
        label += f", {r['threads']} thr"
    return label


def _fmt_time(s: float) -> str:
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if s >= scale:
            return f"{s / scale:.3g} {unit}"
    return f"{s * 1e9:.3g} ns"


def _peaks(rs: list[dict]) -> dict[str, float]:
    return {r["dtype"]: r["flops"] / r["median"] for r in rs
            if r["workload"] == "gemm-peak" and r["flops"]}


#: What one call (one timed round) of each workload does, by workload name prefix: the
#: times in BENCHMARKS.md are medians of these calls.
WORKLOAD_CALLS = {
    "lab-mlp-epoch": "One call: 100 epochs of the lab MLP (2-4-4-1, sigmoid, MSE, full-batch "
                     "SGD, 100 points, float64) through `Trainer.fit`; per epoch, divide by 100.",
    "big-mlp-step": "One call: one training step of a 784-256-256-10 MLP (relu, sigmoid output, "
                    "MSE, SGD, batch 128, float32) through `Trainer.fit(X, y, epochs=1)`.",
    "digits-mlp-epoch": "One call: one epoch of the digits MLP (64-128-64-10, relu, softmax "
                        "cross-entropy, Adam, shuffled mini-batches of 32 over the digits "
                        "training split).",
    "digits-cnn-epoch": "One call: one epoch of the digits CNN (conv 1→16, pool, conv 16→32, "
                        "pool, dense → 10; softmax cross-entropy; Adam; mini-batches of 64).",
    "conv-lab-forward": "One call: the lab CNN's forward pass (10×3×28×28, conv 3→8 and 8→16, "
                        "3×3, padding 1, relu after each).",
    "conv-lab": "One call: forward and backward of the lab CNN (10×3×28×28, conv 3→8 and 8→16, "
                "3×3, padding 1, relu after each).",
    "conv-big-peak-memory": "One forward and backward of the big convolution in a fresh "
                            "process: the resident set's growth above its inputs.",
    "conv-big": "One call: forward and backward of one convolution 16→32, 3×3, padding 1, on "
                "64×16×32×32.",
    "conv-chain-busy": "The conv-chain round with a process of ours spinning on a core.",
    "conv-chain": "One call: a 512×512 dense product, the big convolution's forward, relu "
                  "forward and backward, the convolution's backward, one after another.",
    "elementwise-": "One call: one activation kernel, forward or backward, on 2M values.",
    "gemm-peak": "One call: NumPy's matmul of two 2048×2048 matrices (this machine's peak).",
    "yardstick": "One call: a fixed mix of pure-Python loops and small NumPy calls, no fastnn "
                 "code: `--compare` judges every time relative to it.",
}


def _what_a_call_does(workload: str) -> list[str]:
    for prefix, text in WORKLOAD_CALLS.items():
        if workload.startswith(prefix):
            return [text, ""]
    return []


def markdown(results: dict) -> str:
    """The BENCHMARKS.md text for one run's results."""
    rs = rows(results)
    peaks = _peaks(rs)
    m = results.get("fastnn_machine", {})
    lines = ["# fastnn benchmarks", "",
             "Generated by `fastnn bench` from one run; every ratio compares rows measured side "
             "by side in that run. Times are pytest-benchmark medians of one call; under each "
             "workload, what a call does.", ""]
    if m:
        blas = ", ".join(f"{b['internal_api']} {b['version']} ({b['architecture']}, "
                         f"{b['num_threads']} threads)" for b in m.get("blas", []))
        v = m.get("versions", {})
        lines += [f"- CPU: {m.get('cpu')}, {m.get('cores')} cores; BLAS: {blas or 'unknown'}",
                  "- versions: " + ", ".join(f"{k} {val}" for k, val in v.items() if val),
                  f"- date: {results.get('datetime', '?')}"]
        if m.get("env"):
            lines.append("- environment: " + ", ".join(f"{k}={val}"
                                                       for k, val in m["env"].items()))
        lines.append("")
    if peaks:
        lines += ["GEMM peak measured in this run (NumPy matmul 2048²): " + ", ".join(
            f"{dt} {p / 1e9:.1f} GFLOP/s" for dt, p in sorted(peaks.items())), ""]
    by_workload: dict[str, list[dict]] = defaultdict(list)
    for r in rs:
        by_workload[r["workload"]].append(r)
    for workload, group in by_workload.items():
        if all("peak_extra_MiB" in r["info"] for r in group):
            lines += [f"## {workload}", "", *_what_a_call_does(workload),
                      "| backend | dtype | peak extra memory | inputs |",
                      "|---|---|---:|---:|"]
            lines += [f"| {r['label']} | {r['dtype']} | {r['info']['peak_extra_MiB']} MiB | "
                      f"{r['info'].get('inputs_MiB', '')} MiB |"
                      for r in sorted(group, key=lambda r: (r["dtype"],
                                                            r["info"]["peak_extra_MiB"]))]
            lines.append("")
            continue
        if all("cold_s" in r["info"] for r in group):  # numba-cold-start: new processes
            lines += [f"## {workload}", "",
                      "A new process, from its first line to its first finished epoch of "
                      "`fastnn train --backend numba`'s default run.", "",
                      "| backend | cold: empty cache | warm: cache filled | of which imports "
                      "| of which first epoch |", "|---|---:|---:|---:|---:|"]
            lines += [f"| {r['label']} | {r['info']['cold_s']:.2f} s | {r['info']['warm_s']:.2f}"
                      f" s | {r['info']['import_s']:.2f} s | {r['info']['first_epoch_s']:.3f} s |"
                      for r in group]
            lines.append("")
            continue
        if all("executor" in r["info"] for r in group):  # sweep-*: whole sweeps per executor
            lines += _sweep_table(workload, group)
            continue
        sklearn = any(g["backend"].startswith("sklearn") for g in group)
        lines += [f"## {workload}", "", *_what_a_call_does(workload),
                  "| backend | dtype | median | vs reference | vs PyTorch | "
                  + ("vs scikit-learn | " if sklearn else "") + "GFLOP/s | % peak |",
                  "|---|---|---:|---:|---:|" + ("---:|" if sklearn else "") + "---:|---:|"]
        for r in sorted(group, key=lambda r: (r["dtype"], r["median"])):
            same = [g for g in group if g["dtype"] == r["dtype"]]
            ref = [g["median"] for g in same if g["backend"] == "reference"]
            torch = [g["median"] for g in same if g["backend"].startswith("pytorch")]
            skl = [g["median"] for g in same if g["backend"].startswith("sklearn")]
            vs_ref = f"{ref[0] / r['median']:.1f}×" if ref and r["backend"] != "reference" \
                else ""
            vs_torch = f"{min(torch) / r['median']:.2f}×" if torch else ""
            vs_skl = (f"{min(skl) / r['median']:.2f}× | " if skl else " | ") if sklearn else ""
            gf = r["flops"] / r["median"] / 1e9 if r["flops"] else None
            peak = peaks.get(r["dtype"])
            lines.append(f"| {r['label']} | {r['dtype']} | {_fmt_time(r['median'])} | {vs_ref} | "
                         f"{vs_torch} | {vs_skl}{'' if gf is None else f'{gf:.2f}'} | "
                         f"{'' if gf is None or not peak else f'{100 * gf * 1e9 / peak:.1f}'} |")
        lines.append("")
    lines += ["\"vs reference\" is the reference backend's time over this row's (higher is "
              "faster); \"vs PyTorch\" is the fastest PyTorch row's time over this row's (> 1: "
              "faster than PyTorch); \"vs scikit-learn\" the same for scikit-learn's row.", ""]
    return "\n".join(lines)


# -- the README's "Benchmarks" block -----------------------------------------------------------

#: The README's Benchmarks block lies between these two lines; ``fastnn bench`` rewrites it.
README_BEGIN = "<!-- bench:begin: written by `fastnn bench` from reports/benchmarks.json -->"
README_END = "<!-- bench:end -->"

#: The README table's rows: (title, workload, dtype, fastnn backends shown, headline row).
#: Each shown backend is its fastest row (any thread count); PyTorch is its fastest row.
_README_ROWS = [
    ("lab MLP epoch (2-4-4-1, 100 points, SGD, float64)", "lab-mlp-epoch", "float64",
     ("numba",), True),
    ("″ numpy backend", "lab-mlp-epoch", "float64", ("numpy",), False),
    ("digits MLP epoch (64-128-64-10, 1,438 images, batch 32, Adam), float64",
     "digits-mlp-epoch", "float64", ("numba",), True),
    ("″ float32", "digits-mlp-epoch", "float32", ("numba",), False),
    ("big MLP step (784-256-256-10, batch 128, float32)", "big-mlp-step", "float32",
     ("numpy", "numba"), False),
    ("lab CNN fwd+bwd (10×3×28×28, 3→8→16), float32", "conv-lab-float32", "float32",
     ("numba",), False),
    ("″ float64", "conv-lab-float64", "float64", ("numba",), False),
    ("big conv fwd+bwd (64×16×32×32, 16→32), float32", "conv-big-float32", "float32",
     ("numba",), False),
    ("″ float64", "conv-big-float64", "float64", ("numba",), False),
    ("conv chain (512² product, big conv fwd, relu fwd+bwd, conv bwd), float32",
     "conv-chain-float32", "float32", ("numba",), False),
    ("″ float64", "conv-chain-float64", "float64", ("numba",), False),
    ("digits-CNN epoch (1,438 images, batch 64), float32", "digits-cnn-epoch", "float32",
     ("numba",), False),
]


def _per_call(r: dict) -> float:
    """A row's time per epoch where a call runs several epochs (the lab MLP: 100)."""
    return r["median"] / (r["info"].get("epochs_per_round") or 1)


def _fastest(rs: list[dict], workload: str, dtype: str, prefix: str) -> dict | None:
    found = [r for r in rs if r["workload"] == workload and r["dtype"] == dtype
             and r["backend"].startswith(prefix)]
    return min(found, key=lambda r: r["median"]) if found else None


def _ratio(x: float) -> str:
    """fastnn ÷ PyTorch time: ``1/56`` when fastnn is more than 5× faster, else ``0.65``."""
    if x < 0.2:
        inv = 1 / x
        return f"1/{inv:.2g}" if inv < 100 else f"1/{inv:.0f}"
    return f"{x:.2f}"


def _speedup(x: float) -> str:
    return f"{x:.2g}×" if x < 100 else f"{x:.0f}×"


def _wrap(paragraph: str) -> str:
    return textwrap.fill(paragraph, width=96, break_long_words=False, break_on_hyphens=False)


def readme_block(results: dict) -> str:
    """The README's Benchmarks block (between :data:`README_BEGIN` and :data:`README_END`,
    both excluded) from one run's results: every number in it comes from ``results``; a
    workload missing from the run leaves its row or sentence out."""
    rs = rows(results)
    m = results.get("fastnn_machine", {})
    v = m.get("versions", {})
    blas = [b for b in m.get("blas", []) if b.get("version")]
    peaks = _peaks(rs)
    torch_v = (v.get("torch") or "").split("+")[0]
    skl = [r for r in rs if r["backend"].startswith("sklearn")]
    machine = [f"{m.get('cores', '?')}-core {m.get('cpu', '?')}"]
    machine += [f"{b['internal_api'].replace('openblas', 'OpenBLAS')} "
                f"{'.'.join(b['version'].split('.')[:3])}" for b in blas]
    machine += [f"{name} {v[key]}" for key, name in (("numpy", "NumPy"), ("numba", "Numba"))
                if v.get(key)]
    if torch_v:
        machine.append(f"PyTorch {torch_v} CPU")
    if skl:
        machine.append("scikit-learn " + skl[0]["backend"].split("-", 1)[-1])
    day = results.get("datetime", "?")[:10]
    out = [_wrap(f"Measured by `fastnn bench --full` in one run ({day}) "
           f"on this project's machine ({', '.join(machine)}), medians; every ratio compares "
           "rows of that one run. The machine is shared and the same rows move between runs, "
           "which is why only same-run ratios are quoted"
           + (" (the GEMM peak measured in this run: " + ", ".join(
               f"{p / 1e9:.0f} GFLOP/s {dt}" for dt, p in sorted(peaks.items(), reverse=True))
              + ")" if peaks else "")
           + ". The whole report — every backend and thread count, GFLOP/s and share of that "
           "peak — is [`reports/BENCHMARKS.md`](reports/BENCHMARKS.md), charted in "
           "[`reports/benchmarks.png`](reports/benchmarks.png); `reports/baseline.json` is a "
           "run kept for `fastnn bench --compare`."), "",
           f"| workload | fastest fastnn | PyTorch {torch_v or '?'} (faster of 1, 2 threads) "
           "| fastnn ÷ PyTorch time |", "|---|---|---|---:|"]
    for title, workload, dtype, backends, headline in _README_ROWS:
        ours = [r for r in (_fastest(rs, workload, dtype, b) for b in backends) if r]
        torch = _fastest(rs, workload, dtype, "pytorch")
        if not ours or torch is None:
            continue
        best = min(_per_call(r) for r in ours)
        ratio = _ratio(best / _per_call(torch))
        out.append(f"| {title} | "
                   + ", ".join(f"{r['backend']} {_fmt_time(_per_call(r))}" for r in ours)
                   + f" | {_fmt_time(_per_call(torch))} | "
                   + (f"**{ratio}**" if headline else ratio) + " |")
    out.append("")
    prose = []
    for dtype in ("float64", "float32"):
        s = _fastest(rs, "digits-mlp-epoch", dtype, "sklearn")
        n = _fastest(rs, "digits-mlp-epoch", dtype, "numba")
        if s and n:
            prose.append(f"{s['median'] / n['median']:.2g}× in {dtype} "
                         f"({_fmt_time(s['median'])} against {_fmt_time(n['median'])})")
    text = []
    if prose:
        text.append("Against scikit-learn's `MLPClassifier` (same sizes, Adam, batch 32, one "
                    "epoch by `partial_fit`): the digits MLP epoch is faster on numba by "
                    + " and ".join(prose) + ".")
    ref, npy, nba = (_fastest(rs, "lab-mlp-epoch", "float64", b)
                     for b in ("reference", "numpy", "numba"))
    if ref and npy and nba:
        text.append(f"Against the other backends: the lab MLP epoch is "
                    f"{_speedup(npy['median'] / nba['median'])} faster on numba than on numpy "
                    f"and {_speedup(ref['median'] / nba['median'])} faster than on "
                    "`reference`.")
    ref, im2col, nba = (_fastest(rs, "conv-lab-forward-float64", "float64", b)
                        for b in ("reference", "numpy-im2col", "numba"))
    if ref and im2col and nba:
        text.append(f"The lab CNN forward pass (float64) is "
                    f"{_speedup(ref['median'] / nba['median'])} (numba) and "
                    f"{_speedup(ref['median'] / im2col['median'])} (numpy im2col) faster "
                    "than the nested loops.")
    worst = None
    for r in rs:
        if r["workload"].startswith("elementwise-") and r["backend"] == "numba":
            base = _fastest(rs, r["workload"], r["dtype"], "numpy")
            if base and (worst is None or r["median"] / base["median"] > worst[0]):
                worst = (r["median"] / base["median"], r)
    if worst:
        op = worst[1]["workload"].removeprefix("elementwise-").replace("-", " ")
        text.append("Every activation kernel of numba, forward and backward, takes at most "
                    f"{worst[0]:.2f}× NumPy's time for the same op on "
                    f"{worst[1]['info'].get('values', 0) / 1e6:.0f}M values "
                    f"({op}, {worst[1]['dtype']}).")
    mem = {r["backend"]: r["info"]["peak_extra_MiB"] for r in rs
           if r["workload"] == "conv-big-peak-memory" and r["dtype"] == "float32"}
    names = (("numba", "numba"), ("torch", "PyTorch"), ("numpy-im2col", "numpy im2col"),
             ("numpy-einsum", "einsum"))
    if mem:
        text.append("Peak extra memory of the big convolution's forward and backward, float32: "
                    + ", ".join(f"{name} {mem[key]:.0f} MiB" for key, name in names
                                if key in mem) + ".")
    cold = [r for r in rs if r["workload"] == "numba-cold-start"]
    if cold:
        c = cold[0]["info"]
        text.append("A new process with a filled Numba cache reaches its first epoch of "
                    f"`fastnn train --backend numba` {c['warm_s']:.2f} s after it starts "
                    f"({c['import_s']:.2f} s of imports, {c['first_epoch_s']:.2f} s in `fit`); "
                    f"with an empty cache, after installing, {c['cold_s']:.1f} s "
                    "(`numba-cold-start`).")
    out += [_wrap(" ".join(text)), ""] if text else []
    sweep = [r for r in rs if r["workload"] == "sweep-lab1"]
    if sweep:
        info = sweep[0]["info"]
        parts = []
        for r in sorted(sweep, key=lambda r: -r["median"]):
            i = r["info"]
            s = f"{i['executor']} {r['median']:.1f} s"
            if i.get("speedup") is not None:
                s += f" (**{i['speedup']:.2f}×**)"
            parts.append(s)
        out += [_wrap(f"**Sweeps** (`sweep-lab1`: {info.get('runs')} runs of "
                f"{info.get('epochs'):,} epochs each on numba, the grid of `fastnn report "
                "lab1`'s part 2, every run's files written, as one `fastnn sweep`). Each run "
                "is CPU-bound, so runs in parallel gain up to the number of free cores. In "
                "the same run: " + ", ".join(parts) + "; the speed-ups are medians of sweeps "
                "alternating with one process. On a machine whose other core is busy they "
                "shrink."), ""]
    return "\n".join(out)


def replace_readme_block(text: str, block: str) -> str:
    """``text`` (a README) with its Benchmarks block replaced by ``block``."""
    start, end = text.find(README_BEGIN), text.find(README_END)
    if start < 0 or end < start:
        raise ValueError(f"the README has no {README_BEGIN!r} ... {README_END!r} block")
    return text[:start + len(README_BEGIN)] + "\n" + block + text[end:]


def _sweep_table(workload: str, group: list[dict]) -> list[str]:
    """A sweep workload: each executor's time for the whole sweep, per run, and its speed-up
    over one process (from the row's alternating pairs when it has them: the machine may be
    busier during one row than another)."""
    one = [r["median"] for r in group if r["info"].get("processes") == 1]
    first = group[0]["info"]
    lines = [f"## {workload}", "",
             f"One whole `fastnn sweep` of {first.get('runs')} runs of {first.get('epochs'):,} "
             "epochs (every run's files written), per executor. *vs 1 process*: the median "
             "ratio of sweeps alternating with one process (†: of the medians instead).", "",
             "| executor | processes | median | per run | vs 1 process |",
             "|---|---:|---:|---:|---:|"]
    for r in sorted(group, key=lambda r: -r["median"]):
        info = r["info"]
        if info.get("speedup") is not None:
            speedup = f"{info['speedup']:.2f}×"
        elif info.get("processes") == 1:
            speedup = "1.00×"
        else:
            speedup = f"{one[0] / r['median']:.2f}× †" if one else ""
        lines.append(f"| {info['executor']} | {info.get('processes', '')} | "
                     f"{_fmt_time(r['median'])} | "
                     f"{_fmt_time(r['median'] / max(1, info.get('runs') or 1))} | "
                     f"{speedup} |")
    return [*lines, ""]


def _key(fullname: str) -> str:
    """``test_conv.py::test_x[...]`` for any folder the suite ran from: the installed package
    and a checkout's ``benchmarks/`` give different paths for one benchmark."""
    path, sep, test = fullname.partition("::")
    return path.rsplit("/", 1)[-1] + sep + test


def compare(baseline: dict, current: dict, threshold: float = DEFAULT_THRESHOLD
            ) -> tuple[str, bool]:
    """A table of per-benchmark change, judged relative to each run's yardstick.

    Returns (markdown table, whether any benchmark regressed past ``threshold``).
    """
    def yard(results):
        ys = [r["median"] for r in rows(results) if r["workload"] == "yardstick"]
        if not ys:
            raise ValueError("a results file has no 'yardstick' benchmark to judge by")
        return ys[0]

    yb, yc = yard(baseline), yard(current)
    base = {_key(r["fullname"]): r for r in rows(baseline)}
    lines = [f"Yardstick: baseline {_fmt_time(yb)}, now {_fmt_time(yc)} "
             f"(machine speed factor {yc / yb:.2f}).", "",
             "| benchmark | baseline | now | change (yardstick-relative) | verdict |",
             "|---|---:|---:|---:|---|"]
    regressed = False
    for r in rows(current):
        key = _key(r["fullname"])
        b = base.get(key)
        if b is None or r["workload"] == "yardstick":
            continue
        change = (r["median"] / yc) / (b["median"] / yb) - 1.0
        verdict = "ok"
        if change > threshold:
            verdict, regressed = "REGRESSION", True
        elif change < -threshold:
            verdict = "faster"
        lines.append(f"| {key} | {_fmt_time(b['median'])} | {_fmt_time(r['median'])} "
                     f"| {change:+.1%} | {verdict} |")
    missing = sorted(set(base) - {_key(r["fullname"]) for r in rows(current)})
    if missing:
        lines += ["", f"{len(missing)} benchmark(s) of the baseline were not in this run"
                  + (": " + ", ".join(missing) if len(missing) <= 5 else " (filtered out?)")]
    return "\n".join(lines), regressed


def load_results(path: str | Path) -> dict:
    """Read a pytest-benchmark JSON file, with a clear error when it is not one."""
    results = read_json_object(path, "benchmark results")
    if "benchmarks" not in results:
        raise ValueError(f"{str(path)!r} is not a pytest-benchmark results file")
    return results


def write_reports(results: dict, out_dir: str | Path, readme: str | Path | None = None,
                  log=lambda line: None) -> None:
    """Write ``BENCHMARKS.md`` and ``benchmarks.png`` of one run's results into ``out_dir``
    and, given a README, rewrite its Benchmarks block: each only from ``results``."""
    out_dir = Path(out_dir)
    write_text(out_dir / "BENCHMARKS.md", markdown(results))
    from .plots import benchmark_chart

    benchmark_chart(rows(results), out_dir / "benchmarks.png")
    log(f"wrote {out_dir}/BENCHMARKS.md, benchmarks.png")
    if readme is not None:
        readme = Path(readme)
        try:
            text = readme.read_text(encoding="utf-8")
        except OSError as e:
            raise ValueError(f"cannot read the README {str(readme)!r}: {e.strerror}") from None
        write_text(readme, replace_readme_block(text, readme_block(results)))
        log(f"wrote the Benchmarks block of {readme}")


def bench(out_dir: str | Path = "reports", full: bool = False, filter: str | None = None,
          baseline: str | Path | None = None, threshold: float = DEFAULT_THRESHOLD,
          readme: str | Path | None = None, log=lambda line: None) -> int:
    """Run the suite and write the reports (and the Benchmarks block of ``readme``, when
    given); returns the command's exit code."""
    out_dir = Path(out_dir)
    base = load_results(baseline) if baseline is not None else None
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.json"
        code = run_suite(raw, full=full, filter=filter)
        if code != 0 or not raw.exists():
            log(f"fastnn: error: the benchmark suite failed (pytest exit code {code})")
            return 1
        results = json.loads(raw.read_text())
    results["fastnn_machine"] = machine_info()
    results = finite_or_null(results)
    write_json(out_dir / "benchmarks.json", results, indent=1)
    log(f"wrote {out_dir}/benchmarks.json")
    write_reports(results, out_dir, readme=readme, log=log)
    if base is not None:
        table, regressed = compare(base, results, threshold)
        write_text(out_dir / "COMPARE.md", table + "\n")
        log(table)
        if regressed:
            log(f"fastnn: regression past {threshold:.0%} (see above)")
            return 1
    return 0
