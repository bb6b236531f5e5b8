"""Infidelity (Yeh et al. 2019): does attribution x perturbation predict the output change?

captum has `captum.metrics.infidelity`, and the tests check that this function returns the
same numbers for the same perturbations. It is re-implemented here because captum runs the
forward passes again for every attribution map and draws its perturbations per batch row;
here the perturbations are drawn once from `seed`, shared by every sample (batch-invariant)
and every method's map (one set of forward passes for all of them).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from xaibench.metrics.registry import MetricResult, register_metric
from xaibench.perturb import (
    forward_grid,
    forward_unperturbed,
    make_baseline,
    position_scores,
    where_grid,
)
from xaibench.registry import XaibenchError, check_choice

PERTURBATIONS = ("noisy_baseline", "square", "gaussian")


def square_masks(inputs: Tensor, count: int, patch: int, seed: int) -> Tensor:
    """`count` masks (S, *spatial), each one random square (a segment for signals) of
    `patch` positions per side, drawn from `seed` on the CPU."""
    spatial = tuple(inputs.shape[2:])
    if isinstance(patch, bool) or not isinstance(patch, int) or not 1 <= patch <= min(spatial):
        raise XaibenchError(
            f"infidelity: patch={patch!r} must be an int from 1 to the input's shortest side "
            f"({min(spatial)})"
        )
    generator = torch.Generator().manual_seed(seed)
    corners = [
        torch.randint(0, size - patch + 1, (count,), generator=generator) for size in spatial
    ]
    grids = torch.meshgrid(*[torch.arange(size) for size in spatial], indexing="ij")
    inside = torch.ones(count, *spatial, dtype=torch.bool)
    for corner, grid in zip(corners, grids, strict=True):
        offset = grid[None] - corner.view(-1, *[1] * len(spatial))
        inside &= (offset >= 0) & (offset < patch)
    return inside.to(inputs.device)


@register_metric(
    "infidelity",
    category="faithfulness",
    higher_is_better=False,
    shared_across_methods=True,
    renamed={"samples": "perturbations"},
)
def infidelity(
    model: nn.Module,
    inputs: Tensor,
    target: Tensor,
    attributions: Sequence[Tensor],
    perturbation: str = "noisy_baseline",
    noise: float = 0.2,
    patch: int = 4,
    baseline: str = "zero",
    perturbations: int = 100,
    normalise: bool = True,
    output: str = "logit",
    seed: int = 0,
    batch_size: int = 4096,
) -> list[MetricResult]:
    """Mean squared error between attribution x perturbation and the output change it causes, over
    random perturbations (noisy baselines by default); the map is first rescaled by its optimal
    scale (as in the authors' code) unless normalise=false.

    INFD = E_I[(I . a - (f(x) - f(x - I)))^2] over `perturbations` perturbations I.

    `perturbation` (the first two are the paper's; the authors' code checked for details):
    - `noisy_baseline`: x - I = baseline + eps with eps ~ N(0, noise^2) on every input
      value, i.e. I = x - baseline - eps (the authors' code draws eps with std 0.2 around a
      zero baseline and clips to MNIST's [0, 1] pixel range; no clipping here);
    - `square`: I = x - baseline on a random square of `patch` positions per side (all
      channels) and 0 elsewhere, so x - I holds the baseline there (the authors' code
      enumerates every square of sides 1 to 10 instead of drawing them);
    - `gaussian`: I ~ N(0, noise^2), a small perturbation around x (captum's example).
    `normalise=True` first rescales the map by beta = E[(I . a) Δf] / E[(I . a)^2], the scale
    that minimises the error (the authors' code; captum's normalize=True), so the score does
    not reward or punish a map's overall scale; `false` is the definition as written.

    References:
        Yeh, Hsieh, Suggala, Inouye, Ravikumar. On the (In)fidelity and Sensitivity of Explanations.
        NeurIPS 2019
    """
    check_choice("perturbation", perturbation, PERTURBATIONS)
    if perturbation == "square":
        squares = square_masks(inputs, perturbations, patch, seed)
        replacement = make_baseline(baseline, inputs, seed=seed)

        def make_inputs(samples: slice, draws: slice) -> Tensor:
            return where_grid(squares[None, draws], replacement[samples], inputs[samples])

        def dot_perturbations(attribution: Tensor) -> Tensor:  # I . a for every (sample, draw)
            removed = position_scores((inputs - replacement).double() * attribution.double())
            return removed @ squares.double().flatten(1).T
    else:
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
