"""Monotonicity (Nguyen & Martinez 2020): do larger attributions go with larger effects?

Chosen over Arya et al. 2019's monotonicity, whose per-sample score is pass/fail (does the
output rise at every one of the P insertion steps?) and so is 0 for almost every map of a CNN;
a widely used implementation of that one also inserts the baseline into the baseline, so the
input never changes and every map passes.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from xaibench.metrics.registry import MetricResult, register_metric
from xaibench.metrics.similarity import spearman
from xaibench.perturb import (
    forward_grid,
    forward_unperturbed,
    make_baseline,
    region_ids,
    region_scores,
    where_grid,
)


@register_metric(
    "monotonicity",
    category="faithfulness",
    higher_is_better=True,
    shared_across_methods=True,
    renamed={"samples": "draws"},
)
def monotonicity(
    model: nn.Module,
    inputs: Tensor,
    target: Tensor,
    attributions: Sequence[Tensor],
    draws: int = 20,
    patch: int = 1,
    baseline: str = "uniform",
    output: str = "probability",
    seed: int = 0,
    batch_size: int = 4096,
) -> list[MetricResult]:
    """Spearman correlation, over regions, between the absolute attribution of a region and the mean
    squared change of the target output when that region alone is replaced by random draws.

    rho_Spearman(|a_r|, E_d[(f(x) - f(x with region r set to draw d))^2]) per sample.

    Each region (`patch` positions per side; 1 = single positions) is perturbed on its own,
    `draws` times; draw d is the baseline made with seed `seed + d` (for `uniform`, fresh
    noise over the sample's value range, like Quantus' default). Quantus also divides the
    squared change by f(x)^2; a per-sample constant, which Spearman's rank correlation
    ignores. The perturbations do not depend on the maps, so all methods share the forwards.

    References:
        Nguyen, Rodríguez Martínez. On quantitative aspects of model interpretability. arXiv
        2007.07584, 2020
    """
    ids, regions = region_ids(tuple(inputs.shape[2:]), patch, inputs.device)
    original = forward_unperturbed(model, inputs, target, output, batch_size)
    effect = torch.zeros(len(inputs), regions, dtype=torch.float64, device=inputs.device)
    for draw in range(draws):
        replacement = make_baseline(baseline, inputs, seed=seed + draw)

        def make_inputs(samples: slice, chosen: slice, replacement: Tensor = replacement) -> Tensor:
            region = torch.arange(chosen.start, chosen.stop, device=inputs.device)
            return where_grid(ids == region[None, :, None], replacement[samples], inputs[samples])

        perturbed = forward_grid(model, target, regions, make_inputs, output, batch_size)
        effect += (original[:, None] - perturbed).double().square()
    effect /= draws
    return [
        MetricResult(scores=spearman(region_scores(a, patch).double().abs(), effect))
        for a in attributions
    ]
