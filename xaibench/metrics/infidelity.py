"""Infidelity (Yeh et al. 2019): does attribution x perturbation predict the output change?"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

import torch
from torch import Tensor, nn

from xaibench.constraints import Count, NonNegative, OneOf, Seed
from xaibench.metrics.registry import MetricResult, register_metric
from xaibench.perturb import (
    Baseline,
    Output,
    forward_grid,
    forward_unperturbed,
    make_baseline,
    position_scores,
    where_grid,
)
from xaibench.registry import XaibenchError

PERTURBATIONS = ("noisy_baseline", "square", "gaussian")


def square_masks(inputs: Tensor, count: int, patch: int, seed: int) -> Tensor:
    """`count` masks (S, *spatial), each one random square (a segment for signals) of
    `patch` positions per side, drawn from `seed` on the CPU, built on the inputs' device."""
    spatial = tuple(inputs.shape[2:])
    if isinstance(patch, bool) or not isinstance(patch, int) or not 1 <= patch <= min(spatial):
        raise XaibenchError(
            f"infidelity: patch={patch!r} must be an int from 1 to the input's shortest side "
            f"({min(spatial)})"
        )
    corners = square_corners(spatial, count, patch, seed).to(inputs.device)
    grids = torch.meshgrid(
        *[torch.arange(size, device=inputs.device) for size in spatial], indexing="ij"
    )
    inside = torch.ones(count, *spatial, dtype=torch.bool, device=inputs.device)
    for corner, grid in zip(corners, grids, strict=True):
        offset = grid[None] - corner.view(-1, *[1] * len(spatial))
        inside &= (offset >= 0) & (offset < patch)
    return inside


def square_corners(spatial: tuple[int, ...], count: int, patch: int, seed: int) -> Tensor:
    """The first position of each square along each dimension (D, S), drawn on a CPU
    generator, so that every device gets the squares a CPU run draws."""
    generator = torch.Generator().manual_seed(seed)
    return torch.stack(
        [torch.randint(0, size - patch + 1, (count,), generator=generator) for size in spatial]
    )


