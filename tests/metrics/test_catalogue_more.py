"""Metrics of the field's catalogue that xaibench adds as declared variants or small
functions: selectivity and region perturbation (settings of deletion and AOPC, tested equal to
them bit for bit), against slow paper-following references (tests/references.py) on the tiny
CNNs, by hand on the bias-free linear model of conftest, and on what separates a good map from
a bad one.

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
from tests.references import (
    aopc_reference,
    effective_complexity_reference,
    faithfulness_estimate_reference,
    selectivity_reference,
    top_k_intersection_reference,
)
from xaibench.perturb import make_baseline

# --- selectivity ------------------------------------------------------------------------------


@pytest.mark.parametrize(("baseline", "patch"), [("zero", 1), ("blur", 2)])
@pytest.mark.parametrize("kind", ["signal", "image"])
def test_selectivity_matches_the_paper_reference(
    baseline, patch, kind, cnn1d, signals, cnn2d, images
):
    """One region per step (steps = the number of regions), as Montavon et al. remove them."""
    model, x, target, attr = random_map_problem(kind, cnn1d, signals, cnn2d, images)
    regions = (16 if kind == "signal" else 64) // patch ** (1 if kind == "signal" else 2)
    res = xaibench.evaluate(
        model, x, target, attr, "selectivity", steps=regions, baseline=baseline, patch=patch
    )
    substrate = make_baseline(baseline, x)
    for i in range(len(x)):
        curve, area = selectivity_reference(
            model, x[i], target[i].item(), attr[i], patch, substrate[i]
        )
        np.testing.assert_allclose(res.curves[i].numpy(), curve, rtol=1e-5, atol=1e-5)
        assert res.scores[i].item() == pytest.approx(area, rel=1e-5, abs=1e-5)


def test_selectivity_is_deletion_of_the_logit_bit_for_bit(cnn1d, signals, cnn2d, images):
    for model, x in ((cnn1d, signals), (cnn2d, images)):
        attr = input_x_gradient(model, x, 1)
        for settings in ({"steps": 8}, {"steps": 4, "patch": 2, "baseline": "mean"}):
            ours = xaibench.evaluate(model, x, 1, attr, "selectivity", **settings)
            parent = xaibench.evaluate(model, x, 1, attr, "deletion", output="logit", **settings)
            assert torch.equal(ours.scores, parent.scores)
            assert torch.equal(ours.curves, parent.curves)
            assert torch.equal(ours.curve_x, parent.curve_x)


def test_selectivity_by_hand(linear_model):
    """Most relevant first, gradient x input W0 removes positions 4, 2, 0, 3, 5, 1 (to zero):
    logits 5.5, 1.5, -1.5, -2.5, -3, -2, 0; trapezoid over k / 6:
    (5.5 / 2 + 1.5 - 1.5 - 2.5 - 3 - 2 + 0 / 2) / 6 = -4.75 / 6."""
    res = xaibench.evaluate(linear_model, ONES, 0, W0, "selectivity", steps=6)
    assert res.curves[0].tolist() == pytest.approx([5.5, 1.5, -1.5, -2.5, -3, -2, 0])
    assert res.scores.item() == pytest.approx(-4.75 / 6)


def test_gradient_x_input_is_the_most_selective_map_on_a_linear_model(linear_model):
    """Bias-free linear model, zero baseline: removing k positions lowers the logit by the sum
    of their W_i x_i, so gradient x input's order leaves the lowest logit at every k (the
    least area, per sample); random maps score higher, the negated map highest."""
    x = torch.randn(32, 1, 6, generator=torch.Generator().manual_seed(0))
    best = xaibench.evaluate(
        linear_model, x, 0, input_x_gradient(linear_model, x), "selectivity", steps=6
    )
    worst = xaibench.evaluate(
        linear_model, x, 0, -input_x_gradient(linear_model, x), "selectivity", steps=6
    )
    noise = xaibench.explain(linear_model, x, 0, "random", seed=0)
    random = xaibench.evaluate(linear_model, x, 0, noise, "selectivity", steps=6)
    assert (best.scores <= random.scores + 1e-6).all()
    assert (random.scores <= worst.scores + 1e-6).all()
    assert best.scores.mean() < random.scores.mean() < worst.scores.mean()


# --- region perturbation ----------------------------------------------------------------------


@pytest.mark.parametrize("patch", [1, 2])
@pytest.mark.parametrize("kind", ["signal", "image"])
def test_region_perturbation_matches_the_paper_reference(
    patch, kind, cnn1d, signals, cnn2d, images
):
    model, x, target, attr = random_map_problem(kind, cnn1d, signals, cnn2d, images)
    res = xaibench.evaluate(
        model, x, target, attr, "region_perturbation", steps=5, patch=patch, seed=3
    )
    noise = make_baseline("uniform", x, seed=3)  # the paper's uniform noise
    for i in range(len(x)):
        curve, score = aopc_reference(
            model, x[i], target[i].item(), attr[i], True, 5, patch, noise[i]
        )
        np.testing.assert_allclose(res.curves[i].numpy(), curve, rtol=1e-5, atol=1e-5)
        assert res.scores[i].item() == pytest.approx(score, rel=1e-5, abs=1e-5)


def test_region_perturbation_is_aopc_morf_with_uniform_noise_bit_for_bit(
    cnn1d, signals, cnn2d, images
):
    for model, x in ((cnn1d, signals), (cnn2d, images)):
        attr = input_x_gradient(model, x, 2)
        for settings in ({"steps": 6}, {"steps": 3, "patch": 1, "output": "probability"}):
            ours = xaibench.evaluate(model, x, 2, attr, "region_perturbation", **settings)
            parent = xaibench.evaluate(
                model, x, 2, attr, "aopc_morf", **{"patch": 2, **settings, "baseline": "uniform"}
            )
            assert torch.equal(ours.scores, parent.scores)
            assert torch.equal(ours.curves, parent.curves)


def test_region_perturbation_by_hand(linear_model):
    """x = [0, 1, 2, 3, 4, 5]: the uniform noise b = 5 * u (u: seed 0's pattern). Perturbing
    position i changes logit_0 by W_i (b_i - x_i), so with a map ranking 4, 2, 0, 3, 5, 1 and
    patch 1 the curve is 5.5 minus the running sums of W_i (x_i - b_i) in that order, and the
    AOPC their mean over the L + 1 = 7 points."""
    x = torch.arange(6.0).view(1, 1, 6)
    b = make_baseline("uniform", x)[0, 0]
    unit = make_baseline("uniform", torch.tensor([[[0.0, 1, 1, 1, 1, 1]]]))[0, 0]
    assert torch.allclose(b, 5 * unit)  # the noise pattern over x's range [0, 5]
    order = [4, 2, 0, 3, 5, 1]
    drops = [0.0]
    for k in range(6):
        i = order[k]
        drops.append(drops[-1] + W0[0, 0, i].item() * (x[0, 0, i] - b[i]).item())
    res = xaibench.evaluate(linear_model, x, 0, W0, "region_perturbation", steps=6, patch=1)
    full = (W0 * x).sum().item()
    assert res.curves[0].tolist() == pytest.approx([full - d for d in drops], abs=1e-5)
    assert res.scores.item() == pytest.approx(np.mean(drops), abs=1e-5)


def test_the_best_region_order_has_the_largest_region_perturbation(linear_model):
    """The map a_i = W_i (x_i - b_i) (b: the noise) ranks positions by how far perturbing each
    lowers the logit, so its k first lower it most for every k: no map scores a larger AOPC,
    random maps score less on average and the negated map least."""
    x = torch.randn(32, 1, 6, generator=torch.Generator().manual_seed(1))
    oracle = W0[:, :1] * (x - make_baseline("uniform", x))
    common = {"steps": 6, "patch": 1}

    def score(maps):
        return xaibench.evaluate(linear_model, x, 0, maps, "region_perturbation", **common).scores

    best, worst = score(oracle), score(-oracle)
    random = score(xaibench.explain(linear_model, x, 0, "random", seed=0))
    assert (random <= best + 1e-6).all() and (worst <= random + 1e-6).all()
    assert worst.mean() < random.mean() < best.mean()


# --- faithfulness estimate --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("patch", "baseline", "output"), [(1, "zero", "logit"), (2, "blur", "probability")]
)
@pytest.mark.parametrize("kind", ["signal", "image"])
def test_faithfulness_estimate_matches_the_paper_reference(
    patch, baseline, output, kind, cnn1d, signals, cnn2d, images
):
    model, x, target, attr = random_map_problem(kind, cnn1d, signals, cnn2d, images)
    res = xaibench.evaluate(
        model, x, target, attr, "faithfulness_estimate", patch=patch, baseline=baseline,
        output=output,
    )  # fmt: skip
    substrate = make_baseline(baseline, x)
    for i in range(len(x)):
        expected = faithfulness_estimate_reference(
            model, x[i], target[i].item(), attr[i], patch, substrate[i], output
        )
        assert res.scores[i].item() == pytest.approx(expected, rel=1e-4, abs=1e-5)


def test_faithfulness_estimate_of_gradient_x_input_on_a_linear_model_is_exactly_one(
    linear_model,
):
    """Bias-free linear model, zero baseline, logits: removing position i alone lowers the
    logit by W_i x_i, which is gradient x input's a_i, so the correlation is 1 (and -1 for the
    negated map); on x = ones, a_i = W0_i = [1, -2, 3, 0.5, 4, -1]."""
    x = torch.randn(8, 1, 6, generator=torch.Generator().manual_seed(2))
    attr = input_x_gradient(linear_model, x)
    exact, negated = xaibench.evaluate_many(
        linear_model, x, 0, [attr, -attr], "faithfulness_estimate"
    )
    torch.testing.assert_close(exact.scores, torch.ones(8, dtype=torch.float64))
    torch.testing.assert_close(negated.scores, -torch.ones(8, dtype=torch.float64))
    # By hand on ones with patch 2: regions {0,1}, {2,3}, {4,5} hold W0 sums -1, 3.5, 3 and
    # the drops are the same sums: correlation 1. A map of [1, 0, 0, 0, 0, 0] gives region
    # sums 1, 0, 0 against drops -1, 3.5, 3: centred (2, -1, -1) / 3 and (-17, 10, 7) / 6,
    # Pearson (-17 / 6) / sqrt(2 / 3 * 73 / 6) = -0.99485.
    paired = xaibench.evaluate(linear_model, ONES, 0, W0, "faithfulness_estimate", patch=2)
    assert paired.scores.item() == pytest.approx(1.0)
    first = torch.tensor([[[1.0, 0, 0, 0, 0, 0]]])
    one_hot = xaibench.evaluate(linear_model, ONES, 0, first, "faithfulness_estimate", patch=2)
    expected = np.corrcoef([1.0, 0.0, 0.0], [-1.0, 3.5, 3.0])[0, 1]
    assert one_hot.scores.item() == pytest.approx(expected)
    assert expected == pytest.approx(-17 / 6 / math.sqrt(2 / 3 * 73 / 6))
    assert expected == pytest.approx(-0.99485, abs=1e-5)


def test_a_good_map_has_a_higher_faithfulness_estimate_than_a_random_one(cnn1d, signals):
    """On the tiny CNN, occlusion with the same single-position zero removal is the drops
    themselves (correlation 1); gradient x input lies between it and random maps."""
    target = torch.tensor([0, 1, 2, 0, 1, 2])
    occlusion = xaibench.explain(cnn1d, signals, target, "occlusion", window=1, stride=1)
    ixg = input_x_gradient(cnn1d, signals, target)
    noise = xaibench.explain(cnn1d, signals, target, "random", seed=0)
    best, good, control = xaibench.evaluate_many(
        cnn1d, signals, target, [occlusion, ixg, noise], "faithfulness_estimate"
    )
    torch.testing.assert_close(best.scores, torch.ones(6, dtype=torch.float64))
    assert good.scores.mean() > control.scores.mean() + 0.3
    assert (best.scores >= good.scores - 1e-9).all()


def test_faithfulness_estimate_is_nan_only_where_the_correlation_is_undefined(linear_model):
    """A constant map (here all zeros, or equal region sums) has no correlation; nor do equal
    drops (an all-zero input: removing any position to the zero baseline changes nothing)."""
    x = torch.cat([ONES, ONES, torch.zeros(1, 1, 6)])
    maps = torch.cat([W0, torch.zeros(1, 1, 6), W0])
    res = xaibench.evaluate(linear_model, x, 0, maps, "faithfulness_estimate").scores
    assert torch.isnan(res).tolist() == [False, True, True]
    assert res[0].item() == pytest.approx(1.0)
    with pytest.raises(xaibench.XaibenchError, match="at least 2"):
        xaibench.evaluate(linear_model, ONES, 0, W0, "faithfulness_estimate", patch=6)


# --- effective complexity ---------------------------------------------------------------------


def _complexity(maps, **settings):
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(maps[0].numel(), 2))
    x = torch.zeros_like(maps)
    return xaibench.evaluate(model, x, 0, maps, "effective_complexity", **settings).scores


def test_effective_complexity_on_hand_set_maps():
    """Channels are summed per position first: the positions of [[3, -1, 0, 1e-6, 2, 0],
    [-1, 1, 0, 0, -4, 0]] hold 2, 0, 0, 1e-6, -2, 0. Relative (eps 1e-5 of the largest, 2):
    2 and -2 count, 1e-6 does not (2e-5 is the threshold): 2. Absolute eps 1e-7: 3
    positions. eps 0.99 relative (1.98): both 2s still exceed it; eps 1: none does (strictly
    greater). An all-zero map counts 0 positions, relative or not."""
    maps = torch.tensor([[[3.0, -1, 0, 1e-6, 2, 0], [-1.0, 1, 0, 0, -4, 0]]])
    assert _complexity(maps).tolist() == [2.0]
    assert _complexity(maps, eps=1e-7, relative=False).tolist() == [3.0]
    assert _complexity(maps, eps=0.99).tolist() == [2.0]
    assert _complexity(maps, eps=1.0).tolist() == [0.0]
    assert _complexity(maps, eps=0.0).tolist() == [3.0]  # every non-zero position
    zero = torch.zeros(1, 2, 6)
    assert _complexity(zero).tolist() == [0.0]
    assert _complexity(zero, relative=False).tolist() == [0.0]


@pytest.mark.parametrize(("eps", "relative"), [(1e-5, True), (0.3, True), (0.5, False)])
def test_effective_complexity_matches_the_paper_reference(eps, relative, cnn2d, images):
    attr = input_x_gradient(cnn2d, images, 1)
    scores = xaibench.evaluate(
        cnn2d, images, 1, attr, "effective_complexity", eps=eps, relative=relative
    ).scores
    for i in range(len(images)):
        values = attr[i].sum(0).flatten().double().tolist()
        assert scores[i].item() == effective_complexity_reference(values, eps, relative)


def test_a_sparse_map_is_less_complex_and_a_relative_threshold_ignores_scale(cnn1d, signals):
    """A map on 3 of 16 positions counts 3 against a dense map's 16; scaling a map by 1e6
    leaves the relative count as it is and changes the absolute one."""
    dense = torch.randn(signals.shape, generator=torch.Generator().manual_seed(3))
    sparse = torch.zeros_like(dense)
    sparse[:, :, [2, 7, 11]] = 1.0
    scores = xaibench.evaluate_many(cnn1d, signals, 0, [sparse, dense], "effective_complexity")
    assert (scores[0].scores == 3).all() and (scores[1].scores == 16).all()
    tiny = dense * 1e-6
    relative = xaibench.evaluate(cnn1d, signals, 0, tiny, "effective_complexity").scores
    assert torch.equal(relative, scores[1].scores)
    absolute = xaibench.evaluate(
        cnn1d, signals, 0, tiny, "effective_complexity", eps=1e-5, relative=False
    ).scores
    assert (absolute == 0).all()


# --- top-k intersection -----------------------------------------------------------------------


@pytest.mark.parametrize(("k", "concept_influence"), [(0.1, False), (10, True), (1, False)])
def test_top_k_intersection_matches_the_paper_reference(k, concept_influence, cnn2d, images):
    masks = torch.rand(4, 8, 8, generator=torch.Generator().manual_seed(4)) < 0.3
    attr = input_x_gradient(cnn2d, images, 0)
    scores = xaibench.evaluate(
        cnn2d, images, 0, attr, "top_k_intersection", masks=masks, k=k,
        concept_influence=concept_influence,
    ).scores  # fmt: skip
    count = max(1, round(k * 64)) if isinstance(k, float) else k
    for i in range(4):
        values = attr[i].sum(0).flatten().double().numpy()
        expected = top_k_intersection_reference(
            values, masks[i].flatten().numpy(), count, concept_influence
        )
        assert scores[i].item() == pytest.approx(expected, rel=1e-12)


def test_top_k_intersection_by_hand_and_as_relevance_rank():
    """Positions 0..5 with map [5, 4, 3, 2, 1, 0] and mask {1, 3, 4}: the top 2 are 0 and 1,
    one in the mask: 1 / 2; concept influence: 1 / 2 * 6 / 3 = 1. The top 4 hold 1 and 3:
    2 / 4. With k the mask's size (3) it is relevance rank: top 0, 1, 2 hold 1: 1 / 3."""
    maps = torch.tensor([[[5.0, 4, 3, 2, 1, 0]]])
    masks = torch.tensor([[False, True, False, True, True, False]])
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(6, 2))
    x = torch.zeros(1, 1, 6)

    def score(**settings):
        result = xaibench.evaluate(model, x, 0, maps, "top_k_intersection", masks=masks, **settings)
        return result.scores.item()

    assert score(k=2) == 0.5
    assert score(k=2, concept_influence=True) == 1.0
    assert score(k=4) == 0.5
    rank = xaibench.evaluate(model, x, 0, maps, "relevance_rank", masks=masks).scores.item()
    assert score(k=3) == 1 / 3
    assert rank == pytest.approx(1 / 3)  # relevance_rank divides in float32
    with pytest.raises(xaibench.XaibenchError, match="k=7 is invalid"):
        score(k=7)


def test_a_map_on_the_mask_beats_a_random_one_and_an_empty_mask_is_nan(cnn1d, signals):
    masks = torch.zeros(6, 16, dtype=torch.bool)
    masks[:, 3:9] = True
    masks[5] = False  # an empty mask: nothing to intersect with
    on_mask = masks[:, None].float().expand(6, 2, 16) + 0.01 * torch.rand(6, 2, 16)
    noise = xaibench.explain(cnn1d, signals, 0, "random", seed=0)
    good, random = (
        xaibench.evaluate(cnn1d, signals, 0, m, "top_k_intersection", masks=masks, k=4).scores
        for m in (on_mask, noise)
    )
    assert good[:5].tolist() == [1.0] * 5
    assert random[:5].mean() < 0.8
    assert torch.isnan(good[5]) and torch.isnan(random[5])
