"""The ``numba`` backend: compiled kernels of the contract, and a fused training step.

``kernels`` holds the dense and activation kernels, ``conv`` the convolution and pooling
kernels, ``fused`` the fused training step, ``cache`` the on-disk compile cache (keyed on what
compiled code depends on, and safe against corrupt entries).
"""

from __future__ import annotations

from .cache import install as _install_safe_cache

NAME = "numba"

_install_safe_cache()  # before any kernel can read the on-disk cache (at its first call)

from .conv import (  # noqa: E402
    conv2d_backward,
    conv2d_forward,
    max_pool2d_backward,
    max_pool2d_forward,
)
from .fused import fused_trainer  # noqa: E402
from .kernels import (  # noqa: E402
    activation_backward,
    activation_forward,
    dense_backward,
    dense_forward,
)

__all__ = ["NAME", "activation_backward", "activation_forward", "conv2d_backward",
           "conv2d_forward", "dense_backward", "dense_forward", "fused_trainer",
           "max_pool2d_backward", "max_pool2d_forward"]
