"""What the numba backend's JIT costs a new process: the compile (once per machine, ``cache=True``)
and the cache load (every later process), for the lab network's first ``Trainer.fit`` call.

Each round starts a fresh Python that imports fastnn and times its first ``fit`` (float64 and
float32, so both specializations of the fused step); the timed rounds load a warm cache.
``extra_info``: ``compile_s`` (first fit with an empty cache directory), ``cached_first_fit_s``
(the same with the cache filled: what every later process pays).
Run: ``fastnn bench --filter test_numba_compile`` (in a checkout also
``pytest benchmarks/test_numba_compile.py --benchmark-only``).
"""

import json
import os
import subprocess
import sys

from fastnn.app.bench_suite import record

SCRIPT = """
import json, time
t0 = time.perf_counter()
import fastnn
X, y = fastnn.data.generate_linear(100, seed=0)
t1 = time.perf_counter()
for dtype in ("float64", "float32"):
    fastnn.Trainer(fastnn.MLP([2, 4, 4, 1], dtype=dtype), backend="numba").fit(X, y, epochs=1)
print(json.dumps({"import_s": t1 - t0, "first_fit_s": time.perf_counter() - t1}))
"""


def _first_fit(cache_dir) -> dict:
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache_dir))
    env.pop("NUMBA_DISABLE_JIT", None)
    out = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True,
                         check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def test_numba_first_fit_in_a_new_process(benchmark, tmp_path, rounds):
    cold = _first_fit(tmp_path)  # empty cache directory: compiles, and fills it
    warm = _first_fit(tmp_path)
    record(benchmark, workload="numba-first-fit", backend="numba", dtype="float64+float32",
           compile_s=cold["first_fit_s"], cached_first_fit_s=warm["first_fit_s"],
           import_s=warm["import_s"])
    benchmark.pedantic(_first_fit, args=(tmp_path,), rounds=rounds(5), warmup_rounds=0)
