"""What the numba backend's JIT costs a new process: ``numba-cold-start``.

Each round starts a fresh Python that builds the run ``fastnn train --backend numba`` builds by
default (the same code: RunSpec, load_task, build) and trains its first epoch, timed from the
first line of the process (imports included) to that finished epoch. ``extra_info``:

- ``cold_s``: with an empty Numba cache directory, as after installing: everything the run
  needs is compiled (and written to the cache);
- ``warm_s``: the same run in another new process with that cache filled: what every later
  process pays (the timed rounds are these);
- ``import_s`` and ``first_epoch_s`` split the warm time into importing fastnn (NumPy, Numba)
  and the first ``fit`` call up to its first epoch.

The issue's targets: cold <= 5 s, first epoch <= 0.3 s once the cache is warm.
Run: ``fastnn bench --filter test_numba_compile`` (in a checkout also
``pytest benchmarks/test_numba_compile.py --benchmark-only``).
"""

import json
import os
import subprocess
import sys

from fastnn.app.bench_suite import record

SCRIPT = """
import time
t0 = time.perf_counter()
import json
from fastnn.app.runspec import RunSpec
from fastnn.app.train import build, load_task, resolve
spec = RunSpec(backend="numba")
task = load_task(spec)
trainer = build(resolve(spec, task), task)
t1 = time.perf_counter()
trainer.fit(task.X, task.y, epochs=1, progress=False)
t2 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "first_epoch_s": t2 - t1, "total_s": t2 - t0}))
"""


def _first_epoch(cache_dir) -> dict:
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache_dir))
    env.pop("NUMBA_DISABLE_JIT", None)
    out = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True,
                         check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def test_numba_cold_start(benchmark, tmp_path, rounds):
    cold = _first_epoch(tmp_path)  # empty cache directory: compiles, and fills it
    warm = _first_epoch(tmp_path)
    record(benchmark, workload="numba-cold-start", backend="numba", dtype="float64",
           cold_s=cold["total_s"], cold_first_epoch_s=cold["first_epoch_s"],
           warm_s=warm["total_s"], import_s=warm["import_s"],
           first_epoch_s=warm["first_epoch_s"])
    benchmark.pedantic(_first_epoch, args=(tmp_path,), rounds=rounds(5), warmup_rounds=0)
