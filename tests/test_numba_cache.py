"""The numba backend's on-disk cache is keyed on what compiled code depends on: an update rule
edited in ``fastnn/nn/optim.py`` (another file than the fused step's) is compiled afresh, never
served stale from the cache (numba issue #1833), and an unchanged tree is a cache hit."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import fastnn

SCRIPT = """
import json
import numba
import numpy as np
import fastnn
X, y = fastnn.data.generate_xor_easy()
out = {"file": fastnn.__file__, "jit": not numba.config.DISABLE_JIT}
for be in ("numba", "numpy"):
    t = fastnn.Trainer(fastnn.MLP([2, 4, 4, 1], seed=3), lr=0.5, backend=be)
    t.fit(X, y, epochs=20)
    out[be] = t.model.params.tolist()
    if be == "numba":
        stats = t._fused().compiled._epochs.stats
        out["hits"], out["misses"] = len(stats.cache_hits), len(stats.cache_misses)
print(json.dumps(out))
"""


def _run(root: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("NUMBA_DISABLE_JIT",
                                                             "NUMBA_CACHE_DIR")}
    env["PYTHONPATH"] = str(root)
    proc = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                          env=env, cwd=root)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_an_edited_update_rule_is_recompiled_not_served_stale(tmp_path):
    package = Path(fastnn.__file__).parent
    shutil.copytree(package, tmp_path / "fastnn", ignore=shutil.ignore_patterns("__pycache__"))
    first = _run(tmp_path)
    assert first["file"] == str(tmp_path / "fastnn" / "__init__.py")  # the copy, not ours
    if not first["jit"]:
        pytest.skip("no compilation under NUMBA_DISABLE_JIT")
    assert first["misses"] == 1 and first["numba"] == pytest.approx(first["numpy"], rel=1e-10)

    again = _run(tmp_path)
    assert (again["hits"], again["misses"]) == (1, 0)  # unchanged sources: from the cache
    assert again["numba"] == first["numba"]

    optim = tmp_path / "fastnn" / "nn" / "optim.py"
    source = optim.read_text()
    rule = "    return p - c[0] * g, s1, s2\n"
    assert source.count(rule) == 1
    optim.write_text(source.replace(rule, "    return p - 0.5 * c[0] * g, s1, s2\n"))
    edited = _run(tmp_path)
    assert (edited["hits"], edited["misses"]) == (0, 1)  # compiled afresh
    assert edited["numba"] != first["numba"]
    assert edited["numba"] == pytest.approx(edited["numpy"], rel=1e-10)  # the new rule, fused


USER_SCRIPT = """
import json
import fastnn
from myrule import Scaled
X, y = fastnn.data.generate_xor_easy()
out = {}
for be in ("numba", "numpy"):
    t = fastnn.Trainer(fastnn.MLP([2, 4, 4, 1], seed=3), optimizer=Scaled(0.5), backend=be)
    t.fit(X, y, epochs=20)
    out[be] = t.model.params.tolist()
print(json.dumps(out))
"""


@pytest.mark.slow
def test_a_users_rule_follows_edits_to_the_files_and_constants_it_uses(tmp_path):
    """A user's optimizer whose rule calls a helper in another file of the user's, which reads
    a module constant: editing that constant is seen by the fused step's cache."""
    (tmp_path / "helper.py").write_text("SCALE = 1.0\n\n\ndef scale(g):\n    return g * SCALE\n")
    (tmp_path / "myrule.py").write_text(
        "import fastnn\nfrom helper import scale\n\n\n"
        "def rule(p, g, s1, s2, h, c):\n    return p - c[0] * scale(g), s1, s2\n\n\n"
        "class Scaled(fastnn.optim.Optimizer):\n    name = 'scaled'\n"
        "    rule = staticmethod(rule)\n")
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_DISABLE_JIT"}
    env["PYTHONPATH"] = str(tmp_path)

    def run():
        proc = subprocess.run([sys.executable, "-c", USER_SCRIPT], capture_output=True,
                              text=True, env=env, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout.strip().splitlines()[-1])

    first = run()
    assert first["numba"] == pytest.approx(first["numpy"], rel=1e-10)
    (tmp_path / "helper.py").write_text("SCALE = 0.25\n\n\ndef scale(g):\n    return g * SCALE\n")
    edited = run()
    assert edited["numba"] != first["numba"]
    assert edited["numba"] == pytest.approx(edited["numpy"], rel=1e-10)
