"""Faithfulness metrics: does removing what the map calls important change the output?"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from xaibench.metrics.registry import MetricResult, register_metric
from xaibench.perturb import (
    forward_in_chunks,
    make_baseline,
    num_positions,
    position_scores,
    rank_positions,
    where_positions,
)
from xaibench.registry import XaibenchError


def order_curves(
    model: nn.Module,
    inputs: Tensor,
    target: Tensor,
    attributions: Tensor,
    start: Tensor,
    end: Tensor,
    steps: int,
    output: str,
    batch_size: int,
) -> MetricResult:
    """Target output while positions switch from `start` to `end`, most attributed first.

    Point k (k = 0..steps) has the top floor(k * P / steps) positions taken from `end`, so
    point 0 is `start` untouched and point `steps` is `end` entirely. The score is the area
    under the curve against the fraction of positions switched (trapezoid rule on [0, 1]),
    which equals RISE's `auc` when P is a multiple of `steps`.
    """
    n, positions = len(inputs), num_positions(inputs)
    if not 1 <= steps <= positions:
        raise XaibenchError(
            f"steps={steps} must be between 1 and the number of positions ({positions})"
        )
    device = inputs.device
    counts = torch.arange(steps + 1, device=device) * positions // steps
    ranks = rank_positions(position_scores(attributions))

    def make_chunk(lo: int, hi: int) -> tuple[Tensor, Tensor]:
        item = torch.arange(lo, hi, device=device)
        sample, step = item // (steps + 1), item % (steps + 1)
        switched = ranks[sample] < counts[step, None]
        return where_positions(switched, end[sample], start[sample]), target[sample]

    total = n * (steps + 1)
    curves = forward_in_chunks(model, total, make_chunk, output, batch_size).view(n, steps + 1)
    fraction = (counts / positions).double()
    scores = torch.trapezoid(curves.double(), fraction, dim=1)
    return MetricResult(scores=scores, curves=curves, curve_x=fraction)


@register_metric(
    "deletion",
    category="faithfulness",
    higher_is_better=False,
    description="Area under the target probability as the most attributed positions are "
    "replaced by the baseline; a faithful map makes it drop fast.",
    citation="Petsiuk, Das, Saenko. RISE: Randomized Input Sampling for Explanation of "
    "Black-box Models. BMVC 2018",
    curve_x_label="fraction of positions deleted",
    curve_y_label="target {output}",
)
def deletion(
    model: nn.Module,
    inputs: Tensor,
    target: Tensor,
    attributions: Tensor,
    steps: int = 40,
    baseline: str = "zero",
    output: str = "probability",
    batch_size: int = 4096,
) -> MetricResult:
    """RISE deletion: curve of steps + 1 points from the input (0%) to the baseline (100%)."""
    return order_curves(
        model, inputs, target, attributions, inputs, make_baseline(baseline, inputs),
        steps, output, batch_size,
    )  # fmt: skip


@register_metric(
    "insertion",
    category="faithfulness",
    higher_is_better=True,
    description="Area under the target probability as the most attributed positions are "
    "restored into the baseline; a faithful map makes it rise fast.",
    citation="Petsiuk, Das, Saenko. RISE: Randomized Input Sampling for Explanation of "
    "Black-box Models. BMVC 2018",
    curve_x_label="fraction of positions inserted",
    curve_y_label="target {output}",
)
def insertion(
    model: nn.Module,
    inputs: Tensor,
    target: Tensor,
    attributions: Tensor,
    steps: int = 40,
    baseline: str = "blur",
    output: str = "probability",
    batch_size: int = 4096,
) -> MetricResult:
    """RISE insertion: curve of steps + 1 points from the baseline (0%) to the input (100%).

    The default substrate is RISE's blurred input (kernel 11, sigma 5).
    """
    return order_curves(
        model, inputs, target, attributions, make_baseline(baseline, inputs), inputs,
        steps, output, batch_size,
    )  # fmt: skip


DEFAULT_SUBSET_FRACTIONS = (0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8)


def subset_sizes(n: int | float | Sequence[int | float], positions: int) -> list[int]:
    """Subset sizes from ints (positions) or floats in (0, 1) (fractions of the positions).

    Sizes are sorted and de-duplicated; each lies in 1..positions-1, because removing every
    position leaves a single subset and no correlation to measure.
    """
    values = list(n) if isinstance(n, Sequence) else [n]
    sizes = set()
    for value in values:
        if isinstance(value, float) and 0 < value < 1:
            value = max(1, round(value * positions))
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value < positions:
            raise XaibenchError(
                f"sensitivity_n: n={value!r} is invalid; give ints in 1..{positions - 1} "
                "(positions) or floats in (0, 1) (fractions of the positions)"
            )
        sizes.add(value)
    return sorted(sizes)


def random_subsets(positions: int, sizes: list[int], subsets: int, seed: int) -> Tensor:
    """Boolean masks (len(sizes), subsets, positions): `subsets` uniform random subsets per size.

    Drawn on the CPU from `seed` alone, and shared by every sample, so a sample's score does
    not depend on the other samples in its batch.
    """
    generator = torch.Generator().manual_seed(seed)
    masks = torch.zeros(len(sizes), subsets, positions, dtype=torch.bool)
    for i, size in enumerate(sizes):
        chosen = torch.rand(subsets, positions, generator=generator).argsort(dim=1)[:, :size]
        masks[i].scatter_(1, chosen, True)
    return masks


def pearson(a: Tensor, b: Tensor, dim: int = -1) -> Tensor:
    """Pearson correlation along `dim`; NaN where either side is constant."""
    a = a - a.mean(dim, keepdim=True)
    b = b - b.mean(dim, keepdim=True)
    denominator = (a.square().sum(dim) * b.square().sum(dim)).sqrt()
    correlation = (a * b).sum(dim) / denominator
    return correlation.masked_fill(denominator == 0, float("nan"))


@register_metric(
    "sensitivity_n",
    category="faithfulness",
    higher_is_better=True,
    description="Per sample and subset size n: Pearson correlation, over random subsets of n "
    "positions, between the subset's attribution sum and the output drop when the subset is "
    "set to the baseline; the score is the mean over n.",
    citation="Ancona, Ceolini, Oztireli, Gross. Towards Better Understanding of Gradient-based "
    "Attribution Methods for Deep Neural Networks. ICLR 2018",
    curve_x_label="n (positions set to the baseline)",
    curve_y_label="Pearson correlation over subsets",
    shared_across_methods=True,
)
def sensitivity_n(
    model: nn.Module,
    inputs: Tensor,
    target: Tensor,
    attributions: Sequence[Tensor],
    n: int | float | Sequence[int | float] = DEFAULT_SUBSET_FRACTIONS,
    subsets: int = 100,
    baseline: str = "zero",
    output: str = "logit",
    seed: int = 0,
    batch_size: int = 4096,
) -> list[MetricResult]:
    """Sensitivity-n as in the paper: random subsets (not the top-ranked positions), and the
    correlation taken across subsets for each sample (not across samples).

    The perturbed inputs do not depend on the attributions, so their forward passes are made
    once and shared by every method's map.
    """
    count, positions = len(inputs), num_positions(inputs)
    sizes = subset_sizes(n, positions)
    masks = random_subsets(positions, sizes, subsets, seed).to(inputs.device)
    masks = masks.view(len(sizes) * subsets, positions)
    per_sample = len(masks)
    replacement = make_baseline(baseline, inputs)

    def unperturbed(lo: int, hi: int) -> tuple[Tensor, Tensor]:
        return inputs[lo:hi], target[lo:hi]

    def make_chunk(lo: int, hi: int) -> tuple[Tensor, Tensor]:
        item = torch.arange(lo, hi, device=inputs.device)
        sample, subset = item // per_sample, item % per_sample
        return where_positions(masks[subset], replacement[sample], inputs[sample]), target[sample]

    original = forward_in_chunks(model, count, unperturbed, output, batch_size)
    perturbed = forward_in_chunks(model, count * per_sample, make_chunk, output, batch_size)
    drops = (original[:, None] - perturbed.view(count, per_sample)).double()
    drops = drops.view(count, len(sizes), subsets)
    curve_x = torch.tensor(sizes, dtype=torch.float64)

    results = []
    for attribution in attributions:
        mass = position_scores(attribution).double() @ masks.double().T
        curves = pearson(mass.view(count, len(sizes), subsets), drops)
        results.append(MetricResult(scores=curves.mean(dim=1), curves=curves, curve_x=curve_x))
    return results
