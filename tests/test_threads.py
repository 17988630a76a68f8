"""The process-wide thread policy (fastnn.threads): kernels never switch BLAS threads per call,
numba's convolution claims the cores once, ``threads=`` wins inside fit and everything is
restored after, Numba's OpenMP workers wait passively. No timings here (benchmarks/
test_conv_chain.py measures the policy)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numba
import numpy as np
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

import fastnn
from fastnn import threads as T
from fastnn.backends import reference as R

be = fastnn.get_backend("numba")  # loads the BLAS Numba's np.dot calls (SciPy's) too


def blas_threads() -> list[int]:
    return [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]


def conv_inputs(dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((6, 3, 9, 9)).astype(dtype)
    W = rng.standard_normal((4, 3, 3, 3)).astype(dtype)
    b = rng.standard_normal(4).astype(dtype)
    return x, W, b, rng.standard_normal((6, 4, 9, 9)).astype(dtype)


@pytest.fixture
def counted_sets(monkeypatch):
    """Every set_num_threads call on a loaded thread pool, as (library, n)."""
    calls = []
    for cls in {type(lib) for lib in T._libraries()}:  # on the classes: controllers are rebuilt
        real = cls.set_num_threads

        def spy(self, n, real=real):
            calls.append((self.filepath, n))
            return real(self, n)

        monkeypatch.setattr(cls, "set_num_threads", spy)
    return calls


def test_conv_claims_the_cores_once_and_then_never_switches_threads(counted_sets):
    x, W, b, dout = conv_inputs()
    with threadpool_limits(2, user_api="blas"):
        with T.limit_threads():
            assert set(blas_threads()) == {2}
            counted_sets.clear()  # threadpool_limits' own
            be.conv2d_forward(x, W, b, padding=1)  # the claim: each BLAS to one thread, once
            claimed = list(counted_sets)
            assert claimed and all(n == 1 for _, n in claimed)
            assert len(claimed) == len(blas_threads())
            for _ in range(3):
                be.conv2d_forward(x, W, b, padding=1)
                be.conv2d_backward(x, W, dout, padding=1)
                be.max_pool2d_backward(x, x[:, :, :8:2, :8:2], 2)
                assert set(blas_threads()) == {1}
            assert counted_sets == claimed  # no switch per call, and none back
        assert set(blas_threads()) == {2}, threadpool_info()  # the scope restored the claim


def test_kernels_leave_threads_as_they_find_them_when_claimed(counted_sets):
    x, W, b, dout = conv_inputs()
    with T.limit_threads(1):
        before = threadpool_info(), numba.get_num_threads()
        n_sets = len(counted_sets)
        be.conv2d_forward(x, W, b, padding=1)
        be.conv2d_backward(x, W, dout, padding=1)
        be.max_pool2d_forward(x, 3)
        assert (threadpool_info(), numba.get_num_threads()) == before
        assert len(counted_sets) == n_sets


def cnn_trainer(threads=None):
    model = fastnn.Sequential([fastnn.Conv2d(1, 4, 3, padding=1), fastnn.Activation("relu"),
                               fastnn.MaxPool2d(2), fastnn.Flatten(), fastnn.Dense(16, 3)],
                              input_shape=(1, 4, 4), seed=0)
    trainer = fastnn.Trainer(model, loss="softmax_cross_entropy", lr=0.1, backend="numba",
                             threads=threads, seed=0)
    rng = np.random.default_rng(1)
    return trainer, rng.standard_normal((8, 1, 4, 4)), np.eye(3)[rng.integers(0, 3, 8)]


def spy_steps(trainer):
    seen = []
    real = trainer._step

    def step(X, y):
        out = real(X, y)
        seen.append((numba.get_num_threads(), tuple(blas_threads())))
        return out

    trainer._step = step
    return seen


def test_threads_wins_inside_fit_and_everything_is_restored_after():
    trainer, X, y = cnn_trainer(threads=1)
    seen = spy_steps(trainer)
    with threadpool_limits(2, user_api="blas"):
        before = numba.get_num_threads(), threadpool_info()
        trainer.fit(X, y, epochs=2, batch_size=4)
        assert seen and all(s == (1, tuple(1 for _ in s[1])) for s in seen)
        assert (numba.get_num_threads(), threadpool_info()) == before


def test_a_cnn_fit_claims_the_cores_for_numba_and_gives_them_back():
    trainer, X, y = cnn_trainer()
    seen = spy_steps(trainer)
    with threadpool_limits(2, user_api="blas"):
        trainer.fit(X, y, epochs=2, batch_size=4)
        assert seen and all(set(b) == {1} for _, b in seen)
        assert set(blas_threads()) == {2}


def test_an_mlp_fit_keeps_blas_threads(monkeypatch):
    """Nothing runs in Numba's pool: the big-MLP GEMMs (in the fused step, mini-batches
    included) keep BLAS's threads."""
    from fastnn.backends.numba import fused as F

    model = fastnn.MLP([3, 8, 2], seed=0)
    trainer = fastnn.Trainer(model, lr=0.1, backend="numba", seed=0)
    seen = []
    real = F.FusedStep.run

    def run(*args, **kw):
        out = real(*args, **kw)
        seen.append((numba.get_num_threads(), tuple(blas_threads())))
        return out

    monkeypatch.setattr(F.FusedStep, "run", run)
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((16, 3)), rng.random((16, 2))
    with threadpool_limits(2, user_api="blas"):
        trainer.fit(X, y, epochs=3, batch_size=8)
        assert seen and all(set(b) == {2} for _, b in seen)


