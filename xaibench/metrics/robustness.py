"""Robustness: does the map stay put when the input barely moves?

Both metrics re-explain `perturbations` perturbed copies of every input with the method that made
the maps (`method`, `method_params`) and take the worst case. Perturbations are drawn
uniformly from the L-infinity ball of radius `radius` (captum's and Yeh et al.'s sampling),
once from `seed` and shared by all samples, so a sample's score does not depend on its batch.
All N x perturbations copies are re-explained together, `batch_size` inputs per explain call.

captum's `sensitivity_max` returns only the relative form and re-explains the unperturbed
input itself; the tests check that `relative=True` here equals captum's number for the same
perturbations.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from xaibench.metrics.reexplain import Explainer
from xaibench.metrics.registry import MetricResult, register_metric


def perturbed_explanations(
    inputs: Tensor,
    target: Tensor,
    reexplain: Explainer,
    model: nn.Module,
    radius: float,
    perturbations: int,
    seed: int,
) -> tuple[Tensor, Tensor]:
    """(maps of the perturbed copies (N, S, C, ...), the perturbations (S, C, ...))."""
    generator = torch.Generator().manual_seed(seed)
    shape = (perturbations, *inputs.shape[1:])
    deltas = (2 * torch.rand(shape, generator=generator, dtype=torch.float64) - 1) * radius
    deltas = deltas.to(device=inputs.device, dtype=inputs.dtype)
    copies = (inputs[:, None] + deltas[None]).flatten(0, 1)
    maps = reexplain(model, copies, target.repeat_interleave(perturbations))
    return maps.view(len(inputs), perturbations, *inputs.shape[1:]), deltas


def distances(maps: Tensor, attributions: Tensor) -> Tensor:
    """Frobenius norm ||phi(x + delta_s) - phi(x)|| per sample and perturbation (N, S)."""
    return (maps.double() - attributions.double()[:, None]).flatten(2).norm(dim=2)


@register_metric(
    "max_sensitivity",
    category="robustness",
    higher_is_better=False,
    renamed={"samples": "perturbations"},
)
def max_sensitivity(
    model: nn.Module,
    inputs: Tensor,
    target: Tensor,
    attributions: Tensor,
    reexplain: Explainer,
    radius: float = 0.1,
    perturbations: int = 10,
    relative: bool = False,
    seed: int = 0,
) -> MetricResult:
    """Largest change (Frobenius norm) of the re-explained map over random inputs within an
    L-infinity ball of the input; relative=true divides by the map's norm.

    SENS_MAX = max_{||y - x||_inf <= r} ||phi(y) - phi(x)||, estimated by Monte Carlo over
    `perturbations` draws (Yeh et al.'s definition: absolute). `relative=True` divides by
    ||phi(x)||, as captum and the authors' code do; a zero map then scores NaN.

    References:
        Yeh, Hsieh, Suggala, Inouye, Ravikumar. On the (In)fidelity and Sensitivity of
        Explanations. NeurIPS 2019
    """
    maps, _ = perturbed_explanations(inputs, target, reexplain, model, radius, perturbations, seed)
    worst = distances(maps, attributions).max(dim=1).values
    if relative:
        norm = attributions.double().flatten(1).norm(dim=1)
        worst = (worst / norm).masked_fill(norm == 0, float("nan"))
    return MetricResult(scores=worst)


@register_metric(
    "local_lipschitz",
    category="robustness",
    higher_is_better=False,
    renamed={"samples": "perturbations"},
)
def local_lipschitz(
    model: nn.Module,
    inputs: Tensor,
    target: Tensor,
    attributions: Tensor,
    reexplain: Explainer,
    radius: float = 0.1,
    perturbations: int = 10,
    seed: int = 0,
) -> MetricResult:
    """Largest ratio ||phi(x') - phi(x)|| / ||x' - x|| over random inputs x' within an
    L-infinity ball of the input.

    L(x) = max_{x' in B(x)} ||phi(x) - phi(x')||_2 / ||x - x'||_2.

    The paper maximises with Bayesian optimisation; xaibench, like Quantus (which samples
    Gaussian noise), estimates the maximum from `perturbations` random points, here uniform in
    the L-infinity ball of radius `radius`, so more perturbations can only raise the estimate.

    References:
        Alvarez-Melis, Jaakkola. On the Robustness of Interpretability Methods. ICML Workshop
        on Human Interpretability 2018
    """
    maps, deltas = perturbed_explanations(
        inputs, target, reexplain, model, radius, perturbations, seed
    )
    steps = deltas.double().flatten(1).norm(dim=1)
    return MetricResult(scores=(distances(maps, attributions) / steps).max(dim=1).values)
