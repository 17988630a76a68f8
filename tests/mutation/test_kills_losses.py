"""Value checks of fastnn.nn.losses at its edges, written against mutmut's survivors (issue 16).

Each expected value is computed here from the formula (math module, hand arithmetic), not by
the code under test: the stability shift at logits near +-800, the clip at a prediction of
exactly 1.0, the 0.5 threshold itself, accuracy of several and image-shaped outputs, and the
advice ``unlearnable`` gives.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from fastnn.nn import losses


def test_softmax_cross_entropy_of_huge_logits_is_the_shifted_formula():
    # each row is (a, a - 1): softmax (1, e^-1) / (1 + e^-1) whatever a is; unshifted (or
    # shifted by the whole array's maximum) exp overflows at 800 or underflows to 0 at -800
    pred = np.array([[800.0, 799.0], [-800.0, -801.0], [0.0, -1.0]])
    y = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    p1 = 1.0 / (1.0 + math.exp(-1.0))
    loss, grad = losses.softmax_cross_entropy(pred, y)
    want = (-math.log(p1) - math.log(1.0 - p1) - math.log(p1)) / 3
    assert loss == pytest.approx(want, rel=1e-12)
    want_grad = np.array([[p1 - 1, 1 - p1], [p1, -p1], [p1 - 1, 1 - p1]]) / 3
    np.testing.assert_allclose(grad, want_grad, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(losses.softmax(pred), [[p1, 1 - p1]] * 3, rtol=1e-12)


def test_bce_of_a_prediction_of_exactly_one_is_clipped_one_eps_below():
    eps = np.finfo(np.float64).eps
    p = 1.0 - eps                              # the clip point; 1 - p is eps exactly
    pred = np.array([[1.0], [1.0]])
    y = np.array([[0.0], [1.0]])
    loss, grad = losses.bce(pred, y)
    want = (-math.log(eps) - math.log(p)) / 2
    assert loss == pytest.approx(want, rel=1e-12)
    np.testing.assert_allclose(grad, [[p / (p * eps * 2)], [(p - 1) / (p * eps * 2)]],
                               rtol=1e-12)


def test_bce_of_a_prediction_of_exactly_zero_is_clipped_one_eps_above():
    eps = np.finfo(np.float64).eps
    loss, grad = losses.bce(np.array([[0.0]]), np.array([[1.0]]))
    assert loss == pytest.approx(-math.log(eps), rel=1e-12)
    assert grad[0, 0] == pytest.approx((eps - 1) / (eps * (1 - eps)), rel=1e-12)


def test_exactly_the_threshold_counts_as_class_zero_for_prediction_and_label():
    pred = np.array([[0.5], [0.0], [0.5], [0.51]])
    y = np.array([[0.0], [0.5], [1.0], [0.5]])
    # 0.5 is not above 0.5: rows 0 and 1 agree, rows 2 and 3 do not
    assert list(losses.same_side(pred, y)[:, 0]) == [True, True, False, False]
    assert losses.count_correct(pred, y) == 2


def test_count_correct_of_one_output_counts_the_sides_that_agree():
    pred = np.array([[0.9], [0.1], [0.7], [0.2], [0.6]])
    y = np.array([[1.0], [1.0], [0.0], [0.0], [1.0]])
    got = losses.count_correct(pred, y)
    assert got == 3 and type(got) is int


def test_count_correct_of_several_outputs_counts_argmax_agreement():
    pred = np.array([[0.1, 0.7, 0.2], [0.8, 0.1, 0.1], [0.2, 0.3, 0.5], [0.3, 0.3, 0.4]])
    y = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])
    got = losses.count_correct(pred, y)
    assert got == 2 and type(got) is int
    # two outputs: still argmax, not the 0.5 side of each entry
    assert losses.count_correct(np.array([[0.6, 0.9], [0.2, 0.1]]),
                                np.array([[1.0, 0.0], [0.0, 1.0]])) == 0


def test_count_correct_of_image_shaped_outputs_counts_fractions_of_positions():
    # (N, K, L) = (2, 3, 4): per sample the fraction of its 4 positions whose argmax over K is right
    rng = np.random.default_rng(3)
    pred = rng.random((2, 3, 4))
    y = np.zeros_like(pred)
    labels = pred.argmax(axis=1)
    labels[0, :1] = (labels[0, :1] + 1) % 3        # sample 0: 3 of 4 right
    labels[1, :3] = (labels[1, :3] + 2) % 3        # sample 1: 1 of 4 right
    for n in range(2):
        for j in range(4):
            y[n, labels[n, j], j] = 1.0
    assert losses.count_correct(pred, y) == pytest.approx(3 / 4 + 1 / 4)
    # (N, K, L, M): fractions over L * M positions
    pred4 = rng.random((3, 2, 2, 3))
    y4 = np.zeros_like(pred4)
    right = 0
    for n in range(3):
        for j in range(2):
            for m in range(3):
                best = pred4[n, :, j, m].argmax()
                k = best if (n + j + m) % 2 else 1 - best
                y4[n, k, j, m] = 1.0
                right += (n + j + m) % 2
    assert losses.count_correct(pred4, y4) == pytest.approx(right / 6)


def test_unlearnable_softmax_over_one_output_says_why_and_what_learns():
    reason, fix = losses.unlearnable("softmax_cross_entropy", None, 1)
    assert reason == ("softmax_cross_entropy over one output unit cannot learn: the softmax of "
                      "one number is always 1, so its gradient is always 0")
    assert fix == {"loss": "bce", "output_activation": "sigmoid"}
    assert losses.unlearnable("softmax_cross_entropy", None, 2) is None
    assert losses.unlearnable("softmax_cross_entropy", "identity", 3) is None
    assert losses.unlearnable("mse", "identity", 1) is None


@pytest.mark.parametrize("activation", ["identity", "tanh", "relu"])
def test_unlearnable_bce_without_probabilities_says_why_and_what_learns(activation):
    reason, fix = losses.unlearnable("bce", activation, 1)
    assert reason == (f"bce needs outputs in (0, 1), probabilities, and the {activation} output "
                      "activation does not give them: the loss is clipped and its gradient "
                      "misleads")
    assert fix == {"output_activation": "sigmoid"}


def test_unlearnable_bce_with_sigmoid_or_an_unknown_activation_is_none():
    assert losses.unlearnable("bce", "sigmoid", 1) is None
    assert losses.unlearnable("bce", None, 1) is None
    assert losses.unlearnable("bce", None, None) is None


def test_bce_of_float16_clips_at_float16s_own_eps():
    # float16 is not in the eps cache: its eps (2^-10) comes from np.finfo, not float64's
    eps = 2.0 ** -10
    pred = np.array([[1.0], [0.25]], dtype=np.float16)
    y = np.array([[0.0], [1.0]], dtype=np.float16)
    loss, grad = losses.bce(pred, y)
    assert loss == pytest.approx((-math.log(eps) - math.log(0.25)) / 2, rel=2e-3)
    assert grad.dtype == np.float16
    np.testing.assert_allclose(grad.astype(np.float64),
                               [[1 / (eps * 2)], [(0.25 - 1) / (0.25 * 0.75 * 2)]], rtol=2e-3)


def test_an_unknown_loss_is_named_with_the_choices():
    assert losses.get_loss("bce") is losses.bce
    with pytest.raises(ValueError) as e:
        losses.get_loss("hinge")
    assert str(e.value) == ("unknown loss 'hinge'; choose from: "
                            + ", ".join(losses.LOSSES))
