"""The convolution / pooling implementations under test, by name (shared by the conv tests)."""

from __future__ import annotations

from types import SimpleNamespace

from fastnn.backends import get_backend
from fastnn.backends import numpy_backend as V
from fastnn.backends import reference as R
from fastnn.backends.numba import conv as J

#: float32 against a float64 reference, elementwise relative, floored at F32_RTOL * max|ref|
#: (a few float32 ulps, 1.2e-7, per summed product over up to a few hundred terms).
F32_RTOL = 2e-5


def _variant(name: str, fwd, bwd) -> SimpleNamespace:
    """The numpy backend with another conv formulation (dense, activations, pooling as is)."""
    ns = SimpleNamespace(**{k: getattr(V, k) for k in dir(V) if not k.startswith("__")})
    ns.NAME, ns.conv2d_forward, ns.conv2d_backward = name, fwd, bwd
    return ns


def conv_backends() -> dict[str, object]:
    """Every non-reference conv implementation available here, name -> backend-like object."""
    out: dict[str, object] = {
        "numpy-im2col": _variant("numpy-im2col", V.conv2d_forward_im2col,
                                 V.conv2d_backward_im2col),
        "numpy-einsum": _variant("numpy-einsum", V.conv2d_forward_einsum,
                                 V.conv2d_backward_einsum),
        "numpy": V,
        "numba": get_backend("numba"),
    }
    ns = _variant("numba-conv", J.conv2d_forward, J.conv2d_backward)
    ns.max_pool2d_forward, ns.max_pool2d_backward = J.max_pool2d_forward, J.max_pool2d_backward
    out["numba-conv"] = ns  # numba's conv and pooling with numpy's dense kernels
    return out


REFERENCE = R