@register_metric(
    "infidelity",
    category="faithfulness",
    higher_is_better=False,
    shared_across_methods=True,
)
def infidelity(
    model: nn.Module,
    inputs: Tensor,
    target: Tensor,
    attributions: Sequence[Tensor],
    perturbation: Annotated[str, OneOf(PERTURBATIONS)] = "noisy_baseline",
    noise: NonNegative = 0.2,
    patch: Count = 4,
    baseline: Baseline = "zero",
    perturbations: Count = 100,
    normalise: bool = True,
    output: Output = "logit",
    seed: Seed = 0,
    batch_size: Count = 4096,
) -> list[MetricResult]:
    r"""Mean squared error between the output change a map predicts for a perturbation (attribution
    · perturbation) and the change it causes, over random perturbations; by default after
    rescaling the map by its best-fitting scale.

    Yeh et al.'s infidelity $\mathrm{INFD} = \mathbb{E}_I[(I^\top a - (f(x) - f(x - I)))^2]$,
    the mean over `perturbations` perturbations $I$ of the input, where $I^\top a$ sums
    perturbation times attribution over every input value. The perturbations (`perturbation`):

    - `noisy_baseline` (default, the paper's): $x - I = b + \epsilon$ with $\epsilon \sim
      N(0, \sigma^2)$ on every input value, $b$ the baseline and $\sigma$ = `noise`: the
      perturbed input is a noisy baseline;
    - `square` (the paper's): $I = x - b$ on a random square of `patch` positions per side (a
      segment for signals; all channels) and 0 elsewhere, so $x - I$ holds the baseline there;
    - `gaussian`: $I \sim N(0, \sigma^2)$, a small perturbation around the input (captum's
      example).

    With `normalise` (default) the map is first rescaled by
    $\beta = \mathbb{E}[(I^\top a)\,\Delta f] / \mathbb{E}[(I^\top a)^2]$, the scale that
    minimises the error, so the score neither rewards nor punishes a map's overall scale and
    compares its shape only. A map with $I^\top a = 0$ for every draw (an all-zero map) keeps
    scale 0 and scores $\mathbb{E}[\Delta f^2]$; every score is defined. Closed form: for a
    bias-free linear model $f(x) = w^\top x$ the gradient $w$ predicts every change exactly and
    scores 0 under every perturbation. The perturbations are drawn once from `seed` and shared by
    every sample and every method's map. Cost: $1 +$ `perturbations` forward passes per sample,
    shared by all methods.

    Lower is better: a faithful map predicts how much each perturbation changes the output,
    leaving a small squared error.

    Args:
        perturbation: `noisy_baseline` (default), `square` or `gaussian`, as above.
        noise: $\sigma$, the noise's standard deviation in model input units, for
            `noisy_baseline` and `gaussian`. Default 0.2, the authors' code's.
        patch: Side of the square in positions, for `square`; from 1 to the input's shortest
            side. Default 4.
        baseline: $b$, for `noisy_baseline` and `square`: `zero` (default, the paper's),
            `mean` (each sample's per-channel mean), `blur` or `uniform` (noise over each
            sample's value range; from `seed` for `square`, always seed 0's pattern for
            `noisy_baseline`).
        perturbations: Perturbations per sample. Default 100 (the authors' code draws 10000
            noisy baselines per MNIST image; captum's default is 10).
        normalise: Rescale the map by $\beta$ first (default true: the authors' code; captum's
            `normalize=True`); false gives the definition as written, which depends on the
            map's scale.
        output: What is read off the model for the target class: `logit` (default: the class
            score the maps explain), `probability` or `correct`.
        seed: Seed of the perturbations.
        batch_size: The most perturbed inputs per forward pass; changes memory use, not scores.

    Returns:
        list[MetricResult]: one per map, with `scores` (N,), the infidelity of each sample.

    Implementations differ:
        - The authors' code (`infid_sen_utils.py`) always rescales by $\beta$. Its noisy
          baselines are N(0, 0.2²) noise around zero, clipped to MNIST's pixel range [0, 1]
          (xaibench does not clip: inputs need not be pixels); its squares are all squares of
          sides 1 to 10, set to zero, enumerated rather than drawn.
        - captum's `infidelity` (0.9.0) defaults to `normalize=False`, the definition as
          written, and 10 perturbations from a function the user writes; it runs the forward
          passes again for every map and draws perturbations per batch row. For the same
          perturbations xaibench returns captum's numbers (tested).
        - Quantus' Infidelity (0.6.0) does not rescale (`normalise=False`, no $\beta$) and sets
          4x4 squares to its "black" baseline, each sample's minimum value, visiting them in
          raster order; each step starts from the previous step's perturbed input, so its
          k-th perturbation removes the first k squares together, not one square. Nothing is
          random, so its 10 repetitions repeat the same number.

    Example:
        >>> import torch, xaibench
        >>> from xaibench.testing import toy_problem
        >>> _, inputs, target = toy_problem()
        >>> linear = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 3, bias=False))
        >>> gradient = xaibench.explain(linear, inputs, target, "saliency", signed=True)
        >>> product = xaibench.explain(linear, inputs, target, "input_x_gradient")
        >>> exact, scaled, other = xaibench.evaluate_many(
        ...     linear, inputs, target, [gradient, 10 * gradient, product], "infidelity",
        ...     perturbations=20,
        ... )

        The gradient of a linear model predicts every change, at any scale; gradient x input
        does not:

        >>> bool(exact.scores.max() < 1e-10), bool(scaled.scores.max() < 1e-10)
        (True, True)
        >>> bool(other.scores.min() > 1e-4)
        True

    References:
        Yeh, Hsieh, Suggala, Inouye, Ravikumar. On the (In)fidelity and Sensitivity of Explanations.
        NeurIPS 2019
    """
    if perturbation == "square":
        squares = square_masks(inputs, perturbations, patch, seed)
        replacement = make_baseline(baseline, inputs, seed=seed)

        def make_inputs(samples: slice, draws: slice) -> Tensor:
            return where_grid(squares[None, draws], replacement[samples], inputs[samples])

        def dot_perturbations(attribution: Tensor) -> Tensor:  # I . a for every (sample, draw)
            removed = position_scores((inputs - replacement).double() * attribution.double())
            return removed @ squares.double().flatten(1).T
    else:
        # Drawn on a CPU generator and moved once: every device gets the noise a CPU run draws.
        generator = torch.Generator().manual_seed(seed)
        eps = noise * torch.randn(perturbations, *inputs.shape[1:], generator=generator)
        eps = eps.to(device=inputs.device, dtype=inputs.dtype)
        # gaussian: x - I = x - eps; noisy baseline: x - I = baseline + eps.
        centre = inputs if perturbation == "gaussian" else make_baseline(baseline, inputs)
        sign = -1.0 if perturbation == "gaussian" else 1.0

        def make_inputs(samples: slice, draws: slice) -> Tensor:
            return (centre[samples, None] + sign * eps[None, draws]).flatten(0, 1)

        def dot_perturbations(attribution: Tensor) -> Tensor:
            a = attribution.double().flatten(1)
            shift = ((inputs - centre).double().flatten(1) * a).sum(dim=1, keepdim=True)
            return shift - sign * (a @ eps.double().flatten(1).T)

    original = forward_unperturbed(model, inputs, target, output, batch_size)
    perturbed = forward_grid(model, target, perturbations, make_inputs, output, batch_size)
    change = (original[:, None] - perturbed).double()

    results = []
    for attribution in attributions:
        predicted = dot_perturbations(attribution)
        if normalise:
            scale = (predicted * change).sum(dim=1) / predicted.square().sum(dim=1)
            predicted = predicted * torch.nan_to_num(scale, nan=0.0, posinf=0.0)[:, None]
        results.append(MetricResult(scores=(predicted - change).square().mean(dim=1)))
    return results
