"""Deletion, insertion and sensitivity-n on a bias-free linear model, worked out by hand.

Model: logit_0 = W0 . x with W0 = [1, -2, 3, 0.5, 4, -1]; input x = ones, so gradient x input
is W0 itself and ranks the positions 4, 2, 0, 3, 5, 1. With the zero baseline, deleting the
top k positions leaves the logit 5.5 - (sum of the top k weights).
"""

from __future__ import annotations

import pytest
import torch

import xaibench
from tests.helpers import ONES, input_x_gradient

DELETION_LOGITS = [5.5, 1.5, -1.5, -2.5, -3.0, -2.0, 0.0]
INSERTION_LOGITS = [0.0, 4.0, 7.0, 8.0, 8.5, 7.5, 5.5]


def test_deletion_curve_and_area_by_hand(linear_model):
    res = xaibench.evaluate(
        linear_model,
        ONES,
        0,
        input_x_gradient(linear_model, ONES),
        "deletion",
        steps=6,
        output="logit",
    )
    assert res.curves[0].tolist() == pytest.approx(DELETION_LOGITS)
    assert res.curve_x.tolist() == pytest.approx([k / 6 for k in range(7)])
    # Trapezoid on [0, 1]: (5.5/2 + 1.5 - 1.5 - 2.5 - 3 - 2 + 0/2) / 6
    assert res.scores.item() == pytest.approx(-4.75 / 6)


def test_insertion_curve_and_area_by_hand(linear_model):
    res = xaibench.evaluate(
        linear_model, ONES, 0, input_x_gradient(linear_model, ONES), "insertion",
        steps=6, output="logit", baseline="zero",
    )  # fmt: skip
    assert res.curves[0].tolist() == pytest.approx(INSERTION_LOGITS)
    assert res.scores.item() == pytest.approx(37.75 / 6)


def test_deletion_plus_insertion_is_the_logit_on_a_linear_model(linear_model):
    """With a zero baseline the two curves are complements: they sum to f(x) at every step."""
    x = torch.randn(5, 1, 6, generator=torch.Generator().manual_seed(0))
    attr = input_x_gradient(linear_model, x)
    common = {"steps": 6, "output": "logit", "baseline": "zero"}
    deleted = xaibench.evaluate(linear_model, x, 0, attr, "deletion", **common)
    inserted = xaibench.evaluate(linear_model, x, 0, attr, "insertion", **common)
    logit = linear_model(x)[:, 0].detach().double()
    # float32 model outputs: sums agree to rounding
    torch.testing.assert_close(
        deleted.curves + inserted.curves, logit[:, None].expand(5, 7), rtol=0, atol=1e-5
    )
    torch.testing.assert_close(deleted.scores + inserted.scores, logit, rtol=0, atol=1e-5)


def test_fewer_steps_than_positions_take_evenly_spaced_counts(linear_model):
    """steps=4 over 6 positions switches floor(k * 6 / 4) = 0, 1, 3, 4, 6 positions."""
    res = xaibench.evaluate(
        linear_model,
        ONES,
        0,
        input_x_gradient(linear_model, ONES),
        "deletion",
        steps=4,
        output="logit",
    )
    assert res.curve_x.tolist() == pytest.approx([0, 1 / 6, 3 / 6, 4 / 6, 1])
    assert res.curves[0].tolist() == pytest.approx([5.5, 1.5, -2.5, -3.0, 0.0])
    assert res.scores.item() == pytest.approx(-6.5 / 12)


def test_probability_output_is_the_softmax_of_the_logit_curves(linear_model):
    x = torch.randn(3, 1, 6, generator=torch.Generator().manual_seed(3))
    attr = input_x_gradient(linear_model, x)
    logit = {
        t: xaibench.evaluate(linear_model, x, t, attr, "deletion", steps=6, output="logit").curves
        for t in (0, 1)
    }
    probability = xaibench.evaluate(linear_model, x, 0, attr, "deletion", steps=6).curves
    torch.testing.assert_close(probability, torch.sigmoid(logit[0] - logit[1]))


def test_sensitivity_n_is_exactly_one_for_gradient_x_input_on_a_linear_model(linear_model):
    """Ancona et al. 2018: on a linear model with zero baseline, gradient x input satisfies
    sensitivity-n for every n."""
    x = torch.randn(8, 1, 6, generator=torch.Generator().manual_seed(4))
    res = xaibench.evaluate(
        linear_model, x, 0, input_x_gradient(linear_model, x), "sensitivity_n", n=[1, 2, 3, 4, 5]
    )
    assert res.curve_x.tolist() == [1, 2, 3, 4, 5]
    torch.testing.assert_close(res.curves, torch.ones(8, 5, dtype=torch.float64))


def test_sensitivity_n_of_a_random_map_is_near_zero(linear_model):
    x = torch.randn(64, 1, 6, generator=torch.Generator().manual_seed(5))
    noise = xaibench.explain(linear_model, x, 0, "random", seed=1)
    res = xaibench.evaluate(linear_model, x, 0, noise, "sensitivity_n", n=[2, 3], subsets=200)
    assert abs(res.scores.mean().item()) < 0.1
