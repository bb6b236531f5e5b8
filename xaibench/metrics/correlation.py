"""Random-subset correlations, sensitivity-n and faithfulness correlation: does a subset's
attribution sum predict the output drop when the subset is removed?"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

import torch
from torch import Tensor, nn

from xaibench.constraints import Count, Range, Seed
from xaibench.metrics.registry import MetricResult, register_metric
from xaibench.metrics.similarity import pearson
from xaibench.perturb import (
    Baseline,
    Output,
    forward_grid,
    forward_unperturbed,
    make_baseline,
    num_positions,
    position_scores,
    region_ids,
    region_scores,
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
    # A CPU generator, its draws moved once: every device gets the numbers a CPU run draws.
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
    original = forward_unperturbed(model, inputs, target, output, batch_size)
    correlations = [
        torch.empty(count, len(sizes), dtype=torch.float64, device=inputs.device)
        for _ in attributions
    ]
    # A block of samples at a time: as many as `batch_size` perturbed inputs hold, or one sample
    # when its subsets take more (forward_grid runs them in its own, possibly smaller, passes).
    # Memory holds a block's outputs, drops and subset sums, not N x len(masks) of each.
    block = max(1, batch_size // len(masks))
    subset_of = masks.double().T  # (positions, subsets): a map's sum over each subset
    for start in range(0, count, block):
        samples = slice(start, min(start + block, count))

        def make_inputs(rows: slice, items: slice, first: int = start) -> Tensor:
            rows = slice(first + rows.start, first + rows.stop)
            return where_grid(masks[None, items], replacement[rows], inputs[rows])

        perturbed = forward_grid(
            model, target[samples], len(masks), make_inputs, output, batch_size
        )
        drops = (original[samples, None] - perturbed).double()
        drops = drops.view(-1, len(sizes), subsets)
        for correlation, attribution in zip(correlations, attributions, strict=True):
            mass = position_scores(attribution[samples]).double() @ subset_of
            correlation[samples] = pearson(mass.view(-1, len(sizes), subsets), drops)
    return correlations


DEFAULT_SUBSET_FRACTIONS = (0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8)
# Subset sizes, in positions (ints) or fractions of them (floats in (0, 1)); the input decides
# the largest (see subset_sizes).
SubsetSize = Annotated[int | float, Range(low=0, low_open=True)]
# A correlation over subsets needs two of them at least.
Subsets = Annotated[int, Range(low=2)]


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
    n: SubsetSize | Sequence[SubsetSize] = DEFAULT_SUBSET_FRACTIONS,
    subsets: Subsets = 100,
    baseline: Baseline = "zero",
    output: Output = "logit",
    seed: Seed = 0,
    batch_size: Count = 4096,
) -> list[MetricResult]:
    r"""Per sample and subset size n: Pearson correlation, over random subsets of n positions,
    between the subset's attribution sum and the output drop when the subset is set to the
    baseline; the score is the mean over n.

    A map is sensitivity-n (Ancona et al.) when, for every subset $S$ of $n$ positions, the
    attributions in $S$ sum to the output change that removing $S$ causes. For each size $n$,
    `subsets` random subsets $S$ are drawn (uniformly, without replacement) and the curve holds,
    per sample, the Pearson correlation across those subsets
    $\rho_n = \mathrm{corr}_S(\sum_{i \in S} a_i,\ f(x) - f(x_{[x_S = b]}))$, where $a_i$ is the
    attribution of position $i$ summed over channels and $x_{[x_S = b]}$ has the positions of
    $S$ (all channels) set to the baseline $b$. The score is the mean of $\rho_n$ over the
    sizes. Closed form: on a bias-free linear model with a zero baseline and the logit, gradient
    x input satisfies the property exactly and scores 1 at every $n$. $\rho_n$ is undefined
    (NaN) when the subset sums do not vary, as for a constant map, or the drops do not; a NaN
    at any size makes the score NaN. The subsets are drawn from `seed` alone and shared by all
    samples and methods, so the forward passes are made once for every method's map. Cost:
    $1 + |n| \times$ `subsets` forward passes per sample (701 with the defaults on 40
    positions), shared by all methods.

    Higher is better: the closer each subset's attribution sum tracks the output change its
    removal causes, the better the map predicts the model's response to removing features.

    Args:
        n: The subset sizes: ints (positions) or floats in (0, 1) (fractions of the positions,
            rounded, at least 1); one value or a list. Each size must lie in 1..P-1 for P
            positions (removing every position leaves one subset, nothing to correlate); sizes
            are sorted and duplicates merged. Default (0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8),
            a roughly geometric grid like the paper's log-scale plots: 1, 2, 4, 8, 16, 24 and
            32 of MNIST-1D's 40 positions.
        subsets: Random subsets per size. Default 100.
        baseline: What the positions of a subset are set to: `zero` (default, the paper's),
            `mean` (each sample's per-channel mean), `blur` or `uniform` (noise over each
            sample's value range, from `seed`).
        output: What is read off the model for the target class: `logit` (default; the paper
            correlates with the change of the network's output before the softmax),
            `probability` or `correct`.
        seed: Seed of the subsets (and of a `uniform` baseline).
        batch_size: The most perturbed inputs per forward pass; changes memory use, not scores.

    Returns:
        list[MetricResult]: one per map, with `scores` (N,), the mean of $\rho_n$ over the
        sizes; `curves` (N, sizes), $\rho_n$; `curve_x` (sizes,), the sizes $n$ in positions.

    Implementations differ:
        - Quantus' SensitivityN (0.6.0) does not draw random subsets: it removes the top-ranked
          values of the map cumulatively, one more per step; at step k it sums the attributions
          of that step's values only while the output drop is cumulative; it correlates, for
          each n, across the samples of a batch instead of across subsets of each sample, so it
          yields one number per n rather than per sample; and it reads only the first batch's
          results (`evaluation_scores[0]`, 64 samples by default). Its default baseline,
          "black", is each sample's minimum value. xaibench follows the paper and is tested
          against a slow loop that does.
        - Ancona et al. report the curve over n; the mean over the sizes is xaibench's summary
          in one number, and it depends on the grid of sizes: report the curves too.

    Example:
        >>> import torch, xaibench
        >>> from xaibench.testing import toy_problem
        >>> _, inputs, target = toy_problem()
        >>> linear = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 3, bias=False))
        >>> maps = xaibench.explain(linear, inputs, target, "input_x_gradient")
        >>> result = xaibench.evaluate(linear, inputs, target, maps, "sensitivity_n", subsets=20)
        >>> result.curve_x.tolist()  # 2.5%, 5%, 10%, ..., 80% of 16 positions, rounded, merged
        [1.0, 2.0, 3.0, 6.0, 10.0, 13.0]
        >>> torch.allclose(result.curves, torch.ones(4, 6, dtype=torch.float64))
        True

    References:
        Ancona, Ceolini, Oztireli, Gross. Towards Better Understanding of Gradient-based Attribution
        Methods for Deep Neural Networks. ICLR 2018
    """
    sizes = subset_sizes(n, num_positions(inputs))
    curves = subset_correlations(
        model, inputs, target, attributions, sizes, subsets, baseline, output, seed, batch_size
    )
    curve_x = torch.tensor(sizes, dtype=torch.float64, device=inputs.device)
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
    subset_size: SubsetSize = 0.1,
    subsets: Subsets = 100,
    baseline: Baseline = "zero",
    output: Output = "logit",
    seed: Seed = 0,
    batch_size: Count = 4096,
) -> list[MetricResult]:
    r"""Pearson correlation, per sample over random subsets of one size, between the subset's
    attribution sum and the drop of the target output when the subset is set to the baseline.

    Bhatt et al.'s faithfulness $\mu_F = \mathrm{corr}_{S}(\sum_{i \in S} a_i,\ f(x) -
    f(x_{[x_S = b]}))$ over `subsets` random subsets $S$ of `subset_size` positions, with $a_i$
    and $x_{[x_S = b]}$ as in `sensitivity_n`: it is sensitivity-n at a single size, with the
    same drawing of subsets (from `seed` alone, shared by all samples and methods), closed form
    (gradient x input of a bias-free linear model scores exactly 1) and NaN cases (a constant
    map). Between -1 and 1; negating a map negates its score. Cost: $1 +$ `subsets` forward
    passes per sample, shared by all methods.

    Higher is better, as for `sensitivity_n`: each subset's attribution sum tracks the output
    change its removal causes.

    Args:
        subset_size: Positions per subset: an int in 1..P-1 for P positions, or a float in
            (0, 1), a fraction of the positions (rounded, at least 1); checked against the
            input. Default 0.1: a fraction, so one setting fits 40-point signals and 224x224
            images alike.
        subsets: Random subsets per sample. Default 100.
        baseline: What the positions of a subset are set to: `zero` (default), `mean`, `blur`
            or `uniform`, as for `sensitivity_n`.
        output: What is read off the model for the target class: `logit` (default: the class
            score that gradient maps explain), `probability` or `correct`.
        seed: Seed of the subsets (and of a `uniform` baseline).
        batch_size: The most perturbed inputs per forward pass; changes memory use, not scores.

    Returns:
        list[MetricResult]: one per map, with `scores` (N,), $\mu_F$ of each sample.

    Implementations differ:
        - Quantus' FaithfulnessCorrelation (0.6.0) defaults to `subset_size=224` values, more
          than a whole MNIST-1D signal has (it refuses with an assertion); it draws the subsets
          per sample from NumPy's global generator, so a sample's score depends on the samples
          before it; it counts features as values of the flattened map, each channel on its
          own, where xaibench removes positions, all channels together; and its default
          baseline, "black", is each sample's minimum value, not zero. Like the paper and
          xaibench, it correlates per sample across subsets (100 by default).

    Example:
        >>> import torch, xaibench
        >>> from xaibench.testing import toy_problem
        >>> model, inputs, target = toy_problem()
        >>> linear = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 3, bias=False))
        >>> maps = xaibench.explain(linear, inputs, target, "input_x_gradient")
        >>> exact, negated = xaibench.evaluate_many(
        ...     linear, inputs, target, [maps, -maps], "faithfulness_correlation", subsets=20
        ... )
        >>> exact.scores.round(decimals=6).tolist(), negated.scores.round(decimals=6).tolist()
        ([1.0, 1.0, 1.0, 1.0], [-1.0, -1.0, -1.0, -1.0])

        On the toy CNN, gradient x input scores well above the random control:

        >>> maps = xaibench.explain(model, inputs, target, "input_x_gradient")
        >>> noise = xaibench.explain(model, inputs, target, "random")
        >>> good, control = xaibench.evaluate_many(
        ...     model, inputs, target, [maps, noise], "faithfulness_correlation", subsets=20
        ... )
        >>> bool(good.scores.mean() > control.scores.mean() + 0.5)
        True

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


