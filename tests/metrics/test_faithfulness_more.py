"""ABPC (the area between the least- and most-relevant-first deletion curves) and the Grad-CAM++
paper's average drop and increase in confidence: against slow paper-following references
(tests/references.py) on the tiny CNNs, by hand on the bias-free linear model of conftest, and
on what separates a good map from a bad one.

Linear model: logit_0 = W0 . x with W0 = [1, -2, 3, 0.5, 4, -1], logit_1 = 0.5 * sum(x); on
x = ones gradient x input for class 0 is W0 itself.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import xaibench
from tests.helpers import ONES, W0, input_x_gradient, random_map_problem
from tests.references import abpc_reference, confidence_change_reference
from xaibench.perturb import make_baseline

# --- ABPC -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("baseline", "output", "patch"), [("zero", "probability", 1), ("blur", "logit", 2)]
)
@pytest.mark.parametrize("kind", ["signal", "image"])
def test_abpc_matches_the_paper_reference(
    baseline, output, patch, kind, cnn1d, signals, cnn2d, images
):
    model, x, target, attr = random_map_problem(kind, cnn1d, signals, cnn2d, images)
    # 16 regions in every case but 1D with patch 2 (8): 6 steps leave uneven steps there.
    steps = 6
    res = xaibench.evaluate(
        model, x, target, attr, "abpc", steps=steps, baseline=baseline, output=output,
        patch=patch,
    )  # fmt: skip
    substrate = make_baseline(baseline, x)
    for i in range(len(x)):
        curve, area = abpc_reference(
            model, x[i], target[i].item(), attr[i], steps, patch, substrate[i], output
        )
        np.testing.assert_allclose(res.curves[i].numpy(), curve, rtol=1e-5, atol=1e-6)
        assert res.scores[i].item() == pytest.approx(area, rel=1e-5, abs=1e-6)
    assert res.curves[:, [0, -1]].abs().max().item() == 0.0  # both ends shared by the curves


def test_abpc_curve_and_area_by_hand(linear_model):
    """MoRF removes 4, 2, 0, 3, 5, 1: logits 5.5, 1.5, -1.5, -2.5, -3, -2, 0 (deletion's).
    LeRF removes 1, 5, 3, 0, 2, 4: logits 5.5, 7.5, 8.5, 8, 7, 4, 0.
    Difference 0, 6, 10, 10.5, 10, 6, 0; trapezoid over k/6: 42.5 / 6
    (= AUC(LeRF) 37.75/6 - AUC(MoRF) -4.75/6)."""
    res = xaibench.evaluate(
        linear_model, ONES, 0, input_x_gradient(linear_model, ONES), "abpc", steps=6, output="logit"
    )
    assert res.curves[0].tolist() == pytest.approx([0, 6, 10, 10.5, 10, 6, 0])
    assert res.curve_x.tolist() == pytest.approx([k / 6 for k in range(7)])
    assert res.scores.item() == pytest.approx(42.5 / 6)


def test_abpc_is_lerf_deletion_minus_morf_deletion(cnn1d, signals):
    """One implementation: the two curves are deletion's, of the map and of its negation."""
    attr = input_x_gradient(cnn1d, signals, 1)
    res = xaibench.evaluate(cnn1d, signals, 1, attr, "abpc", steps=8)
    morf = xaibench.evaluate(cnn1d, signals, 1, attr, "deletion", steps=8)
    lerf = xaibench.evaluate(cnn1d, signals, 1, -attr, "deletion", steps=8)
    assert torch.equal(res.scores, lerf.scores - morf.scores)
    assert torch.equal(res.curves, lerf.curves - morf.curves)


def test_negating_the_map_negates_abpc_and_a_flat_map_scores_zero(cnn1d, signals):
    attr = input_x_gradient(cnn1d, signals, 2)
    res = xaibench.evaluate(cnn1d, signals, 2, attr, "abpc", steps=8)
    negated = xaibench.evaluate(cnn1d, signals, 2, -attr, "abpc", steps=8)
    assert torch.equal(negated.scores, -res.scores)
    # Ties go lower index first in both orders, so a flat map removes in one order twice.
    flat = xaibench.evaluate(cnn1d, signals, 2, torch.zeros_like(attr), "abpc", steps=8)
    assert torch.equal(flat.scores, torch.zeros(6, dtype=torch.float64))


def test_on_a_linear_model_gradient_x_input_has_the_largest_abpc(linear_model):
    """Bias-free linear model, zero baseline, logits: removing k positions lowers the logit by
    the sum of their x_i W_i, so gradient x input's order removes the most (MoRF) and the
    least (LeRF) at every k; no map separates the curves further, per sample. A random map
    scores near 0 on average and the negated map exactly minus the best."""
    x = torch.randn(32, 1, 6, generator=torch.Generator().manual_seed(0))
    common = {"steps": 6, "output": "logit"}
    best = xaibench.evaluate(
        linear_model, x, 0, input_x_gradient(linear_model, x), "abpc", **common
    ).scores
    assert (best > 0).all()
    for seed in range(3):
        noise = xaibench.explain(linear_model, x, 0, "random", seed=seed)
        random = xaibench.evaluate(linear_model, x, 0, noise, "abpc", **common).scores
        assert (random <= best + 1e-6).all()
        assert random.mean().item() < 0.5 * best.mean().item()
    worst = xaibench.evaluate(
        linear_model, x, 0, -input_x_gradient(linear_model, x), "abpc", **common
    )
    torch.testing.assert_close(worst.scores, -best)


# --- average drop and increase in confidence ------------------------------------------------


@pytest.mark.parametrize(
    ("rescale", "output"), [("min_max", "probability"), ("positive_max", "logit")]
)
@pytest.mark.parametrize("kind", ["signal", "image"])
def test_confidence_change_matches_the_paper_reference(
    rescale, output, kind, cnn1d, signals, cnn2d, images
):
    model, x, target, attr = random_map_problem(kind, cnn1d, signals, cnn2d, images)
    drop = xaibench.evaluate(model, x, target, attr, "average_drop", rescale=rescale,
                             output=output).scores  # fmt: skip
    rise = xaibench.evaluate(model, x, target, attr, "increase_in_confidence", rescale=rescale,
                             output=output).scores  # fmt: skip
    for i in range(len(x)):
        full, faded, expected_drop, expected_rise = confidence_change_reference(
            model, x[i], target[i].item(), attr[i], rescale, output
        )
        if full > 0:
            assert drop[i].item() == pytest.approx(expected_drop, rel=1e-5, abs=1e-6)
        else:  # a relative drop of a non-positive logit is undefined
            assert math.isnan(drop[i].item())
        if abs(full - faded) > 1e-5:  # a comparison at rounding level may fall either way
            assert rise[i].item() == expected_rise


def test_average_drop_and_increase_by_hand(linear_model):
    """Target 0 on x = ones: Y = logit_0 = 5.5, logit_1 = 3.

    Gradient x input W0, min-max: w = (W0 + 2) / 6 = [3, 0, 5, 2.5, 6, 1] / 6, so
    logit_0 = (3 + 0 + 15 + 1.25 + 24 - 1) / 6 = 42.25 / 6 and logit_1 = 0.5 * 17.5 / 6:
    the logit rises (no drop, an increase).
    The negated map, min-max: w = (4 - W0) / 6 = [3, 6, 1, 3.5, 0, 5] / 6, so
    logit_0 = (3 - 12 + 3 + 1.75 + 0 - 5) / 6 = -9.25 / 6 and logit_1 = 0.5 * 18.5 / 6:
    a drop of (5.5 + 9.25 / 6) / 5.5 = 42.25 / 33 in logits (past 1, as the logit turns
    negative) and of 1 - sigmoid(-18.5 / 6) / sigmoid(2.5) in probability."""

    def scores(attr, metric, output):
        return xaibench.evaluate(linear_model, ONES, 0, attr, metric, output=output).scores.item()

    for output in ("logit", "probability"):
        assert scores(W0, "average_drop", output) == 0.0
        assert scores(W0, "increase_in_confidence", output) == 1.0
        assert scores(-W0, "increase_in_confidence", output) == 0.0
    assert scores(-W0, "average_drop", "logit") == pytest.approx(42.25 / 33)

    def sigmoid(z):
        return 1 / (1 + math.exp(-z))

    expected = 1 - sigmoid(-18.5 / 6) / sigmoid(2.5)
    assert scores(-W0, "average_drop", "probability") == pytest.approx(expected, rel=1e-5)


def test_positive_max_keeps_only_the_positive_evidence(linear_model):
    """positive_max: w = max(W0, 0) / 4 = [0.25, 0, 0.75, 0.125, 1, 0], so logit_0 =
    0.25 + 2.25 + 0.0625 + 4 = 6.5625 against Y = 5.5: no drop. The negated map keeps
    positions 1 and 5 (w = [0, 1, 0, 0, 0, 0.5]): logit_0 = -2 - 0.5, a drop of 8 / 5.5."""
    evaluate = xaibench.evaluate
    common = {"rescale": "positive_max", "output": "logit"}
    assert evaluate(linear_model, ONES, 0, W0, "average_drop", **common).scores.item() == 0.0
    negated = evaluate(linear_model, ONES, 0, -W0, "average_drop", **common).scores.item()
    assert negated == pytest.approx(8 / 5.5)


def test_a_good_map_drops_less_and_rises_more_than_a_bad_one(linear_model):
    """Bias-free linear model, logits, positive_max: x times gradient x input's weights keeps
    logit_0 = sum over a_i > 0 of a_i^2 / max(a) >= 0, the negated map's gives <= 0, so per
    sample gradient x input never drops more nor rises less; random maps fall between on
    average."""
    x = torch.randn(64, 1, 6, generator=torch.Generator().manual_seed(1))
    attr = input_x_gradient(linear_model, x)
    common = {"rescale": "positive_max", "output": "logit"}

    def both(maps):
        drop = xaibench.evaluate(linear_model, x, 0, maps, "average_drop", **common).scores
        rise = xaibench.evaluate(linear_model, x, 0, maps, "increase_in_confidence", **common)
        return drop, rise.scores

    positive = linear_model(x)[:, 0].detach() > 0  # where a relative drop is defined
    good, bad = both(attr), both(-attr)
    assert (good[0][positive] <= bad[0][positive]).all()
    assert torch.isnan(good[0][~positive]).all() and torch.isnan(bad[0][~positive]).all()
    assert (good[1] >= bad[1]).all()
    noise = xaibench.explain(linear_model, x, 0, "random", seed=0)
    random = both(noise)
    assert good[0][positive].mean() < random[0][positive].mean() < bad[0][positive].mean()
    assert good[1].mean() > random[1].mean() > bad[1].mean()


def test_the_rescaling_is_per_sample_and_ignores_the_maps_scale(cnn1d, signals):
    """min-max weights do not change when a map is scaled by a positive factor or shifted, and
    one sample's map never rescales another's (another tool normalised over the batch)."""
    attr = input_x_gradient(cnn1d, signals, 1)
    drop = xaibench.evaluate(cnn1d, signals, 1, attr, "average_drop").scores
    changed = attr.clone()
    changed[0] = changed[0] * 1000 + 3
    other = xaibench.evaluate(cnn1d, signals, 1, changed, "average_drop").scores
    torch.testing.assert_close(other, drop, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("metric", ["average_drop", "increase_in_confidence"])
def test_nan_only_where_the_rescaling_or_the_ratio_is_undefined(metric, linear_model):
    """A constant map has no min-max rescaling, a map with nothing positive no positive_max
    one; the average drop divides by Y, undefined for a non-positive logit."""
    x = torch.ones(3, 1, 6)
    maps = torch.stack([W0[0], torch.full((1, 6), 2.0), W0[0]])
    res = xaibench.evaluate(linear_model, x, 0, maps, metric).scores
    assert torch.isnan(res).tolist() == [False, True, False]
    negative = -W0.abs().expand(3, 1, 6)
    res = xaibench.evaluate(linear_model, x, 0, negative, metric, rescale="positive_max")
    assert torch.isnan(res.scores).all()
    # Target 0 on -ones: logit_0 = -5.5.
    logit = xaibench.evaluate(linear_model, -ONES, 0, W0, metric, output="logit").scores
    assert math.isnan(logit.item()) == (metric == "average_drop")
