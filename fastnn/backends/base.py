"""The kernel contract every backend implements, and the shape checks they share.

A backend is a module exposing the functions of :class:`Backend`. Arrays are NumPy arrays of one
float dtype (float64 or float32); each kernel returns arrays of its inputs' dtype.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from .._checks import FLOAT_DTYPES, conv_output_size

# The checks below run at every kernel call, so each starts with one fused test of the common
# case (all arrays, shapes fit, one float dtype compared by identity: NumPy shares one dtype object
# per builtin type); only when it fails do the itemized tests run, to name the culprit, or to pass
# what it could not (an equal dtype that is a distinct object).
ndarray = np.ndarray
_F64, _F32 = FLOAT_DTYPES


class Backend(Protocol):
    """The functions (and their shapes) a backend module must define."""

    NAME: str

    def dense_forward(self, x: np.ndarray, W: np.ndarray, b: np.ndarray) -> np.ndarray:
        """x (N, Din), W (Din, Dout), b (Dout,) -> out (N, Dout) = x @ W + b."""

    def dense_backward(
        self, x: np.ndarray, W: np.ndarray, dout: np.ndarray, need_dx: bool = True
    ) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
        """x (N, Din), W (Din, Dout), dout (N, Dout) -> dx (N, Din), dW (Din, Dout), db (Dout,).

        With ``need_dx=False`` (a network's first layer) dx is not computed and is None.
        """

    def activation_forward(self, name: str, z: np.ndarray) -> np.ndarray:
        """y = f(z), elementwise, any shape."""

    def activation_backward(self, name: str, y: np.ndarray, dy: np.ndarray) -> np.ndarray:
        """dz = dy * f'(z), with f' written from the output y; y and dy of one shape."""

    def conv2d_forward(self, x: np.ndarray, W: np.ndarray, b: np.ndarray, stride: int = 1,
                       padding: int = 0) -> np.ndarray:
        """x (N, C, H, W), W (F, C, KH, KW), b (F,) -> out (N, F, OH, OW), zero padding."""

    def conv2d_backward(
        self, x: np.ndarray, W: np.ndarray, dout: np.ndarray, stride: int = 1, padding: int = 0
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """x (N, C, H, W), W (F, C, KH, KW), dout (N, F, OH, OW) -> dx, dW, db (F,)."""

    def max_pool2d_forward(self, x: np.ndarray, size: int | tuple[int, int] = 2,
                           stride: int | None = None) -> np.ndarray:
        """x (N, C, H, W) -> out (N, C, OH, OW), the max of each window (stride: the size)."""

    def max_pool2d_backward(self, x: np.ndarray, dout: np.ndarray,
                            size: int | tuple[int, int] = 2,
                            stride: int | None = None) -> np.ndarray:
        """x (N, C, H, W), dout (N, C, OH, OW) -> dx (N, C, H, W); ties: see POOL_TIES."""


@dataclass(frozen=True)
class FusedSpec:
    """What a backend's fused step is built from: an MLP's shape and the definitions to run.

    The parameters are laid out as the model's flat buffer holds them: layer by layer, W
    (Din, Dout) row-major, then b (Dout,) for a layer that has one.

    The functions are the very definitions the per-layer path applies to whole arrays, written
    with arithmetic and NumPy ufuncs so that they also run on single numbers:
    ``loss_point(pred, y, N, eps) -> (term, dterm)`` (:data:`fastnn.nn.losses.POINTWISE`), or
    with ``softmax`` set ``loss_point(zs, y, s, ysum, N)`` (:data:`fastnn.nn.losses.SOFTMAX`),
    the optimizer's ``coefficients(h, t)`` and ``rule(p, g, s1, s2, h, c)``
    (:mod:`fastnn.nn.optim`), ``clip(g, lo, hi)`` and the one-output accuracy test
    ``same_side(pred, y)``.
    """

    dims: tuple[int, ...]  #: layer widths, input first
    activations: tuple[str, ...]  #: the activation after each Dense layer ("identity": none)
    biases: tuple[bool, ...]  #: whether each Dense layer has a bias (False: out = x @ W)
    dtype: str
    slots: int  #: how many state slots the rule uses (0, 1 or 2); the others get 0.0
    loss_point: Callable
    coefficients: Callable
    rule: Callable
    clip: Callable
    same_side: Callable
    softmax: bool = False  #: ``loss_point`` is a softmax loss's, taking its row's statistics


class FusedUnsupported(ValueError):
    """A backend cannot compile a fused step for this run (a rule it cannot type, say); the
    trainer falls back to the per-layer kernels."""


class FusedStep(Protocol):
    """A compiled run of whole epochs, full-batch or mini-batch (see :class:`FusedHook`)."""

    def run(self, X: np.ndarray, y: np.ndarray, epochs: int, params: np.ndarray,
            grads: np.ndarray, state: list[np.ndarray], hyper: tuple[float, ...], t: int,
            clip: tuple[float, float] | None = None, target_accuracy: float | None = None,
            batch_size: int | None = None,
            order: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Train up to ``epochs`` epochs in place; per-epoch (losses, correct counts).

        With ``batch_size``, epoch ``e`` runs mini-batches of that many samples taken in the
        order ``order[e % len(order)]`` (a permutation of the N samples), one update each.

        Raises FusedUnsupported, before changing anything, when the step cannot be compiled.
        """


@runtime_checkable
class FusedHook(Protocol):
    """A backend that can fuse whole epochs defines ``fused_trainer``; the trainer checks for it
    with ``isinstance(backend, FusedHook)``."""

    def fused_trainer(self, spec: FusedSpec) -> FusedStep | None:
        """A compiled step for ``spec``, or None when this backend cannot fuse it."""


def check_arrays(kernel: str, **arrays: object) -> None:
    """Raise ValueError naming the first argument that is not a NumPy array (a list, a number):
    one isinstance per argument, at every kernel's public entry. (The per-epoch kernels test
    the common case first and call this only to name the culprit: a keyword dict built on every
    call would cost more than their arithmetic.)"""
    for name, a in arrays.items():
        if not isinstance(a, np.ndarray):
            raise ValueError(f"{kernel}: {name} must be a NumPy array, got "
                             f"{type(a).__name__} {_short(a)}")


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _all_arrays(*arrays: object) -> bool:
    for a in arrays:
        if not isinstance(a, np.ndarray):
            return False
    return True


def check_activation_forward(z: np.ndarray) -> None:
    """Raise ValueError unless z is a float64 or float32 array."""
    if isinstance(z, ndarray) and (z.dtype is _F64 or z.dtype is _F32):
        return
    check_arrays("activation_forward", z=z)
    check_same_float_dtype("activation_forward", z)


def check_same_float_dtype(kernel: str, *arrays: np.ndarray) -> None:
    """Raise ValueError unless all arrays share one dtype, float64 or float32."""
    dt = arrays[0].dtype
    same = True
    for a in arrays[1:]:
        if a.dtype is not dt and a.dtype != dt:
            same = False
            break
    if not same or dt not in FLOAT_DTYPES:
        got = ", ".join(str(a.dtype) for a in arrays)
        raise ValueError(f"{kernel}: arrays must share one dtype, float64 or float32; got {got}")


def check_dense_forward(x: np.ndarray, W: np.ndarray, b: np.ndarray) -> None:
    """Raise ValueError unless x (N, Din), W (Din, Dout), b (Dout,) fit together."""
    if isinstance(x, ndarray) and isinstance(W, ndarray) and isinstance(b, ndarray) \
            and x.ndim == 2 and W.ndim == 2 and b.ndim == 1 and x.shape[1] == W.shape[0] \
            and b.shape[0] == W.shape[1] and ((dt := x.dtype) is _F64 or dt is _F32) \
            and W.dtype is dt and b.dtype is dt:
        return
    if not _all_arrays(x, W, b):
        check_arrays("dense_forward", x=x, W=W, b=b)
    if x.ndim != 2 or W.ndim != 2 or b.ndim != 1 or x.shape[1] != W.shape[0] \
            or b.shape[0] != W.shape[1]:
        raise ValueError(
            f"dense_forward: shapes x {x.shape}, W {W.shape}, b {b.shape} do not fit; "
            "want x (N, Din), W (Din, Dout), b (Dout,)"
        )
    check_same_float_dtype("dense_forward", x, W, b)


def check_dense_backward(x: np.ndarray, W: np.ndarray, dout: np.ndarray) -> None:
    """Raise ValueError unless x (N, Din), W (Din, Dout), dout (N, Dout) fit together."""
    if isinstance(x, ndarray) and isinstance(W, ndarray) and isinstance(dout, ndarray) \
            and x.ndim == 2 and W.ndim == 2 and dout.ndim == 2 and x.shape[1] == W.shape[0] \
            and dout.shape[0] == x.shape[0] and dout.shape[1] == W.shape[1] \
            and ((dt := x.dtype) is _F64 or dt is _F32) and W.dtype is dt and dout.dtype is dt:
        return
    if not _all_arrays(x, W, dout):
        check_arrays("dense_backward", x=x, W=W, dout=dout)
    if x.ndim != 2 or W.ndim != 2 or dout.ndim != 2 or x.shape[1] != W.shape[0] \
            or dout.shape != (x.shape[0], W.shape[1]):
        raise ValueError(
            f"dense_backward: shapes x {x.shape}, W {W.shape}, dout {dout.shape} do not fit; "
            "want x (N, Din), W (Din, Dout), dout (N, Dout)"
        )
    check_same_float_dtype("dense_backward", x, W, dout)


def check_activation_backward(y: np.ndarray, dy: np.ndarray) -> None:
    """Raise ValueError unless y and dy have one shape and one float dtype."""
    if isinstance(y, ndarray) and isinstance(dy, ndarray) and y.shape == dy.shape \
            and ((dt := y.dtype) is _F64 or dt is _F32) and dy.dtype is dt:
        return
    if not _all_arrays(y, dy):
        check_arrays("activation_backward", y=y, dy=dy)
    if y.shape != dy.shape:
        raise ValueError(f"activation_backward: y {y.shape} and dy {dy.shape} differ in shape")
    check_same_float_dtype("activation_backward", y, dy)


# -- convolution and pooling --------------------------------------------------------------------

#: NOTE: max pooling sends a window's gradient to ONE input: the first maximum in row-major order
#: within the window (as ``argmax`` picks it). Overlapping windows (stride < size) add up.
POOL_TIES = "first maximum in row-major window order"


def _check_int(kernel: str, kind: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        want = "an integer >= 1" if minimum == 1 else f"an integer >= {minimum}"
        raise ValueError(f"{kernel}: {kind} must be {want}, got {value!r}")
    return int(value)


def check_conv2d(kernel: str, x: np.ndarray, W: np.ndarray, b_or_dout: np.ndarray | None,
                 stride: object, padding: object, backward: bool = False) -> tuple[int, int]:
    """Check a conv2d call; return (OH, OW). ``b_or_dout`` is b (forward) or dout (backward)."""
    check_arrays(kernel, x=x, W=W, **{"dout" if backward else "b": b_or_dout})
    stride = _check_int(kernel, "stride", stride, 1)
    padding = _check_int(kernel, "padding", padding, 0)
    if x.ndim != 4 or W.ndim != 4:
        raise ValueError(f"{kernel}: x {x.shape} and W {W.shape} must be 4-D; "
                         "want x (N, C, H, W), W (F, C, KH, KW)")
    N, C, H, Wd = x.shape
    F, CW, KH, KW = W.shape
    if C != CW:
        raise ValueError(f"{kernel}: x {x.shape} has {C} channels but W {W.shape} expects {CW}; "
                         "want x (N, C, H, W), W (F, C, KH, KW)")
    if KH < 1 or KW < 1:
        raise ValueError(f"{kernel}: W {W.shape} has an empty {KH}x{KW} kernel; want KH, KW >= 1")
    try:
        OH = conv_output_size(H, KH, stride, padding)
        OW = conv_output_size(Wd, KW, stride, padding)
    except ValueError as e:
        raise ValueError(f"{kernel}: x {x.shape}, W {W.shape}, padding {padding}: {e}") from None
    if backward:
        dout = b_or_dout
        if dout.shape != (N, F, OH, OW):
            raise ValueError(f"{kernel}: dout {dout.shape} does not fit x {x.shape} and "
                             f"W {W.shape} (stride {stride}, padding {padding}); "
                             f"want ({N}, {F}, {OH}, {OW})")
        check_same_float_dtype(kernel, x, W, dout)
    else:
        b = b_or_dout
        if b.shape != (F,):
            raise ValueError(f"{kernel}: b {b.shape} does not fit W {W.shape}; want ({F},)")
        check_same_float_dtype(kernel, x, W, b)
    return OH, OW


def _physical_memory() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def check_buffer_fits(kernel: str, what: str, shape: tuple[int, ...], dtype: np.dtype) -> None:
    """Raise ValueError if a buffer of ``shape`` would not fit in this machine's memory.

    Sizes are Python integers, so nothing overflows however large the shape.
    """
    n = 1
    for s in shape:
        n *= int(s)
    nbytes = n * np.dtype(dtype).itemsize
    limit = _physical_memory()
    if nbytes >= np.iinfo(np.intp).max or (limit is not None and nbytes > limit):
        have = f"{limit / 2**30:.1f} GiB" if limit is not None else "unknown"
        raise ValueError(f"{kernel}: the {what} buffer {tuple(int(s) for s in shape)} "
                         f"{np.dtype(dtype).name} needs {nbytes / 2**30:.1f} GiB, more than this "
                         f"machine's memory ({have}); use smaller batches")


def pool_params(kernel: str, size: object, stride: object) -> tuple[int, int, int]:
    """Return (KH, KW, stride) from ``size`` (int or pair) and ``stride`` (None: KH)."""
    pair = tuple(size) if isinstance(size, (tuple, list)) else (size, size)
    if len(pair) != 2:
        raise ValueError(f"{kernel}: size must be an integer or a pair, got {size!r}")
    KH = _check_int(kernel, "size", pair[0], 1)
    KW = _check_int(kernel, "size", pair[1], 1)
    s = KH if stride is None else _check_int(kernel, "stride", stride, 1)
    return KH, KW, s


def check_max_pool2d(kernel: str, x: np.ndarray, dout: np.ndarray | None, size: object,
                     stride: object) -> tuple[int, int, int, int, int]:
    """Check a max_pool2d call; return (KH, KW, stride, OH, OW)."""
    check_arrays(kernel, x=x, **({"dout": dout} if kernel.endswith("backward") else {}))
    KH, KW, s = pool_params(kernel, size, stride)
    if x.ndim != 4:
        raise ValueError(f"{kernel}: x {x.shape} must be 4-D; want x (N, C, H, W)")
    N, C, H, Wd = x.shape
    try:
        OH = conv_output_size(H, KH, s, 0)
        OW = conv_output_size(Wd, KW, s, 0)
    except ValueError as e:
        raise ValueError(f"{kernel}: x {x.shape}: {e}") from None
    if dout is None:
        check_same_float_dtype(kernel, x)
    else:
        if dout.shape != (N, C, OH, OW):
            raise ValueError(f"{kernel}: dout {dout.shape} does not fit x {x.shape} "
                             f"(size {(KH, KW)}, stride {s}); want ({N}, {C}, {OH}, {OW})")
        check_same_float_dtype(kernel, x, dout)
    return KH, KW, s, OH, OW
