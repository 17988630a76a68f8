"""The registry: every backend, numba included (a dependency), with the kernel contract."""

from __future__ import annotations

import pytest

import fastnn
from fastnn.backends.base import Backend, FusedHook


def test_available_backends_are_the_three():
    assert fastnn.available_backends() == ["reference", "numpy", "numba"]


@pytest.mark.parametrize("name", fastnn.available_backends())
def test_every_backend_has_the_contract(name):
    be = fastnn.get_backend(name)
    assert be.NAME == name
    kernels = [k for k in vars(Backend) if not k.startswith("_") and k != "NAME"]
    assert len(kernels) == 8
    for kernel in kernels:
        assert callable(getattr(be, kernel)), kernel
    assert isinstance(be, FusedHook) == (name == "numba")


def test_unknown_backend_lists_the_choices():
    with pytest.raises(ValueError, match="unknown backend 'gpu'; choose from: reference, numpy, "
                                         "numba"):
        fastnn.get_backend("gpu")
