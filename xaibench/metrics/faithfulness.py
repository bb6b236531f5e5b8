"""Removal curves: does removing what the map calls important change the output?

Deletion and insertion (Petsiuk et al. 2018) and AOPC (Samek et al. 2017) switch regions of
the input, in the map's order, between the input and a baseline, and read the target output
after every step. All (sample, step) inputs are built and run in chunks of `batch_size`.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from xaibench.metrics.registry import MetricResult, register_metric_variant
from xaibench.perturb import forward_grid, make_baseline, region_ranks, where_grid
from xaibench.registry import XaibenchError


def check_steps(steps: int, regions: int, patch: int) -> None:
    if isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= regions:
        unit = "positions" if patch == 1 else f"regions (patches of {patch} positions per side)"
        raise XaibenchError(
            f"steps={steps!r} must be between 1 and the number of {unit} ({regions})"
        )


def switch_curves(
    model: nn.Module,
    inputs: Tensor,
    target: Tensor,
    ranks: Tensor,
    counts: Tensor,
    start: Tensor,
    end: Tensor,
    output: str,
    batch_size: int,
) -> Tensor:
    """Target output (N, S) while regions switch from `start` to `end` in rank order.

    `ranks` (N, P) is the removal order of every position's region; point s of the curve has
    the first `counts[s]` regions taken from `end` and the rest from `start`.
    """

    def make_inputs(samples: slice, steps: slice) -> Tensor:
        switched = ranks[samples, None] < counts[steps, None]
        return where_grid(switched, end[samples], start[samples])

    return forward_grid(model, target, len(counts), make_inputs, output, batch_size)


def area_curves(
    model: nn.Module,
    inputs: Tensor,
    target: Tensor,
    attributions: Tensor,
    start: Tensor,
    end: Tensor,
    steps: int,
    patch: int,
    output: str,
    batch_size: int,
) -> MetricResult:
    """RISE's protocol: point k (k = 0..steps) has the top floor(k * R / steps) of R regions
    taken from `end`, so point 0 is `start` untouched and point `steps` is `end` entirely.

    The score is the area under the curve against the fraction of regions switched
    (trapezoid rule on [0, 1]), which equals RISE's `auc` when R is a multiple of `steps`.
    """
    ranks, regions = region_ranks(attributions, patch, most_relevant_first=True)
    check_steps(steps, regions, patch)
    counts = torch.arange(steps + 1, device=inputs.device) * regions // steps
    curves = switch_curves(model, inputs, target, ranks, counts, start, end, output, batch_size)
    fraction = (counts / regions).double()
    scores = torch.trapezoid(curves.double(), fraction, dim=1)
    return MetricResult(scores=scores, curves=curves, curve_x=fraction)


def area_curve(
    model: nn.Module,
    inputs: Tensor,
    target: Tensor,
    attributions: Tensor,
    insert: bool,
    steps: int = 40,
    baseline: str = "zero",
    output: str = "probability",
    patch: int = 1,
    batch_size: int = 4096,
) -> MetricResult:
    """Area under the target output as the most attributed positions are switched between the
    input and the baseline.

    RISE's deletion (`insert=False`: from the input to the baseline, steps + 1 points from 0%
    to 100% deleted) and insertion (`insert=True`: from the baseline to the input).

    References:
        Petsiuk, Das, Saenko. RISE: Randomized Input Sampling for Explanation of Black-box
        Models. BMVC 2018
    """
    substrate = make_baseline(baseline, inputs)
    start, end = (substrate, inputs) if insert else (inputs, substrate)
    return area_curves(
        model, inputs, target, attributions, start, end, steps, patch, output, batch_size
    )


register_metric_variant(
    "deletion",
    area_curve,
    summary="Area under the target probability as the most attributed positions are replaced "
    "by the baseline; a faithful map makes it drop fast.",
    fixed={"insert": False},
    category="faithfulness",
    higher_is_better=False,
    curve_x_label="fraction of positions deleted",
    curve_y_label="target {output}",
)
# The default insertion substrate is RISE's blurred input (kernel 11, sigma 5).
register_metric_variant(
    "insertion",
    area_curve,
    summary="Area under the target probability as the most attributed positions are restored "
    "into the baseline; a faithful map makes it rise fast.",
    fixed={"insert": True},
    defaults={"baseline": "blur"},
    category="faithfulness",
    higher_is_better=True,
    curve_x_label="fraction of positions inserted",
    curve_y_label="target {output}",
)


def aopc(
    model: nn.Module,
    inputs: Tensor,
    target: Tensor,
    attributions: Tensor,
    most_relevant_first: bool,
    steps: int = 20,
    patch: int = 1,
    baseline: str = "uniform",
    output: str = "logit",
    seed: int = 0,
    batch_size: int = 4096,
) -> MetricResult:
    """Area over the perturbation curve: the mean drop of the target output over L + 1 steps,
    each replacing one more region by noise.

    Samek et al. 2017's AOPC for one sample: (1 / (L + 1)) * sum_{k=0..L} f(x^(0)) - f(x^(k)),
    where x^(k) has the first k regions of the order replaced by the baseline (one region per
    step, cumulatively; L = `steps`). The curve holds f(x^(k)) for k = 0..L.

    References:
        Samek, Binder, Montavon, Lapuschkin, Müller. Evaluating the Visualization of What a
        Deep Neural Network Has Learned. IEEE TNNLS 2017
    """
    ranks, regions = region_ranks(attributions, patch, most_relevant_first)
    check_steps(steps, regions, patch)
    counts = torch.arange(steps + 1, device=inputs.device)
    replacement = make_baseline(baseline, inputs, seed=seed)
    curves = switch_curves(
        model, inputs, target, ranks, counts, inputs, replacement, output, batch_size
    )
    scores = (curves[:, :1] - curves).double().mean(dim=1)
    return MetricResult(scores=scores, curves=curves, curve_x=counts.double())


register_metric_variant(
    "aopc_morf",
    aopc,
    summary="Area over the perturbation curve, most relevant first (MoRF): mean drop of the "
    "target output over L+1 steps, each replacing one more region (most attributed first) by "
    "noise; a large drop is faithful.",
    fixed={"most_relevant_first": True},
    category="faithfulness",
    higher_is_better=True,
    curve_x_label="regions perturbed (most relevant first)",
    curve_y_label="target {output}",
)
register_metric_variant(
    "aopc_lerf",
    aopc,
    summary="Area over the perturbation curve, least relevant first (LeRF): mean drop of the "
    "target output as the least attributed regions are replaced by noise; small is faithful.",
    fixed={"most_relevant_first": False},
    category="faithfulness",
    higher_is_better=False,
    curve_x_label="regions perturbed (least relevant first)",
    curve_y_label="target {output}",
)
