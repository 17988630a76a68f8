"""Each optimizer's steps, recomputed by hand from the textbook formulas."""

import math

import numpy as np
import pytest

from fastnn import optim

G1 = np.array([0.5, -2.0, 3.0, 0.0])
G2 = np.array([-1.0, 0.25, 3.0, 4.0])
P0 = np.array([1.0, -1.0, 0.5, 2.0])


def run(opt, grads):
    p = P0.copy()
    for g in grads:
        opt.step(p, g.copy())
    return p


def test_sgd():
    p = run(optim.SGD(0.1), [G1, G2])
    np.testing.assert_allclose(p, P0 - 0.1 * G1 - 0.1 * G2, rtol=1e-15)


def test_momentum():
    lr, mu = 0.1, 0.9
    v1 = G1
    v2 = mu * v1 + G2
    p = run(optim.Momentum(lr), [G1, G2])
    np.testing.assert_allclose(p, P0 - lr * v1 - lr * v2, rtol=1e-15)


def test_adagrad():
    lr, eps = 0.5, 1e-10
    s1 = G1**2
    p1 = P0 - lr * G1 / (np.sqrt(s1) + eps)
    s2 = s1 + G2**2
    p2 = p1 - lr * G2 / (np.sqrt(s2) + eps)
    np.testing.assert_allclose(run(optim.Adagrad(lr), [G1, G2]), p2, rtol=1e-14)


def test_rmsprop():
    lr, a, eps = 0.01, 0.99, 1e-8
    s1 = (1 - a) * G1**2
    p1 = P0 - lr * G1 / (np.sqrt(s1) + eps)
    s2 = a * s1 + (1 - a) * G2**2
    p2 = p1 - lr * G2 / (np.sqrt(s2) + eps)
    np.testing.assert_allclose(run(optim.RMSprop(lr), [G1, G2]), p2, rtol=1e-14)


def test_adam():
    lr, b1, b2, eps = 0.01, 0.9, 0.999, 1e-8
    p, m, v = P0.copy(), np.zeros(4), np.zeros(4)
    for t, g in enumerate([G1, G2], start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g**2
        m_hat = m / (1 - b1**t)
        v_hat = v / (1 - b2**t)
        p = p - lr * m_hat / (np.sqrt(v_hat) + eps)
    np.testing.assert_allclose(run(optim.Adam(lr), [G1, G2]), p, rtol=1e-14)
    # Adam's first step moves every parameter with a non-zero gradient by about lr
    first = run(optim.Adam(lr), [G1])
    np.testing.assert_allclose(np.abs(first - P0)[G1 != 0], lr, rtol=1e-6)


def test_step_is_in_place_and_keeps_float32():
    p = P0.astype(np.float32)
    buf = p
    optim.Adam(0.1).step(p, G1.astype(np.float32))
    assert p is buf and p.dtype == np.float32
    assert not np.array_equal(p, P0.astype(np.float32))


def test_state_counts_steps():
    opt = optim.Adam(0.1)
    run(opt, [G1, G2, G1])
    assert opt.t == 3 and set(opt.state) == {"m", "v"}


@pytest.mark.parametrize("name", list(optim.OPTIMIZERS))
def test_registry_builds_each(name):
    opt = optim.get_optimizer(name, 0.05)
    assert opt.name == name and math.isclose(opt.lr, 0.05)


def test_nesterov():
    lr, mu = 0.1, 0.9
    v1 = G1
    p1 = P0 - lr * (G1 + mu * v1)
    v2 = mu * v1 + G2
    p2 = p1 - lr * (G2 + mu * v2)
    np.testing.assert_allclose(run(optim.Nesterov(lr), [G1, G2]), p2, rtol=1e-15)


def test_adamw():
    lr, b1, b2, eps, wd = 0.01, 0.9, 0.999, 1e-8, 0.1
    p, m, v = P0.copy(), np.zeros(4), np.zeros(4)
    for t, g in enumerate([G1, G2], start=1):
        p = p * (1 - lr * wd)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g**2
        p = p - lr * (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps)
    got = run(optim.AdamW(lr, weight_decay=wd), [G1, G2])
    np.testing.assert_allclose(got, p, rtol=1e-13)
    assert optim.AdamW(0.1).weight_decay == 0.01  # torch.optim.AdamW's default
    assert not np.allclose(got, run(optim.Adam(lr), [G1, G2]), rtol=1e-6)  # the decay acts


@pytest.mark.parametrize("value", [-0.1, float("nan"), float("inf"), "0.1", True])
def test_bad_weight_decay(value):
    with pytest.raises(ValueError, match="weight_decay must be a finite number >= 0"):
        optim.get_optimizer("adamw", 0.1, weight_decay=value)


def test_nesterov_needs_momentum():
    with pytest.raises(ValueError, match="nesterov needs a momentum"):
        optim.get_optimizer("nesterov", 0.1, momentum=0.0)


def test_float32_stays_float32():
    """Hyper-parameters reach the rules as Python floats, so NumPy keeps float32 arithmetic."""
    p, g = P0.astype(np.float32), G1.astype(np.float32)
    for name in optim.OPTIMIZERS:
        opt = optim.get_optimizer(name, 0.01)
        h = opt.hyper_values()
        new = opt.rule(p, g, np.zeros_like(p), np.zeros_like(p), h, opt.coefficients(h, 1.0))
        assert [a.dtype for a in new] == [np.float32] * 3, name


@pytest.mark.parametrize("lr", [0, -0.1, float("nan"), float("inf"), "0.1"])
def test_bad_lr(lr):
    with pytest.raises(ValueError, match="lr must be a positive number"):
        optim.get_optimizer("sgd", lr)


def test_unknown_optimizer_lists_choices():
    with pytest.raises(ValueError, match="unknown optimizer 'lamb'; choose from: sgd, momentum"):
        optim.get_optimizer("lamb", 0.1)


@pytest.mark.parametrize("kwargs", [{"momentum": 1.0}, {"momentum": -0.5}])
def test_bad_momentum(kwargs):
    with pytest.raises(ValueError, match="momentum must be a number in"):
        optim.get_optimizer("momentum", 0.1, **kwargs)


def test_unknown_hyperparameter():
    with pytest.raises(ValueError, match="optimizer 'sgd'"):
        optim.get_optimizer("sgd", 0.1, beta1=0.9)
