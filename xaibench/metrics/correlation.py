"""Random-subset correlations: does the attribution mass of a subset predict the output drop?

Sensitivity-n (Ancona et al. 2018) and faithfulness correlation (Bhatt et al. 2020) draw
random subsets of positions, set them to a baseline, and correlate, per sample and across
subsets, the subset's attribution sum with the drop of the target output. The subsets do not
depend on the attributions, so the forward passes are made once for every method's map.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from xaibench.metrics.registry import MetricResult, register_metric
from xaibench.metrics.similarity import pearson
from xaibench.perturb import (
    forward_grid,
    forward_unperturbed,
    make_baseline,
    num_positions,
    position_scores,
    where_grid,
)
from xaibench.registry import XaibenchError


def subset_sizes(
    n: int | float | Sequence[int | float], positions: int, name: str = "sensitivity_n: n"
) -> list[int]:
    """Subset sizes from ints (positions) or floats in (0, 1) (fractions of the positions).

    Sizes are sorted and de-duplicated; each lies in 1..positions-1, because removing every
    position leaves a single subset and no correlation to measure. `name` names the setting
    in the error message.
    """
    values = list(n) if isinstance(n, Sequence) else [n]
    sizes = set()
    for value in values:
        if isinstance(value, float) and 0 < value < 1:
            value = max(1, round(value * positions))
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value < positions:
            raise XaibenchError(
                f"{name}={value!r} is invalid; give ints in 1..{positions - 1} "
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


def subset_correlations(
    model: nn.Module,
    inputs: Tensor,
    target: Tensor,
    attributions: Sequence[Tensor],
    sizes: list[int],
    subsets: int,
    baseline: str,
    output: str,
    seed: int,
    batch_size: int,
) -> list[Tensor]:
    """Per map, the correlation (N, len(sizes)) over `subsets` random subsets of each size
    between the subset's attribution sum and f(x) - f(x with the subset set to the baseline)."""
    count, positions = len(inputs), num_positions(inputs)
    masks = random_subsets(positions, sizes, subsets, seed).to(inputs.device)
    masks = masks.view(len(sizes) * subsets, positions)
    replacement = make_baseline(baseline, inputs, seed=seed)

    def make_inputs(samples: slice, items: slice) -> Tensor:
        return where_grid(masks[None, items], replacement[samples], inputs[samples])

    original = forward_unperturbed(model, inputs, target, output, batch_size)
    perturbed = forward_grid(model, target, len(masks), make_inputs, output, batch_size)
    drops = (original[:, None] - perturbed).double()
    drops = drops.view(count, len(sizes), subsets)
    correlations = []
    for attribution in attributions:
        mass = position_scores(attribution).double() @ masks.double().T
        correlations.append(pearson(mass.view(count, len(sizes), subsets), drops))
    return correlations


DEFAULT_SUBSET_FRACTIONS = (0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8)


@register_metric(
    "sensitivity_n",
    category="faithfulness",
    higher_is_better=True,
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
    """Per sample and subset size n: Pearson correlation, over random subsets of n positions,
    between the subset's attribution sum and the output drop when the subset is set to the
    baseline; the score is the mean over n.

    Sensitivity-n as in the paper: random subsets (not the top-ranked positions), and the
    correlation taken across subsets for each sample (not across samples).

    References:
        Ancona, Ceolini, Oztireli, Gross. Towards Better Understanding of Gradient-based Attribution
        Methods for Deep Neural Networks. ICLR 2018
    """
    sizes = subset_sizes(n, num_positions(inputs))
    curves = subset_correlations(
        model, inputs, target, attributions, sizes, subsets, baseline, output, seed, batch_size
    )
    curve_x = torch.tensor(sizes, dtype=torch.float64)
    return [MetricResult(scores=c.mean(dim=1), curves=c, curve_x=curve_x) for c in curves]


@register_metric(
    "faithfulness_correlation",
    category="faithfulness",
    higher_is_better=True,
    shared_across_methods=True,
)
def faithfulness_correlation(
    model: nn.Module,
    inputs: Tensor,
    target: Tensor,
    attributions: Sequence[Tensor],
    subset_size: int | float = 0.1,
    subsets: int = 100,
    baseline: str = "zero",
    output: str = "logit",
    seed: int = 0,
    batch_size: int = 4096,
) -> list[MetricResult]:
    """Pearson correlation, over random subsets of a fixed size, between the subset's attribution
    sum and the output drop when the subset is set to the baseline.

    Bhatt et al.'s mu_F: corr over subsets S with |S| = `subset_size` of (sum_{i in S} a_i,
    f(x) - f(x_[x_S = baseline])), per sample. `subset_size` is a number of positions or a
    fraction of them, checked against the input (a fixed 224 breaks 40-point signals).

    References:
        Bhatt, Weller, Moura. Evaluating and Aggregating Feature-based Model Explanations. IJCAI
        2020
    """
    sizes = subset_sizes(
        subset_size, num_positions(inputs), "faithfulness_correlation: subset_size"
    )
    curves = subset_correlations(
        model, inputs, target, attributions, sizes, subsets, baseline, output, seed, batch_size
    )
    return [MetricResult(scores=c[:, 0]) for c in curves]
