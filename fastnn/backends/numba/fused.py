"""The fused training step: a whole stretch of MLP epochs, full-batch or mini-batch, in one
compiled call.

Each epoch does forward, loss, backward, clipping and the optimizer update in place in the flat
parameter, gradient and optimizer-state buffers, with no allocation for small layers. The step
is assembled from the definitions it is handed (:class:`fastnn.backends.base.FusedSpec`): the
loss's per-entry function, the optimizer's ``coefficients`` and ``rule``, the clip rule and the
accuracy test, the same Python functions the per-layer path runs on whole arrays. They are
compiled with every plain function they call (:func:`.kernels.compile_definition`) and inlined
into the step's loss and update loops, so a new optimizer or pointwise loss is fused with no
change to this file. Activations are applied through tables of row kernels
(:func:`.kernels.row_kernel_tables`), called per row.
One kernel is compiled per combination of those functions (cached on disk, keyed on their
sources: see :mod:`.cache`); the activations stay a run-time choice per layer.

Activations are applied feature-major: every block is (D, M), M >= N the row length, so the
inner loops run over samples and vectorize. Rows are padded to ROW_MULTIPLE samples (no scalar
remainder loops); the padding is zero in the input and the loss gradient, is computed along by
elementwise loops and never reaches a sum over samples, which stop at N.
"""

from __future__ import annotations

import functools
import hashlib
import warnings

import numpy as np
from numba import config, typeof
from numba import types as nbtypes
from numba.core.errors import NumbaExperimentalFeatureWarning

from ..base import FusedSpec, FusedUnsupported
from .cache import INTERNAL, describe, jit
from .kernels import (
    ACTIVATION_CODES,
    _dot_rows,
    _exp,
    _sum_row,
    compile_definition,
    first_class,
    row_kernel_tables,
)

#: In the fused step, a layer whose product has at least this many multiply-adds (N*Din*Dout)
#: goes to BLAS; smaller ones are plain loops (a BLAS call costs more than the whole product).
BLAS_MIN_WORK = 1 << 16
#: Rows of the fused step's blocks are padded to a multiple of this many samples, so that the
#: elementwise loops run whole SIMD vectors (8 float64 in AVX-512) with no scalar remainder.
ROW_MULTIPLE = 8


def _uses_blas(N: int, dims) -> bool:
    """Whether a batch of N samples sends a layer of widths ``dims`` to BLAS."""
    return any(N * dims[i] * dims[i + 1] >= BLAS_MIN_WORK for i in range(len(dims) - 1))


