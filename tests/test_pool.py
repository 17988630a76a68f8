"""Max pooling: gradient check of the reference, the tie rule, every backend against it."""

import numpy as np
import pytest
from conftest import assert_rel_close, numeric_grad
from conv_backends import conv_backends
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from fastnn._checks import conv_output_size
from fastnn.backends import reference as R

BACKENDS = {name: be for name, be in conv_backends().items() if name != "numpy-einsum"}
ALL = {"reference": R, **BACKENDS}


@pytest.mark.parametrize("size, stride", [(2, None), ((2, 3), 1), (3, 2), (1, 1)])
def test_reference_gradient_matches_central_differences(size, stride):
    # distinct values: the max of every window is unique, so the gradient is defined
    x = np.random.default_rng(0).permutation(2 * 3 * 7 * 6).reshape(2, 3, 7, 6) / 10.0
    out = R.max_pool2d_forward(x, size, stride)
    G = np.random.default_rng(1).standard_normal(out.shape)

    def loss():
        return float(np.sum(R.max_pool2d_forward(x, size, stride) * G))

    assert_rel_close(R.max_pool2d_backward(x, G, size, stride), numeric_grad(loss, x, 1e-4),
                     1e-8, "dx")


@pytest.mark.parametrize("name", list(ALL))
def test_ties_send_the_gradient_to_the_first_maximum_in_row_major_order(name):
    be = ALL[name]
    x = np.array([[[[1.0, 3.0], [3.0, 3.0]]]])
    out = be.max_pool2d_forward(x, 2)
    np.testing.assert_array_equal(out, [[[[3.0]]]])
    dx = be.max_pool2d_backward(x, np.array([[[[5.0]]]]), 2)
    np.testing.assert_array_equal(dx, [[[[0.0, 5.0], [0.0, 0.0]]]])


pool_cases = st.fixed_dictionaries({
    "N": st.integers(1, 3), "C": st.integers(1, 3), "H": st.integers(1, 9),
    "W": st.integers(1, 9), "KH": st.integers(1, 3), "KW": st.integers(1, 3),
    "stride": st.integers(1, 4), "seed": st.integers(0, 2**32 - 1),
    "dtype": st.sampled_from([np.float64, np.float32]), "ties": st.booleans(),
})


@settings(max_examples=60, deadline=None)
@given(d=pool_cases)
def test_backends_match_reference(d):
    assume(d["KH"] <= d["H"] and d["KW"] <= d["W"])
    rng = np.random.default_rng(d["seed"])
    shape = (d["N"], d["C"], d["H"], d["W"])
    x = rng.integers(0, 3, shape) if d["ties"] else rng.standard_normal(shape)
    x = x.astype(d["dtype"])
    size, s = (d["KH"], d["KW"]), d["stride"]
    OH, OW = conv_output_size(d["H"], d["KH"], s, 0), conv_output_size(d["W"], d["KW"], s, 0)
    dout = rng.standard_normal((d["N"], d["C"], OH, OW)).astype(d["dtype"])
    out_ref = R.max_pool2d_forward(x, size, s)
    dx_ref = R.max_pool2d_backward(x, dout, size, s)
    rtol = 1e-10 if d["dtype"] == np.float64 else 1e-6  # overlapping windows add in any order
    for name, be in BACKENDS.items():
        out = be.max_pool2d_forward(x, size, s)
        assert out.dtype == d["dtype"]
        np.testing.assert_array_equal(out, out_ref, err_msg=name)
        dx = be.max_pool2d_backward(x, dout, size, s)
        assert dx.dtype == d["dtype"]
        assert_rel_close(dx, dx_ref, rtol, name)


@pytest.mark.parametrize("name", list(ALL))
def test_bad_pool_input(name):
    be = ALL[name]
    with pytest.raises(ValueError, match=r"x \(3, 4, 4\) must be 4-D"):
        be.max_pool2d_forward(np.zeros((3, 4, 4)), 2)
    with pytest.raises(ValueError, match=r"kernel size 3 is larger than the padded input size 2"):
        be.max_pool2d_forward(np.zeros((1, 1, 2, 5)), 3)
    with pytest.raises(ValueError, match="stride must be an integer >= 1, got 0"):
        be.max_pool2d_forward(np.zeros((1, 1, 4, 4)), 2, 0)
    with pytest.raises(ValueError, match="size must be an integer >= 1, got -2"):
        be.max_pool2d_forward(np.zeros((1, 1, 4, 4)), -2)
    with pytest.raises(ValueError, match=r"dout \(1, 1, 4, 4\) does not fit .* \(1, 1, 2, 2\)"):
        be.max_pool2d_backward(np.zeros((1, 1, 4, 4)), np.zeros((1, 1, 4, 4)), 2)
