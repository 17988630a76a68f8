"""Value checks of the optimizers' settings and one activation edge, written against mutmut's
survivors in fastnn.nn (issue 16): each bad setting names itself in its message, a passed eps
or a zero weight decay is the one used, an old-style subclass is refused, and leaky ReLU's
derivative at an output of exactly 0 is the slope's."""

from __future__ import annotations

import numpy as np
import pytest

from fastnn.nn import activations, optim


@pytest.mark.parametrize("make, name, bad", [
    (lambda v: optim.Nesterov(0.1, momentum=v), "momentum", 1.5),
    (lambda v: optim.Adagrad(0.1, eps=v), "eps", -1.0),
    (lambda v: optim.RMSprop(0.1, alpha=v), "alpha", 1.5),
    (lambda v: optim.RMSprop(0.1, eps=v), "eps", 0.0),
    (lambda v: optim.Adam(0.1, beta1=v), "beta1", 1.0),
    (lambda v: optim.Adam(0.1, beta2=v), "beta2", -0.5),
    (lambda v: optim.Adam(0.1, eps=v), "eps", -1e-8),
])
def test_a_bad_hyper_parameter_is_named_in_its_message(make, name, bad):
    with pytest.raises(ValueError) as e:
        make(bad)
    assert str(e.value).startswith(f"{name} must be ")
    assert repr(bad) in str(e.value)


def test_nesterov_without_momentum_says_so():
    with pytest.raises(ValueError) as e:
        optim.Nesterov(0.1, momentum=0.0)
    assert str(e.value) == "nesterov needs a momentum in (0, 1), got 0"


def test_adamw_keeps_the_eps_it_is_given_and_accepts_no_decay():
    opt = optim.AdamW(0.1, eps=0.25, weight_decay=0.0)
    assert (opt.eps, opt.weight_decay) == (0.25, 0.0)
    # with no decay AdamW's step is Adam's: one step from p = 1 with g = 1 is p - lr / (1 + eps)
    p = np.ones(3)
    opt.step(p, np.ones(3))
    np.testing.assert_allclose(p, 1.0 - 0.1 * 1.0 / (1.0 + 0.25), rtol=1e-14)


def test_a_subclass_defining_the_old_update_hook_is_refused():
    with pytest.raises(TypeError) as e:
        type("Old", (optim.Optimizer,), {"_update": lambda self, p, g: None})
    assert str(e.value) == ("Old defines _update, which fastnn no longer calls: define the "
                            "update as a rule (see fastnn.nn.optim)")
    assert issubclass(type("New", (optim.Optimizer,), {}), optim.Optimizer)


def test_leaky_relu_derivative_at_an_output_of_exactly_zero_is_the_slope():
    y = np.array([-1.0, 0.0, 2.0])
    dy = np.array([3.0, 5.0, 7.0])
    np.testing.assert_array_equal(activations.leaky_relu_backward(y, dy),
                                  [3.0 * activations.LEAKY_SLOPE, 5.0 * activations.LEAKY_SLOPE,
                                   7.0])
