"""Deletion, insertion and sensitivity-n against slow re-implementations that follow the papers
step by step (tests/references.py): RISE's CausalMetric and Ancona et al.'s correlation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import xaibench
from tests.references import rise_causal_metric_reference, sensitivity_n_reference
from xaibench.metrics.correlation import random_subsets, subset_sizes
from xaibench.perturb import make_baseline


@pytest.mark.parametrize("metric", ["deletion", "insertion"])
@pytest.mark.parametrize(("baseline", "output"), [("zero", "probability"), ("blur", "logit")])
@pytest.mark.parametrize("kind", ["signal", "image"])
def test_deletion_insertion_match_rise_reference(
    metric, baseline, output, kind, cnn1d, signals, cnn2d, images
):
    model, x = (cnn1d, signals) if kind == "signal" else (cnn2d, images)
    steps = 8 if kind == "signal" else 16
    target = torch.arange(len(x)) % 3
    attr = torch.randn(x.shape, generator=torch.Generator().manual_seed(7))
    res = xaibench.evaluate(
        model, x, target, attr, metric, steps=steps, baseline=baseline, output=output
    )
    substrate = make_baseline(baseline, x)
    for i in range(len(x)):
        curve, auc = rise_causal_metric_reference(
            model, x[i], target[i].item(), attr[i], metric, steps, substrate[i], output
        )
        np.testing.assert_allclose(res.curves[i].numpy(), curve, rtol=1e-5, atol=1e-6)
        assert res.scores[i].item() == pytest.approx(auc, rel=1e-5, abs=1e-6)


@pytest.mark.parametrize("baseline", ["zero", "mean"])
def test_sensitivity_n_matches_paper_reference(baseline, cnn1d, signals):
    target = torch.tensor([0, 1, 2, 0, 1, 2])
    attr = xaibench.explain(cnn1d, signals, target, "input_x_gradient")
    n, subsets, seed = [1, 0.25, 8, 15], 30, 3
    res = xaibench.evaluate(
        cnn1d, signals, target, attr, "sensitivity_n",
        n=n, subsets=subsets, baseline=baseline, seed=seed,
    )  # fmt: skip
    sizes = subset_sizes(n, 16)
    assert sizes == [1, 4, 8, 15]
    masks = random_subsets(16, sizes, subsets, seed)
    substrate = make_baseline(baseline, signals)
    for i in range(len(signals)):
        expected = sensitivity_n_reference(
            cnn1d, signals[i], target[i].item(), attr[i], masks, substrate[i]
        )
        np.testing.assert_allclose(res.curves[i].numpy(), expected, rtol=1e-5, atol=1e-5)
        assert res.scores[i].item() == pytest.approx(expected.mean(), abs=1e-5)


def test_sensitivity_n_draws_random_subsets_of_the_requested_sizes():
    masks = random_subsets(40, [1, 4, 20], 50, seed=0)
    assert masks.shape == (3, 50, 40)
    assert masks.sum(-1).tolist() == [[1] * 50, [4] * 50, [20] * 50]
    # Random, not the top-ranked positions: the subsets of one size differ from each other.
    assert len({tuple(m.nonzero().flatten().tolist()) for m in masks[2]}) == 50
    torch.testing.assert_close(masks, random_subsets(40, [1, 4, 20], 50, seed=0))
    assert not torch.equal(masks, random_subsets(40, [1, 4, 20], 50, seed=1))
