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

from xaibench.metrics.correlation import target_outputs
from xaibench.metrics.registry import MetricResult, register_metric
from xaibench.metrics.similarity import spearman
from xaibench.perturb import forward_in_chunks, make_baseline, region_ids, region_scores


@register_metric(
    "monotonicity",
    category="faithfulness",
    higher_is_better=True,
    description="Spearman correlation, over regions, between the absolute attribution of a "
    "region and the mean squared change of the target output when that region alone is "
    "replaced by random draws.",
    citation="Nguyen, Rodríguez Martínez. On quantitative aspects of model interpretability. "
    "arXiv 2007.07584, 2020",
    shared_across_methods=True,
)
def monotonicity(
    model: nn.Module,
    inputs: Tensor,
    target: Tensor,
    attributions: Sequence[Tensor],
    samples: int = 20,
    patch: int = 1,
    baseline: str = "uniform",
    output: str = "probability",
    seed: int = 0,
    batch_size: int = 4096,
) -> list[MetricResult]:
    """rho_Spearman(|a_r|, E_d[(f(x) - f(x with region r set to draw d))^2]) per sample.

    Each region (`patch` positions per side; 1 = single positions) is perturbed on its own,
    `samples` times; draw d is the baseline made with seed `seed + d` (for `uniform`, fresh
    noise over the sample's value range, like Quantus' default). Quantus also divides the
    squared change by f(x)^2; a per-sample constant, which Spearman's rank correlation
    ignores. The perturbations do not depend on the maps, so all methods share the forwards.
    """
    count = len(inputs)
    ids, regions = region_ids(tuple(inputs.shape[2:]), patch, inputs.device)
    per_draw = count * regions

    def make_chunk(lo: int, hi: int) -> tuple[Tensor, Tensor]:
        item = torch.arange(lo, hi, device=inputs.device)
        draw, sample, region = item // per_draw, item % per_draw // regions, item % regions
        perturbed = inputs[sample]
        # Items run draw-major, so a chunk spans few draws: make each draw's baseline once.
        for d in range(lo // per_draw, (hi - 1) // per_draw + 1):
            rows = draw == d
            replacement = make_baseline(baseline, inputs[sample[rows]], seed=seed + d)
            inside = ids[None] == region[rows, None]
            perturbed[rows] = torch.where(
                inside.view(-1, 1, *inputs.shape[2:]), replacement, perturbed[rows]
            )
        return perturbed, target[sample]

    original = target_outputs(model, inputs, target, output, batch_size)
    perturbed = forward_in_chunks(model, samples * per_draw, make_chunk, output, batch_size)
    change = (original[None, :, None] - perturbed.view(samples, count, regions)).double()
    effect = change.square().mean(dim=0)
    return [
        MetricResult(scores=spearman(region_scores(a, patch).double().abs(), effect))
        for a in attributions
    ]