@register_metric(
    "faithfulness_estimate",
    category="faithfulness",
    higher_is_better=True,
    shared_across_methods=True,
)
def faithfulness_estimate(
    model: nn.Module,
    inputs: Tensor,
    target: Tensor,
    attributions: Sequence[Tensor],
    patch: Count = 1,
    baseline: Baseline = "zero",
    output: Output = "logit",
    seed: Seed = 0,
    batch_size: Count = 4096,
) -> list[MetricResult]:
    r"""Pearson correlation, per sample over the regions, between each region's attribution and
    the drop of the target output when that region alone is set to the baseline.

    Alvarez-Melis & Jaakkola's faithfulness estimate: the input is cut into $R$
    non-overlapping regions $r$ (single positions, or squares of `patch` positions per side,
    all channels together); $a_r$ is the attribution summed over the region's positions and
    channels, and $\Delta_r = f(x) - f(x_{[x_r = b]})$ the drop of the target output when
    region $r$ alone takes the baseline's values. The score is
    $\mathrm{corr}_r(a_r, \Delta_r)$, Pearson's correlation over the $R$ regions, in
    $[-1, 1]$; negating a map negates it. Unlike faithfulness correlation (random subsets)
    and the removal curves (cumulative), every region is removed on its own, once, so the
    score is deterministic for a deterministic baseline. Closed form: on a bias-free linear
    model with the zero baseline and logits, gradient x input gives $\Delta_i = w_i x_i =
    a_i$ for every position, so it scores exactly 1. NaN where the correlation is undefined:
    a map constant over the regions (an all-zero map), or drops that are all equal (a model
    that ignores every region alone, or `output: correct` when no single removal changes
    the prediction); a run counts NaN scores. Cost: $R + 1$ forward passes per sample, shared
    by all methods (the perturbations do not depend on the maps).

    Higher is better: a faithful map gives each region the attribution that its removal
    costs the prediction.

    Args:
        patch: Side of the square regions in positions (a segment for signals); 1 (default)
            removes single positions, one forward pass each; larger patches cost fewer passes
            on large images. At least 2 regions are needed.
        baseline: What the removed region is set to: `zero` (default), `mean` (each sample's
            per-channel mean), `blur` or `uniform` (noise over each sample's value range, one
            pattern per `seed`).
        output: What is read off the model for the target class: `logit` (default: the class
            score gradient maps explain, and the closed form's), `probability` or `correct`.
        seed: Seed of a `uniform` baseline's noise.
        batch_size: The most perturbed inputs per forward pass; changes memory use, not scores.

    Returns:
        list[MetricResult]: one per map, with `scores` (N,), the correlation of each sample.

    Implementations differ:
        - Quantus' FaithfulnessEstimate (the version read, commit 089c62b) ranks every value
          of the flattened map (each channel on its own), removes them in groups of
          `features_in_step` values (default 1) in descending order of attribution, each group
          alone, and correlates the groups' attribution sums with the drops (Pearson); its
          default baseline, `black`, is each sample's minimum rather than zero; it normalises
          the map by its maximum first (no change to a correlation) and reads logits by default
          (`softmax=False`), although its docstring speaks of probability drops. xaibench
          removes positions (or patches), all channels together.

    Example:
        >>> import torch, xaibench
        >>> from xaibench.testing import toy_problem
        >>> model, inputs, target = toy_problem()
        >>> linear = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 3, bias=False))
        >>> maps = xaibench.explain(linear, inputs, target, "input_x_gradient")
        >>> exact, negated = xaibench.evaluate_many(
        ...     linear, inputs, target, [maps, -maps], "faithfulness_estimate"
        ... )
        >>> exact.scores.round(decimals=6).tolist(), negated.scores.round(decimals=6).tolist()
        ([1.0, 1.0, 1.0, 1.0], [-1.0, -1.0, -1.0, -1.0])

        An all-zero map has no correlation to measure:

        >>> zero = xaibench.evaluate(model, inputs, target, 0 * maps, "faithfulness_estimate")
        >>> zero.scores.isnan().tolist()
        [True, True, True, True]

    References:
        Alvarez-Melis, Jaakkola. Towards Robust Interpretability with Self-Explaining Neural
        Networks. NeurIPS 2018
    """
    ids, regions = region_ids(tuple(inputs.shape[2:]), patch, inputs.device)
    if regions < 2:
        raise XaibenchError(
            f"faithfulness_estimate: patch={patch} leaves {regions} region; a correlation "
            "over regions needs at least 2"
        )
    substrate = make_baseline(baseline, inputs, seed=seed)
    # Item 0 is the unperturbed input, item r + 1 the input with region r alone replaced.
    removed = ids[None, :] == torch.arange(-1, regions, device=inputs.device)[:, None]

    def make_inputs(samples: slice, items: slice) -> Tensor:
        return where_grid(removed[None, items], substrate[samples], inputs[samples])

    outputs = forward_grid(model, target, regions + 1, make_inputs, output, batch_size)
    drops = (outputs[:, :1] - outputs[:, 1:]).double()
    return [
        MetricResult(scores=pearson(region_scores(a, patch).double(), drops, dim=1))
        for a in attributions
    ]
