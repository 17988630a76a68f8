"""Registry behaviour around the optional numba backend (runs whether or not numba is installed)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import textwrap

import pytest

import fastnn

HAVE_NUMBA = all(importlib.util.find_spec(m) is not None for m in ("numba", "scipy"))


def test_available_backends_lists_numba_only_when_installed():
    assert ("numba" in fastnn.available_backends()) == HAVE_NUMBA
    assert fastnn.available_backends()[:2] == ["reference", "numpy"]


@pytest.mark.skipif(not HAVE_NUMBA, reason="numba is not installed: pip install numba scipy")
def test_numba_backend_has_the_contract():
    be = fastnn.get_backend("numba")
    assert be.NAME == "numba"
    for name in ("dense_forward", "dense_backward", "activation_forward", "activation_backward",
                 "fused_trainer"):
        assert callable(getattr(be, name))


def test_without_numba_the_error_says_how_to_install_and_the_rest_works():
    """A process where ``import numba`` fails, as on a machine without it."""
    script = textwrap.dedent("""
        import json, sys
        sys.modules["numba"] = None  # makes `import numba` raise ImportError
        import fastnn
        out = {"available": fastnn.available_backends()}
        try:
            fastnn.get_backend("numba")
        except ImportError as e:
            out["error"] = str(e)
        X, y = fastnn.data.generate_xor_easy()
        t = fastnn.Trainer(fastnn.MLP([2, 4, 4, 1], seed=1), backend="numpy", threads=1)
        out["loss"] = t.fit(X, y, epochs=5).loss[-1]
        print(json.dumps(out))
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          check=True)
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["available"] == ["reference", "numpy"]
    assert "pip install numba" in out["error"] and "numba" in out["error"]
    assert out["loss"] > 0
