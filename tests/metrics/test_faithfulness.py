"""AOPC, faithfulness correlation, infidelity, monotonicity and ROAD: slow references that
follow each paper one sample at a time (tests/references.py), closed forms on a hand-set linear
model, and agreement with captum where captum has the metric."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from captum.metrics import infidelity as captum_infidelity

import xaibench
from tests.references import (
    aopc_reference,
    faithfulness_correlation_reference,
    monotonicity_reference,
    road_reference,
    square_infidelity_reference,
)
from xaibench.metrics.correlation import random_subsets
from xaibench.metrics.infidelity import square_masks
from xaibench.perturb import make_baseline

# --- AOPC -----------------------------------------------------------------------------------


@pytest.mark.parametrize("metric", ["aopc_morf", "aopc_lerf"])
@pytest.mark.parametrize(("kind", "patch", "steps"), [("signal", 1, 10), ("image", 3, 9)])
def test_aopc_matches_samek_reference(metric, kind, patch, steps, cnn1d, signals, cnn2d, images):
    model, x = (cnn1d, signals) if kind == "signal" else (cnn2d, images)
    target = torch.arange(len(x)) % 3
    attr = torch.randn(x.shape, generator=torch.Generator().manual_seed(3))
    res = xaibench.evaluate(model, x, target, attr, metric, steps=steps, patch=patch, seed=5)
    substrate = make_baseline("uniform", x, seed=5)
    for i in range(len(x)):
        curve, score = aopc_reference(
            model, x[i], target[i].item(), attr[i], metric == "aopc_morf", steps, patch,
            substrate[i],
        )  # fmt: skip
        np.testing.assert_allclose(res.curves[i].numpy(), curve, rtol=1e-5, atol=1e-5)
        assert res.scores[i].item() == pytest.approx(score, abs=1e-5)


def test_aopc_by_hand_on_the_linear_model(linear_model):
    """W0 = [1, -2, 3, 0.5, 4, -1], x = ones, zero baseline: removing the top k of the map
    (gradient x input = W0) leaves 5.5 - (sum of the top k weights)."""
    x = torch.ones(1, 1, 6)
    attr = xaibench.explain(linear_model, x, 0, "input_x_gradient")
    morf = xaibench.evaluate(linear_model, x, 0, attr, "aopc_morf", steps=3, baseline="zero")
    assert morf.curves[0].tolist() == pytest.approx([5.5, 1.5, -1.5, -2.5])
    assert morf.scores.item() == pytest.approx((0 + 4 + 7 + 8) / 4)
    lerf = xaibench.evaluate(linear_model, x, 0, attr, "aopc_lerf", steps=2, baseline="zero")
    assert lerf.curves[0].tolist() == pytest.approx([5.5, 7.5, 8.5])  # removes -2, then -1
    assert lerf.scores.item() == pytest.approx((0 - 2 - 3) / 3)


# --- faithfulness correlation -------------------------------------------------------------


def test_faithfulness_correlation_matches_bhatt_reference(cnn1d, signals):
    """Bhatt et al. 2020: corr over random subsets S, |S| fixed, of (sum_S a, f(x) - f(x_S=b))."""
    target = torch.tensor([0, 1, 2, 0, 1, 2])
    attr = xaibench.explain(cnn1d, signals, target, "input_x_gradient")
    res = xaibench.evaluate(
        cnn1d, signals, target, attr, "faithfulness_correlation", subset_size=0.25, subsets=40,
        seed=2,
    )  # fmt: skip
    masks = random_subsets(16, [4], 40, seed=2)[0]
    for i in range(len(signals)):
        expected = faithfulness_correlation_reference(
            cnn1d, signals[i], target[i].item(), attr[i], masks
        )
        assert res.scores[i].item() == pytest.approx(expected, abs=1e-5)


def test_faithfulness_correlation_is_one_for_gradient_x_input_on_a_linear_model(linear_model):
    x = torch.randn(5, 1, 6, generator=torch.Generator().manual_seed(1))
    attr = xaibench.explain(linear_model, x, 0, "input_x_gradient")
    res = xaibench.evaluate(linear_model, x, 0, attr, "faithfulness_correlation", subset_size=2)
    torch.testing.assert_close(res.scores, torch.ones(5, dtype=torch.float64))


def test_faithfulness_correlation_refuses_a_subset_larger_than_the_input(cnn1d, signals):
    with pytest.raises(xaibench.XaibenchError, match=r"subset_size=224.*1\.\.15"):
        xaibench.evaluate(cnn1d, signals, 0, signals, "faithfulness_correlation", subset_size=224)


# --- infidelity ----------------------------------------------------------------------------


@pytest.mark.parametrize("normalise", [True, False])
@pytest.mark.parametrize("perturbation", ["noisy_baseline", "gaussian"])
def test_infidelity_equals_captum_for_the_same_perturbations(
    perturbation, normalise, cnn1d, signals
):
    target = torch.tensor([0, 1, 2, 0, 1, 2])
    attr = xaibench.explain(cnn1d, signals, target, "saliency", signed=True)
    samples, noise, seed = 30, 0.2, 4
    res = xaibench.evaluate(
        cnn1d, signals, target, attr, "infidelity", perturbation=perturbation,
        perturbations=samples, noise=noise, seed=seed, normalise=normalise,
    )  # fmt: skip
    eps = noise * torch.randn(samples, 2, 16, generator=torch.Generator().manual_seed(seed))

    def perturb(inputs):  # captum repeats each input `samples` times (repeat_interleave)
        eps_rows = eps.repeat(len(inputs) // samples, 1, 1)
        # noisy baseline: the perturbed input is the zero baseline plus noise
        perturbed = inputs - eps_rows if perturbation == "gaussian" else eps_rows
        return inputs - perturbed, perturbed

    expected = captum_infidelity(
        cnn1d, perturb, signals, attr, target=target, n_perturb_samples=samples,
        normalize=normalise,
    )  # fmt: skip
    torch.testing.assert_close(res.scores, expected.double(), rtol=1e-4, atol=1e-6)


def test_square_infidelity_matches_yeh_reference(cnn1d, signals):
    """Square removal: I = x - baseline on a random segment, 0 elsewhere; unnormalised MSE."""
    target = torch.tensor([2, 1, 0, 2, 1, 0])
    attr = xaibench.explain(cnn1d, signals, target, "input_x_gradient")
    res = xaibench.evaluate(
        cnn1d, signals, target, attr, "infidelity",
        perturbation="square", patch=3, perturbations=12, normalise=False, seed=1,
    )  # fmt: skip
    squares = square_masks(signals, 12, 3, seed=1)
    assert (squares.sum(1) == 3).all()
    for i in range(len(signals)):
        expected = square_infidelity_reference(
            cnn1d, signals[i], target[i].item(), attr[i], squares
        )
        assert res.scores[i].item() == pytest.approx(expected, rel=1e-4, abs=1e-7)


def test_infidelity_of_the_gradient_of_a_linear_model_is_zero(linear_model):
    """f(x) - f(x - I) = W . I exactly, so the map W has zero infidelity; 2W is penalised
    unless normalised (the optimal scale undoes the factor)."""
    x = torch.randn(4, 1, 6, generator=torch.Generator().manual_seed(2))
    gradient = xaibench.explain(linear_model, x, 0, "saliency", signed=True)
    cases = [(gradient, False, True), (2 * gradient, False, False), (2 * gradient, True, True)]
    for perturbation in ("noisy_baseline", "square", "gaussian"):
        for attr, normalise, zero in cases:
            res = xaibench.evaluate(
                linear_model, x, 0, attr, "infidelity", perturbation=perturbation,
                normalise=normalise, patch=2,
            )  # fmt: skip
            assert (res.scores.abs().max().item() < 1e-9) == zero


# --- monotonicity (Nguyen & Martinez 2020) ----------------------------------------------------


def test_monotonicity_matches_nguyen_martinez_reference(cnn1d, signals):
    target = torch.tensor([0, 1, 2, 0, 1, 2])
    attr = xaibench.explain(cnn1d, signals, target, "input_x_gradient")
    res = xaibench.evaluate(cnn1d, signals, target, attr, "monotonicity", draws=3, seed=7)
    for i in range(len(signals)):
        expected = monotonicity_reference(cnn1d, signals[i], target[i].item(), attr[i], 3, 7)
        assert res.scores[i].item() == pytest.approx(expected, abs=1e-6)


def test_monotonicity_is_one_for_gradient_x_input_on_a_linear_model(linear_model):
    """Zero baseline, logit: removing x_i changes the logit by w_i x_i, so the effect
    (w_i x_i)^2 ranks positions exactly as |gradient x input| does."""
    x = torch.randn(6, 1, 6, generator=torch.Generator().manual_seed(3))
    attr = xaibench.explain(linear_model, x, 0, "input_x_gradient")
    res = xaibench.evaluate(
        linear_model, x, 0, attr, "monotonicity", draws=1, baseline="zero", output="logit"
    )
    torch.testing.assert_close(res.scores, torch.ones(6, dtype=torch.float64))


def test_a_random_map_is_less_monotone_than_gradient_x_input(cnn1d):
    """The trap of a widely used implementation (every map scoring 1.0) would fail this."""
    x = torch.randn(24, 2, 16, generator=torch.Generator().manual_seed(4))
    good = xaibench.explain(cnn1d, x, 1, "input_x_gradient")
    noise = xaibench.explain(cnn1d, x, 1, "random")
    good_score, noise_score = xaibench.evaluate_many(
        cnn1d, x, 1, [good, noise], "monotonicity", draws=5
    )
    assert good_score.scores.mean() > noise_score.scores.mean() + 0.15
    assert noise_score.scores.mean().abs() < 0.1


# --- ROAD ------------------------------------------------------------------------------------


@pytest.mark.parametrize("metric", ["road_morf", "road_lerf"])
@pytest.mark.parametrize("kind", ["signal", "image"])
def test_road_matches_reference_imputation(metric, kind, cnn1d, signals, cnn2d, images):
    model, x = (cnn1d, signals) if kind == "signal" else (cnn2d, images)
    target = torch.arange(len(x)) % 3
    attr = torch.randn(x.shape, generator=torch.Generator().manual_seed(8))
    removed, noise_std, seed = [0.2, 0.5, 0.8], 0.01, 6
    res = xaibench.evaluate(
        model, x, target, attr, metric, removed=removed, noise=noise_std, seed=seed,
        output="probability",
    )  # fmt: skip
    generator = torch.Generator().manual_seed(seed)
    noise = noise_std * torch.randn(len(removed), *x.shape[1:], generator=generator)
    for i in range(len(x)):
        expected = road_reference(
            model, x[i], target[i].item(), attr[i], metric == "road_morf", removed, noise,
            "probability",
        )  # fmt: skip
        np.testing.assert_allclose(res.curves[i].numpy(), expected, rtol=1e-4, atol=1e-5)
        assert res.scores[i].item() == pytest.approx(expected.mean(), abs=1e-5)


def test_road_counts_removed_positions_not_kept_ones(linear_model):
    """removed=[0.5] on 6 positions hides 3: the most attributed under MoRF."""
    x = torch.ones(1, 1, 6)
    attr = torch.tensor([[[0.0, 0.0, 3.0, 0.0, 5.0, 4.0]]])
    res = xaibench.evaluate(linear_model, x, 0, attr, "road_morf", removed=[0.5], noise=0.0,
                            output="logit")  # fmt: skip
    assert res.curve_x.tolist() == [0.5]
    # a constant input imputes back to itself, whatever is removed
    assert res.curves[0, 0].item() == pytest.approx(5.5)


def test_road_refuses_fractions_outside_zero_one(cnn1d, signals):
    with pytest.raises(xaibench.XaibenchError, match="removed"):
        xaibench.evaluate(cnn1d, signals, 0, signals, "road_morf", removed=[0.5, 1.0])


def test_road_refuses_a_fraction_that_rounds_to_every_position_before_any_work(cnn1d, signals):
    """0.97 of 16 positions rounds to 16: nothing would be left to impute from. Checked once,
    on the host, before the perturbed inputs are built (the imputation then checks nothing)."""
    match = r"road: removed=0\.97 rounds to all 16 regions of an input; .* at least one kept"
    with pytest.raises(xaibench.XaibenchError, match=match):
        xaibench.evaluate(cnn1d, signals, 0, signals, "road_morf", removed=[0.5, 0.97])
