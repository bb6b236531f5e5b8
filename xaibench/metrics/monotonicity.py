"""Monotonicity (Nguyen & Martinez 2020): do larger attributions go with larger effects?"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from xaibench.constraints import Count, Seed
from xaibench.metrics.registry import MetricResult, register_metric
from xaibench.metrics.similarity import spearman
from xaibench.perturb import (
    Baseline,
    Output,
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
)
def monotonicity(
    model: nn.Module,
    inputs: Tensor,
    target: Tensor,
    attributions: Sequence[Tensor],
    draws: Count = 20,
    patch: Count = 1,
    baseline: Baseline = "uniform",
    output: Output = "probability",
    seed: Seed = 0,
    batch_size: Count = 4096,
) -> list[MetricResult]:
    r"""Spearman correlation, per sample over regions, between a region's absolute attribution and
    the mean squared change of the target output when that region alone is replaced by random
    draws.

    Nguyen & Martinez's monotonicity
    $\rho_{\mathrm{Spearman}}(|a_r|,\ \mathbb{E}_d[(f(x) - f(x_{[x_r = d]}))^2])$ over the
    regions $r$ (single positions, or squares of `patch` positions per side, all channels
    together), where $a_r$ is the region's summed attribution and $x_{[x_r = d]}$ has region
    $r$ alone replaced by draw $d$ of the baseline (draw $d$ uses seed `seed` + $d$: fresh
    noise for `uniform`, the same values every draw for the deterministic baselines, for which
    one draw suffices). The absolute value makes a strongly negative region count as important:
    the metric asks whether the map ranks regions by effect, not by sign. Spearman's rank
    correlation averages tied ranks; the score is undefined (NaN) when $|a_r|$ does not vary
    over the regions, as for an all-zero map, or the effects do not. Closed form: on a bias-free
    linear model with a zero baseline and the logit, removing position $i$ changes the output by
    $w_i x_i$, so gradient x input scores exactly 1. The perturbations do not depend on the maps,
    so every method's map shares the forward passes. Cost: $1 +$ `draws` $\times R$ forward
    passes per sample for $R$ regions (801 with the defaults on 40 positions), shared by all
    methods.

    Higher is better: a faithful map gives the larger absolute attributions to the regions whose
    removal changes the output most.

    Args:
        draws: Random draws per region. Default 20, a fifth of Quantus' 100, to keep the cost
            at 801 forward passes per sample on MNIST-1D.
        patch: Side of the square regions in positions (a segment for signals); 1 perturbs
            single positions.
        baseline: What a region is replaced with: `uniform` (default: noise over each sample's
            own value range, a fresh pattern per draw), `zero`, `mean` (each sample's
            per-channel mean) or `blur`.
        output: What is read off the model for the target class: `probability` (default, as
            Quantus), `logit` or `correct`.
        seed: Seed of the first draw; draw $d$ uses `seed` + $d$.
        batch_size: The most perturbed inputs per forward pass; changes memory use, not scores.

    Returns:
        list[MetricResult]: one per map, with `scores` (N,), the rank correlation of each
        sample.

    Implementations differ:
        - Arya et al. 2019 also call a metric monotonicity: insert positions into the baseline
          in increasing attribution order, and pass if the output never falls. Its per-sample
          score is pass/fail over all P insertion steps and so is 0 for nearly every map of a
          CNN; xaibench implements Nguyen & Martinez's rank correlation instead. Quantus'
          implementation of Arya's test (`Monotonicity`, 0.6.0) fills the input with the
          baseline and then "inserts" the baseline value again at each step, never the input's
          own values; with its default "black" baseline the input never changes, the output is
          constant and every map passes with 1.0.
        - Quantus' MonotonicityCorrelation (0.6.0): 100 draws; its "uniform" baseline draws
          from U(0, 1) whatever the data's range (right for pixels in [0, 1], not for
          standardised inputs), where xaibench draws over each sample's own range. It also
          divides each squared change by $f(x)^2$, a per-sample constant that the rank
          correlation ignores, and ranks each value of the map (channels separately).

    Example:
        >>> import torch, xaibench
        >>> from xaibench.testing import toy_problem
        >>> model, inputs, target = toy_problem()
        >>> linear = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 3, bias=False))
        >>> maps = xaibench.explain(linear, inputs, target, "input_x_gradient")
        >>> result = xaibench.evaluate(
        ...     linear, inputs, target, maps, "monotonicity", baseline="zero", draws=1,
        ...     output="logit",
        ... )
        >>> result.scores.round(decimals=6).tolist()
        [1.0, 1.0, 1.0, 1.0]

        On the toy CNN, gradient x input scores above the random control, and its negation
        scores the same (the metric ranks absolute attributions):

        >>> maps = xaibench.explain(model, inputs, target, "input_x_gradient")
        >>> noise = xaibench.explain(model, inputs, target, "random")
        >>> good, negated, control = xaibench.evaluate_many(
        ...     model, inputs, target, [maps, -maps, noise], "monotonicity", draws=4
        ... )
        >>> bool(good.scores.mean() > control.scores.mean() + 0.3)
        True
        >>> torch.equal(good.scores, negated.scores)
        True

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