def _row_length(N: int, dims) -> int:
    """The fused step's row length M for N samples: N rounded up to ROW_MULTIPLE, or N itself
    when a layer goes to BLAS (whose products would run over the padding)."""
    if _uses_blas(N, dims):
        return N
    return -(-N // ROW_MULTIPLE) * ROW_MULTIPLE


@jit(error_model="numpy", **INTERNAL)
def _blocks(buf, dims):
    """Views of a flat buffer ((2 * sum(dims) + dims[-1]) * M,) of row length M: each block's
    outputs feature-major (dims[i], M), input first, then their gradients, then the targets yT
    (dims[-1], M). The padding columns of the input and of the loss gradient are zeroed (module
    docstring)."""
    L = dims.shape[0] - 1
    width = dims[L]
    for i in range(L + 1):
        width += 2 * dims[i]
    M = buf.shape[0] // width
    A = []
    D = []
    off = 0
    for i in range(L + 1):
        A.append(buf[off:off + M * dims[i]].reshape((dims[i], M)))
        off += M * dims[i]
    for i in range(L + 1):
        D.append(buf[off:off + M * dims[i]].reshape((dims[i], M)))
        off += M * dims[i]
    for k in range(M * dims[0]):  # A[0]
        buf[k] = 0.0
    for k in range(off - M * dims[L], off + M * dims[L]):  # D[L], then yT
        buf[k] = 0.0
    return A, D, buf[off:off + M * dims[L]].reshape((dims[L], M))


@functools.cache
def _build(loss_point, softmax, coefficients, rule, clip, same_side, slots, blas):
    """The epoch loop for one loss (a softmax loss when ``softmax``), update rule (using
    ``slots`` state slots), clip rule and accuracy test; with ``blas``, layers of at least
    BLAS_MIN_WORK multiply-adds go to BLAS, else every product is a loop (``blas`` is a
    constant of the compiled code: a run whose batches make no such layer compiles no BLAS
    call)."""
    # NOTE: one name per build. Numba names compiled code and its environment after the
    # function's qualified name and a per-process counter: closures of another build, compiled
    # in another process and loaded from the cache into this one, could share those names.
    tag = hashlib.sha256(describe((loss_point, softmax, coefficients, rule, clip, same_side,
                                   slots, blas)).encode()).hexdigest()[:16]

    def jit_named(**options):
        def wrap(func):
            func.__qualname__ = f"fused_{func.__name__}_{tag}"
            return jit(**options)(func)
        return wrap

    point = compile_definition(loss_point)
    coef = compile_definition(coefficients)
    update = compile_definition(rule)
    clip_ = compile_definition(clip)
    hit = compile_definition(same_side)

    if softmax:
        @jit_named(error_model="numpy", **INTERNAL)
        def loss_terms(out, yT, d, terms, N, eps):
            """Per-entry loss terms into ``terms`` and their gradients into ``d``, (DL, M)
            feature-major, from each sample's shifted logits and their statistics."""
            for n in range(N):
                zmax = out[0, n]
                for j in range(1, out.shape[0]):
                    if out[j, n] > zmax:
                        zmax = out[j, n]
                s = 0.0
                ysum = 0.0
                for j in range(out.shape[0]):
                    s += _exp(out[j, n] - zmax)
                    ysum += yT[j, n]
                for j in range(out.shape[0]):
                    terms[j, n], d[j, n] = point(out[j, n] - zmax, yT[j, n], s, ysum, N)
    else:
        @jit_named(error_model="numpy", **INTERNAL)
        def loss_terms(out, yT, d, terms, N, eps):
            """Per-entry loss terms into ``terms`` and their gradients into ``d``, (DL, M)."""
            for j in range(out.shape[0]):
                for n in range(N):
                    terms[j, n], d[j, n] = point(out[j, n], yT[j, n], N, eps)

    # called through a pointer (see _step_signature), hence a C wrapper
    @jit_named(error_model="numpy", no_cpython_wrapper=True)
    def batch_step(A, D, Ws, Bs, GWs, GBs, yT, N, dims, codes, fwd, bwd, has_b, eps, terms):
        """Forward, loss and backward of the N samples in A[0] (targets yT): the gradients into
        GWs, GBs; returns (mean loss, correct count). Blocks are (D, M), M >= N; layer l's
        activation is row kernels fwd[codes[l]], bwd[codes[l]] (first-class functions)."""
        L = dims.shape[0] - 1
        DL = dims[L]
        M = A[0].shape[1]
        # forward: y_l = f(W_l^T y_{l-1} + b_l)
        for i_l in range(L):
            din, dout = dims[i_l], dims[i_l + 1]
            a, W, b, z = A[i_l], Ws[i_l], Bs[i_l], A[i_l + 1]
            if blas and N * din * dout >= BLAS_MIN_WORK:
                np.dot(W.T, a, z)
            else:
                for j in range(dout):
                    w = W[0, j]
                    for n in range(M):
                        z[j, n] = a[0, n] * w
                    for k in range(1, din):
                        w = W[k, j]
                        for n in range(M):
                            z[j, n] += a[k, n] * w
            act = fwd[codes[i_l]]
            for j in range(dout):
                act(z, j, b[j])

        # loss (per-entry terms summed over samples), its gradient into D's last block
        out, d = A[L], D[L]
        loss_terms(out, yT, d, terms, N, eps)
        loss = 0.0
        for j in range(DL):
            loss += _sum_row(terms, j, N)
        loss = loss / N
        hits = 0
        if DL == 1:
            for n in range(N):
                if hit(out[0, n], yT[0, n]):
                    hits += 1
        else:  # argmax of outputs against argmax of targets, first maximum as NumPy's
            for n in range(N):
                bo = 0
                bt = 0
                for j in range(1, DL):
                    if out[j, n] > out[bo, n]:
                        bo = j
                    if yT[j, n] > yT[bt, n]:
                        bt = j
                if bo == bt:
                    hits += 1

        # backward: dz_l = dy_l * f'(y_l); dW = y_{l-1} dz^T, db = sum dz, dy_{l-1} = W dz
        dact = bwd[codes[L - 1]]
        for j in range(DL):
            dact(out, d, j)
        for i_l in range(L - 1, -1, -1):
            din, dout = dims[i_l], dims[i_l + 1]
            a, W, dz, gW, gb = A[i_l], Ws[i_l], D[i_l + 1], GWs[i_l], GBs[i_l]
            big = N * din * dout >= BLAS_MIN_WORK
            if blas and big:
                np.dot(a, dz.T, gW)
            else:
                for k in range(din):
                    for j in range(dout):
                        gW[k, j] = _dot_rows(a, k, dz, j, N)
            if has_b[i_l]:
                for j in range(dout):
                    gb[j] = _sum_row(dz, j, N)
            if i_l > 0:
                dprev = D[i_l]
                if blas and big:
                    np.dot(W, dz, dprev)
                else:
                    for k in range(din):
                        w = W[k, 0]
                        for n in range(M):
                            dprev[k, n] = w * dz[0, n]
                        for j in range(1, dout):
                            w = W[k, j]
                            for n in range(M):
                                dprev[k, n] += w * dz[j, n]
                dact = bwd[codes[i_l - 1]]
                for k in range(din):
                    dact(a, dprev, k)
        return loss, hits

    @jit_named(error_model="numpy", **INTERNAL)
    def apply_update(params, grads, s1, s2, h, t, do_clip, lo, hi):
        """Clipping, then the optimizer's rule for step ``t``, elementwise over the flat
        buffers."""
        P = params.shape[0]
        if do_clip:
            for i in range(P):
                grads[i] = clip_(grads[i], lo, hi)
        c = coef(h, float(t))
        for i in range(P):  # an unused slot is 0.0, as in Optimizer.step (slots: constant)
            a = s1[i] if slots > 0 else 0.0
            b = s2[i] if slots > 1 else 0.0
            params[i], a, b = update(params[i], grads[i], a, b, h, c)
            if slots > 0:
                s1[i] = a
            if slots > 1:
                s2[i] = b

    @jit_named(error_model="numpy", no_cfunc_wrapper=True)  # called from Python only
    def fused_epochs(X, Y, order, B, params, grads, s1, s2, h, t0, dims, codes, step, fwd,
                     bwd, has_b, nob, eps, do_clip, lo, hi, target, buf1, buf2, terms, losses,
                     correct):
        """Train up to len(losses) epochs in place; returns how many ran (stops after an epoch
        whose accuracy reaches ``target`` (>= 0), whose loss is not finite, or whose last update
        left a parameter that is not: the trainer reports that epoch as the per-layer path
        does).

        X (N, D0), Y (N, DL); B >= N: full-batch epochs (``order`` (1, 0), unused), else
        epoch e takes mini-batches of B samples in the order order[e % R] (``order`` (R, N)),
        one update each (the last one smaller when B does not divide N). params, grads, s1,
        s2 flat (P,) (s1, s2 the optimizer's state slots, scratch for unused ones); h the
        hyper-parameters, t0 the steps taken so far; dims (L+1,) layer widths; codes (L,)
        activation codes; step this build's batch_step as a first-class function; fwd and bwd
        the activations' row kernels (:func:`.kernels.row_kernel_tables`);
        has_b (L,) 1 for a layer with a bias, 0 for one without (its parameters are W alone),
        whose bias is then nob (max(dims[1:]),) of -0.0 (the per-layer path adds -0.0s: z + (-0.0)
        is z);
        buf1, buf2 flat buffers ((2 * sum(dims) + dims[-1]) * M,) for batches of B (or N) and
        of N % B samples (see :func:`_blocks`); terms (DL, M1) scratch; losses (E,), correct (E,)
        filled per epoch.
        """
        N = X.shape[0]
        L = dims.shape[0] - 1
        DL = dims[L]
        # every view made once per call: a view made in the epoch loop costs ~20 ns
        Ws = []  # layer i's W (Din, Dout) then its b (Dout,), if it has one, in params
        Bs = []
        GWs = []
        GBs = []
        off = 0
        for i in range(L):
            w_end = off + dims[i] * dims[i + 1]
            end = w_end + dims[i + 1] * has_b[i]
            Ws.append(params[off:w_end].reshape((dims[i], dims[i + 1])))
            GWs.append(grads[off:w_end].reshape((dims[i], dims[i + 1])))
            Bs.append(params[w_end:end] if has_b[i] else nob[:dims[i + 1]])
            GBs.append(grads[w_end:end])
            off = end
        A1, D1, yT1 = _blocks(buf1, dims)  # batches of B (or all N) samples
        A2, D2, yT2 = _blocks(buf2, dims)  # the last, smaller, batch
        full = B >= N
        if full:  # the whole batch, transposed once per call
            xT = A1[0]
            for n in range(N):
                for k in range(dims[0]):
                    xT[k, n] = X[n, k]
                for j in range(DL):
                    yT1[j, n] = Y[n, j]
        t = t0
        E = losses.shape[0]
        ran = 0
        for e in range(E):
            perm = order[e % order.shape[0]]
            total = 0.0
            hits = 0
            for first in range(0, N, B):  # one batch of N when full, already in place
                nb = B if B < N - first else N - first
                if nb == B:
                    A, D, yT = A1, D1, yT1
                else:
                    A, D, yT = A2, D2, yT2
                if not full:
                    xT = A[0]
                    for i in range(nb):
                        r = perm[first + i]
                        for k in range(dims[0]):
                            xT[k, i] = X[r, k]
                        for j in range(DL):
                            yT[j, i] = Y[r, j]
                batch_loss, batch_hits = step(A, D, Ws, Bs, GWs, GBs, yT, nb, dims, codes, fwd,
                                              bwd, has_b, eps, terms)
                total += batch_loss * nb
                hits += batch_hits
                t += 1
                apply_update(params, grads, s1, s2, h, t, do_clip, lo, hi)
            loss = batch_loss if full else total / N
            losses[e] = loss
            correct[e] = hits
            ran = e + 1
            if not np.isfinite(loss):
                break
            finite = True
            for i in range(params.shape[0]):
                if not np.isfinite(params[i]):
                    finite = False
                    break
            if not finite:
                break
            if target >= 0.0 and hits / N >= target:
                break
        return ran

    return fused_epochs, batch_step


def _step_signature(dtype: np.dtype, tables: tuple):
    """The Numba signature of batch_step for blocks of ``dtype`` and row kernel ``tables``."""
    scalar = typeof(dtype.type(0))
    blocks, rows = nbtypes.List(nbtypes.Array(scalar, 2, "C")), \
        nbtypes.List(nbtypes.Array(scalar, 1, "C"))
    block, ints = nbtypes.Array(scalar, 2, "C"), nbtypes.Array(nbtypes.int64, 1, "C")
    return nbtypes.Tuple((nbtypes.float64, nbtypes.int64))(
        blocks, blocks, blocks, rows, blocks, rows, block, nbtypes.int64, ints, ints,
        typeof(tables[0]), typeof(tables[1]), ints, nbtypes.float64, block)


class FusedStep:
    """A compiled training run of one MLP shape, loss and optimizer (see :func:`fused_trainer`).

    Buffers sized for the last N and batch size are kept between calls; :meth:`run` works in
    place on the arrays it is handed and reads every hyper-parameter afresh.
    """

    def __init__(self, spec: FusedSpec) -> None:
        self.spec = spec
        self.dims = np.array(spec.dims, dtype=np.int64)
        self.codes = np.array([ACTIVATION_CODES[a] for a in spec.activations], dtype=np.int64)
        self.has_b = np.array(spec.biases, dtype=np.int64)
        self._P = int(self.dims[:-1] @ self.dims[1:] + self.dims[1:] @ self.has_b)  # parameters
        self.dtype = np.dtype(spec.dtype)
        self._eps = float(np.finfo(self.dtype).eps)
        self._definitions = (spec.loss_point, spec.softmax, spec.coefficients, spec.rule,
                             spec.clip, spec.same_side, spec.slots)
        self._epochs = _build(*self._definitions, False)[0]  # refuses a recursive definition
        self._shape = None
        self._nob = np.full(max(spec.dims[1:]), -0.0, dtype=self.dtype)  # see fused_epochs
        self._no_slot = np.zeros(0, dtype=self.dtype)  # an unused slot: never read or written
        self._full = np.zeros((1, 0), dtype=np.int64)  # full-batch: no order
        self._entries = {}  # with BLAS or not -> the compiled step's entry point, batch step
        self._tables = row_kernel_tables(frozenset(spec.activations), self.dtype.name) \
            if config.DISABLE_JIT else None  # compiled with the step (run), under DISABLE_JIT now

    def _buffers(self, N: int, B: int) -> None:
        if (N, B) != self._shape:  # outputs and their gradients, reused while N and B stay
            width = 2 * int(self.dims.sum()) + self.spec.dims[-1]  # see _blocks
            M1, M2 = _row_length(B, self.spec.dims), _row_length(N % B, self.spec.dims)
            self._buf1 = np.zeros(M1 * width, dtype=self.dtype)
            self._buf2 = np.zeros(M2 * width, dtype=self.dtype)
            self._terms = np.zeros((self.spec.dims[-1], M1), dtype=self.dtype)
            self._shape = (N, B)

    def _check(self, X, y, params, grads, state) -> None:
        """ValueError unless the arrays are what the compiled step was built for: its entry
        point reads them as typed at the first call, without checking (see :meth:`run`)."""
        P = self._P
        if len(state) != self.spec.slots:
            raise ValueError(f"the fused step's optimizer takes {self.spec.slots} state "
                             f"arrays, got {len(state)}")
        want = {"X": (-1, self.spec.dims[0]), "y": (-1, self.spec.dims[-1]), "params": (P,),
                "grads": (P,), **{f"state {i}": (P,) for i in range(len(state))}}
        for (name, shape), a in zip(want.items(), (X, y, params, grads, *state), strict=True):
            if not isinstance(a, np.ndarray) or a.dtype != self.dtype \
                    or not a.flags.c_contiguous or a.ndim != len(shape) \
                    or any(w not in (-1, n) for w, n in zip(shape, a.shape, strict=True)):
                raise ValueError(f"the fused step takes C-contiguous {self.dtype} arrays; "
                                 f"{name} is {getattr(a, 'dtype', type(a).__name__)} "
                                 f"{getattr(a, 'shape', '')}, not {shape} (-1: any)")
        if y.shape[0] != X.shape[0]:
            raise ValueError(f"X has {X.shape[0]} rows, y {y.shape[0]}")

    def run(self, X: np.ndarray, y: np.ndarray, epochs: int, params: np.ndarray,
            grads: np.ndarray, state: list[np.ndarray], hyper: tuple[float, ...], t: int,
            clip: tuple[float, float] | None = None, target_accuracy: float | None = None,
            batch_size: int | None = None,
            order: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Train up to ``epochs`` epochs on X (N, Din), y (N, Dout): full-batch, or with
        ``batch_size`` < N mini-batches of that many samples in the order ``order[e % R]``
        for epoch e (``order`` (R, N) int64, each row a permutation of range(N)).

        ``params``, ``grads`` and the (at most two) ``state`` arrays are flat, C-contiguous and
        updated in place; ``hyper`` are the optimizer's hyper-parameters and ``t`` the steps it
        took so far (one per batch). Stops after the first epoch whose accuracy reaches
        ``target_accuracy`` or whose loss is not finite (that epoch's updates done, as in the
        per-layer path).

        Returns
        -------
        losses : ndarray (E,) float64
            Per-epoch loss (the sample-weighted mean of its batches'), E <= ``epochs`` the
            epochs that ran.
        correct : ndarray (E,) int64
            Per-epoch count of correct predictions.
        """
        self._check(X, y, params, grads, state)
        N = X.shape[0]
        B = N if batch_size is None or batch_size >= N else int(batch_size)
        if B < N:
            if order is None or order.ndim != 2 or order.shape[1] != N or len(order) == 0:
                raise ValueError(f"mini-batches need an order of shape (R, {N})")
            order = np.ascontiguousarray(order, dtype=np.int64)
            if order.min() < 0 or order.max() >= N:
                raise ValueError(f"an order holds sample indices in [0, {N}), got "
                                 f"{order.min()}..{order.max()}")
        else:
            order = self._full
        self._buffers(N, B)
        s1, s2 = (list(state) + [self._no_slot, self._no_slot])[:2]
        losses = np.empty(epochs, dtype=np.float64)
        correct = np.empty(epochs, dtype=np.int64)
        lo, hi = clip if clip is not None else (0.0, 0.0)
        target = -1.0 if target_accuracy is None else float(target_accuracy)
        if self._tables is None:  # compile first: a failure must leave every array untouched
            try:
                self._tables = row_kernel_tables(frozenset(self.spec.activations),
                                                 self.dtype.name)
            except Exception as e:
                raise FusedUnsupported(f"the fused step cannot be compiled: {e}") from e
        # every scalar converted: the entry point (below) does not check types, it converts
        head = (X, y, order, int(B), params, grads, s1, s2, np.array(hyper, dtype=np.float64),
                int(t), self.dims, self.codes)
        tail = (*self._tables, self.has_b, self._nob, self._eps, clip is not None, float(lo),
                float(hi), target, self._buf1, self._buf2, self._terms, losses, correct)
        blas = _uses_blas(B, self.spec.dims)  # batches of N % B < B samples too
        if blas not in self._entries and config.DISABLE_JIT:
            self._epochs, step = _build(*self._definitions, blas)
            self._entries[blas] = self._epochs, step
        elif blas not in self._entries:
            self._epochs, batch_step = _build(*self._definitions, blas)
            try:
                with warnings.catch_warnings():
                    # the row kernel tables are first-class functions, which Numba calls
                    # experimental and says so whenever it types them: the feature is used as
                    # documented, one signature per table, and tested
                    warnings.simplefilter("ignore", NumbaExperimentalFeatureWarning)
                    # the batch step is compiled on its own and called through a pointer: as
                    # a plain call, its code would be optimized and emitted again with the
                    # epoch loop's
                    step = first_class(batch_step, _step_signature(self.dtype, self._tables))
                    sig = tuple(typeof(a) for a in (*head, step, *tail))
                    self._epochs.compile(sig)
                # called through its entry point: the dispatcher would type the tables of
                # first-class functions again on every call (~0.5 ms); the entry point does not
                # check its arguments' types, so run checks the arrays first
                self._entries[blas] = self._epochs.overloads[sig].entry_point, step
            except Exception as e:  # Numba's typing and lowering errors, and their causes
                raise FusedUnsupported(f"the fused step cannot be compiled: {e}") from e
        entry, step = self._entries[blas]
        args = (*head, step, *tail)
        ran = entry(*args)
        return losses[:ran], correct[:ran]


def fused_trainer(spec: FusedSpec) -> FusedStep | None:
    """A :class:`FusedStep` for ``spec``, or None when this backend cannot fuse it (an
    activation without a kernel here, or a dtype other than float64/float32)."""
    if any(a not in ACTIVATION_CODES for a in spec.activations) \
            or np.dtype(spec.dtype) not in (np.float64, np.float32):
        return None
    try:
        return FusedStep(spec)
    except ValueError:  # a definition compile_definition refuses (a recursive one)
        return None