def test_set_threads_hands_the_cores_back_to_blas():
    x, W, b, _ = conv_inputs()
    with T.limit_threads():
        be.conv2d_forward(x, W, b, padding=1)
        assert set(blas_threads()) == {1}
        T.set_threads(2 if numba.config.NUMBA_NUM_THREADS >= 2 else 1)
        assert set(blas_threads()) == {min(2, numba.config.NUMBA_NUM_THREADS)}


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs 2 Numba threads")
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_a_big_dense_product_runs_in_numba_pool_once_it_owns_the_cores(dtype, monkeypatch):
    """Claimed: split into row blocks over Numba's threads (same result, no thread switch)."""
    from fastnn.backends.numba import kernels as K

    rng = np.random.default_rng(5)
    x, W, b = (rng.standard_normal(s).astype(dtype) for s in ((67, 40), (40, 33), (33,)))
    monkeypatch.setattr(K, "_SPLIT_MIN", 1)
    split = []
    real = K._dense_forward_blocks

    def spy(*args):
        split.append(args[-1])
        return real(*args)

    monkeypatch.setattr(K, "_dense_forward_blocks", spy)
    with T.limit_threads(2):
        assert T.numba_pool_threads() == 1  # BLAS owns the cores: it threads the product
        serial = be.dense_forward(x, W, b)
        assert split == []
        be.conv2d_forward(*conv_inputs(dtype)[:3], padding=1)  # the claim
        assert T.numba_pool_threads() == 2
        before = threadpool_info()
        blocked = be.dense_forward(x, W, b)
        assert split == [2] and threadpool_info() == before
    tol = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(blocked, serial, rtol=tol, atol=tol)
    np.testing.assert_allclose(blocked, R.dense_forward(x, W, b), rtol=tol * 10, atol=tol * 10)


def test_a_users_own_blas_limit_is_not_taken_for_a_claim():
    """BLAS on one thread by the user's choice (threadpoolctl, or OPENBLAS_NUM_THREADS=1, as
    Dask's workers set it) does not make a big product fan out over Numba's threads; only a
    kernel's claim does, and only until the scope that saw it ends."""
    from threadpoolctl import threadpool_limits

    with T.limit_threads(2):  # every setting restored after, a claim made before included
        T.set_threads(2)  # no claim now (an earlier test may have left one): BLAS owns the cores
        with threadpool_limits(1, user_api="blas"):
            assert T.numba_pool_threads() == 1
            with T.limit_threads(2):
                T.use_numba_pool()
                assert T.numba_pool_threads() == 2 or numba.config.NUMBA_NUM_THREADS < 2
            assert T.numba_pool_threads() == 1  # the scope ended, and with it the claim
        T.use_numba_pool()
        T.set_threads(1)  # BLAS owns the cores again
        assert T.numba_pool_threads() == 1


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs 2 Numba threads")
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_results_do_not_depend_on_the_threads(dtype):
    x, W, b, dout = conv_inputs(dtype, seed=3)
    out = {}
    for n in (1, 2):
        with T.limit_threads(n):
            out[n] = (be.conv2d_forward(x, W, b, padding=1),
                      *be.conv2d_backward(x, W, dout, padding=1))
    ref = (R.conv2d_forward(x, W, b, padding=1), *R.conv2d_backward(x, W, dout, padding=1))
    tol = 1e-10 if dtype == np.float64 else 1e-4
    for a1, a2, r in zip(out[1], out[2], ref, strict=True):
        np.testing.assert_allclose(a1, r, rtol=tol, atol=tol)
        np.testing.assert_allclose(a2, r, rtol=tol, atol=tol)


@pytest.mark.skipif(numba.config.DISABLE_JIT, reason="Numba's threading layer is not started")
@pytest.mark.parametrize("users", [None, "ACTIVE"])
def test_numba_openmp_workers_wait_passively_unless_the_user_says(users):
    """In a fresh process: libgomp (Numba's OpenMP layer) runs with OMP_WAIT_POLICY PASSIVE, or
    the user's own setting; fastnn's is gone from the environment after (no OpenMP runtime
    loaded later sees it)."""
    script = textwrap.dedent("""
        import ctypes, os, sys
        import numba
        from fastnn.threads import use_numba_pool
        from threadpoolctl import threadpool_info
        use_numba_pool()
        if numba.threading_layer() != "omp":
            print("not-omp"); sys.exit()
        print("env", os.environ.get("OMP_WAIT_POLICY"), flush=True)
        gomp = [p["filepath"] for p in threadpool_info() if p["prefix"] == "libgomp"]
        ctypes.CDLL(gomp[0]).omp_display_env(0)
    """)
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    if users is not None:
        env["OMP_WAIT_POLICY"] = users
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=env, timeout=120, check=True)
    if "not-omp" in done.stdout:
        pytest.skip("Numba's threading layer is not OpenMP here")
    assert f"env {users}" in done.stdout
    assert f"OMP_WAIT_POLICY = '{users or 'PASSIVE'}'" in done.stderr
